//! The BGP speaker: one eBGP session per `[[bgp.peer]]` that announces the
//! configured anycast prefixes exactly while `health` says so, and takes
//! no routes.
//!
//! Parts, each owning one thing:
//!
//! - [`message`]: our own message types (what the rest of the speaker
//!   sees);
//! - [`codec`]: bytes to messages and back, the only user of the wire
//!   library (`netgauze-bgp-pkt`);
//! - [`routes`]: the UPDATEs for one peer, built only from the validated
//!   config (prefixes, attributes, next hop self);
//! - [`fsm`]: the RFC 4271 session state machine, sans IO;
//! - `session`: the task that drives one state machine (socket, timers,
//!   health channel);
//! - [`md5`]: TCP-MD5 (RFC 2385), the one `unsafe` module;
//! - [`status`]: the shared per-peer status snapshot;
//! - [`replay`]: a session driven from a byte stream, for the fuzz target
//!   and its regression inputs.
//!
//! The supervisor starts a [`Speaker`] with a [`HealthRx`] and calls
//! [`Speaker::shutdown`] on the way out: every established session gets
//! its prefixes withdrawn and a Cease / Administrative Shutdown with the
//! given message (RFC 9003).

pub mod codec;
pub mod fsm;
pub mod md5;
pub mod message;
pub mod replay;
pub mod routes;
mod session;
pub mod status;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use status::{BgpStatus, PeerStatus};

use crate::config::BgpConfig;
use crate::health::HealthRx;
use session::{Command, Driver};

/// How long [`Speaker::shutdown`] waits for the sessions to say goodbye.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// The running speaker: one task per configured peer.
pub struct Speaker {
    peers: Vec<(mpsc::Sender<Command>, JoinHandle<()>)>,
    status: Arc<BgpStatus>,
}

impl Speaker {
    /// Starts one session task per peer; each connects at once and follows
    /// `health`. Must be called inside a tokio runtime.
    pub fn spawn(cfg: &BgpConfig, health: HealthRx) -> Speaker {
        let status = Arc::new(BgpStatus::new(&cfg.peers));
        if cfg.peers.is_empty() {
            warn!("BGP is enabled but no [[bgp.peer]] is configured");
        }
        let mut peers = Vec::new();
        for (i, peer) in cfg.peers.iter().enumerate() {
            let (tx, rx) = mpsc::channel(1);
            let Some(driver) = Driver::new(cfg, i, health.clone(), status.clone(), rx, seed(i, peer)) else {
                continue;
            };
            info!(
                peer = %peer.address,
                asn = peer.asn,
                families = ?peer.families.iter().map(|f| f.name()).collect::<Vec<_>>(),
                md5 = peer.password.is_some(),
                ttl = peer.multihop,
                "starting BGP session"
            );
            peers.push((tx, tokio::spawn(driver.run())));
        }
        Speaker { peers, status }
    }

    /// The per-peer status, shared with the session tasks.
    pub fn status(&self) -> Arc<BgpStatus> {
        self.status.clone()
    }

    /// Stops every session: established ones withdraw their prefixes and
    /// send Cease / Administrative Shutdown with `message`, then close.
    /// Waits at most [`SHUTDOWN_WAIT`] in all.
    pub async fn shutdown(self, message: &str) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        let mut waiting = Vec::new();
        for (tx, task) in self.peers {
            let (done_tx, done_rx) = oneshot::channel();
            let cmd = Command::Stop {
                reason: message.to_string(),
                done: done_tx,
            };
            if tx.try_send(cmd).is_ok() {
                waiting.push((done_rx, task));
            } else {
                task.abort();
            }
        }
        for (done, task) in waiting {
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                warn!("a BGP session did not stop within {SHUTDOWN_WAIT:?}; closing it");
            }
            task.abort();
        }
    }
}

/// Backoff jitter seed: differs per peer and per start.
fn seed(index: usize, peer: &crate::config::BgpPeer) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((index, peer.address, std::time::SystemTime::now()))
}

#[cfg(test)]
#[path = "speaker_tests.rs"]
mod speaker_tests;
