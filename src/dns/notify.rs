//! NOTIFY in (RFC 1996): accepted only for secondary zones, only from the
//! zone's primaries and allow-notify sources, answered with AA, and passed
//! to the secondary engine; everything else is refused, counted
//! (`Counters::notify_refused`) and summarised in the log (one line per
//! source and reason per interval, `crate::logging::summary`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use tracing::debug;

use super::answer::rcode;
use super::message::Writer;
use super::query::Query;
use super::server::Server;
use std::sync::Arc;

use crate::axfr::engine::Engine;
use crate::config::Prefix;
use crate::tsig::{self, Key, TsigError};
use crate::zone::name;

/// Who may send NOTIFY for one zone.
#[derive(Clone, Debug)]
pub struct NotifyAcl {
    /// The zone's primaries and its allow-notify prefixes.
    pub sources: Vec<Prefix>,
    /// The TSIG key NOTIFY must be signed with.
    pub key: Option<Arc<Key>>,
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
    /// Every configured TSIG key, by lowercase wire name.
    pub keys: HashMap<Vec<u8>, Arc<Key>>,
    pub engine: Option<Engine>,
}

/// What the reply to a signed NOTIFY needs once it is written.
pub enum TsigReply {
    /// Sign it with the request's key (RFC 8945 section 5.3).
    Sign { key: Arc<Key>, request_mac: Vec<u8> },
    /// Carry this TSIG error (BADKEY, BADSIG, BADTIME).
    Error(TsigError),
}

impl Server {
    /// Handles a NOTIFY request; returns the RCODE of the reply and, for a
    /// signed request, what its TSIG record must be.
    pub(super) fn notify(
        &self,
        q: &Query<'_>,
        peer: Option<SocketAddr>,
        w: &mut Writer<'_>,
        tsig_reply: &mut Option<TsigReply>,
    ) -> u8 {
        let table = self.notify_table();
        let apex = q.lower();
        let zone = || name::to_text(apex);
        // Counted, and summarised per source and reason: never a line per
        // packet (a flood of refused NOTIFYs must not stall the listeners).
        let refuse = |reason: &'static str, detail: &dyn Fn() -> String| {
            self.counters.notify_refused.fetch_add(1, Ordering::Relaxed);
            self.events.notify_refused.record(peer.map(|p| p.ip()), reason, detail);
        };
        // A signed NOTIFY is verified first: its reply is signed, or
        // carries the TSIG error (RFC 8945 section 5.2).
        let mut signed_by: Option<Arc<Key>> = None;
        if q.tsig.is_some() {
            let lookup = |n: &[u8]| table.keys.get(n).map(|k| &**k);
            match tsig::verify_request(q.raw, &lookup, tsig::unix_now()) {
                Ok(ok) => {
                    if let Some(key) = table.keys.get(&ok.key_name) {
                        *tsig_reply = Some(TsigReply::Sign {
                            key: key.clone(),
                            request_mac: ok.mac,
                        });
                        signed_by = Some(key.clone());
                    }
                }
                Err(e) => {
                    refuse(tsig_reason(&e), &|| format!("zone {}: {e}", zone()));
                    let rc = e.header_rcode() as u8;
                    *tsig_reply = Some(TsigReply::Error(e));
                    return rc;
                }
            }
        }
        let zone_only = || format!("zone {}", zone());
        let Some(acl) = table.zones.get(apex) else {
            refuse("not a secondary zone here", &zone_only);
            return rcode::NOTAUTH;
        };
        let Some(peer) = peer else {
            refuse("source address unknown", &zone_only);
            return rcode::REFUSED;
        };
        if !acl.allows(&peer.ip()) {
            refuse("source is neither a primary nor in allow-notify", &zone_only);
            return rcode::REFUSED;
        }
        if let Some(key) = &acl.key {
            match &signed_by {
                Some(k) if k.name == key.name => {}
                Some(k) => {
                    refuse("signed with another key than the zone's", &|| {
                        format!(
                            "zone {}: signed with key {} but the zone uses {}",
                            zone(),
                            k.name_text(),
                            key.name_text()
                        )
                    });
                    return rcode::NOTAUTH;
                }
                None => {
                    refuse("the zone requires TSIG and the NOTIFY is unsigned", &|| {
                        format!("zone {} requires key {}", zone(), key.name_text())
                    });
                    return rcode::NOTAUTH;
                }
            }
        }
        let Some(engine) = &table.engine else {
            refuse("secondary engine not running", &zone_only);
            return rcode::SERVFAIL;
        };
        engine.notify(apex, None);
        debug!(zone = %zone(), %peer, "NOTIFY accepted");
        w.set_aa(true);
        rcode::NOERROR
    }
}

/// The summary reason of a TSIG failure (its detail goes with the first
/// line of each source).
fn tsig_reason(e: &TsigError) -> &'static str {
    match e {
        TsigError::Malformed(_) => "malformed TSIG",
        TsigError::Unsigned => "not TSIG-signed",
        TsigError::BadKey { .. } => "TSIG BADKEY",
        TsigError::BadSig { .. } => "TSIG BADSIG",
        TsigError::BadTime { .. } => "TSIG BADTIME",
        TsigError::MacSize { .. } => "TSIG MAC size",
        _ => "TSIG verification failed",
    }
}

/// Adds the TSIG record a NOTIFY reply needs to the finished message
/// `out[..len]`; returns the new length (unchanged if it would not fit).
pub fn finish_tsig(
    reply: TsigReply,
    request: &[u8],
    keys: &HashMap<Vec<u8>, Arc<Key>>,
    out: &mut [u8],
    len: usize,
    max: usize,
) -> usize {
    let mut msg = out[..len].to_vec();
    match reply {
        TsigReply::Sign { key, request_mac } => {
            tsig::sign_response(&mut msg, &key, &request_mac, tsig::unix_now(), tsig::DEFAULT_FUDGE);
        }
        TsigReply::Error(e) => {
            let lookup = |n: &[u8]| keys.get(n).map(|k| &**k);
            tsig::error_response_tsig(&mut msg, request, &e, &lookup, tsig::unix_now());
        }
    }
    if msg.len() > max.min(out.len()) {
        return len;
    }
    out[..msg.len()].copy_from_slice(&msg);
    msg.len()
}
