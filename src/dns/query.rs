//! Parsing a DNS request without allocating: header, the one question, and
//! the additional section (OPT per RFC 6891, TSIG presence).

use crate::zone::rtype;

/// Header flag bits (second 16-bit word).
pub mod hflag {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// EDNS option codes we act on.
pub mod opt {
    pub const NSID: u16 = 3;
    pub const EXPIRE: u16 = 9;
    pub const COOKIE: u16 = 10;
    pub const EDE: u16 = 15;
}

/// The EDNS(0) part of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    pub nsid: bool,
    pub expire: bool,
    /// The COOKIE option's value (client cookie, then any server cookie):
    /// its offset in the request and its length (8, or 16..=40).
    pub cookie: Option<(u16, u8)>,
}

/// A parsed request. `qname` is in the query's own case; `lower` holds the
/// lowercased copy used for lookups.
#[derive(Clone, Copy)]
pub struct Query<'a> {
    /// The whole request as received.
    pub raw: &'a [u8],
    pub id: u16,
    pub flags: u16,
    pub opcode: u8,
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// The request carries a TSIG record.
    pub tsig: Option<TsigInfo<'a>>,
    lower: [u8; 255],
}

/// The parts of a request's TSIG record needed to answer it.
#[derive(Clone, Copy, Debug)]
pub struct TsigInfo<'a> {
    pub key: &'a [u8],
    pub algorithm: &'a [u8],
    pub time: [u8; 6],
    pub fudge: u16,
}

impl<'a> Query<'a> {
    /// The question name, lowercase wire format.
    #[inline]
    pub fn lower(&self) -> &[u8] {
        &self.lower[..self.qname.len()]
    }

    pub fn rd(&self) -> bool {
        self.flags & hflag::RD != 0
    }

    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// The client cookie and the server cookie (empty if none) of the
    /// request's COOKIE option.
    pub fn cookie(&self) -> Option<(&'a [u8; 8], &'a [u8])> {
        let (at, len) = self.edns?.cookie?;
        let v = self.raw.get(at as usize..at as usize + len as usize)?;
        let (client, server) = v.split_first_chunk::<8>()?;
        Some((client, server))
    }
}

/// Why a request cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not worth a reply (shorter than a header, or a response).
    Drop,
    /// Malformed: answer FORMERR; `question_len` is how much of the
    /// question, if any, can be echoed.
    FormErr { question_len: usize },
}

/// Parses a request.
pub fn parse(msg: &[u8]) -> Result<Query<'_>, Reject> {
    if msg.len() < 12 {
        return Err(Reject::Drop);
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & hflag::QR != 0 {
        return Err(Reject::Drop);
    }
    let opcode = ((flags >> 11) & 0x0f) as u8;
    let count = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]);
    let (qd, an, ns, ar) = (count(0), count(1), count(2), count(3));
    if qd != 1 {
        return Err(Reject::FormErr { question_len: 0 });
    }
    let formerr0 = Reject::FormErr { question_len: 0 };
    // Question name: plain labels only, no compression.
    let mut lower = [0u8; 255];
    let mut pos = 12usize;
    loop {
        let len = *msg.get(pos).ok_or(formerr0)? as usize;
        if len & 0xc0 != 0 {
            return Err(formerr0);
        }
        let end = pos + 1 + len;
        if end - 12 > 255 || end > msg.len() {
            return Err(formerr0);
        }
        lower[pos - 12] = len as u8;
        for (d, s) in lower[pos - 12 + 1..end - 12].iter_mut().zip(&msg[pos + 1..end]) {
            *d = s.to_ascii_lowercase();
        }
        pos = end;
        if len == 0 {
            break;
        }
    }
    let qname = &msg[12..pos];
    if pos + 4 > msg.len() {
        return Err(formerr0);
    }
    let qtype = u16::from_be_bytes([msg[pos], msg[pos + 1]]);
    let qclass = u16::from_be_bytes([msg[pos + 2], msg[pos + 3]]);
    pos += 4;
    let question_len = pos - 12;
    let formerr = Reject::FormErr { question_len };

    // Answer and authority records in a query are skipped; an OPT there is
    // an error (RFC 6891 section 6.1.1: it belongs in the additional section).
    for _ in 0..(an as usize + ns as usize) {
        pos = skip_name(msg, pos).ok_or(formerr)?;
        if msg.get(pos..pos + 2) == Some(&rtype::OPT.to_be_bytes()[..]) {
            return Err(formerr);
        }
        let rdlen = *msg.get(pos + 8).ok_or(formerr)? as usize * 256 + *msg.get(pos + 9).ok_or(formerr)? as usize;
        pos += 10 + rdlen;
        if pos > msg.len() {
            return Err(formerr);
        }
    }
    let mut edns: Option<Edns> = None;
    let mut tsig = None;
    for i in 0..ar {
        let owner_start = pos;
        pos = skip_name(msg, pos).ok_or(formerr)?;
        let owner = &msg[owner_start..pos];
        if pos + 10 > msg.len() {
            return Err(formerr);
        }
        let rt = u16::from_be_bytes([msg[pos], msg[pos + 1]]);
        let class = u16::from_be_bytes([msg[pos + 2], msg[pos + 3]]);
        let ttl = [msg[pos + 4], msg[pos + 5], msg[pos + 6], msg[pos + 7]];
        let rdlen = u16::from_be_bytes([msg[pos + 8], msg[pos + 9]]) as usize;
        let rdata_start = pos + 10;
        pos = rdata_start + rdlen;
        if pos > msg.len() {
            return Err(formerr);
        }
        let rdata = &msg[rdata_start..pos];
        match rt {
            rtype::OPT => {
                if edns.is_some() || owner != [0] {
                    return Err(formerr);
                }
                let mut e = Edns {
                    payload: class,
                    version: ttl[1],
                    dnssec_ok: ttl[2] & 0x80 != 0,
                    ..Edns::default()
                };
                parse_options(rdata, rdata_start, &mut e).ok_or(formerr)?;
                edns = Some(e);
            }
            rtype::TSIG => {
                // TSIG must be the last record.
                if i + 1 != ar {
                    return Err(formerr);
                }
                tsig = Some(parse_tsig(msg, owner_start, rdata).ok_or(formerr)?);
            }
            _ => {}
        }
    }
    if pos != msg.len() {
        return Err(formerr);
    }
    Ok(Query {
        raw: msg,
        id,
        flags,
        opcode,
        qname,
        qtype,
        qclass,
        edns,
        tsig,
        lower,
    })
}

fn parse_options(mut data: &[u8], mut offset: usize, e: &mut Edns) -> Option<()> {
    while !data.is_empty() {
        if data.len() < 4 {
            return None;
        }
        let code = u16::from_be_bytes([data[0], data[1]]);
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        let value = data.get(4..4 + len)?;
        match code {
            opt::NSID => e.nsid = true,
            opt::EXPIRE => e.expire = true,
            // RFC 7873: client cookie of 8 octets, optional server cookie of 8-32.
            opt::COOKIE if !(len == 8 || (16..=40).contains(&len)) => return None,
            // A second COOKIE option is ignored.
            opt::COOKIE if e.cookie.is_some() => {}
            opt::COOKIE => e.cookie = Some((u16::try_from(offset + 4).ok()?, len as u8)),
            _ => {}
        }
        let _ = value;
        data = &data[4 + len..];
        offset += 4 + len;
    }
    Some(())
}

fn parse_tsig<'a>(msg: &'a [u8], owner_start: usize, rdata: &'a [u8]) -> Option<TsigInfo<'a>> {
    // The key name is echoed in the reply: accept it only uncompressed.
    let key_len = crate::zone::name::skip_name(msg.get(owner_start..)?)?;
    let key = &msg[owner_start..owner_start + key_len];
    if skip_name(msg, owner_start)? != owner_start + key_len {
        return None;
    }
    let alg_end = crate::zone::name::skip_name(rdata)?;
    let algorithm = &rdata[..alg_end];
    let rest = rdata.get(alg_end..alg_end + 8)?;
    let mut time = [0u8; 6];
    time.copy_from_slice(&rest[..6]);
    let fudge = u16::from_be_bytes([rest[6], rest[7]]);
    Some(TsigInfo {
        key,
        algorithm,
        time,
        fudge,
    })
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 => {
                pos += 1 + len as usize;
                if len == 0 {
                    return (pos <= msg.len()).then_some(pos);
                }
            }
            0xc0 => {
                let ptr = (((len & 0x3f) as usize) << 8) | *msg.get(pos + 1)? as usize;
                if ptr >= pos {
                    return None;
                }
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &[u8], qtype: u16, extra: &[u8], ar: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&ar.to_be_bytes());
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(extra);
        m
    }

    #[test]
    fn parses_question_and_opt() {
        let opt = [0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 4, 0, 3, 0, 0];
        let m = q(b"\x03WwW\x07example\x00", 1, &opt, 1);
        let p = parse(&m).unwrap();
        assert_eq!(p.lower(), b"\x03www\x07example\x00");
        assert_eq!(p.qname, b"\x03WwW\x07example\x00");
        let e = p.edns.unwrap();
        assert!(e.dnssec_ok && e.nsid);
        assert_eq!(e.payload, 1232);
        assert!(p.cookie().is_none());
    }

    #[test]
    fn finds_the_cookie() {
        let mut opt = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 32, 0, 3, 0, 0, 0, 10, 0, 24];
        opt.extend_from_slice(b"clientccSERVERSERVERSERV");
        let m = q(b"\x03www\x00", 1, &opt, 1);
        let p = parse(&m).unwrap();
        let (c, s) = p.cookie().unwrap();
        assert_eq!((&c[..], s), (&b"clientcc"[..], &b"SERVERSERVERSERV"[..]));
        // Client cookie only; a bad length is malformed; of two, the first.
        let opt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let m = q(b"\x00", 1, &opt, 1);
        let p = parse(&m).unwrap();
        assert_eq!(p.cookie().map(|(_, s)| s.len()), Some(0));
        let opt = [
            0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 13, 0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ];
        assert!(parse(&q(b"\x00", 1, &opt, 1)).is_err());
        let mut two = vec![0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 24];
        for _ in 0..2 {
            two.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        }
        two[27] = 9;
        let m = q(b"\x00", 1, &two, 1);
        let p = parse(&m).unwrap();
        assert_eq!(p.cookie().map(|(c, _)| c[0]), Some(1));
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(parse(&[0; 5]).err(), Some(Reject::Drop));
        let m = q(b"\x03www\x00", 1, &[0xff], 0);
        assert!(matches!(parse(&m), Err(Reject::FormErr { question_len: 9 })));
        let m = q(b"\xc0\x0c", 1, &[], 0);
        assert!(matches!(parse(&m), Err(Reject::FormErr { question_len: 0 })));
        let two_opts = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0];
        let m = q(b"\x00", 1, &two_opts, 2);
        assert!(matches!(parse(&m), Err(Reject::FormErr { .. })));
    }
}
