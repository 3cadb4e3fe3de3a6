//! One transfer request: parsing it (question, the client's SOA serial in
//! the authority section of an IXFR, EDNS, TSIG presence) and deciding
//! whether it is served: TSIG verified first (RFC 8945 section 5.2), then
//! the zone, `allow-transfer`, the zone's key and the limits. A refusal
//! carries its RCODE, EDE and TSIG, and is built by [`refusal_message`]
//! without any zone data. Sans-IO, so the fuzz target drives it as is.

use std::net::IpAddr;
use std::sync::Arc;

use super::{OutAcl, OutTable};
use crate::tsig::{self, Key, TsigError};
use crate::zone::{ZoneSet, name, rtype};

/// RCODEs used here.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const REFUSED: u8 = 5;
    pub const NOTAUTH: u8 = 9;
}

/// EDE 18, "Prohibited" (RFC 8914).
pub const EDE_PROHIBITED: u16 = 18;
const OPT_EDE: u16 = 15;
const CLASS_IN: u16 = 1;
const QR: u16 = 0x8000;
const RD: u16 = 0x0100;

/// A parsed AXFR or IXFR request.
#[derive(Clone, Debug)]
pub struct XfrRequest<'a> {
    /// The whole request as received.
    pub raw: &'a [u8],
    pub id: u16,
    pub flags: u16,
    /// The question name as sent (its case is echoed).
    pub qname: &'a [u8],
    /// The question name, lowercase.
    pub apex: Vec<u8>,
    /// `rtype::AXFR` or `rtype::IXFR`.
    pub qtype: u16,
    /// IXFR: the serial of the SOA in the authority section.
    pub client_serial: Option<u32>,
    /// The request carries an OPT record (its payload size).
    pub edns: Option<u16>,
    /// The request carries a TSIG record.
    pub signed: bool,
    /// The time signed of that record, if readable (for logs and tests;
    /// verification reads the record itself).
    pub tsig_time: Option<u64>,
}

impl XfrRequest<'_> {
    pub fn is_ixfr(&self) -> bool {
        self.qtype == rtype::IXFR
    }
}

/// Why a request is not one for this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotXfr {
    /// Not a query for AXFR/IXFR in class IN (answer it the usual way).
    Other,
    /// A transfer request that does not parse: FORMERR (the usual path
    /// answers it).
    Malformed,
}

/// Parses `msg` as a transfer request (opcode QUERY, one question of type
/// AXFR or IXFR, class IN). Any bytes give a result, never a panic.
pub fn parse(msg: &[u8]) -> Result<XfrRequest<'_>, NotXfr> {
    let hdr = msg.get(..12).ok_or(NotXfr::Other)?;
    let be = |i: usize| u16::from_be_bytes([hdr[i], hdr[i + 1]]);
    let (id, flags) = (be(0), be(2));
    if flags & QR != 0 || (flags >> 11) & 0x0f != 0 || be(4) != 1 {
        return Err(NotXfr::Other);
    }
    let (an, ns, ar) = (be(6), be(8), be(10));
    // The question name: plain labels only; nothing is allocated before
    // the type says this is a transfer request (every TCP query comes here).
    let mut pos = 12usize;
    loop {
        let len = *msg.get(pos).ok_or(NotXfr::Other)? as usize;
        if len & 0xc0 != 0 || pos + 1 + len > msg.len() || pos + 1 + len - 12 > name::MAX_NAME_LEN {
            return Err(NotXfr::Other);
        }
        pos += 1 + len;
        if len == 0 {
            break;
        }
    }
    let qname = &msg[12..pos];
    let tail = msg.get(pos..pos + 4).ok_or(NotXfr::Other)?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let qclass = u16::from_be_bytes([tail[2], tail[3]]);
    if !(qtype == rtype::AXFR || qtype == rtype::IXFR) || qclass != CLASS_IN {
        return Err(NotXfr::Other);
    }
    // Label lengths are below 'A': lowercasing the wire name is safe.
    let apex = qname.to_ascii_lowercase();
    pos += 4;
    let mut client_serial = None;
    let mut edns = None;
    let mut signed = false;
    let mut tsig_time = None;
    let total = an as usize + ns as usize + ar as usize;
    for i in 0..total {
        pos = skip_name(msg, pos).ok_or(NotXfr::Malformed)?;
        let f = msg.get(pos..pos + 10).ok_or(NotXfr::Malformed)?;
        let rt = u16::from_be_bytes([f[0], f[1]]);
        let class = u16::from_be_bytes([f[2], f[3]]);
        let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
        let rd_start = pos + 10;
        pos = rd_start + rdlen;
        if pos > msg.len() {
            return Err(NotXfr::Malformed);
        }
        let in_authority = i >= an as usize && i < an as usize + ns as usize;
        let in_additional = i >= an as usize + ns as usize;
        if in_authority && rt == rtype::SOA && client_serial.is_none() {
            // Serial after MNAME and RNAME (either may be compressed).
            let a = skip_name(msg, rd_start).ok_or(NotXfr::Malformed)?;
            let b = skip_name(msg, a).ok_or(NotXfr::Malformed)?;
            let s = msg.get(b..b + 4).filter(|_| b + 20 <= pos).ok_or(NotXfr::Malformed)?;
            client_serial = Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        }
        if in_additional && rt == rtype::OPT {
            if edns.is_some() {
                return Err(NotXfr::Malformed);
            }
            if f[5] != 0 {
                // EDNS version above 0: the usual path answers BADVERS.
                return Err(NotXfr::Other);
            }
            edns = Some(class);
        }
        if rt == rtype::TSIG {
            // TSIG is the last record (RFC 8945 section 5.1).
            if i + 1 != total || !in_additional {
                return Err(NotXfr::Malformed);
            }
            signed = true;
            let rd = &msg[rd_start..pos];
            tsig_time = crate::zone::name::skip_name(rd)
                .and_then(|a| rd.get(a..a + 6))
                .map(|t| t.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
        }
    }
    if pos != msg.len() {
        return Err(NotXfr::Malformed);
    }
    Ok(XfrRequest {
        raw: msg,
        id,
        flags,
        qname,
        apex,
        qtype,
        client_serial,
        edns,
        signed,
        tsig_time,
    })
}

/// Skips a possibly compressed name; the offset after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => {
                pos += 1 + len as usize;
                if pos > msg.len() {
                    return None;
                }
            }
            0xc0 => return (pos + 2 <= msg.len()).then_some(pos + 2),
            _ => return None,
        }
    }
}

/// Why a transfer request was refused (the `reason` label in /metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The source is not in the zone's `allow-transfer`: REFUSED, EDE 18.
    NotAllowed,
    /// No zone with that apex is served here: NOTAUTH.
    NotServed,
    /// Served, but no version is loaded (or it expired): SERVFAIL.
    NotLoaded,
    /// The zone requires a TSIG key and the request is unsigned: NOTAUTH.
    Unsigned,
    /// Signed with a key that is not known, or not the zone's: NOTAUTH, BADKEY.
    BadKey,
    /// The MAC does not verify: NOTAUTH, BADSIG.
    BadSig,
    /// Signed too far from our clock: NOTAUTH, BADTIME.
    BadTime,
    /// The TSIG record is malformed: FORMERR.
    BadTsig,
    /// An IXFR without the client's SOA in the authority section: FORMERR
    /// (as Knot).
    NoSoa,
    /// `max-out` transfers are running: REFUSED.
    MaxOut,
    /// `max-out-per-client` transfers to that address are running: REFUSED.
    MaxOutPerClient,
}

impl Refusal {
    pub const ALL: [Refusal; 11] = [
        Refusal::NotAllowed,
        Refusal::NotServed,
        Refusal::NotLoaded,
        Refusal::Unsigned,
        Refusal::BadKey,
        Refusal::BadSig,
        Refusal::BadTime,
        Refusal::BadTsig,
        Refusal::NoSoa,
        Refusal::MaxOut,
        Refusal::MaxOutPerClient,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not-allowed",
            Refusal::NotServed => "not-served",
            Refusal::NotLoaded => "not-loaded",
            Refusal::Unsigned => "tsig-missing",
            Refusal::BadKey => "tsig-badkey",
            Refusal::BadSig => "tsig-badsig",
            Refusal::BadTime => "tsig-badtime",
            Refusal::BadTsig => "tsig-malformed",
            Refusal::NoSoa => "ixfr-without-soa",
            Refusal::MaxOut => "max-out",
            Refusal::MaxOutPerClient => "max-out-per-client",
        }
    }

    /// The log summary's reason.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "source not in allow-transfer",
            Refusal::NotServed => "zone not served here",
            Refusal::NotLoaded => "zone has no version loaded",
            Refusal::Unsigned => "zone requires TSIG and the request is unsigned",
            Refusal::BadKey => "TSIG BADKEY",
            Refusal::BadSig => "TSIG BADSIG",
            Refusal::BadTime => "TSIG BADTIME",
            Refusal::BadTsig => "malformed TSIG",
            Refusal::NoSoa => "IXFR without SOA in the authority section",
            Refusal::MaxOut => "max-out transfers running",
            Refusal::MaxOutPerClient => "max-out-per-client transfers running for this client",
        }
    }

    pub fn rcode(self) -> u8 {
        match self {
            Refusal::NotAllowed | Refusal::MaxOut | Refusal::MaxOutPerClient => rcode::REFUSED,
            Refusal::NotLoaded => rcode::SERVFAIL,
            Refusal::BadTsig | Refusal::NoSoa => rcode::FORMERR,
            _ => rcode::NOTAUTH,
        }
    }

    fn ede(self) -> Option<u16> {
        (self == Refusal::NotAllowed).then_some(EDE_PROHIBITED)
    }
}

/// How the answer's messages are signed.
#[derive(Clone, Debug)]
pub struct Signer {
    pub key: Arc<Key>,
    /// The request MAC (the first answer message covers it).
    pub request_mac: Vec<u8>,
}

/// The TSIG of a refusal.
#[derive(Clone, Debug)]
pub enum RefusalTsig {
    None,
    Sign(Signer),
    Error(TsigError),
}

/// A refused request: why, and the TSIG its answer carries.
#[derive(Clone, Debug)]
pub struct Refused {
    pub reason: Refusal,
    pub tsig: RefusalTsig,
    /// Detail for the log (key names), possibly empty.
    pub detail: String,
}

/// An accepted request.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub signer: Option<Signer>,
    pub acl: OutAcl,
}

/// Decides on a parsed request from `peer` at Unix time `now`, against
/// the rules in `table` and the zones in `set`. Limits are checked by the
/// caller after this (they take a slot).
pub fn decide(
    req: &XfrRequest<'_>,
    peer: Option<IpAddr>,
    table: &OutTable,
    set: &ZoneSet,
    now: u64,
) -> Result<Accepted, Refused> {
    let zone = || name::to_text(&req.apex);
    let mut signer = None;
    if req.signed {
        let lookup = |n: &[u8]| table.keys.get(n).map(|k| &**k);
        match tsig::verify_request(req.raw, &lookup, now) {
            Ok(ok) => {
                if let Some(key) = table.keys.get(&ok.key_name) {
                    signer = Some(Signer {
                        key: key.clone(),
                        request_mac: ok.mac,
                    });
                }
            }
            Err(e) => {
                let reason = match &e {
                    TsigError::BadKey { .. } => Refusal::BadKey,
                    TsigError::BadSig { .. } => Refusal::BadSig,
                    TsigError::BadTime { .. } => Refusal::BadTime,
                    _ => Refusal::BadTsig,
                };
                let detail = e.to_string();
                return Err(Refused {
                    reason,
                    tsig: RefusalTsig::Error(e),
                    detail,
                });
            }
        }
    }
    let signed_refusal = |reason: Refusal, detail: String| Refused {
        reason,
        tsig: signer.clone().map_or(RefusalTsig::None, RefusalTsig::Sign),
        detail,
    };
    let Some(served) = set.get(&req.apex) else {
        return Err(signed_refusal(Refusal::NotServed, String::new()));
    };
    let acl = table.zones.get(req.apex.as_slice());
    let allowed = match (acl, peer) {
        (Some(acl), Some(ip)) => acl.allows(&ip),
        _ => false,
    };
    let Some(acl) = acl.filter(|_| allowed) else {
        return Err(signed_refusal(Refusal::NotAllowed, String::new()));
    };
    if let Some(key) = &acl.key {
        match &signer {
            Some(s) if s.key.name == key.name => {}
            Some(s) => {
                let detail = format!(
                    "signed with key {} but the zone uses {}",
                    s.key.name_text(),
                    key.name_text()
                );
                let e = TsigError::BadKey {
                    key: s.key.name_text(),
                    detail: format!("zone {} uses another key", zone()),
                };
                return Err(Refused {
                    reason: Refusal::BadKey,
                    tsig: RefusalTsig::Error(e),
                    detail,
                });
            }
            None => {
                return Err(signed_refusal(
                    Refusal::Unsigned,
                    format!("the zone requires key {}", key.name_text()),
                ));
            }
        }
    }
    if req.is_ixfr() && req.client_serial.is_none() {
        return Err(signed_refusal(Refusal::NoSoa, String::new()));
    }
    if served.answerable().is_none() {
        return Err(signed_refusal(Refusal::NotLoaded, String::new()));
    }
    Ok(Accepted {
        signer,
        acl: acl.clone(),
    })
}

/// The request and the refusal's detail as a log line's detail:
/// `AXFR example.test. over tcp: signed with key ...`.
pub fn describe(req: &XfrRequest<'_>, transport: &str, detail: &str) -> String {
    let ty = if req.is_ixfr() { "IXFR" } else { "AXFR" };
    let mut s = format!("{ty} {} over {transport}", name::to_text(&req.apex));
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// The header and question of an answer to `req`, RCODE `rc`: QR, AA when
/// `aa`, RD copied, counts zero but QDCOUNT.
pub fn answer_start(req: &XfrRequest<'_>, rc: u8, aa: bool, out: &mut Vec<u8>) {
    out.clear();
    let flags = QR | (req.flags & RD) | if aa { 0x0400 } else { 0 } | u16::from(rc & 0x0f);
    out.extend_from_slice(&req.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(req.qname);
    out.extend_from_slice(&req.qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
}

/// Appends an OPT record (payload `payload`, with EDE `ede` if any) and
/// bumps ARCOUNT.
pub fn append_opt(out: &mut Vec<u8>, payload: u16, ede: Option<u16>) {
    let mut rdata = Vec::new();
    if let Some(code) = ede {
        rdata.extend_from_slice(&OPT_EDE.to_be_bytes());
        rdata.extend_from_slice(&2u16.to_be_bytes());
        rdata.extend_from_slice(&code.to_be_bytes());
    }
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    bump_arcount(out);
}

pub(super) fn bump_arcount(out: &mut [u8]) {
    if let Some(ar) = out.get_mut(10..12) {
        let n = u16::from_be_bytes([ar[0], ar[1]]).saturating_add(1);
        ar.copy_from_slice(&n.to_be_bytes());
    }
}

/// The whole answer to a refused request: header, question, OPT (with EDE
/// 18 for `allow-transfer` refusals) when the request had EDNS, and the
/// TSIG the refusal calls for. No zone data.
pub fn refusal_message(req: &XfrRequest<'_>, refused: &Refused, table: &OutTable, payload: u16, now: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    answer_start(req, refused.reason.rcode(), false, &mut out);
    if req.edns.is_some() {
        append_opt(&mut out, payload, refused.reason.ede());
    }
    match &refused.tsig {
        RefusalTsig::None => {}
        RefusalTsig::Sign(s) => {
            tsig::sign_response(&mut out, &s.key, &s.request_mac, now, tsig::DEFAULT_FUDGE);
        }
        RefusalTsig::Error(e) => {
            let lookup = |n: &[u8]| table.keys.get(n).map(|k| &**k);
            tsig::error_response_tsig(&mut out, req.raw, e, &lookup, now);
        }
    }
    out
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
