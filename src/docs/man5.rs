//! pharos.toml(5): the config file's man page, written from what
//! `config.example.toml` documents (see `example`): its opening comment
//! is the DESCRIPTION, then a section per table with the table's text and
//! each key with its example value and doc.

use super::example::{Example, Key, Para, Section};
use super::roff::{Page, Span};

/// The page's roff source.
pub(crate) fn render(example: &Example, version: &str, date: &str) -> String {
    let mut page = Page::default();
    page.title(
        "PHAROS.TOML",
        "5",
        date,
        &format!("pharos {version}"),
        "File Formats Manual",
    );
    page.section("NAME")
        .text("pharos.toml - configuration file of pharos, the anycast authoritative DNS node");
    page.section("SYNOPSIS")
        .spans(&[Span::Bold("/etc/pharos/pharos.toml".into())]);
    page.section("DESCRIPTION").paragraphs(&example.description, true);
    page.control("PP").text(
        "The sections below follow the tables of the file, in its order. A key is shown with the \
         value of an example; tables and keys left out take the defaults their text gives.",
    );
    for section in &example.sections {
        render_section(&mut page, section);
    }
    page.section("SEE ALSO").spans(&[
        Span::Bold("pharos".into()),
        Span::Roman("(8); ".into()),
        Span::Italic("config.example.toml".into()),
        Span::Roman(", the file this page is written from, with every key.".into()),
    ]);
    page.render()
}

fn render_section(page: &mut Page, section: &Section) {
    page.section(&section.header());
    page.paragraphs(&section.doc, true);
    for key in &section.keys {
        render_key(page, section, key);
    }
}

fn render_key(page: &mut Page, section: &Section, key: &Key) {
    page.control("PP").spans(&[
        Span::Bold(key.name.clone()),
        Span::Roman(format!(" = {}", key.value)),
    ]);
    page.indent(4);
    if key.doc.is_empty() {
        if section.name == "template" {
            page.text("As in `[[zone]]`.");
        }
    } else {
        let doc: Vec<Para> = key.doc.iter().map(sentence).collect();
        page.paragraphs(&doc, false);
    }
    page.control("RE");
}

/// A one-line trailing comment (`# two letters, ISO 3166-1`) as a
/// sentence: capital first letter, full stop.
fn sentence(para: &Para) -> Para {
    let [line] = para.as_slice() else {
        return para.clone();
    };
    let mut chars = line.chars();
    let mut out: String = match chars.next() {
        Some(first) if first.is_ascii_lowercase() => first.to_ascii_uppercase().to_string() + chars.as_str(),
        _ => line.clone(),
    };
    if out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == ')' || c == '"' || c == '%') {
        out.push('.');
    }
    vec![out]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_comments_become_sentences() {
        assert_eq!(sentence(&vec!["two letters, ISO 3166-1".into()]), ["Two letters, ISO 3166-1."]);
        assert_eq!(sentence(&vec!["Default 9.".into()]), ["Default 9."]);
        assert_eq!(sentence(&vec!["... and more".into()]), ["... and more."]);
        let two: Para = vec!["a".into(), "b".into()];
        assert_eq!(sentence(&two), two);
    }
}
