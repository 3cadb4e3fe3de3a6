//! Node health: probes the node's own DNS listeners and zone state, applies
//! rise/fall hysteresis, follows the maintenance file, and publishes the
//! result on a watch channel that the BGP speaker follows.
//!
//! The contract with `bgp` is [`Health`] and [`Announce`]: the speaker
//! announces the configured prefixes exactly when [`Health::announce`] says
//! so, and nothing else decides it.

use std::time::Instant;

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
