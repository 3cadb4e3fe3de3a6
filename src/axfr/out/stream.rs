//! Serving one transfer request on a TCP connection: the decision, the
//! slot under the limits, then the answer's messages written one after the
//! other (each with its length prefix, each TSIG-signed when the request
//! was), from the zone snapshot taken when the request arrived.
//!
//! The encoding runs on the connection's task, one message (up to 64 KiB,
//! a few thousand records) between writes: every write is an await point,
//! so the reactor is never held for more than one message, and a client
//! that reads slowly holds its transfer back (backpressure) until the idle
//! timeout cuts it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::Service;
use super::encode::{self, Axfr, Encoder, MAX_MESSAGE, TSIG_ROOM};
use super::request::{self, Accepted, Refusal, RefusalTsig, Refused, XfrRequest};
use super::stats::{Kind, Recent};
use crate::tsig::{self, ResponseSigner};
use crate::zone::{Store, Zone, name};

/// Room for the OPT record of the first message.
const OPT_ROOM: usize = 11;

/// Serves the transfer request `req` from `peer`, writing the answer to
/// `wr`. `payload` is the EDNS payload size to advertise. An error is a
/// failed write: the connection is to be closed.
pub async fn serve<W: AsyncWrite + Unpin>(
    service: &Arc<Service>,
    store: &Store,
    req: &XfrRequest<'_>,
    peer: SocketAddr,
    payload: u16,
    idle: Duration,
    wr: &mut W,
) -> io::Result<()> {
    let started = Instant::now();
    let table = service.table_snapshot();
    let set = store.snapshot();
    let now = tsig::unix_now();
    let accepted = match request::decide(req, Some(peer.ip()), &table, &set, now) {
        Ok(a) => a,
        Err(refused) => return refuse(service, req, &refused, peer, payload, idle, wr).await,
    };
    let _slot = match service.try_start(peer.ip()) {
        Ok(s) => s,
        Err(reason) => {
            let refused = Refused {
                reason,
                tsig: accepted.signer.clone().map_or(RefusalTsig::None, RefusalTsig::Sign),
                detail: String::new(),
            };
            return refuse(service, req, &refused, peer, payload, idle, wr).await;
        }
    };
    let Some(zone) = set.get(&req.apex).and_then(|s| s.answerable()).cloned() else {
        let refused = Refused {
            reason: Refusal::NotLoaded,
            tsig: accepted.signer.clone().map_or(RefusalTsig::None, RefusalTsig::Sign),
            detail: String::new(),
        };
        return refuse(service, req, &refused, peer, payload, idle, wr).await;
    };
    drop(set);
    let serial = zone.info.serial;
    let mut out = Out::new(&accepted, req.edns.map(|_| payload), idle);
    let (kind, result) = answer(req, &table, &zone, &mut out, wr).await;
    let took = started.elapsed();
    let ok = result.is_ok();
    let zone_text = name::to_text(&req.apex);
    match &result {
        Ok(()) => info!(
            zone = %zone_text, client = %peer, kind = kind.name(), serial,
            from = ?req.client_serial, bytes = out.bytes, messages = out.messages,
            ms = took.as_millis() as u64, "transfer out done"
        ),
        Err(e) => warn!(zone = %zone_text, client = %peer, kind = kind.name(), serial, "transfer out failed: {e}"),
    }
    service.stats.record(
        &req.apex,
        Recent {
            kind,
            client: peer.ip(),
            from_serial: req.client_serial,
            serial,
            bytes: out.bytes,
            messages: out.messages,
            duration_ms: took.as_millis() as u64,
            when: now,
            result: match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("failed: {e}"),
            },
        },
        took,
    );
    if ok {
        Ok(())
    } else {
        Err(io::Error::other("transfer out failed"))
    }
}

/// Counts, logs (summarised) and answers a refusal.
async fn refuse<W: AsyncWrite + Unpin>(
    service: &Service,
    req: &XfrRequest<'_>,
    refused: &Refused,
    peer: SocketAddr,
    payload: u16,
    idle: Duration,
    wr: &mut W,
) -> io::Result<()> {
    service.stats.refused(refused.reason);
    service.refused_log.record(Some(peer.ip()), refused.reason.text(), || {
        request::describe(req, "tcp", &refused.detail)
    });
    let table = service.table_snapshot();
    let msg = request::refusal_message(req, refused, &table, payload, tsig::unix_now());
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(&msg);
    write_timed(wr, &framed, idle).await
}

async fn write_timed<W: AsyncWrite + Unpin>(wr: &mut W, data: &[u8], idle: Duration) -> io::Result<()> {
    match tokio::time::timeout(idle, wr.write_all(data)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
    }
}

/// The sending side of one answer: signs, frames and writes messages.
struct Out {
    signer: Option<ResponseSigner>,
    opt_payload: Option<u16>,
    idle: Duration,
    framed: Vec<u8>,
    bytes: u64,
    messages: u64,
    limit: usize,
}

impl Out {
    fn new(accepted: &Accepted, opt_payload: Option<u16>, idle: Duration) -> Out {
        let signer = accepted
            .signer
            .as_ref()
            .map(|s| ResponseSigner::new(&s.key, &s.request_mac));
        let limit = MAX_MESSAGE - if signer.is_some() { TSIG_ROOM } else { 0 } - OPT_ROOM;
        Out {
            signer,
            opt_payload,
            idle,
            framed: Vec::with_capacity(MAX_MESSAGE + 2),
            bytes: 0,
            messages: 0,
            limit,
        }
    }

    /// Finishes the encoder's message and writes it.
    async fn send<W: AsyncWrite + Unpin>(&mut self, enc: &mut Encoder, wr: &mut W) -> io::Result<()> {
        enc.finish();
        if self.messages == 0
            && let Some(p) = self.opt_payload
        {
            request::append_opt(&mut enc.msg, p, None);
        }
        if let Some(s) = &mut self.signer {
            // Every message is signed (RFC 8945 section 5.3.1 allows up to
            // 99 unsigned in a row; signing each costs one HMAC per 64 KiB).
            s.sign(&mut enc.msg, tsig::unix_now(), tsig::DEFAULT_FUDGE);
        }
        let msg = &enc.msg;
        self.framed.clear();
        self.framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        self.framed.extend_from_slice(msg);
        self.bytes += self.framed.len() as u64;
        self.messages += 1;
        write_timed(wr, &self.framed, self.idle).await
    }
}

/// Writes the answer; says which kind it was and whether it went out.
async fn answer<W: AsyncWrite + Unpin>(
    req: &XfrRequest<'_>,
    table: &super::OutTable,
    zone: &Arc<Zone>,
    out: &mut Out,
    wr: &mut W,
) -> (Kind, io::Result<()>) {
    let ours = zone.info.serial;
    let mut enc = Encoder::new(req, out.limit);
    if !req.is_ixfr() {
        return (Kind::Axfr, axfr(zone, &mut enc, out, wr).await);
    }
    let Some(client) = req.client_serial else {
        return (Kind::IxfrAsAxfr, axfr(zone, &mut enc, out, wr).await);
    };
    if encode::serial_ge(client, ours) {
        let r = match encode::apex_soa(zone) {
            Some((ttl, rd)) => {
                let _ = enc.record(zone.apex(), crate::zone::rtype::SOA, ttl, rd);
                out.send(&mut enc, wr).await
            }
            None => Err(io::Error::other("zone has no SOA")),
        };
        return (Kind::UpToDate, r);
    }
    let entries = match &table.history_dir {
        Some(dir) => {
            let (dir, apex) = (dir.clone(), req.apex.clone());
            match tokio::task::spawn_blocking(move || crate::zone::history::changes(&dir, &apex, client, ours)).await {
                Ok(Ok(e)) => e,
                Ok(Err(e)) => {
                    warn!(zone = %name::to_text(&req.apex), "cannot read the IXFR history, sending the whole zone: {e}");
                    None
                }
                Err(e) => {
                    warn!(zone = %name::to_text(&req.apex), "IXFR history task failed, sending the whole zone: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let (Some(entries), Some(soa)) = (entries, encode::apex_soa(zone)) else {
        debug!(zone = %name::to_text(&req.apex), client, ours, "no history for that serial: whole zone");
        return (Kind::IxfrAsAxfr, axfr(zone, &mut enc, out, wr).await);
    };
    let records = encode::ixfr_records(zone.apex(), soa, &entries);
    let mut r = Ok(());
    let mut i = 0;
    while i < records.len() {
        let rec = &records[i];
        match enc.record(&rec.owner, rec.rtype, rec.ttl, &rec.rdata) {
            Ok(()) => i += 1,
            Err(_) if enc.count() == 0 => {
                r = Err(io::Error::other("a record does not fit in a message"));
                break;
            }
            Err(_) => {
                if let Err(e) = out.send(&mut enc, wr).await {
                    return (Kind::Ixfr, Err(e));
                }
                enc.start();
            }
        }
    }
    if r.is_ok() {
        r = out.send(&mut enc, wr).await;
    }
    (Kind::Ixfr, r)
}

/// Streams the whole zone.
async fn axfr<W: AsyncWrite + Unpin>(zone: &Zone, enc: &mut Encoder, out: &mut Out, wr: &mut W) -> io::Result<()> {
    let mut walk = Axfr::new(zone);
    loop {
        let done = walk.fill(enc).is_ok();
        if !done && enc.count() == 0 {
            return Err(io::Error::other("a record does not fit in a message"));
        }
        out.send(enc, wr).await?;
        if done {
            return Ok(());
        }
        enc.start();
    }
}
