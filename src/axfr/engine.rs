//! The secondary engine: every secondary zone's [`Secondary`] state machine
//! in one table, one driver task that feeds them their events and timers,
//! and the actions they ask for (SOA queries, transfers, publishing,
//! persisting) carried out by short tasks that report back as events.
//!
//! One driver for all zones, as Knot DNS runs its zone events from one
//! timer and a worker pool: an idle zone costs its table entry and one
//! timer, a few hundred bytes, not a task of its own, which counts on a
//! small machine with thousands of zones.
//!
//! Heavy work — building a zone from a transfer, applying an IXFR, writing
//! the snapshot — runs on the blocking pool, never on the reactor. A new
//! version is published only after it was built and validated in full.
//!
//! Zones come and go at run time ([`Engine::add`], [`Engine::remove`]).
//! Events and timers name a zone by its [`Key`], whose generation a removed
//! zone's slot never reuses, so late results of a removed zone are dropped.
//! Whatever a removed zone still had in flight (a transfer, a snapshot
//! write) can no longer publish or write: each zone carries a [`Life`]
//! that removal clears under the zone's disk lock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::client::{self, Bounds, Timeouts};
use super::refresh::{Action, Event, Secondary, TransferFailure, TransferKind};
use super::slots::Slots;
pub use super::stats::Counters;
use super::stats::Kind;
pub use super::status::ZoneStatus;
use super::table::{Key, Link, Slot, Table, primary_problem, priority_of};
use super::transfer::{self, TransferError};
use super::version::forget_files;
use super::version::{self, Built, Life, counted, kind_name, unix_now};
pub use super::version::{read_timers, timers_path, write_timers};
use crate::config::TimerLimits;
use crate::zone::store::Served;
use crate::zone::{APEX, Store, Zone, ZoneSet, name, rtype};

/// One secondary zone as configured.
#[derive(Clone, Debug)]
pub struct SecondaryZone {
    /// Apex, lowercase wire format.
    pub apex: Vec<u8>,
    pub primaries: Vec<SocketAddr>,
    pub limits: TimerLimits,
    /// Serial and expiry (unix seconds) of the version already published
    /// from disk, if any.
    pub held: Option<(u32, Option<u64>)>,
    /// Signs SOA queries and transfers; their answers must verify.
    pub key: Option<Arc<crate::tsig::Key>>,
    /// The primary the version on disk came from, if known.
    pub held_primary: Option<String>,
    /// How much IXFR history to keep (`ixfr-history-depth`, `-bytes`).
    pub history: crate::zone::journal::Bounds,
    /// `notify-source`: SOA queries and transfers go from this address
    /// (else the kernel picks one).
    pub source: Option<std::net::IpAddr>,
}

/// What start-up found on disk for a secondary zone: the version it
/// published before any primary was asked.
#[derive(Clone, Debug)]
pub struct HeldVersion {
    pub serial: u32,
    /// When that version expires (unix seconds), from its timers file or
    /// snapshot.
    pub expire_at_unix: Option<u64>,
    /// The primary that version came from.
    pub primary: Option<String>,
}

/// Handle to the running engine. Cheap to clone; every clone sees the same
/// zones.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    pub counters: Arc<Counters>,
}

struct Inner {
    table: Mutex<Table>,
    /// Events for the driver, in arrival order.
    queue: Mutex<VecDeque<(Key, Event)>>,
    wake: tokio::sync::Notify,
    driver: AtomicBool,
    store: Store,
    dir: PathBuf,
    timeouts: Timeouts,
    next_seed: AtomicU64,
    limits: Limits,
    counters: Arc<Counters>,
    /// New snapshots share their fsyncs (see [`super::commit`]).
    group: super::commit::Group,
}

/// What [`Engine::remove`] does with the zone besides stopping its state
/// machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Keep serving the version held, and keep its files: the zone is about
    /// to be added again with new settings (a config reload).
    KeepServing,
    /// Stop serving it (queries get REFUSED) and delete its snapshot,
    /// journal and timers.
    Forget,
}

/// Node-wide caps on what the zones do at once, so that thousands of
/// zones starting together neither flood the primaries nor open thousands
/// of sockets (NSD and Knot cap theirs likewise), shared fairly between
/// primaries (see [`Slots`]).
struct Limits {
    soa_queries: Slots,
    transfers: Slots,
    /// Zones between a transfer's request and their new version served:
    /// a transfer slot is held only while the transfer is received, so
    /// that the builds and writes of many zones overlap and share their
    /// fsyncs; this bounds how many are built or written at once.
    versions: tokio::sync::Semaphore,
}

/// SOA queries in flight, node-wide, and sure to one primary address (it
/// may have more while as many stay free for the others).
pub(crate) const MAX_SOA_QUERIES: usize = 64;
const MAX_SOA_QUERIES_PER_PRIMARY: usize = 16;
/// Transfers in flight, node-wide, and sure to one primary address.
pub(crate) const MAX_TRANSFERS: usize = 16;
const MAX_TRANSFERS_PER_PRIMARY: usize = 4;
/// Transfers received and being built, written or published, node-wide.
pub(crate) const MAX_VERSIONS: usize = 64;

impl Engine {
    /// An engine with no zone yet, writing under `data_dir`. Its driver
    /// starts with the first zone added.
    pub fn new(store: Store, data_dir: PathBuf, timeouts: Timeouts) -> Engine {
        let counters = Arc::new(Counters::default());
        Engine {
            inner: Arc::new(Inner {
                table: Mutex::default(),
                queue: Mutex::default(),
                wake: tokio::sync::Notify::new(),
                driver: AtomicBool::new(false),
                store,
                dir: data_dir,
                timeouts,
                next_seed: AtomicU64::new(1),
                limits: Limits {
                    soa_queries: Slots::new(MAX_SOA_QUERIES, MAX_SOA_QUERIES_PER_PRIMARY),
                    transfers: Slots::new(MAX_TRANSFERS, MAX_TRANSFERS_PER_PRIMARY),
                    versions: tokio::sync::Semaphore::new(MAX_VERSIONS),
                },
                counters: counters.clone(),
                group: super::commit::Group::default(),
            }),
            counters,
        }
    }

    /// Adds `zone` (call it from inside the runtime). A version held on
    /// disk must already be published in the store; the zone then asks its
    /// primaries at once. False, and nothing changed, if the zone is here
    /// already.
    pub fn add(&self, mut zone: SecondaryZone) -> bool {
        if !self.inner.driver.swap(true, Ordering::SeqCst) {
            tokio::spawn(drive(self.inner.clone()));
        }
        let mut table = self.inner.table();
        if table.by_apex.contains_key(zone.apex.as_slice()) {
            return false;
        }
        let apex: Box<[u8]> = zone.apex.clone().into();
        let current = self.inner.store.load().get(&apex).and_then(|s| s.zone.clone());
        // The held version's own SOA timers drive refresh and retry until a
        // primary answers.
        let timers = current.as_ref().and_then(|z| {
            z.get(APEX, rtype::SOA)
                .and_then(|set| z.records(set).next())
                .and_then(|rd| transfer::soa_timers(rd).ok())
        });
        let now = Instant::now();
        let (serial, expire_at) = match zone.held {
            Some((serial, expire_unix)) => {
                let at = expire_unix.map(|at| now + Duration::from_secs(at.saturating_sub(unix_now())));
                (Some(serial), at)
            }
            None => {
                // Served (SERVFAIL) from now on, not only once transferred:
                // a zone just added must not answer REFUSED meanwhile.
                self.inner.store.update(|set| match set.get(&apex) {
                    Some(_) => set.clone(),
                    None => set.with_entry(Served {
                        apex: apex.clone(),
                        zone: None,
                        expired: false,
                    }),
                });
                (None, None)
            }
        };
        let status = ZoneStatus {
            serial,
            source: serial.map(|_| "disk"),
            primary: zone.held_primary.take(),
            ..Default::default()
        };
        let seed = self.inner.next_seed.fetch_add(1, Ordering::Relaxed);
        let machine = Secondary::new(zone.primaries.len(), zone.limits, seed);
        let link = Link {
            apex: apex.clone(),
            primaries: zone.primaries.into(),
            key: zone.key,
            history: zone.history,
            source: zone.source,
        };
        let key = table.insert(link, machine, status);
        if expire_at.is_some_and(|at| at <= now)
            && let Some(slot) = table.get_mut(key)
        {
            // Expired while the node was down: SERVFAIL from the start.
            slot.status.expired = true;
            set_expired(&self.inner.store, &slot.life, &apex, true);
        }
        // A NOTIFY answered before the node stopped, whose round never
        // ended: the primary will not send it again, so ask now rather
        // than when the resumed refresh timer fires (one stat per zone
        // held on disk).
        let notified = serial.is_some() && version::notified_path(&self.inner.dir, &apex).exists();
        if notified && let Some(slot) = table.get_mut(key) {
            slot.notified = true;
        }
        drop(table);
        self.inner.send(
            key,
            Event::Load {
                serial,
                expire_at,
                timers,
            },
        );
        if notified {
            self.inner.send(key, Event::Refresh);
        }
        true
    }

    /// Stops the zone's state machine; with [`Stop::Forget`] also
    /// unpublishes the zone and deletes its files. Returns false if the zone
    /// is not here. Once this returns, nothing of the old zone publishes or
    /// writes.
    pub async fn remove(&self, apex: &[u8], how: Stop) -> std::io::Result<bool> {
        let Some(slot) = self.inner.table().remove(apex) else {
            return Ok(false);
        };
        let life = slot.life.clone();
        tokio::task::spawn_blocking(move || life.end())
            .await
            .map_err(std::io::Error::other)?;
        if how == Stop::Forget {
            self.inner.store.update(|set| set.without(apex));
            let dir = self.inner.dir.clone();
            let apex = apex.to_vec();
            tokio::task::spawn_blocking(move || forget_files(&dir, &apex))
                .await
                .map_err(std::io::Error::other)??;
        }
        Ok(true)
    }

    /// Passes an accepted NOTIFY to the zone. False if the zone is not a
    /// secondary zone here.
    pub fn notify(&self, apex: &[u8], serial: Option<u32>) -> bool {
        let Some(key) = self.inner.table().key_of(apex) else {
            return false;
        };
        self.counters.notify_accepted.fetch_add(1, Ordering::Relaxed);
        self.inner.send(key, Event::Notify { serial });
        true
    }

    /// Asks the zone to check its primaries now.
    pub fn refresh(&self, apex: &[u8]) -> bool {
        let Some(key) = self.inner.table().key_of(apex) else {
            return false;
        };
        self.inner.send(key, Event::Refresh);
        true
    }

    /// Sets the address the zone's SOA queries and transfers go from
    /// (`notify-source`, changed by a reload); the next query uses it.
    /// False if the zone is not here.
    pub fn set_source(&self, apex: &[u8], source: Option<std::net::IpAddr>) -> bool {
        let mut table = self.inner.table();
        let Some(key) = table.key_of(apex) else {
            return false;
        };
        table.get_mut(key).map(|slot| slot.zone.source = source).is_some()
    }

    /// Sets how much IXFR history the zone keeps (changed by a reload);
    /// the next version written applies it. False if the zone is not here.
    pub fn set_history(&self, apex: &[u8], history: crate::zone::journal::Bounds) -> bool {
        let mut table = self.inner.table();
        let Some(key) = table.key_of(apex) else {
            return false;
        };
        table.get_mut(key).map(|slot| slot.zone.history = history).is_some()
    }

    pub fn is_secondary(&self, apex: &[u8]) -> bool {
        self.inner.table().by_apex.contains_key(apex)
    }

    /// The apex of every zone here.
    pub fn zones(&self) -> Vec<Box<[u8]>> {
        self.inner.table().by_apex.keys().cloned().collect()
    }

    /// What the zone last did, if it is here.
    pub fn status(&self, apex: &[u8]) -> Option<ZoneStatus> {
        let mut table = self.inner.table();
        let key = table.key_of(apex)?;
        table.get_mut(key).map(|s| s.status.clone())
    }

    /// How many group commits of snapshots ran, and how many snapshots
    /// they held (see [`super::commit`]).
    pub fn snapshot_commits(&self) -> (u64, u64) {
        let r = self.inner.group.rounds();
        (r.commits, r.files)
    }

    /// The directory snapshots and timers are written to.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.dir
    }
}

/// Starts an engine with these zones on the current runtime. Zones found
/// on disk under `data_dir` must already be published.
pub fn start(zones: Vec<SecondaryZone>, store: Store, data_dir: PathBuf, timeouts: Timeouts) -> Engine {
    let engine = Engine::new(store, data_dir, timeouts);
    for z in zones {
        engine.add(z);
    }
    engine
}

/// Replaces the store's set with `f(set)` unless the zone was removed.
fn publish(store: &Store, life: &Life, f: impl FnOnce(&ZoneSet) -> ZoneSet) {
    store.update(|set| if life.alive() { f(set) } else { set.clone() });
}

fn set_expired(store: &Store, life: &Life, apex: &[u8], expired: bool) {
    publish(store, life, |set| {
        let zone = set.get(apex).and_then(|s| s.zone.clone());
        set.with_entry(Served {
            apex: apex.into(),
            zone,
            expired,
        })
    });
}

/// The driver: feeds each zone's state machine its events, in order, and
/// its wake-ups when due.
async fn drive(inner: Arc<Inner>) {
    loop {
        let events = std::mem::take(&mut *inner.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for (n, (key, event)) in events.into_iter().enumerate() {
            inner.dispatch(key, event);
            if n % 256 == 255 {
                // Thousands of zones loaded at once: let the other tasks
                // on this worker run in between.
                tokio::task::yield_now().await;
            }
        }
        let next = loop {
            let now = Instant::now();
            let mut table = inner.table();
            match table.due(now) {
                Some(key) => {
                    let event = match table.get_mut(key) {
                        Some(slot)
                            if slot.machine.expire_at().is_some_and(|at| at <= now) && !slot.machine.is_expired() =>
                        {
                            Event::Expire
                        }
                        Some(_) => Event::Refresh,
                        None => continue,
                    };
                    drop(table);
                    inner.dispatch(key, event);
                }
                None => break table.timers.first().map(|t| t.0),
            }
        };
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = sleep_until(next) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an event for the zone's state machine.
    fn send(&self, key: Key, event: Event) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((key, event));
        self.wake.notify_one();
    }

    /// Changes the zone's status, if the zone is still here.
    fn update_status(&self, key: Key, f: impl FnOnce(&mut ZoneStatus)) {
        if let Some(slot) = self.table().get_mut(key) {
            f(&mut slot.status);
        }
    }

    /// Runs one event through the zone's state machine and carries out the
    /// actions it returns. Nothing here blocks: I/O goes to tasks.
    fn dispatch(self: &Arc<Self>, key: Key, event: Event) {
        let mut table = self.table();
        let Some(slot) = table.get_mut(key) else { return };
        let notify = matches!(event, Event::Notify { .. });
        let actions = slot.machine.handle(Instant::now(), event);
        slot.status.round_failed = slot.machine.has_failed_a_round();
        slot.status.primaries_silent = slot.machine.primaries_silent();
        // The NOTIFY marker: on while the round a NOTIFY started (or will
        // start) runs for a zone that has a version, off once a round
        // ended with the zone confirmed and none is pending.
        let marker = if notify && !slot.notified && slot.machine.serial().is_some() && !slot.machine.is_idle() {
            Some(true)
        } else if slot.notified
            && slot.machine.is_idle()
            && actions.iter().any(|a| matches!(a, Action::Confirmed { .. }))
        {
            Some(false)
        } else {
            None
        };
        if let Some(on) = marker {
            slot.notified = on;
            slot.marker_changes += 1;
            let (seq, life, counters) = (slot.marker_changes, slot.life.clone(), self.counters.clone());
            let path = version::notified_path(&self.dir, &slot.zone.apex);
            tokio::task::spawn_blocking(move || {
                if version::set_notified(&path, &life, seq, on).is_err() {
                    counters.timers_failures.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for action in actions {
            let Some(slot) = table.get_mut(key) else { return };
            match action {
                Action::QuerySoa { primary } => self.query_soa(key, slot, primary),
                Action::Transfer { primary, kind } => self.transfer(key, slot, primary, kind),
                Action::MarkExpired => {
                    warn!(zone = %name::to_text(&slot.zone.apex), "zone expired; answering SERVFAIL until a primary answers");
                    slot.status.expired = true;
                    set_expired(&self.store, &slot.life, &slot.zone.apex, true);
                }
                Action::MarkFresh => {
                    info!(zone = %name::to_text(&slot.zone.apex), "zone refreshed after expiry; serving again");
                    slot.status.expired = false;
                    set_expired(&self.store, &slot.life, &slot.zone.apex, false);
                }
                Action::Wakeup(at) => table.set_wake(key, at),
                Action::Log(line) => info!(zone = %name::to_text(&slot.zone.apex), "{line}"),
                Action::Confirmed { serial, expire_in } => {
                    slot.status.last_success_unix = Some(unix_now());
                    slot.reported.clear();
                    slot.confirmations += 1;
                    let seq = slot.confirmations;
                    let in_snapshot = slot.first_written.take() == Some(serial);
                    let path = timers_path(&self.dir, &slot.zone.apex);
                    let at = unix_now() + expire_in.as_secs();
                    let life = slot.life.clone();
                    let apex = name::to_text(&slot.zone.apex);
                    let counters = self.counters.clone();
                    tokio::task::spawn_blocking(move || {
                        let result = version::save_timers(&path, &life, seq, (serial, at), in_snapshot);
                        if result.is_err() {
                            counters.timers_failures.fetch_add(1, Ordering::Relaxed);
                        }
                        // Logged when it starts failing and when it works
                        // again, not on every confirmation.
                        match life.timers_failing(result.as_ref().err()) {
                            Some(Some(e)) => {
                                warn!(zone = %apex, file = %path.display(), "cannot save timers: {e}; not logged again until it works")
                            }
                            Some(None) => info!(zone = %apex, file = %path.display(), "timers saved again"),
                            None => {}
                        }
                    });
                }
                Action::PrimaryBehind { primary, theirs, ours } => {
                    let counter = &self.counters.primary_behind;
                    let said = primary_problem(slot, primary, theirs, counter, |addr| {
                        format!("primary {addr} serves serial {theirs}, older than the {ours} served here")
                    });
                    if let Some(addr) = said {
                        warn!(
                            zone = %name::to_text(&slot.zone.apex), primary = %addr, theirs, ours,
                            "primary serves an older serial than ours; not a confirmation (the zone expires if no primary confirms it)"
                        );
                    }
                }
                Action::PrimaryContradicts {
                    primary,
                    claimed,
                    delivered,
                } => {
                    let counter = &self.counters.primary_contradicts;
                    let said = primary_problem(slot, primary, claimed, counter, |addr| {
                        format!("primary {addr} announced serial {claimed} but transferred {delivered}")
                    });
                    if let Some(addr) = said {
                        warn!(
                            zone = %name::to_text(&slot.zone.apex), primary = %addr, claimed, delivered,
                            "primary's SOA is newer than its transfer; backing off"
                        );
                    }
                }
            }
        }
    }

    fn query_soa(self: &Arc<Self>, key: Key, slot: &Slot, primary: usize) {
        let Some(&addr) = slot.zone.primaries.get(primary) else {
            return;
        };
        let apex = slot.zone.apex.clone();
        let tsig = slot.zone.key.clone();
        let source = slot.zone.source;
        let priority = priority_of(slot);
        let inner = self.clone();
        tokio::spawn(async move {
            // Thousands of zones may wait here at once: the query's own
            // state is allocated only once it may run.
            let _permit = inner.limits.soa_queries.acquire(addr.ip(), priority).await;
            let result = Box::pin(client::query_soa(&apex, addr, source, tsig.as_deref(), inner.timeouts))
                .await
                .map_err(|e| format!("{addr}: {e}"));
            if let Err(e) = &result {
                inner.update_status(key, |s| s.last_error = Some(format!("SOA query to {e}")));
            }
            inner.send(key, Event::SoaResult { primary, result });
        });
    }

    fn transfer(self: &Arc<Self>, key: Key, slot: &Slot, primary: usize, kind: TransferKind) {
        let Some(&addr) = slot.zone.primaries.get(primary) else {
            return;
        };
        let apex = slot.zone.apex.clone();
        let tsig = slot.zone.key.clone();
        let history = slot.zone.history;
        let source = slot.zone.source;
        let limits = *slot.machine.limits();
        let life = slot.life.clone();
        let inner = self.clone();
        let current = self.store.load().get(&apex).and_then(|s| s.zone.clone());
        let priority = priority_of(slot);
        tokio::spawn(async move {
            // As for SOA queries: a waiting transfer is small. The version
            // permit first: a transfer slot is never held waiting for it.
            let version = inner.limits.versions.acquire().await;
            let permit = inner.limits.transfers.acquire(addr.ip(), priority).await;
            let result = Box::pin(inner.run_transfer(
                key,
                &apex,
                (addr, source),
                kind,
                (current, permit),
                tsig,
                limits,
                &life,
                history,
            ))
            .await;
            drop(version);
            inner.send(key, Event::TransferResult { primary, kind, result });
        });
    }

    /// One transfer, from the request to the new version served (the
    /// caller holds a transfer slot).
    #[allow(clippy::too_many_arguments)]
    async fn run_transfer(
        &self,
        key: Key,
        apex: &[u8],
        (addr, source): (SocketAddr, Option<std::net::IpAddr>),
        kind: TransferKind,
        (current, permit): (Option<Arc<Zone>>, super::slots::Slot),
        tsig: Option<Arc<crate::tsig::Key>>,
        limits: TimerLimits,
        life: &Arc<Life>,
        history: crate::zone::journal::Bounds,
    ) -> Result<super::refresh::SoaTimers, TransferFailure> {
        let zname = name::to_text(apex);
        let held_soa = current.as_ref().and_then(|z| {
            z.get(APEX, rtype::SOA)
                .and_then(|s| z.records(s).next().map(<[u8]>::to_vec))
        });
        let started = Instant::now();
        let timeouts = Timeouts {
            transfer: limits.transfer_timeout,
            ..self.timeouts
        };
        let bounds = Bounds {
            max_records: limits.max_zone_records,
            max_bytes: limits.max_zone_bytes,
        };
        let received = client::transfer(
            apex,
            (addr, source),
            kind,
            held_soa.as_deref(),
            tsig.as_deref(),
            timeouts,
            bounds,
        )
        .await;
        // Received: the primary and the socket are done with.
        drop(permit);
        let result = match received {
            Ok((outcome, stats)) => {
                let held = current.clone();
                let max = limits.max_zone_records;
                let built =
                    tokio::task::spawn_blocking(move || version::build_version(outcome, held.as_deref(), max, history))
                        .await
                        .unwrap_or_else(|e| Err(TransferError::Invalid(format!("build task failed: {e}"))));
                match built {
                    Ok(Built::New(zone, soa, how, changes)) => {
                        let zone: Arc<Zone> = Arc::from(zone);
                        // Written to disk before it is served: after a
                        // crash the serial never goes backwards, and a
                        // version that cannot be written is not served.
                        let expire = version::expire_in(&limits, soa);
                        let written = version::persist_version(
                            &self.dir,
                            &self.group,
                            life,
                            zone.clone(),
                            addr,
                            how,
                            expire,
                            changes,
                            history,
                        )
                        .await;
                        let compact = match written {
                            Ok(compact) => compact,
                            Err(e) => return Err(self.not_written(key, &zname, soa.serial, e)),
                        };
                        publish(&self.store, life, |set| set.with(zone.clone(), false));
                        if !life.alive() {
                            // Removed meanwhile: nothing was written or served.
                            return Err(TransferFailure::Failed("zone removed".into()));
                        }
                        if current.is_none()
                            && let Some(slot) = self.table().get_mut(key)
                        {
                            // A first version: written whole, as a snapshot
                            // with its expiry (no journal to append to).
                            slot.first_written = Some(soa.serial);
                        }
                        let elapsed = started.elapsed();
                        self.update_status(key, |s| {
                            let now = unix_now();
                            s.serial = Some(soa.serial);
                            s.primary = Some(addr.to_string());
                            s.source = Some(how);
                            s.last_transfer_unix = Some(now);
                            s.last_transfer_bytes = Some(stats.bytes as u64);
                            s.last_transfer_ms = Some(elapsed.as_millis() as u64);
                            s.last_success_unix = Some(now);
                            s.expired = false;
                            if s.persist_error.take().is_some() {
                                info!(zone = %zname, serial = soa.serial, "new version written; serving it");
                            }
                        });
                        if compact {
                            // The journal grew large: fold it into a new
                            // snapshot, after serving the new version. The
                            // journal keeps the version if this fails.
                            if let Err(e) = version::persist_version(
                                &self.dir,
                                &self.group,
                                life,
                                zone.clone(),
                                addr,
                                how,
                                expire,
                                None,
                                history,
                            )
                            .await
                            {
                                warn!(zone = %zname, "could not fold the journal into a new snapshot (the journal still holds the version): {e}");
                            }
                        }
                        info!(
                            zone = %zname, serial = soa.serial, primary = %addr, kind = how,
                            records = zone.info.records, bytes = stats.bytes, messages = stats.messages,
                            ms = started.elapsed().as_millis() as u64, "transfer complete; new version served"
                        );
                        let delivered = if how == "ixfr" { Kind::Ixfr } else { Kind::Axfr };
                        self.counters
                            .transfer(delivered, true, started.elapsed(), stats.bytes as u64);
                        Ok(soa)
                    }
                    Ok(Built::Current(soa)) => Ok(soa),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            self.counters.transfer(counted(kind), false, started.elapsed(), 0);
            if let TransferError::Limit(bound, _) = &e {
                self.counters.aborted(*bound);
            }
            if let TransferError::NoIxfr(_) = e {
                // Not an error of the primary's: it has no IXFR. Said once,
                // since the zone asks it for AXFR from now on.
                info!(zone = %zname, primary = %addr, "primary {e}; using AXFR with it from now on");
                return TransferFailure::IxfrUnsupported(e.to_string());
            }
            self.update_status(key, |s| {
                s.last_error = Some(format!("{} from {addr}: {e}", kind_name(kind)))
            });
            warn!(zone = %zname, primary = %addr, kind = kind_name(kind), "transfer rejected: {e}");
            match (kind, e) {
                (TransferKind::Ixfr { .. }, TransferError::Refused(r)) => TransferFailure::IxfrUnavailable(r.into()),
                (TransferKind::Ixfr { .. }, e @ TransferError::DoesNotApply(_)) => {
                    TransferFailure::IxfrUnavailable(e.to_string())
                }
                (_, TransferError::NotNewer { delivered, .. }) => TransferFailure::Stale(delivered),
                (_, e) => TransferFailure::Failed(format!("{addr}: {e}")),
            }
        })
    }

    /// A new version that could not be written: counted, shown in the
    /// zone's status, logged, and not served.
    fn not_written(&self, key: Key, zname: &str, serial: u32, e: std::io::Error) -> TransferFailure {
        self.counters.persist_failures.fetch_add(1, Ordering::Relaxed);
        let why = format!("serial {serial} could not be written to {}: {e}", self.dir.display());
        let mut first = false;
        self.update_status(key, |s| {
            first = s.persist_error.is_none();
            s.persist_error = Some(why.clone());
            s.last_error = Some(why.clone());
        });
        if first {
            warn!(zone = %zname, serial, "new version not served: {why}; retrying with backoff");
        }
        TransferFailure::Local(why)
    }
}
