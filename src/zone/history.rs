//! The IXFR history of a zone: the differences that lead from an older
//! serial to the version served, kept on disk beside the zone (the
//! journal, `super::journal`, bounded by `ixfr-history-depth` and
//! `ixfr-history-bytes`).
//!
//! This module owns reading the history for the primary side
//! ([`changes`]) and recording the versions of file zones ([`file_version`],
//! diffed with [`super::diff`]; a digest of the contents the history leads
//! to, `<journal>.digest`, lets a restart tell a file edited while the node
//! was down from the one the history ends at). The secondary engine appends
//! its versions through the journal (IXFR in as received, net of each
//! transfer; AXFR in diffed against the version held).

use std::fs::File;
use std::io;
use std::path::Path;

use super::Zone;
use super::diff;
use super::journal::{self, Appended, Bounds, Entry, Record};
use super::persist::ZoneMeta;

/// RFC 1982: `a` is newer than `b`.
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// The differences that lead from serial `from` to serial `to` of the zone
/// `apex` (lowercase wire name) whose files live in `dir` (the zones
/// directory of the data dir), oldest first, each entry's `to` the next
/// one's `from`, the last one's `to` equal to `to`.
///
/// `Ok(None)`: the history does not hold that chain (`from` is older than
/// the history, unknown, or from another history; no history at all): the
/// caller sends the whole zone. `from == to`: `Some` of no entries. Cheap
/// when the answer is `None` or a short chain: it reads entry headers, not
/// the whole file. Blocking (file I/O): call it off the reactor.
pub fn changes(dir: &Path, apex: &[u8], from: u32, to: u32) -> io::Result<Option<Vec<Entry>>> {
    if from == to {
        return Ok(Some(Vec::new()));
    }
    if !serial_gt(to, from) {
        return Ok(None);
    }
    let path = journal::path_in(dir, apex);
    // Opened once: a trim renames a new file over this one, an append
    // extends it; neither changes what this handle reads up to its length.
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let Some(hdrs) = headers(&file)? else {
        return Ok(None);
    };
    let Some(last) = hdrs.iter().rposition(|h| h.to == to) else {
        return Ok(None);
    };
    let Some(first) = hdrs[..=last].iter().rposition(|h| h.from == from) else {
        return Ok(None);
    };
    match read_entries(&file, &hdrs[first..=last])? {
        Some(entries) => Ok(Some(entries)),
        None => {
            tracing::warn!(
                file = %path.display(),
                "IXFR history: an entry from serial {from} to {to} is damaged; sending the whole zone"
            );
            Ok(None)
        }
    }
}

/// Records in the history a new version of a file zone, `new`, served
/// after `old` (`None`: the first version served since start-up). The
/// history goes on when `new` follows it: `old` is the history's last
/// version and `new` has a newer serial and differences within `bounds`
/// (or, at start-up, the history ends at `new`'s serial). Otherwise it
/// starts afresh: a serial that went backwards, the same serial with other
/// contents, a change larger than the bound. Blocking: O(records).
pub fn file_version(dir: &Path, old: Option<&Zone>, new: &Zone, bounds: Bounds) -> io::Result<()> {
    let apex = new.apex();
    let snapshot = dir.join(super::persist::file_name(apex));
    let serial = new.info.serial;
    let Some(old) = old.filter(|_| bounds.depth > 0 && bounds.bytes > 0) else {
        // At start-up (or without history): keep only a history that ends
        // at this serial with these contents (the file may have been
        // edited while the node was down, without a new serial).
        if journal::keep_if_at(dir, apex, serial, bounds)? && read_digest(dir, apex) != Some(digest(new)) {
            journal::remove(&snapshot)?;
        }
        return Ok(());
    };
    let diffed = if serial_gt(serial, old.info.serial) {
        diff::diff(old, new, bounds.bytes)
    } else if serial == old.info.serial {
        match diff::diff(old, new, bounds.bytes) {
            Some((r, a)) if r.is_empty() && a.is_empty() => return Ok(()),
            _ => None,
        }
    } else {
        None
    };
    let (Some((removed, added)), Some(from_soa), Some(soa)) = (diffed, Record::soa_of(old), Record::soa_of(new)) else {
        return journal::remove(&snapshot);
    };
    let entry = Entry {
        from: old.info.serial,
        to: serial,
        meta: ZoneMeta {
            source: "file".into(),
            ..ZoneMeta::default()
        },
        from_soa,
        soa,
        removed,
        added,
    };
    std::fs::create_dir_all(dir)?;
    // No snapshot: a file zone's journal is history only (`NeedsSnapshot`).
    let appended = journal::append(dir, apex, &entry, bounds).and_then(|_: Appended| {
        let journal = journal::path_in(dir, apex);
        let text = format!("{serial} {:016x}\n", digest(new));
        journal::write_atomic(dir, &journal::digest_path(&journal), text.as_bytes())
    });
    match appended {
        Ok(()) => Ok(()),
        Err(e) => {
            // A history that may not end at the version served is no
            // history: start afresh.
            let _ = journal::remove(&snapshot);
            Err(e)
        }
    }
}

/// An order-independent digest of a version's records: a sum of one mixed
/// FNV-1a hash per record. O(records), no allocation.
fn digest(zone: &Zone) -> u64 {
    let mut sum = 0u64;
    for id in zone.canonical_ids() {
        let owner = zone.name(id);
        for set in zone.rrsets(id) {
            for rd in zone.records(set) {
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                let (t, c) = (set.rtype.to_be_bytes(), set.covered.to_be_bytes());
                let head = [t[0], t[1], c[0], c[1]];
                let parts: [&[u8]; 5] = [
                    owner,
                    &head,
                    &set.ttl.to_be_bytes(),
                    &(rd.len() as u16).to_be_bytes(),
                    rd,
                ];
                for b in parts.iter().flat_map(|p| p.iter()) {
                    h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
                }
                // splitmix64's finalizer: a sum of raw FNV values mixes badly.
                h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                sum = sum.wrapping_add(h ^ (h >> 31));
            }
        }
    }
    sum
}

/// The digest recorded for the version a file zone's history leads to.
fn read_digest(dir: &Path, apex: &[u8]) -> Option<u64> {
    let path = journal::digest_path(&journal::path_in(dir, apex));
    let text = crate::files::read_to_string(&path, crate::files::TOKEN_MAX).ok()?;
    u64::from_str_radix(text.split_whitespace().nth(1)?, 16).ok()
}

/// Reads the entries `hdrs` from `file` (one positioned read per entry),
/// checksums and decodes them. `None` if any fails.
fn read_entries(file: &File, hdrs: &[journal::Hdr]) -> io::Result<Option<Vec<Entry>>> {
    use std::os::unix::fs::FileExt;
    let mut out = Vec::with_capacity(hdrs.len());
    for h in hdrs {
        let mut buf = vec![0u8; h.size as usize];
        match file.read_exact_at(&mut buf, h.off) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let crc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let payload = &buf[journal::FRAME as usize..];
        if crc32fast::hash(payload) != crc {
            return Ok(None);
        }
        match journal::decode(payload, false) {
            Some(e) if e.from == h.from && e.to == h.to => out.push(e),
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// The chain of a version-2 journal opened as `file`, from the frame
/// headers only (one positioned read of 16 bytes per entry): stops at the
/// first torn frame or break in the chain. Checksums are checked when the
/// entries are read ([`read_entries`]). `None` if not a version-2 journal.
pub(super) fn headers(file: &File) -> io::Result<Option<Vec<journal::Hdr>>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut magic = [0u8; 4];
    match file.read_exact_at(&mut magic, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if magic != journal::MAGIC {
        return Ok(None);
    }
    let mut out: Vec<journal::Hdr> = Vec::new();
    let mut pos = journal::HEADER;
    let mut head = [0u8; 16];
    while pos + 16 <= len {
        file.read_exact_at(&mut head, pos)?;
        let plen = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let size = journal::FRAME + plen;
        let from = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let to = u32::from_be_bytes([head[12], head[13], head[14], head[15]]);
        if plen < 8 || pos + size > len || out.last().is_some_and(|h| h.to != from) {
            break;
        }
        out.push(journal::Hdr {
            from,
            to,
            off: pos,
            size,
        });
        pos += size;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;

    fn zone(serial: u32, body: &str) -> Zone {
        let text = format!("$ORIGIN f.test.\n@ 300 SOA ns1 host {serial} 3600 600 86400 300\n@ 300 NS ns1\n{body}");
        load_zone_text("f.test", &text).unwrap_or_else(|e| panic!("{e:?}")).zone
    }

    const B: Bounds = Bounds {
        depth: 100,
        bytes: 1 << 20,
    };

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn file_versions() {
        let dir = ok(tempfile::tempdir());
        let d = dir.path();
        let v1 = zone(1, "ns1 300 A 192.0.2.1\n");
        let apex = v1.apex().to_vec();
        ok(file_version(d, None, &v1, B));
        assert_eq!(ok(changes(d, &apex, 1, 1)), Some(Vec::new()));
        let v2 = zone(2, "ns1 300 A 192.0.2.2\n");
        ok(file_version(d, Some(&v1), &v2, B));
        let v3 = zone(3, "ns1 300 A 192.0.2.2\nwww 300 A 192.0.2.3\n");
        ok(file_version(d, Some(&v2), &v3, B));
        let chain = ok(changes(d, &apex, 1, 3)).unwrap_or_else(|| panic!("two reloads"));
        assert_eq!(chain.len(), 2);
        assert_eq!((chain[0].removed.len(), chain[0].added.len()), (1, 1));
        assert_eq!((chain[1].removed.len(), chain[1].added.len()), (0, 1));
        assert_eq!(chain[0].from_soa, Record::soa_of(&v1).unwrap_or_else(|| panic!("SOA")));
        assert_eq!(chain[1].soa, Record::soa_of(&v3).unwrap_or_else(|| panic!("SOA")));

        // The same version again (a reload of an unchanged file): kept.
        ok(file_version(
            d,
            Some(&v3),
            &zone(3, "ns1 300 A 192.0.2.2\nwww 300 A 192.0.2.3\n"),
            B,
        ));
        assert!(ok(changes(d, &apex, 1, 3)).is_some());
        // At start-up: kept when it ends at the file's serial and contents...
        ok(file_version(d, None, &v3, B));
        assert!(ok(changes(d, &apex, 1, 3)).is_some());
        // ... else started afresh: the same serial with other contents (an
        // edit while the node was down), or another serial.
        ok(file_version(
            d,
            None,
            &zone(3, "ns1 300 A 192.0.2.2\nwww 300 A 192.0.2.4\n"),
            B,
        ));
        assert_eq!(ok(changes(d, &apex, 1, 3)), None);
        let journal = journal::path_in(d, &apex);
        assert!(!journal.exists() && !journal::digest_path(&journal).exists());
        ok(file_version(d, Some(&v2), &v3, B));
        assert!(ok(changes(d, &apex, 2, 3)).is_some());
        ok(file_version(d, None, &zone(9, ""), B));
        assert_eq!(ok(changes(d, &apex, 2, 3)), None);
        assert!(!journal.exists());

        // Same serial, other contents: afresh.
        ok(file_version(d, Some(&v1), &v2, B));
        assert!(ok(changes(d, &apex, 1, 2)).is_some());
        ok(file_version(d, Some(&v2), &zone(2, ""), B));
        assert_eq!(ok(changes(d, &apex, 1, 2)), None);
        // A serial that went backwards: afresh.
        ok(file_version(d, Some(&v1), &v2, B));
        ok(file_version(d, Some(&v2), &v1, B));
        assert_eq!(ok(changes(d, &apex, 1, 2)), None);
        // A difference past the bytes bound: afresh.
        ok(file_version(d, Some(&v1), &v2, B));
        let body: String = (0..100).map(|i| format!("h{i} 300 A 192.0.2.{i}\n")).collect();
        let tight = Bounds {
            depth: 100,
            bytes: 1000,
        };
        ok(file_version(d, Some(&v2), &zone(3, &body), tight));
        assert_eq!(ok(changes(d, &apex, 1, 2)), None);
        assert_eq!(ok(changes(d, &apex, 2, 3)), None);
        // No history kept with depth 0.
        ok(file_version(d, Some(&v1), &v2, Bounds::NONE));
        assert_eq!(ok(changes(d, &apex, 1, 2)), None);
    }

    #[test]
    fn digest_follows_contents_not_order() {
        let a = zone(1, "a 300 A 192.0.2.1\na 300 A 192.0.2.2\nb 300 TXT \"x\"\n");
        let b = zone(1, "b 300 TXT \"x\"\na 300 A 192.0.2.2\na 300 A 192.0.2.1\n");
        assert_eq!(digest(&a), digest(&b));
        for other in [
            "a 300 A 192.0.2.1\na 300 A 192.0.2.3\nb 300 TXT \"x\"\n",
            "a 301 A 192.0.2.1\na 301 A 192.0.2.2\nb 300 TXT \"x\"\n",
            "a 300 A 192.0.2.1\nb 300 A 192.0.2.2\nb 300 TXT \"x\"\n",
        ] {
            assert_ne!(digest(&a), digest(&zone(1, other)), "{other}");
        }
    }

    #[test]
    fn serial_arithmetic() {
        assert!(serial_gt(2, 1));
        assert!(!serial_gt(1, 2));
        assert!(!serial_gt(5, 5));
        assert!(serial_gt(1, u32::MAX), "wraps");
        assert!(!serial_gt(0x8000_0000, 0), "undefined: not newer");
    }
}
