//! The journal: a zone's differences on disk, one entry per version. It is
//! both what makes accepting a one-record change cost one small fsynced
//! append instead of a snapshot of a million records, and the zone's IXFR
//! history (read by [`super::history`]).
//!
//! `<data-dir>/zones/<apex>.zone.bin.journal` holds a chain of entries,
//! each one's `to` the next one's `from`. Reading a snapshot
//! ([`super::persist::read_zone`]) replays the entries from the one whose
//! `from` is the snapshot's serial; the entries before it are history only.
//! Writing a snapshot no longer empties the journal: [`after_snapshot`]
//! keeps the chain if it ends at the snapshot's serial (and trims it), else
//! starts the history afresh. The journal is bounded by [`Bounds`]
//! (`ixfr-history-depth` entries, `ixfr-history-bytes` octets): past
//! either, the oldest entries are dropped, never one a replay needs. A file
//! zone has no snapshot: its journal is history only.
//!
//! # Format (version 2)
//!
//! All integers are big-endian.
//!
//! ```text
//! magic          4  "PHJ2"
//! entries, each:
//!   length       4  L, of the payload
//!   checksum     4  CRC-32 (IEEE) of the payload
//!   payload      L  from serial 4, to serial 4,
//!                   meta length 4 + meta (as in the snapshot),
//!                   the old apex SOA (record), the new apex SOA (record),
//!                   removed count 4 + records, added count 4 + records;
//!                   record: owner length 1 + owner, type 2, ttl 4,
//!                   rdata length 2 + rdata
//! ```
//!
//! Version 1 ("PHJ1": a base serial after the magic, no old SOA) is still
//! replayed, so an upgrade serves the version it served; its first append
//! starts a version-2 history. Any other magic is discarded.
//!
//! # Crash safety
//!
//! An entry is appended with one write and fsynced before the version is
//! served. A torn or corrupted last entry (a crash during the append) fails
//! its length or checksum: replay stops before it, and the next append cuts
//! it off. Dropping old entries, or starting a new history, writes a new
//! file beside the journal (temporary name, fsync) and renames it over the
//! journal, then fsyncs the directory: after `kill -9` at any moment the
//! journal is the old one or the new one, both of which replay to the
//! version served. Readers open the file once, so a rename never mixes two
//! files. Any bytes give a result, never a panic.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Zone;
use super::patch::{self, Change};
use super::persist::{self, ZoneMeta};

const MAGIC_V1: [u8; 4] = *b"PHJ1";
pub(super) const MAGIC: [u8; 4] = *b"PHJ2";
pub(super) const HEADER: u64 = 4;
/// Length and checksum before each payload.
pub(super) const FRAME: u64 = 8;
/// A history past this size is trimmed further than its bounds (to 7/8 of
/// them), so that appends to a large history rewrite it once per eighth of
/// the bound, not at every append. A smaller one is kept exactly at its
/// bounds (a rewrite of at most 1 MiB per append).
const SLACK_ABOVE: u64 = 1 << 20;

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

    /// The apex SOA record of `zone`.
    pub fn soa_of(zone: &Zone) -> Option<Record> {
        let set = zone.get(super::APEX, super::rtype::SOA)?;
        let rdata = zone.records(set).next()?.to_vec();
        Some(Record {
            owner: zone.apex().to_vec(),
            rtype: super::rtype::SOA,
            ttl: set.ttl,
            rdata,
        })
    }
}

/// The net change from one version to the next. `removed` and `added`
/// never hold the apex SOA: `from_soa` and `soa` are the SOA records of
/// the versions `from` and `to` (an IXFR out sends `from_soa, removed...,
/// soa, added...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub from: u32,
    pub to: u32,
    pub meta: ZoneMeta,
    pub from_soa: Record,
    pub soa: Record,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

/// How much history a zone keeps. `depth` 0: none (the journal holds only
/// what a replay needs, as a cache of the snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Entries kept at most (`ixfr-history-depth`).
    pub depth: u32,
    /// Bytes of journal kept at most (`ixfr-history-bytes`).
    pub bytes: u64,
}

impl Bounds {
    /// No history.
    pub const NONE: Bounds = Bounds { depth: 0, bytes: 0 };

    /// `ixfr-history-depth` entries and `ixfr-history-bytes` octets.
    pub const fn new(depth: u32, bytes: u64) -> Bounds {
        Bounds { depth, bytes }
    }

    fn enabled(&self) -> bool {
        self.depth > 0 && self.bytes > 0
    }
}

/// What [`append`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written and fsynced; a replay of the snapshot reaches the new
    /// version through the last `replay_entries` entries (`replay_bytes`).
    Yes {
        replay_entries: u32,
        replay_bytes: u64,
        snapshot_bytes: u64,
    },
    /// A replay of the snapshot would not reach the new version (no
    /// snapshot, or the journal does not lead from its serial): write a
    /// snapshot. The entry may be in the history already.
    NeedsSnapshot,
}

impl Appended {
    /// Whether to fold the journal into a new snapshot now: the part a
    /// replay needs grew past a quarter of the snapshot (and 1 MiB), or
    /// past three quarters of the history's bounds (so that trimming can
    /// keep the history within them).
    pub fn wants_snapshot(&self, bounds: Bounds) -> bool {
        match *self {
            Appended::Yes {
                replay_entries,
                replay_bytes,
                snapshot_bytes,
            } => {
                replay_bytes > (snapshot_bytes / 4).max(1 << 20)
                    || (bounds.enabled()
                        && (replay_entries as u64 * 4 >= bounds.depth as u64 * 3
                            || replay_bytes * 4 >= bounds.bytes.saturating_mul(3)))
            }
            Appended::NeedsSnapshot => true,
        }
    }
}

/// The journal next to a snapshot path.
pub fn path_for(snapshot: &Path) -> PathBuf {
    let mut p = snapshot.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// The journal of `apex` in `dir`.
pub fn path_in(dir: &Path, apex: &[u8]) -> PathBuf {
    path_for(&dir.join(persist::file_name(apex)))
}

/// An intact entry's place in a version-2 journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hdr {
    pub(super) from: u32,
    pub(super) to: u32,
    /// Offset of its frame.
    pub(super) off: u64,
    /// Frame and payload.
    pub(super) size: u64,
}

/// The intact chain of a version-2 journal.
#[derive(Clone, Debug, Default)]
pub(super) struct Index {
    pub(super) entries: Vec<Hdr>,
    /// Bytes up to the end of the last intact entry.
    pub(super) valid: u64,
    pub(super) problem: Option<String>,
}

impl Index {
    fn last(&self) -> Option<u32> {
        self.entries.last().map(|h| h.to)
    }

    /// Where a replay of a snapshot at `serial` starts: the last entry
    /// from that serial (the chain after it is whole by construction).
    fn replay_from(&self, serial: u32) -> Option<usize> {
        self.entries.iter().rposition(|h| h.from == serial)
    }
}

/// Indexes a version-2 journal: checksums every entry, decodes none. `None`
/// when the bytes are not a version-2 journal.
pub(super) fn index(data: &[u8]) -> Option<Index> {
    if data.get(..4) != Some(&MAGIC[..]) {
        return None;
    }
    let mut ix = Index {
        valid: HEADER,
        ..Index::default()
    };
    let mut pos = HEADER as usize;
    while pos < data.len() {
        let frame = data.get(pos..pos + FRAME as usize).and_then(|head| {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            Some((crc, data.get(pos + 8..(pos + 8).checked_add(len)?)?))
        });
        let Some((crc, payload)) = frame else {
            ix.problem = Some(format!("torn entry at offset {pos}"));
            break;
        };
        if crc32fast::hash(payload) != crc {
            ix.problem = Some(format!("checksum mismatch in the entry at offset {pos}"));
            break;
        }
        let Some(hdr) = payload.get(..8).map(|p| Hdr {
            from: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
            to: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            off: pos as u64,
            size: FRAME + payload.len() as u64,
        }) else {
            ix.problem = Some(format!("malformed entry at offset {pos}"));
            break;
        };
        if ix.last().is_some_and(|last| last != hdr.from) {
            ix.problem = Some(format!("entry at offset {pos} does not follow the one before"));
            break;
        }
        pos += hdr.size as usize;
        ix.valid = pos as u64;
        ix.entries.push(hdr);
    }
    Some(ix)
}

/// Journals whose index we know, with the file length it is for. Saves
/// reading the journal again at every append (every writer of a zone's
/// journal holds that zone's disk lock; the cache itself is shared).
static TAILS: Mutex<Option<HashMap<PathBuf, (Index, u64)>>> = Mutex::new(None);

fn tails<R>(f: impl FnOnce(&mut HashMap<PathBuf, (Index, u64)>) -> R) -> R {
    let mut guard = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// The index of the journal at `path`: `Ok(None)` if there is none, or it
/// is not a version-2 journal.
fn load_index(path: &Path) -> io::Result<Option<(Index, u64)>> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(ix) = tails(|t| t.get(path).filter(|(_, l)| *l == len).map(|(ix, _)| ix.clone())) {
        return Ok(Some((ix, len)));
    }
    let data = match crate::files::read(path, crate::files::SNAPSHOT_MAX) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(index(&data).map(|ix| (ix, data.len() as u64)))
}

fn frame(entry: &Entry) -> io::Result<Vec<u8>> {
    let payload = encode(entry)?;
    let mut rec = Vec::with_capacity(payload.len() + 8);
    rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    rec.extend_from_slice(&payload);
    Ok(rec)
}

/// Appends `entry` (a new version of `apex`, whose files are in `dir`) to
/// its journal, fsynced, then drops the oldest entries past `bounds`. A
/// journal that does not lead to `entry.from` is replaced by a new history
/// that starts with `entry` when the snapshot is at `entry.from` (or, for
/// a zone with history, when there is no snapshot). Tells whether a replay
/// of the snapshot reaches the new version.
pub fn append(dir: &Path, apex: &[u8], entry: &Entry, bounds: Bounds) -> io::Result<Appended> {
    let snapshot = dir.join(persist::file_name(apex));
    let path = path_for(&snapshot);
    // `None`: no snapshot (a file zone); `Some(None)`: one whose serial
    // cannot be read.
    let (snap, snapshot_bytes) = match persist::snapshot_serial(&snapshot) {
        Ok(s) => (Some(s), fs::metadata(&snapshot).map_or(0, |m| m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, 0),
        Err(e) => return Err(e),
    };
    let snap_serial = snap.flatten();
    let loaded = load_index(&path)?;
    let rec = frame(entry)?;
    let mut ix = match loaded {
        Some((mut ix, len)) if ix.last() == Some(entry.from) => {
            let mut file = OpenOptions::new().write(true).open(&path)?;
            if ix.valid < len {
                // A torn entry from a crash: cut it off.
                file.set_len(ix.valid)?;
            }
            let end = file.seek(io::SeekFrom::Start(ix.valid))?;
            if let Err(e) = file.write_all(&rec).and_then(|()| file.sync_data()) {
                let _ = file.set_len(end);
                tails(|t| t.remove(&path));
                return Err(e);
            }
            ix.entries.push(Hdr {
                from: entry.from,
                to: entry.to,
                off: end,
                size: rec.len() as u64,
            });
            ix.valid = end + rec.len() as u64;
            ix
        }
        _ => {
            // A new history replaces the journal only where no replay needs
            // it: the snapshot is at `entry.from` (the version served: a
            // journal that does not end there is history only), or there
            // is no snapshot and the zone keeps history (a file zone). Else
            // (a version-1 journal the snapshot needs, damage) the caller
            // writes a snapshot first, and the history restarts after it.
            let covered = snap_serial == Some(entry.from);
            if !covered && (snap.is_some() || !bounds.enabled()) {
                return Ok(Appended::NeedsSnapshot);
            }
            // A new history, starting with this entry.
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&rec);
            replace(dir, &path, &bytes)?;
            Index {
                entries: vec![Hdr {
                    from: entry.from,
                    to: entry.to,
                    off: HEADER,
                    size: rec.len() as u64,
                }],
                valid: bytes.len() as u64,
                problem: None,
            }
        }
    };
    let start = snap_serial.and_then(|s| ix.replay_from(s));
    match trim(dir, &path, ix.clone(), bounds, start.unwrap_or(usize::MAX)) {
        Ok(trimmed) => ix = trimmed,
        // The entry is written: the history only stays longer for now.
        Err(e) => tracing::warn!(file = %path.display(), "IXFR history not trimmed: {e}"),
    }
    let valid = ix.valid;
    let outcome = match snap_serial.and_then(|s| ix.replay_from(s)) {
        Some(i) => Appended::Yes {
            replay_entries: (ix.entries.len() - i) as u32,
            replay_bytes: ix.entries[i..].iter().map(|h| h.size).sum(),
            snapshot_bytes,
        },
        None => Appended::NeedsSnapshot,
    };
    tails(|t| t.insert(path, (ix, valid)));
    Ok(outcome)
}

/// After a snapshot of version `serial` was written: a journal whose chain
/// ends there is kept (trimmed to `bounds`), any other is removed (the
/// history starts afresh), as is every journal of a zone without history.
pub fn after_snapshot(dir: &Path, apex: &[u8], serial: u32, bounds: Bounds) -> io::Result<()> {
    let snapshot = dir.join(persist::file_name(apex));
    let path = path_for(&snapshot);
    if !bounds.enabled() {
        return remove(&snapshot);
    }
    match load_index(&path)? {
        Some((ix, _)) if ix.last() == Some(serial) => {
            let ix = trim(dir, &path, ix, bounds, usize::MAX)?;
            let valid = ix.valid;
            tails(|t| t.insert(path, (ix, valid)));
            Ok(())
        }
        _ => remove(&snapshot),
    }
}

/// Keeps the history of a zone whose served version is `serial` if its
/// chain ends there (trimmed to `bounds`), else removes it. For a file
/// zone at start-up.
pub fn keep_if_at(dir: &Path, apex: &[u8], serial: u32, bounds: Bounds) -> io::Result<bool> {
    after_snapshot(dir, apex, serial, bounds)?;
    Ok(path_in(dir, apex).exists())
}

/// Drops the oldest entries past `bounds`, never entry `keep` or a later
/// one (a replay needs them): rewrites the journal (temporary file, fsync,
/// rename, fsync of the directory) when an entry goes.
fn trim(dir: &Path, path: &Path, ix: Index, bounds: Bounds, keep: usize) -> io::Result<Index> {
    let n = ix.entries.len();
    let total: u64 = HEADER + ix.entries.iter().map(|h| h.size).sum::<u64>();
    // The first entry kept when the rest must be within (depth, limit),
    // dropping from `k` on (`bytes`: what is left from `k`).
    let first_kept = |mut k: usize, mut bytes: u64, depth: u32, limit: u64| {
        while k < n && ((n - k) as u64 > depth as u64 || bytes > limit) {
            bytes -= ix.entries[k].size;
            k += 1;
        }
        (k, bytes)
    };
    let (mut k, bytes) = first_kept(0, total, bounds.depth, bounds.bytes);
    if k > 0 && total > SLACK_ABOVE {
        // A large history: down to 7/8 of both bounds, so that the next
        // rewrite comes only after an eighth of them.
        k = first_kept(
            k,
            bytes,
            bounds.depth - bounds.depth / 8,
            bounds.bytes - bounds.bytes / 8,
        )
        .0;
    }
    let k = k.min(keep);
    if k == 0 {
        return Ok(ix);
    }
    let Some(first) = ix.entries.get(k).map(|h| h.off).or((k == n).then_some(ix.valid)) else {
        return Ok(ix);
    };
    let mut src = File::open(path)?;
    src.seek(io::SeekFrom::Start(first))?;
    let mut bytes = MAGIC.to_vec();
    src.take(ix.valid - first).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != HEADER + ix.valid - first {
        return Err(io::Error::other(format!(
            "{}: shorter than its index while trimming",
            path.display()
        )));
    }
    replace(dir, path, &bytes)?;
    let shift = first - HEADER;
    let entries = ix.entries[k..]
        .iter()
        .map(|h| Hdr {
            off: h.off - shift,
            ..*h
        })
        .collect();
    Ok(Index {
        entries,
        valid: ix.valid - shift,
        problem: None,
    })
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync,
/// rename, fsync of `dir`.
fn replace(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut file) = persist::create_temp(dir, &name)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| persist::sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        tails(|t| t.remove(path));
    }
    result
}

/// Removes the journal of a snapshot (the zone's history with it).
pub fn remove(snapshot: &Path) -> io::Result<()> {
    let path = path_for(snapshot);
    tails(|t| t.remove(&path));
    for p in [path.clone(), digest_path(&path)] {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Beside a file zone's journal: a digest of the contents its last entry
/// leads to ([`super::history`] writes and checks it).
pub fn digest_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".digest");
    PathBuf::from(p)
}

/// Writes `bytes` to `path` atomically (as a trim does).
pub(super) fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(dir, path, bytes)
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
    let ix = index(&data);
    if let Some(ix) = &ix {
        // Known from now on: no second read at the next append, and
        // counted in [`history_bytes`].
        tails(|t| t.insert(path.clone(), (ix.clone(), data.len() as u64)));
    }
    replay_indexed(&data, ix, &path, zone, meta)
}

/// Bytes of the version-2 journals this process has read or written and
/// not removed since it started: the IXFR history on disk, all zones.
pub fn history_bytes() -> u64 {
    tails(|t| t.values().map(|(_, len)| *len).sum())
}

/// [`replay`] on journal bytes already read from `path` (named in the
/// problems reported). Bytes that are not a journal end the replay.
pub fn replay_bytes(data: &[u8], path: &Path, zone: Zone, meta: ZoneMeta) -> (Zone, ZoneMeta, usize, Option<String>) {
    replay_indexed(data, index(data), path, zone, meta)
}

fn replay_indexed(
    data: &[u8],
    ix: Option<Index>,
    path: &Path,
    zone: Zone,
    meta: ZoneMeta,
) -> (Zone, ZoneMeta, usize, Option<String>) {
    let (entries, problem) = match ix {
        Some(ix) => {
            let start = ix.replay_from(zone.info.serial).unwrap_or(ix.entries.len());
            let mut entries = Vec::new();
            let mut problem = ix.problem.clone();
            for h in &ix.entries[start..] {
                let payload = &data[(h.off + FRAME) as usize..(h.off + h.size) as usize];
                match decode(payload, false) {
                    Some(e) => entries.push(e),
                    None => {
                        problem = Some(format!("malformed entry at offset {}", h.off));
                        break;
                    }
                }
            }
            (entries, problem)
        }
        None => scan_v1(data, zone.info.serial),
    };
    let mut problem = problem.map(|p| format!("{}: {p}", path.display()));
    let (mut zone, mut meta, mut applied) = (zone, meta, 0);
    for entry in entries {
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

/// The entries of a version-1 journal whose base is `serial` (those of any
/// other base belong to an older snapshot: none).
fn scan_v1(data: &[u8], serial: u32) -> (Vec<Entry>, Option<String>) {
    if data.len() < 8 || data[..4] != MAGIC_V1 {
        return (Vec::new(), Some("not a pharos journal (bad magic)".into()));
    }
    let base = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    if base != serial {
        return (Vec::new(), None);
    }
    let (mut entries, mut last, mut pos) = (Vec::new(), base, 8usize);
    while pos < data.len() {
        let frame = data.get(pos..pos + 8).and_then(|head| {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            Some((crc, data.get(pos + 8..(pos + 8).checked_add(len)?)?))
        });
        let Some((crc, payload)) = frame else {
            return (entries, Some(format!("torn entry at offset {pos}")));
        };
        let entry = (crc32fast::hash(payload) == crc)
            .then(|| decode(payload, true))
            .flatten();
        let Some(entry) = entry.filter(|e| e.from == last) else {
            return (entries, Some(format!("bad entry at offset {pos}")));
        };
        last = entry.to;
        pos += 8 + payload.len();
        entries.push(entry);
    }
    (entries, None)
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

/// Bytes a record takes in an entry.
pub fn record_size(r: &Record) -> u64 {
    9 + r.owner.len() as u64 + r.rdata.len() as u64
}

fn encode(e: &Entry) -> io::Result<Vec<u8>> {
    let size: u64 = e.removed.iter().chain(&e.added).map(record_size).sum();
    let mut out = Vec::with_capacity(256 + size as usize);
    out.extend_from_slice(&e.from.to_be_bytes());
    out.extend_from_slice(&e.to.to_be_bytes());
    let meta = persist::encode_meta(&e.meta)?;
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    put_record(&mut out, &e.from_soa)?;
    put_record(&mut out, &e.soa)?;
    for list in [&e.removed, &e.added] {
        out.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for r in list {
            put_record(&mut out, r)?;
        }
    }
    if out.len() > u32::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "journal entry larger than 4 GiB",
        ));
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

/// Decodes a payload; `v1`: the version-1 layout, without the old SOA
/// (replay only: its `from_soa` is the new SOA, never sent).
pub(super) fn decode(payload: &[u8], v1: bool) -> Option<Entry> {
    let mut r = Reader { data: payload, pos: 0 };
    let from = r.u32()?;
    let to = r.u32()?;
    let meta_len = r.u32()? as usize;
    let meta = persist::decode_meta_bytes(r.take(meta_len)?)?;
    let from_soa = if v1 { None } else { Some(r.record()?) };
    let soa = r.record()?;
    let removed = r.records()?;
    let added = r.records()?;
    (r.pos == payload.len()).then(|| Entry {
        from,
        to,
        meta,
        from_soa: from_soa.unwrap_or_else(|| soa.clone()),
        soa,
        removed,
        added,
    })
}

#[cfg(test)]
mod tests;
