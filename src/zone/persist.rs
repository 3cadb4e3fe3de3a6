//! Zone snapshots on disk, so a restart serves every zone before any primary
//! is asked (design invariant 3: after `kill -9` at any moment, a restart
//! serves every zone it had, at the last version fully written).
//!
//! Each zone lives in one file, `<data-dir>/<apex>.zone.bin` (see
//! [`file_name`]), holding the records of one version *and* the timers a
//! secondary needs across restarts ([`ZoneMeta`]), so both are replaced
//! together. A file is written to a temporary name in the same directory,
//! fsynced, renamed over the old one and the directory fsynced: a reader sees
//! either the old version or the new one, never a mix. Temporary files left
//! by a crash end in `.tmp`; [`list`] skips them and [`clean_temp`] removes
//! them.
//!
//! # Format (version 1)
//!
//! All integers are big-endian.
//!
//! ```text
//! magic          4  "PHZ1"
//! version        2  1
//! meta length    4  M
//! meta           M  last_refresh_unix u64, last_success_unix u64,
//!                   expire flag u8 (0/1) + expire_at_unix u64,
//!                   primary flag u8 (0/1) + length u16 + UTF-8,
//!                   source length u16 + UTF-8;
//!                   a reader ignores meta bytes past the fields it knows
//!                   (room for later fields without a new version)
//! apex           1 + A  length, lowercase uncompressed wire name
//! serial         4  SOA serial of this version
//! record count   8  N
//! N records, in the zone's canonical order:
//!   suffix       1  bytes reused from the end of the previous owner
//!                   (the apex, for the first record)
//!   prefix len   1  P
//!   prefix       P  bytes that precede them: owner = prefix + reused tail
//!   type         2
//!   ttl          4
//!   rdata len    2  L
//!   rdata        L  uncompressed wire rdata
//! end marker     4  "PHZ."
//! checksum       4  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Records of one owner cost 10 bytes plus their rdata; a new owner adds only
//! the labels it does not share with the previous one. A torn or corrupted
//! file fails the end marker or the checksum and is rejected with its offset;
//! a file that passes them is still fed through [`ZoneBuilder`] and validated
//! like a zone file or a transfer. Any bytes give `Ok` or `Err`, never a panic.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::build::{SourcePos, ZoneBuilder, ZoneIssue};
use super::name::{self, MAX_NAME_LEN};
use super::{APEX, Zone};

/// First four bytes of every snapshot.
pub const MAGIC: [u8; 4] = *b"PHZ1";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Marks the end of the records, before the checksum.
pub const END_MARKER: [u8; 4] = *b"PHZ.";
/// Ending of a snapshot's file name.
pub const SUFFIX: &str = ".zone.bin";
/// Ending of a temporary file (a write in progress, or left by a crash).
pub const TMP_SUFFIX: &str = ".tmp";

/// Magic, version, meta length.
const FIXED_HEADER: usize = 4 + 2 + 4;
/// End marker and checksum.
const TRAILER: usize = 8;
/// Writes go to the file in chunks of this size.
const CHUNK: usize = 256 * 1024;
/// Longest file name written; longer apexes get a shortened, hashed name.
const MAX_FILE_NAME: usize = 200;

/// Timers and origin of a persisted zone version: what a secondary needs to
/// resume its SOA timers after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneMeta {
    /// The primary this version came from (`None`: a file, or unknown).
    pub primary: Option<String>,
    /// Last time the primary was asked (unix seconds).
    pub last_refresh_unix: u64,
    /// Last time a refresh succeeded: the zone was found current or updated.
    pub last_success_unix: u64,
    /// When the zone expires unless refreshed (unix seconds).
    pub expire_at_unix: Option<u64>,
    /// How this version was obtained: "axfr", "ixfr", "file", ...
    pub source: String,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The bytes are not a complete, intact snapshot this build can read.
    #[error("{}: at byte {offset}: {reason}", path.display())]
    Format { path: PathBuf, offset: u64, reason: String },
    /// The records do not make a valid zone.
    #[error("{}: the snapshot is not a valid zone: {}", path.display(), Issues(issues))]
    Zone { path: PathBuf, issues: Vec<ZoneIssue> },
}

impl PersistError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PersistError::Io { path, .. } | PersistError::Format { path, .. } | PersistError::Zone { path, .. } => path,
        }
    }
}

struct Issues<'a>(&'a [ZoneIssue]);

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// The file name (no directory) of the snapshot of `apex` (wire format):
/// the lowercase presentation name without the trailing dot, `root` for the
/// root zone. Bytes other than letters, digits, `-` and `_` inside a label
/// are written `%xx`, so the name never holds `/`, a dot inside a label, a
/// control character or a leading dot. Very long names are shortened and
/// completed with a hash of the apex.
pub fn file_name(apex: &[u8]) -> String {
    let mut out = String::with_capacity(apex.len() + SUFFIX.len() + 4);
    let mut pos = 0usize;
    while let Some(&len) = apex.get(pos) {
        if len == 0 {
            break;
        }
        let end = (pos + 1 + len as usize).min(apex.len());
        if !out.is_empty() {
            out.push('.');
        }
        for &b in &apex[pos + 1..end] {
            let b = b.to_ascii_lowercase();
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        pos = end;
    }
    if out.is_empty() {
        out.push_str("root");
    } else if out == "root" {
        // The zone `root.` must not share the root zone's file.
        out = "%72oot".to_string();
    }
    if out.len() > MAX_FILE_NAME {
        let mut lower = apex.to_vec();
        name::lowercase_in_place(&mut lower);
        let mut cut = MAX_FILE_NAME - 17;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("~{:016x}", fnv1a(&lower)));
    }
    out.push_str(SUFFIX);
    out
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where to put bytes while encoding.
trait Sink {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Buffers writes to a file and checksums them a chunk at a time.
struct ChunkWriter {
    file: File,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl ChunkWriter {
    fn flush_buf(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered and the checksum; returns the file.
    fn finish(mut self) -> io::Result<File> {
        self.flush_buf()?;
        let crc = self.crc.clone().finalize();
        self.file.write_all(&crc.to_be_bytes())?;
        Ok(self.file)
    }
}

impl Sink for ChunkWriter {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn put_str(out: &mut impl Sink, s: &str, what: &str) -> io::Result<()> {
    let len = u16::try_from(s.len()).map_err(|_| invalid(format!("{what} longer than 65535 bytes")))?;
    out.put(&len.to_be_bytes())?;
    out.put(s.as_bytes())
}

pub(super) fn encode_meta(meta: &ZoneMeta) -> io::Result<Vec<u8>> {
    let mut m = Vec::with_capacity(64);
    m.put(&meta.last_refresh_unix.to_be_bytes())?;
    m.put(&meta.last_success_unix.to_be_bytes())?;
    m.push(meta.expire_at_unix.is_some() as u8);
    m.put(&meta.expire_at_unix.unwrap_or(0).to_be_bytes())?;
    m.push(meta.primary.is_some() as u8);
    put_str(&mut m, meta.primary.as_deref().unwrap_or(""), "primary")?;
    put_str(&mut m, &meta.source, "source")?;
    Ok(m)
}

/// Writes everything but the checksum.
fn encode_body(zone: &Zone, meta: &ZoneMeta, out: &mut impl Sink) -> io::Result<()> {
    let m = encode_meta(meta)?;
    out.put(&MAGIC)?;
    out.put(&FORMAT_VERSION.to_be_bytes())?;
    out.put(&(m.len() as u32).to_be_bytes())?;
    out.put(&m)?;
    let apex = zone.apex();
    out.put(&[apex.len() as u8])?;
    out.put(apex)?;
    out.put(&zone.info.serial.to_be_bytes())?;
    let ids = zone.canonical_ids();
    let count: u64 = ids
        .iter()
        .flat_map(|&id| zone.rrsets(id))
        .map(|set| zone.records(set).count() as u64)
        .sum();
    out.put(&count.to_be_bytes())?;
    let mut prev: &[u8] = apex;
    let mut rec = Vec::with_capacity(16 + MAX_NAME_LEN);
    for &id in &ids {
        let owner = zone.name(id);
        let mut first = true;
        for set in zone.rrsets(id) {
            for rd in zone.records(set) {
                rec.clear();
                if first {
                    // Longest common tail, byte-wise: prefix + tail is the owner.
                    let shared = owner
                        .iter()
                        .rev()
                        .zip(prev.iter().rev())
                        .take_while(|(a, b)| a == b)
                        .count()
                        .min(255);
                    let prefix = &owner[..owner.len() - shared];
                    rec.push(shared as u8);
                    rec.push(prefix.len() as u8);
                    rec.extend_from_slice(prefix);
                    first = false;
                } else {
                    rec.push(owner.len() as u8);
                    rec.push(0);
                }
                rec.extend_from_slice(&set.rtype.to_be_bytes());
                rec.extend_from_slice(&set.ttl.to_be_bytes());
                rec.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                out.put(&rec)?;
                out.put(rd)?;
            }
        }
        if !first {
            prev = owner;
        }
    }
    out.put(&END_MARKER)
}

/// The complete snapshot of `zone` and `meta`, as [`write_zone`] writes it.
pub fn encode(zone: &Zone, meta: &ZoneMeta) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(zone.heap_size() / 2 + 64);
    encode_body(zone, meta, &mut out)?;
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `zone` and `meta` atomically to `<dir>/<file_name(apex)>`: a
/// temporary file in `dir`, fsync, rename over the old snapshot, fsync of
/// `dir`. Returns the snapshot's path. On error the old snapshot, if any, is
/// untouched and the temporary file removed.
pub fn write_zone(dir: &Path, zone: &Zone, meta: &ZoneMeta) -> io::Result<PathBuf> {
    let unsynced = write_unsynced(dir, zone, meta)?;
    let result = (|| {
        unsynced.file.sync_all()?;
        fs::rename(&unsynced.tmp, &unsynced.path)?;
        // The journal stays: it is the zone's IXFR history too. Its caller
        // trims it ([`super::journal::after_snapshot`]); replay starts at
        // the entry from this snapshot's serial.
        sync_dir(dir)
    })();
    match result {
        Ok(()) => Ok(unsynced.path),
        Err(e) => {
            let _ = fs::remove_file(&unsynced.tmp);
            Err(e)
        }
    }
}

/// A snapshot written to its temporary file, neither synced nor renamed
/// yet: the first half of [`write_zone`], for callers that sync many files
/// at once (`axfr`'s group commit). Until the file is synced and renamed
/// over `path`, and `path`'s directory synced, the version is not on disk.
pub struct Unsynced {
    pub tmp: PathBuf,
    pub path: PathBuf,
    pub file: File,
}

/// Encodes `zone` and `meta` into a new temporary file in `dir` (no
/// fsync). On error the temporary file is removed.
pub fn write_unsynced(dir: &Path, zone: &Zone, meta: &ZoneMeta) -> io::Result<Unsynced> {
    let name = file_name(zone.apex());
    let path = dir.join(&name);
    let (tmp, file) = create_temp(dir, &name)?;
    let mut w = ChunkWriter {
        file,
        buf: Vec::with_capacity(CHUNK + 1024),
        crc: crc32fast::Hasher::new(),
    };
    match encode_body(zone, meta, &mut w).and_then(|()| w.finish()) {
        Ok(file) => Ok(Unsynced { tmp, path, file }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates a new temporary file `<name>.<pid>-<n>.tmp` in `dir`. A name
/// taken by a crashed process that had the same pid is skipped, not reused.
pub(super) fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let mut tries = 0;
    loop {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{name}.{}-{n}{TMP_SUFFIX}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 1000 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads and validates the snapshot at `path`, then replays its journal
/// from the entry whose `from` is the snapshot's serial (the differences
/// accepted since the snapshot was written).
pub fn read_zone(path: &Path) -> Result<(Zone, ZoneMeta), PersistError> {
    // A snapshot past the cap, or not a regular file, is as good as corrupt.
    let data = crate::files::read(path, crate::files::SNAPSHOT_MAX).map_err(|source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (zone, meta) = decode(&data, path)?;
    drop(data);
    let (zone, meta, applied, problem) = super::journal::replay(path, zone, meta);
    if let Some(p) = problem {
        tracing::warn!(
            "journal: {p}; serving serial {} after {applied} differences",
            zone.info.serial
        );
    }
    Ok((zone, meta))
}

/// Where a decode failed: (offset, reason).
type Fail = (usize, String);

/// Reads fields from the snapshot, remembering the offset for messages.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Fail> {
        match self.data.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err((
                self.pos,
                format!(
                    "{what}: needs {n} bytes, {} left",
                    self.data.len().saturating_sub(self.pos)
                ),
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Fail> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Fail> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, Fail> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, Fail> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, Fail> {
        self.array(what).map(u64::from_be_bytes)
    }

    fn flag(&mut self, what: &str) -> Result<bool, Fail> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err((at, format!("{what}: flag is {other}, not 0 or 1"))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, Fail> {
        let len = self.u16(what)? as usize;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| (at, format!("{what} is not UTF-8")))
    }
}

/// True for a complete uncompressed wire name of at most 255 bytes.
fn valid_name(name: &[u8]) -> bool {
    if name.len() > MAX_NAME_LEN {
        return false;
    }
    let mut pos = 0usize;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            return pos + 1 == name.len();
        }
        if len > 63 {
            return false;
        }
        pos += 1 + len as usize;
    }
    false
}

/// Decodes meta bytes written by [`encode_meta`].
pub(super) fn decode_meta_bytes(data: &[u8]) -> Option<ZoneMeta> {
    decode_meta(&mut Cursor { data, pos: 0 }).ok()
}

/// The serial in a snapshot's header, read without loading the zone.
pub(super) fn snapshot_serial(path: &Path) -> io::Result<Option<u32>> {
    use std::io::Read;
    let mut head = vec![0u8; 2048];
    let (mut f, _) = crate::files::open_regular(path, crate::files::SNAPSHOT_MAX)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    head.truncate(n);
    let serial = (|| {
        if head.get(..4)? != MAGIC {
            return None;
        }
        let meta_len = u32::from_be_bytes(head.get(6..10)?.try_into().ok()?) as usize;
        let apex_at = 10 + meta_len;
        let apex_len = *head.get(apex_at)? as usize;
        let at = apex_at + 1 + apex_len;
        Some(u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?))
    })();
    Ok(serial)
}

/// The timers in a snapshot's header ([`ZoneMeta`]) and its serial, read
/// without loading the zone.
pub fn snapshot_meta(path: &Path) -> io::Result<Option<(ZoneMeta, u32)>> {
    use std::io::Read;
    let (f, _) = crate::files::open_regular(path, crate::files::SNAPSHOT_MAX)?;
    let mut head = Vec::with_capacity(2048);
    f.take(2048).read_to_end(&mut head)?;
    let meta = (|| {
        if head.get(..4)? != MAGIC {
            return None;
        }
        let meta_len = u32::from_be_bytes(head.get(6..10)?.try_into().ok()?) as usize;
        let meta = decode_meta_bytes(head.get(10..10 + meta_len)?)?;
        let apex_at = 10 + meta_len;
        let apex_len = *head.get(apex_at)? as usize;
        let at = apex_at + 1 + apex_len;
        Some((meta, u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?)))
    })();
    Ok(meta)
}

fn decode_meta(c: &mut Cursor<'_>) -> Result<ZoneMeta, Fail> {
    let last_refresh_unix = c.u64("meta: last refresh")?;
    let last_success_unix = c.u64("meta: last success")?;
    let has_expire = c.flag("meta: expire")?;
    let expire = c.u64("meta: expire")?;
    let has_primary = c.flag("meta: primary")?;
    let primary = c.string("meta: primary")?;
    let source = c.string("meta: source")?;
    Ok(ZoneMeta {
        primary: has_primary.then_some(primary),
        last_refresh_unix,
        last_success_unix,
        expire_at_unix: has_expire.then_some(expire),
        source,
    })
}

/// Decodes and validates a snapshot held in memory; `path` names it in errors.
pub fn decode(data: &[u8], path: &Path) -> Result<(Zone, ZoneMeta), PersistError> {
    let format_err = |(offset, reason): Fail| PersistError::Format {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let (builder, meta, serial, count) = decode_records(data).map_err(format_err)?;
    let built = builder.build().map_err(|issues| PersistError::Zone {
        path: path.to_path_buf(),
        issues,
    })?;
    let zone = built.zone;
    let zone_err = |message: String| PersistError::Zone {
        path: path.to_path_buf(),
        issues: vec![ZoneIssue {
            file: None,
            line: 0,
            message,
        }],
    };
    if zone.info.serial != serial {
        return Err(zone_err(format!(
            "the header says serial {serial} but the SOA has serial {}",
            zone.info.serial
        )));
    }
    if zone.info.records as u64 != count {
        return Err(zone_err(format!(
            "{count} records stored but the zone holds {} (duplicates)",
            zone.info.records
        )));
    }
    debug_assert_eq!(zone.name(APEX), zone.apex());
    Ok((zone, meta))
}

/// Checks the framing and checksum, then feeds the records to a builder.
fn decode_records(data: &[u8]) -> Result<(ZoneBuilder, ZoneMeta, u32, u64), Fail> {
    if data.len() < 4 || data[..4] != MAGIC {
        let reason = if data.starts_with(b"PHZ") {
            "unknown snapshot format (magic is not PHZ1)"
        } else {
            "not a pharos zone snapshot (bad magic)"
        };
        return Err((0, reason.into()));
    }
    let mut c = Cursor { data, pos: 4 };
    let version = c.u16("format version")?;
    if version != FORMAT_VERSION {
        return Err((
            4,
            format!("unsupported format version {version} (this build reads {FORMAT_VERSION})"),
        ));
    }
    if data.len() < FIXED_HEADER + TRAILER {
        return Err((data.len(), "truncated: shorter than the smallest snapshot".into()));
    }
    let body_end = data.len() - TRAILER;
    if data[body_end..body_end + 4] != END_MARKER {
        return Err((
            body_end,
            "no end marker: the file is truncated or was not completely written".into(),
        ));
    }
    let crc_at = data.len() - 4;
    let stored = u32::from_be_bytes([data[crc_at], data[crc_at + 1], data[crc_at + 2], data[crc_at + 3]]);
    let computed = crc32fast::hash(&data[..crc_at]);
    if stored != computed {
        return Err((
            crc_at,
            format!("checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted"),
        ));
    }

    // From here on the bytes are what a writer wrote; errors mean a bug or a
    // deliberately crafted file, and are still reported, never trusted.
    let mut c = Cursor {
        data: &data[..body_end],
        pos: FIXED_HEADER - 4,
    };
    let meta_len = c.u32("meta length")? as usize;
    let meta_start = c.pos;
    let meta_bytes = c.take(meta_len, "meta")?;
    let mut mc = Cursor {
        data: &data[..meta_start + meta_bytes.len()],
        pos: meta_start,
    };
    let meta = decode_meta(&mut mc)?;

    let apex_at = c.pos;
    let apex_len = c.u8("apex length")? as usize;
    let apex = c.take(apex_len, "apex")?;
    if !valid_name(apex) {
        return Err((apex_at, "the apex is not a valid wire name".into()));
    }
    let serial = c.u32("serial")?;
    let count = c.u64("record count")?;

    let mut builder = ZoneBuilder::new(apex);
    let mut owner: Vec<u8> = apex.to_vec();
    let mut next: Vec<u8> = Vec::with_capacity(MAX_NAME_LEN + 1);
    let mut index = 0u64;
    while c.pos < body_end {
        let at = c.pos;
        if index == count {
            return Err((at, format!("data after the {count} records the header announces")));
        }
        let shared = c.u8("owner")? as usize;
        let prefix_len = c.u8("owner")? as usize;
        let prefix = c.take(prefix_len, "owner")?;
        if shared > owner.len() {
            return Err((
                at,
                format!(
                    "owner reuses {shared} bytes of a previous owner of {} bytes",
                    owner.len()
                ),
            ));
        }
        if prefix_len != 0 || shared != owner.len() {
            next.clear();
            next.extend_from_slice(prefix);
            next.extend_from_slice(&owner[owner.len() - shared..]);
            if !valid_name(&next) {
                return Err((at, "owner is not a valid wire name".into()));
            }
            std::mem::swap(&mut owner, &mut next);
        }
        let rtype = c.u16("type")?;
        let ttl = c.u32("ttl")?;
        let rd_len = c.u16("rdata length")? as usize;
        let rdata = c.take(rd_len, "rdata")?;
        index += 1;
        let pos = SourcePos {
            file: u16::MAX,
            line: u32::try_from(index).unwrap_or(u32::MAX),
        };
        builder.add(&owner, rtype, ttl, rdata, pos);
    }
    if index != count {
        return Err((
            body_end,
            format!("the header announces {count} records but the file holds {index}"),
        ));
    }
    Ok((builder, meta, serial, count))
}

/// The snapshots in `dir` (files ending in `.zone.bin`, not hidden), sorted.
/// Temporary files are skipped. An unreadable directory lists nothing.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(SUFFIX) && name.len() > SUFFIX.len() && !name.starts_with('.')
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Removes the snapshot of `apex` (wire format), if any, and fsyncs `dir`.
pub fn remove(dir: &Path, apex: &[u8]) -> io::Result<()> {
    super::journal::remove(&dir.join(file_name(apex)))?;
    match fs::remove_file(dir.join(file_name(apex))) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    sync_dir(dir)
}

/// True for a temporary file of one of the node's atomic writers under the
/// data dir, which a crash (kill -9, power loss) can leave behind. This is
/// the one list of them: [`write_zone`]'s `<name>.zone.bin.<pid>-<n>.tmp`,
/// the journal's trims' `<name>.zone.bin.journal.<pid>-<n>.tmp`,
/// the timers' `<name>.zone.bin.timers.tmp` (all three in `<data-dir>/zones`)
/// and the list of API zones' `api-zones.json.<pid>.tmp` (in the data dir).
/// A writer that adds a temporary file adds its pattern here. Other `.tmp`
/// files (an operator's) are left alone.
pub fn is_temp(name: &str) -> bool {
    name.ends_with(TMP_SUFFIX) && (name.contains(".zone.bin.") || name.starts_with("api-zones.json."))
}

/// Removes temporary files a crashed writer left in `dir`; returns how many.
/// Call it at start, before any zone is written: it would also remove the
/// temporary file of a write in progress (which then fails cleanly).
pub fn clean_temp(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if is_temp(&name.to_string_lossy()) && entry.file_type().is_ok_and(|t| t.is_file()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
