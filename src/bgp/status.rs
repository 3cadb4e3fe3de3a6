//! The speaker's status, one entry per configured peer, shared through an
//! `Arc` so that the management API and the metrics can read a consistent
//! snapshot at any time without talking to the session tasks.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use super::fsm::State;
use crate::config::{AddressFamily, BgpPeer, Prefix};

/// One peer's session as last reported by its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub address: IpAddr,
    pub port: u16,
    pub asn: u32,
    pub state: State,
    /// When `state` was entered (wall clock, for the API).
    pub since: SystemTime,
    /// When `state` was entered (monotonic, for durations).
    pub since_instant: Instant,
    /// Prefixes the peer currently holds from us.
    pub announced: Vec<Prefix>,
    /// They carry GRACEFUL_SHUTDOWN (the node is draining).
    pub graceful_shutdown: bool,
    /// Negotiated hold time (seconds) while the session is up.
    pub hold_time: Option<u16>,
    /// Families both sides carry, while the session is up.
    pub families: Vec<AddressFamily>,
    /// The last reason the session failed or could not connect.
    pub last_error: Option<String>,
    /// The last NOTIFICATION sent to the peer and received from it, as
    /// "Cease / Administrative Shutdown (6/2): \"text\"".
    pub last_notification_sent: Option<String>,
    pub last_notification_received: Option<String>,
    /// The session waits for the peer to connect.
    pub passive: bool,
    /// BFD reported the path down; the session waits for BFD to come up.
    pub waiting_for_bfd: bool,
    /// The peer's BFD session, while there is one.
    pub bfd: Option<BfdLink>,
    pub messages_in: u64,
    pub messages_out: u64,
    /// UPDATEs received (read and discarded: pharos takes no routes).
    pub updates_received: u64,
    /// How many times the session reached Established.
    pub established_count: u64,
}

impl PeerStatus {
    fn new(peer: &BgpPeer) -> PeerStatus {
        PeerStatus {
            address: peer.address,
            port: peer.port,
            asn: peer.asn,
            state: State::Idle,
            since: SystemTime::now(),
            since_instant: Instant::now(),
            announced: Vec::new(),
            graceful_shutdown: false,
            hold_time: None,
            families: Vec::new(),
            last_error: None,
            last_notification_sent: None,
            last_notification_received: None,
            passive: peer.passive,
            waiting_for_bfd: false,
            bfd: None,
            messages_in: 0,
            messages_out: 0,
            updates_received: 0,
            established_count: 0,
        }
    }
}

/// A peer's BFD session as the status sees it: read live (state and packet
/// counters) whenever the status is read. Equal when it is the same session.
#[derive(Clone)]
pub struct BfdLink(pub Arc<crate::bfd::SessionHandle>);

impl BfdLink {
    pub fn status(&self) -> crate::bfd::BfdStatus {
        self.0.status()
    }
}

impl PartialEq for BfdLink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BfdLink {}

impl std::fmt::Debug for BfdLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.status();
        write!(f, "BfdLink({} {})", s.remote, s.state)
    }
}

/// Every peer's status, in config order.
#[derive(Debug)]
pub struct BgpStatus {
    /// One cell per configured peer, in config order; each session task
    /// writes its own cell. A reload replaces the list, keeping the cells
    /// of sessions it keeps.
    peers: RwLock<Vec<Arc<Mutex<PeerStatus>>>>,
    /// Connections the passive listeners refused (`listen`).
    refused: Arc<AtomicU64>,
    /// The BFD service, for its drop counters (once a peer uses BFD).
    bfd: Mutex<Option<crate::bfd::Bfd>>,
}

/// One peer's status cell.
pub(super) type Cell = Arc<Mutex<PeerStatus>>;

impl BgpStatus {
    pub(super) fn new(peers: &[BgpPeer], refused: Arc<AtomicU64>) -> BgpStatus {
        BgpStatus {
            peers: RwLock::new(peers.iter().map(Self::fresh_cell).collect()),
            refused,
            bfd: Mutex::new(None),
        }
    }

    pub(super) fn set_bfd(&self, bfd: Option<crate::bfd::Bfd>) {
        *self.bfd.lock().unwrap_or_else(|e| e.into_inner()) = bfd;
    }

    /// BFD packets the service dropped before any session saw them.
    pub fn bfd_drops(&self) -> Option<crate::bfd::DropCounters> {
        self.bfd
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|b| b.drops())
    }

    /// Connections the passive listeners closed at once (not from a
    /// passive peer of that address, or a second one while the session had
    /// one).
    pub fn connections_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub(super) fn fresh_cell(peer: &BgpPeer) -> Cell {
        Arc::new(Mutex::new(PeerStatus::new(peer)))
    }

    /// The cell of the peer at `index` in config order.
    pub(super) fn cell(&self, index: usize) -> Option<Cell> {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).get(index).cloned()
    }

    /// After a reload: the cells of the new peer list, in config order.
    pub(super) fn replace(&self, cells: Vec<Cell>) {
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = cells;
    }

    /// A copy of every peer's status.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|p| match p.lock() {
                Ok(g) => g.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            })
            .collect()
    }

    /// True when at least one session is Established.
    pub fn any_established(&self) -> bool {
        self.peers().iter().any(|p| p.state == State::Established)
    }
}

/// Changes one peer's status.
pub(super) fn update_cell(cell: &Mutex<PeerStatus>, f: impl FnOnce(&mut PeerStatus)) {
    match cell.lock() {
        Ok(mut g) => f(&mut g),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}
