//! The whole speaker (tasks, sockets, timers, health channel) against a
//! tiny peer on loopback built from our own codec: announce, follow
//! health, status snapshot, shutdown with Cease.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::codec::{Decoder, encode};
use super::fsm::State;
use super::message::{Capabilities, Inbound, Open, Outbound};
use super::*;
use crate::config::{AddressFamily, BgpPeer, Prefix};
use crate::health::{Health, State as HealthState};

struct TestPeer {
    stream: TcpStream,
    buf: Vec<u8>,
    decoder: Decoder,
}

impl TestPeer {
    async fn next(&mut self) -> Option<Inbound> {
        loop {
            if let Some(m) = self.decoder.decode(&mut self.buf).expect("pharos sends valid BGP") {
                return Some(m);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .expect("pharos is silent")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, m: Outbound) {
        self.stream.write_all(&encode(&m, true).unwrap()).await.unwrap();
    }

    /// The next message that is not a KEEPALIVE.
    async fn next_non_keepalive(&mut self) -> Option<Inbound> {
        loop {
            match self.next().await? {
                Inbound::Keepalive => continue,
                m => return Some(m),
            }
        }
    }
}

fn config(port: u16) -> BgpConfig {
    BgpConfig {
        enabled: true,
        asn: 65001,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        announce: vec![
            Prefix::parse("192.0.2.0/24").unwrap(),
            Prefix::parse("2001:db8:1::/48").unwrap(),
        ],
        communities: Vec::new(),
        large_communities: Vec::new(),
        peers: vec![BgpPeer {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            asn: 65000,
            local_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            password: None,
            multihop: 1,
            hold_time: 9,
            families: vec![AddressFamily::Ipv4],
            ipv4_next_hop: None,
            ipv6_next_hop: None,
            prepend: 0,
            med: None,
            announce: None,
            communities: None,
            large_communities: None,
            bfd: None,
            ttl_security: false,
            passive: false,
            listen_port: 179,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_follows_health_and_ceases_on_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::watch::channel(Health::new(HealthState::Healthy, "test"));
    let speaker = Speaker::spawn(&config(port), rx, Sockets::empty());
    let status = speaker.status();

    let (stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("pharos connects at once")
        .unwrap();
    let mut peer = TestPeer {
        stream,
        buf: Vec::new(),
        decoder: Decoder::new(),
    };
    let Some(Inbound::Open(open)) = peer.next().await else {
        panic!("no OPEN")
    };
    assert_eq!(open.asn(), 65001);
    assert_eq!(open.capabilities.families, vec![AddressFamily::Ipv4]);
    peer.send(Outbound::Open(Open {
        my_as: 65000,
        hold_time: 30,
        router_id: Ipv4Addr::new(10, 9, 9, 9),
        capabilities: Capabilities {
            four_octet_as: Some(65000),
            families: vec![AddressFamily::Ipv4],
            ..Capabilities::default()
        },
    }))
    .await;
    peer.decoder.set_asn4(true);
    peer.send(Outbound::Keepalive).await;
    // KEEPALIVE, the IPv4 announcement, End-of-RIB. IPv6 is not carried.
    let Some(Inbound::Update(u)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!((u.announced, u.withdrawn), (1, 0));
    let Some(Inbound::Update(eor)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!(eor.end_of_rib, Some(AddressFamily::Ipv4));

    let s = &status.peers()[0];
    assert_eq!(s.state, State::Established);
    assert_eq!(s.announced, vec![Prefix::parse("192.0.2.0/24").unwrap()]);
    assert_eq!(s.hold_time, Some(9));
    assert_eq!(s.families, vec![AddressFamily::Ipv4]);
    assert_eq!(s.established_count, 1);
    assert!(status.any_established());

    tx.send_replace(Health::new(HealthState::Unhealthy, "probe failing"));
    let Some(Inbound::Update(u)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!((u.announced, u.withdrawn), (0, 1));
    tx.send_replace(Health::new(HealthState::Draining, "maintenance"));
    let Some(Inbound::Update(u)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!(u.announced, 1);
    // Status follows (the task publishes after each event).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(status.peers()[0].graceful_shutdown);

    speaker.shutdown("node test shutting down").await;
    let Some(Inbound::Update(u)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!(u.withdrawn, 1, "withdrawn before the Cease");
    let Some(Inbound::Notification(n)) = peer.next_non_keepalive().await else {
        panic!()
    };
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_message().as_deref(), Some("node test shutting down"));
    assert_eq!(peer.next().await, None, "then the connection closes");
    assert_eq!(status.peers()[0].state, State::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_and_reported() {
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_tx, rx) = tokio::sync::watch::channel(Health::new(HealthState::Healthy, "test"));
    let speaker = Speaker::spawn(&config(port), rx, Sockets::empty());
    let status = speaker.status();
    let mut seen = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let s = status.peers()[0].clone();
        if s.last_error.is_some() {
            seen = Some(s);
            break;
        }
    }
    let s = seen.expect("a connect error in the status");
    assert!(s.last_error.unwrap().contains("refused"));
    assert!(matches!(s.state, State::Active | State::Connect));
    speaker.shutdown("bye").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_takes_the_peer_and_refuses_other_sources() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config(1);
    cfg.peers[0].passive = true;
    cfg.peers[0].listen_port = port;
    cfg.peers[0].local_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let sockets = Sockets::bind(&cfg).unwrap();
    // Bound at start-up: a second bind of the same port fails.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    let (_tx, rx) = tokio::sync::watch::channel(Health::new(HealthState::Healthy, "test"));
    let speaker = Speaker::spawn(&cfg, rx, sockets);
    let status = speaker.status();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(status.peers()[0].state, State::Active);
    assert!(status.peers()[0].passive);

    // From another address (127.0.0.2): closed at once, counted.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut s = other.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert_eq!(speaker.listeners().refused(), 1);

    // From the peer's address: an OPEN comes.
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut peer = TestPeer {
        stream,
        buf: Vec::new(),
        decoder: Decoder::new(),
    };
    let Some(Inbound::Open(open)) = peer.next().await else {
        panic!("no OPEN")
    };
    assert_eq!(open.asn(), 65001);
    assert_eq!(status.peers()[0].state, State::OpenSent);
    // A second connection while one is up: closed.
    let mut second = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), second.read(&mut buf))
        .await
        .expect("closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    speaker.shutdown("test over").await;
}

/// A free UDP port on 127.0.0.1 (bound, then let go).
fn udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Established with the test peer: OPEN both ways, KEEPALIVE, the
/// announcement and End-of-RIB read.
async fn establish(listener: &TcpListener) -> TestPeer {
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("pharos connects")
        .unwrap();
    let mut peer = TestPeer {
        stream,
        buf: Vec::new(),
        decoder: Decoder::new(),
    };
    let Some(Inbound::Open(_)) = peer.next().await else {
        panic!("no OPEN")
    };
    peer.send(Outbound::Open(Open {
        my_as: 65000,
        hold_time: 90,
        router_id: Ipv4Addr::new(10, 9, 9, 9),
        capabilities: Capabilities {
            four_octet_as: Some(65000),
            families: vec![AddressFamily::Ipv4],
            ..Capabilities::default()
        },
    }))
    .await;
    peer.decoder.set_asn4(true);
    peer.send(Outbound::Keepalive).await;
    let Some(Inbound::Update(u)) = peer.next_non_keepalive().await else {
        panic!("no announcement")
    };
    assert_eq!(u.announced, 1);
    peer
}

/// BFD drives the session: the peer's BFD dies silently (its host is
/// gone, the hold time of 90 s far off): pharos sends Cease / BFD Down
/// within the detection time, stays down while BFD is down, and connects
/// again once BFD is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bfd_down_ends_the_session_and_bfd_up_brings_it_back() {
    use crate::bfd::{Bfd, Ports, SessionConfig, State as BfdState};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ours, theirs) = ((udp_port(), udp_port()), (udp_port(), udp_port()));
    let our_ports = Ports {
        single_hop: ours.0,
        multihop: ours.1,
        peer_single_hop: theirs.0,
        peer_multihop: theirs.1,
    };
    let peer_ports = Ports {
        single_hop: theirs.0,
        multihop: theirs.1,
        peer_single_hop: ours.0,
        peer_multihop: ours.1,
    };
    let mut cfg = config(port);
    cfg.peers[0].hold_time = 90;
    cfg.peers[0].bfd = Some(crate::config::BfdSettings {
        interval: Duration::from_millis(100),
        multiplier: 3,
    });
    let peer_session = |service: &Bfd| {
        service
            .add(SessionConfig {
                interval: Duration::from_millis(100),
                ..SessionConfig::single_hop(IpAddr::V4(Ipv4Addr::LOCALHOST))
            })
            .unwrap()
    };
    let peer_bfd = Bfd::bind(&[], peer_ports).unwrap();
    let their_bfd = peer_session(&peer_bfd);
    let (_tx, rx) = tokio::sync::watch::channel(Health::new(HealthState::Healthy, "test"));
    let speaker = Speaker::spawn(&cfg, rx, Sockets::bind_with(&cfg, our_ports).unwrap());
    let status = speaker.status();
    let mut peer = establish(&listener).await;
    let up = |s: &crate::bgp::PeerStatus| s.bfd.as_ref().is_some_and(|b| b.status().state == BfdState::Up);
    let t0 = std::time::Instant::now();
    while !up(&status.peers()[0]) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "BFD not up: {:?}",
            status.peers()[0].bfd
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The detection time settles at 3 x 100 ms once the Poll is done.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = status.peers()[0].bfd.as_ref().map(|b| b.status());
    assert_eq!(before.and_then(|b| b.detection_time), Some(Duration::from_millis(300)));

    their_bfd.kill();
    let killed = std::time::Instant::now();
    let n = loop {
        match peer.next_non_keepalive().await {
            Some(Inbound::Notification(n)) => break n,
            Some(_) => continue,
            None => panic!("closed without a NOTIFICATION: {:#?}", status.peers()[0]),
        }
    };
    let took = killed.elapsed();
    assert_eq!((n.code, n.subcode), (6, 10), "Cease / BFD Down: {n}");
    assert!(
        took < Duration::from_millis(1500),
        "BFD Down took {took:?} (detection 300 ms)"
    );
    let s = status.peers()[0].clone();
    assert!(s.waiting_for_bfd, "{s:?}");
    assert!(
        s.last_notification_sent
            .as_deref()
            .is_some_and(|t| t.contains("BFD Down")),
        "{s:?}"
    );
    // No new connection while BFD is down.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), listener.accept())
            .await
            .is_err(),
        "pharos reconnected while BFD was down"
    );
    // BFD back (the peer's host again: a new service on the same ports):
    // the session comes back.
    drop(peer_bfd);
    let t0 = std::time::Instant::now();
    let again = SessionConfig {
        interval: Duration::from_millis(100),
        ..SessionConfig::single_hop(IpAddr::V4(Ipv4Addr::LOCALHOST))
    };
    let (_peer_bfd, _again) = loop {
        // The old service's sockets close as its aborted tasks are dropped.
        match Bfd::bind(std::slice::from_ref(&again), peer_ports) {
            Ok(b) => {
                let h = b.add(again.clone()).unwrap();
                break (b, h);
            }
            Err(e) if t0.elapsed() < Duration::from_secs(3) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the peer's ports stay taken: {e}"),
        }
    };
    let _peer = establish(&listener).await;
    assert!(!status.peers()[0].waiting_for_bfd);
    speaker.shutdown("test over").await;
}
