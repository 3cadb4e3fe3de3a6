//! pharos against the upstreams a node meets in production, through the
//! harness pieces in tests/bgp-peer (peer.sh, peer-ext.sh) and
//! tests/common/bgp.rs: FRR and ExaBGP peers, a link that silently drops
//! everything, a router hop (multihop 2), two upstreams of one node, BFD
//! and a connecting peer on the peer's side, and a peer sending a full
//! table of a million routes.
//!
//! Needs root and the Debian packages bird2, frr, exabgp, nftables, jq.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::wire::{self, CLASS_IN, TYPE_SOA};
use common::{BgpPeer, Node, NodeConfig, PeerOpts, in_netns, node_dns, same_since};

const UP: Duration = Duration::from_secs(15);

/// What every node announces with NodeConfig's defaults and PeerEntry's
/// (prepend 2, MED 10), as peer.sh prints it.
fn expected(peer: &BgpPeer) -> Vec<String> {
    let attrs = "aspath=65001 65001 65001 communities=65001:100 65001:666 med=10 origin=igp large=65001:1:2";
    vec![
        format!("192.0.2.0/24 nexthop={} {attrs}", peer.node_ip4),
        format!("2001:db8:1::/48 nexthop={} {attrs}", peer.node_ip6),
    ]
}

/// Waits for both prefixes; asserts the peer has exactly the expected
/// routes, attributes included.
fn check_routes(peer: &BgpPeer) {
    peer.wait_established(UP);
    peer.wait_route_count(2, UP);
    let lines: Vec<String> = peer.routes().into_iter().map(|r| r.line).collect();
    assert_eq!(lines, expected(peer), "routes at the {} peer", peer.kind);
}

fn one_node(peer: &BgpPeer) -> Node {
    Node::start(peer, &NodeConfig::with_peers(vec![peer.peer_v4()]))
}

#[test]
fn exabgp_gets_the_routes_and_loses_them_on_sigterm() {
    let peer = BgpPeer::start("exabgp", &PeerOpts::default());
    let mut node = one_node(&peer);
    check_routes(&peer);
    let r = &peer.routes()[0];
    assert_eq!((r.as_path.clone(), r.med), (vec![65001, 65001, 65001], Some(10)));
    node.signal("TERM");
    let t = peer.wait("both prefixes withdrawn after SIGTERM", Duration::from_secs(5), |p| {
        p.routes().is_empty()
    });
    eprintln!("SIGTERM -> withdrawn at the exabgp peer: {t:?}");
    assert!(node.wait_exit(Duration::from_secs(5)).success());
}

#[test]
fn exabgp_loses_the_routes_on_kill_9() {
    let peer = BgpPeer::start("exabgp", &PeerOpts::default());
    let mut node = one_node(&peer);
    check_routes(&peer);
    node.kill9();
    // The kernel closes the dead process's socket: no hold timer wait.
    let t = peer.wait("both prefixes withdrawn after kill -9", Duration::from_secs(3), |p| {
        p.routes().is_empty()
    });
    eprintln!("kill -9 -> withdrawn at the exabgp peer: {t:?}");
    assert_ne!(peer.state(), "Established");
}

#[test]
fn frr_gets_the_routes_with_their_attributes() {
    let peer = BgpPeer::start("frr", &PeerOpts::default());
    let _node = one_node(&peer);
    check_routes(&peer);
}

/// The link drops everything (nothing closed): the peer keeps the routes
/// until its hold timer (9 s) expires, then drops them; the link back,
/// the session comes back.
#[test]
fn link_down_routes_stay_for_the_hold_time_then_go() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let _node = one_node(&peer);
    check_routes(&peer);
    let hold = Duration::from_secs(9);
    peer.link(false);
    let t0 = Instant::now();
    std::thread::sleep(hold / 2);
    assert_eq!(peer.routes().len(), 2, "routes gone before half the hold time");
    assert_eq!(peer.state(), "Established");
    let gone = peer.wait(
        "routes gone after the hold time",
        (hold + Duration::from_secs(3)).saturating_sub(t0.elapsed()),
        |p| p.routes().is_empty(),
    );
    let gone = t0.elapsed().max(gone);
    eprintln!("link down -> routes gone at the bird peer: {gone:?} (hold 9 s, keepalive 3 s)");
    // The last keepalive came at most one keepalive interval before.
    assert!(
        gone >= hold - Duration::from_secs(3) - Duration::from_millis(500),
        "gone after {gone:?}"
    );
    peer.link(true);
    peer.wait_route_count(2, Duration::from_secs(30));
}

/// node ns -- router ns -- peer ns: one routed hop; with multihop 2 on
/// both sides the session comes up and the routes arrive.
#[test]
fn multihop_through_a_router_namespace() {
    let peer = BgpPeer::start(
        "frr",
        &PeerOpts {
            router: true,
            ..PeerOpts::default()
        },
    );
    assert_ne!(
        peer.peer_ip4.rsplit_once('.').map(|x| x.0),
        peer.node_ip4.rsplit_once('.').map(|x| x.0),
        "node and peer share a subnet: no router between them"
    );
    let node = one_node(&peer);
    check_routes(&peer);
    assert!(node.log().contains("Established"));
}

/// One node, a BIRD and an FRR upstream (two veth pairs into one node
/// namespace): both sessions up, both get the prefixes.
#[test]
fn two_upstreams_bird_and_frr_on_one_node() {
    let bird = BgpPeer::start("bird", &PeerOpts::default());
    let frr = BgpPeer::start_joined("frr", &PeerOpts::default(), &bird);
    assert_eq!(bird.node_ns, frr.node_ns);
    assert_ne!(bird.node_ip4, frr.node_ip4);
    let node = Node::start(&bird, &NodeConfig::with_peers(vec![bird.peer_v4(), frr.peer_v4()]));
    check_routes(&bird);
    check_routes(&frr);
    drop(node);
    // The second upstream gone, the first keeps its node namespace.
    let node_ns = bird.node_ns.clone();
    drop(frr);
    assert!(
        std::path::Path::new(&format!("/run/netns/{node_ns}")).exists(),
        "dropping the second upstream deleted the node namespace"
    );
    let st = bird.state();
    assert!(
        st != "Dead" && st != "Established",
        "the first upstream without the node: {st}"
    );
}

/// BFD on the peer side: with BFD=1 BIRD and FRR each have a session for
/// the node's address, down (pharos runs no BFD yet).
#[test]
fn bfd_peers_list_the_node_session_down() {
    for kind in ["bird", "frr"] {
        let peer = BgpPeer::start(
            kind,
            &PeerOpts {
                bfd: Some((300, 3)),
                ..PeerOpts::default()
            },
        );
        let _node = one_node(&peer);
        peer.wait_established(UP);
        peer.wait_bfd(&peer.node_ip4, "down", Duration::from_secs(5));
        let sessions = peer.bfd_sessions();
        assert_eq!(sessions, vec![(peer.node_ip4.clone(), "down".to_string())], "{kind}");
    }
}

/// A peer that connects (FRR, PASSIVE=0) keeps trying node_ip:179; a
/// connection from a second address on the peer's side reaches the node.
#[test]
fn a_connecting_frr_peer_reaches_the_node_from_either_address() {
    let peer = BgpPeer::start(
        "frr",
        &PeerOpts {
            peer_connects: true,
            ..PeerOpts::default()
        },
    );
    let node_addr: SocketAddr = format!("{}:179", peer.node_ip4).parse().unwrap();
    let listener = in_netns(&peer.node_ns, || {
        TcpListener::bind(node_addr).expect("bind node_ip:179")
    });
    listener.set_nonblocking(true).unwrap();
    let accept = |from: &str, within: Duration| {
        let t0 = Instant::now();
        loop {
            match listener.accept() {
                Ok((s, a)) if a.ip().to_string() == from => return (s, t0.elapsed()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            assert!(t0.elapsed() < within, "no connection from {from} within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // FRR connects (and again after we close: it keeps trying).
    let (s, t) = accept(&peer.peer_ip4, Duration::from_secs(15));
    eprintln!("FRR connected to the node after {t:?}");
    drop(s);
    let (_s, t) = accept(&peer.peer_ip4, Duration::from_secs(20));
    eprintln!("and again {t:?} after the first was closed");
    // From a second address of the peer's.
    let other = format!("10.253.{}.1", peer.node_ip4.split('.').nth(2).unwrap());
    peer.add_peer_address(&other);
    let src: SocketAddr = format!("{other}:0").parse().unwrap();
    std::thread::scope(|s| {
        let connector = s.spawn(|| {
            peer.in_peer_ns(|| {
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                sock.bind(&src.into()).expect("bind the second address");
                sock.connect_timeout(&node_addr.into(), Duration::from_secs(3))
                    .expect("connect from the second address");
                let mut t: TcpStream = sock.into();
                t.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                // returns when the node side closes
                let _ = t.read(&mut b);
            })
        });
        let (conn, _) = accept(&other, Duration::from_secs(5));
        drop(conn);
        connector.join().unwrap();
    });
}

/// UDP SOA queries to the node's DNS, one after another, until `n` are
/// sent and `until` holds (asked every 500 queries: it may read a file):
/// (sent, answered, elapsed).
fn dns_burst(node: &Node, n: usize, until: impl Fn() -> bool + Send + Sync) -> (usize, usize, Duration) {
    node.in_ns(|| {
        let t0 = Instant::now();
        let (mut sent, mut answered) = (0, 0);
        while sent < n || sent % 500 != 0 || (!until() && t0.elapsed() < Duration::from_secs(60)) {
            sent += 1;
            if wire::udp_query(
                node_dns(),
                "example.com",
                TYPE_SOA,
                CLASS_IN,
                Duration::from_millis(500),
            )
            .is_ok()
            {
                answered += 1;
            }
        }
        (sent, answered, t0.elapsed())
    })
}

/// Prefixes pharos read from the peer, from its debug log (one line per
/// UPDATE: "ignored UPDATE with N prefixes").
fn prefixes_read(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("ignored UPDATE with ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A BIRD peer sends a million IPv4 routes: pharos reads them all, the
/// session stays up (hold 9), memory stays flat, DNS answers every query
/// meanwhile, health does not flap.
#[test]
fn a_full_table_peer_is_read_and_discarded() {
    const N: u64 = 1_000_000;
    let t_start = Instant::now();
    let peer = BgpPeer::start(
        "bird",
        &PeerOpts {
            full_table: N as u32,
            ..PeerOpts::default()
        },
    );
    eprintln!("peer with {N} routes ready in {:?}", t_start.elapsed());
    // The link held down until the baseline is taken: no session yet.
    peer.link(false);
    // RRL off: the bursts below come from one address, far over 200/s.
    let cfg = NodeConfig {
        dns_extra: "\n[dns.rrl]\nresponses-per-second = 0\n".into(),
        ..NodeConfig::with_peers(vec![peer.peer_v4()])
    };
    let mut node = Node::start(&peer, &cfg);
    let (sent0, answered0, took0) = dns_burst(&node, 2000, || true);
    let rss0 = node.rss_kib();
    let cpu0 = node.cpu_time();
    assert_eq!(answered0, sent0, "DNS before the table");
    assert!(prefixes_read(&node.log()) == 0 && peer.state() != "Established");

    peer.link(true);
    peer.wait_established(Duration::from_secs(30));
    let t0 = Instant::now();
    let since = peer.session_since("v4");
    let log_path = node.log_path.clone();
    let all_read = || prefixes_read(&String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default())) >= N;
    let mut rss_max = rss0;
    let (sent1, answered1, took1) = std::thread::scope(|s| {
        let burst = s.spawn(|| dns_burst(&node, 2000, all_read));
        while !burst.is_finished() {
            rss_max = rss_max.max(node.rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        burst.join().unwrap()
    });
    peer.wait("the node read every route", Duration::from_secs(60), |_| all_read());
    let t_read = t0.elapsed();
    let cpu = node.cpu_time() - cpu0;
    let updates = node.log().matches("ignored UPDATE with ").count();
    // A further keepalive round with nothing else going on.
    std::thread::sleep(Duration::from_secs(3));
    rss_max = rss_max.max(node.rss_kib());
    let rss1 = node.rss_kib();
    eprintln!(
        "full table: {N} routes in {updates} UPDATEs read in {t_read:?} (from Established), pharos CPU {cpu:?}; \
         RSS {rss0} KiB before, {rss_max} KiB max, {rss1} KiB after; DNS before: {answered0}/{sent0} in {took0:?}, \
         during: {answered1}/{sent1} in {took1:?}; peer exported {}",
        peer.exported()
    );
    assert_eq!(prefixes_read(&node.log()), N, "prefixes pharos read");
    assert_eq!(answered1, sent1, "DNS queries unanswered while the table flowed");
    assert!(rss_max <= rss0 + 5 * 1024, "RSS grew from {rss0} KiB to {rss_max} KiB");
    assert_eq!(peer.state(), "Established");
    assert!(
        same_since(since, peer.session_since("v4")),
        "the session was reset while the table flowed"
    );
    let log = node.log();
    assert!(
        !log.contains("withdrawn (") && !log.contains("bgp=withdraw"),
        "health flapped or the session dropped:\n{}",
        common::tail(&log, 30)
    );
    assert!(node.is_running());
}
