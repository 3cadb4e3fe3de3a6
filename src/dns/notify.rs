//! NOTIFY in (RFC 1996): accepted only for secondary zones, only from the
//! zone's primaries and allow-notify sources, answered with AA, and passed
//! to the secondary engine; everything else is refused and counted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use tracing::{debug, warn};

use super::answer::rcode;
use super::message::Writer;
use super::query::Query;
use super::server::Server;
use crate::axfr::engine::Engine;
use crate::config::Prefix;
use crate::zone::name;

/// Who may send NOTIFY for one zone.
#[derive(Clone, Debug)]
pub struct NotifyAcl {
    /// The zone's primaries and its allow-notify prefixes.
    pub sources: Vec<Prefix>,
    /// Name of the TSIG key NOTIFY must be signed with.
    pub key: Option<String>,
}

impl NotifyAcl {
    pub fn allows(&self, ip: &IpAddr) -> bool {
        self.sources.iter().any(|p| p.contains(ip))
    }
}

/// The NOTIFY rules of every secondary zone, and where accepted ones go.
#[derive(Clone, Default)]
pub struct NotifyTable {
    pub zones: HashMap<Box<[u8]>, NotifyAcl>,
    pub engine: Option<Engine>,
}

/// True if the request's opcode is NOTIFY (checked before the peer address
/// is worked out, so ordinary queries pay nothing for it).
#[inline]
pub fn is_notify(req: &[u8]) -> bool {
    req.len() > 2 && (req[2] >> 3) & 0x0f == 4
}

impl Server {
    /// Handles a NOTIFY request; returns the RCODE of the reply.
    pub(super) fn notify(&self, q: &Query<'_>, peer: Option<SocketAddr>, w: &mut Writer<'_>) -> u8 {
        let table = self.notify_table();
        let apex = q.lower();
        let zone = name::to_text(apex);
        let refuse = |why: &str| {
            self.counters.notify_refused.fetch_add(1, Ordering::Relaxed);
            warn!(zone = %zone, peer = ?peer, "NOTIFY refused: {why}");
        };
        let Some(acl) = table.zones.get(apex) else {
            refuse("not a secondary zone here");
            return rcode::NOTAUTH;
        };
        let Some(peer) = peer else {
            refuse("source address unknown");
            return rcode::REFUSED;
        };
        if !acl.allows(&peer.ip()) {
            refuse("source is neither a primary nor in allow-notify");
            return rcode::REFUSED;
        }
        if let Some(key) = &acl.key
            && q.tsig.is_none()
        {
            refuse(&format!("zone requires TSIG key {key} and the NOTIFY is unsigned"));
            return rcode::NOTAUTH;
        }
        let Some(engine) = &table.engine else {
            refuse("secondary engine not running");
            return rcode::SERVFAIL;
        };
        engine.notify(apex, None);
        debug!(zone = %zone, %peer, "NOTIFY accepted");
        w.set_aa(true);
        rcode::NOERROR
    }
}
