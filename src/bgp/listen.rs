//! Passive sessions (`passive = true`): the listening sockets and who may
//! connect to them.
//!
//! Peers that listen on the same local address and port share one socket
//! (`local-address`, or the wildcard of the peer's family, and
//! `listen-port`). A connection is handed to the session of the peer whose
//! address it comes from, if that peer is passive on that socket; any
//! other source is closed at once, counted, and logged once per source
//! and minute (`logging::Summary`), never per connection.
//!
//! The sockets the configuration needs are bound at start-up
//! ([`Listeners::bind`]), so a port already in use fails the start; a
//! reload that adds a passive peer on a new address binds it then. TCP-MD5
//! keys are set on the listening socket per peer address (the kernel checks
//! the SYN). GTSM's minimum TTL is set on the listening socket when every
//! peer on it uses `ttl-security` (so a far SYN is never answered), and on
//! each accepted connection of such a peer in any case.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use super::sockopt;
use crate::config::{BgpConfig, BgpPeer};
use crate::logging::summary::Summary;

/// Connections queued for one session before more are refused.
const QUEUE: usize = 2;

/// The listening sockets of the passive peers, shared by the speaker's
/// sessions. Cheap to clone.
#[derive(Clone)]
pub struct Listeners {
    inner: Arc<Inner>,
}

struct Inner {
    /// Bound sockets by local address; the std socket until [`Listeners::start`].
    sockets: Mutex<HashMap<SocketAddr, Slot>>,
    /// Who may connect: (listening address, peer address) -> its session.
    routes: Mutex<HashMap<(SocketAddr, IpAddr), mpsc::Sender<TcpStream>>>,
    refused: Arc<AtomicU64>,
    log: Arc<Summary>,
    started: Mutex<bool>,
}

struct Slot {
    /// A handle on the socket for its options (TCP-MD5 keys of peers a
    /// reload adds), kept while it listens.
    handle: std::net::TcpListener,
    /// The socket itself until its accept task takes it.
    waiting: Option<std::net::TcpListener>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a passive peer's connection arrives.
pub fn listen_addr(peer: &BgpPeer) -> SocketAddr {
    let ip = peer.local_address.unwrap_or(match peer.address {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    SocketAddr::new(ip, peer.listen_port)
}

/// A registered passive session: its connections arrive on `incoming`;
/// dropping it stops taking them (and removes the peer's TCP-MD5 key).
pub struct Registration {
    pub incoming: mpsc::Receiver<TcpStream>,
    key: (SocketAddr, IpAddr),
    md5: bool,
    inner: Arc<Inner>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.inner.routes).remove(&self.key);
        if self.md5
            && let Some(slot) = lock(&self.inner.sockets).get(&self.key.0)
            && let Err(e) = sockopt::set_key(&slot.handle, self.key.1, b"")
        {
            debug!(peer = %self.key.1, listen = %self.key.0, "removing the TCP-MD5 key: {e}");
        }
    }
}

impl Listeners {
    /// No socket yet (each passive peer binds its own on registering).
    pub fn empty() -> Listeners {
        Listeners {
            inner: Arc::new(Inner {
                sockets: Mutex::new(HashMap::new()),
                routes: Mutex::new(HashMap::new()),
                refused: Arc::new(AtomicU64::new(0)),
                log: Summary::new("BGP connections refused", |t| warn!("{t}")),
                started: Mutex::new(false),
            }),
        }
    }

    /// Binds every socket the passive peers of `cfg` need (none when there
    /// are none). Call before the runtime starts serving.
    pub fn bind(cfg: &BgpConfig) -> Result<Listeners, String> {
        let l = Listeners::empty();
        if cfg.enabled {
            for peer in cfg.peers.iter().filter(|p| p.passive) {
                l.socket_for(cfg, peer)?;
            }
        }
        Ok(l)
    }

    /// Connections refused: from an address that is not a passive peer of
    /// that socket, or while the peer's session had one already.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// The counter behind [`Listeners::refused`], for the status.
    pub fn refused_counter(&self) -> Arc<AtomicU64> {
        self.inner.refused.clone()
    }

    /// Starts accepting on every bound socket. Inside the runtime.
    pub fn start(&self) {
        *lock(&self.inner.started) = true;
        let mut sockets = lock(&self.inner.sockets);
        for (addr, slot) in sockets.iter_mut() {
            if let Some(std_listener) = slot.waiting.take() {
                self.spawn_accept(*addr, std_listener);
            }
        }
    }

    /// Registers a passive peer's session (binding its socket if a reload
    /// brought a new one).
    pub fn register(&self, cfg: &BgpConfig, peer: &BgpPeer) -> Result<Registration, String> {
        let addr = listen_addr(peer);
        let (tx, rx) = mpsc::channel(QUEUE);
        self.socket_for(cfg, peer)?;
        if let (Some(pw), Some(slot)) = (&peer.password, lock(&self.inner.sockets).get(&addr)) {
            sockopt::set_key(&slot.handle, peer.address, pw.as_bytes())
                .map_err(|e| format!("BGP listener {addr}: TCP-MD5 key for {}: {e}", peer.address))?;
        }
        let started = *lock(&self.inner.started);
        if started {
            self.start();
        }
        lock(&self.inner.routes).insert((addr, peer.address), tx);
        Ok(Registration {
            incoming: rx,
            key: (addr, peer.address),
            md5: peer.password.is_some(),
            inner: self.inner.clone(),
        })
    }

    /// Binds the socket for `peer` (once per address), with the TCP-MD5
    /// keys and the minimum TTL of every passive peer of `cfg` on it.
    fn socket_for(&self, cfg: &BgpConfig, peer: &BgpPeer) -> Result<(), String> {
        let addr = listen_addr(peer);
        let mut sockets = lock(&self.inner.sockets);
        if sockets.contains_key(&addr) {
            return Ok(());
        }
        let on_it: Vec<&BgpPeer> = cfg
            .peers
            .iter()
            .filter(|p| p.passive && listen_addr(p) == addr)
            .collect();
        let socket = listen_socket(addr, &on_it).map_err(|e| {
            format!(
                "BGP: cannot listen on {addr} for the passive peer {} (bgp.peer listen-port / local-address): {e}",
                peer.address
            )
        })?;
        let handle = socket.try_clone().map_err(|e| format!("BGP listener {addr}: {e}"))?;
        sockets.insert(
            addr,
            Slot {
                handle,
                waiting: Some(socket),
            },
        );
        Ok(())
    }

    fn spawn_accept(&self, addr: SocketAddr, std_listener: std::net::TcpListener) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    error!(listen = %addr, "BGP listener: {e}");
                    return;
                }
            };
            loop {
                match listener.accept().await {
                    Ok((stream, from)) => inner.hand_over(addr, stream, from),
                    Err(e) => {
                        // Out of file descriptors and the like: wait, retry.
                        warn!(listen = %addr, "BGP listener accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
}

impl Inner {
    fn hand_over(&self, addr: SocketAddr, stream: TcpStream, from: SocketAddr) {
        let ip = canonical(from.ip());
        let tx = lock(&self.routes).get(&(addr, ip)).cloned();
        let refused = match tx {
            None => Some("not a passive peer on this address"),
            Some(tx) => match tx.try_send(stream) {
                Ok(()) => return,
                Err(_) => Some("the peer's session already has a connection waiting"),
            },
        };
        if let Some(reason) = refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
            self.log
                .record(Some(ip), reason, || format!("connection to {addr} from {from} closed"));
        }
    }
}

/// An IPv4 peer seen through a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn listen_socket(addr: SocketAddr, peers: &[&BgpPeer]) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    for p in peers {
        if let Some(pw) = &p.password {
            sockopt::set_key(&socket, p.address, pw.as_bytes())
                .map_err(|e| io::Error::new(e.kind(), format!("TCP-MD5 key for {}: {e}", p.address)))?;
        }
    }
    if !peers.is_empty() && peers.iter().all(|p| p.ttl_security) {
        let min = peers.iter().map(|p| p.min_ttl()).min().unwrap_or(255);
        sockopt::set_min_ttl(&socket, addr.is_ipv6(), min)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(16)?;
    Ok(socket.into())
}
