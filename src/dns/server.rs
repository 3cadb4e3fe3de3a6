//! One request in, one response out: header checks, opcode and class
//! dispatch, zone selection, EDNS (RFC 6891), NSID (RFC 5001), CHAOS
//! identity names, TSIG refusal, and the final OPT record.
//!
//! Nothing here logs a line per request: refusals that an operator wants
//! to hear about (NOTIFY, transfer requests, signed queries) are counted
//! and summarised per source and reason ([`Events`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::answer::{self, rcode};
use super::edge::{self, LazyPeer};
use super::message::{Section, Writer};
use super::query::{self, Query, Reject, hflag, opt};
use super::rrl::{self, Limiter};
use super::stats;
use crate::logging::summary::Summary;
use crate::zone::{Store, rtype};

/// How a request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Fixed answer settings taken from the config.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// node.id: NSID, CHAOS id.server and hostname.bind.
    pub node_id: String,
    pub nsid: bool,
    /// CHAOS version.bind; `None` answers REFUSED.
    pub version: Option<String>,
    /// Largest UDP response with EDNS.
    pub udp_payload: u16,
}

/// A counter the query path bumps from every worker thread. Each thread
/// adds to its own cache line, so workers on different cores do not fight
/// over one; readers sum the shards.
#[derive(Default)]
pub struct Counter {
    shards: [PaddedCounter; COUNTER_SHARDS],
}

pub(super) const COUNTER_SHARDS: usize = 8;

#[derive(Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

impl Counter {
    /// Adds `n` (same shape as `AtomicU64::fetch_add`; returns 0).
    #[inline]
    pub fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.shards[shard_index()].0.fetch_add(n, order);
        0
    }

    /// The total over every thread.
    pub fn load(&self, order: Ordering) -> u64 {
        self.shards.iter().map(|s| s.0.load(order)).sum()
    }
}

static NEXT_SHARD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The counter shard of the calling thread, in `0..COUNTER_SHARDS`.
#[inline]
pub(super) fn shard_index() -> usize {
    thread_local! {
        static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % COUNTER_SHARDS;
    }
    SHARD.with(|s| *s)
}

/// Counters kept by the query path.
#[derive(Default)]
pub struct Counters {
    pub queries_udp: Counter,
    pub queries_tcp: Counter,
    pub dropped: Counter,
    pub formerr: Counter,
    pub truncated: Counter,
    pub refused: Counter,
    pub nxdomain: Counter,
    pub panics: Counter,
    pub notify_refused: Counter,
    /// TCP connections closed at once because `dns.tcp-max-connections`
    /// were open and every one was busy (streaming a zone transfer).
    pub tcp_over_limit: Counter,
    /// TCP connections closed to make room for a new one: the idle-longest
    /// when `dns.tcp-max-connections` were open.
    pub tcp_evicted: Counter,
    /// TCP connections closed after their idle time between queries
    /// (`dns.tcp-idle-timeout`, shortened as the connection table fills).
    pub tcp_idle_timeouts: Counter,
    /// TCP connections closed at the end of their lifetime
    /// (`dns.tcp-max-lifetime`, shortened as the table fills).
    pub tcp_lifetime_ends: Counter,
    /// TCP connections open now.
    pub tcp_open: std::sync::atomic::AtomicUsize,
    /// TCP accepts that failed for one connection or for lack of
    /// descriptors or memory (the listener carries on).
    pub tcp_accept_errors: Counter,
    /// Requests with a COOKIE option, by what the server cookie was:
    /// valid (made by this fleet), none (client cookie only), invalid.
    pub cookie_valid: Counter,
    pub cookie_client_only: Counter,
    pub cookie_invalid: Counter,
    /// Responses by transport, type and RCODE, and the time to build them.
    pub answers: super::stats::QueryStats,
}

/// The log summaries of refusals that can come once per packet: each is
/// counted (`Counters`, `QueryStats`) and written at most once per source
/// and reason per interval.
pub struct Events {
    /// NOTIFYs refused (`Counters::notify_refused`).
    pub notify_refused: Arc<Summary>,
    /// AXFR/IXFR requests refused (`dns_responses{qtype="AXFR"|"IXFR"}`).
    pub transfer_refused: Arc<Summary>,
    /// TSIG-signed queries refused: no key is configured for queries.
    pub signed_query_refused: Arc<Summary>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            notify_refused: Summary::new("NOTIFY refused", |t| tracing::warn!("{t}")),
            transfer_refused: Summary::new("transfer request refused", |t| tracing::warn!("{t}")),
            signed_query_refused: Summary::new("TSIG-signed query refused", |t| tracing::warn!("{t}")),
        }
    }
}

/// The query handler shared by every listener.
pub struct Server {
    store: Store,
    opts: ServerOptions,
    notify: arc_swap::ArcSwap<super::notify::NotifyTable>,
    /// Transfers out: rules, limits, counters (the TCP listener streams
    /// them, the UDP path answers IXFR from it).
    pub xfr_out: Arc<crate::axfr::out::Service>,
    pub counters: Counters,
    pub events: Events,
    /// Response rate limiting over UDP (`[dns.rrl]`); `None`: off.
    rrl: arc_swap::ArcSwapOption<Limiter>,
    /// The cookie secrets; the health probes make their cookies with them.
    cookies: Arc<arc_swap::ArcSwap<crate::cookie::Secrets>>,
}

/// Largest DNS message.
pub const MAX_MESSAGE: usize = 65535;
const CLASS_IN: u16 = 1;
const CLASS_CH: u16 = 3;
const CLASS_ANY: u16 = 255;

impl Server {
    pub fn new(store: Store, opts: ServerOptions) -> Server {
        Server {
            store,
            opts,
            notify: Default::default(),
            xfr_out: Default::default(),
            counters: Counters::default(),
            events: Events::default(),
            rrl: arc_swap::ArcSwapOption::empty(),
            cookies: Arc::new(arc_swap::ArcSwap::from_pointee(crate::cookie::Secrets::random())),
        }
    }

    /// Sets (or turns off, with `None`) response rate limiting.
    pub fn set_rrl(&self, limiter: Option<Limiter>) {
        self.rrl.store(limiter.map(Arc::new));
    }

    /// The rate limiter in use, if any (for /metrics).
    pub fn rrl(&self) -> Option<Arc<Limiter>> {
        self.rrl.load_full()
    }

    /// Sets the cookie secrets (`dns.cookie-secret`, at start and reload).
    pub fn set_cookie_secrets(&self, secrets: crate::cookie::Secrets) {
        self.cookies.store(Arc::new(secrets));
    }

    /// The cookie secrets, shared (the health probes present a valid
    /// cookie, so that rate limiting never applies to them).
    pub fn cookie_secrets(&self) -> Arc<arc_swap::ArcSwap<crate::cookie::Secrets>> {
        self.cookies.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The EDNS payload size advertised in responses.
    pub fn udp_payload(&self) -> u16 {
        self.opts.udp_payload
    }

    /// Replaces the NOTIFY rules (secondary zones and the engine).
    pub fn set_notify_table(&self, table: super::notify::NotifyTable) {
        self.notify.store(std::sync::Arc::new(table));
    }

    pub(super) fn notify_table(&self) -> arc_swap::Guard<std::sync::Arc<super::notify::NotifyTable>> {
        self.notify.load()
    }

    /// [`Server::handle_from`] without a known source address.
    pub fn handle(&self, req: &[u8], transport: Transport, out: &mut [u8]) -> usize {
        self.handle_from(req, transport, None, out)
    }

    /// Answers one request from `peer`. `out` must hold [`MAX_MESSAGE`]
    /// octets. Returns the response length; 0 means no response is sent.
    pub fn handle_from(&self, req: &[u8], transport: Transport, peer: Option<SocketAddr>, out: &mut [u8]) -> usize {
        self.handle_with(req, transport, || peer, out)
    }

    /// [`Server::handle_from`] with the source address worked out by
    /// `peer` only for the requests that need it (NOTIFY, refusals that
    /// are summarised), so that ordinary queries pay nothing for it.
    #[inline]
    pub fn handle_with(
        &self,
        req: &[u8],
        transport: Transport,
        peer: impl FnOnce() -> Option<SocketAddr>,
        out: &mut [u8],
    ) -> usize {
        let started = Instant::now();
        let mut peer = LazyPeer::new(peer);
        match transport {
            Transport::Udp => self.counters.queries_udp.fetch_add(1, Ordering::Relaxed),
            Transport::Tcp => self.counters.queries_tcp.fetch_add(1, Ordering::Relaxed),
        };
        let q = match query::parse(req) {
            Ok(q) => q,
            Err(Reject::Drop) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return 0;
            }
            Err(Reject::FormErr { question_len }) => {
                self.counters.formerr.fetch_add(1, Ordering::Relaxed);
                let n = formerr(req, question_len, out);
                self.counters.answers.record(
                    transport,
                    stats::TYPE_NONE,
                    u16::from(rcode::FORMERR),
                    started.elapsed(),
                );
                return n;
            }
        };
        let max = match (transport, q.edns) {
            (Transport::Tcp, _) => MAX_MESSAGE,
            (Transport::Udp, Some(e)) => (e.payload.max(512)).min(self.opts.udp_payload.max(512)) as usize,
            (Transport::Udp, None) => 512,
        };
        // Room for the OPT record, and for a TSIG record (RFC 8945 4.2:
        // owner, type/class/TTL/length, algorithm, time, fudge, MAC of up
        // to 64 octets, original id, error, other length).
        let opt_len = self.opt_len(&q) + q.tsig.map_or(0, |t| t.key.len() + t.algorithm.len() + 10 + 16 + 64 + 6);
        let mut w = Writer::new(out, max.saturating_sub(opt_len));
        // RD is copied; CD is not (an authoritative answer is not validated).
        let flags = hflag::QR | (q.flags & (0x7800 | hflag::RD));
        w.header(q.id, flags);
        if w.question(q.qname, q.qtype, q.qclass).is_err() {
            return 0;
        }
        let after_question = w.mark();
        // Cookies: checked, and the one to send back made, before the
        // answer (a valid one exempts the client from rate limiting).
        let cookie = q.cookie().map(|(client, server)| {
            let reply = edge::cookie_reply(&self.cookies.load(), client, server, peer.get().map(|p| p.ip()));
            let counter = match (server.is_empty(), reply.valid) {
                (true, _) => &self.counters.cookie_client_only,
                (false, true) => &self.counters.cookie_valid,
                (false, false) => &self.counters.cookie_invalid,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            reply
        });
        // UDP only, and a guard, not an Arc clone: no shared reference
        // count for the UDP workers to bounce between them on every query.
        let rrl = (transport == Transport::Udp && !cookie.is_some_and(|c| c.valid)).then(|| self.rrl.load());
        let limiter = rrl.as_ref().and_then(|g| g.as_deref());
        let mut extra = Extra {
            want_origin: limiter.is_some(),
            ..Extra::default()
        };
        let mut rc = self.dispatch(&q, transport, || peer.get(), &mut w, &mut extra);
        if let Some(limiter) = limiter
            && let Some(ip) = peer.get().map(|p| p.ip())
            // An accepted NOTIFY is answered whatever the rate.
            && !(q.opcode == 4 && rc == rcode::NOERROR)
            && !limiter.is_exempt(&ip)
        {
            let (class, name) = edge::classify(&q, rc, &w, extra.origin);
            match limiter.check(ip, class, name, || summary_detail(&q, transport, None)) {
                rrl::Verdict::Send => {}
                rrl::Verdict::Drop => return 0,
                rrl::Verdict::Slip => {
                    // Header and question only: TC=1 sends a real client to
                    // TCP; one that sent a cookie gets BADCOOKIE with a
                    // fresh server cookie instead (RFC 7873 5.2.3), to
                    // retry with over UDP, exempt from then on.
                    w.rollback(after_question);
                    extra.ede = None;
                    extra.expire = None;
                    if cookie.is_some() {
                        extra.ext_rcode = edge::BADCOOKIE;
                        rc = (edge::BADCOOKIE & 0xf) as u8;
                        w.set_aa(false);
                    } else {
                        w.set_tc();
                    }
                }
            }
        }
        let ext_rcode = extra.ext_rcode;
        match rc {
            rcode::REFUSED => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
            rcode::NXDOMAIN => {
                self.counters.nxdomain.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        w.set_rcode(rc);
        if w.flags() & hflag::TC != 0 {
            self.counters.truncated.fetch_add(1, Ordering::Relaxed);
        }
        w.set_limit(MAX_MESSAGE);
        if let Some(e) = q.edns {
            let mut rdata = [0u8; 4 + 255 + 8 + 6 + edge::COOKIE_OPTION_LEN];
            let mut rlen = 0;
            let mut option = |code: u16, value: &[u8]| {
                let n = value.len().min(255);
                rdata[rlen..rlen + 2].copy_from_slice(&code.to_be_bytes());
                rdata[rlen + 2..rlen + 4].copy_from_slice(&(n as u16).to_be_bytes());
                rdata[rlen + 4..rlen + 4 + n].copy_from_slice(&value[..n]);
                rlen += 4 + n;
            };
            // Also on BADVERS, as Knot: a client that tries EDNS version 1
            // (RIPE Atlas) still learns which node answered.
            if e.nsid && self.opts.nsid {
                option(opt::NSID, self.opts.node_id.as_bytes());
            }
            if e.expire
                && let Some(expire) = extra.expire
            {
                option(opt::EXPIRE, &expire.to_be_bytes());
            }
            if let Some(code) = extra.ede {
                option(opt::EDE, &code.to_be_bytes());
            }
            if let Some(c) = &cookie {
                option(opt::COOKIE, &c.value);
            }
            let ttl = ((ext_rcode as u32 >> 4) << 24) | if e.dnssec_ok { 0x8000 } else { 0 };
            let _ = w.raw_record(
                Section::Additional,
                &[0],
                rtype::OPT,
                self.opts.udp_payload,
                ttl,
                &rdata[..rlen],
            );
        }
        if let Some(tsig) = extra.tsig {
            // TSIG comes last (RFC 8945 section 5.3), if it fits.
            let need = tsig.key.len() + 10 + tsig.algorithm.len() + 16;
            if w.len() + need <= max {
                write_badkey(&q, &tsig, &mut w);
            } else {
                w.set_tc();
            }
        }
        let len = w.finish();
        let full_rcode = if ext_rcode != 0 { ext_rcode } else { u16::from(rc) };
        self.counters
            .answers
            .record(transport, stats::type_slot(q.qtype), full_rcode, started.elapsed());
        match extra.tsig_reply {
            Some(reply) => super::notify::finish_tsig(reply, req, &self.notify_table().keys, out, len, max),
            None => len,
        }
    }

    /// Room kept for the OPT record of the response.
    fn opt_len(&self, q: &Query<'_>) -> usize {
        match q.edns {
            None => 0,
            Some(e) => {
                11 + if e.nsid && self.opts.nsid {
                    4 + self.opts.node_id.len().min(255)
                } else {
                    0
                } + if e.expire { 8 } else { 0 }
                    + if e.cookie.is_some() { edge::COOKIE_OPTION_LEN } else { 0 }
            }
        }
    }

    fn dispatch<'a>(
        &self,
        q: &Query<'a>,
        transport: Transport,
        peer: impl FnOnce() -> Option<SocketAddr>,
        w: &mut Writer<'_>,
        extra: &mut Extra<'a>,
    ) -> u8 {
        if let Some(e) = q.edns
            && e.version > 0
        {
            extra.ext_rcode = rcode::BADVERS;
            return 0;
        }
        match q.opcode {
            0 => {}
            // NOTIFY and UPDATE from a source not allowed to send them.
            4 => return self.notify(q, peer(), w, &mut extra.tsig_reply),
            // UPDATE is not accepted from anyone.
            5 => return rcode::NOTAUTH,
            _ => return rcode::NOTIMP,
        }
        if matches!(q.qtype, rtype::AXFR | rtype::IXFR) && q.qclass == CLASS_IN {
            // Signed or not: the transfer rules decide (axfr::out).
            return self.transfer_one_message(q, transport, peer(), w, extra);
        }
        let set = self.store.load();
        if let Some(tsig) = q.tsig {
            // Signed with a key this node knows (a secondary's SOA query
            // before IXFR is signed with the transfer key, as Knot, BIND and
            // NSD do): verified, and the answer signed with it (RFC 8945
            // 5.3); a bad MAC or time gets NOTAUTH with the TSIG error (5.2).
            let table = self.notify_table();
            let lookup = |n: &[u8]| table.keys.get(n).map(|k| &**k);
            match crate::tsig::verify_request(q.raw, &lookup, crate::tsig::unix_now()) {
                Ok(ok) => {
                    if let Some(key) = table.keys.get(&ok.key_name) {
                        extra.tsig_reply = Some(super::notify::TsigReply::Sign {
                            key: key.clone(),
                            request_mac: ok.mac,
                        });
                    }
                }
                Err(crate::tsig::TsigError::BadKey { .. }) => {
                    // An unknown key (RFC 8945 5.2.1).
                    self.events.signed_query_refused.record(
                        peer().map(|p| p.ip()),
                        "no TSIG key is configured for queries",
                        || summary_detail(q, transport, Some(tsig.key)),
                    );
                    if set.find(q.lower()).is_none() {
                        extra.ede = Some(ede::NOT_AUTHORITATIVE);
                        return rcode::REFUSED;
                    }
                    extra.tsig = Some(tsig);
                    return rcode::NOTAUTH;
                }
                Err(e) => {
                    self.events.signed_query_refused.record(
                        peer().map(|p| p.ip()),
                        "TSIG of a query does not verify",
                        || format!("{}: {e}", summary_detail(q, transport, Some(tsig.key))),
                    );
                    let rc = e.header_rcode() as u8;
                    extra.tsig_reply = Some(super::notify::TsigReply::Error(e));
                    return rc;
                }
            }
        }
        match q.qclass {
            CLASS_IN | CLASS_ANY => {}
            CLASS_CH => return self.chaos(q, w),
            _ => return rcode::REFUSED,
        }
        match q.qtype {
            0 => return rcode::NOTIMP,
            rtype::AXFR | rtype::IXFR => {
                self.events
                    .transfer_refused
                    .record(peer().map(|p| p.ip()), "transfer request in class ANY", || {
                        summary_detail(q, transport, None)
                    });
                return if q.qtype == rtype::AXFR && transport == Transport::Udp {
                    rcode::NOTIMP
                } else {
                    rcode::NOTAUTH
                };
            }
            _ => {}
        }
        let lower = q.lower();
        // DS belongs to the parent side of a cut: if the query is for the
        // apex of a zone whose parent is also served here, answer from it.
        let mut served = set.find(lower);
        if q.qtype == rtype::DS
            && let Some(s) = served
            && &*s.apex == lower
            && lower.len() > 1
            && let Some(p) = set.find(crate::zone::name::parent(lower))
        {
            served = Some(p);
        }
        let Some(served) = served else {
            extra.ede = Some(ede::NOT_AUTHORITATIVE);
            return rcode::REFUSED;
        };
        if extra.want_origin {
            extra.origin.zone = Some(rrl::name_hash(&served.apex, 0));
        }
        let Some(zone) = served.answerable() else {
            return rcode::SERVFAIL;
        };
        extra.expire = Some(zone.info.expire);
        let answered = answer::answer_with(zone, lower, q.qtype, q.dnssec_ok(), w);
        extra.origin.referral = answered.referral;
        answered.rcode
    }

    /// CHAOS TXT id.server / hostname.bind / version.bind / version.server.
    fn chaos(&self, q: &Query<'_>, w: &mut Writer<'_>) -> u8 {
        if q.qtype != rtype::TXT {
            return rcode::REFUSED;
        }
        let text = match q.lower() {
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.opts.node_id.as_str(),
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => match &self.opts.version {
                Some(v) => v.as_str(),
                None => return rcode::REFUSED,
            },
            _ => return rcode::REFUSED,
        };
        let mut rd = [0u8; 256];
        let n = text.len().min(255);
        rd[0] = n as u8;
        rd[1..1 + n].copy_from_slice(&text.as_bytes()[..n]);
        // The CHAOS class is written by hand: the writer assumes IN.
        if write_chaos_txt(w, &rd[..1 + n]).is_err() {
            w.set_tc();
        }
        rcode::NOERROR
    }
}

/// The detail of a summarised refusal: type, zone, transport (and key).
fn summary_detail(q: &Query<'_>, transport: Transport, key: Option<&[u8]>) -> String {
    let ty = stats::type_name(stats::type_slot(q.qtype));
    let ty = if ty == "other" {
        format!("TYPE{}", q.qtype)
    } else {
        ty.to_string()
    };
    let over = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    let mut s = format!("{ty} {} over {over}", crate::zone::name::to_text(q.lower()));
    if let Some(k) = key {
        s.push_str(&format!(", key {}", crate::zone::name::to_text(k)));
    }
    s
}

/// A TSIG record with error BADKEY and no MAC (RFC 8945 section 5.2.1),
/// echoing the request's key, algorithm and time.
fn write_badkey(q: &Query<'_>, tsig: &query::TsigInfo<'_>, w: &mut Writer<'_>) {
    let mut rdata = [0u8; 255 + 16];
    let alg = tsig.algorithm;
    let mut n = alg.len().min(255);
    rdata[..n].copy_from_slice(&alg[..n]);
    rdata[n..n + 6].copy_from_slice(&tsig.time);
    rdata[n + 6..n + 8].copy_from_slice(&tsig.fudge.to_be_bytes());
    n += 8;
    rdata[n..n + 2].copy_from_slice(&0u16.to_be_bytes()); // MAC size
    rdata[n + 2..n + 4].copy_from_slice(&q.id.to_be_bytes());
    rdata[n + 4..n + 6].copy_from_slice(&17u16.to_be_bytes()); // BADKEY
    rdata[n + 6..n + 8].copy_from_slice(&0u16.to_be_bytes());
    n += 8;
    let _ = w.raw_record(Section::Additional, tsig.key, rtype::TSIG, CLASS_ANY, 0, &rdata[..n]);
}

/// What the response carries besides its sections.
#[derive(Default)]
pub(super) struct Extra<'a> {
    /// Extended RCODE (upper bits go into the OPT record).
    ext_rcode: u16,
    /// Extended DNS error (RFC 8914) to attach.
    pub(super) ede: Option<u16>,
    /// The zone's expire timer, for the EDNS EXPIRE option (RFC 7314).
    expire: Option<u32>,
    /// A TSIG error record to append last.
    tsig: Option<query::TsigInfo<'a>>,
    /// The TSIG of the reply to a request signed with a known key (NOTIFY,
    /// transfer request, query): signed with it, or carrying its error.
    pub(super) tsig_reply: Option<super::notify::TsigReply>,
    /// Rate limiting is on: note where the answer came from.
    want_origin: bool,
    origin: edge::Origin,
}

/// Extended DNS error codes (RFC 8914).
mod ede {
    pub const NOT_AUTHORITATIVE: u16 = 20;
}

fn write_chaos_txt(w: &mut Writer<'_>, rd: &[u8]) -> Result<(), super::message::Full> {
    // Owner: pointer to the question name.
    let mut rec = [0u8; 2 + 10 + 256];
    rec[0] = 0xc0;
    rec[1] = 0x0c;
    rec[2..4].copy_from_slice(&rtype::TXT.to_be_bytes());
    rec[4..6].copy_from_slice(&CLASS_CH.to_be_bytes());
    rec[6..10].copy_from_slice(&0u32.to_be_bytes());
    rec[10..12].copy_from_slice(&(rd.len() as u16).to_be_bytes());
    rec[12..12 + rd.len()].copy_from_slice(rd);
    w.raw_bytes(Section::Answer, &rec[..12 + rd.len()])
}

/// A FORMERR response echoing as much of the request as was understood.
fn formerr(req: &[u8], question_len: usize, out: &mut [u8]) -> usize {
    if req.len() < 12 {
        return 0;
    }
    let flags = u16::from_be_bytes([req[2], req[3]]);
    let rflags = hflag::QR | (flags & (0x7800 | hflag::RD | hflag::CD)) | rcode::FORMERR as u16;
    out[..2].copy_from_slice(&req[..2]);
    out[2..4].copy_from_slice(&rflags.to_be_bytes());
    out[4..12].fill(0);
    let mut len = 12;
    if question_len > 0 && 12 + question_len <= req.len() {
        out[12..12 + question_len].copy_from_slice(&req[12..12 + question_len]);
        out[4..6].copy_from_slice(&1u16.to_be_bytes());
        len += question_len;
    }
    len
}
