//! The secondary engine: one task per secondary zone running its
//! [`Secondary`] state machine, carrying out its actions (SOA queries,
//! transfers, publishing, persisting) and feeding results back as events.
//!
//! Heavy work — building a zone from a transfer, applying an IXFR, writing
//! the snapshot — runs on the blocking pool, never on the reactor. A new
//! version is published only after it was built and validated in full.
//!
//! Zones come and go at run time ([`Engine::add`], [`Engine::remove`]).
//! A removed zone's task stops, and whatever it still had in flight (a
//! transfer, a snapshot write) can no longer publish or write: each task
//! carries a [`Life`] that removal clears under the zone's disk lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::client::{self, Timeouts};
use super::refresh::{Action, Event, Secondary, SoaTimers, TransferFailure, TransferKind, serial_gt};
pub use super::stats::Counters;
use super::stats::Kind;
use super::status::StatusMap;
use super::transfer::{self, Outcome, Rec, TransferError};
use crate::config::TimerLimits;
use crate::zone::journal;
use crate::zone::persist::{self, ZoneMeta};
use crate::zone::store::Served;
use crate::zone::{APEX, Store, Zone, ZoneSet, name, rtype};

/// A zone task's event queue: a deque and a wake-up, far smaller than a
/// channel (tokio's mpsc allocates 32 slots up front), which counts with
/// thousands of zones.
#[derive(Default)]
struct Inbox {
    queue: Mutex<std::collections::VecDeque<Event>>,
    wake: tokio::sync::Notify,
}

impl Inbox {
    /// Queues an event; true (the task may already have ended).
    fn send(&self, ev: Event) -> bool {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(ev);
        self.wake.notify_one();
        true
    }

    async fn recv(&self) -> Event {
        loop {
            let woken = self.wake.notified();
            if let Some(ev) = self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
                return ev;
            }
            woken.await;
        }
    }
}

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
    pub key: Option<Arc<super::tsig::Key>>,
    /// The primary the version on disk came from, if known.
    pub held_primary: Option<String>,
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
    /// What each zone's task last did.
    pub status: StatusMap,
}

struct Inner {
    zones: RwLock<HashMap<Box<[u8]>, Running>>,
    store: Store,
    dir: PathBuf,
    timeouts: Timeouts,
    next_seed: AtomicU64,
    limits: Arc<Limits>,
}

/// A zone's task, as the engine holds it.
struct Running {
    tx: Arc<Inbox>,
    life: Arc<Life>,
}

/// Whether a zone's task and everything it spawned may still publish to
/// the store and write under the data dir. Cleared once, by removal, while
/// holding `disk`: a write under way finishes first, none starts after.
#[derive(Default)]
struct Life {
    dead: AtomicBool,
    disk: Mutex<()>,
}

impl Life {
    fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    fn disk(&self) -> std::sync::MutexGuard<'_, ()> {
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`Engine::remove`] does with the zone besides stopping its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Keep serving the version held, and keep its files: the zone is about
    /// to be added again with new settings (a config reload).
    KeepServing,
    /// Stop serving it (queries get REFUSED) and delete its snapshot,
    /// journal and timers.
    Forget,
}

impl Engine {
    /// An engine with no zone yet, writing under `data_dir`.
    pub fn new(store: Store, data_dir: PathBuf, timeouts: Timeouts) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                zones: RwLock::default(),
                store,
                dir: data_dir,
                timeouts,
                next_seed: AtomicU64::new(1),
                limits: Arc::new(Limits {
                    soa_queries: tokio::sync::Semaphore::new(MAX_SOA_QUERIES),
                    transfers: tokio::sync::Semaphore::new(MAX_TRANSFERS),
                }),
            }),
            counters: Arc::new(Counters::default()),
            status: StatusMap::default(),
        }
    }

    /// Starts a task for `zone` on the current runtime (call it from inside
    /// the runtime). A version held on disk must already be published in the
    /// store; the task then asks the primaries at once. False, and nothing
    /// started, if the zone already has a task.
    pub fn add(&self, zone: SecondaryZone) -> bool {
        let mut zones = self.inner.zones.write().unwrap_or_else(|e| e.into_inner());
        if zones.contains_key(zone.apex.as_slice()) {
            return false;
        }
        if zone.held.is_none() {
            // Served (SERVFAIL) from now on, not only once the task runs:
            // a zone just added must not answer REFUSED meanwhile.
            let apex: Box<[u8]> = zone.apex.clone().into();
            self.inner.store.update(|set| match set.get(&apex) {
                Some(_) => set.clone(),
                None => set.with_entry(Served {
                    apex: apex.clone(),
                    zone: None,
                    expired: false,
                }),
            });
        }
        let tx = Arc::new(Inbox::default());
        let life = Arc::new(Life::default());
        self.status.update(&zone.apex, |s| {
            *s = Default::default();
            s.serial = zone.held.map(|h| h.0);
            s.primary = zone.held_primary.clone();
            s.source = zone.held.map(|_| "disk".to_string());
        });
        zones.insert(
            zone.apex.clone().into_boxed_slice(),
            Running {
                tx: tx.clone(),
                life: life.clone(),
            },
        );
        let task = ZoneTask {
            zone,
            store: self.inner.store.clone(),
            dir: self.inner.dir.clone(),
            tx,
            counters: self.counters.clone(),
            status: self.status.clone(),
            timeouts: self.inner.timeouts,
            limits: self.inner.limits.clone(),
            seed: self.inner.next_seed.fetch_add(1, Ordering::Relaxed),
            life,
        };
        tokio::spawn(task.run());
        true
    }

    /// Stops the zone's task; with [`Stop::Forget`] also unpublishes the
    /// zone and deletes its files. Returns false if the zone had no task
    /// here. Once this returns, nothing of the old task publishes or writes.
    pub async fn remove(&self, apex: &[u8], how: Stop) -> std::io::Result<bool> {
        let running = self.inner.zones.write().unwrap_or_else(|e| e.into_inner()).remove(apex);
        let Some(running) = running else {
            return Ok(false);
        };
        let life = running.life.clone();
        tokio::task::spawn_blocking(move || {
            let _disk = life.disk();
            life.dead.store(true, Ordering::SeqCst);
        })
        .await
        .map_err(std::io::Error::other)?;
        let _ = running.tx.send(Event::Flush);
        self.status.remove(apex);
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

    /// Passes an accepted NOTIFY to the zone's task. False if the zone is
    /// not a secondary zone here.
    pub fn notify(&self, apex: &[u8], serial: Option<u32>) -> bool {
        let zones = self.inner.zones.read().unwrap_or_else(|e| e.into_inner());
        match zones.get(apex) {
            Some(r) => {
                self.counters.notify_accepted.fetch_add(1, Ordering::Relaxed);
                r.tx.send(Event::Notify { serial })
            }
            None => false,
        }
    }

    /// Asks the zone's task to check its primaries now.
    pub fn refresh(&self, apex: &[u8]) -> bool {
        let zones = self.inner.zones.read().unwrap_or_else(|e| e.into_inner());
        zones.get(apex).is_some_and(|r| r.tx.send(Event::Refresh))
    }

    pub fn is_secondary(&self, apex: &[u8]) -> bool {
        let zones = self.inner.zones.read().unwrap_or_else(|e| e.into_inner());
        zones.contains_key(apex)
    }

    /// The apex of every zone with a task.
    pub fn zones(&self) -> Vec<Box<[u8]>> {
        let zones = self.inner.zones.read().unwrap_or_else(|e| e.into_inner());
        zones.keys().cloned().collect()
    }

    /// The directory snapshots and timers are written to.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.dir
    }
}

/// Starts one task per zone on the current runtime. Zones found on disk
/// under `data_dir` are published before any primary is asked.
pub fn start(zones: Vec<SecondaryZone>, store: Store, data_dir: PathBuf, timeouts: Timeouts) -> Engine {
    let engine = Engine::new(store, data_dir, timeouts);
    for z in zones {
        engine.add(z);
    }
    engine
}

/// The timers file of a zone.
pub fn timers_path(dir: &std::path::Path, apex: &[u8]) -> PathBuf {
    dir.join(format!("{}.timers", persist::file_name(apex)))
}

/// Deletes a zone's snapshot, journal and timers.
fn forget_files(dir: &std::path::Path, apex: &[u8]) -> std::io::Result<()> {
    let timers = timers_path(dir, apex);
    for path in [timers.with_extension("timers.tmp"), timers] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    persist::remove(dir, apex).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

/// Replaces the store's set with `f(set)` unless the zone was removed.
fn publish(store: &Store, life: &Life, f: impl FnOnce(&ZoneSet) -> ZoneSet) {
    store.update(|set| if life.alive() { f(set) } else { set.clone() });
}

struct ZoneTask {
    zone: SecondaryZone,
    store: Store,
    dir: PathBuf,
    tx: Arc<Inbox>,
    counters: Arc<Counters>,
    status: StatusMap,
    limits: Arc<Limits>,
    timeouts: Timeouts,
    seed: u64,
    life: Arc<Life>,
}

/// Node-wide caps on what the zone tasks do at once, so that thousands of
/// zones starting together neither flood the primaries nor open thousands
/// of sockets (NSD and Knot cap theirs likewise).
struct Limits {
    soa_queries: tokio::sync::Semaphore,
    transfers: tokio::sync::Semaphore,
}

/// SOA queries in flight, node-wide.
const MAX_SOA_QUERIES: usize = 64;
/// Transfers in flight, node-wide.
const MAX_TRANSFERS: usize = 16;

impl ZoneTask {
    fn text(&self) -> String {
        name::to_text(&self.zone.apex)
    }

    async fn run(self) {
        let rx = self.tx.clone();
        let zname = self.text();
        let mut sm = Secondary::new(self.zone.primaries.len(), self.zone.limits, self.seed);
        let (serial, expire_at) = self.initial_version();
        // The held version's own SOA timers drive refresh and retry until a
        // primary answers.
        let timers = self.current().and_then(|z| {
            z.get(APEX, rtype::SOA)
                .and_then(|set| z.records(set).next())
                .and_then(|rd| transfer::soa_timers(rd).ok())
        });
        let mut actions = sm.handle(
            Instant::now(),
            Event::Load {
                serial,
                expire_at,
                timers,
            },
        );
        let mut wake: Option<Instant> = None;
        loop {
            for action in actions.drain(..) {
                match action {
                    Action::QuerySoa { primary } => self.query_soa(primary),
                    Action::Transfer { primary, kind } => self.transfer(primary, kind),
                    Action::MarkExpired => {
                        warn!(zone = %zname, "zone expired; answering SERVFAIL until a primary answers");
                        self.set_expired(true);
                    }
                    Action::MarkFresh => {
                        info!(zone = %zname, "zone refreshed after expiry; serving again");
                        self.set_expired(false);
                    }
                    Action::Wakeup(at) => wake = Some(at),
                    Action::Log(line) => info!(zone = %zname, "{line}"),
                    Action::Confirmed { serial, expire_in } => {
                        self.status
                            .update_existing(&self.zone.apex, |s| s.last_success_unix = Some(unix_now()));
                        self.save_timers(serial, expire_in).await
                    }
                }
            }
            let event = tokio::select! {
                ev = rx.recv() => ev,
                _ = sleep_until(wake), if wake.is_some() => {
                    wake = None;
                    let now = Instant::now();
                    if sm.expire_at().is_some_and(|at| at <= now) && !sm.is_expired() {
                        Event::Expire
                    } else {
                        Event::Refresh
                    }
                }
            };
            let flush = matches!(event, Event::Flush);
            actions = sm.handle(Instant::now(), event);
            if flush {
                return;
            }
        }
    }

    /// The version published at start-up from disk, if any; else publishes
    /// a placeholder that answers SERVFAIL until the first transfer.
    fn initial_version(&self) -> (Option<u32>, Option<Instant>) {
        match self.zone.held {
            Some((serial, expire_unix)) => {
                let expire_at =
                    expire_unix.map(|at| Instant::now() + Duration::from_secs(at.saturating_sub(unix_now())));
                if expire_at.is_some_and(|at| at <= Instant::now()) {
                    self.set_expired(true);
                }
                (Some(serial), expire_at)
            }
            None => {
                self.placeholder();
                (None, None)
            }
        }
    }

    /// Records when the confirmed version expires, beside its snapshot, so
    /// a restart keeps counting from the last confirmation.
    async fn save_timers(&self, serial: u32, expire_in: Duration) {
        let path = timers_path(&self.dir, &self.zone.apex);
        let at = unix_now() + expire_in.as_secs();
        let life = self.life.clone();
        let r = tokio::task::spawn_blocking(move || {
            let _disk = life.disk();
            if !life.alive() {
                return Ok(());
            }
            write_timers(&path, serial, at)
        })
        .await;
        if let Ok(Err(e)) | Err(e) = r.map_err(std::io::Error::other) {
            warn!(zone = %self.text(), "cannot save timers: {e}");
        }
    }

    fn placeholder(&self) {
        let apex: Box<[u8]> = self.zone.apex.clone().into();
        publish(&self.store, &self.life, |set| match set.get(&apex) {
            Some(_) => set.clone(),
            None => set.with_entry(Served {
                apex: apex.clone(),
                zone: None,
                expired: false,
            }),
        });
    }

    fn current(&self) -> Option<Arc<Zone>> {
        self.store.load().get(&self.zone.apex).and_then(|s| s.zone.clone())
    }

    fn set_expired(&self, expired: bool) {
        self.status.update_existing(&self.zone.apex, |s| s.expired = expired);
        let apex: Box<[u8]> = self.zone.apex.clone().into();
        publish(&self.store, &self.life, |set| {
            let zone = set.get(&apex).and_then(|s| s.zone.clone());
            set.with_entry(Served {
                apex: apex.clone(),
                zone,
                expired,
            })
        });
    }

    fn query_soa(&self, primary: usize) {
        let apex = self.zone.apex.clone();
        let addr = self.zone.primaries[primary];
        let tx = self.tx.clone();
        let t = self.timeouts;
        let key = self.zone.key.clone();
        let status = self.status.clone();
        let limits = self.limits.clone();
        tokio::spawn(async move {
            let _permit = limits.soa_queries.acquire().await;
            let result = client::query_soa(&apex, addr, key.as_deref(), t)
                .await
                .map_err(|e| format!("{addr}: {e}"));
            if let Err(e) = &result {
                status.update_existing(&apex, |s| s.last_error = Some(format!("SOA query to {e}")));
            }
            let _ = tx.send(Event::SoaResult { primary, result });
        });
    }

    fn transfer(&self, primary: usize, kind: TransferKind) {
        let apex = self.zone.apex.clone();
        let addr = self.zone.primaries[primary];
        let tx = self.tx.clone();
        let t = self.timeouts;
        let store = self.store.clone();
        let dir = self.dir.clone();
        let counters = self.counters.clone();
        let status = self.status.clone();
        let caps = self.limits.clone();
        let current = self.current();
        let key = self.zone.key.clone();
        let limits = self.zone.limits;
        let life = self.life.clone();
        tokio::spawn(async move {
            let zname = name::to_text(&apex);
            let held_soa = current.as_ref().and_then(|z| {
                z.get(APEX, rtype::SOA)
                    .and_then(|s| z.records(s).next().map(<[u8]>::to_vec))
            });
            let _permit = caps.transfers.acquire().await;
            let started = Instant::now();
            let result = match client::transfer(&apex, addr, kind, held_soa.as_deref(), key.as_deref(), t).await {
                Ok((outcome, stats)) => {
                    let held = current.clone();
                    let built = tokio::task::spawn_blocking(move || build_version(outcome, held.as_deref()))
                        .await
                        .unwrap_or_else(|e| Err(TransferError::Invalid(format!("build task failed: {e}"))));
                    match built {
                        Ok(Built::New(zone, soa, how, changes)) => {
                            let zone: Arc<Zone> = Arc::from(zone);
                            // Written to disk before it is served: after a
                            // crash the serial never goes backwards.
                            let expire = expire_in(&limits, soa);
                            let compact = persist_version(&dir, &life, zone.clone(), addr, how, expire, changes).await;
                            publish(&store, &life, |set| set.with(zone.clone(), false));
                            if !life.alive() {
                                // Removed meanwhile: nothing was written or served.
                                return;
                            }
                            status.update_existing(&apex, |s| {
                                let now = unix_now();
                                s.serial = Some(soa.serial);
                                s.primary = Some(addr.to_string());
                                s.source = Some(how.to_string());
                                s.last_transfer_unix = Some(now);
                                s.last_transfer_bytes = Some(stats.bytes as u64);
                                s.last_transfer_ms = Some(started.elapsed().as_millis() as u64);
                                s.last_success_unix = Some(now);
                                s.expired = false;
                            });
                            if compact {
                                // The journal grew large: fold it into a new
                                // snapshot, after serving the new version.
                                persist_version(&dir, &life, zone.clone(), addr, how, expire, None).await;
                            }
                            info!(
                                zone = %zname, serial = soa.serial, primary = %addr, kind = how,
                                records = zone.info.records, bytes = stats.bytes, messages = stats.messages,
                                ms = started.elapsed().as_millis() as u64, "transfer complete; new version served"
                            );
                            let delivered = if how == "ixfr" { Kind::Ixfr } else { Kind::Axfr };
                            counters.transfer(delivered, true, started.elapsed(), stats.bytes as u64);
                            Ok(soa)
                        }
                        Ok(Built::Current(soa)) => Ok(soa),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let result = result.map_err(|e| {
                counters.transfer(counted(kind), false, started.elapsed(), 0);
                status.update_existing(&apex, |s| {
                    s.last_error = Some(format!("{} from {addr}: {e}", kind_name(kind)))
                });
                warn!(zone = %zname, primary = %addr, kind = kind_name(kind), "transfer rejected: {e}");
                match (kind, e) {
                    (TransferKind::Ixfr { .. }, TransferError::Refused(r)) => {
                        TransferFailure::IxfrUnavailable(r.into())
                    }
                    (TransferKind::Ixfr { .. }, e @ TransferError::DoesNotApply(_)) => {
                        TransferFailure::IxfrUnavailable(e.to_string())
                    }
                    (_, e) => TransferFailure::Failed(format!("{addr}: {e}")),
                }
            });
            let _ = tx.send(Event::TransferResult { primary, kind, result });
        });
    }
}

enum Built {
    /// A new version; for an IXFR, the net changes for the journal.
    New(Box<Zone>, SoaTimers, &'static str, Option<Box<Changes>>),
    Current(SoaTimers),
}

/// Builds and validates the version a transfer delivered.
fn build_version(outcome: Outcome, held: Option<&Zone>) -> Result<Built, TransferError> {
    let held_serial = held.map(|z| z.info.serial);
    let (builder, soa, how) = match outcome {
        Outcome::UpToDate(soa) => {
            return match held_serial {
                Some(h) if serial_gt(soa.serial, h) => Err(TransferError::Refused(
                    "an IXFR reply with only its SOA (newer than ours)",
                )),
                _ => Ok(Built::Current(soa)),
            };
        }
        Outcome::Full(builder, soa) => (builder, soa, "axfr"),
        Outcome::Incremental(diffs, soa) => {
            let held = held.ok_or_else(|| TransferError::DoesNotApply("no version held".into()))?;
            let zone = transfer::apply(held, &diffs)?;
            let (removed, added, new_soa) = transfer::net_changes(held, &diffs)?;
            let changes = Changes {
                from: held.info.serial,
                removed,
                added,
                soa: new_soa,
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
        return Err(TransferError::Invalid(format!(
            "serial {} is not newer than the {h} we serve",
            soa.serial
        )));
    }
    let built = builder.build().map_err(|issues| {
        let text: Vec<String> = issues.iter().take(5).map(|i| i.to_string()).collect();
        TransferError::Invalid(text.join("; "))
    })?;
    for w in built.warnings.iter().take(10) {
        warn!("{w}");
    }
    checked(built.zone, held_serial, soa, how)
}

/// A new version is accepted only if its serial is the transfer's and newer
/// than the one held.
fn checked(zone: Zone, held_serial: Option<u32>, soa: SoaTimers, how: &'static str) -> Result<Built, TransferError> {
    if let Some(h) = held_serial
        && !serial_gt(soa.serial, h)
    {
        return Err(TransferError::Invalid(format!(
            "serial {} is not newer than the {h} we serve",
            soa.serial
        )));
    }
    if zone.info.serial != soa.serial {
        return Err(TransferError::Invalid(format!(
            "zone serial {} differs from the transfer's SOA {}",
            zone.info.serial, soa.serial
        )));
    }
    Ok(Built::New(Box::new(zone), soa, how, None))
}

fn expire_in(limits: &TimerLimits, soa: SoaTimers) -> Duration {
    limits.expire(soa.expire)
}

/// The net changes of an IXFR, for the journal.
struct Changes {
    from: u32,
    removed: Vec<Rec>,
    added: Vec<Rec>,
    soa: Rec,
}

fn record(r: Rec) -> journal::Record {
    journal::Record {
        owner: r.owner,
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: r.rdata,
    }
}

/// Writes a new version to disk: an IXFR's changes appended to the zone's
/// journal when it leads there, else a whole snapshot. Returns true when the
/// journal has grown past a quarter of the snapshot (and 1 MiB): time to
/// write a snapshot.
async fn persist_version(
    dir: &std::path::Path,
    life: &Arc<Life>,
    zone: Arc<Zone>,
    primary: SocketAddr,
    how: &str,
    expire: Duration,
    changes: Option<Box<Changes>>,
) -> bool {
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
    let r = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
        let _disk = life.disk();
        if !life.alive() {
            return Ok(false);
        }
        std::fs::create_dir_all(&dir)?;
        if let Some(changes) = changes {
            let Changes {
                from,
                removed,
                added,
                soa,
            } = *changes;
            let entry = journal::Entry {
                from,
                to: zone.info.serial,
                meta: meta.clone(),
                soa: record(soa),
                removed: removed.into_iter().map(record).collect(),
                added: added.into_iter().map(record).collect(),
            };
            match journal::append(&dir, zone.apex(), &entry) {
                Ok(journal::Appended::Yes {
                    journal_bytes,
                    snapshot_bytes,
                }) => return Ok(journal_bytes > (snapshot_bytes / 4).max(1 << 20)),
                Ok(journal::Appended::NeedsSnapshot) => {}
                Err(e) => warn!(zone = %name::to_text(zone.apex()), "journal append failed, writing a snapshot: {e}"),
            }
        }
        persist::write_zone(&dir, &zone, &meta).map(|_| false)
    })
    .await;
    match r {
        Ok(Ok(compact)) => compact,
        Ok(Err(e)) => {
            warn!(zone = %apex, "could not persist the new version: {e}");
            false
        }
        Err(e) => {
            warn!(zone = %apex, "persist task failed: {e}");
            false
        }
    }
}

fn counted(kind: TransferKind) -> Kind {
    match kind {
        TransferKind::Axfr => Kind::Axfr,
        TransferKind::Ixfr { .. } => Kind::Ixfr,
    }
}

fn kind_name(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Axfr => "axfr",
        TransferKind::Ixfr { .. } => "ixfr",
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
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
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    let s: u32 = it.next()?.parse().ok()?;
    let at: u64 = it.next()?.parse().ok()?;
    (s == serial).then_some(at)
}
