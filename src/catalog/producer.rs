//! The producer catalog (`catalog = "producer"`, issue 12 item 4): this
//! module owns the contents of the catalog zone pharos writes on a hub from
//! its own zones, and the file it is served from.
//!
//! A catalog is RFC 9432 version 2: the SOA, `NS invalid.`, `version TXT
//! "2"`, one `<label>.zones PTR <member>.` per member, and `group.<label>.
//! zones TXT "<group>"` for a member with a `catalog-group`. Every zone whose
//! `catalog` (its own key or its template's) names the producer is a member.
//!
//! Member labels come from the member's name only: the first 8 octets of
//! the SHA-256 of its lowercase wire name, in hex (16 characters). They are
//! the same across restarts and on a second hub promoted to producer with
//! the same zones, so no consumer resets a zone when the producer changes.
//! (Knot 3.2's `catalog-role: generate` does not derive its labels from the
//! name alone: the same member got `8745059aa01d529f` and, after its
//! database was wiped, `88d533c2f1fc3135`. There is nothing stable to
//! match; the labels only have to agree between the hubs of one fleet,
//! which both run pharos.)
//!
//! The catalog is written as a zone file, `<data-dir>/catalog/<name>.zone`
//! ([`crate::config::producer_file`]), and served as a file zone: the IXFR
//! history (the diff of versions), AXFR/IXFR out and NOTIFY out apply
//! unchanged. [`write`] rewrites it only when the member set or a group
//! changed; the serial then rises: the current Unix time, or the previous
//! serial + 1 when that is not greater, so it never goes back across
//! restarts (the previous file holds it).
//!
//! Sans-IO core: [`members`] and [`render`]; [`write`] is the one function
//! with I/O (blocking: call it off the reactor).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use crate::config::{CatalogRole, ZoneConfig};
use crate::zone::history::serial_gt;

/// One catalog's members: member name (as [`ZoneConfig::name`]) to its
/// group, if any. Sorted, so the file is the same for the same set.
pub type Members = BTreeMap<String, Option<String>>;

/// The members of every producer among `zones`, by producer name. A
/// producer without members is listed (empty); members of a catalog that
/// is not among `zones` are left out.
pub fn members<'a>(zones: impl IntoIterator<Item = &'a ZoneConfig>) -> BTreeMap<String, Members> {
    let zones: Vec<&ZoneConfig> = zones.into_iter().collect();
    let mut out: BTreeMap<String, Members> = zones
        .iter()
        .filter(|z| z.catalog == Some(CatalogRole::Producer))
        .map(|z| (z.name.clone(), Members::new()))
        .collect();
    for z in &zones {
        if let Some(CatalogRole::Member(catalog)) = &z.catalog
            && let Some(m) = out.get_mut(catalog)
        {
            m.insert(z.name.clone(), z.catalog_group.clone());
        }
    }
    out
}

/// The member label of zone `name` (presentation form, as
/// [`ZoneConfig::name`]): 16 hex characters from its lowercase wire name.
pub fn label(name: &str) -> String {
    let wire = crate::zone::name::from_text(name).unwrap_or_else(|_| name.to_ascii_lowercase().into_bytes());
    let digest = crate::tsig::sha256(&wire.to_ascii_lowercase());
    digest[..8].iter().fold(String::with_capacity(16), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SOA timers of the catalog: consumers follow NOTIFY; refresh is the
/// fallback. Expire is long: a catalog that expires must not empty a fleet.
const SOA_TIMERS: &str = "60 10 1209600 0";

/// The first line of every file [`render`] writes.
const HEADER: &str = "; written by pharos: the producer catalog";

/// The catalog zone `apex` (as [`ZoneConfig::name`]) at `serial`, as zone
/// file text.
pub fn render(apex: &str, serial: u32, members: &Members) -> String {
    let mut s = String::with_capacity(128 + members.len() * 96);
    let _ = writeln!(s, "{HEADER} {apex} (RFC 9432); do not edit");
    let _ = writeln!(s, "$ORIGIN {}", fqdn(apex));
    let _ = writeln!(s, "$TTL 0");
    let _ = writeln!(s, "@ SOA invalid. invalid. {serial} {SOA_TIMERS}");
    s.push_str(&body(members));
    s
}

/// Everything after the SOA line: what decides whether a version changed.
fn body(members: &Members) -> String {
    let mut s = String::with_capacity(64 + members.len() * 96);
    s.push_str("@ NS invalid.\nversion TXT \"2\"\n");
    for (name, group) in members {
        let l = label(name);
        let _ = writeln!(s, "{l}.zones PTR {}", fqdn(name));
        if let Some(g) = group {
            let _ = writeln!(s, "group.{l}.zones TXT \"{}\"", escape(g));
        }
    }
    s
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A TXT character-string in zone-file form: `"` and `\` escaped, and
/// every octet outside printable ASCII as `\DDD`.
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s
}

/// The serial of a file [`render`] wrote, and its body.
fn previous(text: &str) -> Option<(u32, &str)> {
    let soa = text.lines().find(|l| l.starts_with("@ SOA "))?;
    let serial = soa.split_whitespace().nth(4)?.parse().ok()?;
    let start = text.find(soa)? + soa.len() + 1;
    Some((serial, text.get(start..)?))
}

/// The serial after `previous`: `now` (Unix seconds, truncated to 32 bits)
/// when it is greater in serial arithmetic, else `previous + 1`.
pub fn next_serial(previous: Option<u32>, now: u64) -> u32 {
    let now = now as u32;
    match previous {
        Some(p) if !serial_gt(now, p) => p.wrapping_add(1),
        _ => now,
    }
}

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The catalog's serial now.
    pub serial: u32,
    /// Whether the file was (re)written: a new version to serve.
    pub changed: bool,
}

/// Writes the catalog `apex` with `members` to `path` when its member set
/// or groups differ from the file's (or there is no usable file), with a
/// serial above the file's; atomically (temporary file, fsync, rename,
/// fsync of the directory). Blocking.
pub fn write(path: &Path, apex: &str, members: &Members, now: u64) -> io::Result<Written> {
    write_above(path, apex, members, now, None)
}

/// [`write`], with a serial above `floor` too: a hub promoted to producer
/// continues from the serial it served as the other hub's secondary.
pub fn write_above(path: &Path, apex: &str, members: &Members, now: u64, floor: Option<u32>) -> io::Result<Written> {
    let old = match crate::files::read_to_string(path, crate::files::ZONE_FILE_MAX) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let old = old.as_deref().filter(|t| t.starts_with(HEADER)).and_then(previous);
    let body = body(members);
    if let Some((serial, old_body)) = old
        && old_body == body
    {
        return Ok(Written { serial, changed: false });
    }
    let previous = match (old.map(|(s, _)| s), floor) {
        (Some(a), Some(b)) => Some(if serial_gt(b, a) { b } else { a }),
        (a, b) => a.or(b),
    };
    let serial = next_serial(previous, now);
    let text = render(apex, serial, members);
    let dir = path.parent().unwrap_or(Path::new("."));
    let at = |e: io::Error, what: &str| io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()));
    fs::create_dir_all(dir).map_err(|e| at(e, "cannot create the directory"))?;
    let tmp = path.with_extension("zone.tmp");
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(at(e, "cannot write the catalog"));
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Written { serial, changed: true })
}

/// Writes the file of every producer catalog among `zones` (config and
/// API zones alike) under `data_dir` ([`write`]); returns the producers
/// whose catalog changed. A catalog that cannot be written is logged and
/// keeps its last version. Blocking: 10,000 members render and write in
/// milliseconds, but off the reactor.
pub fn rebuild<'a>(data_dir: &Path, zones: impl IntoIterator<Item = &'a ZoneConfig>, now: u64) -> Vec<String> {
    let mut changed = Vec::new();
    for (catalog, m) in members(zones) {
        let path = crate::config::producer_file(data_dir, &catalog);
        match write(&path, &catalog, &m, now) {
            Ok(w) if w.changed => {
                tracing::info!(zone = %catalog, serial = w.serial, members = m.len(), "producer catalog written");
                changed.push(catalog);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(zone = %catalog, "producer catalog not written; its last version stays: {e}"),
        }
    }
    changed
}

#[cfg(test)]
mod tests;
