//! Reads the documentation out of `config.example.toml`: its comments are
//! the one source of truth of what each config key means. A pure function
//! of the file's text ([`parse`]) gives the opening description, and per
//! TOML table (active or commented out) its text and its keys, each with
//! its example value and doc.
//!
//! The comment structure it reads:
//! - A `#` line loses `# ` once; the rest is a commented-out key line
//!   (`key = value`, kebab key, a TOML value), a commented-out table header
//!   (`[x]`, `[[x]]`), a second-level doc line (`# text`, as inside a
//!   commented-out table) or a doc line. A bare `#` ends a paragraph.
//! - The doc paragraph directly above a run of consecutive key lines
//!   documents every key of the run; a trailing `# ...` on a key line (and
//!   lines of only whitespace and `# ...` below it) adds to that key.
//! - The paragraphs directly above a table header document the table; a
//!   paragraph followed by neither (it ends in a blank line, or a `#` and
//!   then a key) is a paragraph of the current table. Tables seen several
//!   times (`[[zone]]`) merge, and so do the distinct docs of a key.
//! - The comment before the first table is the file's description.

use std::fmt;

/// A paragraph: its lines, comment markers stripped, leading whitespace
/// kept (an indented line is code or a list item, see `roff`).
pub type Para = Vec<String>;

/// What `config.example.toml` documents.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Example {
    /// The opening comment.
    pub description: Vec<Para>,
    /// The tables, in order of first appearance.
    pub sections: Vec<Section>,
}

/// A TOML table (`[dns.rrl]`) or array of tables (`[[zone]]`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its dotted name, without brackets: `dns.rrl`, `zone`.
    pub name: String,
    /// `[[name]]`.
    pub array: bool,
    /// Every appearance is commented out: the table is optional.
    pub commented: bool,
    pub doc: Vec<Para>,
    pub keys: Vec<Key>,
    /// The paragraphs of `doc` and the keys, in the order the file first
    /// has them.
    pub order: Vec<Entry>,
}

/// A paragraph or a key of a [`Section`], by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Para(usize),
    Key(usize),
}

/// A key of a table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    /// The example value (of its first documented appearance), as written.
    pub value: String,
    /// Every appearance is commented out.
    pub commented: bool,
    pub doc: Vec<Para>,
}

/// A line of the example that is none of the above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config.example.toml line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Example {
    /// The table called `name` (`dns.rrl`, `zone`).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

impl Section {
    /// The key called `name`.
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// `[name]` or `[[name]]`.
    pub fn header(&self) -> String {
        if self.array {
            format!("[[{}]]", self.name)
        } else {
            format!("[{}]", self.name)
        }
    }
}

/// One line of the file, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Blank,
    /// A bare `#` (or `# #`).
    Break,
    Doc(String),
    Header {
        name: String,
        array: bool,
        commented: bool,
    },
    Key {
        name: String,
        value: String,
        trailing: Option<String>,
        commented: bool,
    },
    /// Only whitespace and `# text`: continues a key's trailing comment.
    Continuation(String),
}

/// Classifies one line of the example.
pub(crate) fn classify(raw: &str) -> Result<Line, String> {
    let line = raw.trim_end();
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    let Some(rest) = line.strip_prefix('#') else {
        if let Some(text) = line.trim_start().strip_prefix('#') {
            return Ok(Line::Continuation(text.trim().to_string()));
        }
        if let Some((name, array)) = header(line) {
            return Ok(Line::Header {
                name,
                array,
                commented: false,
            });
        }
        return match key_line(line) {
            Some((name, value, trailing)) => Ok(Line::Key {
                name,
                value,
                trailing,
                commented: false,
            }),
            None => Err(format!("`{line}` is neither a key, a table header nor a comment")),
        };
    };
    if rest.trim().is_empty() {
        return Ok(Line::Break);
    }
    let inner = rest.strip_prefix(' ').unwrap_or(rest);
    if inner.starts_with(char::is_whitespace) {
        if let Some(text) = inner.trim_start().strip_prefix('#') {
            return Ok(Line::Continuation(text.trim().to_string()));
        }
    }
    if let Some(second) = inner.strip_prefix('#') {
        if second.trim().is_empty() {
            return Ok(Line::Break);
        }
        return Ok(Line::Doc(second.strip_prefix(' ').unwrap_or(second).to_string()));
    }
    if let Some((name, array)) = header(inner) {
        return Ok(Line::Header {
            name,
            array,
            commented: true,
        });
    }
    if let Some((name, value, trailing)) = key_line(inner) {
        return Ok(Line::Key {
            name,
            value,
            trailing,
            commented: true,
        });
    }
    Ok(Line::Doc(inner.to_string()))
}

/// `[a.b]` or `[[a.b]]` alone on the line (a trailing comment allowed).
fn header(line: &str) -> Option<(String, bool)> {
    let (code, _) = split_comment(line);
    let code = code.trim();
    let (inner, array) = match code.strip_prefix("[[").and_then(|c| c.strip_suffix("]]")) {
        Some(inner) => (inner, true),
        None => (code.strip_prefix('[')?.strip_suffix(']')?, false),
    };
    let valid = !inner.is_empty() && inner.split('.').all(is_kebab);
    valid.then(|| (inner.to_string(), array))
}

/// `key = value  # trailing`, with a kebab key and a TOML value.
fn key_line(line: &str) -> Option<(String, String, Option<String>)> {
    let (code, comment) = split_comment(line);
    let (name, value) = code.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if !is_kebab(name) || value.is_empty() {
        return None;
    }
    toml::from_str::<toml::Table>(&format!("v = {value}")).ok()?;
    let trailing = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    Some((name.to_string(), value.to_string(), trailing))
}

fn is_kebab(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Splits a line at the first `#` outside a TOML string: the code, and
/// the comment's text (after the `#`).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return (&line[..i], Some(&line[i + 1..])),
            None => {}
        }
    }
    (line, None)
}

/// Reads the documentation out of the example's text.
pub fn parse(text: &str) -> Result<Example, ParseError> {
    let mut p = Parser::default();
    for (i, raw) in text.lines().enumerate() {
        let line = classify(raw).map_err(|message| ParseError { line: i + 1, message })?;
        p.line(line).map_err(|message| ParseError { line: i + 1, message })?;
    }
    p.line(Line::Blank).map_err(|message| ParseError {
        line: text.lines().count(),
        message,
    })?;
    Ok(p.out)
}

#[derive(Default)]
struct Parser {
    out: Example,
    /// Finished paragraphs of the comment block being read.
    pending: Vec<Para>,
    /// The paragraph being read.
    para: Para,
    /// Index of the current section.
    section: Option<usize>,
    /// The doc of the key run being read (None: not in a run).
    run: Option<Vec<Para>>,
    /// A key's trailing comment that continuation lines may extend:
    /// section and key index, and the text so far.
    trailing: Option<(usize, usize, String)>,
}

impl Parser {
    fn line(&mut self, line: Line) -> Result<(), String> {
        if let (Line::Continuation(text), Some((_, _, trailing))) = (&line, self.trailing.as_mut()) {
            trailing.push(' ');
            trailing.push_str(text);
            return Ok(());
        }
        if let Some((s, k, text)) = self.trailing.take() {
            merge(&mut self.out.sections[s].keys[k].doc, vec![vec![text]]);
        }
        match line {
            Line::Blank => {
                self.run = None;
                let paras = self.take_block();
                self.add_paragraphs(paras);
            }
            Line::Break => {
                self.run = None;
                self.end_para();
            }
            Line::Doc(text) | Line::Continuation(text) => {
                self.run = None;
                self.para.push(text);
            }
            Line::Header { name, array, commented } => {
                self.run = None;
                let doc = self.take_block();
                let index = match self.out.sections.iter().position(|s| s.name == name) {
                    Some(i) => {
                        let s = &mut self.out.sections[i];
                        if s.array != array {
                            return Err(format!("table {name} is both [{name}] and [[{name}]]"));
                        }
                        s.commented &= commented;
                        i
                    }
                    None => {
                        self.out.sections.push(Section {
                            name,
                            array,
                            commented,
                            ..Section::default()
                        });
                        self.out.sections.len() - 1
                    }
                };
                self.out.sections[index].add_paragraphs(doc);
                self.section = Some(index);
            }
            Line::Key {
                name,
                value,
                trailing,
                commented,
            } => {
                let Some(s) = self.section else {
                    return Err(format!("key `{name}` before any table header"));
                };
                let run_doc = match self.run.take() {
                    Some(doc) => doc,
                    None => {
                        // The paragraph directly above documents the run;
                        // the ones before it belong to the table.
                        let above = std::mem::take(&mut self.para);
                        let earlier = std::mem::take(&mut self.pending);
                        self.add_paragraphs(earlier);
                        if above.is_empty() { Vec::new() } else { vec![above] }
                    }
                };
                let section = &mut self.out.sections[s];
                let k = match section.keys.iter().position(|k| k.name == name) {
                    Some(k) => k,
                    None => {
                        section.keys.push(Key {
                            name,
                            value: value.clone(),
                            commented,
                            doc: Vec::new(),
                        });
                        section.order.push(Entry::Key(section.keys.len() - 1));
                        section.keys.len() - 1
                    }
                };
                let key = &mut section.keys[k];
                key.commented &= commented;
                if key.doc.is_empty() && (!run_doc.is_empty() || trailing.is_some()) {
                    // The value shown is that of the first documented line.
                    key.value = value;
                }
                merge(&mut key.doc, run_doc.clone());
                self.trailing = trailing.map(|t| (s, k, t));
                self.run = Some(run_doc);
            }
        }
        Ok(())
    }

    fn end_para(&mut self) {
        if !self.para.is_empty() {
            self.pending.push(std::mem::take(&mut self.para));
        }
    }

    /// Every paragraph of the comment block read so far.
    fn take_block(&mut self) -> Vec<Para> {
        self.end_para();
        std::mem::take(&mut self.pending)
    }

    /// Paragraphs of the current table, or the description before any.
    fn add_paragraphs(&mut self, paras: Vec<Para>) {
        match self.section {
            Some(s) => self.out.sections[s].add_paragraphs(paras),
            None => self.out.description.extend(paras),
        }
    }
}

impl Section {
    /// Adds the paragraphs it does not have yet, in order.
    fn add_paragraphs(&mut self, paras: Vec<Para>) {
        for p in paras {
            if push_new(&mut self.doc, p) {
                self.order.push(Entry::Para(self.doc.len() - 1));
            }
        }
    }
}

/// Adds the paragraphs of `new` that `doc` does not have yet.
fn merge(doc: &mut Vec<Para>, new: Vec<Para>) {
    for p in new {
        push_new(doc, p);
    }
}

/// Appends `p` unless `doc` has it; whether it did.
fn push_new(doc: &mut Vec<Para>, p: Para) -> bool {
    let new = !doc.contains(&p);
    if new {
        doc.push(p);
    }
    new
}

#[cfg(test)]
#[path = "example_tests.rs"]
mod tests;
