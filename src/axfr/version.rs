//! A secondary zone's versions: building and checking the version a
//! transfer delivered, writing it to disk (a snapshot, or its changes
//! appended to the journal, which is also the zone's IXFR history: an
//! IXFR's as received, an AXFR's diffed against the version held) before
//! it is served, and the timers file that lets a restart keep counting
//! towards expiry from the last confirmation.
//!
//! Everything here runs on the blocking pool, never on the reactor.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::refresh::{SoaTimers, TransferKind, serial_gt};
use super::stats::Kind;
use super::transfer::{self, Outcome, Rec, TransferError};
use crate::config::TimerLimits;
use crate::zone::diff;
use crate::zone::journal::{self, Bounds};
use crate::zone::persist::{self, ZoneMeta};
use crate::zone::{Zone, name};

/// Whether a zone, and everything its transfers and writes still have in
/// flight, may publish to the store and write under the data dir. Cleared
/// once, by removal, while holding `disk`: a write under way finishes
/// first, none starts after.
#[derive(Default)]
pub(super) struct Life {
    dead: AtomicBool,
    /// Held for every write; the sequence number of the last timers write,
    /// so that an older confirmation never overwrites a newer one.
    disk: Mutex<u64>,
    /// The last timers write failed.
    timers_failing: AtomicBool,
    /// The sequence number of the last NOTIFY marker change applied
    /// ([`set_notified`]; written holding `disk`).
    notified: AtomicU64,
}

impl Life {
    pub(super) fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    pub(super) fn disk(&self) -> std::sync::MutexGuard<'_, u64> {
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records how the last timers write went. Returns what to log: the
    /// error when writes start failing, `Some(None)` when they work again,
    /// `None` when nothing changed.
    pub(super) fn timers_failing<'e>(&self, error: Option<&'e std::io::Error>) -> Option<Option<&'e std::io::Error>> {
        let was = self.timers_failing.swap(error.is_some(), Ordering::SeqCst);
        match (was, error) {
            (false, Some(e)) => Some(Some(e)),
            (true, None) => Some(None),
            _ => None,
        }
    }

    /// Marks the zone removed, after any write under way.
    pub(super) fn end(&self) {
        let _disk = self.disk();
        self.dead.store(true, Ordering::SeqCst);
    }
}

/// Records, beside the snapshot, when version `serial` expires: the
/// `seq`-th confirmation of this zone. Skipped if the zone was removed or a
/// later confirmation was written already, and when `in_snapshot` (the
/// confirmation of a zone's first version, whose snapshot was just written
/// with this expiry) while no timers file exists: a restart reads the
/// expiry from the snapshot then, and a batch of new zones is spared one
/// fsync each.
pub(super) fn save_timers(
    path: &std::path::Path,
    life: &Life,
    seq: u64,
    (serial, expire_at_unix): (u32, u64),
    in_snapshot: bool,
) -> std::io::Result<()> {
    let mut last = life.disk();
    if !life.alive() || seq <= *last {
        return Ok(());
    }
    if in_snapshot && !path.exists() {
        *last = seq;
        return Ok(());
    }
    write_timers(path, serial, expire_at_unix)?;
    *last = seq;
    Ok(())
}

pub(super) enum Built {
    /// A new version; for an IXFR, the net changes for the journal.
    New(Box<Zone>, SoaTimers, &'static str, Option<Box<Changes>>),
    Current(SoaTimers),
}

/// Builds and validates the version a transfer delivered; a version of more
/// than `max_records` records (an IXFR can grow a zone past it) is refused.
/// A version received by AXFR is diffed against the one held, for the IXFR
/// history (`history`: the zone's bounds; none, no diff).
pub(super) fn build_version(
    outcome: Outcome,
    held: Option<&Zone>,
    max_records: u64,
    history: Bounds,
) -> Result<Built, TransferError> {
    let built = build(outcome, held, history)?;
    if let Built::New(zone, ..) = &built
        && zone.info.records as u64 > max_records
    {
        return Err(TransferError::Limit(
            super::transfer::Bound::Records,
            format!(
                "the new version has {} records, more than max-zone-records ({max_records})",
                zone.info.records
            ),
        ));
    }
    Ok(built)
}

fn build(outcome: Outcome, held: Option<&Zone>, history: Bounds) -> Result<Built, TransferError> {
    let held_serial = held.map(|z| z.info.serial);
    let (builder, soa, how) = match outcome {
        Outcome::UpToDate(soa) => {
            return match held_serial {
                Some(h) if serial_gt(soa.serial, h) => Err(TransferError::NoIxfr(soa.serial)),
                _ => Ok(Built::Current(soa)),
            };
        }
        Outcome::Full(builder, soa) => (builder, soa, "axfr"),
        Outcome::Incremental(diffs, soa) => {
            let held = held.ok_or_else(|| TransferError::DoesNotApply("no version held".into()))?;
            let zone = transfer::apply(held, &diffs)?;
            let (removed, added, new_soa) = transfer::net_changes(held, &diffs)?;
            let from_soa = journal::Record::soa_of(held)
                .ok_or_else(|| TransferError::DoesNotApply("the version held has no SOA".into()))?;
            let changes = Changes {
                from: held.info.serial,
                from_soa,
                removed: removed.into_iter().map(record).collect(),
                added: added.into_iter().map(record).collect(),
                soa: record(new_soa),
            };
            return checked(zone, held_serial, soa, "ixfr").map(|b| match b {
                Built::New(z, soa, how, _) => Built::New(z, soa, how, Some(Box::new(changes))),
                other => other,
            });
        }
    };
    if let Some(h) = held_serial
        && !serial_gt(soa.serial, h)
    {
        return Err(TransferError::NotNewer {
            delivered: soa.serial,
            held: h,
        });
    }
    let built = builder.build().map_err(|issues| {
        let text: Vec<String> = issues.iter().take(5).map(|i| i.to_string()).collect();
        TransferError::Invalid(text.join("; "))
    })?;
    for w in built.warnings.iter().take(10) {
        warn!("{w}");
    }
    let built = checked(built.zone, held_serial, soa, how)?;
    match (built, held) {
        (Built::New(zone, soa, how, None), Some(held)) if history.depth > 0 => {
            // For the IXFR history: what the AXFR changed, unless that is
            // more than the history may hold (then it starts afresh).
            let changes = diff::diff(held, &zone, history.bytes).and_then(|(removed, added)| {
                Some(Box::new(Changes {
                    from: held.info.serial,
                    from_soa: journal::Record::soa_of(held)?,
                    removed,
                    added,
                    soa: journal::Record::soa_of(&zone)?,
                }))
            });
            Ok(Built::New(zone, soa, how, changes))
        }
        (built, _) => Ok(built),
    }
}

/// A new version is accepted only if its serial is the transfer's and newer
/// than the one held.
fn checked(zone: Zone, held_serial: Option<u32>, soa: SoaTimers, how: &'static str) -> Result<Built, TransferError> {
    if let Some(h) = held_serial
        && !serial_gt(soa.serial, h)
    {
        return Err(TransferError::NotNewer {
            delivered: soa.serial,
            held: h,
        });
    }
    if zone.info.serial != soa.serial {
        return Err(TransferError::Invalid(format!(
            "zone serial {} differs from the transfer's SOA {}",
            zone.info.serial, soa.serial
        )));
    }
    Ok(Built::New(Box::new(zone), soa, how, None))
}

pub(super) fn expire_in(limits: &TimerLimits, soa: SoaTimers) -> Duration {
    limits.expire(soa.expire)
}

/// The net changes of a new version (an IXFR's, or an AXFR's diff), for
/// the journal.
pub(super) struct Changes {
    from: u32,
    from_soa: journal::Record,
    removed: Vec<journal::Record>,
    added: Vec<journal::Record>,
    soa: journal::Record,
}

fn record(r: Rec) -> journal::Record {
    journal::Record {
        owner: r.owner,
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: r.rdata,
    }
}

/// Writes a new version to disk: its changes appended to the zone's
/// journal (its IXFR history too) when a replay of the snapshot then
/// reaches it, else a whole snapshot. Returns true when the part of the
/// journal a replay needs has grown large ([`journal::Appended::wants_snapshot`]):
/// time to write a snapshot. An error means the version is not on disk (a
/// zone removed meanwhile counts as written: nothing is to be written for
/// it).
#[allow(clippy::too_many_arguments)]
pub(super) async fn persist_version(
    dir: &std::path::Path,
    group: &super::commit::Group,
    life: &Arc<Life>,
    zone: Arc<Zone>,
    primary: SocketAddr,
    how: &str,
    expire: Duration,
    changes: Option<Box<Changes>>,
    history: Bounds,
) -> std::io::Result<bool> {
    let now = unix_now();
    let meta = ZoneMeta {
        primary: Some(primary.to_string()),
        last_refresh_unix: now,
        last_success_unix: now,
        expire_at_unix: Some(now + expire.as_secs()),
        source: how.to_string(),
    };
    let dir = dir.to_path_buf();
    let apex = name::to_text(zone.apex());
    let life = life.clone();
    let group = group.clone();
    let r = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
        let _disk = life.disk();
        if !life.alive() {
            return Ok(false);
        }
        std::fs::create_dir_all(&dir)?;
        if let Some(changes) = changes {
            let Changes {
                from,
                from_soa,
                removed,
                added,
                soa,
            } = *changes;
            let entry = journal::Entry {
                from,
                to: zone.info.serial,
                meta: meta.clone(),
                from_soa,
                soa,
                removed,
                added,
            };
            match journal::append(&dir, zone.apex(), &entry, history) {
                Ok(a @ journal::Appended::Yes { .. }) => return Ok(a.wants_snapshot(history)),
                Ok(journal::Appended::NeedsSnapshot) => {}
                Err(e) => warn!(zone = %name::to_text(zone.apex()), "journal append failed, writing a snapshot: {e}"),
            }
        }
        // Synced together with the other snapshots written now (a batch of
        // new zones): see super::commit.
        let file = persist::write_unsynced(&dir, &zone, &meta)?;
        group.commit(dir.clone(), file)?;
        // The history goes on if it ends at this version, else restarts.
        if let Err(e) = journal::after_snapshot(&dir, zone.apex(), zone.info.serial, history) {
            // The snapshot is written: the version is on disk. A journal
            // that does not end at it is no history for it (never read).
            warn!(zone = %name::to_text(zone.apex()), "IXFR history not updated after the snapshot: {e}");
        }
        Ok(false)
    })
    .await;
    match r {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(format!("zone {apex}: write task failed: {e}"))),
    }
}

pub(super) fn counted(kind: TransferKind) -> Kind {
    match kind {
        TransferKind::Axfr => Kind::Axfr,
        TransferKind::Ixfr { .. } => Kind::Ixfr,
    }
}

pub(super) fn kind_name(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Axfr => "axfr",
        TransferKind::Ixfr { .. } => "ixfr",
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes `serial expire-at` atomically (temporary file, fsync, rename).
pub fn write_timers(path: &std::path::Path, serial: u32, expire_at_unix: u64) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("timers.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{serial} {expire_at_unix}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads a timers file: the expiry of `serial`, if the file is about it.
pub fn read_timers(path: &std::path::Path, serial: u32) -> Option<u64> {
    let text = crate::files::read_to_string(path, crate::files::STATE_MAX).ok()?;
    let mut it = text.split_whitespace();
    let s: u32 = it.next()?.parse().ok()?;
    let at: u64 = it.next()?.parse().ok()?;
    (s == serial).then_some(at)
}

/// The timers file of a zone.
pub fn timers_path(dir: &std::path::Path, apex: &[u8]) -> PathBuf {
    dir.join(format!("{}.timers", persist::file_name(apex)))
}

/// The NOTIFY marker of a zone: present from an accepted NOTIFY until the
/// round of SOA checks and transfers it started has brought the zone up to
/// date. The primary stops sending a NOTIFY once it is answered (RFC
/// 1996), and a restart resumes the refresh timer, so without it a node
/// killed in between would not ask for the change before the next refresh
/// (hours). A restart that finds it checks the primaries at once.
pub fn notified_path(dir: &std::path::Path, apex: &[u8]) -> PathBuf {
    dir.join(format!("{}.notified", persist::file_name(apex)))
}

/// Creates (`on`) or removes the NOTIFY marker at `path`: the `seq`-th
/// change of it for this zone. Skipped if the zone was removed or a later
/// change was applied already. Not fsynced: it must survive the process
/// (`kill -9`), not a power loss, which at worst costs the wait for the
/// refresh timer, as before.
pub(super) fn set_notified(path: &std::path::Path, life: &Life, seq: u64, on: bool) -> std::io::Result<()> {
    let _disk = life.disk();
    if !life.alive() || seq <= life.notified.load(Ordering::SeqCst) {
        return Ok(());
    }
    life.notified.store(seq, Ordering::SeqCst);
    let r = if on {
        std::fs::File::create(path).map(drop)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Err(e) if !on && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        Ok(()) => Ok(()),
    }
}

/// Deletes a zone's snapshot, journal, timers and NOTIFY marker.
pub(super) fn forget_files(dir: &std::path::Path, apex: &[u8]) -> std::io::Result<()> {
    let timers = timers_path(dir, apex);
    for path in [timers.with_extension("timers.tmp"), timers, notified_path(dir, apex)] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    persist::remove(dir, apex).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_failures_are_reported_once_per_change() {
        let life = Life::default();
        let full = std::io::Error::other("No space left on device");
        assert!(life.timers_failing(None).is_none(), "working: nothing to say");
        assert!(
            matches!(life.timers_failing(Some(&full)), Some(Some(_))),
            "starts failing"
        );
        for _ in 0..5 {
            assert!(
                life.timers_failing(Some(&full)).is_none(),
                "still failing: said already"
            );
        }
        assert!(matches!(life.timers_failing(None), Some(None)), "works again");
        assert!(life.timers_failing(None).is_none());
    }

    #[test]
    fn save_timers_skips_older_confirmations_and_removed_zones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("z.timers");
        let life = Life::default();
        save_timers(&path, &life, 2, (7, 1000), false).unwrap_or_else(|e| panic!("{e}"));
        save_timers(&path, &life, 1, (6, 900), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_timers(&path, 7), Some(1000));
        life.end();
        save_timers(&path, &life, 3, (8, 1100), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_timers(&path, 7), Some(1000));
    }

    #[test]
    fn notified_marker_follows_the_latest_change_until_removal() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = notified_path(dir.path(), b"\x01z\x00");
        let life = Life::default();
        // Removing a marker that is not there is fine.
        set_notified(&path, &life, 1, false).unwrap_or_else(|e| panic!("{e}"));
        set_notified(&path, &life, 3, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(path.exists());
        // An older change that ran late (the blocking pool keeps no order)
        // does not undo a newer one.
        set_notified(&path, &life, 2, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(path.exists(), "an older removal undid a newer NOTIFY");
        set_notified(&path, &life, 4, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(!path.exists());
        set_notified(&path, &life, 5, true).unwrap_or_else(|e| panic!("{e}"));
        // Removed with its zone, and never written again after that.
        forget_files(dir.path(), b"\x01z\x00").unwrap_or_else(|e| panic!("{e}"));
        assert!(!path.exists());
        life.end();
        set_notified(&path, &life, 6, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(!path.exists(), "a removed zone's marker was written");
    }
}
