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
//! - `monitor`: the task that runs a check round every `health.interval`
//!   and its handle, [`Monitor`], which the supervisor keeps.
//!
//! # What "healthy" means
//!
//! A check round passes when
//!
//! 1. every zone is answerable: each configured zone and each zone in the
//!    store is loaded (has a version) and is not past its SOA expire. One
//!    expired zone out of thousands fails the round: a node that answers
//!    SERVFAIL for a customer's zone must not attract that customer's
//!    queries (the zone is named in the reason); and
//! 2. every DNS probe passes, on every listener (wildcard listeners are
//!    asked on the loopback address of their family). The probe is
//!    `health.probe` if set; else the SOA of the zones, at most
//!    [`ZONES_PER_ROUND`] a round in rotation, failures first (see
//!    `probe`); with no zone at all, `. SOA`, to which any answer will do.
//!    Each probe waits `health.interval` for its answer, at most 1 s and
//!    at least 50 ms.
//!
//! `rise` passing rounds in a row make the node healthy, `fall` failing
//! ones unhealthy; shorter runs change nothing. A listener that dies makes
//! the node unhealthy at once ([`Monitor::listener_died`]).
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
mod zones;

pub use machine::{Core, Hysteresis, Transition, Verdict};
pub use monitor::{LastCheck, Monitor, Options, Stats};
pub use probe::ZONES_PER_ROUND;
pub use zones::{Pending, ZoneCheck, check_zones};

/// What the node is doing about its anycast prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Starting: no verdict yet (not announced).
    Starting,
    /// DNS answers correctly: announced.
    Healthy,
    /// DNS broken (probe failing, zone expired, listener dead): withdrawn.
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
