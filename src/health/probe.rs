//! DNS probes: real queries over UDP to the node's own listeners, and the
//! choice of which zones to ask each round.
//!
//! A probe is one query: the configured `health.probe`, or the SOA of a
//! zone. It passes when a response with the query's ID and question comes
//! back within the timeout with RCODE NOERROR and AA set, and, for SOA,
//! with an SOA record in the answer section. Each listener is asked over
//! its own fresh, connected UDP socket (a new source port every round, so
//! over time every SO_REUSEPORT worker is reached); all of a round's
//! queries to one listener are sent at once and matched by ID.
//!
//! With many zones, [`Rotation`] picks at most [`ZONES_PER_ROUND`] zones a
//! round: zones that failed last round first (so a failing zone is asked
//! again every round and `fall` can count it), then the next zones in
//! name order, wrapping around. Every zone is asked at least once every
//! `ceil(zones / ZONES_PER_ROUND)` rounds; the in-memory zone check
//! (loaded, not expired) covers every zone every round.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::zone::build::type_name;
use crate::zone::{name, rtype};

/// Zones asked per listener per round, at most.
pub const ZONES_PER_ROUND: usize = 32;

/// What a response must show for the probe to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// NOERROR and AA; with `answer`, a record of the asked type in the
    /// answer section.
    Authoritative { answer: bool },
    /// Any well-formed response (a node with no zones: the listener answers).
    Response,
}

/// One query to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Lowercase wire format.
    pub qname: Box<[u8]>,
    pub qtype: u16,
    pub expect: Expect,
}

impl Target {
    /// The SOA of a zone: authoritative, with the SOA in the answer.
    pub fn soa(apex: &[u8]) -> Target {
        Target {
            qname: apex.into(),
            qtype: rtype::SOA,
            expect: Expect::Authoritative { answer: true },
        }
    }

    /// `health.probe`: authoritative NOERROR; for SOA, with an answer.
    pub fn configured(qname: &[u8], qtype: u16) -> Target {
        Target {
            qname: qname.into(),
            qtype,
            expect: Expect::Authoritative {
                answer: qtype == rtype::SOA,
            },
        }
    }

    /// `. SOA`, any answer: only that the listener answers.
    pub fn liveness() -> Target {
        Target {
            qname: Box::new([0]),
            qtype: rtype::SOA,
            expect: Expect::Response,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", display_name(&self.qname), type_name(self.qtype))
    }
}

/// A name for logs: presentation format without the trailing dot (`.` for
/// the root).
pub fn display_name(wire: &[u8]) -> String {
    let t = name::to_text(wire);
    match t.strip_suffix('.') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => t,
    }
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout(Duration),
    Rcode(u8),
    NotAuthoritative,
    /// No record of the asked type in the answer section.
    NoAnswer(u16),
    Truncated,
    Malformed(&'static str),
    /// Socket error: refused (nothing listening), unreachable, ...
    Network(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(d) => write!(f, "timeout after {}", crate::config::format_duration(*d)),
            Failure::Rcode(r) => write!(f, "{}", rcode_name(*r)),
            Failure::NotAuthoritative => f.write_str("not authoritative (AA clear)"),
            Failure::NoAnswer(t) => write!(f, "no {} in the answer", type_name(*t)),
            Failure::Truncated => f.write_str("truncated (TC set)"),
            Failure::Malformed(why) => write!(f, "malformed response: {why}"),
            Failure::Network(e) => write!(f, "{e}"),
        }
    }
}

pub fn rcode_name(r: u8) -> String {
    match r {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        r => format!("RCODE{r}"),
    }
}

/// The address to send probes to for a listen address: the address
/// itself, or the loopback address of its family for a wildcard.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port()),
        _ => listen,
    }
}

/// A query for `t` with `id` (no RD, no EDNS).
#[cfg(test)]
pub fn encode_query(id: u16, t: &Target) -> Vec<u8> {
    encode_query_with_cookie(id, t, None)
}

/// [`encode_query`] with an EDNS COOKIE option (client and server cookie).
pub fn encode_query_with_cookie(id: u16, t: &Target, cookie: Option<&[u8; 24]>) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + t.qname.len() + 4 + 11 + 28);
    m.extend_from_slice(&id.to_be_bytes());
    let ar = u8::from(cookie.is_some());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, ar]);
    m.extend_from_slice(&t.qname);
    m.extend_from_slice(&t.qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    if let Some(c) = cookie {
        // OPT: root owner, payload 1232, no flags, one COOKIE option.
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 28, 0, 10, 0, 24]);
        m.extend_from_slice(c);
    }
    m
}

/// A client cookie and the server cookie `secrets` make for it at `ip`:
/// what the listener will find valid.
fn probe_cookie(secrets: &crate::cookie::Secrets, ip: IpAddr) -> [u8; 24] {
    let client =
        (u64::from(random_id()) << 48 | u64::from(random_id()) << 16 | u64::from(std::process::id())).to_be_bytes();
    let server = crate::cookie::make(&secrets.current, &client, ip, crate::tsig::unix_now() as u32);
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&client);
    out[8..].copy_from_slice(&server);
    out
}

/// What a received datagram means for the probe with `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Not a response to this query (other ID, other question): ignore it.
    NotOurs,
    Pass,
    Fail(Failure),
}

/// Checks `msg` as the response to the query for `t` with `id`.
pub fn check_response(msg: &[u8], id: u16, t: &Target) -> Checked {
    let Some(header) = msg.get(..12) else {
        return Checked::NotOurs;
    };
    let rid = u16::from_be_bytes([header[0], header[1]]);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if rid != id || flags & 0x8000 == 0 {
        return Checked::NotOurs;
    }
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    let ancount = u16::from_be_bytes([header[6], header[7]]);
    let rcode = (flags & 0x000f) as u8;
    // The question must be ours (FORMERR may come without one).
    let mut pos = 12;
    if qdcount == 1 {
        let end = 12 + t.qname.len() + 4;
        let Some(q) = msg.get(12..end) else {
            return Checked::Fail(Failure::Malformed("question cut short"));
        };
        let (qn, rest) = q.split_at(t.qname.len());
        if !qn.eq_ignore_ascii_case(&t.qname) || rest[..2] != t.qtype.to_be_bytes() {
            return Checked::NotOurs;
        }
        pos = end;
    } else if rcode == 0 {
        return Checked::Fail(Failure::Malformed("no question"));
    }
    if (flags >> 11) & 0x0f != 0 {
        return Checked::Fail(Failure::Malformed("wrong opcode"));
    }
    let Expect::Authoritative { answer } = t.expect else {
        return Checked::Pass;
    };
    if rcode != 0 {
        return Checked::Fail(Failure::Rcode(rcode));
    }
    if flags & 0x0200 != 0 {
        return Checked::Fail(Failure::Truncated);
    }
    if flags & 0x0400 == 0 {
        return Checked::Fail(Failure::NotAuthoritative);
    }
    if answer {
        if ancount == 0 {
            return Checked::Fail(Failure::NoAnswer(t.qtype));
        }
        match first_answer_type(msg, pos) {
            Some(ty) if ty == t.qtype => {}
            Some(_) => return Checked::Fail(Failure::NoAnswer(t.qtype)),
            None => return Checked::Fail(Failure::Malformed("answer section cut short")),
        }
    }
    Checked::Pass
}

/// The type of the first answer record at `pos`, if it is whole.
fn first_answer_type(msg: &[u8], mut pos: usize) -> Option<u16> {
    // Owner name: labels up to the root or a compression pointer.
    loop {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => {
                pos += 1;
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                msg.get(pos + 1)?;
                pos += 2;
                break;
            }
            l if l & 0xc0 != 0 => return None,
            l => pos += 1 + l,
        }
    }
    let ty = msg.get(pos..pos + 2)?;
    let rdlen = msg.get(pos + 8..pos + 10)?;
    msg.get(pos + 10..pos + 10 + u16::from_be_bytes([rdlen[0], rdlen[1]]) as usize)?;
    Some(u16::from_be_bytes([ty[0], ty[1]]))
}

/// A random starting ID for a round.
fn random_id() -> u16 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() as u16
}

/// Sends every target to `to` over one new UDP socket and waits until all
/// are answered or `timeout` passes. One result per target, in order.
/// With `secrets`, every query presents a valid cookie.
pub async fn probe_listener(
    to: SocketAddr,
    targets: &[Target],
    timeout: Duration,
    secrets: Option<&crate::cookie::Secrets>,
) -> Vec<Result<(), Failure>> {
    let mut results: Vec<Option<Result<(), Failure>>> = vec![None; targets.len()];
    if let Err(e) = exchange(to, targets, timeout, secrets, &mut results).await {
        let why = match e.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused (nothing listening)".to_string(),
            _ => e.to_string(),
        };
        for r in results.iter_mut().filter(|r| r.is_none()) {
            *r = Some(Err(Failure::Network(why.clone())));
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Failure::Timeout(timeout))))
        .collect()
}

async fn exchange(
    to: SocketAddr,
    targets: &[Target],
    timeout: Duration,
    secrets: Option<&crate::cookie::Secrets>,
    results: &mut [Option<Result<(), Failure>>],
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let local: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(to).await?;
    let cookie = match secrets {
        Some(s) => Some(probe_cookie(s, sock.local_addr()?.ip())),
        None => None,
    };
    let base = random_id();
    let id_of = |i: usize| base.wrapping_add(i as u16);
    for (i, t) in targets.iter().enumerate() {
        sock.send(&encode_query_with_cookie(id_of(i), t, cookie.as_ref()))
            .await?;
    }
    let mut pending = targets.len();
    let mut buf = vec![0u8; 4096];
    while pending > 0 {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_elapsed) => return Ok(()),
            Ok(r) => r?,
        };
        let msg = &buf[..n];
        let Some(id) = msg.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            continue;
        };
        let i = id.wrapping_sub(base) as usize;
        let (Some(t), Some(slot)) = (targets.get(i), results.get_mut(i)) else {
            continue;
        };
        if slot.is_some() {
            continue;
        }
        match check_response(msg, id, t) {
            Checked::NotOurs => continue,
            Checked::Pass => *slot = Some(Ok(())),
            Checked::Fail(f) => *slot = Some(Err(f)),
        }
        pending -= 1;
    }
    Ok(())
}

/// Which zones to probe each round (see the module docs).
#[derive(Debug, Default)]
pub struct Rotation {
    /// The last zone taken in name order.
    cursor: Option<Box<[u8]>>,
    /// Zones that failed last round.
    retry: Vec<Box<[u8]>>,
}

impl Rotation {
    /// Up to `max` zones out of `zones` (sorted, distinct): last round's
    /// failures still present, then the next ones after the cursor.
    pub fn pick(&mut self, zones: &[Box<[u8]>], max: usize) -> Vec<Box<[u8]>> {
        if zones.len() <= max {
            self.cursor = None;
            return zones.to_vec();
        }
        let mut out: Vec<Box<[u8]>> = Vec::with_capacity(max);
        for z in &self.retry {
            if out.len() < max && zones.binary_search(z).is_ok() && !out.contains(z) {
                out.push(z.clone());
            }
        }
        let start = match &self.cursor {
            Some(c) => match zones.binary_search(c) {
                Ok(i) => i + 1,
                Err(i) => i,
            },
            None => 0,
        };
        for k in 0..zones.len() {
            if out.len() >= max {
                break;
            }
            let z = &zones[(start + k) % zones.len()];
            if !self.retry.contains(z) {
                out.push(z.clone());
                self.cursor = Some(z.clone());
            }
        }
        out
    }

    /// The zones that failed this round (asked first next round).
    pub fn failed(&mut self, zones: Vec<Box<[u8]>>) {
        self.retry = zones;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apex(s: &str) -> Box<[u8]> {
        name::from_text(s).unwrap().into()
    }

    /// A response to `q` with `flags` and one answer record of `ty`.
    fn response(q: &[u8], flags: u16, answers: &[u16]) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for &ty in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&ty.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
        }
        m
    }

    const QR_AA: u16 = 0x8400;

    #[test]
    fn soa_probe_checks() {
        let t = Target::soa(&apex("example.com"));
        let q = encode_query(7, &t);
        assert_eq!(check_response(&response(&q, QR_AA, &[6]), 7, &t), Checked::Pass);
        // question compared without regard to case
        let mut upper = response(&q, QR_AA, &[6]);
        upper[13] = b'E';
        assert_eq!(check_response(&upper, 7, &t), Checked::Pass);
        assert_eq!(check_response(&response(&q, QR_AA, &[6]), 8, &t), Checked::NotOurs);
        assert_eq!(check_response(&q, 7, &t), Checked::NotOurs, "a query is not a response");
        assert_eq!(
            check_response(&response(&q, QR_AA | 5, &[]), 7, &t),
            Checked::Fail(Failure::Rcode(5))
        );
        assert_eq!(
            check_response(&response(&q, 0x8000, &[6]), 7, &t),
            Checked::Fail(Failure::NotAuthoritative)
        );
        assert_eq!(
            check_response(&response(&q, QR_AA, &[]), 7, &t),
            Checked::Fail(Failure::NoAnswer(6))
        );
        assert_eq!(
            check_response(&response(&q, QR_AA, &[5]), 7, &t),
            Checked::Fail(Failure::NoAnswer(6))
        );
        assert_eq!(
            check_response(&response(&q, QR_AA | 0x0200, &[6]), 7, &t),
            Checked::Fail(Failure::Truncated)
        );
        let mut cut = response(&q, QR_AA, &[6]);
        cut.truncate(cut.len() - 2);
        assert!(matches!(
            check_response(&cut, 7, &t),
            Checked::Fail(Failure::Malformed(_))
        ));
        // another question with our ID is not ours
        let other = Target::soa(&apex("example.org"));
        let q2 = encode_query(7, &other);
        assert_eq!(check_response(&response(&q2, QR_AA, &[6]), 7, &t), Checked::NotOurs);
        // junk never panics
        for len in 0..q.len() + 20 {
            let r = response(&q, QR_AA, &[6]);
            let _ = check_response(&r[..len.min(r.len())], 7, &t);
        }
    }

    #[test]
    fn configured_probe_needs_no_answer_unless_soa() {
        let t = Target::configured(&apex("www.example.com"), rtype::A);
        let q = encode_query(1, &t);
        assert_eq!(check_response(&response(&q, QR_AA, &[]), 1, &t), Checked::Pass);
        assert_eq!(
            check_response(&response(&q, QR_AA | 3, &[]), 1, &t),
            Checked::Fail(Failure::Rcode(3))
        );
        assert_eq!(
            Target::configured(&apex("example.com"), rtype::SOA).expect,
            Expect::Authoritative { answer: true }
        );
    }

    #[test]
    fn liveness_accepts_any_response() {
        let t = Target::liveness();
        let q = encode_query(9, &t);
        assert_eq!(check_response(&response(&q, 0x8005, &[]), 9, &t), Checked::Pass);
        assert_eq!(t.to_string(), ". SOA");
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(Failure::Rcode(5).to_string(), "REFUSED");
        assert_eq!(
            Failure::Timeout(Duration::from_millis(200)).to_string(),
            "timeout after 200ms"
        );
        assert_eq!(Failure::NoAnswer(6).to_string(), "no SOA in the answer");
        assert_eq!(Target::soa(&apex("Example.COM.")).to_string(), "example.com SOA");
    }

    #[test]
    fn wildcards_are_probed_on_loopback() {
        let a: SocketAddr = "0.0.0.0:5353".parse().unwrap();
        assert_eq!(probe_addr(a), "127.0.0.1:5353".parse().unwrap());
        let a: SocketAddr = "[::]:53".parse().unwrap();
        assert_eq!(probe_addr(a), "[::1]:53".parse().unwrap());
        let a: SocketAddr = "192.0.2.1:53".parse().unwrap();
        assert_eq!(probe_addr(a), a);
    }

    fn zones(n: usize) -> Vec<Box<[u8]>> {
        let mut v: Vec<Box<[u8]>> = (0..n).map(|i| apex(&format!("z{i:03}.test"))).collect();
        v.sort();
        v
    }

    #[test]
    fn few_zones_are_all_probed_every_round() {
        let z = zones(5);
        let mut r = Rotation::default();
        assert_eq!(r.pick(&z, 8), z);
        r.failed(vec![z[1].clone()]);
        assert_eq!(r.pick(&z, 8), z);
    }

    #[test]
    fn rotation_covers_every_zone_and_retries_failures() {
        let z = zones(10);
        let mut r = Rotation::default();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.extend(r.pick(&z, 4));
        }
        // 12 picks over 10 zones: every zone, then wraps around
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct, z);
        assert_eq!(&seen[10..], &z[..2]);
        // a failure is asked first next round, and again while it fails
        r.failed(vec![z[7].clone()]);
        let next = r.pick(&z, 4);
        assert_eq!(next, vec![z[7].clone(), z[2].clone(), z[3].clone(), z[4].clone()]);
        r.failed(vec![z[7].clone()]);
        let next = r.pick(&z, 4);
        assert_eq!(next, vec![z[7].clone(), z[5].clone(), z[6].clone(), z[8].clone()]);
        // a failed zone that went away is not asked
        r.failed(vec![apex("gone.test")]);
        assert_eq!(r.pick(&z, 4).len(), 4);
    }

    #[test]
    fn rotation_survives_the_cursor_zone_going_away() {
        let z = zones(10);
        let mut r = Rotation::default();
        r.pick(&z, 3); // cursor at z[2]
        let fewer: Vec<Box<[u8]>> = z.iter().filter(|x| **x != z[2]).cloned().collect();
        assert_eq!(r.pick(&fewer, 3), vec![z[3].clone(), z[4].clone(), z[5].clone()]);
    }

    #[tokio::test]
    async fn probes_a_real_socket() {
        // A tiny responder: answers every query authoritatively with an SOA
        // for example.com and REFUSED for anything else.
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let ex = apex("example.com");
        let responder = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (n, peer) = server.recv_from(&mut buf).unwrap();
                let q = &buf[..n];
                let reply = if q[12..12 + ex.len()] == *ex {
                    response(q, QR_AA, &[6])
                } else {
                    response(q, QR_AA | 5, &[])
                };
                server.send_to(&reply, peer).unwrap();
            }
        });
        let targets = [Target::soa(&apex("example.com")), Target::soa(&apex("other.test"))];
        let r = probe_listener(addr, &targets, Duration::from_secs(2), None).await;
        assert_eq!(r, vec![Ok(()), Err(Failure::Rcode(5))]);
        responder.join().unwrap();
        // nothing listening: refused or timeout, never a pass
        let r = probe_listener(addr, &targets[..1], Duration::from_millis(200), None).await;
        assert!(r[0].is_err(), "{r:?}");
    }
}
