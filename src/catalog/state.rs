//! The consumer's state file: the applied member set of one catalog and
//! each member's origin, so that a restart serves every member zone from
//! disk before any primary answers.
//!
//! One file per catalog beside the catalog zone's snapshot,
//! `<data-dir>/zones/<name>.zone.bin.catalog` (`persist::file_name` +
//! `.catalog`, like the journal and the timers), written whole: a temporary
//! file `<that>.<pid>-<n>.tmp` (which `persist::is_temp` already knows, so
//! `clean_temp` removes one a crash left), fsync, rename over the old one,
//! fsync of the directory. A reader sees the old state or the new one,
//! never a mix.
//!
//! Order of work, and what a kill -9 anywhere means: the catalog zone's own
//! snapshot is written first (by the zone engine), then the consumer
//! applies it and this file is written, and only then are the actions
//! carried out. On restart the state file gives the member set (the old
//! one or the new one, whole), [`super::Consumer::restore`] adds the owned
//! members missing on disk and removes the zones of this catalog that the
//! state does not own, and applying the catalog zone read back from disk
//! brings the set to the catalog's version: a crash between "version
//! applied" and "member zones added" converges to that version, never to a
//! mix the catalog never had.
//!
//! Format (big-endian): magic `PHCAT` + format version 1; the catalog name
//! (length octet + wire name); flags (bit 0: a serial follows); serial
//! (u32); entry count (u32); per entry: flags (bit 0 owned, bit 1 listed,
//! bit 2 group, bit 3 coo), label (length octet + octets), zone (length
//! octet + wire name), then group (length octet + octets) and coo (length
//! octet + wire name) when flagged; a CRC-32 of everything before it. Any
//! bytes decode to a state or an error naming the file, never a panic.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::consumer::Entry;
use super::parse::Member;
use crate::zone::name::{self, skip_name};
use crate::zone::persist;

const MAGIC: &[u8; 5] = b"PHCAT";
const FORMAT: u8 = 1;

/// What the state file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The catalog's name, wire format.
    pub catalog: Box<[u8]>,
    pub serial: Option<u32>,
    pub entries: Vec<Entry>,
}

/// The state file of `catalog` in `dir`.
pub fn path(dir: &Path, catalog: &[u8]) -> PathBuf {
    dir.join(format!("{}.catalog", persist::file_name(catalog)))
}

fn put_name(out: &mut Vec<u8>, n: &[u8]) {
    out.push(n.len().min(255) as u8);
    out.extend_from_slice(&n[..n.len().min(255)]);
}

/// The file's bytes.
pub fn encode(state: &State) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + state.entries.len() * 48);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    put_name(&mut out, &state.catalog);
    out.push(u8::from(state.serial.is_some()));
    out.extend_from_slice(&state.serial.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&(state.entries.len() as u32).to_be_bytes());
    for e in &state.entries {
        let m = &e.member;
        let flags = u8::from(e.owned)
            | u8::from(e.listed) << 1
            | u8::from(m.group.is_some()) << 2
            | u8::from(m.coo.is_some()) << 3;
        out.push(flags);
        put_name(&mut out, &m.label);
        put_name(&mut out, &m.zone);
        if let Some(g) = &m.group {
            put_name(&mut out, g.as_bytes());
        }
        if let Some(c) = &m.coo {
            put_name(&mut out, c);
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("cut short at octet {}", self.pos))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u8()? as usize;
        self.take(n)
    }

    fn name(&mut self, what: &str) -> Result<Box<[u8]>, String> {
        let at = self.pos;
        let n = self.bytes()?;
        if skip_name(n) != Some(n.len()) {
            return Err(format!("{what} at octet {at} is not a domain name"));
        }
        let mut n = n.to_vec();
        name::lowercase_in_place(&mut n);
        Ok(n.into())
    }
}

/// Reads a state file's bytes; `file` names it in errors.
pub fn decode(data: &[u8], file: &Path) -> Result<State, String> {
    let fail = |m: String| format!("{}: {m}", file.display());
    if data.len() < MAGIC.len() + 1 + 4 {
        return Err(fail("too short for a catalog state file".into()));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return Err(fail("checksum mismatch (torn or corrupted)".into()));
    }
    let mut r = Reader { data: body, pos: 0 };
    if r.take(MAGIC.len()).map_err(&fail)? != MAGIC {
        return Err(fail("not a catalog state file (bad magic)".into()));
    }
    let format = r.u8().map_err(&fail)?;
    if format != FORMAT {
        return Err(fail(format!("unknown format version {format}")));
    }
    let catalog = r.name("catalog name").map_err(&fail)?;
    let has_serial = r.u8().map_err(&fail)?;
    let serial = r.u32().map_err(&fail)?;
    let serial = match has_serial {
        0 => None,
        1 => Some(serial),
        f => return Err(fail(format!("bad serial flag {f}"))),
    };
    let count = r.u32().map_err(&fail)? as usize;
    // Each entry takes at least 5 octets: a count past that is a lie.
    if count > (body.len() - r.pos) / 5 {
        return Err(fail(format!("{count} entries announced, the file cannot hold them")));
    }
    let mut entries = Vec::with_capacity(count);
    let mut seen = HashSet::with_capacity(count);
    for i in 0..count {
        let flags = r.u8().map_err(&fail)?;
        if flags & !0x0f != 0 {
            return Err(fail(format!("entry {i}: unknown flags {flags:#04x}")));
        }
        let label: Box<[u8]> = r.bytes().map_err(&fail)?.into();
        if label.is_empty() || label.len() > 63 {
            return Err(fail(format!("entry {i}: bad label length {}", label.len())));
        }
        let zone = r.name("member zone").map_err(&fail)?;
        let group = match flags & 4 {
            0 => None,
            _ => Some(String::from_utf8_lossy(r.bytes().map_err(&fail)?).into_owned()),
        };
        let coo = match flags & 8 {
            0 => None,
            _ => Some(r.name("coo").map_err(&fail)?),
        };
        if !seen.insert(zone.clone()) {
            return Err(fail(format!("entry {i}: zone {} listed twice", name::to_text(&zone))));
        }
        entries.push(Entry {
            member: Member {
                label,
                zone,
                group,
                coo,
            },
            owned: flags & 1 != 0,
            listed: flags & 2 != 0,
        });
    }
    if r.pos != body.len() {
        return Err(fail(format!("{} octets after the last entry", body.len() - r.pos)));
    }
    Ok(State {
        catalog,
        serial,
        entries,
    })
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `state` atomically to [`path`]`(dir, catalog)`; returns the path.
/// On error the old file, if any, is untouched and the temporary removed.
pub fn write(dir: &Path, state: &State) -> io::Result<PathBuf> {
    let path = path(dir, &state.catalog);
    let data = encode(state);
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = PathBuf::from(format!("{}.{}-{n}.tmp", path.display(), std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(&data)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads the state of `catalog` from `dir`: `Ok(None)` when there is no
/// file (a catalog new to this node); an error names the file.
pub fn read(dir: &Path, catalog: &[u8]) -> Result<Option<State>, String> {
    let path = path(dir, catalog);
    let data = match crate::files::read(&path, crate::files::STATE_MAX) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let state = decode(&data, &path)?;
    if *state.catalog != *catalog {
        return Err(format!(
            "{}: holds the state of catalog {}, not {}",
            path.display(),
            name::to_text(&state.catalog),
            name::to_text(catalog)
        ));
    }
    Ok(Some(state))
}
