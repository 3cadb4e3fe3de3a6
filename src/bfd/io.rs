//! The tokio layer around `fsm`: the [`Bfd`] service owns the receive
//! sockets (UDP 3784 single-hop, 4784 multihop, per address family, bound
//! on demand), demultiplexes received packets to sessions, and runs one
//! task per session.
//!
//! Tasks: one receive task per socket, one task per session. The receive
//! task decodes into a fixed buffer, checks the TTL (single-hop: exactly
//! 255, RFC 5881 5; multihop: at least the session's `min_ttl`, RFC 5883
//! 2), finds the session (Your Discriminator, else source address and
//! hop mode) and hands the packet (a small `Copy` value) to the session's
//! bounded channel; anything refused costs a counter, never a log line
//! per packet (an unknown source is logged at most once a minute). The
//! session task owns its state machine, its transmit socket and its two
//! timers (`sleep_until` on tokio's clock), so a detection fires on its
//! own deadline whatever the other sessions do; the sessions are few (one
//! per BGP peer, at most [`MAX_SESSIONS`]).
//!
//! Dropping a [`SessionHandle`] ends its session: AdminDown (diag 7) is
//! sent at once and with the next periodic packets, up to
//! [`ADMIN_DOWN_PACKETS`] or [`ADMIN_DOWN_LINGER`], then the session is
//! freed. Dropping the last clone of [`Bfd`] stops the receive tasks.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::fsm::{Action, Config, DownCause, Event, Session};
use super::packet::{DecodeError, Diag, Packet, State};
use super::sock;

pub const SINGLE_HOP_PORT: u16 = 3784;
pub const MULTIHOP_PORT: u16 = 4784;
/// At most this many sessions per service.
pub const MAX_SESSIONS: usize = 1024;
/// AdminDown packets sent by a session whose handle was dropped.
pub const ADMIN_DOWN_PACKETS: u32 = 3;
/// ... and the longest it lingers to send them.
pub const ADMIN_DOWN_LINGER: Duration = Duration::from_secs(3);
/// Packets waiting for a session task; more are dropped and counted.
const QUEUE: usize = 16;
/// Receive buffer: a Control packet is at most 255 octets (length field).
const RECV_BUF: usize = 512;
const LOG_EVERY: Duration = Duration::from_secs(60);
const LOG_SOURCES: usize = 1024;

/// One BFD session to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub remote: IpAddr,
    /// Source address of our packets (the wildcard when None).
    pub local: Option<IpAddr>,
    pub multihop: bool,
    /// Least TTL accepted; single-hop always requires 255.
    pub min_ttl: u8,
    /// DesiredMinTxInterval and RequiredMinRxInterval.
    pub interval: Duration,
    pub multiplier: u8,
}

impl SessionConfig {
    /// Single-hop, 300 ms x 3.
    pub fn single_hop(remote: IpAddr) -> SessionConfig {
        SessionConfig {
            remote,
            local: None,
            multihop: false,
            min_ttl: 255,
            interval: Duration::from_millis(300),
            multiplier: 3,
        }
    }

    pub fn multihop(remote: IpAddr, min_ttl: u8) -> SessionConfig {
        SessionConfig {
            multihop: true,
            min_ttl,
            ..SessionConfig::single_hop(remote)
        }
    }

    fn fsm(&self) -> Config {
        Config {
            desired_min_tx: self.interval,
            required_min_rx: self.interval,
            detect_mult: self.multiplier,
        }
    }
}

/// UDP ports: where we listen and where peers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub single_hop: u16,
    pub multihop: u16,
    pub peer_single_hop: u16,
    pub peer_multihop: u16,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports::new(SINGLE_HOP_PORT, MULTIHOP_PORT)
    }
}

impl Ports {
    /// The same ports for listening and for peers.
    pub fn new(single_hop: u16, multihop: u16) -> Ports {
        Ports {
            single_hop,
            multihop,
            peer_single_hop: single_hop,
            peer_multihop: multihop,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BfdError {
    #[error("BFD: not inside a tokio runtime")]
    NoRuntime,
    #[error("BFD: cannot bind the {what} receive socket on port {port}: {source}")]
    Bind {
        what: &'static str,
        port: u16,
        source: io::Error,
    },
    #[error("BFD session to {remote}: no transmit socket (source ports 49152-65535): {source}")]
    TransmitSocket { remote: IpAddr, source: io::Error },
    #[error("BFD session to {remote}: a session to this peer ({hop}) exists already")]
    Duplicate { remote: IpAddr, hop: &'static str },
    #[error("BFD session to {remote}: {MAX_SESSIONS} sessions already")]
    TooMany { remote: IpAddr },
}

/// Why the session is where it is, for the BGP client and /metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdStatus {
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    pub remote_diag: Diag,
    /// Why it is (or last was) Down; see [`DownCause::is_path_failure`].
    pub down_cause: DownCause,
    pub detection_time: Option<Duration>,
    /// The periodic interval before jitter; None when the peer wants none.
    pub tx_interval: Option<Duration>,
    pub up_transitions: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// This session's drops: bad TTL, queue full, discarded by the FSM.
    pub packets_dropped: u64,
    /// When `state` was entered.
    pub since: SystemTime,
    pub since_instant: Instant,
    pub remote: IpAddr,
    pub multihop: bool,
    pub local_discriminator: u32,
}

/// Service-wide drops, for /metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// No session for the discriminator / source address.
    pub unknown_session: u64,
    /// TTL not 255 (single-hop) or below the session's minimum (multihop).
    pub bad_ttl: u64,
    /// Refused by `Packet::decode` (other than authentication).
    pub malformed: u64,
    /// The A bit: no authentication configured.
    pub auth: u64,
    /// The session's queue was full.
    pub queue_full: u64,
}

#[derive(Default)]
struct ServiceCounters {
    unknown_session: AtomicU64,
    bad_ttl: AtomicU64,
    malformed: AtomicU64,
    auth: AtomicU64,
    queue_full: AtomicU64,
}

#[derive(Default)]
struct SessionCounters {
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    dropped_fsm: AtomicU64,
    dropped_rx: AtomicU64,
}

impl SessionCounters {
    fn fill(&self, s: &mut BfdStatus) {
        s.packets_in = self.packets_in.load(Ordering::Relaxed);
        s.packets_out = self.packets_out.load(Ordering::Relaxed);
        s.packets_dropped = self.dropped_fsm.load(Ordering::Relaxed) + self.dropped_rx.load(Ordering::Relaxed);
    }
}

struct Entry {
    remote: IpAddr,
    multihop: bool,
    min_ttl: u8,
    queue: mpsc::Sender<Packet>,
    counters: Arc<SessionCounters>,
}

#[derive(Default)]
struct Registry {
    by_discr: HashMap<u32, Entry>,
    /// (remote, multihop) -> discriminator of the live session.
    by_addr: HashMap<(IpAddr, bool), u32>,
    /// Receive sockets bound: (IPv6, multihop).
    bound: Vec<(bool, bool)>,
    logged: HashMap<IpAddr, Instant>,
    rng: u64,
}

impl Registry {
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Whether an unknown source may be logged now (once a minute each).
    fn may_log(&mut self, src: IpAddr, now: Instant) -> bool {
        if let Some(t) = self.logged.get(&src) {
            if now.duration_since(*t) < LOG_EVERY {
                return false;
            }
        }
        if self.logged.len() >= LOG_SOURCES {
            self.logged.retain(|_, t| now.duration_since(*t) < LOG_EVERY);
            if self.logged.len() >= LOG_SOURCES {
                return false;
            }
        }
        self.logged.insert(src, now);
        true
    }
}

struct Shared {
    ports: Ports,
    registry: Mutex<Registry>,
    counters: ServiceCounters,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // a panic elsewhere leaves the maps consistent (no multi-step updates)
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    receivers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self.receivers.get_mut().unwrap_or_else(|e| e.into_inner());
        for t in tasks.drain(..) {
            t.abort();
        }
    }
}

/// The BFD service; clones share it.
#[derive(Clone)]
pub struct Bfd {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bfd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bfd").field("sessions", &self.sessions()).finish()
    }
}

/// A running session; dropping it ends the session (AdminDown).
pub struct SessionHandle {
    status: watch::Receiver<BfdStatus>,
    counters: Arc<SessionCounters>,
    discr: u32,
    _stop: oneshot::Sender<()>,
    #[cfg(test)]
    task: JoinHandle<()>,
}

impl SessionHandle {
    /// Follows the session: a new value on every change of state, diag,
    /// detection time or interval (not on every packet).
    pub fn watch(&self) -> watch::Receiver<BfdStatus> {
        self.status.clone()
    }

    /// The current status with the live packet counters.
    pub fn status(&self) -> BfdStatus {
        let mut s = self.status.borrow().clone();
        self.counters.fill(&mut s);
        s
    }

    pub fn local_discriminator(&self) -> u32 {
        self.discr
    }

    /// Tests: the session vanishes without a word, as if the host died.
    #[cfg(test)]
    pub(crate) fn kill(self) {
        self.task.abort();
    }
}

impl Bfd {
    /// Binds the receive sockets that `sessions` need (called at start-up,
    /// so a port in use fails the start with a clear error). Must be called
    /// inside a tokio runtime.
    pub fn bind(sessions: &[SessionConfig], ports: Ports) -> Result<Bfd, BfdError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BfdError::NoRuntime)?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()) << 32;
        let bfd = Bfd {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    ports,
                    registry: Mutex::new(Registry {
                        rng: seed,
                        ..Registry::default()
                    }),
                    counters: ServiceCounters::default(),
                }),
                runtime,
                receivers: Mutex::new(Vec::new()),
            }),
        };
        for s in sessions {
            bfd.ensure_socket(s.remote.is_ipv6(), s.multihop)?;
        }
        Ok(bfd)
    }

    /// The service-wide drop counters.
    pub fn drops(&self) -> DropCounters {
        let c = &self.inner.shared.counters;
        DropCounters {
            unknown_session: c.unknown_session.load(Ordering::Relaxed),
            bad_ttl: c.bad_ttl.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            auth: c.auth.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
        }
    }

    /// Sessions registered (including those still sending AdminDown).
    pub fn sessions(&self) -> usize {
        self.inner.shared.registry().by_discr.len()
    }

    fn ensure_socket(&self, v6: bool, multihop: bool) -> Result<(), BfdError> {
        let shared = &self.inner.shared;
        if shared.registry().bound.contains(&(v6, multihop)) {
            return Ok(());
        }
        let port = if multihop {
            shared.ports.multihop
        } else {
            shared.ports.single_hop
        };
        let what = match (v6, multihop) {
            (false, false) => "IPv4 single-hop",
            (true, false) => "IPv6 single-hop",
            (false, true) => "IPv4 multihop",
            (true, true) => "IPv6 multihop",
        };
        let bind_err = |source| BfdError::Bind { what, port, source };
        let socket = sock::receive_socket(v6, port).map_err(bind_err)?;
        let fd = {
            let _guard = self.inner.runtime.enter();
            tokio::net::UdpSocket::from_std(socket.into()).map_err(bind_err)?
        };
        shared.registry().bound.push((v6, multihop));
        let task = self.inner.runtime.spawn(receive(fd, multihop, shared.clone()));
        self.inner
            .receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        Ok(())
    }

    /// Starts a session; binds a missing receive socket (a reload may add
    /// BFD to a peer).
    pub fn add(&self, cfg: SessionConfig) -> Result<SessionHandle, BfdError> {
        self.ensure_socket(cfg.remote.is_ipv6(), cfg.multihop)?;
        let shared = self.inner.shared.clone();
        let hop = if cfg.multihop { "multihop" } else { "single-hop" };
        let (discr, start_port) = {
            let mut reg = shared.registry();
            if reg.by_addr.contains_key(&(cfg.remote, cfg.multihop)) {
                return Err(BfdError::Duplicate {
                    remote: cfg.remote,
                    hop,
                });
            }
            if reg.by_discr.len() >= MAX_SESSIONS {
                return Err(BfdError::TooMany { remote: cfg.remote });
            }
            let mut d = 0;
            while d == 0 || reg.by_discr.contains_key(&d) {
                d = reg.next() as u32;
            }
            (d, reg.next() as u16)
        };
        let tx = sock::transmit_socket(cfg.remote, cfg.local, start_port)
            .and_then(|s| {
                let _guard = self.inner.runtime.enter();
                tokio::net::UdpSocket::from_std(s)
            })
            .map_err(|source| BfdError::TransmitSocket {
                remote: cfg.remote,
                source,
            })?;
        let dest_port = if cfg.multihop {
            shared.ports.peer_multihop
        } else {
            shared.ports.peer_single_hop
        };
        let (queue, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(SessionCounters::default());
        let seed = shared.registry().next();
        let fsm = Session::new(cfg.fsm(), discr, seed);
        let status = status_of(&fsm, &cfg, None);
        let (status_tx, status_rx) = watch::channel(status);
        let (stop_tx, stop_rx) = oneshot::channel();
        {
            let mut reg = shared.registry();
            if reg.by_addr.contains_key(&(cfg.remote, cfg.multihop)) {
                return Err(BfdError::Duplicate {
                    remote: cfg.remote,
                    hop,
                });
            }
            reg.by_addr.insert((cfg.remote, cfg.multihop), discr);
            reg.by_discr.insert(
                discr,
                Entry {
                    remote: cfg.remote,
                    multihop: cfg.multihop,
                    min_ttl: if cfg.multihop { cfg.min_ttl } else { 255 },
                    queue,
                    counters: counters.clone(),
                },
            );
        }
        tracing::info!(peer = %cfg.remote, hop, discriminator = discr, "BFD session started");
        let runner = Runner {
            dest: SocketAddr::new(cfg.remote, dest_port),
            fsm,
            cfg,
            socket: tx,
            status: status_tx,
            counters: counters.clone(),
            shared,
            tx_at: None,
            detect_at: None,
            stopping: None,
            last_tx_error: None,
        };
        let task = self.inner.runtime.spawn(runner.run(rx, stop_rx));
        #[cfg(not(test))]
        drop(task);
        Ok(SessionHandle {
            status: status_rx,
            counters,
            discr,
            _stop: stop_tx,
            #[cfg(test)]
            task,
        })
    }
}

fn status_of(fsm: &Session, cfg: &SessionConfig, prev: Option<&BfdStatus>) -> BfdStatus {
    let c = fsm.counters();
    let (since, since_instant) = match prev {
        Some(p) if p.state == fsm.state() => (p.since, p.since_instant),
        _ => (SystemTime::now(), Instant::now()),
    };
    BfdStatus {
        state: fsm.state(),
        remote_state: fsm.remote_state(),
        local_diag: fsm.local_diag(),
        remote_diag: c.last_remote_diag,
        down_cause: fsm.down_cause(),
        detection_time: fsm.detection_time(),
        tx_interval: fsm.tx_interval(),
        up_transitions: c.up_transitions,
        packets_in: c.packets_in,
        packets_out: c.packets_out,
        packets_dropped: c.dropped(),
        since,
        since_instant,
        remote: cfg.remote,
        multihop: cfg.multihop,
        local_discriminator: fsm.local_discriminator(),
    }
}

/// Whether the status changed in a way a watcher cares about.
fn differs(a: &BfdStatus, b: &BfdStatus) -> bool {
    (a.state, a.remote_state, a.local_diag, a.remote_diag, a.down_cause)
        != (b.state, b.remote_state, b.local_diag, b.remote_diag, b.down_cause)
        || (a.detection_time, a.tx_interval) != (b.detection_time, b.tx_interval)
}

async fn receive(socket: tokio::net::UdpSocket, multihop: bool, shared: Arc<Shared>) {
    let mut buf = [0u8; RECV_BUF];
    let c = &shared.counters;
    loop {
        let fd = socket.as_raw_fd();
        let dgram = match socket
            .async_io(Interest::READABLE, || sock::recv_with_ttl(fd, &mut buf))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "BFD recvmsg");
                continue;
            }
        };
        let packet = match Packet::decode(&buf[..dgram.len.min(RECV_BUF)]) {
            Ok(p) => p,
            Err(DecodeError::Authenticated) => {
                c.auth.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(_) => {
                c.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let src = dgram.source.ip();
        let mut reg = shared.registry();
        let discr = if packet.your_discr != 0 {
            Some(packet.your_discr)
        } else {
            reg.by_addr.get(&(src, multihop)).copied()
        };
        let entry = discr
            .and_then(|d| reg.by_discr.get(&d))
            .filter(|e| e.remote == src && e.multihop == multihop);
        let Some(entry) = entry else {
            c.unknown_session.fetch_add(1, Ordering::Relaxed);
            if reg.may_log(src, Instant::now()) {
                tracing::info!(source = %src, multihop, your_discriminator = packet.your_discr,
                    "BFD packet for no session (logged once a minute per source)");
            }
            continue;
        };
        let ttl_ok = dgram.ttl.is_some_and(|t| t >= entry.min_ttl);
        if !ttl_ok {
            c.bad_ttl.fetch_add(1, Ordering::Relaxed);
            entry.counters.dropped_rx.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if entry.queue.try_send(packet).is_err() {
            c.queue_full.fetch_add(1, Ordering::Relaxed);
            entry.counters.dropped_rx.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Runner {
    fsm: Session,
    cfg: SessionConfig,
    dest: SocketAddr,
    socket: tokio::net::UdpSocket,
    status: watch::Sender<BfdStatus>,
    counters: Arc<SessionCounters>,
    shared: Arc<Shared>,
    tx_at: Option<tokio::time::Instant>,
    detect_at: Option<tokio::time::Instant>,
    /// Packets left to send and the deadline, once the handle is gone.
    stopping: Option<(u32, tokio::time::Instant)>,
    last_tx_error: Option<Instant>,
}

impl Runner {
    async fn run(mut self, mut packets: mpsc::Receiver<Packet>, mut stop: oneshot::Receiver<()>) {
        let actions = self.fsm.handle(tokio::time::Instant::now().into_std(), Event::Start);
        self.apply(actions).await;
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let event = tokio::select! {
                biased;
                _ = &mut stop, if self.stopping.is_none() => {
                    // handle dropped: leave the address to a successor at once
                    let mut reg = self.shared.registry();
                    let key = (self.cfg.remote, self.cfg.multihop);
                    if reg.by_addr.get(&key) == Some(&self.fsm.local_discriminator()) {
                        reg.by_addr.remove(&key);
                    }
                    drop(reg);
                    self.stopping = Some((ADMIN_DOWN_PACKETS, tokio::time::Instant::now() + ADMIN_DOWN_LINGER));
                    Event::AdminDown
                }
                _ = tokio::time::sleep_until(self.stopping.map_or(far, |s| s.1)), if self.stopping.is_some() => break,
                _ = tokio::time::sleep_until(self.detect_at.unwrap_or(far)), if self.detect_at.is_some() => {
                    self.detect_at = None;
                    Event::DetectTimer
                }
                _ = tokio::time::sleep_until(self.tx_at.unwrap_or(far)), if self.tx_at.is_some() => {
                    self.tx_at = None;
                    Event::TxTimer
                }
                p = packets.recv() => match p {
                    Some(p) => Event::Received(p),
                    None => break,
                },
            };
            let actions = self.fsm.handle(tokio::time::Instant::now().into_std(), event);
            self.apply(actions).await;
            if self.stopping.is_some_and(|s| s.0 == 0) {
                break;
            }
        }
        let discr = self.fsm.local_discriminator();
        let mut reg = self.shared.registry();
        reg.by_discr.remove(&discr);
        let key = (self.cfg.remote, self.cfg.multihop);
        if reg.by_addr.get(&key) == Some(&discr) {
            reg.by_addr.remove(&key);
        }
        drop(reg);
        tracing::info!(peer = %self.cfg.remote, discriminator = discr, "BFD session ended");
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        let now = tokio::time::Instant::now();
        for a in actions {
            match a {
                Action::Send(p) => {
                    if let Err(e) = self.socket.send_to(&p.encode(), self.dest).await {
                        let t = Instant::now();
                        if self.last_tx_error.is_none_or(|l| t.duration_since(l) >= LOG_EVERY) {
                            self.last_tx_error = Some(t);
                            tracing::warn!(peer = %self.dest, error = %e, "BFD send failed (logged once a minute)");
                        }
                    }
                    if let Some(s) = &mut self.stopping {
                        s.0 = s.0.saturating_sub(1);
                    }
                }
                Action::ArmTx(d) => self.tx_at = Some(now + d),
                Action::DisarmTx => self.tx_at = None,
                Action::ArmDetect(d) => self.detect_at = Some(now + d),
                Action::DisarmDetect => self.detect_at = None,
                Action::StateChanged { from, to, diag, cause } => {
                    let cause = cause.map(DownCause::name).unwrap_or("");
                    if to == State::Up || from == State::Up {
                        tracing::info!(peer = %self.cfg.remote, %from, %to, %diag, cause, "BFD session state");
                    } else {
                        tracing::debug!(peer = %self.cfg.remote, %from, %to, %diag, cause, "BFD session state");
                    }
                }
            }
        }
        let c = self.fsm.counters();
        self.counters.packets_in.store(c.packets_in, Ordering::Relaxed);
        self.counters.packets_out.store(c.packets_out, Ordering::Relaxed);
        self.counters.dropped_fsm.store(c.dropped(), Ordering::Relaxed);
        let (fsm, cfg, counters) = (&self.fsm, &self.cfg, &self.counters);
        self.status.send_if_modified(|cur| {
            let mut next = status_of(fsm, cfg, Some(cur));
            counters.fill(&mut next);
            let changed = differs(cur, &next);
            if changed {
                *cur = next;
            }
            changed
        });
    }
}

#[cfg(test)]
#[path = "io_tests.rs"]
mod tests;
