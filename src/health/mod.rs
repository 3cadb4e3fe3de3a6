//! Node health: probes the node's own DNS listeners and zone state, applies
//! rise/fall hysteresis, follows the maintenance file, and publishes the
//! result on a watch channel that the BGP speaker follows.
//!
//! The contract with `bgp` is [`Health`] and [`Announce`]: the speaker
//! announces the configured prefixes exactly when [`Health::announce`] says
//! so, and nothing else decides it.
//!
//! This module owns:
//!
//! - `machine`: the sans-IO state machine, [`Hysteresis`] (rise/fall) and
//!   [`Core`] (maintenance, dead listener, shutdown on top of it);
//! - `probe`: the DNS probes (query, response check, which zones to ask);
//! - `zones`: the zone rule (sans-IO): failed, pending, critical, cut off;
//! - `progress`: the listener workers' progress counters and queues
//!   ([`Workers`]), which the supervisor registers and `dns` bumps;
//! - `stuck`: a worker that makes no progress with work waiting
//!   ([`Detector`], sans-IO) and the task that samples them;
//! - `monitor`: the task that runs a check round every `health.interval`
//!   and its handle, [`Monitor`], which the supervisor keeps.
//!
//! # What "healthy" means
//!
//! Health decides on the node, not on one customer's zone. A zone that
//! cannot be answered from is either a **zone-level failure** or
//! **pending**:
//!
//! - failed: a file zone whose file did not load (it has a SERVFAIL
//!   placeholder in the store); a secondary zone past its SOA expire,
//!   because its primaries answer but have no usable copy or have been
//!   unreachable past expire; a secondary zone with no version whose first
//!   SOA query or transfer failed. A failed zone answers SERVFAIL, is
//!   reported (`/status`, `/zones`, `/metrics`, the status page, the log)
//!   and does **not** withdraw the node;
//! - pending: a secondary zone with no version whose first attempt has not
//!   finished (the supervisor passes that test in as a [`Pending`], built
//!   from the secondary engine's status; health does not depend on `axfr`).
//!
//! A check round fails, and after `fall` such rounds the node withdraws,
//! when (see `zones`):
//!
//! 1. a zone of `health.critical-zones` is failed, pending, or not served
//!    at all;
//! 2. more than `health.max-failed-zones` (default `"50%"`, or a count)
//!    of the node's zones are failed at once, on the node's side: the node
//!    is cut off (from its primaries, its disk), since every node holds the
//!    same zones; the reason names the count ("5,001 of 10,000 zones failed
//!    (max-failed-zones 50%): cut off"). A secondary zone that failed
//!    although its primaries answered its last round (SERVFAIL from a hub
//!    whose copy expired too, REFUSED) failed upstream, on every node
//!    alike, and is not counted: one customer whose primaries disappear
//!    cannot withdraw a fleet, however many zones it has, while a node
//!    that loses its hub (every primary silent) withdraws alone;
//! 3. until the node has been healthy once, any zone is pending (a fresh
//!    node must not announce SERVFAILs it is about to stop giving); a zone
//!    added later that is still pending does not hold it back;
//! 4. a DNS probe fails, on any listener (wildcard listeners are asked on
//!    the loopback address of their family): the node cannot answer. The
//!    probe is `health.probe` if set; else the SOA of the zones that can be
//!    answered (a failed zone is not probed), at most [`ZONES_PER_ROUND`] a
//!    round in rotation, failures first (see `probe`); with none, `. SOA`,
//!    to which any answer will do. Each probe waits `health.interval` for
//!    its answer, at most 1 s and at least 50 ms.
//!
//! `rise` passing rounds in a row make the node healthy, `fall` failing
//! ones unhealthy; shorter runs change nothing. A listener that dies makes
//! the node unhealthy at once ([`Monitor::listener_died`]).
//!
//! A listener worker that hangs (a UDP worker thread, a TCP accept loop)
//! is no death but loses its share of the queries: when one has made no
//! progress for `interval` × `fall` while its socket has work waiting, the
//! node is unhealthy at once, and every round fails while it lasts, named
//! ("UDP worker udp-0 on 127.0.0.1:53 made no progress for 2.0 s with
//! 12 KiB of datagrams waiting"); once it moves, `rise` passing rounds
//! (see `stuck`, [`Monitor::watch_workers`]).
//!
//! # Maintenance and shutdown
//!
//! The maintenance file is looked at every interval. While it exists a
//! healthy node is `Draining` (announced with GRACEFUL_SHUTDOWN) for
//! `health.drain`, then `Drained` (withdrawn); DNS keeps answering and the
//! checks keep running, so removing the file returns at once to what they
//! say. A node that was not announced goes straight to `Drained`.
//! [`Monitor::stopping`] publishes `Stopping` (withdraw) on SIGTERM/SIGINT;
//! the supervisor then waits `health.drain` before it stops DNS.
//!
//! Every transition is logged as `health: <state> reason=... from=...
//! bgp=...`; a round whose outcome differs from the one before is logged
//! as `health: check failed reason=...` or `health: check passed`.

use std::fmt;
use std::time::Instant;

mod machine;
mod monitor;
mod probe;
mod progress;
mod stuck;
mod zones;

pub use machine::{Core, Hysteresis, Transition, Verdict};
pub use monitor::{LastCheck, Monitor, Options, Stats};
pub use probe::ZONES_PER_ROUND;
pub use progress::{Kind as WorkerKind, Progress, Sample as WorkerSample, WorkerView, Workers};
pub use stuck::{Change as StuckChange, Detector, sample_period};
pub use zones::{Answering, Pending, ZoneCheck, check_zones};

/// What the node is doing about its anycast prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Starting: no verdict yet (not announced).
    Starting,
    /// DNS answers correctly: announced.
    Healthy,
    /// DNS broken (probe failing, critical zone failed, cut off, listener
    /// dead): withdrawn.
    Unhealthy,
    /// Maintenance file present, first phase: announced with the
    /// GRACEFUL_SHUTDOWN community (RFC 8326) so peers move traffic away.
    Draining,
    /// Maintenance, second phase: withdrawn; DNS still answers.
    Drained,
    /// SIGTERM/SIGINT: withdrawn; the process is about to stop.
    Stopping,
}

impl State {
    /// Lowercase name, as in the logs (`healthy`, `draining`, ...).
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
            State::Draining => "draining",
            State::Drained => "drained",
            State::Stopping => "stopping",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the speaker must announce in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// Announce the prefixes with their configured attributes.
    Normal,
    /// Announce them with GRACEFUL_SHUTDOWN (65535:0) added.
    GracefulShutdown,
    /// Withdraw everything.
    Withdraw,
}

/// One health verdict, published on a `tokio::sync::watch` channel.
#[derive(Debug, Clone)]
pub struct Health {
    pub state: State,
    /// Why the node is in this state, for logs and the status API.
    pub reason: String,
    pub since: Instant,
}

impl Health {
    pub fn new(state: State, reason: impl Into<String>) -> Self {
        Health {
            state,
            reason: reason.into(),
            since: Instant::now(),
        }
    }

    pub fn announce(&self) -> Announce {
        match self.state {
            State::Healthy => Announce::Normal,
            State::Draining => Announce::GracefulShutdown,
            State::Starting | State::Unhealthy | State::Drained | State::Stopping => Announce::Withdraw,
        }
    }
}

pub type HealthRx = tokio::sync::watch::Receiver<Health>;
pub type HealthTx = tokio::sync::watch::Sender<Health>;
