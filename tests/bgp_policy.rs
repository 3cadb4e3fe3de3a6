//! Per-peer BGP settings against real upstreams in network namespaces:
//! export policy per peer (BIRD and FRR on one node see exactly what their
//! `[[bgp.peer]]` says; a reload changes it without a flap), passive
//! sessions (FRR connects; other sources are closed and counted), and TTL
//! security (GTSM) with FRR, direct and one routed hop away.
//!
//! Needs root and the Debian packages bird2, frr, nftables, jq.

mod common;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{BgpPeer, MGMT_TOML, Node, NodeConfig, PeerOpts, Route, same_since};

const UP: Duration = Duration::from_secs(20);

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn route<'a>(routes: &'a [Route], prefix: &str) -> &'a Route {
    routes
        .iter()
        .find(|r| r.prefix == prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {routes:#?}"))
}

/// Two upstreams, two policies: BIRD gets one prefix with its own
/// community and no large community; FRR both prefixes, its own
/// communities, MED 5, no prepend. Then a reload gives BIRD both prefixes
/// and another community: applied without resetting its session.
#[test]
fn each_upstream_gets_exactly_its_policy() {
    let bird = BgpPeer::start("bird", &PeerOpts::default());
    let frr = BgpPeer::start_joined("frr", &PeerOpts::default(), &bird);
    let mut b = bird.peer_v4();
    b.extra = "announce = [\"192.0.2.0/24\"]\ncommunities = [\"65001:200\"]\nlarge-communities = []".into();
    let mut f = frr.peer_v4();
    f.extra = "communities = [\"65001:300\", \"65001:301\"]".into();
    f.med = Some(5);
    f.prepend = 0;
    let mut cfg = NodeConfig::with_peers(vec![b.clone(), f]);
    cfg.extra_toml = MGMT_TOML.into();
    let node = Node::start(&bird, &cfg);

    bird.wait_established(UP);
    bird.wait_route_count(1, UP);
    frr.wait_established(UP);
    frr.wait_route_count(2, UP);
    let at_bird = bird.routes();
    assert_eq!(at_bird.len(), 1, "BIRD: {at_bird:#?}");
    let r = route(&at_bird, "192.0.2.0/24");
    assert_eq!(r.communities, ["65001:200"], "{}", r.line);
    assert!(r.large.is_empty(), "{}", r.line);
    assert_eq!(r.as_path, [65001, 65001, 65001], "{}", r.line);
    assert_eq!(r.med, Some(10), "{}", r.line);
    let at_frr = frr.routes();
    assert_eq!(
        sorted(at_frr.iter().map(|r| r.prefix.clone()).collect()),
        ["192.0.2.0/24", "2001:db8:1::/48"]
    );
    for r in &at_frr {
        assert_eq!(r.communities, ["65001:300", "65001:301"], "{}", r.line);
        assert_eq!(r.large, ["65001:1:2"], "{}", r.line);
        assert_eq!(r.as_path, [65001], "{}", r.line);
        assert_eq!(r.med, Some(5), "{}", r.line);
    }

    // Reload: BIRD's policy changes, its session stays.
    let since = bird.session_since("v4");
    b.extra = "communities = [\"65001:201\"]".into();
    cfg.peers[0] = b;
    node.reload(&bird, &cfg);
    bird.wait("both prefixes with the new community", UP, |p| {
        let r = p.routes();
        r.len() == 2
            && r.iter()
                .all(|r| r.communities == ["65001:201"] && r.large == ["65001:1:2"])
    });
    assert!(
        same_since(bird.session_since("v4"), since),
        "the policy change reset BIRD's session"
    );
    let st = node.peer_status(&bird.peer_ip4);
    assert_eq!(st["established-count"], 1, "{st}");
    assert_eq!(st["announced"].as_array().map(Vec::len), Some(2), "{st}");
    assert_eq!(frr.routes().len(), 2, "FRR untouched");
}

/// `passive = true`: pharos never connects; FRR connects and the session
/// comes up. A connection from another address of the peer's side is
/// closed at once and counted, and the session stays up.
#[test]
fn passive_session_takes_frr_and_refuses_other_sources() {
    let frr = BgpPeer::start(
        "frr",
        &PeerOpts {
            peer_connects: true,
            ..PeerOpts::default()
        },
    );
    let mut p = frr.peer_v4();
    p.extra = "passive = true".into();
    let mut cfg = NodeConfig::with_peers(vec![p]);
    cfg.extra_toml = MGMT_TOML.into();
    let node = Node::start(&frr, &cfg);
    frr.wait_established(UP);
    frr.wait_route_count(2, UP);
    let st = node.peer_status(&frr.peer_ip4);
    assert_eq!(st["passive"], true, "{st}");
    assert_eq!(st["state"], "Established", "{st}");
    assert!(
        !node.log().contains("-> Connect "),
        "a passive session connected out:\n{}",
        node.log()
    );

    let other = format!("10.253.{}.1", frr.node_ip4.split('.').nth(2).unwrap_or("0"));
    frr.add_peer_address(&other);
    let node_addr: SocketAddr = format!("{}:179", frr.node_ip4).parse().unwrap();
    let src: SocketAddr = format!("{other}:0").parse().unwrap();
    let closed_after = frr.in_peer_ns(|| {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&src.into()).expect("bind the second address");
        sock.connect_timeout(&node_addr.into(), Duration::from_secs(3))
            .expect("the listener accepts the TCP connection");
        let mut t: TcpStream = sock.into();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let t0 = Instant::now();
        let mut b = [0u8; 64];
        let n = t.read(&mut b);
        assert!(matches!(n, Ok(0) | Err(_)), "the node sent {n:?} to a stranger");
        t0.elapsed()
    });
    assert!(closed_after < Duration::from_secs(2), "closed after {closed_after:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !node.log().contains("BGP connections refused") {
        assert!(Instant::now() < deadline, "no refusal logged:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        node.log().contains(&other),
        "the refusal names the source:\n{}",
        node.log()
    );
    let m = node.metrics();
    assert!(m.contains("pharos_bgp_connections_refused_total 1"), "{m}");
    assert_eq!(node.peer_status(&frr.peer_ip4)["state"], "Established");
    assert_eq!(node.peer_status(&frr.peer_ip4)["established-count"], 1);
}

/// GTSM with FRR (`ttl-security hops 1`): directly connected, the session
/// comes up; the same settings one routed hop away (packets arrive with
/// TTL 254): never established, and pharos says why.
#[test]
fn ttl_security_with_frr_direct_and_one_hop_away() {
    let direct = BgpPeer::start(
        "frr",
        &PeerOpts {
            ttl_security: true,
            ..PeerOpts::default()
        },
    );
    let mut p = direct.peer_v4();
    p.extra = "ttl-security = true".into();
    let _node = Node::start(&direct, &NodeConfig::with_peers(vec![p]));
    direct.wait_established(UP);
    direct.wait_route_count(2, UP);

    let far = BgpPeer::start(
        "frr",
        &PeerOpts {
            ttl_security: true,
            router: true,
            multihop: Some(1),
            ..PeerOpts::default()
        },
    );
    let mut p = far.peer_v4();
    p.multihop = Some(1);
    p.extra = "ttl-security = true".into();
    let mut cfg = NodeConfig::with_peers(vec![p]);
    cfg.extra_toml = MGMT_TOML.into();
    let node = Node::start(&far, &cfg);
    // Long enough for several connect attempts (5 s connect timeout).
    std::thread::sleep(Duration::from_secs(12));
    assert_ne!(far.state(), "Established", "GTSM let a peer one hop away in");
    assert!(far.routes().is_empty());
    let st = node.peer_status(&far.peer_ip4);
    assert_ne!(st["state"], "Established", "{st}");
    assert_eq!(st["established-count"], 0, "{st}");
    let err = st["last-error"].as_str().unwrap_or_default().to_string();
    assert!(err.contains("timed out"), "last error: {err:?}");
}
