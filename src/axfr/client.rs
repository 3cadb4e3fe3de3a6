//! Talking to primaries: the SOA query (UDP, TCP when truncated or
//! refused) and the
//! AXFR/IXFR stream over TCP. A thin I/O layer around
//! [`super::transfer::Interpreter`]; every wait has a deadline.

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use super::refresh::{SoaTimers, TransferKind};
use super::transfer::{Bound, Interpreter, Outcome, TransferError, soa_timers};
use crate::tsig::{self, Key, ResponseVerifier};
use crate::zone::{rtype, wire};

/// Limits for one exchange with a primary.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For the SOA query and for each message of a transfer.
    pub message: Duration,
    /// For a whole transfer.
    pub transfer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            message: Duration::from_secs(5),
            transfer: Duration::from_secs(600),
        }
    }
}

/// What one transfer may bring: past either bound it is aborted.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Records in the stream.
    pub max_records: u64,
    /// Message octets in the stream.
    pub max_bytes: u64,
}

impl Bounds {
    /// No bound (tools such as `soa-check`).
    pub const NONE: Bounds = Bounds {
        max_records: u64::MAX,
        max_bytes: u64::MAX,
    };
}

/// What a finished transfer read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub messages: usize,
    pub records: usize,
    pub bytes: usize,
    pub elapsed: Duration,
}

/// The RCODE a primary answers with when it will not tell over UDP.
const RCODE_REFUSED: u8 = 5;

/// A fresh query ID: `RandomState` is seeded randomly per instance.
pub fn random_id() -> u16 {
    std::collections::hash_map::RandomState::new().hash_one(std::process::id()) as u16
}

/// Asks `primary` for the SOA of `apex` (wire name), from `source` if
/// given (`notify-source`), signed with `key` if given (and then the answer
/// must verify). Over UDP; asked again over TCP when the answer is
/// truncated or REFUSED.
pub async fn query_soa(
    apex: &[u8],
    primary: SocketAddr,
    source: Option<IpAddr>,
    key: Option<&Key>,
    t: Timeouts,
) -> Result<SoaTimers, String> {
    let id = random_id();
    let mut query = wire::build_query(id, apex, rtype::SOA, None);
    let mac = key.map(|k| tsig::sign_request(&mut query, k, tsig::unix_now(), tsig::DEFAULT_FUDGE));
    let bind = SocketAddr::new(local_ip(primary, source), 0);
    let sock = UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("UDP socket from {}: {e}", bind.ip()))?;
    sock.connect(primary).await.map_err(|e| format!("UDP connect: {e}"))?;
    sock.send(&query).await.map_err(|e| format!("UDP send: {e}"))?;
    // No EDNS in the query: a UDP answer is at most 512 octets (a little
    // more with TSIG); anything larger comes truncated, then over TCP.
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + t.message;
    let reply = loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(format!("UDP receive: {e}")),
            Err(_) => return Err(format!("no answer within {:?}", t.message)),
        };
        match wire::header(&buf[..n]) {
            Ok(h) if h.id == id && h.qr => break buf[..n].to_vec(),
            _ => continue, // not ours: keep waiting
        }
    };
    let h = wire::header(&reply).map_err(|e| e.to_string())?;
    let reply = if h.tc {
        soa_over_tcp(&query, primary, source, t).await?
    } else if h.rcode == RCODE_REFUSED {
        // Asked again over TCP, as BIND's try-tcp-refresh does: Knot
        // answers queries for a catalog zone it generates only over TCP
        // (a catalog is not for everyone to read).
        // When that fails too, the UDP answer stands (the fleet view tells
        // a refusing node from a silent one by it).
        soa_over_tcp(&query, primary, source, t).await.unwrap_or(reply)
    } else {
        reply
    };
    if let (Some(k), Some(mac)) = (key, &mac) {
        let mut v = ResponseVerifier::new(k, mac);
        v.verify(&reply, tsig::unix_now()).map_err(|e| e.to_string())?;
        v.finish().map_err(|e| e.to_string())?;
    }
    soa_from_answer(apex, &reply)
}

/// Whether a [`query_soa`] error means the primary did not answer at all
/// (no answer in time, no socket or connection to it), as opposed to an
/// answer that was no usable SOA (an error RCODE, not authoritative, a bad
/// TSIG): a silent primary is down or cut off from us, one that answers is
/// up. The error may carry a prefix (the primary's address).
pub fn is_silent(error: &str) -> bool {
    error.contains("no answer within") || error.contains("UDP ") || error.contains("TCP ")
}

async fn soa_over_tcp(
    query: &[u8],
    primary: SocketAddr,
    source: Option<IpAddr>,
    t: Timeouts,
) -> Result<Vec<u8>, String> {
    let mut s = connect(primary, source, t).await.map_err(|e| e.to_string())?;
    send_framed(&mut s, query).await.map_err(|e| format!("TCP send: {e}"))?;
    read_framed(&mut s, t.message).await.map_err(|e| e.to_string())
}

fn soa_from_answer(apex: &[u8], reply: &[u8]) -> Result<SoaTimers, String> {
    let h = wire::header(reply).map_err(|e| e.to_string())?;
    if h.rcode != 0 {
        return Err(format!("SOA query answered with RCODE {}", h.rcode));
    }
    if !h.aa {
        return Err("SOA answer is not authoritative".into());
    }
    let mut found = None;
    let r: Result<(), ()> = wire::for_each_answer(reply, |r| {
        if r.rtype == rtype::SOA && r.owner == apex && found.is_none() {
            found = soa_timers(r.rdata).ok();
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let _ = r;
    found.ok_or_else(|| "SOA answer without the zone's SOA".to_string())
}

/// The address to send from: `source`, else the unspecified address of
/// the primary's family (the kernel picks).
fn local_ip(primary: SocketAddr, source: Option<IpAddr>) -> IpAddr {
    source.unwrap_or(if primary.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    })
}

/// A TCP connection to `primary`, from `source` if given.
async fn connect(primary: SocketAddr, source: Option<IpAddr>, t: Timeouts) -> Result<TcpStream, TransferError> {
    let connecting = async {
        let Some(src) = source else {
            return TcpStream::connect(primary).await;
        };
        let socket = if src.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket
            .bind(SocketAddr::new(src, 0))
            .map_err(|e| std::io::Error::new(e.kind(), format!("bind to {src}: {e}")))?;
        socket.connect(primary).await
    };
    match tokio::time::timeout(t.message, connecting).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(TransferError::Malformed(format!("TCP connect: {e}"))),
        Err(_) => Err(TransferError::Malformed(format!(
            "TCP connect: no answer within {:?}",
            t.message
        ))),
    }
}

async fn send_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    s.write_all(&framed).await
}

async fn read_framed(s: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, TransferError> {
    let io = |e: std::io::Error| TransferError::Malformed(format!("connection: {e}"));
    let mut len = [0u8; 2];
    match tokio::time::timeout(timeout, s.read_exact(&mut len)).await {
        Ok(r) => r.map_err(io)?,
        Err(_) => return Err(TransferError::Malformed(format!("no message within {timeout:?}"))),
    };
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    match tokio::time::timeout(timeout, s.read_exact(&mut msg)).await {
        Ok(r) => r.map_err(io)?,
        Err(_) => return Err(TransferError::Malformed(format!("message cut off for {timeout:?}"))),
    };
    Ok(msg)
}

fn too_slow(limit: Duration) -> TransferError {
    TransferError::Limit(
        Bound::Time,
        format!(
            "not complete within transfer-timeout ({})",
            crate::config::format_duration(limit)
        ),
    )
}

/// Transfers `apex` from `primary` (from the source address given, if
/// any). For IXFR, `held_soa` is the SOA rdata of the version held.
/// Returns the interpreted stream; nothing is applied.
pub async fn transfer(
    apex: &[u8],
    (primary, source): (SocketAddr, Option<IpAddr>),
    kind: TransferKind,
    held_soa: Option<&[u8]>,
    key: Option<&Key>,
    t: Timeouts,
    bounds: Bounds,
) -> Result<(Outcome, Stats), TransferError> {
    let started = Instant::now();
    let id = random_id();
    let (qtype, soa) = match kind {
        TransferKind::Axfr => (rtype::AXFR, None),
        TransferKind::Ixfr { .. } => (rtype::IXFR, held_soa),
    };
    let mut query = wire::build_query(id, apex, qtype, soa);
    let mut verifier = key.map(|k| {
        let mac = tsig::sign_request(&mut query, k, tsig::unix_now(), tsig::DEFAULT_FUDGE);
        ResponseVerifier::new(k, &mac)
    });
    let mut s = connect(primary, source, t).await?;
    send_framed(&mut s, &query)
        .await
        .map_err(|e| TransferError::Malformed(format!("TCP send: {e}")))?;
    let mut it = Interpreter::new(apex, id, kind);
    let deadline = started + t.transfer;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_slow(t.transfer));
        }
        let msg = match read_framed(&mut s, t.message.min(left)).await {
            // The message wait was cut short by the transfer's deadline.
            Err(_) if Instant::now() >= deadline => return Err(too_slow(t.transfer)),
            r => r?,
        };
        if let Some(v) = verifier.as_mut() {
            v.verify(&msg, tsig::unix_now())
                .map_err(|e| TransferError::Tsig(e.to_string()))?;
        }
        let done = it.message(&msg)?;
        drop(msg);
        let (_, records, bytes) = it.stats();
        if records as u64 > bounds.max_records {
            return Err(TransferError::Limit(
                Bound::Records,
                format!("more than max-zone-records ({}) records", bounds.max_records),
            ));
        }
        if bytes as u64 > bounds.max_bytes {
            return Err(TransferError::Limit(
                Bound::Bytes,
                format!(
                    "more than max-zone-bytes ({}) octets",
                    crate::config::format_size(bounds.max_bytes)
                ),
            ));
        }
        if done {
            break;
        }
        // An IXFR answered with a single SOA ends after its first message.
        if matches!(kind, TransferKind::Ixfr { .. }) && it.stats().0 == 1 && it.stats().1 == 1 {
            break;
        }
    }
    if let Some(v) = &verifier {
        v.finish().map_err(|e| TransferError::Tsig(e.to_string()))?;
    }
    let (messages, records, bytes) = it.stats();
    let outcome = it.finish()?;
    Ok((
        outcome,
        Stats {
            messages,
            records,
            bytes,
            elapsed: started.elapsed(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// An authoritative answer to `query` (its ID and question) with one
    /// SOA record of serial `serial` (root names), or an empty REFUSED one.
    fn answer(query: &[u8], serial: Option<u32>) -> Vec<u8> {
        let mut m = query.to_vec();
        m[2] = 0x80 | if serial.is_some() { 0x04 } else { 0 }; // QR, AA
        m[3] = if serial.is_some() { 0 } else { RCODE_REFUSED };
        if let Some(serial) = serial {
            m[6..8].copy_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&[0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0]);
            for v in [serial, 3600, 600, 86400, 60] {
                m.extend_from_slice(&v.to_be_bytes());
            }
        }
        m
    }

    /// A primary that answers REFUSED over UDP and the SOA over TCP (as
    /// Knot does for a catalog zone it generates) on one port.
    async fn tcp_only_primary(serial: u32) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("TCP listener");
        let addr = tcp.local_addr().expect("local addr");
        let udp = UdpSocket::bind(addr).await.expect("UDP socket on the same port");
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&answer(&buf[..n], None), from).await;
            }
        });
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let Ok(query) = read_framed(&mut s, Duration::from_secs(5)).await else {
                    continue;
                };
                let _ = send_framed(&mut s, &answer(&query, Some(serial))).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn soa_refused_over_udp_is_asked_over_tcp() {
        let primary = tcp_only_primary(42).await;
        let apex = crate::zone::name::from_text("cat.example").expect("name");
        let soa = query_soa(&apex, primary, None, None, Timeouts::default()).await;
        assert_eq!(soa.map(|s| s.serial), Ok(42));
    }

    #[tokio::test]
    async fn soa_refused_over_udp_and_no_tcp_stays_refused() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("UDP socket");
        let primary = udp.local_addr().expect("local addr");
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&answer(&buf[..n], None), from).await;
            }
        });
        let apex = crate::zone::name::from_text("cat.example").expect("name");
        let e = query_soa(&apex, primary, None, None, Timeouts::default())
            .await
            .expect_err("no TCP: no SOA");
        assert_eq!(e, "SOA query answered with RCODE 5");
    }
}
