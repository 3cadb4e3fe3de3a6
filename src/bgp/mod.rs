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
//! - [`sockopt`]: TCP-MD5 (RFC 2385) and GTSM (RFC 5082), the one `unsafe`
//!   module;
//! - [`status`]: the shared per-peer status snapshot;
//! - [`replay`]: a session driven from a byte stream, for the fuzz target
//!   and its regression inputs.
//!
//! The supervisor starts a [`Speaker`] with a [`HealthRx`] and calls
//! [`Speaker::shutdown`] on the way out: every established session gets
//! its prefixes withdrawn and a Cease / Administrative Shutdown with the
//! given message (RFC 9003).

mod backoff;
pub mod codec;
pub mod fsm;
pub mod listen;
pub mod message;
pub mod replay;
pub mod routes;
mod session;
pub mod sockopt;
pub mod status;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::bfd::{Bfd, Ports, SessionConfig, SessionHandle};
use crate::config::BgpPeer;
pub use listen::Listeners;
pub use status::{BgpStatus, PeerStatus};

use crate::config::BgpConfig;
use crate::health::HealthRx;
use session::{Command, Driver};

/// How long [`Speaker::shutdown`] waits for the sessions to say goodbye.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// The running speaker: one task per configured peer.
pub struct Speaker {
    config: BgpConfig,
    peers: Vec<PeerTask>,
    status: Arc<BgpStatus>,
    sockets: Sockets,
}

/// What the speaker listens on, bound at start-up: the passive peers'
/// TCP sockets and the BFD service (when a peer has `bfd = true`).
pub struct Sockets {
    pub listeners: Listeners,
    pub bfd: Option<Bfd>,
    /// BFD's UDP ports (3784 and 4784; tests use others).
    pub bfd_ports: Ports,
}

impl Sockets {
    /// Binds what `cfg` needs. Inside the runtime (BFD starts its receive
    /// tasks), before the speaker is spawned.
    pub fn bind(cfg: &BgpConfig) -> Result<Sockets, String> {
        Sockets::bind_with(cfg, Ports::default())
    }

    /// [`Sockets::bind`] with BFD on other ports.
    pub fn bind_with(cfg: &BgpConfig, bfd_ports: Ports) -> Result<Sockets, String> {
        let listeners = Listeners::bind(cfg)?;
        let sessions: Vec<SessionConfig> = if cfg.enabled {
            cfg.peers.iter().filter_map(bfd_session).collect()
        } else {
            Vec::new()
        };
        let bfd = if sessions.is_empty() {
            None
        } else {
            Some(Bfd::bind(&sessions, bfd_ports).map_err(|e| e.to_string())?)
        };
        Ok(Sockets {
            listeners,
            bfd,
            bfd_ports,
        })
    }

    /// Nothing bound yet: each passive peer or BFD session binds what it
    /// needs when it starts (a reload that turns BGP on).
    pub fn empty() -> Sockets {
        Sockets {
            listeners: Listeners::empty(),
            bfd: None,
            bfd_ports: Ports::default(),
        }
    }

    /// A BFD session for `peer`, starting the service if it is the first.
    fn bfd_for(&mut self, peer: &BgpPeer) -> Result<Option<SessionHandle>, String> {
        let Some(cfg) = bfd_session(peer) else {
            return Ok(None);
        };
        if self.bfd.is_none() {
            self.bfd = Some(Bfd::bind(&[], self.bfd_ports).map_err(|e| e.to_string())?);
        }
        match &self.bfd {
            Some(b) => b.add(cfg).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

/// The BFD session a peer's `bfd` settings ask for: single-hop (TTL 255
/// both ways, RFC 5881) unless `multihop` > 1. Multihop (RFC 5883): the
/// received TTL is checked only under `ttl-security` (then: crossed at most
/// `multihop` hops), since senders differ (BIRD sends multihop BFD with
/// the system's default TTL, FRR with 255) and RFC 5883 5 rules out the
/// TTL 255 check there.
pub fn bfd_session(peer: &BgpPeer) -> Option<SessionConfig> {
    let b = peer.bfd?;
    let multihop = peer.multihop > 1;
    let min_ttl = match (multihop, peer.ttl_security) {
        (false, _) => 255,
        (true, true) => peer.min_ttl(),
        (true, false) => 1,
    };
    Some(SessionConfig {
        remote: peer.address,
        local: peer.local_address,
        multihop,
        min_ttl,
        interval: b.interval,
        multiplier: b.multiplier,
    })
}

/// One running session and the config it was started with.
struct PeerTask {
    peer: crate::config::BgpPeer,
    tx: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    cell: status::Cell,
}

impl Speaker {
    /// Starts one session task per peer; each connects at once (or, when
    /// passive, waits on `listeners`, bound at start-up) and follows
    /// `health`. Must be called inside a tokio runtime.
    pub fn spawn(cfg: &BgpConfig, health: HealthRx, mut sockets: Sockets) -> Speaker {
        let status = Arc::new(BgpStatus::new(&cfg.peers, sockets.listeners.refused_counter()));
        if cfg.peers.is_empty() {
            warn!("BGP is enabled but no [[bgp.peer]] is configured");
        }
        sockets.listeners.start();
        let mut peers = Vec::new();
        for i in 0..cfg.peers.len() {
            let Some(cell) = status.cell(i) else { continue };
            if let Some(t) = start_peer(cfg, i, &health, cell, &mut sockets) {
                peers.push(t);
            }
        }
        status.set_bfd(sockets.bfd.clone());
        Speaker {
            config: cfg.clone(),
            peers,
            status,
            sockets,
        }
    }

    /// Connections refused by the passive listeners.
    pub fn listeners(&self) -> Listeners {
        self.sockets.listeners.clone()
    }

    /// The BFD service's drop counters (none without BFD).
    pub fn bfd(&self) -> Option<Bfd> {
        self.sockets.bfd.clone()
    }

    /// The per-peer status, shared with the session tasks.
    pub fn status(&self) -> Arc<BgpStatus> {
        self.status.clone()
    }

    /// Applies a reloaded `[bgp]` (SIGHUP). A session whose peer settings
    /// did not change stays up: it only withdraws prefixes no longer
    /// configured and announces the rest with the new attributes. Removed
    /// peers get Cease / Administrative Shutdown; new or changed ones start
    /// afresh. A new ASN or router id restarts every session.
    pub async fn reconfigure(&mut self, new: &BgpConfig, health: HealthRx) {
        let global_same = self.config.asn == new.asn && self.config.router_id == new.router_id;
        // Sessions that end (removed, changed, or all of them on a new ASN
        // or router id) stop before any new one starts: a changed peer keeps
        // its address, and two sessions to one address at once collide.
        let (mut kept, gone): (Vec<PeerTask>, Vec<PeerTask>) = std::mem::take(&mut self.peers)
            .into_iter()
            .partition(|t| global_same && new.peers.iter().any(|p| p.same_session(&t.peer)));
        if !gone.is_empty() {
            let why = if global_same {
                "peer removed or changed in the configuration"
            } else {
                "BGP ASN or router id changed in the configuration"
            };
            stop_all(gone, why).await;
        }
        let mut cells = Vec::with_capacity(new.peers.len());
        for (i, peer) in new.peers.iter().enumerate() {
            match kept.iter().position(|t| t.peer.same_session(peer)) {
                Some(pos) => {
                    let mut t = kept.swap_remove(pos);
                    t.peer = peer.clone();
                    let routes = routes::PeerRoutes::new(new, peer);
                    if t.tx.send(Command::Routes(Box::new(routes))).await.is_err() {
                        warn!(peer = %peer.address, "BGP session task is gone; restarting it");
                        t.task.abort();
                        let cell = BgpStatus::fresh_cell(peer);
                        cells.push(cell.clone());
                        self.peers.extend(start_peer(new, i, &health, cell, &mut self.sockets));
                        continue;
                    }
                    cells.push(t.cell.clone());
                    self.peers.push(t);
                }
                None => {
                    let cell = BgpStatus::fresh_cell(peer);
                    cells.push(cell.clone());
                    self.peers.extend(start_peer(new, i, &health, cell, &mut self.sockets));
                }
            }
        }
        self.status.replace(cells);
        self.status.set_bfd(self.sockets.bfd.clone());
        self.config = new.clone();
    }

    /// Stops every session: established ones withdraw their prefixes and
    /// send Cease / Administrative Shutdown with `message`, then close.
    /// Waits at most [`SHUTDOWN_WAIT`] in all.
    pub async fn shutdown(self, message: &str) {
        stop_all(self.peers, message).await;
    }
}

fn start_peer(
    cfg: &BgpConfig,
    i: usize,
    health: &HealthRx,
    cell: status::Cell,
    sockets: &mut Sockets,
) -> Option<PeerTask> {
    let peer = cfg.peers.get(i)?;
    let (tx, rx) = mpsc::channel(1);
    let bfd = match sockets.bfd_for(peer) {
        Ok(b) => b,
        Err(e) => {
            error!(peer = %peer.address, "{e}; the session cannot start");
            status::update_cell(&cell, |s| s.last_error = Some(e));
            return None;
        }
    };
    let passive = if peer.passive {
        match sockets.listeners.register(cfg, peer) {
            Ok(r) => Some(r),
            Err(e) => {
                error!(peer = %peer.address, "{e}; the session cannot start");
                status::update_cell(&cell, |s| s.last_error = Some(e));
                return None;
            }
        }
    } else {
        None
    };
    let links = session::Links { passive, bfd };
    let driver = Driver::new(cfg, i, health.clone(), cell.clone(), rx, links, seed(i, peer))?;
    info!(
        peer = %peer.address,
        asn = peer.asn,
        families = ?peer.families.iter().map(|f| f.name()).collect::<Vec<_>>(),
        md5 = peer.password.is_some(),
        ttl = peer.multihop,
        ttl_security = peer.ttl_security,
        passive = peer.passive,
        bfd = ?peer.bfd.map(|b| (b.interval, b.multiplier)),
        "starting BGP session"
    );
    Some(PeerTask {
        peer: peer.clone(),
        tx,
        task: tokio::spawn(driver.run()),
        cell,
    })
}

async fn stop_all(peers: Vec<PeerTask>, message: &str) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
    let mut waiting = Vec::new();
    for t in peers {
        let (done_tx, done_rx) = oneshot::channel();
        let cmd = Command::Stop {
            reason: message.to_string(),
            done: done_tx,
        };
        // The session may still be taking its last command (new routes
        // after a reload): wait for room, up to the deadline, rather than
        // end it without its Cease.
        if matches!(tokio::time::timeout_at(deadline, t.tx.send(cmd)).await, Ok(Ok(()))) {
            waiting.push((done_rx, t.task));
        } else {
            t.task.abort();
        }
    }
    for (done, task) in waiting {
        if tokio::time::timeout_at(deadline, done).await.is_err() {
            warn!("a BGP session did not stop within {SHUTDOWN_WAIT:?}; closing it");
        }
        task.abort();
    }
}

fn seed(index: usize, peer: &crate::config::BgpPeer) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((index, peer.address, std::time::SystemTime::now()))
}

#[cfg(test)]
#[path = "speaker_tests.rs"]
mod speaker_tests;
