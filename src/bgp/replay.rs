//! Drives one session from a byte stream as if a peer had sent it, with no
//! sockets: the BGP fuzz target (`fuzz/fuzz_targets/bgp.rs`) and the
//! replay of its regression inputs (`tests/fuzz_regressions.rs`) share it.
//!
//! Input layout: octet 0 picks the configuration (our ASN 2- or 4-octet,
//! the families, the initial health), octet 1 is a mask of extra events
//! (health changes, timers, a stop) injected between messages; the rest is
//! the byte stream from the peer, fed in pieces of 1 to 64 octets.
//!
//! Checked for every action: each message the session sends encodes, and
//! decodes back to the same message; every prefix it announces or
//! withdraws is a configured one; timers are never zero except the
//! connect retry. Violations are returned as `Err`, never panics.

use std::net::{IpAddr, Ipv4Addr};

use super::codec::{Decoder, encode};
use super::fsm::{Action, Event, Session, State, Timer};
use super::message::{Inbound, Outbound, Update};
use crate::config::{AddressFamily, BgpConfig, BgpPeer, Community, LargeCommunity, Prefix};
use crate::health::Announce;

/// What a replay did, for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    pub messages: usize,
    pub decode_errors: usize,
    pub connections: usize,
    pub reached_established: bool,
}

fn config(selector: u8) -> (BgpConfig, BgpPeer) {
    let prefixes = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:1::/48"];
    let bgp = BgpConfig {
        enabled: true,
        asn: if selector & 1 == 0 { 65001 } else { 4_200_000_001 },
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        announce: prefixes.iter().filter_map(|p| Prefix::parse(p).ok()).collect(),
        communities: vec![Community(65001, 100)],
        large_communities: vec![LargeCommunity(65001, 1, 2)],
        peers: Vec::new(),
    };
    let families = match (selector >> 1) & 3 {
        0 => vec![AddressFamily::Ipv4],
        1 => vec![AddressFamily::Ipv6],
        _ => vec![AddressFamily::Ipv4, AddressFamily::Ipv6],
    };
    let peer = BgpPeer {
        address: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)),
        port: 179,
        asn: 65000,
        local_address: None,
        password: None,
        multihop: 1,
        hold_time: if selector & 8 == 0 { 9 } else { 0 },
        families,
        ipv4_next_hop: None,
        ipv6_next_hop: "fd00::2".parse().ok(),
        prepend: (selector >> 4) & 3,
        med: (selector & 64 != 0).then_some(10),
        announce: None,
        communities: None,
        large_communities: None,
        bfd: None,
        ttl_security: false,
        passive: false,
        listen_port: 179,
    };
    (bgp, peer)
}

fn health(n: u8) -> Announce {
    match n % 3 {
        0 => Announce::Normal,
        1 => Announce::GracefulShutdown,
        _ => Announce::Withdraw,
    }
}

/// Runs the session over `data` (see the module docs).
pub fn replay(data: &[u8]) -> Result<Replay, String> {
    let (Some(&selector), Some(&mask)) = (data.first(), data.get(1)) else {
        return Ok(Replay::default());
    };
    let stream = &data[2..];
    let (bgp, peer) = config(selector);
    let mut s = Session::new(&bgp, &peer, health(selector >> 7), 1);
    let mut r = Replay::default();
    let mut decoder = Decoder::new();
    let mut buf: Vec<u8> = Vec::new();
    step(&bgp, &mut s, Event::Start)?;
    connect(&bgp, &mut s, &mut r)?;
    let mut pos = 0;
    let mut n_events = 0u32;
    while pos < stream.len() {
        // Piece sizes from the data itself: 1..=64 octets.
        let n = 1 + usize::from(stream[pos] % 64);
        let end = (pos + n).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            decoder.set_asn4(s.asn4());
            let ev = match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    r.messages += 1;
                    roundtrip_inbound(&msg)?;
                    Event::MessageReceived(msg)
                }
                Ok(None) => break,
                Err(e) => {
                    r.decode_errors += 1;
                    buf.clear();
                    Event::DecodeError(e)
                }
            };
            step(&bgp, &mut s, ev)?;
            r.reached_established |= s.state() == State::Established;
            n_events += 1;
            if mask & (1 << (n_events % 8)) != 0 {
                let extra = match n_events % 5 {
                    0 => Event::HealthChanged(health(n_events as u8)),
                    1 => Event::KeepaliveTimerExpired,
                    2 => Event::StableTimerExpired,
                    3 => Event::HealthChanged(health(mask)),
                    _ => Event::HoldTimerExpired,
                };
                step(&bgp, &mut s, extra)?;
            }
            if !s.state().connected() {
                // The session failed: the next octets are a new connection.
                buf.clear();
                decoder = Decoder::new();
                step(&bgp, &mut s, Event::ConnectRetryTimerExpired)?;
                connect(&bgp, &mut s, &mut r)?;
            }
        }
    }
    step(
        &bgp,
        &mut s,
        Event::Stop {
            reason: "replay done".into(),
        },
    )?;
    if s.state() != State::Idle || !s.announced().0.is_empty() {
        return Err(format!(
            "after Stop: state {}, announced {:?}",
            s.state(),
            s.announced()
        ));
    }
    Ok(r)
}

fn connect(bgp: &BgpConfig, s: &mut Session, r: &mut Replay) -> Result<(), String> {
    r.connections += 1;
    let ev = Event::TcpConnected {
        local: "10.255.0.2:40000".parse().map_err(|_| "address")?,
        remote: "10.255.0.1:179".parse().map_err(|_| "address")?,
    };
    step(bgp, s, ev)?;
    if s.state() != State::OpenSent {
        return Err(format!("connected but in {}", s.state()));
    }
    Ok(())
}

/// A decoded message's parts survive our own encoding where we can send
/// that kind of message (KEEPALIVE, NOTIFICATION).
fn roundtrip_inbound(msg: &Inbound) -> Result<(), String> {
    let out = match msg {
        Inbound::Keepalive => Outbound::Keepalive,
        Inbound::Notification(n) if encode(&Outbound::Notification(n.clone()), true).is_ok() => {
            Outbound::Notification(n.clone())
        }
        _ => return Ok(()),
    };
    let bytes = encode(&out, true).map_err(|e| e.to_string())?;
    let back = Decoder::new()
        .decode(&mut bytes.clone())
        .map_err(|e| format!("our {} does not decode: {e}", out.kind()))?;
    if back.as_ref() != Some(msg) {
        return Err(format!("{msg:?} came back as {back:?}"));
    }
    Ok(())
}

/// Feeds one event and checks the actions it causes.
fn step(bgp: &BgpConfig, s: &mut Session, ev: Event) -> Result<(), String> {
    let actions = s.handle(ev);
    check(bgp, s, actions)
}

fn check(bgp: &BgpConfig, s: &Session, actions: Vec<Action>) -> Result<(), String> {
    for a in &actions {
        match a {
            Action::Send(msg) => {
                if let Outbound::Update(u) = msg {
                    let prefixes = match u {
                        Update::Announce { prefixes, .. } | Update::Withdraw { prefixes, .. } => prefixes.as_slice(),
                        Update::EndOfRib(_) => &[],
                    };
                    if let Some(p) = prefixes.iter().find(|p| !bgp.announce.contains(p)) {
                        return Err(format!("sent {p}, which is not configured"));
                    }
                }
                let bytes = encode(msg, s.asn4()).map_err(|e| e.to_string())?;
                let mut d = Decoder::new();
                d.set_asn4(s.asn4());
                let back = d
                    .decode(&mut bytes.clone())
                    .map_err(|e| format!("our {} does not decode: {e}", msg.kind()))?;
                if back.is_none() {
                    return Err(format!("our {} is incomplete", msg.kind()));
                }
            }
            Action::StartTimer(t, d) if d.is_zero() && *t != Timer::ConnectRetry => {
                return Err(format!("{t:?} started with zero duration"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 45, 1, 4,
        0xfd, 0xe8, 0, 90, 10, 255, 0, 1, 16, 2, 14, 1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 2, 0,
    ];
    const KEEPALIVE: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 19, 4,
    ];

    #[test]
    fn reaches_established_and_survives_garbage() {
        let mut data = vec![6, 0xff];
        data.extend_from_slice(OPEN);
        data.extend_from_slice(KEEPALIVE);
        data.extend_from_slice(KEEPALIVE);
        data.extend_from_slice(b"garbage after established");
        data.extend_from_slice(OPEN);
        let r = replay(&data).unwrap();
        assert!(r.reached_established, "{r:?}");
        assert!(r.decode_errors >= 1 && r.connections >= 2, "{r:?}");
    }

    #[test]
    fn short_inputs() {
        assert_eq!(replay(&[]).unwrap(), Replay::default());
        assert_eq!(replay(&[1, 2]).unwrap().connections, 1);
    }
}
