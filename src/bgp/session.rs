//! The driver of one peer's session: a tokio task that owns the TCP
//! connection, the timers and the health receiver, turns them into events
//! for the state machine (`fsm`) and carries out its actions. All protocol
//! decisions are the state machine's; this module only does IO.
//!
//! Sockets: an active session connects, bound to `local-address` when
//! set; a passive one takes the connections `listen` hands it. TTL from
//! `multihop` (1 for single-hop eBGP), or 255 with `ttl-security` and the
//! kernel dropping whatever arrives below 256 - `multihop` (GTSM);
//! TCP-MD5 when a password is set. Closing a connection sends a FIN and
//! keeps reading briefly, so that a NOTIFICATION just written reaches the
//! peer before the socket goes away.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout};
use tracing::{debug, error, info, warn};

use super::codec::{self, Decoder};
use super::fsm::{Action, Event, Level, Session, Timer};
use super::sockopt;
use super::status::{BfdLink, Cell, update_cell};
use crate::bfd::{BfdStatus, SessionHandle};
use crate::config::{BgpConfig, BgpPeer};
use crate::health::{Announce, HealthRx};

/// How long a TCP connect may take. A peer that drops our SYNs (wrong
/// TCP-MD5 password, filtered) never answers; the kernel alone would retry
/// for about two minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one write may block (a peer that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the peer's FIN.
const LINGER: Duration = Duration::from_millis(500);

pub(super) enum Command {
    /// Withdraw, send Cease / Administrative Shutdown with this message,
    /// close, end the task; then answer on `done`.
    Stop { reason: String, done: oneshot::Sender<()> },
    /// A reload changed this peer's routes; the session stays up.
    Routes(Box<super::routes::PeerRoutes>),
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// What a session is tied to besides its TCP connection.
pub(super) struct Links {
    /// A passive session's registration with the listeners.
    pub passive: Option<super::listen::Registration>,
    /// The peer's BFD session (`bfd = true`).
    pub bfd: Option<SessionHandle>,
}

/// What woke the task up.
enum Wake {
    Command(Option<Command>),
    Connected(io::Result<TcpStream>),
    /// The peer connected to a passive session.
    Accepted(TcpStream),
    /// The BFD session changed (false: its task is gone).
    Bfd(bool),
    Read(io::Result<usize>),
    Timer,
    Health(bool),
}

pub(super) struct Driver {
    peer: BgpPeer,
    remote: SocketAddr,
    fsm: Session,
    decoder: Decoder,
    /// This peer's entry in the speaker's shared status.
    cell: Cell,
    health: HealthRx,
    health_open: bool,
    commands: mpsc::Receiver<Command>,
    /// A passive session's connections from `listen`.
    passive: Option<super::listen::Registration>,
    /// The peer's BFD session, its changes, and whether it was last Up.
    bfd: Option<BfdLink>,
    bfd_rx: Option<watch::Receiver<BfdStatus>>,
    bfd_up: bool,
    connecting: Option<Connecting>,
    read: Option<OwnedReadHalf>,
    write: Option<OwnedWriteHalf>,
    rbuf: Vec<u8>,
    /// Deadlines by [`timer_index`].
    timers: [Option<Instant>; 4],
}

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
        Timer::Stable => 3,
    }
}

const TIMERS: [(Timer, Event); 4] = [
    (Timer::ConnectRetry, Event::ConnectRetryTimerExpired),
    (Timer::Hold, Event::HoldTimerExpired),
    (Timer::Keepalive, Event::KeepaliveTimerExpired),
    (Timer::Stable, Event::StableTimerExpired),
];

async fn maybe<F: Future + Unpin>(f: Option<&mut F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Driver {
    pub(super) fn new(
        bgp: &BgpConfig,
        index: usize,
        mut health: HealthRx,
        cell: Cell,
        commands: mpsc::Receiver<Command>,
        links: Links,
        seed: u64,
    ) -> Option<Driver> {
        let peer = bgp.peers.get(index)?.clone();
        let bfd = links.bfd.map(|h| BfdLink(Arc::new(h)));
        let bfd_rx = bfd.as_ref().map(|l| l.0.watch());
        update_cell(&cell, |s| s.bfd = bfd.clone());
        let initial = health.borrow_and_update().announce();
        Some(Driver {
            remote: SocketAddr::new(peer.address, peer.port),
            fsm: Session::new(bgp, &peer, initial, seed),
            peer,
            decoder: Decoder::new(),
            cell,
            health,
            health_open: true,
            commands,
            passive: links.passive,
            bfd,
            bfd_rx,
            bfd_up: false,
            connecting: None,
            read: None,
            write: None,
            rbuf: Vec::with_capacity(8192),
            timers: [None; 4],
        })
    }

    pub(super) async fn run(mut self) {
        self.event(Event::Start).await;
        loop {
            let next_timer = self.timers.iter().flatten().min().copied();
            let wake = {
                let commands = &mut self.commands;
                let incoming = self.passive.as_mut().map(|r| &mut r.incoming);
                let bfd_rx = self.bfd_rx.as_mut();
                let connecting = self.connecting.as_mut();
                let read = self.read.as_mut();
                let rbuf = &mut self.rbuf;
                let health = &mut self.health;
                let health_open = self.health_open;
                tokio::select! {
                    biased;
                    c = commands.recv() => Wake::Command(c),
                    r = maybe(connecting) => Wake::Connected(r),
                    Some(s) = async {
                        match incoming {
                            Some(rx) => rx.recv().await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Accepted(s),
                    n = async {
                        match read {
                            Some(r) => r.read_buf(rbuf).await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Read(n),
                    _ = async {
                        match next_timer {
                            Some(t) => tokio::time::sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Timer,
                    r = health.changed(), if health_open => Wake::Health(r.is_ok()),
                    r = async {
                        match bfd_rx {
                            Some(rx) => rx.changed().await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Bfd(r.is_ok()),
                }
            };
            match wake {
                Wake::Command(Some(Command::Stop { reason, done })) => {
                    self.stop(&reason).await;
                    let _ = done.send(());
                    return;
                }
                Wake::Command(Some(Command::Routes(routes))) => {
                    self.event(Event::RoutesChanged(routes)).await;
                }
                Wake::Command(None) => {
                    self.stop("BGP speaker stopped").await;
                    return;
                }
                Wake::Connected(r) => {
                    self.connecting = None;
                    let ev = match r.and_then(|s| Ok((s.local_addr()?, s.peer_addr()?, s))) {
                        Ok((local, remote, stream)) => {
                            let (r, w) = stream.into_split();
                            self.read = Some(r);
                            self.write = Some(w);
                            self.rbuf.clear();
                            self.decoder = Decoder::new();
                            Event::TcpConnected { local, remote }
                        }
                        Err(e) => Event::TcpFailed {
                            error: connect_error(&self.peer, self.remote, &e),
                        },
                    };
                    self.event(ev).await;
                }
                Wake::Accepted(stream) => self.accepted(stream).await,
                Wake::Bfd(alive) => self.bfd_changed(alive).await,
                Wake::Read(Ok(0)) => {
                    self.drop_connection();
                    let error = "the peer closed the connection".to_string();
                    self.event(Event::TcpClosed { error }).await;
                }
                Wake::Read(Ok(_)) => self.decode().await,
                Wake::Read(Err(e)) => {
                    self.drop_connection();
                    self.event(Event::TcpClosed { error: e.to_string() }).await;
                }
                Wake::Timer => {
                    let now = Instant::now();
                    for (t, ev) in TIMERS {
                        let slot = &mut self.timers[timer_index(t)];
                        if slot.is_some_and(|d| d <= now) {
                            *slot = None;
                            self.event(ev).await;
                        }
                    }
                }
                Wake::Health(true) => {
                    let h = self.health.borrow_and_update().clone();
                    debug!(peer = %self.remote, state = ?h.state, reason = %h.reason, "health changed");
                    self.event(Event::HealthChanged(h.announce())).await;
                }
                Wake::Health(false) => {
                    error!(peer = %self.remote, "the health channel closed: withdrawing");
                    self.health_open = false;
                    self.event(Event::HealthChanged(Announce::Withdraw)).await;
                }
            }
        }
    }

    /// A connection from the peer (passive session): taken when the state
    /// machine waits for one, else closed.
    async fn accepted(&mut self, stream: TcpStream) {
        let from = stream.peer_addr().ok();
        if !self.fsm.accepts_connection() {
            debug!(peer = %self.remote, from = ?from, state = %self.fsm.state(), "connection from the peer closed: the session is not waiting for one");
            return;
        }
        let ev = match prepare_accepted(&self.peer, &stream)
            .and_then(|()| Ok((stream.local_addr()?, stream.peer_addr()?)))
        {
            Ok((local, remote)) => {
                let (r, w) = stream.into_split();
                self.read = Some(r);
                self.write = Some(w);
                self.rbuf.clear();
                self.decoder = Decoder::new();
                Event::TcpConnected { local, remote }
            }
            Err(e) => {
                warn!(peer = %self.remote, "connection from the peer unusable: {e}");
                return;
            }
        };
        self.event(ev).await;
    }

    /// BFD moved: Up lets the session connect again; Down after Up, when
    /// the path failed (detection time, the peer saw it fail), takes the
    /// session down at once. The peer's AdminDown is not a failure (RFC
    /// 5882 3.2): the session stays as it is.
    async fn bfd_changed(&mut self, alive: bool) {
        let Some(rx) = self.bfd_rx.as_mut() else { return };
        if !alive {
            error!(peer = %self.remote, "the BFD session's task is gone; BGP goes on without BFD");
            self.bfd_rx = None;
            return;
        }
        let st = rx.borrow_and_update().clone();
        // Up means both ends Up. In the three-way handshake (RFC 5880
        // 6.2) we reach Up on the peer's Init, the peer only on our next
        // packet (up to its slow 1 s interval later); a peer that gates
        // BGP on its BFD (FRR) closes a session opened before then.
        let both_up = st.state == crate::bfd::State::Up && st.remote_state == crate::bfd::State::Up;
        match st.state {
            crate::bfd::State::Up if both_up && !self.bfd_up => {
                self.bfd_up = true;
                info!(peer = %self.remote, detection = ?st.detection_time, "BFD up");
                self.event(Event::BfdUp).await;
            }
            crate::bfd::State::Down | crate::bfd::State::AdminDown if self.bfd_up => {
                self.bfd_up = false;
                let detail = format!("{} ({})", st.down_cause.name(), st.local_diag);
                if st.down_cause.is_path_failure() {
                    warn!(peer = %self.remote, "BFD down: {detail}");
                    self.event(Event::BfdDown { detail }).await;
                } else {
                    info!(peer = %self.remote, "BFD down: {detail}; not a path failure, the BGP session stays");
                }
            }
            _ => self.publish(),
        }
    }

    /// Decodes every whole message in the read buffer and feeds it to the
    /// state machine.
    async fn decode(&mut self) {
        while self.read.is_some() {
            self.decoder.set_asn4(self.fsm.asn4());
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(msg)) => self.event(Event::MessageReceived(msg)).await,
                Ok(None) => return,
                Err(e) => {
                    self.rbuf.clear();
                    self.event(Event::DecodeError(e)).await;
                    return;
                }
            }
        }
    }

    /// Feeds one event to the state machine and carries out its actions,
    /// and those of the events they cause (a failed write).
    async fn event(&mut self, ev: Event) {
        let mut pending = Some(ev);
        while let Some(ev) = pending.take() {
            let actions = self.fsm.handle(ev);
            pending = self.apply(actions, false).await;
        }
        self.publish();
    }

    /// Carries out actions; returns the event a failed write causes.
    /// `inline_close`: wait for the peer's FIN here (on stop) instead of
    /// in a background task.
    async fn apply(&mut self, actions: Vec<Action>, inline_close: bool) -> Option<Event> {
        let mut failed = None;
        for a in actions {
            match a {
                Action::Connect => {
                    self.drop_connection();
                    self.connecting = Some(Box::pin(connect(self.peer.clone(), self.remote)));
                }
                Action::Send(msg) => {
                    if failed.is_some() {
                        continue;
                    }
                    let Some(w) = self.write.as_mut() else { continue };
                    let bytes = match codec::encode(&msg, self.fsm.asn4()) {
                        Ok(b) => b,
                        Err(e) => {
                            error!(peer = %self.remote, "{e}");
                            failed = Some(Event::TcpClosed { error: e.to_string() });
                            continue;
                        }
                    };
                    match timeout(WRITE_TIMEOUT, w.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            failed = Some(Event::TcpClosed {
                                error: format!("write: {e}"),
                            })
                        }
                        Err(_) => {
                            failed = Some(Event::TcpClosed {
                                error: format!(
                                    "write blocked for {}s (the peer stopped reading)",
                                    WRITE_TIMEOUT.as_secs()
                                ),
                            })
                        }
                    }
                }
                Action::Close => {
                    self.connecting = None;
                    let (r, w) = (self.read.take(), self.write.take());
                    self.rbuf.clear();
                    if let (Some(r), Some(w)) = (r, w) {
                        if inline_close {
                            linger(r, w).await;
                        } else {
                            tokio::spawn(linger(r, w));
                        }
                    }
                }
                Action::StartTimer(t, d) => self.timers[timer_index(t)] = Some(Instant::now() + d),
                Action::StopTimer(t) => self.timers[timer_index(t)] = None,
                Action::StateChanged { from, to } => {
                    info!(peer = %self.remote, asn = self.peer.asn, "BGP session {from} -> {to}");
                    update_cell(&self.cell, |s| {
                        s.state = to;
                        s.since = std::time::SystemTime::now();
                        s.since_instant = std::time::Instant::now();
                    });
                }
                Action::Log(level, msg) => match level {
                    Level::Debug => debug!(peer = %self.remote, "{msg}"),
                    Level::Info => info!(peer = %self.remote, "{msg}"),
                    Level::Warn => warn!(peer = %self.remote, "{msg}"),
                    Level::Error => error!(peer = %self.remote, "{msg}"),
                },
            }
        }
        // A failed write only matters while a connection is up.
        failed.filter(|_| self.fsm.state().connected())
    }

    fn drop_connection(&mut self) {
        self.read = None;
        self.write = None;
        self.rbuf.clear();
    }

    async fn stop(&mut self, reason: &str) {
        let actions = self.fsm.handle(Event::Stop {
            reason: reason.to_string(),
        });
        self.connecting = None;
        let _ = self.apply(actions, true).await;
        self.drop_connection();
        self.publish();
        // The BFD session ends with this one (AdminDown to the peer).
        update_cell(&self.cell, |s| s.bfd = None);
        self.bfd_rx = None;
        self.bfd = None;
    }

    /// Copies the state machine's view into the shared status.
    fn publish(&self) {
        let (announced, graceful) = self.fsm.announced();
        let counters = self.fsm.counters();
        let negotiated = self.fsm.negotiated().cloned();
        let last_error = self.fsm.last_error().map(str::to_owned);
        let (sent, received) = self.fsm.last_notifications();
        let (sent, received) = (sent.map(ToString::to_string), received.map(ToString::to_string));
        let waiting_for_bfd = self.fsm.waiting_for_bfd();
        let state = self.fsm.state();
        update_cell(&self.cell, |s| {
            s.announced = announced;
            s.graceful_shutdown = graceful;
            s.messages_in = counters.messages_in;
            s.messages_out = counters.messages_out;
            s.updates_received = counters.updates_received;
            s.established_count = counters.established;
            s.hold_time = negotiated.as_ref().map(|n| n.hold_time);
            s.families = negotiated.map(|n| n.families).unwrap_or_default();
            s.last_error = last_error;
            s.last_notification_sent = sent;
            s.last_notification_received = received;
            s.waiting_for_bfd = waiting_for_bfd;
            s.state = state;
        });
    }
}

/// Closes gracefully: FIN, then read (and discard) until the peer closes
/// too, for at most [`LINGER`]. Dropping a socket with unread data would
/// send a RST, which can destroy a NOTIFICATION in flight.
async fn linger(mut r: OwnedReadHalf, mut w: OwnedWriteHalf) {
    let _ = timeout(LINGER, w.shutdown()).await;
    let _ = timeout(LINGER, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Opens the session's TCP connection: TCP-MD5, TTL and local address
/// set before the SYN goes out.
async fn connect(peer: BgpPeer, remote: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(remote), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(pw) = &peer.password {
        sockopt::set_key(&socket, peer.address, pw.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("setting the TCP-MD5 password: {e}")))?;
    }
    set_ttl(&socket, &peer, remote.is_ipv6())?;
    if let Some(local) = peer.local_address {
        socket
            .bind(&SocketAddr::new(local, 0).into())
            .map_err(|e| io::Error::new(e.kind(), format!("binding local address {local}: {e}")))?;
    }
    let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
    match timeout(CONNECT_TIMEOUT, socket.connect(remote)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer")),
    }
}

/// The TTL the session sends with, and under GTSM the lowest it takes.
fn set_ttl(socket: &Socket, peer: &BgpPeer, ipv6: bool) -> io::Result<()> {
    let ttl = if peer.ttl_security {
        255
    } else {
        u32::from(peer.multihop.max(1))
    };
    if ipv6 {
        socket.set_unicast_hops_v6(ttl)?;
    } else {
        socket.set_ttl_v4(ttl)?;
    }
    if peer.ttl_security {
        sockopt::set_min_ttl(socket, ipv6, peer.min_ttl())
            .map_err(|e| io::Error::new(e.kind(), format!("setting the GTSM minimum TTL: {e}")))?;
    }
    Ok(())
}

/// An accepted connection gets the options an active one has.
fn prepare_accepted(peer: &BgpPeer, stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let ipv6 = stream.local_addr()?.is_ipv6();
    set_ttl(&socket2::SockRef::from(stream), peer, ipv6)?;
    Ok(())
}

/// The log text for a failed connect, with the likely cause.
fn connect_error(peer: &BgpPeer, remote: SocketAddr, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::TimedOut {
        let hint = if peer.password.is_some() {
            "a TCP-MD5 password is configured: a password mismatch is a likely cause \
             (the peer drops SYNs with a wrong signature without an answer)"
        } else {
            "the peer does not answer: check reachability and filters, and whether the peer \
             expects a TCP-MD5 password"
        };
        format!(
            "connect to {remote} timed out after {}s; {hint}",
            CONNECT_TIMEOUT.as_secs()
        )
    } else {
        format!("connect to {remote} failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_names_md5() {
        let mut peer = crate::config::BgpPeer {
            address: "10.255.0.1".parse().unwrap(),
            port: 179,
            asn: 65000,
            local_address: None,
            password: Some("x".into()),
            multihop: 1,
            hold_time: 9,
            families: vec![],
            ipv4_next_hop: None,
            ipv6_next_hop: None,
            prepend: 0,
            med: None,
            announce: None,
            communities: None,
            large_communities: None,
            bfd: None,
            ttl_security: false,
            passive: false,
            listen_port: 179,
        };
        let remote = SocketAddr::new(peer.address, 179);
        let e = io::Error::new(io::ErrorKind::TimedOut, "no answer");
        let text = connect_error(&peer, remote, &e);
        assert!(text.contains("timed out") && text.contains("TCP-MD5 password") && text.contains("mismatch"));
        peer.password = None;
        assert!(!connect_error(&peer, remote, &e).contains("mismatch"));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(connect_error(&peer, remote, &refused).contains("failed"));
    }
}
