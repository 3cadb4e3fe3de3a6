//! The BGP session state machine (RFC 4271 8), sans IO: events in, actions
//! out. No sockets, no clocks, no tasks: `session` (the driver) turns
//! sockets, timers and the health channel into [`Event`]s and carries out
//! the [`Action`]s. That keeps every rule testable without a network.
//!
//! An active session connects out and the Active state means "waiting to
//! retry"; after any failure it goes to Idle and retries after a backoff,
//! which resets once a session has stayed Established for
//! [`STABLE_AFTER`]. A passive session (`passive = true`) never connects:
//! it waits in Active for the driver to hand it the peer's connection, and
//! a second connection while one is up is refused (the first one wins;
//! there is no collision to resolve since only one side connects).
//!
//! With BFD, a path failure (`BfdDown`) ends the session at once with
//! Cease / BFD Down (RFC 9384) and no new connection is made, or
//! accepted, until BFD is up again (`BfdUp`). The peer's AdminDown is not
//! a failure (RFC 5882 3.2): the driver does not report it as one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use super::backoff::{BACKOFF_MAX, BACKOFF_MIN, Backoff};
use super::message::{
    Capabilities, DecodeError, Inbound, Notification, Open, Outbound, Update, cease, code, fsm_error, open_error,
    two_octet_as,
};
use super::routes::{Mode, PeerRoutes};
use crate::config::{AddressFamily, BgpConfig, BgpPeer, Prefix};
use crate::health::Announce;

/// The hold timer while waiting for the peer's OPEN (RFC 4271 8.2.2: a
/// large value, 4 minutes suggested).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// A session Established this long resets the connect backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// RFC 4271 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }

    /// A TCP connection is up (OPEN exchange or later).
    pub fn connected(self) -> bool {
        matches!(self, State::OpenSent | State::OpenConfirm | State::Established)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The session's timers; the driver runs at most one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    /// Established long enough: reset the backoff.
    Stable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start,
    /// Stop for good: withdraw, Cease / Administrative Shutdown with this
    /// shutdown communication, close.
    Stop {
        reason: String,
    },
    TcpConnected {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// The connection attempt failed or timed out.
    TcpFailed {
        error: String,
    },
    /// An established connection ended (EOF, reset, write error).
    TcpClosed {
        error: String,
    },
    MessageReceived(Inbound),
    DecodeError(DecodeError),
    HoldTimerExpired,
    KeepaliveTimerExpired,
    ConnectRetryTimerExpired,
    StableTimerExpired,
    HealthChanged(Announce),
    /// BFD detected a path failure (`detail` says how): the session goes
    /// down at once and stays down until [`Event::BfdUp`].
    BfdDown {
        detail: String,
    },
    /// BFD is up (again): connecting is allowed.
    BfdUp,
    /// A reload changed what this peer gets (prefixes, communities, MED,
    /// prepend, next hop): withdraw what is gone, announce the rest again,
    /// without resetting the session.
    RoutesChanged(Box<PeerRoutes>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer.
    Connect,
    Send(Outbound),
    /// Close the connection (after the sends before it), or abandon the
    /// connection attempt.
    Close,
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    StateChanged {
        from: State,
        to: State,
    },
    Log(Level, String),
}

/// What the OPEN exchange settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Seconds; 0 means no hold timer and no keepalives.
    pub hold_time: u16,
    pub keepalive: u16,
    /// Families both sides carry, in config order.
    pub families: Vec<AddressFamily>,
    /// Both sides sent the 4-octet AS capability.
    pub asn4: bool,
    pub peer_router_id: Ipv4Addr,
}

/// Counters for the status snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_received: u64,
    /// How many times the session reached Established.
    pub established: u64,
}

/// One configured peer's session.
#[derive(Debug)]
pub struct Session {
    local_asn: u32,
    router_id: Ipv4Addr,
    peer_asn: u32,
    hold_time: u16,
    families: Vec<AddressFamily>,
    routes: PeerRoutes,
    backoff: Backoff,
    state: State,
    stopped: bool,
    health: Announce,
    local: Option<SocketAddr>,
    negotiated: Option<Negotiated>,
    /// What the peer holds from us, per family (index: v4, v6).
    advertised: [Option<Mode>; 2],
    counters: Counters,
    last_error: Option<String>,
    /// Wait for the peer to connect instead of connecting.
    passive: bool,
    /// BFD reported the path down: no connection until it is up again.
    bfd_blocked: bool,
    /// The last NOTIFICATION each way.
    last_sent: Option<Notification>,
    last_received: Option<Notification>,
}

fn idx(f: AddressFamily) -> usize {
    match f {
        AddressFamily::Ipv4 => 0,
        AddressFamily::Ipv6 => 1,
    }
}

fn list(prefixes: &[Prefix]) -> String {
    prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// Collects the actions of one event.
struct Out(Vec<Action>);

impl Out {
    fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.0.push(Action::Log(level, msg.into()));
    }
    fn push(&mut self, a: Action) {
        self.0.push(a);
    }
}

impl Session {
    /// A session for `peer`, starting Idle with `health` as the initial
    /// verdict. `seed` feeds the backoff jitter.
    pub fn new(bgp: &BgpConfig, peer: &BgpPeer, health: Announce, seed: u64) -> Session {
        Session {
            local_asn: bgp.asn,
            router_id: bgp.router_id,
            peer_asn: peer.asn,
            hold_time: peer.hold_time,
            families: peer.families.clone(),
            routes: PeerRoutes::new(bgp, peer),
            backoff: Backoff::new(seed),
            state: State::Idle,
            stopped: false,
            health,
            local: None,
            negotiated: None,
            advertised: [None; 2],
            counters: Counters::default(),
            last_error: None,
            passive: peer.passive,
            bfd_blocked: false,
            last_sent: None,
            last_received: None,
        }
    }

    /// The last NOTIFICATION sent to the peer and received from it.
    pub fn last_notifications(&self) -> (Option<&Notification>, Option<&Notification>) {
        (self.last_sent.as_ref(), self.last_received.as_ref())
    }

    /// True when a connection the peer opened would be taken now (a
    /// passive session waiting in Active); otherwise the driver closes it.
    pub fn accepts_connection(&self) -> bool {
        self.passive && self.state == State::Active && !self.stopped && !self.bfd_blocked
    }

    /// True while a BFD failure keeps the session down.
    pub fn waiting_for_bfd(&self) -> bool {
        self.bfd_blocked
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Whether UPDATEs use 4-octet ASNs (encoder and decoder follow this).
    pub fn asn4(&self) -> bool {
        self.negotiated.as_ref().is_some_and(|n| n.asn4)
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The prefixes the peer holds from us, and whether they carry
    /// GRACEFUL_SHUTDOWN.
    pub fn announced(&self) -> (Vec<Prefix>, bool) {
        let mut out = Vec::new();
        let mut graceful = false;
        for f in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
            if let Some(mode) = self.advertised[idx(f)] {
                out.extend_from_slice(self.routes.prefixes(f));
                graceful |= mode == Mode::GracefulShutdown;
            }
        }
        (out, graceful)
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Out(Vec::new());
        match event {
            Event::Start => {
                if self.state == State::Idle && !self.stopped {
                    out.push(Action::StopTimer(Timer::ConnectRetry));
                    self.connect(&mut out);
                }
            }
            Event::Stop { reason } => self.stop(&mut out, &reason),
            Event::TcpConnected { local, remote } => {
                let expected = if self.passive { State::Active } else { State::Connect };
                if self.state == expected && !self.stopped && !self.bfd_blocked {
                    self.local = Some(local);
                    out.log(Level::Debug, format!("TCP connected {local} -> {remote}"));
                    let open = self.our_open();
                    self.send(&mut out, Outbound::Open(open));
                    out.push(Action::StartTimer(Timer::Hold, OPEN_HOLD_TIME));
                    self.set_state(&mut out, State::OpenSent);
                } else {
                    out.push(Action::Close);
                }
            }
            Event::TcpFailed { error } => {
                if self.state == State::Connect {
                    self.last_error = Some(error.clone());
                    let delay = self.backoff.next_delay();
                    out.log(Level::Warn, format!("{error}; retrying in {:.1}s", delay.as_secs_f64()));
                    out.push(Action::StartTimer(Timer::ConnectRetry, delay));
                    self.set_state(&mut out, State::Active);
                }
            }
            Event::TcpClosed { error } => {
                if self.state.connected() {
                    self.fail(&mut out, format!("connection closed in {}: {error}", self.state));
                }
            }
            Event::MessageReceived(msg) => {
                if self.state.connected() {
                    self.counters.messages_in += 1;
                    self.receive(&mut out, msg);
                }
            }
            Event::DecodeError(e) => {
                if self.state.connected() {
                    self.counters.messages_in += 1;
                    let reason = format!("malformed message from the peer: {}; sent {}", e.detail, e.notification);
                    self.notify(&mut out, e.notification, reason);
                }
            }
            Event::HoldTimerExpired => {
                if self.state.connected() {
                    let secs = match &self.negotiated {
                        Some(n) if self.state != State::OpenSent => u64::from(n.hold_time),
                        _ => OPEN_HOLD_TIME.as_secs(),
                    };
                    let reason = format!("hold timer expired: nothing from the peer for {secs}s");
                    self.notify(&mut out, Notification::hold_timer_expired(), reason);
                }
            }
            Event::KeepaliveTimerExpired => {
                if matches!(self.state, State::OpenConfirm | State::Established) {
                    self.send(&mut out, Outbound::Keepalive);
                    self.start_keepalive(&mut out);
                }
            }
            Event::ConnectRetryTimerExpired => {
                if matches!(self.state, State::Idle | State::Active) && !self.stopped && !self.bfd_blocked {
                    self.connect(&mut out);
                }
            }
            Event::BfdDown { detail } => {
                if !self.bfd_blocked {
                    self.bfd_blocked = true;
                    out.push(Action::StopTimer(Timer::ConnectRetry));
                    if self.state.connected() {
                        let n = Notification::new(code::CEASE, cease::BFD_DOWN, Vec::new());
                        self.notify(&mut out, n, format!("BFD: {detail}"));
                    } else {
                        if self.state == State::Connect {
                            out.push(Action::Close);
                        }
                        self.last_error = Some(format!("BFD: {detail}"));
                        self.set_state(&mut out, State::Idle);
                        out.log(Level::Warn, format!("BFD: {detail}; not connecting until BFD is up"));
                    }
                }
            }
            Event::BfdUp => {
                if self.bfd_blocked {
                    self.bfd_blocked = false;
                    out.log(Level::Info, "BFD up: the session may connect again");
                    if self.state == State::Idle && !self.stopped {
                        self.backoff.reset();
                        self.connect(&mut out);
                    }
                }
            }
            Event::StableTimerExpired => {
                if self.state == State::Established {
                    self.backoff.reset();
                }
            }
            Event::RoutesChanged(routes) => {
                if *routes == self.routes {
                    return out.0;
                }
                let gone = self.routes.minus(&routes);
                self.routes = *routes;
                if self.state == State::Established
                    && let Some(n) = &self.negotiated
                {
                    for f in n.families.clone() {
                        if self.advertised[idx(f)].is_some() {
                            if !gone.prefixes(f).is_empty() {
                                out.log(Level::Info, format!("reload: withdrawing {}", list(gone.prefixes(f))));
                            }
                            for u in gone.withdraw(f) {
                                self.send(&mut out, Outbound::Update(u));
                            }
                            // Announced again below with the new attributes.
                            self.advertised[idx(f)] = None;
                        }
                    }
                    self.sync(&mut out, "configuration reloaded");
                }
            }
            Event::HealthChanged(a) => {
                self.health = a;
                if self.state == State::Established {
                    let why = match a {
                        Announce::Normal => "health: announce",
                        Announce::GracefulShutdown => "health: graceful shutdown",
                        Announce::Withdraw => "health: withdraw",
                    };
                    self.sync(&mut out, why);
                }
            }
        }
        out.0
    }

    fn set_state(&mut self, out: &mut Out, to: State) {
        if self.state != to {
            out.push(Action::StateChanged { from: self.state, to });
            self.state = to;
        }
    }

    fn send(&mut self, out: &mut Out, msg: Outbound) {
        self.counters.messages_out += 1;
        if let Outbound::Notification(n) = &msg {
            self.last_sent = Some(n.clone());
        }
        out.push(Action::Send(msg));
    }

    fn connect(&mut self, out: &mut Out) {
        if self.passive {
            self.set_state(out, State::Active);
        } else {
            self.set_state(out, State::Connect);
            out.push(Action::Connect);
        }
    }

    fn our_open(&self) -> Open {
        Open {
            my_as: two_octet_as(self.local_asn),
            hold_time: self.hold_time,
            router_id: self.router_id,
            capabilities: Capabilities {
                four_octet_as: Some(self.local_asn),
                families: self.families.clone(),
                route_refresh: true,
                ..Capabilities::default()
            },
        }
    }

    fn start_keepalive(&self, out: &mut Out) {
        if let Some(n) = &self.negotiated
            && n.keepalive > 0
        {
            out.push(Action::StartTimer(
                Timer::Keepalive,
                Duration::from_secs(n.keepalive.into()),
            ));
        }
    }

    fn restart_hold(&self, out: &mut Out) {
        if let Some(n) = &self.negotiated
            && n.hold_time > 0
        {
            out.push(Action::StartTimer(Timer::Hold, Duration::from_secs(n.hold_time.into())));
        }
    }

    /// Tears the connection down after an error and schedules a retry.
    fn fail(&mut self, out: &mut Out, reason: String) {
        out.push(Action::Close);
        for t in [Timer::Hold, Timer::Keepalive, Timer::Stable] {
            out.push(Action::StopTimer(t));
        }
        let had = self.announced().0;
        if !had.is_empty() {
            out.log(Level::Warn, format!("withdrawn (session down): {}", list(&had)));
        }
        self.advertised = [None; 2];
        self.negotiated = None;
        self.local = None;
        self.last_error = Some(reason.clone());
        self.set_state(out, State::Idle);
        if self.stopped {
            out.log(Level::Warn, reason);
        } else if self.bfd_blocked {
            out.log(Level::Warn, format!("{reason}; not reconnecting until BFD is up"));
        } else if self.passive {
            out.log(Level::Warn, format!("{reason}; waiting for the peer to connect"));
            self.set_state(out, State::Active);
        } else {
            let delay = self.backoff.next_delay();
            out.log(
                Level::Warn,
                format!("{reason}; reconnecting in {:.1}s", delay.as_secs_f64()),
            );
            out.push(Action::StartTimer(Timer::ConnectRetry, delay));
        }
    }

    /// Sends a NOTIFICATION, then fails.
    fn notify(&mut self, out: &mut Out, n: Notification, reason: String) {
        self.send(out, Outbound::Notification(n));
        self.fail(out, reason);
    }

    fn stop(&mut self, out: &mut Out, reason: &str) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        out.push(Action::StopTimer(Timer::ConnectRetry));
        match self.state {
            State::Established => {
                for f in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
                    if self.advertised[idx(f)].take().is_some() {
                        for u in self.routes.withdraw(f) {
                            self.send(out, Outbound::Update(u));
                        }
                        out.log(
                            Level::Info,
                            format!("withdrawn (stopping): {}", list(self.routes.prefixes(f))),
                        );
                    }
                }
                self.send(out, Outbound::Notification(Notification::admin_shutdown(reason)));
            }
            State::OpenSent | State::OpenConfirm => {
                self.send(out, Outbound::Notification(Notification::admin_shutdown(reason)));
            }
            State::Connect | State::Idle | State::Active => {}
        }
        if self.state != State::Idle && self.state != State::Active {
            out.push(Action::Close);
        }
        for t in [Timer::Hold, Timer::Keepalive, Timer::Stable] {
            out.push(Action::StopTimer(t));
        }
        self.negotiated = None;
        self.set_state(out, State::Idle);
        out.log(Level::Info, format!("stopped: {reason}"));
    }

    fn receive(&mut self, out: &mut Out, msg: Inbound) {
        if let Inbound::Notification(n) = &msg {
            self.last_received = Some(n.clone());
            // Never answered with a NOTIFICATION (RFC 4271 6.4).
            self.fail(out, format!("NOTIFICATION from the peer in {}: {n}", self.state));
            return;
        }
        match (self.state, msg) {
            (State::OpenSent, Inbound::Open(open)) => self.on_open(out, open),
            (State::OpenConfirm, Inbound::Keepalive) => {
                self.restart_hold(out);
                self.set_state(out, State::Established);
                self.counters.established += 1;
                out.push(Action::StartTimer(Timer::Stable, STABLE_AFTER));
                self.sync(out, "session up");
                let families = self.negotiated.as_ref().map(|n| n.families.clone()).unwrap_or_default();
                for f in families {
                    self.send(out, Outbound::Update(Update::EndOfRib(f)));
                }
            }
            (State::Established, Inbound::Keepalive) => self.restart_hold(out),
            (State::Established, Inbound::Update(summary)) => {
                self.counters.updates_received += 1;
                self.restart_hold(out);
                if summary.announced > 0 {
                    out.log(
                        Level::Debug,
                        format!(
                            "ignored UPDATE with {} prefixes (pharos takes no routes)",
                            summary.announced
                        ),
                    );
                }
            }
            (State::Established, Inbound::RouteRefresh(family)) => {
                self.restart_hold(out);
                if let Some(f) = family
                    && let Some(mode) = self.advertised[idx(f)]
                    && let Some(nh) = self.routes.next_hop(f, self.local.map(|l| l.ip()))
                {
                    out.log(Level::Info, format!("ROUTE-REFRESH for {f}: announcing again"));
                    for u in self.routes.announce(f, mode, nh) {
                        self.send(out, Outbound::Update(u));
                    }
                }
            }
            (state, msg) => {
                let subcode = match state {
                    State::OpenSent => fsm_error::UNEXPECTED_IN_OPEN_SENT,
                    State::OpenConfirm => fsm_error::UNEXPECTED_IN_OPEN_CONFIRM,
                    _ => fsm_error::UNEXPECTED_IN_ESTABLISHED,
                };
                let n = Notification::new(code::FSM, subcode, Vec::new());
                let reason = format!("unexpected {} in {state}; sent {n}", msg.kind());
                self.notify(out, n, reason);
            }
        }
    }

    fn open_error(&mut self, out: &mut Out, subcode: u8, data: Vec<u8>, why: String) {
        let n = Notification::new(code::OPEN, subcode, data);
        let reason = format!("{why}; sent {n}");
        self.notify(out, n, reason);
    }

    fn on_open(&mut self, out: &mut Out, open: Open) {
        let caps = &open.capabilities;
        if open.asn() != self.peer_asn {
            let why = format!("the peer is AS {}, the config says AS {}", open.asn(), self.peer_asn);
            return self.open_error(out, open_error::BAD_PEER_AS, open.my_as.to_be_bytes().to_vec(), why);
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            let why = format!("the peer's hold time {} is not allowed (0 or >= 3)", open.hold_time);
            return self.open_error(out, open_error::UNACCEPTABLE_HOLD_TIME, Vec::new(), why);
        }
        if open.router_id.is_unspecified() {
            let why = "the peer's BGP identifier is 0.0.0.0".to_string();
            return self.open_error(
                out,
                open_error::BAD_BGP_IDENTIFIER,
                open.router_id.octets().to_vec(),
                why,
            );
        }
        // Without any Multiprotocol capability only IPv4 unicast is implied
        // (RFC 4760 8).
        let theirs = if caps.any_multiprotocol {
            caps.families.clone()
        } else {
            vec![AddressFamily::Ipv4]
        };
        let families: Vec<AddressFamily> = self.families.iter().copied().filter(|f| theirs.contains(f)).collect();
        if families.is_empty() {
            // RFC 5492 3: the data lists the capabilities we need.
            let mut data = Vec::new();
            for f in &self.families {
                let afi = match f {
                    AddressFamily::Ipv4 => 1,
                    AddressFamily::Ipv6 => 2,
                };
                data.extend_from_slice(&[1, 4, 0, afi, 0, 1]);
            }
            let why = format!(
                "the peer carries none of our families ({})",
                self.families.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            );
            return self.open_error(out, open_error::UNSUPPORTED_CAPABILITY, data, why);
        }
        for f in self.families.iter().filter(|f| !families.contains(f)) {
            out.log(
                Level::Warn,
                format!("the peer does not carry {f} unicast: {f} prefixes are not announced on this session"),
            );
        }
        let hold_time = self.hold_time.min(open.hold_time);
        let n = Negotiated {
            hold_time,
            keepalive: if hold_time == 0 { 0 } else { (hold_time / 3).max(1) },
            families,
            asn4: caps.four_octet_as.is_some(),
            peer_router_id: open.router_id,
        };
        let mut ignored = Vec::new();
        if caps.graceful_restart {
            ignored.push("graceful restart".to_string());
        }
        if caps.other_families > 0 {
            ignored.push(format!("{} other families", caps.other_families));
        }
        ignored.extend(caps.other.iter().map(|c| format!("capability {c}")));
        out.log(
            Level::Info,
            format!(
                "OPEN from AS {} router id {}: hold time {}s (ours {}s, theirs {}s), keepalive {}s, \
                 families {}, 4-octet AS {}{}",
                open.asn(),
                open.router_id,
                n.hold_time,
                self.hold_time,
                open.hold_time,
                n.keepalive,
                n.families.iter().map(|f| f.name()).collect::<Vec<_>>().join(" "),
                if n.asn4 { "yes" } else { "no" },
                if ignored.is_empty() {
                    String::new()
                } else {
                    format!("; ignoring {}", ignored.join(", "))
                }
            ),
        );
        self.negotiated = Some(n);
        self.send(out, Outbound::Keepalive);
        if hold_time == 0 {
            out.push(Action::StopTimer(Timer::Hold));
        } else {
            self.restart_hold(out);
            self.start_keepalive(out);
        }
        self.set_state(out, State::OpenConfirm);
    }

    /// Brings the peer's view in line with the health verdict: sends only
    /// what changed, per family.
    fn sync(&mut self, out: &mut Out, why: &str) {
        let Some(n) = &self.negotiated else { return };
        let local = self.local.map(|l| l.ip());
        for f in n.families.clone() {
            let prefixes = self.routes.prefixes(f);
            let mut want = match self.health {
                _ if prefixes.is_empty() => None,
                Announce::Normal => Some(Mode::Normal),
                Announce::GracefulShutdown => Some(Mode::GracefulShutdown),
                Announce::Withdraw => None,
            };
            let next_hop: Option<IpAddr> = self.routes.next_hop(f, local);
            if want.is_some() && next_hop.is_none() {
                let key = if f == AddressFamily::Ipv4 {
                    "ipv4-next-hop"
                } else {
                    "ipv6-next-hop"
                };
                out.log(
                    Level::Error,
                    format!(
                        "no {f} next hop for this session (local address {local:?}): set {key}; not announcing {f}"
                    ),
                );
                want = None;
            }
            if want == self.advertised[idx(f)] {
                continue;
            }
            let text = list(prefixes);
            let updates = match (want, next_hop) {
                (Some(mode), Some(nh)) => {
                    let gs = if mode == Mode::GracefulShutdown {
                        " with GRACEFUL_SHUTDOWN"
                    } else {
                        ""
                    };
                    out.log(Level::Info, format!("announced ({why}): {text} next hop {nh}{gs}"));
                    self.routes.announce(f, mode, nh)
                }
                _ => {
                    out.log(Level::Info, format!("withdrawn ({why}): {text}"));
                    self.routes.withdraw(f)
                }
            };
            for u in updates {
                self.send(out, Outbound::Update(u));
            }
            self.advertised[idx(f)] = want;
        }
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
pub(crate) mod tests;
#[cfg(test)]
#[path = "fsm_peer_tests.rs"]
mod tests_peer;
