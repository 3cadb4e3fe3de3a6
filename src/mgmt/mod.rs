//! Management: this module owns everything an operator talks to over HTTP.
//! Zone changes go through [`crate::zonemgr::ZoneManager`], below it.
//!
//! - `api`: the management API on `mgmt.listen` (routes in CONFIG.md):
//!   status, zones, runtime zone changes, maintenance, `/metrics`, and the
//!   status page at `/`. HTTP is axum, used only inside this module.
//! - `auth`: the bearer token of mutating calls (read from
//!   `mgmt.token-file` on every call, compared in constant time).
//! - `metrics`: the Prometheus text exposition, collected at scrape time
//!   from the counters the other modules keep.
//! - `page` and `qps`: the browser status page and the queries-per-second
//!   history it draws.
//! - `identity`: the `[identity]` endpoint ("which node am I reaching").
//! - `client`: the small HTTP client behind `pharos status` and `pharos
//!   zone ...`.
//!
//! # What the supervisor does
//!
//! ```text
//! let listeners = mgmt::bind(&config)?;                 // with the DNS sockets, before serving
//! // inside the runtime:
//! let zones = zonemgr::ZoneManager::start(&config, api_zones, members, server.clone(), held);
//! let ctx = mgmt::Context::new(&config, server.clone(), zones)
//!     .with_health(health_rx)                          // Option: None shows "unknown"
//!     .with_bgp(bgp_view)                              // Option<Arc<dyn BgpView>>
//!     .with_workers(workers);                          // Option<Arc<health::Workers>>: stuck gauges
//! mgmt::spawn(listeners, ctx);
//! ```
//!
//! A management or identity listener that fails after start-up is logged
//! and stays down; it never stops DNS or BGP (the node keeps doing its job;
//! the operator loses only the window into it). Failing to *bind* one at
//! start-up is a start-up error, like a DNS listener: a typo in the config
//! should not go unnoticed.
//!
//! # The token file
//!
//! The token is read on every mutating call, so it can be rotated without a
//! restart. A missing, unreadable or empty token file refuses every
//! mutating call with 503 and a JSON error naming the file (and a warning
//! at start-up); reads (`GET`) keep working. A missing or wrong
//! `Authorization: Bearer` header gets 401. Either way nothing changes.

mod api;
mod api_batch;
mod api_fleet;
mod auth;
pub mod client;
mod identity;
mod limit;
mod metrics;
mod page;
mod qps;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tracing::{error, info};

use crate::config::{Config, NodeLocation};
use crate::dns::Server;
use crate::error::Error;
use crate::health::HealthRx;

pub use crate::zonemgr::{Origin, ZoneError, ZoneManager, ZoneView};

/// What the management API needs to know about the BGP speaker. The
/// speaker implements it; the API reads it on each request or scrape.
pub trait BgpView: Send + Sync {
    /// Every configured peer, in config order.
    fn peers(&self) -> Vec<PeerView>;
    /// Connections the passive listeners closed at once.
    fn connections_refused(&self) -> u64 {
        0
    }
    /// BFD packets dropped before reaching a session, by reason (none
    /// while no peer uses BFD).
    fn bfd_drops(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// The speaker's shared status, as the API shows it.
impl BgpView for crate::bgp::status::BgpStatus {
    fn peers(&self) -> Vec<PeerView> {
        crate::bgp::status::BgpStatus::peers(self)
            .into_iter()
            .map(|p| {
                let since_secs = p.since_instant.elapsed().as_secs();
                let established = p.state == crate::bgp::fsm::State::Established;
                PeerView {
                    address: p.address.to_string(),
                    asn: p.asn,
                    state: format!("{:?}", p.state),
                    since_secs,
                    uptime_secs: established.then_some(since_secs),
                    passive: p.passive,
                    announced: p.announced.iter().map(|x| x.to_string()).collect(),
                    last_error: p.last_error,
                    last_notification_sent: p.last_notification_sent,
                    last_notification_received: p.last_notification_received,
                    messages_in: p.messages_in,
                    messages_out: p.messages_out,
                    updates_received: p.updates_received,
                    established_count: p.established_count,
                    hold_time: p.hold_time,
                    waiting_for_bfd: p.waiting_for_bfd,
                    bfd: p.bfd.as_ref().map(|l| BfdView::from(&l.status())),
                }
            })
            .collect()
    }

    fn connections_refused(&self) -> u64 {
        crate::bgp::status::BgpStatus::connections_refused(self)
    }

    fn bfd_drops(&self) -> Vec<(&'static str, u64)> {
        match crate::bgp::status::BgpStatus::bfd_drops(self) {
            Some(d) => vec![
                ("unknown-session", d.unknown_session),
                ("bad-ttl", d.bad_ttl),
                ("malformed", d.malformed),
                ("authentication", d.auth),
                ("queue-full", d.queue_full),
            ],
            None => Vec::new(),
        }
    }
}

/// A peer's BFD session as the status API, `pharos status` and the
/// metrics show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BfdView {
    /// `up`, `down`, `init`, `admindown`; the peer's as it last said.
    pub state: String,
    pub remote_state: String,
    pub multihop: bool,
    /// Detection time in force (ms), while Init or Up.
    pub detection_ms: Option<u64>,
    /// Periodic transmit interval before jitter (ms).
    pub tx_interval_ms: Option<u64>,
    pub up_transitions: u64,
    /// Why it last went down (`detection time expired`, `peer signalled
    /// down`, `peer admin down`), absent before the first Up.
    pub last_down: Option<String>,
    /// Seconds in the state.
    pub since_secs: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub packets_dropped: u64,
}

impl From<&crate::bfd::BfdStatus> for BfdView {
    fn from(s: &crate::bfd::BfdStatus) -> BfdView {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        BfdView {
            state: s.state.name().to_ascii_lowercase(),
            remote_state: s.remote_state.name().to_ascii_lowercase(),
            multihop: s.multihop,
            detection_ms: s.detection_time.map(ms),
            tx_interval_ms: s.tx_interval.map(ms),
            up_transitions: s.up_transitions,
            last_down: (s.down_cause != crate::bfd::DownCause::NotYetUp).then(|| s.down_cause.name().to_string()),
            since_secs: s.since_instant.elapsed().as_secs(),
            packets_in: s.packets_in,
            packets_out: s.packets_out,
            packets_dropped: s.packets_dropped,
        }
    }
}

/// One BGP peer as the status API, the page and the metrics show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerView {
    /// The peer's address (`10.255.0.1`, `2001:db8::1`).
    pub address: String,
    pub asn: u32,
    /// The session state, as RFC 4271 names it (`Idle`, `Connect`,
    /// `Active`, `OpenSent`, `OpenConfirm`, `Established`).
    pub state: String,
    /// Seconds in that state.
    pub since_secs: u64,
    /// Seconds Established (absent while the session is down).
    pub uptime_secs: Option<u64>,
    /// The session waits for the peer to connect.
    pub passive: bool,
    /// Prefixes the peer holds from us now (`193.47.147.0/24`).
    pub announced: Vec<String>,
    /// Why the session last failed or could not connect.
    pub last_error: Option<String>,
    /// The last NOTIFICATION sent, and received, with code, subcode and
    /// shutdown communication.
    pub last_notification_sent: Option<String>,
    pub last_notification_received: Option<String>,
    /// Messages each way, UPDATEs received (read and discarded), and how
    /// often the session reached Established, since the node started.
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_received: u64,
    pub established_count: u64,
    /// Negotiated hold time while up.
    pub hold_time: Option<u16>,
    /// A BFD failure keeps the session down until BFD is up again.
    pub waiting_for_bfd: bool,
    /// The peer's BFD session (`bfd = true`).
    pub bfd: Option<BfdView>,
}

impl PeerView {
    pub fn is_established(&self) -> bool {
        self.state.eq_ignore_ascii_case("established")
    }
}

/// Everything the management endpoints read.
pub struct Context {
    pub node_id: String,
    pub location: NodeLocation,
    pub maintenance_file: PathBuf,
    pub token_file: PathBuf,
    pub bgp_enabled: bool,
    pub server: Arc<Server>,
    pub zones: ZoneManager,
    /// The health verdicts; `None` shows the health as "unknown".
    pub health: Option<HealthRx>,
    /// The BGP speaker; `None` shows no peers.
    pub bgp: Option<Arc<dyn BgpView>>,
    /// The listener workers health watches (stuck or not, in /metrics).
    pub workers: Option<Arc<crate::health::Workers>>,
    pub started: Instant,
    /// `mgmt.max-connections`.
    pub max_connections: usize,
}

impl Context {
    pub fn new(config: &Config, server: Arc<Server>, zones: ZoneManager) -> Context {
        Context {
            node_id: config.node.id.clone(),
            location: config.node.location.clone(),
            maintenance_file: config.health.maintenance_file.clone(),
            token_file: config.mgmt.token_file.clone(),
            bgp_enabled: config.bgp.enabled,
            server,
            zones,
            health: None,
            bgp: None,
            workers: None,
            started: Instant::now(),
            max_connections: config.mgmt.max_connections,
        }
    }

    pub fn with_health(mut self, health: Option<HealthRx>) -> Context {
        self.health = health;
        self
    }

    pub fn with_bgp(mut self, bgp: Option<Arc<dyn BgpView>>) -> Context {
        self.bgp = bgp;
        self
    }

    pub fn with_workers(mut self, workers: Option<Arc<crate::health::Workers>>) -> Context {
        self.workers = workers;
        self
    }
}

/// The management and identity sockets, bound before anything is served.
pub struct Listeners {
    api: Option<(SocketAddr, std::net::TcpListener)>,
    identity: Vec<(SocketAddr, std::net::TcpListener)>,
}

/// Binds `mgmt.listen` and every `identity.listen` address.
pub fn bind(config: &Config) -> Result<Listeners, Error> {
    let open = |what: &str, addr: SocketAddr| -> Result<(SocketAddr, std::net::TcpListener), Error> {
        let l = std::net::TcpListener::bind(addr).map_err(|e| Error::Startup(format!("{what} {addr}: {e}")))?;
        l.set_nonblocking(true)
            .map_err(|e| Error::Startup(format!("{what} {addr}: {e}")))?;
        let bound = l.local_addr().unwrap_or(addr);
        Ok((bound, l))
    };
    let api = match config.mgmt.listen {
        Some(addr) => Some(open("mgmt.listen", addr)?),
        None => None,
    };
    let identity = config
        .identity
        .listen
        .iter()
        .map(|&addr| open("identity.listen", addr))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Listeners { api, identity })
}

/// Starts the management API, the identity endpoints and the samplers
/// behind the status page and the metrics. Call it inside the runtime.
pub fn spawn(listeners: Listeners, ctx: Context) {
    let node = identity::Identity::new(&ctx.node_id, &ctx.location);
    let identity_stats = Arc::new(limit::Stats::default());
    for (addr, listener) in listeners.identity {
        serve(
            addr,
            "identity endpoint",
            listener,
            identity::router(node.clone()),
            (limit::IDENTITY, identity_stats.clone()),
        );
    }
    let Some((addr, listener)) = listeners.api else {
        return;
    };
    auth::warn_if_unusable(&ctx.token_file);
    let mgmt_stats = Arc::new(limit::Stats::default());
    let limits = limit::mgmt(ctx.max_connections);
    let state = api::AppState::new(ctx, [("mgmt", mgmt_stats.clone()), ("identity", identity_stats)]);
    qps::spawn_sampler(state.qps.clone(), state.ctx.server.clone());
    metrics::spawn_health_watch(&state.health_log, state.ctx.health.clone());
    info!(%addr, "management API listening");
    serve(
        addr,
        "management API",
        listener,
        api::router(state),
        (limits, mgmt_stats),
    );
}

/// Maximum connections at once of the management API and of each identity
/// address (for the start-up check of the open-file limit).
pub fn max_connections(config: &Config) -> (usize, usize) {
    let api = if config.mgmt.listen.is_some() {
        config.mgmt.max_connections
    } else {
        0
    };
    (api, limit::IDENTITY.max * config.identity.listen.len())
}

fn serve(
    addr: SocketAddr,
    what: &'static str,
    listener: std::net::TcpListener,
    router: axum::Router,
    (limits, stats): (limit::Limits, Arc<limit::Stats>),
) {
    tokio::spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                error!(%addr, "{what} not started: {e}; DNS and BGP carry on");
                return;
            }
        };
        let app = router
            .layer(axum::middleware::from_fn(limit::track))
            .into_make_service_with_connect_info::<limit::Tracked>();
        if let Err(e) = axum::serve(limit::Limited::new(listener, limits, stats), app).await {
            error!(%addr, "{what} stopped: {e}; DNS and BGP carry on");
        }
    });
}
