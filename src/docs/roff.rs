//! Writing man pages: a small page builder over the `roff` crate (the one
//! place that uses it), with the conventions of both pages: `code` in
//! backticks set in bold, doc paragraphs as text, lists and code blocks.

use roff::{Inline, Roff, bold, italic, roman};

use super::example::Para;

/// What the `roff` crate puts before every document it renders (the
/// apostrophe string); a page made of several renders keeps one.
pub(crate) const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// A piece of a text line.
#[derive(Debug, Clone)]
pub(crate) enum Span {
    Roman(String),
    Bold(String),
    Italic(String),
}

/// A man page being written.
#[derive(Default)]
pub(crate) struct Page {
    roff: Roff,
}

/// Escapes a control line's argument the way text lines are escaped:
/// a hyphen is `\-`.
fn arg(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

impl Page {
    /// `.TH`, from the title to the manual's name.
    pub fn title(&mut self, title: &str, section: &str, date: &str, source: &str, manual: &str) -> &mut Self {
        let args = [
            arg(title),
            section.to_string(),
            date.to_string(),
            arg(source),
            arg(manual),
        ];
        self.roff.control("TH", args.iter().map(String::as_str));
        self
    }

    /// `.SH`.
    pub fn section(&mut self, heading: &str) -> &mut Self {
        let heading = arg(heading);
        self.roff.control("SH", [heading.as_str()]);
        self
    }

    /// `.SS`.
    pub fn subsection(&mut self, heading: &str) -> &mut Self {
        let heading = arg(heading);
        self.roff.control("SS", [heading.as_str()]);
        self
    }

    /// A request or macro without arguments (`PP`, `RE`, `TP`).
    pub fn control(&mut self, name: &str) -> &mut Self {
        self.roff.control(name, []);
        self
    }

    /// `.RS n`: indents what follows by `n`.
    pub fn indent(&mut self, n: u8) -> &mut Self {
        let n = n.to_string();
        self.roff.control("RS", [n.as_str()]);
        self
    }

    /// One text line of spans.
    pub fn spans(&mut self, spans: &[Span]) -> &mut Self {
        let inlines: Vec<Inline> = spans
            .iter()
            .map(|s| match s {
                Span::Roman(t) => roman(t.as_str()),
                Span::Bold(t) => bold(t.as_str()),
                Span::Italic(t) => italic(t.as_str()),
            })
            .collect();
        self.roff.text(inlines);
        self
    }

    /// One text line, `code` in backticks set in bold.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.spans(&backticks(text))
    }

    /// Lines set as they are (`.nf`), indented.
    pub fn code<S: AsRef<str>>(&mut self, lines: &[S]) -> &mut Self {
        self.indent(4).control("nf");
        for line in lines {
            self.roff.text([roman(line.as_ref())]);
        }
        self.control("fi").control("RE")
    }

    /// Doc paragraphs from the example: each a `.PP` (but the first
    /// unless `first_pp`: it goes on from a line above); in one, lines
    /// indented by four spaces are code, lines `  - ` start list items.
    pub fn paragraphs(&mut self, paras: &[Para], first_pp: bool) -> &mut Self {
        for (i, para) in paras.iter().enumerate() {
            if i > 0 || first_pp {
                self.control("PP");
            }
            for block in blocks(para) {
                match block {
                    Block::Text(t) => {
                        self.text(&t);
                    }
                    Block::Item(t) => {
                        self.roff.control("IP", ["\\(bu", "2"]);
                        self.text(&t);
                    }
                    Block::Code(lines) => {
                        self.code(&lines);
                    }
                    Block::AfterList(t) => {
                        self.control("PP").text(&t);
                    }
                }
            }
        }
        self
    }

    /// The whole page.
    pub fn render(&self) -> String {
        self.roff.render()
    }
}

/// Splits `text` at backticks: the quoted parts bold.
pub(crate) fn backticks(text: &str) -> Vec<Span> {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len() % 2 == 0 {
        // An unpaired backtick: leave the text as it is.
        return vec![Span::Roman(text.to_string())];
    }
    parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, p)| {
            if i % 2 == 1 {
                Span::Bold(p.to_string())
            } else {
                Span::Roman(p.to_string())
            }
        })
        .collect()
}

/// A part of a doc paragraph.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    Text(String),
    /// A list item (`  - `) and its continuation lines.
    Item(String),
    /// Text after a list, in the same paragraph of the file.
    AfterList(String),
    Code(Vec<String>),
}

fn blocks(para: &Para) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut in_list = false;
    for line in para {
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if indent > 0 && trimmed.starts_with("- ") {
            in_list = true;
            out.push(Block::Item(trimmed[2..].to_string()));
            continue;
        }
        match out.last_mut() {
            Some(Block::Item(t)) if indent > 0 => {
                t.push(' ');
                t.push_str(trimmed);
                continue;
            }
            _ => {}
        }
        if indent >= 4 && !in_list {
            match out.last_mut() {
                Some(Block::Code(lines)) => lines.push(line[4..].to_string()),
                _ => out.push(Block::Code(vec![line[4..].to_string()])),
            }
            continue;
        }
        let after_list = in_list;
        in_list = false;
        match out.last_mut() {
            Some(Block::Text(t) | Block::AfterList(t)) => {
                t.push(' ');
                t.push_str(trimmed);
            }
            _ if after_list => out.push(Block::AfterList(trimmed.to_string())),
            Some(Block::Code(_)) => out.push(Block::AfterList(trimmed.to_string())),
            _ => out.push(Block::Text(trimmed.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(lines: &[&str]) -> Para {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn paragraph_blocks() {
        let b = blocks(&para(&["Runs:", "    pharos serve", "    dig"]));
        assert_eq!(b[0], Block::Text("Runs:".into()));
        assert_eq!(b[1], Block::Code(vec!["pharos serve".into(), "dig".into()]));
        let b = blocks(&para(&["When:", "  - one", "    more;", "  - two.", "After."]));
        assert_eq!(
            b,
            [
                Block::Text("When:".into()),
                Block::Item("one more;".into()),
                Block::Item("two.".into()),
                Block::AfterList("After.".into()),
            ]
        );
    }

    #[test]
    fn hyphens_and_backticks_are_escaped() {
        let mut page = Page::default();
        page.section("SEE ALSO")
            .text("run `pharos check-config` -- it's 'fine'");
        let out = page.render();
        assert!(out.starts_with(PREAMBLE), "{out}");
        assert!(out.contains("\\fBpharos check\\-config\\fR \\-\\- it\\*(Aqs"), "{out}");
        let mut page = Page::default();
        page.subsection("pharos check-config");
        assert!(page.render().contains(".SS \"pharos check\\-config\""));
    }
}
