//! BFD (RFC 5880/5881) between pharos and real routers: BIRD 2 (`protocol
//! bfd`, `bfd on`) and FRR (`bfdd`, `neighbor X bfd`), each in its own
//! network namespace. Sessions come up; a link that silently drops every
//! packet (nothing closed, no error to either side) takes the routes away
//! at the peer within interval x multiplier + 0.5 s, where without BFD
//! they stay for the hold time (tests/bgp_upstreams.rs asserts that half);
//! pharos's own session goes down with Cease / BFD Down and stays down
//! until BFD is up again; the link restored, BFD, the session and the
//! routes come back.
//!
//! Needs root and the Debian packages bird2, frr, nftables, jq.

mod common;

use std::time::{Duration, Instant};

use common::{BgpPeer, MGMT_TOML, Node, NodeConfig, PeerOpts};

const UP: Duration = Duration::from_secs(20);
/// 300 ms x 3, the defaults on both sides.
const DETECTION: Duration = Duration::from_millis(900);

fn bfd_node(peer: &BgpPeer, v6: bool) -> Node {
    let mut p = if v6 { peer.peer_v6() } else { peer.peer_v4() };
    // hold time 90: only BFD can take the session down quickly.
    p.hold_time = 90;
    p.extra = "bfd = true".into();
    let mut cfg = NodeConfig::with_peers(vec![p]);
    cfg.extra_toml = MGMT_TOML.into();
    Node::start(peer, &cfg)
}

/// `router`: a router namespace between node and peer (multihop 2 on
/// both sides: multihop BFD, RFC 5883, UDP 4784). `v6`: the session and
/// BFD over IPv6.
fn link_failure_is_detected_by_bfd(kind: &str, router: bool, v6: bool) {
    let peer = BgpPeer::start(
        kind,
        &PeerOpts {
            bfd: Some((300, 3)),
            hold: 90,
            router,
            sessions: if v6 { "v6" } else { "v4" },
            ..PeerOpts::default()
        },
    );
    let node = bfd_node(&peer, v6);
    let (node_ip, peer_ip) = if v6 {
        (peer.node_ip6.clone(), peer.peer_ip6.clone())
    } else {
        (peer.node_ip4.clone(), peer.peer_ip4.clone())
    };
    peer.wait_established(UP);
    peer.wait_route_count(2, UP);
    peer.wait_bfd(&node_ip, "up", UP);
    let t0 = Instant::now();
    let st = loop {
        let st = node.peer_status(&peer_ip);
        if st["bfd"]["state"] == "up" && st["bfd"]["detection-ms"] == 900 {
            break st;
        }
        assert!(t0.elapsed() < UP, "pharos's BFD not up at 300 ms x 3: {st}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(st["state"], "Established", "{st}");
    assert_eq!(st["bfd"]["multihop"], router, "{st}");
    let m = node.metrics();
    let labels = format!("{{peer=\"{peer_ip}\",asn=\"65000\"}}");
    for series in [
        format!("pharos_bfd_session_up{labels} 1"),
        format!("pharos_bfd_session_state{{peer=\"{peer_ip}\",asn=\"65000\",state=\"up\"}} 1"),
        format!("pharos_bfd_detection_time_seconds{labels} 0.9"),
        format!("pharos_bfd_up_transitions_total{labels} 1"),
    ] {
        assert!(m.contains(&series), "{series} not in /metrics:\n{m}");
    }

    peer.link(false);
    let cut = Instant::now();
    let gone = peer.wait("routes gone after the link failure", UP, |p| p.routes().is_empty());
    eprintln!("{kind}: link down -> routes gone at the peer after {gone:?} (BFD 300 ms x 3, hold 90 s)");
    assert!(
        gone <= DETECTION + Duration::from_millis(500),
        "{kind}: routes gone only after {gone:?}"
    );
    // pharos's side: down with Cease / BFD Down, and it stays down.
    let st = loop {
        let st = node.peer_status(&peer_ip);
        if st["waiting-for-bfd"] == true {
            break st;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(5),
            "pharos's session still up: {st}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(st["state"], "Established", "{st}");
    assert_eq!(st["bfd"]["last-down"], "detection time expired", "{st}");
    assert!(
        st["last-notification-sent"]
            .as_str()
            .is_some_and(|t| t.contains("BFD Down")),
        "{st}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let st = node.peer_status(&peer_ip);
    assert_eq!(st["waiting-for-bfd"], true, "{st}");
    assert!(
        matches!(st["state"].as_str(), Some("Idle")),
        "no connect while BFD is down: {st}"
    );

    peer.link(true);
    let back = peer.wait_bfd(&node_ip, "up", UP);
    peer.wait_established(UP);
    let routes = peer.wait_route_count(2, UP);
    eprintln!("{kind}: link up -> BFD up after {back:?}, routes back after {routes:?}");
    let st = node.peer_status(&peer_ip);
    assert_eq!(st["bfd"]["up-transitions"], 2, "{st}");
    assert_eq!(st["established-count"], 2, "{st}");
}

#[test]
fn bird_bfd_link_failure() {
    link_failure_is_detected_by_bfd("bird", false, false);
}

#[test]
fn frr_bfd_link_failure() {
    link_failure_is_detected_by_bfd("frr", false, false);
}

/// Multihop BFD (one routed hop): BIRD and FRR.
#[test]
fn multihop_bfd_link_failure() {
    for kind in ["bird", "frr"] {
        link_failure_is_detected_by_bfd(kind, true, false);
    }
}

/// BFD over IPv6 (an IPv6 session carrying both families): BIRD and FRR.
#[test]
fn ipv6_bfd_link_failure() {
    for kind in ["bird", "frr"] {
        link_failure_is_detected_by_bfd(kind, false, true);
    }
}
