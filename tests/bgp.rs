//! The BGP speaker against real peers: BIRD 2 and GoBGP (and a scripted
//! misbehaving peer), each in its own network namespace, with the real
//! pharos binary in the node namespace (tests/common/bgp.rs).
//!
//! Needs root; scripts/test.sh installs bird2, gobgpd and jq.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{BgpPeer, Node, NodeConfig, PeerEntry, PeerOpts, same_since, scripted_peer_py, since_ms};

const UP: Duration = Duration::from_secs(15);

/// The routes every test config announces, as the peer must list them:
/// both prefixes, AS path with 2 prepends, both communities, MED, large
/// community, next hop self.
fn expected(nh4: &str, nh6: &str, asn: u32) -> Vec<String> {
    let path = format!("{asn} {asn} {asn}");
    vec![
        format!(
            "192.0.2.0/24 nexthop={nh4} aspath={path} communities=65001:100 65001:666 med=10 origin=igp large=65001:1:2"
        ),
        format!(
            "2001:db8:1::/48 nexthop={nh6} aspath={path} communities=65001:100 65001:666 med=10 origin=igp large=65001:1:2"
        ),
    ]
}

fn lines(peer: &BgpPeer) -> Vec<String> {
    peer.routes().into_iter().map(|r| r.line).collect()
}

/// Waits for both prefixes, then checks that the peer has exactly the
/// expected routes and nothing else.
fn check_routes(peer: &BgpPeer, asn: u32) {
    peer.wait_established(UP);
    peer.wait_route_count(2, UP);
    assert_eq!(lines(peer), expected(&peer.node_ip4, &peer.node_ip6, asn));
}

fn one_ipv4_session(kind: &str) {
    let peer = BgpPeer::start(kind, &PeerOpts::default());
    let _node = Node::start(&peer, &NodeConfig::with_peers(vec![peer.peer_v4()]));
    check_routes(&peer, 65001);
}

fn separate_sessions(kind: &str) {
    let peer = BgpPeer::start(
        kind,
        &PeerOpts {
            sessions: "dual",
            ..PeerOpts::default()
        },
    );
    let _node = Node::start(&peer, &NodeConfig::with_peers(peer.peers_dual()));
    check_routes(&peer, 65001);
}

#[test]
fn bird_one_ipv4_session_carries_both_families() {
    one_ipv4_session("bird");
}

#[test]
fn bird_separate_ipv4_and_ipv6_sessions() {
    separate_sessions("bird");
}

#[test]
fn gobgp_one_ipv4_session_carries_both_families() {
    one_ipv4_session("gobgp");
}

#[test]
fn gobgp_separate_ipv4_and_ipv6_sessions() {
    separate_sessions("gobgp");
}

#[test]
fn bird_ipv6_session_with_a_four_octet_asn() {
    let asn = 4_200_000_001;
    let peer = BgpPeer::start(
        "bird",
        &PeerOpts {
            sessions: "v6",
            node_as: asn,
            ..PeerOpts::default()
        },
    );
    let cfg = NodeConfig {
        asn,
        ..NodeConfig::with_peers(vec![peer.peer_v6()])
    };
    let node = Node::start(&peer, &cfg);
    check_routes(&peer, asn);
    assert!(node.log().contains("4-octet AS yes"));
}

#[test]
fn sigterm_withdraws_before_the_session_closes() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let mut node = Node::start(&peer, &NodeConfig::with_peers(vec![peer.peer_v4()]));
    check_routes(&peer, 65001);
    node.signal("TERM");
    let t0 = Instant::now();
    // Withdrawn while the session is still up (health.drain = 1s)...
    peer.wait("withdrawn while Established", Duration::from_secs(3), |p| {
        p.routes().is_empty() && p.state() == "Established"
    });
    let withdrawn = t0.elapsed();
    // ...then Cease / Administrative Shutdown with our message.
    peer.wait("session down", Duration::from_secs(5), |p| p.state() != "Established");
    let status = node.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "pharos exited with {status}");
    let log = peer.log();
    assert!(
        log.contains(&format!(
            "Administrative shutdown: \"pharos node {} shutting down\"",
            peer.name
        )),
        "BIRD did not log our Cease / Administrative Shutdown:\n{log}"
    );
    eprintln!("SIGTERM -> withdrawn at the peer: {withdrawn:?}");
}

#[test]
fn kill9_drops_the_routes_at_once() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let mut node = Node::start(&peer, &NodeConfig::with_peers(vec![peer.peer_v4()]));
    check_routes(&peer, 65001);
    node.kill9();
    // The kernel closes the socket: no hold timer wait (hold is 9 s).
    let gone = peer.wait_route_count(0, Duration::from_secs(3));
    assert_ne!(peer.state(), "Established");
    eprintln!("kill -9 -> routes gone at the peer: {gone:?}");
}

#[test]
fn md5_right_establishes() {
    let pw = "s3cret-pw";
    let peer = BgpPeer::start(
        "gobgp",
        &PeerOpts {
            md5: Some(pw.into()),
            ..PeerOpts::default()
        },
    );
    let entry = PeerEntry {
        password: Some(pw.into()),
        ..peer.peer_v4()
    };
    let _node = Node::start(&peer, &NodeConfig::with_peers(vec![entry]));
    check_routes(&peer, 65001);
}

#[test]
fn md5_wrong_is_not_established_and_the_log_says_why() {
    let peer = BgpPeer::start(
        "bird",
        &PeerOpts {
            md5: Some("s3cret-pw".into()),
            ..PeerOpts::default()
        },
    );
    let entry = PeerEntry {
        password: Some("wrong-pw".into()),
        ..peer.peer_v4()
    };
    let mut node = Node::start(&peer, &NodeConfig::with_peers(vec![entry]));
    node.wait_log("timed out after 5s", Duration::from_secs(10));
    let log = node.log();
    assert!(
        log.contains("a TCP-MD5 password is configured: a password mismatch is a likely cause"),
        "{log}"
    );
    assert_ne!(peer.state(), "Established");
    assert!(peer.routes().is_empty());
    assert!(node.is_running());
}

/// A scripted peer in MODE; returns it and the path of its event log.
fn scripted(mode: &str) -> (BgpPeer, std::path::PathBuf) {
    let log = tempfile::Builder::new()
        .prefix("scripted-peer.")
        .suffix(".jsonl")
        .tempfile()
        .expect("temp file")
        .into_temp_path()
        .keep()
        .expect("keep temp file");
    // peer.sh gives the peer 10.255.N.1; the script reads it from argv.
    // Its address is only known after start, so listen on any address.
    let cmd = format!(
        "python3 {} --listen 0.0.0.0 --mode {mode} --log {} --lifetime 120",
        scripted_peer_py().display(),
        log.display()
    );
    let peer = BgpPeer::start(
        "script",
        &PeerOpts {
            command: Some(cmd),
            ..PeerOpts::default()
        },
    );
    (peer, log)
}

#[derive(Debug)]
struct ScriptEvent {
    t: f64,
    conn: u64,
    event: String,
    code: Option<u64>,
    subcode: Option<u64>,
}

fn script_events(path: &std::path::Path) -> Vec<ScriptEvent> {
    // One JSON object per line, with flat scalar fields only.
    let field = |line: &str, k: &str| -> Option<String> {
        let key = format!("\"{k}\": ");
        let start = line.find(&key)? + key.len();
        let rest = &line[start..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('"').to_string())
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            Some(ScriptEvent {
                t: field(l, "t")?.parse().ok()?,
                conn: field(l, "conn")?.parse().ok()?,
                event: field(l, "event")?,
                code: field(l, "code").and_then(|v| v.parse().ok()),
                subcode: field(l, "subcode").and_then(|v| v.parse().ok()),
            })
        })
        .collect()
}

/// Waits until the scripted peer saw `n` connections; their start times.
fn wait_connections(path: &std::path::Path, n: usize, timeout: Duration, node: &mut Node) -> Vec<f64> {
    let start = Instant::now();
    loop {
        let connects: Vec<f64> = script_events(path)
            .iter()
            .filter(|e| e.event == "connect")
            .map(|e| e.t)
            .collect();
        if connects.len() >= n {
            return connects;
        }
        assert!(node.is_running(), "pharos died:\n{}", node.log());
        assert!(
            start.elapsed() < timeout,
            "only {} connections within {timeout:?}; events: {:?}\n{}",
            connects.len(),
            script_events(path),
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The peer misbehaves on every connection: pharos answers with the
/// NOTIFICATION `want` (if any), stays up, and reconnects with a growing
/// backoff.
fn misbehaving_peer(mode: &str, want: Option<(u64, u64)>, log_text: &str) {
    let (peer, events) = scripted(mode);
    let entry = PeerEntry {
        local_address: None,
        ..peer.peer_v4()
    };
    let mut node = Node::start(&peer, &NodeConfig::with_peers(vec![entry]));
    let t = wait_connections(&events, 4, Duration::from_secs(20), &mut node);
    // Backoff: 0.5..1 s, then 1..2 s, then 2..4 s (plus a little).
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] < 1.6 && gaps[2] > 1.9 && gaps[2] > gaps[0],
        "reconnect gaps {gaps:?}"
    );
    if let Some((code, subcode)) = want {
        let got: Vec<(u64, u64)> = script_events(&events)
            .iter()
            .filter(|e| e.event == "notification" && e.conn <= 3)
            .filter_map(|e| Some((e.code?, e.subcode?)))
            .collect();
        assert!(
            got.len() >= 3 && got.iter().all(|n| *n == (code, subcode)),
            "NOTIFICATIONs from pharos: {got:?}, want ({code}, {subcode}) on each connection"
        );
    }
    assert!(node.is_running());
    let log = node.log();
    assert!(log.contains(log_text), "pharos log lacks {log_text:?}:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    drop(peer);
    let _ = std::fs::remove_file(&events);
}

#[test]
fn garbage_from_the_peer_gets_a_header_error_and_a_reconnect() {
    misbehaving_peer("garbage", Some((1, 1)), "Connection Not Synchronized");
}

#[test]
fn a_malformed_update_gets_an_update_error() {
    misbehaving_peer("bad-update", Some((3, 1)), "malformed message from the peer");
}

#[test]
fn a_notification_from_the_peer_means_reconnect() {
    misbehaving_peer(
        "notification",
        None,
        "NOTIFICATION from the peer in Established: Cease / Administrative Reset (6/4): \"scripted peer says goodbye\"",
    );
}

#[test]
fn wrong_peer_as_gets_bad_peer_as() {
    misbehaving_peer("bad-as", Some((2, 2)), "the peer is AS 65001, the config says AS 65000");
}

/// SIGHUP with new announcements (a prefix dropped, a community added): the
/// peer gets the withdrawal and the new attributes over the same session,
/// which is never reset; a broken file after that changes nothing.
#[test]
fn sighup_updates_announcements_without_resetting_the_session() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let mut cfg = NodeConfig::with_peers(vec![peer.peer_v4()]);
    let mut node = Node::start(&peer, &cfg);
    check_routes(&peer, 65001);
    let established = |node: &Node| node.log().matches("-> Established").count();
    assert_eq!(established(&node), 1);

    cfg.announce = vec!["192.0.2.0/24"];
    cfg.communities = vec!["65001:100", "65001:666", "65001:777"];
    node.reload(&peer, &cfg);
    node.wait_log("SIGHUP: configuration applied", UP);
    peer.wait_withdrawn("2001:db8:1::/48", UP);
    let r = peer.wait_route("192.0.2.0/24", UP, |r| r.communities.iter().any(|c| c == "65001:777"));
    assert_eq!(
        r.communities,
        vec!["65001:100", "65001:666", "65001:777"],
        "the new communities: {}",
        r.line
    );
    assert_eq!(
        lines(&peer).len(),
        1,
        "only the prefix still configured: {:?}",
        lines(&peer)
    );

    // A broken file: refused, nothing changes at the peer.
    std::fs::write(&node.config, "[bgp\n").unwrap();
    node.signal("HUP");
    node.wait_log("keeping the running one", UP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&peer).len(), 1);
    assert_eq!(peer.state(), "Established");
    assert_eq!(
        established(&node),
        1,
        "the session was reset by a reload:\n{}",
        node.log()
    );
    assert!(
        !peer.log().contains("Administrative shutdown"),
        "the peer saw a Cease:\n{}",
        peer.log()
    );
}

/// Lines of the node's log with `text` about the peer at `address`: their
/// `peer=` field is the address (speaker) or the address and port (session).
fn peer_log_count(node: &Node, text: &str, address: &str) -> usize {
    let address: IpAddr = address.parse().expect("a peer address");
    let about = |line: &str| {
        line.split_whitespace()
            .filter_map(|w| w.strip_prefix("peer="))
            .any(|v| v.parse::<SocketAddr>().map(|s| s.ip()).or_else(|_| v.parse()) == Ok(address))
    };
    node.log().lines().filter(|l| l.contains(text) && about(l)).count()
}

/// One BIRD with two sessions to the node: A (`v4`: 10.255.N.1) and B
/// (`v6`: fd00:255:N::1), each carrying both families. SIGHUP adds B, then
/// removes A: B comes up with the routes, A gets a Cease and loses them,
/// and the session that stays is never reset (one start and one
/// Established at the node; one "BGP session established" and an unchanged
/// protocol "since" in BIRD). A last SIGHUP changes B: its old session gets
/// a Cease before the new one starts, which comes up once.
#[test]
fn sighup_adds_and_removes_a_peer_without_resetting_the_other() {
    let peer = BgpPeer::start(
        "bird",
        &PeerOpts {
            sessions: "both",
            ..PeerOpts::default()
        },
    );
    let (a, b) = (peer.peer_v4(), peer.peer_v6());
    let want = expected(&peer.node_ip4, &peer.node_ip6, 65001);
    let session_lines = |s: &str| -> Vec<String> { peer.session_routes(s).into_iter().map(|r| r.line).collect() };
    let up_with_routes = |s: &'static str| {
        peer.wait(&format!("session {s} Established with both routes"), UP, |p| {
            p.session_state(s) == "Established" && p.session_routes(s).len() == 2
        });
        assert_eq!(session_lines(s), want, "the routes of session {s}");
    };
    // At the node: how often each session was started and came up.
    let started = |node: &Node, p: &PeerEntry| peer_log_count(node, "starting BGP session", &p.address);
    let established = |node: &Node, p: &PeerEntry| peer_log_count(node, "-> Established", &p.address);
    // At BIRD: how often each session came up and went down.
    let bird = |s: &str| {
        let log = peer.log();
        let ups = log.matches(&format!("node{s}: BGP session established")).count();
        let downs = log.matches(&format!("node{s}: BGP session closed")).count();
        (ups, downs)
    };

    // A only.
    let mut cfg = NodeConfig::with_peers(vec![a.clone()]);
    let mut node = Node::start(&peer, &cfg);
    up_with_routes("v4");
    assert_ne!(peer.session_state("v6"), "Established");
    assert!(peer.session_routes("v6").is_empty());
    let a_since = peer.session_since("v4");
    assert_eq!((started(&node, &a), established(&node, &a)), (1, 1), "{}", node.log());
    assert_eq!(started(&node, &b), 0);
    assert_eq!((bird("v4"), bird("v6")), ((1, 0), (0, 0)), "{}", peer.log());

    // SIGHUP: A and B. B comes up with the routes; A is left alone.
    cfg.peers = vec![a.clone(), b.clone()];
    node.reload(&peer, &cfg);
    node.wait_log_count("SIGHUP: configuration applied", 1, UP);
    up_with_routes("v6");
    let b_since = peer.session_since("v6");
    assert_eq!(peer.session_state("v4"), "Established");
    assert_eq!(session_lines("v4"), want, "A's routes after adding B");
    assert!(
        same_since(peer.session_since("v4"), a_since),
        "BIRD saw A's session flap"
    );
    assert_eq!(
        (started(&node, &a), established(&node, &a)),
        (1, 1),
        "adding B restarted A:\n{}",
        node.log()
    );
    assert_eq!((started(&node, &b), established(&node, &b)), (1, 1), "{}", node.log());
    assert_eq!((bird("v4"), bird("v6")), ((1, 0), (1, 0)), "{}", peer.log());

    // SIGHUP: B only. A gets a Cease and loses the routes; B stays.
    cfg.peers = vec![b.clone()];
    node.reload(&peer, &cfg);
    node.wait_log_count("SIGHUP: configuration applied", 2, UP);
    peer.wait("session v4 down without routes", UP, |p| {
        p.session_state("v4") != "Established" && p.session_routes("v4").is_empty()
    });
    let log = peer.log();
    assert!(
        log.contains("nodev4: Received: Administrative shutdown: \"peer removed or changed in the configuration\""),
        "BIRD did not log A's Cease / Administrative Shutdown:\n{log}"
    );
    // Longer than pharos' first reconnect backoff (0.5..1 s) and BIRD's
    // error wait (1 s): A must stay gone, B must stay up.
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(peer.session_state("v4"), "Established", "A came back");
    assert!(peer.session_routes("v4").is_empty());
    assert_eq!(peer.session_state("v6"), "Established");
    assert_eq!(session_lines("v6"), want, "B's routes after removing A");
    assert!(
        same_since(peer.session_since("v6"), b_since),
        "BIRD saw B's session flap"
    );
    assert_eq!(
        (started(&node, &a), established(&node, &a)),
        (1, 1),
        "A was started again:\n{}",
        node.log()
    );
    assert_eq!(
        (started(&node, &b), established(&node, &b)),
        (1, 1),
        "removing A restarted B:\n{}",
        node.log()
    );
    // A went down once, B never; only A got a NOTIFICATION.
    assert_eq!((bird("v4"), bird("v6")), ((1, 1), (1, 0)), "{}", peer.log());
    let log = peer.log();
    assert!(
        !log.contains("nodev6: Received"),
        "B's session got a NOTIFICATION:\n{log}"
    );

    // SIGHUP: B changed (another hold time). Its old session ends with a
    // Cease before the new one starts, and the new one comes up once.
    let mut b2 = b.clone();
    b2.hold_time = if b.hold_time == 60 { 30 } else { 60 };
    cfg.peers = vec![b2.clone()];
    node.reload(&peer, &cfg);
    node.wait_log_count("SIGHUP: configuration applied", 3, UP);
    peer.wait("session v6 re-established after the change", UP, |p| {
        p.session_state("v6") == "Established"
            && p.session_routes("v6").len() == 2
            && !same_since(p.session_since("v6"), b_since)
    });
    assert_eq!(session_lines("v6"), want, "B's routes after changing B");
    let log = peer.log();
    assert!(
        log.contains("nodev6: Received: Administrative shutdown: \"peer removed or changed in the configuration\""),
        "BIRD did not log B's Cease:\n{log}"
    );
    assert_eq!(bird("v6"), (2, 1), "B went down and came up once:\n{log}");
    assert_eq!(
        (started(&node, &b), established(&node, &b)),
        (2, 2),
        "changing B:\n{}",
        node.log()
    );
    assert!(node.is_running());
}

#[test]
fn birds_protocol_times_parse_and_compare() {
    assert_eq!(since_ms("1970-01-01 00:00:01.005"), Some(1005));
    assert_eq!(since_ms("2026-12-07 19:21:17.168"), Some(1_796_671_277_168));
    assert!(same_since(
        since_ms("2026-12-07 19:21:17.168").unwrap_or(0),
        since_ms("2026-12-07 19:21:17.169").unwrap_or(0)
    ));
}
