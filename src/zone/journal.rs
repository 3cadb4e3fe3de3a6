//! The journal: IXFR differences appended to disk next to a zone's snapshot,
//! so that accepting a one-record change costs one small fsynced append
//! instead of rewriting a snapshot of a million records.
//!
//! `<data-dir>/<apex>.zone.bin.journal` holds the differences that lead from
//! the snapshot's serial to the version served. Reading a snapshot
//! ([`super::persist::read_zone`]) replays its journal; writing a snapshot
//! removes the journal, whose differences it now contains. The caller
//! writes a new snapshot when [`append`] says so (no journal for the
//! snapshot's serial) or when the journal has grown large.
//!
//! # Format
//!
//! All integers are big-endian.
//!
//! ```text
//! magic          4  "PHJ1"
//! base serial    4  serial of the snapshot the first entry applies to
//! entries, each:
//!   length       4  L, of the payload
//!   checksum     4  CRC-32 (IEEE) of the payload
//!   payload      L  from serial 4, to serial 4,
//!                   meta length 4 + meta (as in the snapshot),
//!                   the new apex SOA (record),
//!                   removed count 4 + records, added count 4 + records;
//!                   record: owner length 1 + owner, type 2, ttl 4,
//!                   rdata length 2 + rdata
//! ```
//!
//! An entry is appended with one write and fsynced before the version is
//! served. A torn or corrupted last entry (a crash during the append) fails
//! its length or checksum: replay stops before it, and the next append cuts
//! it off. Any bytes give a result, never a panic.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Zone;
use super::patch::{self, Change};
use super::persist::{self, ZoneMeta};

const MAGIC: [u8; 4] = *b"PHJ1";
const HEADER: usize = 8;

/// One record of a journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

impl Record {
    fn change(&self) -> Change<'_> {
        Change {
            owner: &self.owner,
            rtype: self.rtype,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }
}

/// The net change from one version to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub from: u32,
    pub to: u32,
    pub meta: ZoneMeta,
    pub soa: Record,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

/// What [`append`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written and fsynced: the journal and the snapshot now hold `bytes`.
    Yes { journal_bytes: u64, snapshot_bytes: u64 },
    /// The journal does not lead to `entry.from` (no snapshot at that
    /// serial): write a snapshot instead.
    NeedsSnapshot,
}

/// The journal next to a snapshot path.
pub fn path_for(snapshot: &Path) -> PathBuf {
    let mut p = snapshot.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// Journals whose end we know: path -> (last serial, length). Saves reading
/// the journal again at every append.
static TAILS: Mutex<Option<HashMap<PathBuf, (u32, u64)>>> = Mutex::new(None);

fn tails<R>(f: impl FnOnce(&mut HashMap<PathBuf, (u32, u64)>) -> R) -> R {
    let mut guard = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// Appends `entry` to the journal of `apex` in `dir`, fsynced.
pub fn append(dir: &Path, apex: &[u8], entry: &Entry) -> io::Result<Appended> {
    let snapshot = dir.join(persist::file_name(apex));
    let path = path_for(&snapshot);
    let snapshot_bytes = match fs::metadata(&snapshot) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Appended::NeedsSnapshot),
        Err(e) => return Err(e),
    };
    let len = match fs::metadata(&path) {
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut file = match len {
        None => {
            if persist::snapshot_serial(&snapshot)? != Some(entry.from) {
                return Ok(Appended::NeedsSnapshot);
            }
            let mut f = OpenOptions::new().write(true).create_new(true).open(&path)?;
            let mut head = MAGIC.to_vec();
            head.extend_from_slice(&entry.from.to_be_bytes());
            f.write_all(&head)?;
            f.sync_all()?;
            File::open(dir)?.sync_all()?;
            tails(|t| t.insert(path.clone(), (entry.from, HEADER as u64)));
            f
        }
        Some(len) => {
            let known = tails(|t| t.get(&path).copied()).filter(|&(_, l)| l == len);
            let (last, valid) = match known {
                Some(tail) => tail,
                None => {
                    let data = crate::files::read(&path, crate::files::SNAPSHOT_MAX)?;
                    let scan = scan(&data);
                    match scan.base {
                        Some(_) => (scan.last, scan.valid as u64),
                        None => return Ok(Appended::NeedsSnapshot),
                    }
                }
            };
            if last != entry.from {
                return Ok(Appended::NeedsSnapshot);
            }
            let f = OpenOptions::new().write(true).open(&path)?;
            if valid < len {
                // A torn entry from a crash: cut it off.
                f.set_len(valid)?;
            }
            f
        }
    };
    let payload = encode(entry)?;
    let mut rec = Vec::with_capacity(payload.len() + 8);
    rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    rec.extend_from_slice(&payload);
    use std::io::Seek;
    let end = file.seek(io::SeekFrom::End(0))?;
    if let Err(e) = file.write_all(&rec).and_then(|()| file.sync_data()) {
        let _ = file.set_len(end);
        tails(|t| t.remove(&path));
        return Err(e);
    }
    let journal_bytes = end + rec.len() as u64;
    tails(|t| t.insert(path, (entry.to, journal_bytes)));
    Ok(Appended::Yes {
        journal_bytes,
        snapshot_bytes,
    })
}

/// Removes the journal of a snapshot (after a new snapshot was written).
pub fn remove(snapshot: &Path) -> io::Result<()> {
    let path = path_for(snapshot);
    tails(|t| t.remove(&path));
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replays the journal of `snapshot` onto `zone` (read from it). Returns the
/// version reached, its meta, and how many entries were applied; an entry
/// that does not apply ends the replay, and is reported.
pub fn replay(snapshot: &Path, zone: Zone, meta: ZoneMeta) -> (Zone, ZoneMeta, usize, Option<String>) {
    let path = path_for(snapshot);
    let data = match crate::files::read(&path, crate::files::SNAPSHOT_MAX) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (zone, meta, 0, None),
        Err(e) => return (zone, meta, 0, Some(format!("{}: {e}", path.display()))),
    };
    replay_bytes(&data, &path, zone, meta)
}

/// [`replay`] on journal bytes already read from `path` (named in the
/// problems reported). Bytes that are not a journal end the replay.
pub fn replay_bytes(data: &[u8], path: &Path, zone: Zone, meta: ZoneMeta) -> (Zone, ZoneMeta, usize, Option<String>) {
    let scan = scan(data);
    let mut problem = scan.problem.map(|p| format!("{}: {p}", path.display()));
    if scan.base != Some(zone.info.serial) {
        // Left over from an older snapshot; the next append replaces it.
        return (zone, meta, 0, problem);
    }
    let (mut zone, mut meta, mut applied) = (zone, meta, 0);
    for entry in scan.entries {
        if entry.from != zone.info.serial {
            problem = Some(format!(
                "{}: entry from serial {} does not follow serial {}",
                path.display(),
                entry.from,
                zone.info.serial
            ));
            break;
        }
        let removed: Vec<Change<'_>> = entry.removed.iter().map(Record::change).collect();
        let added: Vec<Change<'_>> = entry.added.iter().map(Record::change).collect();
        match patch::apply_or_rebuild(&zone, &removed, &added, entry.soa.change()) {
            Ok(z) => {
                zone = z;
                meta = entry.meta;
                applied += 1;
            }
            Err(e) => {
                problem = Some(format!("{}: entry {} -> {}: {e}", path.display(), entry.from, entry.to));
                break;
            }
        }
    }
    (zone, meta, applied, problem)
}

/// What a journal holds, as far as it is intact.
struct Scan {
    base: Option<u32>,
    entries: Vec<Entry>,
    /// Serial after the last intact entry.
    last: u32,
    /// Bytes up to the end of the last intact entry.
    valid: usize,
    problem: Option<String>,
}

fn scan(data: &[u8]) -> Scan {
    let mut s = Scan {
        base: None,
        entries: Vec::new(),
        last: 0,
        valid: 0,
        problem: None,
    };
    if data.len() < HEADER || data[..4] != MAGIC {
        s.problem = Some("not a pharos journal (bad magic)".into());
        return s;
    }
    let base = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    s.base = Some(base);
    s.last = base;
    s.valid = HEADER;
    let mut pos = HEADER;
    while pos < data.len() {
        let Some(head) = data.get(pos..pos + 8) else {
            s.problem = Some(format!("torn entry at offset {pos}"));
            break;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let Some(payload) = data.get(pos + 8..(pos + 8).saturating_add(len)) else {
            s.problem = Some(format!("torn entry at offset {pos}"));
            break;
        };
        if crc32fast::hash(payload) != crc {
            s.problem = Some(format!("checksum mismatch in the entry at offset {pos}"));
            break;
        }
        let Some(entry) = decode(payload) else {
            s.problem = Some(format!("malformed entry at offset {pos}"));
            break;
        };
        if entry.from != s.last {
            s.problem = Some(format!("entry at offset {pos} does not follow serial {}", s.last));
            break;
        }
        s.last = entry.to;
        pos += 8 + len;
        s.valid = pos;
        s.entries.push(entry);
    }
    s
}

fn put_record(out: &mut Vec<u8>, r: &Record) -> io::Result<()> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("journal record: {what}"));
    out.push(u8::try_from(r.owner.len()).map_err(|_| bad("owner too long"))?);
    out.extend_from_slice(&r.owner);
    out.extend_from_slice(&r.rtype.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    let rdlen = u16::try_from(r.rdata.len()).map_err(|_| bad("rdata too long"))?;
    out.extend_from_slice(&rdlen.to_be_bytes());
    out.extend_from_slice(&r.rdata);
    Ok(())
}

fn encode(e: &Entry) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&e.from.to_be_bytes());
    out.extend_from_slice(&e.to.to_be_bytes());
    let meta = persist::encode_meta(&e.meta)?;
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    put_record(&mut out, &e.soa)?;
    for list in [&e.removed, &e.added] {
        out.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for r in list {
            put_record(&mut out, r)?;
        }
    }
    Ok(out)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn record(&mut self) -> Option<Record> {
        let n = self.u8()? as usize;
        let owner = self.take(n)?.to_vec();
        let rtype = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = self.u16()? as usize;
        let rdata = self.take(rdlen)?.to_vec();
        Some(Record {
            owner,
            rtype,
            ttl,
            rdata,
        })
    }
    fn records(&mut self) -> Option<Vec<Record>> {
        let count = self.u32()? as usize;
        // Each record takes at least 9 bytes: no huge allocation from a lie.
        let mut v = Vec::with_capacity(count.min((self.data.len() - self.pos) / 9));
        for _ in 0..count {
            v.push(self.record()?);
        }
        Some(v)
    }
}

fn decode(payload: &[u8]) -> Option<Entry> {
    let mut r = Reader { data: payload, pos: 0 };
    let from = r.u32()?;
    let to = r.u32()?;
    let meta_len = r.u32()? as usize;
    let meta = persist::decode_meta_bytes(r.take(meta_len)?)?;
    let soa = r.record()?;
    let removed = r.records()?;
    let added = r.records()?;
    (r.pos == payload.len()).then_some(Entry {
        from,
        to,
        meta,
        soa,
        removed,
        added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::name::from_text;

    const BASE: &str = "$ORIGIN j.test.\n@ 300 SOA ns1 host 1 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n";

    fn soa(serial: u32) -> Record {
        let mut rd = from_text("ns1.j.test").unwrap();
        rd.extend(from_text("host.j.test").unwrap());
        for v in [serial, 3600, 600, 86400, 300] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        Record {
            owner: from_text("j.test").unwrap(),
            rtype: 6,
            ttl: 300,
            rdata: rd,
        }
    }

    fn entry(from: u32, host: &str) -> Entry {
        Entry {
            from,
            to: from + 1,
            meta: ZoneMeta {
                primary: Some("192.0.2.53:53".into()),
                source: "ixfr".into(),
                ..ZoneMeta::default()
            },
            soa: soa(from + 1),
            removed: Vec::new(),
            added: vec![Record {
                owner: from_text(&format!("{host}.j.test")).unwrap(),
                rtype: 1,
                ttl: 60,
                rdata: vec![192, 0, 2, 7],
            }],
        }
    }

    #[test]
    fn append_replay_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let zone = load_zone_text("j.test", BASE).unwrap().zone;
        let apex = zone.apex().to_vec();
        // No snapshot yet: the caller must write one.
        assert_eq!(
            append(dir.path(), &apex, &entry(1, "a")).unwrap(),
            Appended::NeedsSnapshot
        );
        let snap = persist::write_zone(dir.path(), &zone, &ZoneMeta::default()).unwrap();
        assert!(matches!(
            append(dir.path(), &apex, &entry(1, "a")).unwrap(),
            Appended::Yes { .. }
        ));
        assert!(matches!(
            append(dir.path(), &apex, &entry(2, "b")).unwrap(),
            Appended::Yes { .. }
        ));
        // Out of sequence: refused.
        assert_eq!(
            append(dir.path(), &apex, &entry(7, "c")).unwrap(),
            Appended::NeedsSnapshot
        );
        let (z, meta) = persist::read_zone(&snap).unwrap();
        assert_eq!(z.info.serial, 3);
        assert_eq!(meta.source, "ixfr");
        assert!(z.find(&from_text("b.j.test").unwrap()).is_some());

        // A torn last entry: replay stops before it; the next append cuts it.
        let jp = path_for(&snap);
        let mut data = fs::read(&jp).unwrap();
        let full = data.len();
        data.extend_from_slice(&[0, 0, 0, 50, 1, 2]);
        fs::write(&jp, &data).unwrap();
        let (z, _) = persist::read_zone(&snap).unwrap();
        assert_eq!(z.info.serial, 3);
        assert!(matches!(
            append(dir.path(), &apex, &entry(3, "c")).unwrap(),
            Appended::Yes { .. }
        ));
        assert!(fs::metadata(&jp).unwrap().len() > full as u64);
        let (z, _) = persist::read_zone(&snap).unwrap();
        assert_eq!(z.info.serial, 4);

        // A new snapshot removes the journal.
        persist::write_zone(dir.path(), &z, &ZoneMeta::default()).unwrap();
        assert!(!jp.exists());
        let (z2, _) = persist::read_zone(&snap).unwrap();
        assert_eq!(z2.info.serial, 4);
    }

    #[test]
    fn garbage_never_panics() {
        for data in [
            &b""[..],
            b"PHJ1",
            b"PHJ1\0\0\0\x01\0\0\0\x05xxxxxxxxx",
            b"PHJ1\0\0\0\x01\xff\xff\xff\xff\0\0\0\0",
        ] {
            let s = scan(data);
            assert!(s.entries.is_empty());
        }
    }
}
