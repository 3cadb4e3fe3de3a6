//! Transfers out (the primary side, RFC 5936 AXFR and RFC 1995 IXFR):
//! who may transfer which zone ([`OutTable`], installed by the zone
//! manager), the node-wide limits, the decision on one request
//! ([`request`]), the encoding of the answer messages ([`encode`]), the
//! streaming of them over a TCP connection ([`stream`]) and the counters
//! and recent transfers that `/metrics` and `GET /zones/{name}` show
//! ([`stats`]).
//!
//! `dns` calls into this module (the TCP listener hands transfer requests
//! to [`stream::serve`], the UDP path asks [`request::decide`] and
//! [`encode`]); nothing here calls up into `dns`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::config::Prefix;
use crate::logging::summary::Summary;
use crate::tsig::Key;

pub mod encode;
pub mod request;
pub mod runtime;
pub mod stats;
pub mod stream;

/// Who may transfer one zone out.
#[derive(Clone, Debug, Default)]
pub struct OutAcl {
    /// `allow-transfer`: the source prefixes allowed; empty: nobody.
    pub allow: Vec<Prefix>,
    /// `transfer-tsig-key`: requests must be signed with this key.
    pub key: Option<Arc<Key>>,
}

impl OutAcl {
    pub fn allows(&self, ip: &IpAddr) -> bool {
        self.allow.iter().any(|p| p.contains(ip))
    }
}

/// The transfer-out rules of every zone (config and API zones, file and
/// secondary zones alike), every TSIG key by lowercase wire name (a
/// signed request is verified against any of them, so that a key that is
/// not the zone's gets BADKEY and the others an answer signed with it),
/// and where the IXFR history lives.
#[derive(Clone, Debug, Default)]
pub struct OutTable {
    /// By lowercase wire apex.
    pub zones: HashMap<Box<[u8]>, OutAcl>,
    pub keys: HashMap<Vec<u8>, Arc<Key>>,
    /// The zones directory of the data dir (`zone::history::changes`);
    /// `None`: no history, every IXFR gets the whole zone.
    pub history_dir: Option<PathBuf>,
}

/// Node-wide limits (`[transfer]`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `max-out`: transfers out at once.
    pub max_out: usize,
    /// `max-out-per-client`: transfers out at once to one address.
    pub max_out_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let d = crate::config::TransferConfig::default();
        Limits {
            max_out: d.max_out,
            max_out_per_client: d.max_out_per_client,
        }
    }
}

/// The primary side's state, one per node (held by `dns::Server`).
pub struct Service {
    table: ArcSwap<OutTable>,
    limits: ArcSwap<Limits>,
    running: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    pub stats: stats::Stats,
    /// Refusals, one log line per source and reason per interval.
    pub refused_log: Arc<Summary>,
    /// Where transfers are streamed: the low-priority runtime of
    /// [`runtime`], once the supervisor has set it (else the caller's).
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            table: Default::default(),
            limits: Default::default(),
            running: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            stats: Default::default(),
            refused_log: Summary::new("transfer request refused", |t| tracing::warn!("{t}")),
            runtime: std::sync::OnceLock::new(),
        }
    }
}

impl Service {
    /// Streams transfers on `handle` from now on (set once, at start-up).
    pub fn set_runtime(&self, handle: tokio::runtime::Handle) {
        let _ = self.runtime.set(handle);
    }

    /// The runtime transfers are streamed on, if one was set.
    pub fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.get()
    }

    pub fn set_table(&self, table: OutTable) {
        self.table.store(Arc::new(table));
    }

    pub fn table(&self) -> arc_swap::Guard<Arc<OutTable>> {
        self.table.load()
    }

    /// The rules, held for as long as a transfer runs.
    pub fn table_snapshot(&self) -> Arc<OutTable> {
        self.table.load_full()
    }

    pub fn set_limits(&self, limits: Limits) {
        self.limits.store(Arc::new(limits));
    }

    pub fn limits(&self) -> Limits {
        **self.limits.load()
    }

    /// Transfers out running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Takes a slot for a transfer to `client`, or says which limit is
    /// reached. The slot is given back when the [`Slot`] is dropped.
    pub fn try_start(self: &Arc<Self>, client: IpAddr) -> Result<Slot, request::Refusal> {
        let limits = self.limits();
        let mut per = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        if self.running.load(Ordering::Relaxed) >= limits.max_out {
            return Err(request::Refusal::MaxOut);
        }
        let n = per.entry(client).or_insert(0);
        if *n >= limits.max_out_per_client {
            if *n == 0 {
                per.remove(&client);
            }
            return Err(request::Refusal::MaxOutPerClient);
        }
        *n += 1;
        self.running.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            service: self.clone(),
            client,
        })
    }
}

/// One running transfer out; gives its slot back when dropped.
pub struct Slot {
    service: Arc<Service>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per = self.service.per_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.client);
            }
        }
        self.service.running.fetch_sub(1, Ordering::Relaxed);
    }
}
