//! pharos.toml(5): the config file's man page, written from what
//! `config.example.toml` documents (see `example`): its opening comment
//! is the DESCRIPTION, then a section per table with the table's text and
//! each key with its example value and doc.

use super::example::{Entry, Example, Key, Para, Section};
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
    // No hyphenation: a key broken at a line's end would read as another.
    page.control("nh");
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
    // Keys in a row that share their first paragraph (a run under one
    // comment) are shown together, their shared text once.
    let mut group: Vec<&Key> = Vec::new();
    for entry in &section.order {
        match *entry {
            Entry::Para(i) => {
                render_keys(page, section, &std::mem::take(&mut group));
                if let Some(para) = section.doc.get(i) {
                    page.paragraphs(std::slice::from_ref(para), true);
                }
            }
            Entry::Key(k) => {
                let Some(key) = section.keys.get(k) else { continue };
                let joins = group
                    .last()
                    .is_some_and(|last| !key.doc.is_empty() && last.doc.first() == key.doc.first());
                if !joins {
                    render_keys(page, section, &std::mem::take(&mut group));
                }
                group.push(key);
            }
        }
    }
    render_keys(page, section, &group);
}

/// Keys shown together: each `key = value`, the paragraphs they share,
/// then what each has of its own.
fn render_keys(page: &mut Page, section: &Section, keys: &[&Key]) {
    let Some(first) = keys.first() else { return };
    page.control("PP");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            page.control("br");
        }
        page.spans(&[Span::Bold(key.name.clone()), Span::Roman(format!(" = {}", key.value))]);
    }
    page.indent(4);
    let shared = (0..first.doc.len())
        .take_while(|&n| keys.iter().all(|k| k.doc.get(n) == first.doc.get(n)))
        .count();
    let mut paras: Vec<Para> = first.doc[..shared].iter().map(sentence).collect();
    if first.doc.is_empty() && section.name == "template" {
        paras.push(vec!["As in `[[zone]]`.".to_string()]);
    }
    let mut own: Vec<Para> = Vec::new();
    for key in keys {
        for para in &key.doc[shared..] {
            let mut para = sentence(para);
            if keys.len() > 1 {
                if let Some(line) = para.first_mut() {
                    *line = format!("`{}`: {line}", key.name);
                }
            }
            own.push(para);
        }
    }
    paras.extend(own);
    page.paragraphs(&paras, false);
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
        assert_eq!(
            sentence(&vec!["two letters, ISO 3166-1".into()]),
            ["Two letters, ISO 3166-1."]
        );
        assert_eq!(sentence(&vec!["Default 9.".into()]), ["Default 9."]);
        assert_eq!(sentence(&vec!["... and more".into()]), ["... and more."]);
        let two: Para = vec!["a".into(), "b".into()];
        assert_eq!(sentence(&two), two);
    }
}
