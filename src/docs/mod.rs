//! Generated documentation: the man pages pharos(8) and pharos.toml(5),
//! the shell completions and the packaged /etc/pharos/pharos.toml, all
//! written from two sources of truth: the clap definition (`cli`) and the
//! comments of `config.example.toml` (`example`). The files are committed
//! under dist/; `tests/docs.rs` fails when one is stale
//! (`PHAROS_BLESS=1 cargo test --test docs` writes them again).
//!
//! Sits above `cli` and `config`; nothing but tests uses it.

mod etc;
mod example;
mod man5;
mod man8;
mod roff;

pub use example::{Entry, Example, Key, Para, ParseError, Section, parse};

use crate::cli::Shell;

/// The date on the man pages: fixed, so that the files are reproducible.
/// Move it on when a page changes in substance.
pub const DATE: &str = "2026-12-07";

/// The version on the man pages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A generated file: its path from the repository root, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub path: &'static str,
    pub text: String,
}

/// Every generated file, from the text of `config.example.toml`.
pub fn outputs(example_text: &str) -> Result<Vec<Output>, String> {
    let example = parse(example_text).map_err(|e| e.to_string())?;
    let completion = |shell| String::from_utf8_lossy(&crate::cli::completions(shell)).into_owned();
    Ok(vec![
        Output {
            path: "dist/man/pharos.8",
            text: man8::render(VERSION, DATE),
        },
        Output {
            path: "dist/man/pharos.toml.5",
            text: man5::render(&example, VERSION, DATE),
        },
        Output {
            path: "dist/completions/pharos.bash",
            text: completion(Shell::Bash),
        },
        Output {
            path: "dist/completions/_pharos",
            text: completion(Shell::Zsh),
        },
        Output {
            path: "dist/pharos.toml",
            text: etc::render(example_text)?,
        },
    ])
}

/// What `example` fails to document, one line each: a table of the config
/// schema it lacks, a key without doc, a table or key it documents that
/// the schema does not have. `[[template]]` takes every `[[zone]]` key:
/// its text documents them, and it documents its `name`.
pub fn undocumented(example: &Example) -> Vec<String> {
    let schema = crate::config::schema();
    let mut problems = Vec::new();
    let is_table = |section: &str, field: &str| {
        let dotted = format!("{section}.{field}");
        schema.iter().any(|(s, _)| *s == dotted)
    };
    for (name, fields) in &schema {
        let Some(section) = example.section(name) else {
            problems.push(format!("table [{name}] is not in config.example.toml"));
            continue;
        };
        if section.doc.is_empty() && matches!(*name, "template") {
            problems.push(format!("table {} has no text", section.header()));
        }
        for field in fields.iter().filter(|f| !is_table(name, f)) {
            if *name == "template" && *field != "name" {
                continue;
            }
            match section.key(field) {
                Some(key) if !key.doc.is_empty() => {}
                Some(_) => problems.push(format!("key `{field}` of {} has no doc", section.header())),
                None => problems.push(format!(
                    "key `{field}` of {} is not in config.example.toml",
                    section.header()
                )),
            }
        }
    }
    for section in &example.sections {
        let Some((_, fields)) = schema.iter().find(|(s, _)| *s == section.name) else {
            problems.push(format!("table {} is not a table of the config", section.header()));
            continue;
        };
        for key in &section.keys {
            if !fields.contains(&key.name.as_str()) {
                problems.push(format!(
                    "key `{}` of {} is not a key of the config",
                    key.name,
                    section.header()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_doc_is_found() {
        let mut example = parse(include_str!("../../config.example.toml")).unwrap_or_else(|e| panic!("{e}"));
        let dns = example.sections.iter_mut().find(|s| s.name == "dns").unwrap();
        dns.keys.retain(|k| k.name != "nsid");
        dns.keys.push(Key {
            name: "no-such-key".into(),
            doc: vec![vec!["x".into()]],
            ..Key::default()
        });
        if let Some(k) = dns.keys.iter_mut().find(|k| k.name == "version") {
            k.doc.clear();
        }
        example.sections.retain(|s| s.name != "fleet");
        let problems = undocumented(&example);
        for want in [
            "key `nsid` of [dns] is not in",
            "key `version` of [dns] has no doc",
            "key `no-such-key` of [dns] is not a key",
            "table [fleet] is not in",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(want)), "{want}: {problems:?}");
        }
    }
}
