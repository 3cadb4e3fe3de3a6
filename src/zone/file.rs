//! Reading zone files in RFC 1035 master format into a [`ZoneBuilder`].
//!
//! The text is scanned by the `domain` crate's zone-file parser (it knows
//! every DNSSEC type and RFC 3597 generic syntax); this module drives it,
//! follows relative `$INCLUDE`s, tracks line numbers for messages and adds
//! LOC (RFC 1876), which that parser lacks, by rewriting it to generic form.
//! A zone file and its `$INCLUDE`s must be regular files holding at most
//! [`ZONE_FILE_MAX`] bytes together (a device or a FIFO is refused at once).
//! This is the only module that uses `domain`.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::iana::Class;
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use super::build::{Built, SourcePos, ZoneBuilder, ZoneIssue};
use super::{Zone, name};
use crate::files::ZONE_FILE_MAX;

/// Deepest `$INCLUDE` nesting accepted.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A zone loaded from a file.
pub struct LoadedZone {
    pub zone: Zone,
    pub warnings: Vec<ZoneIssue>,
}

/// Why a zone file could not be loaded: every problem, with file and line.
#[derive(Debug)]
pub struct ZoneFileErrors(pub Vec<ZoneIssue>);

impl fmt::Display for ZoneFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ZoneFileErrors {}

impl ZoneFileErrors {
    /// One line for a status view: the first problem, and how many more.
    pub fn summary(&self) -> String {
        match self.0.as_slice() {
            [] => "the zone does not load".into(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!(
                "{first} (and {} more error{})",
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Loads and validates the zone `apex` (presentation format) from `path`.
pub fn load_zone_file(apex: &str, path: &Path) -> Result<LoadedZone, ZoneFileErrors> {
    load_within(apex, path, ZONE_FILE_MAX)
}

/// [`load_zone_file`], the file and its `$INCLUDE`s holding at most
/// `max_bytes` together.
fn load_within(apex: &str, path: &Path, max_bytes: u64) -> Result<LoadedZone, ZoneFileErrors> {
    let one = |message: String| {
        ZoneFileErrors(vec![ZoneIssue {
            file: Some(path.display().to_string()),
            line: 0,
            message,
        }])
    };
    let apex_wire = name::from_text(apex).map_err(one)?;
    let origin = Name::<Bytes>::from_octets(Bytes::from(apex_wire.clone()))
        .map_err(|e| one(format!("invalid zone name {apex:?}: {e}")))?;
    let mut builder = ZoneBuilder::new(&apex_wire);
    let mut budget = max_bytes;
    read_file(&mut builder, path, origin, 0, &mut budget, None);
    let Built { zone, warnings } = builder.build().map_err(ZoneFileErrors)?;
    Ok(LoadedZone { zone, warnings })
}

/// Parses zone-file text (no `$INCLUDE` base directory) — used by tests and
/// the fuzz target.
pub fn load_zone_text(apex: &str, text: &str) -> Result<LoadedZone, ZoneFileErrors> {
    let one = |message: String| {
        ZoneFileErrors(vec![ZoneIssue {
            file: None,
            line: 0,
            message,
        }])
    };
    let apex_wire = name::from_text(apex).map_err(one)?;
    let origin = Name::<Bytes>::from_octets(Bytes::from(apex_wire.clone()))
        .map_err(|e| one(format!("invalid zone name {apex:?}: {e}")))?;
    let mut builder = ZoneBuilder::new(&apex_wire);
    let file = builder.add_file("<text>");
    read_text(&mut builder, text, file, None, origin, 0, &mut 0);
    let Built { zone, warnings } = builder.build().map_err(ZoneFileErrors)?;
    Ok(LoadedZone { zone, warnings })
}

/// Reads `path` into the zone; `budget` is what the zone's files may still
/// hold, in bytes. `included_at`: the `$INCLUDE` line that names it, where
/// a file that cannot be read is reported.
fn read_file(
    builder: &mut ZoneBuilder,
    path: &Path,
    origin: Name<Bytes>,
    depth: usize,
    budget: &mut u64,
    included_at: Option<SourcePos>,
) {
    let file = builder.add_file(&path.display().to_string());
    let text = match crate::files::read(path, *budget) {
        Ok(bytes) => bytes,
        Err(e) => {
            let note = if depth > 0 && e.kind() == std::io::ErrorKind::InvalidData {
                format!(
                    " (what is left of the {} a zone file and its $INCLUDEs may hold together)",
                    crate::files::size(ZONE_FILE_MAX)
                )
            } else {
                String::new()
            };
            match included_at {
                Some(pos) => builder.error(pos, format!("$INCLUDE {}: cannot read: {e}{note}", path.display())),
                None => builder.error(SourcePos { file, line: 0 }, format!("cannot read: {e}{note}")),
            }
            return;
        }
    };
    *budget = budget.saturating_sub(text.len() as u64);
    let text = String::from_utf8_lossy(&text);
    read_text(builder, &text, file, Some(path), origin, depth, budget);
}

fn read_text(
    builder: &mut ZoneBuilder,
    text: &str,
    file: u16,
    path: Option<&Path>,
    origin: Name<Bytes>,
    depth: usize,
    budget: &mut u64,
) {
    let text = rewrite_loc(text);
    let mut lines = EntryLines::new(&text);
    if let Some(line) = lines.unclosed {
        builder.error(
            SourcePos { file, line },
            "parenthesis or quote opened here is never closed".into(),
        );
        return;
    }
    // The scanner wants the last entry to end with a line feed.
    let text: std::borrow::Cow<'_, str> = if text.ends_with('\n') {
        text
    } else {
        std::borrow::Cow::Owned(format!("{text}\n"))
    };
    let mut zf = Zonefile::from(text.as_bytes());
    zf.set_origin(origin);
    zf.set_default_class(Class::IN);
    let mut owner = Vec::with_capacity(256);
    let mut rdata = Vec::with_capacity(512);
    loop {
        // The scanner has panicked on some malformed input (TXT data running
        // into the end of the text): contain that to this zone.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| zf.next_entry()));
        let Ok(next) = next else {
            let line = lines.failed(u32::MAX);
            builder.error(
                SourcePos { file, line },
                "zone file scanner failed on this entry".into(),
            );
            return;
        };
        let entry = match next {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                // domain's error reads "line:col: message"; its line can be
                // one past the entry, so name the line the entry starts on.
                let msg = e.to_string();
                let (reported, rest) = split_line_prefix(&msg);
                let line = lines.failed(reported);
                builder.error(SourcePos { file, line }, rest.to_string());
                return;
            }
        };
        let line = lines.returned();
        let pos = SourcePos { file, line };
        match entry {
            Entry::Record(rec) => {
                if rec.class() != Class::IN {
                    builder.error(pos, format!("class {} is not supported (only IN)", rec.class()));
                    continue;
                }
                owner.clear();
                rdata.clear();
                if rec.owner().compose(&mut owner).is_err() || rec.data().compose_rdata(&mut rdata).is_err() {
                    builder.error(pos, "record too long".into());
                    continue;
                }
                builder.add(&owner, rec.rtype().to_int(), rec.ttl().as_secs(), &rdata, pos);
            }
            Entry::Include {
                path: inc,
                origin: inc_origin,
            } => {
                if depth >= MAX_INCLUDE_DEPTH {
                    builder.error(pos, "$INCLUDE nested too deeply".into());
                    return;
                }
                let inc = String::from_utf8_lossy(inc.as_slice()).into_owned();
                let target = resolve_include(path, &inc);
                let Some(target) = target else {
                    builder.error(pos, format!("$INCLUDE {inc}: only allowed in zone files"));
                    continue;
                };
                let origin = match inc_origin.or_else(|| zf.origin().ok()) {
                    Some(o) => o,
                    None => {
                        builder.error(pos, "$INCLUDE without an origin".into());
                        continue;
                    }
                };
                read_file(builder, &target, origin, depth + 1, budget, Some(pos));
            }
        }
    }
}

/// Where an `$INCLUDE` points: relative to the including file. Text that
/// did not come from a file (tests, fuzzing) may not include anything.
fn resolve_include(base: Option<&Path>, inc: &str) -> Option<PathBuf> {
    let base = base?;
    let p = Path::new(inc);
    if p.is_absolute() {
        return Some(p.to_path_buf());
    }
    Some(base.parent().unwrap_or(Path::new(".")).join(p))
}

fn split_line_prefix(msg: &str) -> (u32, &str) {
    let mut parts = msg.splitn(3, ':');
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let _col = parts.next();
    match (line, parts.next()) {
        (Some(line), Some(rest)) => (line, rest.trim()),
        _ => (0, msg),
    }
}

/// Start lines of the logical entries of a zone file (a record, possibly
/// spanning lines in parentheses, or a `$` directive), in order. The scanner
/// does not report positions of good entries, so records are matched to
/// these by count.
struct EntryLines {
    /// (line, is `$ORIGIN`/`$TTL`: consumed by the scanner without an entry)
    entries: Vec<(u32, bool)>,
    next: usize,
    /// Line of a `(` still open at the end of the text.
    unclosed: Option<u32>,
}

impl EntryLines {
    fn new(text: &str) -> EntryLines {
        let mut entries = Vec::new();
        let b = text.as_bytes();
        let (mut i, mut line) = (0usize, 1u32);
        let mut depth = 0u32;
        let mut open_line = 0u32;
        let mut in_quote = false;
        let mut in_entry = false;
        let mut at_line_start = true;
        while i < b.len() {
            let c = b[i];
            if in_quote {
                match c {
                    b'\\' => i += 1,
                    b'"' => in_quote = false,
                    b'\n' => line += 1,
                    _ => {}
                }
                i += 1;
                continue;
            }
            match c {
                b'\n' => {
                    line += 1;
                    if depth == 0 {
                        in_entry = false;
                    }
                    at_line_start = true;
                    i += 1;
                    continue;
                }
                b';' => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => {
                    if !in_entry {
                        in_entry = true;
                        let directive = at_line_start && c == b'$';
                        let silent = directive && {
                            let word = &b[i..b.len().min(i + 7)];
                            word.eq_ignore_ascii_case(b"$ORIGIN")
                                || word.starts_with(b"$TTL")
                                || word.starts_with(b"$ttl")
                        };
                        entries.push((line, silent));
                    }
                    match c {
                        b'(' => {
                            if depth == 0 {
                                open_line = line;
                            }
                            depth += 1;
                        }
                        b')' => depth = depth.saturating_sub(1),
                        b'"' => in_quote = true,
                        b'\\' => i += 1,
                        _ => {}
                    }
                }
            }
            at_line_start = false;
            i += 1;
        }
        let unclosed = (depth > 0 || in_quote).then_some(open_line.max(1));
        EntryLines {
            entries,
            next: 0,
            unclosed,
        }
    }

    /// Line of the entry the scanner just returned (a record or $INCLUDE).
    fn returned(&mut self) -> u32 {
        while let Some(&(line, silent)) = self.entries.get(self.next) {
            self.next += 1;
            if !silent {
                return line;
            }
        }
        0
    }

    /// Line of the entry the scanner failed on, given the line it reported
    /// (which may lie past the entry's start).
    fn failed(&self, reported: u32) -> u32 {
        // Entries before the failing one that the scanner consumed silently
        // are `$ORIGIN`/`$TTL` lines; the failing entry is the first record
        // not yet returned, unless the report points at a directive only.
        let rest = &self.entries[self.next.min(self.entries.len())..];
        let upto: Vec<&(u32, bool)> = rest.iter().take_while(|(line, _)| *line <= reported).collect();
        upto.iter()
            .copied()
            .find(|(_, silent)| !silent)
            .or(upto.last().copied())
            .or(rest.first())
            .map_or(reported, |(line, _)| *line)
    }
}

/// Rewrites single-line LOC records to RFC 3597 generic syntax, which the
/// scanner understands. Other lines are left as they are.
fn rewrite_loc(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .lines()
        .any(|l| l.split_whitespace().any(|t| t.eq_ignore_ascii_case("LOC")))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match rewrite_loc_line(line) {
            Some(new) => out.push_str(&new),
            None => out.push_str(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn rewrite_loc_line(line: &str) -> Option<String> {
    let body = line.split(';').next()?;
    if body.contains('(') || body.contains('"') {
        return None;
    }
    let starts_blank = body.starts_with([' ', '\t']);
    let tokens: Vec<&str> = body.split_whitespace().collect();
    let mut i = if starts_blank { 0 } else { 1 };
    // Skip TTL and class in either order.
    while let Some(t) = tokens.get(i) {
        let is_ttl = t.chars().next().is_some_and(|c| c.is_ascii_digit());
        let is_class = ["IN", "CH", "HS", "CS"].iter().any(|c| t.eq_ignore_ascii_case(c));
        if is_ttl || is_class {
            i += 1;
        } else {
            break;
        }
    }
    if !tokens.get(i)?.eq_ignore_ascii_case("LOC") || tokens.get(i + 1) == Some(&"\\#") {
        return None;
    }
    let wire = super::loc::parse(&tokens[i + 1..])?;
    let hex: String = wire.iter().map(|b| format!("{b:02X}")).collect();
    let prefix = tokens[..i].join(" ");
    let lead = if starts_blank { " " } else { "" };
    let nl = if line.ends_with('\n') { "\n" } else { "" };
    Some(format!("{lead}{prefix} TYPE29 \\# {} {hex}{nl}", wire.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns1 host 1 2 3 4 5\n  IN NS ns1\nns1 A 192.0.2.1\n; comment\n\nwww CNAME ns1\nwww A 192.0.2.9\n";

    #[test]
    fn cname_beside_data_names_the_line() {
        let err = load_zone_text("example.test", ZONE).err().unwrap();
        let text = err.to_string();
        assert!(text.contains(":8:"), "{text}");
        assert!(text.contains("CNAME beside other data"), "{text}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = load_zone_text(
            "example.test",
            "$ORIGIN example.test.\n@ 300 SOA ns1 host 1 2 3 4 5\nx 300 A 300.1.1.1\n",
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains(":3:"), "{err}");
    }

    #[test]
    fn lines_survive_parentheses_and_directives() {
        let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host (\n 1 2 3 ; serial etc\n 4 5 )\n@ NS ns1\n\nns1 A 192.0.2.1\n$TTL 60\nbad CNAME ns1\nbad TXT \"a;b\" \"(\"\n";
        let err = load_zone_text("example.test", z).err().unwrap().to_string();
        assert!(err.contains(":10:"), "{err}");
        let z = "$ORIGIN example.test.\n@ 300 SOA ns1 host ( 1 2\n 3 4 5 )\n$TTL 60\n@ NS ns1\nx A 1.2.3\n";
        let err = load_zone_text("example.test", z).err().unwrap().to_string();
        assert!(err.contains(":6:"), "{err}");
    }

    #[test]
    fn fuzz_regressions_are_errors_not_panics() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/zonefile");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let _ = load_zone_text("example.test", &String::from_utf8_lossy(&data));
            n += 1;
        }
        assert!(n >= 2);
        let err = load_zone_text(
            "example.test",
            "@ 300 SOA ns1 host 1 2 3 4 5\n@ 300 NS ns1\na TXT ( x\n",
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains(":3:"), "{err}");
        assert!(
            load_zone_text(
                "example.test",
                "@ 300 SOA ns1 host 1 2 3 4 5\n@ 300 NS ns1\na 300 TXT \"x\""
            )
            .is_ok()
        );
        assert!(load_zone_text("example.test", "$INCLUDE /etc/hostname\n").is_err());
    }

    #[test]
    fn loads_loc_and_generic() {
        let z = "@ 300 SOA ns1 host 1 2 3 4 5\n@ 300 NS ns1\nns1 300 A 192.0.2.1\nloc 300 LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\ng 300 TYPE65000 \\# 2 0A0B\n";
        let loaded = load_zone_text("example.test", z).unwrap();
        let id = loaded.zone.find(&name::from_text("loc.example.test").unwrap()).unwrap();
        assert!(loaded.zone.get(id, 29).is_some());
    }

    #[test]
    fn a_zone_file_and_its_includes_share_one_bound() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("b.test.zone");
        let text = "$ORIGIN b.test.\n$TTL 300\n@ SOA ns1 host 1 3600 600 86400 300\n@ NS ns1\n$INCLUDE more\n";
        std::fs::write(&main, text).unwrap();
        std::fs::write(dir.path().join("more"), "ns1 A 192.0.2.1\n".repeat(10)).unwrap();
        let total = text.len() as u64 + 160;
        assert!(load_within("b.test", &main, total).is_ok());
        let e = load_within("b.test", &main, total - 1).err().unwrap().to_string();
        assert!(
            e.contains("b.test.zone:5: $INCLUDE") && e.contains("what is left of"),
            "{e}"
        );
        let e = load_within("b.test", &main, 20).err().unwrap().to_string();
        assert!(e.contains("larger than the limit of 20 bytes"), "{e}");
        let e = load_zone_file("b.test", Path::new("/dev/null"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/dev/null: cannot read: is a character device"), "{e}");
    }
}
