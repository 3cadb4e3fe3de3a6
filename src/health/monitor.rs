//! The health task and its handle: every `health.interval` it looks at the
//! maintenance file, checks every zone's state in the store, probes the
//! listeners over UDP, feeds the result to the [`Core`] state machine and
//! publishes each transition on the watch channel, with a log line.
//!
//! The supervisor holds a [`Monitor`]: it hands [`Monitor::subscribe`] to
//! the BGP speaker, reports a dead listener ([`Monitor::listener_died`])
//! and shutdown ([`Monitor::stopping`]), and hands it the listener workers
//! to watch ([`Monitor::watch_workers`]). A death and shutdown publish at
//! once, from the caller, under the same lock the task uses, so nothing
//! the task does later can undo them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use super::machine::{Core, Transition};
use super::probe::{self, Rotation, Target, ZONES_PER_ROUND};
use super::zones::{Answering, Pending, check_zones, thousands};
use super::{Announce, Health, HealthRx, HealthTx, State};
use crate::config::{Config, HealthProbe, MaxFailed};
use crate::zone::{Store, name};

/// Longest wait for a probe's answer; shorter when the interval is.
const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Shortest wait for a probe's answer, however short the interval.
const MIN_PROBE_TIMEOUT: Duration = Duration::from_millis(50);

/// What the health task needs from the config and the supervisor.
#[derive(Clone)]
pub struct Options {
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
    /// `health.probe`; `None`: the SOA of every zone.
    pub probe: Option<HealthProbe>,
    pub maintenance_file: PathBuf,
    /// How long `Draining` lasts before `Drained`.
    pub drain: Duration,
    /// The listeners' addresses as bound (wildcards are probed on loopback).
    pub listen: Vec<SocketAddr>,
    /// Apexes (lowercase wire) of the configured zones: until the node has
    /// been healthy once, one not yet in the store holds it back.
    pub zones: Vec<Box<[u8]>>,
    /// Apexes of `health.critical-zones`.
    pub critical: Vec<Box<[u8]>>,
    /// `health.max-failed-zones`.
    pub max_failed: MaxFailed,
    /// Whether a zone without a version still waits for its first attempt
    /// (see `zones`); default: never (every such zone failed).
    pub pending: Pending,
    /// Whether a failed zone's primaries answered (a failure upstream, not
    /// counted towards "cut off"; see `zones`); default: never.
    pub answering: Answering,
    /// The node's cookie secrets: probes present a valid server cookie,
    /// so that response rate limiting never applies to them.
    pub cookies: Option<Cookies>,
}

/// The cookie secrets the DNS listeners check cookies with.
pub type Cookies = Arc<arc_swap::ArcSwap<crate::cookie::Secrets>>;

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("interval", &self.interval)
            .field("rise", &self.rise)
            .field("fall", &self.fall)
            .field("probe", &self.probe)
            .field("maintenance_file", &self.maintenance_file)
            .field("drain", &self.drain)
            .field("listen", &self.listen)
            .field("zones", &self.zones.len())
            .field("critical", &self.critical.len())
            .field("max_failed", &self.max_failed)
            .finish_non_exhaustive()
    }
}

fn apexes<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Box<[u8]>> {
    names
        .filter_map(|n| name::from_text(n).ok())
        .map(Vec::into_boxed_slice)
        .collect()
}

impl Options {
    /// The `[health]` settings and zones of `config`, probing `listen`.
    pub fn new(config: &Config, listen: Vec<SocketAddr>) -> Options {
        let h = &config.health;
        Options {
            interval: h.interval,
            rise: h.rise,
            fall: h.fall,
            probe: h.probe.clone(),
            maintenance_file: h.maintenance_file.clone(),
            drain: h.drain,
            listen,
            zones: apexes(config.zones.iter().map(|z| z.name.as_str())),
            critical: apexes(h.critical_zones.iter().map(String::as_str)),
            max_failed: h.max_failed_zones,
            pending: Arc::new(|_: &[u8]| false),
            answering: Arc::new(|_: &[u8]| false),
            cookies: None,
        }
    }

    /// Probes present a cookie made with these secrets.
    pub fn with_cookies(mut self, cookies: Cookies) -> Options {
        self.cookies = Some(cookies);
        self
    }

    /// Tells which zones without a version still wait for their first
    /// attempt (the supervisor asks the secondary engine).
    pub fn with_pending(mut self, pending: Pending) -> Options {
        self.pending = pending;
        self
    }

    /// Tells which failed zones failed upstream, their primaries answering
    /// (the supervisor asks the secondary engine).
    pub fn with_answering(mut self, answering: Answering) -> Options {
        self.answering = answering;
        self
    }

    /// How long a probe waits for its answer: the interval, at most 1 s,
    /// at least 50 ms.
    pub fn probe_timeout(&self) -> Duration {
        self.interval.clamp(MIN_PROBE_TIMEOUT, MAX_PROBE_TIMEOUT)
    }
}

/// Counters and the last check, for metrics and the status API.
#[derive(Debug, Default)]
pub struct Stats {
    /// Check rounds run, and how many failed.
    pub rounds: AtomicU64,
    pub rounds_failed: AtomicU64,
    /// DNS queries sent to the node's own listeners, and how many failed.
    pub probes_sent: AtomicU64,
    pub probes_failed: AtomicU64,
    /// Changes of the published state.
    pub transitions: AtomicU64,
    /// Good / bad check rounds in a row (what rise and fall count).
    pub consecutive_ok: AtomicU32,
    pub consecutive_fail: AtomicU32,
    /// The maintenance file was present at the last look.
    pub maintenance: AtomicBool,
    last: Mutex<Option<LastCheck>>,
}

/// The outcome of the last check round.
#[derive(Debug, Clone)]
pub struct LastCheck {
    pub at: Instant,
    pub took: Duration,
    pub ok: bool,
    /// What failed first ("zone example.net expired", "probe ... REFUSED"),
    /// or "all checks pass".
    pub reason: String,
    pub zones: usize,
    pub zone_problems: usize,
    /// Zone-level failures (answering SERVFAIL, reported, not withdrawing
    /// below `max-failed-zones`) and zones waiting for a first transfer.
    pub zones_failed: usize,
    pub zones_pending: usize,
    pub probes: usize,
    pub probes_failed: usize,
}

impl Stats {
    pub fn last_check(&self) -> Option<LastCheck> {
        lock(&self.last).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Shared {
    core: Mutex<Core>,
    tx: HealthTx,
    stats: Arc<Stats>,
}

impl Shared {
    /// Runs `f` on the state machine; publishes and logs what it changed.
    fn apply(&self, f: impl FnOnce(&mut Core, Instant) -> Option<Transition>) -> Option<Transition> {
        let mut core = lock(&self.core);
        let t = f(&mut core, Instant::now())?;
        self.stats.transitions.fetch_add(1, Ordering::Relaxed);
        let health = Health::new(t.to, t.reason.clone());
        log_transition(&t, health.announce());
        self.tx.send_replace(health);
        Some(t)
    }
}

fn announce_name(a: Announce) -> &'static str {
    match a {
        Announce::Normal => "announce",
        Announce::GracefulShutdown => "announce-graceful-shutdown",
        Announce::Withdraw => "withdraw",
    }
}

fn log_transition(t: &Transition, announce: Announce) {
    let (reason, from, bgp) = (&t.reason, t.from, announce_name(announce));
    match t.to {
        State::Unhealthy => warn!(reason = %reason, from = %from, bgp = %bgp, "health: unhealthy"),
        State::Starting => info!(reason = %reason, from = %from, bgp = %bgp, "health: starting"),
        State::Healthy => info!(reason = %reason, from = %from, bgp = %bgp, "health: healthy"),
        State::Draining => info!(reason = %reason, from = %from, bgp = %bgp, "health: draining"),
        State::Drained => info!(reason = %reason, from = %from, bgp = %bgp, "health: drained"),
        State::Stopping => info!(reason = %reason, from = %from, bgp = %bgp, "health: stopping"),
    }
}

/// The handle to the health task. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
    /// `health.interval` × `fall`: how long a stuck worker may wait.
    stuck_limit: Duration,
    interval: Duration,
}

impl Monitor {
    /// Starts the health task on the current tokio runtime. The published
    /// state is `Starting` until the first `rise` checks pass.
    pub fn start(opts: Options, store: Store) -> Monitor {
        let maintenance = format!("maintenance file {} present", opts.maintenance_file.display());
        let core = Core::new(opts.rise, opts.fall, opts.drain, maintenance);
        let (tx, _rx) = tokio::sync::watch::channel(Health::new(State::Starting, core.reason()));
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            tx,
            stats: Arc::default(),
        });
        info!(
            interval = %crate::config::format_duration(opts.interval),
            rise = opts.rise,
            fall = opts.fall,
            probe = %opts.probe.as_ref().map_or_else(|| "SOA of every zone".to_string(), |p| format!("{} {}", p.name, crate::zone::build::type_name(p.qtype))),
            listeners = ?opts.listen,
            maintenance_file = %opts.maintenance_file.display(),
            "health: checks started"
        );
        let (stuck_limit, interval) = (opts.interval.saturating_mul(opts.fall.max(1)), opts.interval);
        tokio::spawn(run(shared.clone(), opts, store));
        Monitor {
            shared,
            stuck_limit,
            interval,
        }
    }

    /// A receiver for the BGP speaker (or anyone else) to follow.
    pub fn subscribe(&self) -> HealthRx {
        self.shared.tx.subscribe()
    }

    /// The state published now.
    pub fn current(&self) -> Health {
        self.shared.tx.borrow().clone()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Follows the listener workers' progress: a worker that makes none
    /// for `interval` × `fall` with work waiting publishes `Unhealthy` at
    /// once, and fails every check round until it moves (see `stuck`).
    pub fn watch_workers(&self, workers: Arc<super::Workers>) {
        let shared = self.shared.clone();
        let period = super::stuck::sample_period(self.interval);
        tokio::spawn(super::stuck::watch(workers, self.stuck_limit, period, move |why| {
            shared.apply(|c, now| c.set_stuck(now, why.as_deref()));
        }));
    }

    /// A DNS listener died: publishes `Unhealthy` now (no waiting for
    /// `fall`); it stays so.
    pub fn listener_died(&self, why: &str) {
        self.shared.apply(|c, now| c.listener_died(now, why));
    }

    /// The node is shutting down: publishes `Stopping` now (withdraw) and
    /// returns what was published before, so the caller can tell whether
    /// anything was announced.
    pub fn stopping(&self, why: &str) -> Health {
        let mut before = None;
        self.shared.apply(|c, now| {
            // Read under the lock that every publication holds.
            before = Some(self.shared.tx.borrow().clone());
            c.stopping(now, why)
        });
        before.unwrap_or_else(|| self.current())
    }
}

/// The health task: one check round per interval, the drain timer between.
async fn run(shared: Arc<Shared>, opts: Options, store: Store) {
    let mut ticker = tokio::time::interval(opts.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rotation = Rotation::default();
    let mut previous: Option<(bool, String)> = None;
    let mut seen_healthy = false;
    let mut maintenance_error = false;
    let mut failed_before = 0;
    let configured_probe = opts.probe.as_ref().and_then(|p| match name::from_text(&p.name) {
        Ok(n) => Some(Target::configured(&n, p.qtype)),
        Err(e) => {
            error!(
                "health.probe {:?} is not a valid name ({e}); probing the zones' SOA instead",
                p.name
            );
            None
        }
    });
    loop {
        let deadline = lock(&shared.core).next_deadline();
        tokio::select! {
            _ = ticker.tick() => {}
            _ = sleep_until(deadline), if deadline.is_some() => {
                shared.apply(|c, now| c.tick(now));
                continue;
            }
        }
        // Maintenance: a stat on the blocking pool (the file may live on a
        // slow filesystem). An error other than "absent" keeps the last view.
        let path = opts.maintenance_file.clone();
        match tokio::task::spawn_blocking(move || path.try_exists()).await {
            Ok(Ok(present)) => {
                maintenance_error = false;
                shared.stats.maintenance.store(present, Ordering::Relaxed);
                shared.apply(|c, now| c.set_maintenance(now, present));
            }
            Ok(Err(e)) => {
                if !maintenance_error {
                    warn!(file = %opts.maintenance_file.display(), "health: cannot check the maintenance file: {e}");
                }
                maintenance_error = true;
            }
            Err(e) => warn!("health: maintenance check failed: {e}"),
        }
        shared.apply(|c, now| c.tick(now));

        // Until the node has been healthy once, a zone still waiting for
        // its first transfer keeps it withdrawn (a fresh node must not
        // announce SERVFAILs). Afterwards a zone added later that has not
        // transferred yet does not withdraw every other zone with it.
        let started_up = seen_healthy || lock(&shared.core).state() == State::Healthy;
        seen_healthy = started_up;
        let mut round = check_round(&opts, &store, configured_probe.as_ref(), &mut rotation, started_up).await;
        // A stuck listener worker fails the round, whichever worker the
        // probes happened to reach.
        if let Some(why) = lock(&shared.core).stuck().map(str::to_owned) {
            (round.ok, round.reason) = (false, why);
        }
        record(&shared, &round);
        if round.zones_failed != failed_before {
            if round.zones_failed == 0 {
                info!("health: no zone failed any more");
            } else {
                warn!(
                    failed = round.zones_failed,
                    zones = round.zones,
                    max_failed_zones = %opts.max_failed,
                    "health: zones failed (answering SERVFAIL; see GET /zones): {}",
                    round.failed_sample
                );
            }
            failed_before = round.zones_failed;
        }
        let changed = previous
            .as_ref()
            .is_none_or(|(ok, why)| *ok != round.ok || *why != round.reason);
        let t = shared.apply(|c, now| c.observe(now, round.ok, &round.reason));
        let (ok_run, fail_run, rise, fall) = {
            let c = lock(&shared.core);
            let h = c.hysteresis();
            (h.ok_run(), h.fail_run(), h.rise(), h.fall())
        };
        shared.stats.consecutive_ok.store(ok_run, Ordering::Relaxed);
        shared.stats.consecutive_fail.store(fail_run, Ordering::Relaxed);
        if changed && t.is_none() {
            if round.ok {
                if previous.is_some() {
                    info!(in_a_row = %format!("{ok_run}/{rise}"), "health: check passed");
                }
            } else {
                warn!(reason = %round.reason, in_a_row = %format!("{fail_run}/{fall}"), "health: check failed");
            }
        } else {
            debug!(
                ok = round.ok,
                reason = %round.reason,
                zones = round.zones,
                probes = round.probes,
                took_us = round.took.as_micros() as u64,
                "health: check"
            );
        }
        previous = Some((round.ok, round.reason));
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

fn record(shared: &Shared, r: &Round) {
    let s = &shared.stats;
    s.rounds.fetch_add(1, Ordering::Relaxed);
    if !r.ok {
        s.rounds_failed.fetch_add(1, Ordering::Relaxed);
    }
    s.probes_sent.fetch_add(r.probes as u64, Ordering::Relaxed);
    s.probes_failed.fetch_add(r.probes_failed as u64, Ordering::Relaxed);
    *lock(&s.last) = Some(LastCheck {
        at: Instant::now(),
        took: r.took,
        ok: r.ok,
        reason: r.reason.clone(),
        zones: r.zones,
        zone_problems: r.zone_problems,
        zones_failed: r.zones_failed,
        zones_pending: r.zones_pending,
        probes: r.probes,
        probes_failed: r.probes_failed,
    });
}

/// One round's outcome.
#[derive(Debug)]
struct Round {
    ok: bool,
    reason: String,
    took: Duration,
    zones: usize,
    zone_problems: usize,
    zones_failed: usize,
    zones_pending: usize,
    /// The first failed zones, for the log ("a.test expired, b.test not loaded").
    failed_sample: String,
    probes: usize,
    probes_failed: usize,
}

/// Checks every zone's state, then probes every listener.
async fn check_round(
    opts: &Options,
    store: &Store,
    configured: Option<&Target>,
    rotation: &mut Rotation,
    started_up: bool,
) -> Round {
    let started = Instant::now();
    let set = store.snapshot();
    let zones = check_zones(
        &set,
        &opts.zones,
        &opts.critical,
        opts.max_failed,
        &*opts.pending,
        started_up,
        &*opts.answering,
    );
    let mut problems = zones.problems;
    let zone_problems = problems.len();

    // Only zones that answer are probed: a failed zone's SERVFAIL is
    // reported as a zone failure, not as the node failing to answer.
    let mut apexes: Vec<Box<[u8]>> = Vec::new();
    if configured.is_none() {
        apexes = set
            .iter()
            .filter(|s| s.answerable().is_some())
            .map(|s| s.apex.clone())
            .collect();
        apexes.sort_unstable();
    }
    let targets: Vec<Target> = match configured {
        Some(t) => vec![t.clone()],
        None if apexes.is_empty() => vec![Target::liveness()],
        None => rotation
            .pick(&apexes, ZONES_PER_ROUND)
            .iter()
            .map(|a| Target::soa(a))
            .collect(),
    };
    let targets: Arc<[Target]> = targets.into();
    let timeout = opts.probe_timeout();
    let mut listeners: Vec<SocketAddr> = opts.listen.iter().map(|a| probe::probe_addr(*a)).collect();
    listeners.dedup();
    let mut tasks = JoinSet::new();
    let secrets = opts.cookies.as_ref().map(|c| c.load_full());
    for (i, addr) in listeners.iter().copied().enumerate() {
        let targets = targets.clone();
        let secrets = secrets.clone();
        tasks.spawn(async move {
            (
                i,
                probe::probe_listener(addr, &targets, timeout, secrets.as_deref()).await,
            )
        });
    }
    let mut by_listener = vec![Vec::new(); listeners.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, results)) => {
                if let Some(slot) = by_listener.get_mut(i) {
                    *slot = results;
                }
            }
            Err(e) => problems.push(format!("probe task failed: {e}")),
        }
    }
    let mut failed_zones: Vec<Box<[u8]>> = Vec::new();
    let mut probes_failed = 0;
    for (addr, results) in listeners.iter().zip(&by_listener) {
        for (t, r) in targets.iter().zip(results) {
            if let Err(f) = r {
                probes_failed += 1;
                problems.push(format!("probe {t} via {addr}: {f}"));
                if configured.is_none() && !failed_zones.contains(&t.qname) {
                    failed_zones.push(t.qname.clone());
                }
            }
        }
    }
    rotation.failed(failed_zones);
    let ok = problems.is_empty();
    let reason = match problems.len() {
        0 => "all checks pass".to_string(),
        1 => problems.swap_remove(0),
        2 => format!("{} (and 1 more problem)", problems.swap_remove(0)),
        n => format!("{} (and {} more problems)", problems.swap_remove(0), n - 1),
    };
    let mut failed_sample: Vec<String> = zones
        .failed
        .iter()
        .take(3)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
    if zones.failed.len() > 3 {
        failed_sample.push(format!("{} more", thousands(zones.failed.len() - 3)));
    }
    Round {
        ok,
        reason,
        took: started.elapsed(),
        zones: zones.total,
        zone_problems,
        zones_failed: zones.failed.len(),
        zones_pending: zones.pending,
        failed_sample: failed_sample.join(", "),
        probes: targets.len() * listeners.len(),
        probes_failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::store::ZoneSet;
    use std::sync::atomic::AtomicBool;

    fn zone(apex: &str) -> Arc<crate::zone::Zone> {
        let text = format!("$ORIGIN {apex}.\n@ 300 SOA ns host 1 2 3 4 5\n@ 300 NS ns\nns 300 A 192.0.2.1\n");
        Arc::new(load_zone_text(apex, &text).unwrap().zone)
    }

    fn wire(s: &str) -> Box<[u8]> {
        name::from_text(s).unwrap().into()
    }

    /// A listener that answers every query with an authoritative SOA.
    fn responder() -> (SocketAddr, Arc<AtomicBool>) {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !done.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let mut m = buf[..n].to_vec();
                m[2] = 0x84; // QR, AA
                m[7] = 1; // ANCOUNT
                m.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0]);
                m.extend_from_slice(&[0; 20]);
                let _ = sock.send_to(&m, peer);
            }
        });
        (addr, stop)
    }

    async fn wait_state(rx: &mut HealthRx, state: State) {
        let waited = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|h| h.state == state))
            .await
            .is_ok_and(|r| r.is_ok());
        assert!(waited, "no {state} within 5 s: {:?}", *rx.borrow());
    }

    #[tokio::test]
    async fn monitor_follows_probes_maintenance_death_and_shutdown() {
        let (addr, stop) = responder();
        let dir = tempfile::tempdir().unwrap();
        let maintenance = dir.path().join("maintenance");
        let opts = Options {
            interval: Duration::from_millis(20),
            rise: 2,
            fall: 2,
            probe: None,
            maintenance_file: maintenance.clone(),
            drain: Duration::from_millis(60),
            listen: vec![addr],
            zones: vec![wire("a.test"), wire("b.test")],
            critical: vec![wire("a.test")],
            max_failed: MaxFailed::default(),
            pending: Arc::new(|_: &[u8]| false),
            answering: Arc::new(|_: &[u8]| false),
            cookies: None,
        };
        let store = Store::new(ZoneSet::from_zones([zone("a.test"), zone("b.test")]));
        let monitor = Monitor::start(opts, store.clone());
        let mut rx = monitor.subscribe();
        assert_eq!(rx.borrow().state, State::Starting);
        wait_state(&mut rx, State::Healthy).await;
        let stats = monitor.stats();
        assert!(stats.probes_sent.load(Ordering::Relaxed) >= 2);
        assert_eq!(stats.transitions.load(Ordering::Relaxed), 1);
        assert!(
            stats
                .last_check()
                .is_some_and(|c| c.ok && c.zones == 2 && c.probes == 2)
        );

        std::fs::write(&maintenance, b"").unwrap();
        wait_state(&mut rx, State::Draining).await;
        assert_eq!(rx.borrow().announce(), Announce::GracefulShutdown);
        wait_state(&mut rx, State::Drained).await;
        assert!(stats.maintenance.load(Ordering::Relaxed));
        std::fs::remove_file(&maintenance).unwrap();
        wait_state(&mut rx, State::Healthy).await;

        // one expired zone out of two: reported, still healthy (and no
        // longer probed)
        store.update(|set| set.with(zone("b.test"), true));
        let counted = tokio::time::timeout(Duration::from_secs(5), async {
            while stats.last_check().is_none_or(|c| c.zones_failed != 1) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert!(counted.await.is_ok(), "{:?}", stats.last_check());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(monitor.current().state, State::Healthy);
        assert!(stats.last_check().is_some_and(|c| c.ok && c.probes == 1));
        store.update(|set| set.with(zone("b.test"), false));

        // the critical zone expired: unhealthy after `fall` rounds, naming it
        store.update(|set| set.with(zone("a.test"), true));
        wait_state(&mut rx, State::Unhealthy).await;
        assert!(
            rx.borrow().reason.starts_with("critical zone a.test expired"),
            "{:?}",
            *rx.borrow()
        );
        store.update(|set| set.with(zone("a.test"), false));
        wait_state(&mut rx, State::Healthy).await;

        // a dead listener: unhealthy before the call returns
        monitor.listener_died("UDP listener 127.0.0.1:53 worker 0 exited: boom");
        assert_eq!(monitor.current().state, State::Unhealthy);
        let before = monitor.stopping("SIGTERM");
        assert_eq!(before.state, State::Unhealthy);
        assert_eq!(monitor.current().state, State::Stopping);
        assert_eq!(monitor.current().announce(), Announce::Withdraw);
        stop.store(true, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn monitor_without_answers_never_gets_healthy() {
        // Nothing listens on the port: every probe fails.
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let opts = Options {
            interval: Duration::from_millis(20),
            rise: 1,
            fall: 2,
            probe: None,
            maintenance_file: PathBuf::from("/nonexistent/maintenance"),
            drain: Duration::ZERO,
            listen: vec![port],
            zones: vec![wire("a.test")],
            critical: Vec::new(),
            max_failed: MaxFailed::default(),
            pending: Arc::new(|_: &[u8]| false),
            answering: Arc::new(|_: &[u8]| false),
            cookies: None,
        };
        let monitor = Monitor::start(opts, Store::new(ZoneSet::from_zones([zone("a.test")])));
        let mut rx = monitor.subscribe();
        wait_state(&mut rx, State::Unhealthy).await;
        let reason = rx.borrow().reason.clone();
        assert!(
            reason.starts_with(&format!("probe a.test SOA via {port}: ")),
            "{reason}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(monitor.current().state, State::Unhealthy);
    }

    #[test]
    fn probe_timeout_follows_the_interval() {
        let mut o = Options {
            interval: Duration::from_millis(200),
            rise: 2,
            fall: 2,
            probe: None,
            maintenance_file: PathBuf::from("/nonexistent"),
            drain: Duration::ZERO,
            listen: Vec::new(),
            zones: Vec::new(),
            critical: Vec::new(),
            max_failed: MaxFailed::default(),
            pending: Arc::new(|_: &[u8]| false),
            answering: Arc::new(|_: &[u8]| false),
            cookies: None,
        };
        assert_eq!(o.probe_timeout(), Duration::from_millis(200));
        o.interval = Duration::from_secs(5);
        assert_eq!(o.probe_timeout(), Duration::from_secs(1));
        o.interval = Duration::from_millis(10);
        assert_eq!(o.probe_timeout(), Duration::from_millis(50));
    }
}
