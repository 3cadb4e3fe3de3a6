//! The package's /etc/pharos/pharos.toml, written from
//! `config.example.toml`: the same comments (every key documented), every
//! key commented out but the few a node needs to start and serve nothing,
//! paths absolute, and a header saying what the file is.

use super::example::{Line, classify};

/// The keys left active, with their values.
const ACTIVE: &[(&str, &str, &str)] = &[
    ("node", "id", "\"node-1\""),
    ("node", "data-dir", "\"/var/lib/pharos\""),
    ("dns", "listen", "[\"127.0.0.1:53\", \"[::1]:53\"]"),
    ("mgmt", "listen", "\"127.0.0.1:8053\""),
    ("bgp", "enabled", "false"),
];

/// Keys whose value is a path (relative to the config's directory in the
/// example; absolute here).
const PATH_KEYS: &[&str] = &["file", "data-dir", "maintenance-file", "token-file"];

/// Trailing comments added to active keys.
const NOTES: &[(&str, &str, &str)] = &[
    ("node", "id", "EDIT: this node's own name, unique in the fleet"),
    ("dns", "listen", "EDIT: the node's service (anycast) addresses"),
];

const HEADER: &str = "\
# /etc/pharos/pharos.toml: the configuration of pharos as installed.
#
# Written from config.example.toml, with its comments: every key is
# documented here, and in pharos.toml(5). As installed, the node starts and
# serves nothing (no zones: every query is answered REFUSED; BGP off),
# on the loopback addresses only, as Knot's package does, so that
# installing it takes port 53 from no other server. Every key is commented out but those it needs to start: node.id (edit
# it), node.data-dir, dns.listen, mgmt.listen and bgp.enabled. To put the
# node to use, set node.id and dns.listen, add zones ([[zone]] below), check the file and
# reload:
#
#     pharos check-config /etc/pharos/pharos.toml
#     systemctl reload pharos";

/// The installed config's text.
pub(crate) fn render(example: &str) -> Result<String, String> {
    let mut out = String::from(HEADER);
    out.push('\n');
    let mut lines = example.lines().enumerate().peekable();
    // The opening comment's paragraphs up to its first command example
    // are about the example file itself: the header replaces them.
    let opening: Vec<&str> = example.lines().take_while(|l| l.starts_with('#')).collect();
    let skip = opening
        .iter()
        .position(|l| l.starts_with("#    "))
        .map(|code| code + opening[code..].iter().take_while(|l| l.starts_with("#    ")).count())
        .unwrap_or(0);
    for _ in 0..skip {
        lines.next();
    }
    let mut section = String::new();
    let mut section_active = false;
    // Whether the last key line was commented out here (its continuation
    // lines follow it).
    let mut commented_key = false;
    for (i, raw) in lines {
        let line = classify(raw).map_err(|e| format!("config.example.toml line {}: {e}", i + 1))?;
        let was_commented_key = std::mem::replace(&mut commented_key, false);
        match line {
            Line::Header { name, commented, .. } => {
                section_active = !commented && ACTIVE.iter().any(|(s, _, _)| *s == name);
                section = name;
                if commented || section_active {
                    out.push_str(raw);
                } else {
                    out.push_str(&format!("# {raw}"));
                }
            }
            Line::Key { name, commented, .. } => {
                let keep = ACTIVE.iter().find(|(s, k, _)| *s == section && *k == name);
                let rewritten = match keep {
                    Some((_, _, value)) if section_active && !commented => {
                        let note = NOTES.iter().find(|(s, k, _)| *s == section && *k == name);
                        let line = with_value(raw, value);
                        match note {
                            Some((_, _, note)) => format!("{line}  # {note}"),
                            None => line,
                        }
                    }
                    _ => {
                        let line = match path_value(&name, raw) {
                            Some(value) => with_value(raw, &value),
                            None => raw.to_string(),
                        };
                        if commented {
                            line
                        } else {
                            commented_key = true;
                            format!("# {line}")
                        }
                    }
                };
                out.push_str(&rewritten);
            }
            Line::Continuation(_) if was_commented_key && !raw.starts_with('#') => {
                commented_key = true;
                out.push_str(&format!("# {raw}"));
            }
            _ => out.push_str(raw),
        }
        out.push('\n');
    }
    Ok(out)
}

/// The absolute path for a path key's relative value: under
/// /var/lib/pharos for the example's data dir, else under /etc/pharos.
fn path_value(key: &str, raw: &str) -> Option<String> {
    if !PATH_KEYS.contains(&key) {
        return None;
    }
    let value = value_of(raw)?;
    let path = value.strip_prefix('"')?.strip_suffix('"')?;
    if path.starts_with('/') {
        return None;
    }
    let absolute = match path.strip_prefix("var/pharos") {
        Some(rest) => format!("/var/lib/pharos{rest}"),
        None => format!("/etc/pharos/{path}"),
    };
    Some(format!("\"{absolute}\""))
}

/// The value text of a key line (`# ` prefix allowed).
fn value_of(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once('=')?;
    let rest = rest.trim_start();
    match classify(raw) {
        Ok(Line::Key { value, .. }) => rest.get(..value.len()),
        _ => None,
    }
}

/// `raw` with its value replaced, a trailing comment kept in its column
/// where it fits.
fn with_value(raw: &str, value: &str) -> String {
    let Some(old) = value_of(raw) else {
        return raw.to_string();
    };
    let start = old.as_ptr() as usize - raw.as_ptr() as usize;
    let end = start + old.len();
    let (head, tail) = (&raw[..start], &raw[end..]);
    let comment = tail.trim_start();
    if comment.is_empty() {
        return format!("{head}{value}");
    }
    let column = end + (tail.len() - comment.len());
    let line = format!("{head}{value}");
    let pad = column.saturating_sub(line.len()).max(1);
    format!("{line}{}{comment}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_in_place() {
        assert_eq!(with_value("id = \"example-1\"", "\"node-1\""), "id = \"node-1\"");
        assert_eq!(with_value("a = 1      # note", "22"), "a = 22     # note");
        assert_eq!(with_value("a = 1 # note", "\"long\""), "a = \"long\" # note");
        assert_eq!(with_value("# a = \"x#y\"  # n", "2"), "# a = 2      # n");
    }

    #[test]
    fn paths_become_absolute() {
        let p = |k: &str, raw: &str| path_value(k, raw);
        assert_eq!(
            p("data-dir", "data-dir = \"var/pharos\"").as_deref(),
            Some("\"/var/lib/pharos\"")
        );
        assert_eq!(
            p("token-file", "token-file = \"var/pharos/token\"").as_deref(),
            Some("\"/var/lib/pharos/token\"")
        );
        assert_eq!(
            p("file", "file = \"zones/a.zone\"").as_deref(),
            Some("\"/etc/pharos/zones/a.zone\"")
        );
        assert_eq!(p("file", "file = \"/abs\""), None);
        assert_eq!(p("name", "name = \"x\""), None);
    }

    #[test]
    fn only_the_start_up_keys_stay_active() {
        let example = "# Title.\n#\n# Runs:\n#\n#     pharos serve\n#\n# Keys.\n\n[node]\n# Its name.\nid = \"example-1\"\n\n[[zone]]\nname = \"a\"  # the name\n                # more\nfile = \"zones/a.zone\"\n\n[bgp]\nenabled = false\nasn = 1\n";
        let out = render(example).unwrap();
        let body = out.strip_prefix(HEADER).unwrap();
        assert_eq!(
            body,
            "\n#\n# Keys.\n\n[node]\n# Its name.\nid = \"node-1\"  # EDIT: this node's own name, unique in the fleet\n\n\
             # [[zone]]\n# name = \"a\"  # the name\n#                 # more\n# file = \"/etc/pharos/zones/a.zone\"\n\n\
             [bgp]\nenabled = false\n# asn = 1\n"
        );
    }
}
