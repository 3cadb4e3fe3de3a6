//! A minimal DNS message encoder/parser, enough for the harness's own
//! readiness probes and simple assertions, and TCP framing
//! ([`frame`], [`tcp_read`]).

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;
pub const CLASS_CH: u16 = 3;

/// Encodes a query: RD=0, one question, and an OPT record with
/// `edns_payload` when given.
pub fn encode_query(id: u16, name: &str, qtype: u16, qclass: u16, edns_payload: Option<u16>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0]); // QR=0 opcode=0 RD=0
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&(edns_payload.is_some() as u16).to_be_bytes());
    encode_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    if let Some(p) = edns_payload {
        m.push(0); // root owner
        m.extend_from_slice(&TYPE_OPT.to_be_bytes());
        m.extend_from_slice(&p.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ext-rcode, version, flags, rdlen
    }
    m
}

fn encode_name(m: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        assert!(label.len() < 64, "label too long: {label}");
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
}

/// One resource record.
#[derive(Clone, Debug)]
pub struct Rr {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// A parsed response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub id: u16,
    pub flags: u16,
    /// The header rcode (4 bits; extended bits are not folded in).
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub answers: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
    pub size: usize,
}

impl Reply {
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rcode={} aa={} tc={} an={} ns={} ar={}",
            self.rcode,
            self.aa() as u8,
            self.tc() as u8,
            self.ancount,
            self.nscount,
            self.arcount
        )
    }
}

fn read_name(m: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *m.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *m.get(pos + 1)? as usize;
            if end.is_none() {
                end = Some(pos + 2);
            }
            jumps += 1;
            if jumps > 64 {
                return None;
            }
            pos = ptr;
            continue;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = m.get(pos + 1..pos + 1 + len)?;
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        pos += 1 + len;
    }
    if name.is_empty() {
        name.push('.');
    }
    Some((name, end.unwrap_or(pos)))
}

fn read_rr(m: &[u8], pos: usize) -> Option<(Rr, usize)> {
    let (name, p) = read_name(m, pos)?;
    let f = m.get(p..p + 10)?;
    let rtype = u16::from_be_bytes([f[0], f[1]]);
    let class = u16::from_be_bytes([f[2], f[3]]);
    let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
    let rdata = m.get(p + 10..p + 10 + rdlen)?.to_vec();
    Some((
        Rr {
            name,
            rtype,
            class,
            ttl,
            rdata,
        },
        p + 10 + rdlen,
    ))
}

/// Parses a response; None if it is malformed.
pub fn parse(m: &[u8]) -> Option<Reply> {
    let h = m.get(..12)?;
    let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let mut r = Reply {
        id: w(0),
        flags: w(2),
        rcode: (w(2) & 0xf) as u8,
        qdcount: w(4),
        ancount: w(6),
        nscount: w(8),
        arcount: w(10),
        answers: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        size: m.len(),
    };
    let mut pos = 12;
    for _ in 0..r.qdcount {
        let (_, p) = read_name(m, pos)?;
        pos = p + 4;
    }
    for (count, which) in [(r.ancount, 0), (r.nscount, 1), (r.arcount, 2)] {
        for _ in 0..count {
            let (rr, p) = read_rr(m, pos)?;
            pos = p;
            match which {
                0 => r.answers.push(rr),
                1 => r.authority.push(rr),
                _ => r.additional.push(rr),
            }
        }
    }
    Some(r)
}

fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static ID: AtomicU16 = AtomicU16::new(0x5a5a);
    ID.fetch_add(1, Ordering::Relaxed)
}

/// One query over UDP (EDNS payload 1232); waits for the reply with the
/// same ID.
pub fn udp_query(addr: SocketAddr, name: &str, qtype: u16, qclass: u16, timeout: Duration) -> io::Result<Reply> {
    let bind = if addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(addr)?;
    let id = next_id();
    sock.send(&encode_query(id, name, qtype, qclass, Some(1232)))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no UDP response"));
        }
        sock.set_read_timeout(Some(left))?;
        let n = sock.recv(&mut buf)?;
        if let Some(r) = parse(&buf[..n])
            && r.id == id
            && r.qr()
        {
            return Ok(r);
        }
    }
}

/// One query over TCP (EDNS payload 1232).
pub fn tcp_query(addr: SocketAddr, name: &str, qtype: u16, qclass: u16, timeout: Duration) -> io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let id = next_id();
    let q = encode_query(id, name, qtype, qclass, Some(1232));
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf)?;
    parse(&buf).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparseable response"))
}

/// `msg` with its two-octet length prefix (RFC 1035 section 4.2.2), as
/// sent over TCP.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    assert!(msg.len() <= u16::MAX as usize, "message too long for TCP framing");
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    framed
}

/// What [`tcp_read`] found on a connection.
#[derive(Debug)]
pub enum TcpRead {
    /// One whole length-prefixed message (without its prefix).
    Message(Vec<u8>),
    /// The peer closed (EOF: `error` None) or reset the connection;
    /// `partial` octets of an unfinished message had arrived.
    Closed {
        error: Option<io::ErrorKind>,
        partial: usize,
    },
    /// No whole message before the deadline; the connection is still open.
    TimedOut { partial: usize },
}

/// Reads one length-prefixed message from `s`, waiting at most `timeout`.
/// Reads exactly one message, so pipelined responses can be read one by
/// one.
pub fn tcp_read(s: &mut TcpStream, timeout: Duration) -> TcpRead {
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut need = 2usize;
    let mut have_len = false;
    loop {
        while buf.len() < need {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return TcpRead::TimedOut { partial: buf.len() };
            }
            let _ = s.set_read_timeout(Some(left));
            let mut chunk = vec![0u8; need - buf.len()];
            match s.read(&mut chunk) {
                Ok(0) => {
                    return TcpRead::Closed {
                        error: None,
                        partial: buf.len(),
                    };
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    return TcpRead::Closed {
                        error: Some(e.kind()),
                        partial: buf.len(),
                    };
                }
            }
        }
        if have_len {
            return TcpRead::Message(buf.split_off(2));
        }
        have_len = true;
        need = 2 + u16::from_be_bytes([buf[0], buf[1]]) as usize;
    }
}
