//! Health and BGP together, end to end: the real pharos binary in a node
//! namespace, a real BGP peer (BIRD 2 or GoBGP) in its own namespace, and
//! for secondary zones a real Knot primary beside pharos in the node
//! namespace (tests/common/bgp.rs, tests/common/primary.rs). What counts is
//! what the peer has: the route is withdrawn when DNS stops being healthy
//! and announced again when it is healthy.
//!
//! - a critical secondary zone (`health.critical-zones`) that expires (its
//!   primary stopped): withdrawn; the primary back: announced;
//! - `health.probe` failing (the record it asks for removed on the primary,
//!   NOTIFY + IXFR): withdrawn; the record back: announced;
//! - a listener killed from outside (its UDP sockets aborted with `ss -K`,
//!   as the kernel's sock_destroy does): withdrawn at once, Cease, and a
//!   non-zero exit;
//! - a probe that flaps faster than rise/fall: the route never leaves the
//!   peer;
//! - the maintenance file: GRACEFUL_SHUTDOWN (65535:0) at the peer, then
//!   withdrawn while DNS answers; the file removed: announced without it.
//!
//! Intervals are 100-200 ms so that the whole file takes well under a
//! minute. Needs root, bird2, gobgpd, jq, knot and iproute2's ss
//! (scripts/test.sh installs them).

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BgpPeer, KnotPrimary, Node, NodeConfig, PeerOpts, Route, in_netns, require_program, toml_str, wire};

const UP: Duration = Duration::from_secs(15);
const SEC: &str = "sec.test";
const GSHUT: &str = "65535:0";
const RCODE_NOERROR: u8 = 0;
const RCODE_NXDOMAIN: u8 = 3;

// ---------------------------------------------------------------- helpers

fn require_knot() {
    require_program("knotd", "knot");
    require_program("knotc", "knot");
}

/// The secondary zone `sec.test` (refresh 1h, retry 10m, expire 1h: the
/// per-zone clamps decide) with `extra` records.
fn sec_zone_text(extra: &str) -> String {
    format!("$ORIGIN {SEC}.\n$TTL 300\n@ SOA ns1 host 1 3600 600 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n{extra}")
}

/// A Knot primary for sec.test in the node namespace of `peer`, where
/// pharos reaches it on 127.0.0.1, and which NOTIFYs pharos there.
fn primary_in_node_ns(peer: &BgpPeer, extra: &str) -> KnotPrimary {
    require_knot();
    let mut knot = in_netns(&peer.node_ns, || KnotPrimary::start(SEC, &sec_zone_text(extra)));
    knot.notify_to(common::NODE_DNS_PORT);
    knot
}

/// `[[zone]]` for sec.test from `knot`, with timer clamps `timers`.
fn sec_zone_toml(knot: &KnotPrimary, timers: &str) -> String {
    format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\n{timers}\n",
        toml_str(SEC),
        toml_str(&knot.addr_str())
    )
}

/// One IPv4 session carrying both families, `health` keys (interval etc.)
/// and `extra` TOML (zones).
fn node_config(peer: &BgpPeer, health: &str, extra: String) -> NodeConfig {
    NodeConfig {
        health_extra: health.to_string(),
        extra_toml: extra,
        ..NodeConfig::with_peers(vec![peer.peer_v4()])
    }
}

/// Both configured prefixes at the peer, without GRACEFUL_SHUTDOWN.
fn announced(p: &BgpPeer) -> bool {
    let r = p.routes();
    r.len() == 2 && r.iter().all(|r| !r.communities.iter().any(|c| c == GSHUT))
}

fn wait_announced(peer: &BgpPeer, what: &str, timeout: Duration) -> Duration {
    peer.wait(&format!("both prefixes announced ({what})"), timeout, announced)
}

fn wait_withdrawn(peer: &BgpPeer, what: &str, timeout: Duration) -> Duration {
    peer.wait(&format!("every prefix withdrawn ({what})"), timeout, |p| {
        p.routes().is_empty()
    })
}

/// The health transition lines (`health: <state> ...`, not the per-round
/// `health: check ...` lines) logged after byte `from`.
fn transitions(node: &Node, from: usize) -> Vec<String> {
    node.log()
        .get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("health: ") && !l.contains("health: check"))
        .map(String::from)
        .collect()
}

/// The first health transition to `state` logged after byte `from`.
fn transition(node: &Node, from: usize, state: &str) -> String {
    let needle = format!("health: {state}");
    transitions(node, from)
        .into_iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no `{needle}` line in the log:\n{}", common::tail(&node.log(), 30)))
}

/// The RCODE pharos answers for `name` `qtype`, or None without an answer.
fn rcode(node: &Node, name: &str, qtype: u16) -> Option<u8> {
    node.query(name, qtype).ok().map(|r| r.rcode)
}

/// Polls pharos until it answers `name` A with `want`; when it did.
fn wait_rcode(node: &Node, name: &str, want: u8, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if rcode(node, name, wire::TYPE_A) == Some(want) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "pharos did not answer {name} A with rcode {want} within {timeout:?}\n{}",
            common::tail(&node.log(), 20)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
// ------------------------------------------------------------------ tests

/// (a) With its only primary stopped, sec.test, a critical zone, expires
/// (expire clamped to 2..3 s): unhealthy, withdrawn at the peer. The
/// primary back: the next retry transfers the zone, healthy, announced
/// again.
#[test]
fn expired_critical_zone_withdraws_and_its_primary_back_announces() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let mut knot = primary_in_node_ns(&peer, "");
    let timers = "refresh-min = \"1s\"\nrefresh-max = \"1s\"\nretry-min = \"1s\"\nretry-max = \"1s\"\n\
                  expire-min = \"2s\"\nexpire-max = \"3s\"";
    let cfg = node_config(
        &peer,
        "interval = \"200ms\"\nrise = 2\nfall = 2\ncritical-zones = [\"sec.test\"]",
        sec_zone_toml(&knot, timers),
    );
    let node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    wait_announced(&peer, "sec.test transferred", UP);

    let at = node.log().len();
    knot.stop();
    let stopped = Instant::now();
    // Expire 2..3 s after the last refresh, then fall = 2 rounds of 200 ms.
    wait_withdrawn(&peer, "sec.test expired", Duration::from_secs(8));
    let took = stopped.elapsed();
    eprintln!("primary stopped -> withdrawn at the peer: {took:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "withdrawn {took:?} after the primary stopped: before expire?"
    );
    let line = transition(&node, at, "unhealthy");
    assert!(
        line.contains("reason=critical zone sec.test expired") && line.contains("bgp=withdraw"),
        "{line}"
    );
    // The session stays up and the other zone is still served.
    assert_eq!(peer.state(), "Established");
    assert_eq!(rcode(&node, "example.com", wire::TYPE_SOA), Some(RCODE_NOERROR));

    let at = node.log().len();
    in_netns(&peer.node_ns, || knot.start_again());
    let back = Instant::now();
    wait_announced(&peer, "primary back", Duration::from_secs(8));
    eprintln!("primary back -> announced at the peer: {:?}", back.elapsed());
    let line = transition(&node, at, "healthy");
    assert!(
        line.contains("from=unhealthy") && line.contains("bgp=announce"),
        "{line}"
    );
    assert_eq!(peer.state(), "Established");
}

/// (b) `health.probe` asks `probe.sec.test A`. The record removed on the
/// primary (NOTIFY, IXFR): NXDOMAIN, unhealthy after `fall` rounds,
/// withdrawn at the peer (GoBGP here). The record back: announced.
#[test]
fn failing_probe_withdraws_and_passing_probe_announces_again() {
    let peer = BgpPeer::start("gobgp", &PeerOpts::default());
    let knot = primary_in_node_ns(&peer, "probe A 192.0.2.53\n");
    let cfg = node_config(
        &peer,
        "interval = \"200ms\"\nrise = 2\nfall = 2\nprobe = \"probe.sec.test A\"",
        sec_zone_toml(&knot, ""),
    );
    let node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    wait_announced(&peer, "probe passing", UP);

    let at = node.log().len();
    knot.unset_record("probe", "A");
    let failing = wait_rcode(&node, "probe.sec.test", RCODE_NXDOMAIN, Duration::from_secs(3));
    wait_withdrawn(&peer, "probe failing", Duration::from_secs(3));
    eprintln!("probe failing -> withdrawn at the peer: {:?}", failing.elapsed());
    let line = transition(&node, at, "unhealthy");
    assert!(
        line.contains("reason=probe probe.sec.test A via 127.0.0.1:5353: NXDOMAIN (2 checks in a row)"),
        "{line}"
    );
    assert_eq!(peer.state(), "Established");

    let at = node.log().len();
    knot.add_record("probe", 300, "A", "192.0.2.53");
    let passing = wait_rcode(&node, "probe.sec.test", RCODE_NOERROR, Duration::from_secs(3));
    wait_announced(&peer, "probe passing again", Duration::from_secs(3));
    eprintln!("probe passing -> announced at the peer: {:?}", passing.elapsed());
    let line = transition(&node, at, "healthy");
    assert!(
        line.contains("from=unhealthy") && line.contains("bgp=announce"),
        "{line}"
    );
    // Exactly the configured routes, attributes and all.
    let routes: Vec<Route> = peer.routes();
    assert!(
        routes
            .iter()
            .all(|r| r.as_path == [65001, 65001, 65001] && r.med == Some(10)),
        "{routes:#?}"
    );
}

/// (c) A DNS listener dies: its UDP sockets are aborted from outside with
/// `ss -K` (the kernel's sock_destroy; recvmmsg fails with ECONNABORTED).
/// Unhealthy at once: withdrawn at the peer, Cease / Administrative
/// Shutdown, and pharos exits non-zero; no hold-timer wait (hold is 9 s).
#[test]
fn a_listener_killed_from_outside_withdraws_at_once_and_exits_non_zero() {
    require_program("ss", "iproute2");
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let cfg = node_config(&peer, "interval = \"200ms\"\nrise = 2\nfall = 2", String::new());
    let mut node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    wait_announced(&peer, "healthy", UP);

    let at = node.log().len();
    let port = common::NODE_DNS_PORT;
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &node.ns, "ss", "-K", "-u", "-a", "-n"])
        .arg(format!("sport = :{port}"))
        .output()
        .expect("cannot run ss");
    let killed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && killed.contains(&format!(":{port}")),
        "ss -K: {killed}\n{out:?}"
    );
    let t0 = Instant::now();
    let gone = peer.wait_route_count(0, Duration::from_secs(3));
    eprintln!("UDP listener aborted -> withdrawn at the peer: {gone:?}");
    assert!(gone < Duration::from_secs(2), "withdrawn only after {gone:?}");
    let status = node.wait_exit(Duration::from_secs(5));
    assert!(!status.success(), "pharos exited with {status} after a listener died");
    eprintln!("... and pharos exited ({status}) {:?} after", t0.elapsed());
    let line = transition(&node, at, "unhealthy");
    assert!(
        line.contains(&format!("reason=UDP listener 127.0.0.1:{port} worker")) && line.contains("bgp=withdraw"),
        "{line}"
    );
    let log = node.log();
    assert!(
        !log.contains("health: stopping"),
        "a dead listener is not a shutdown:\n{log}"
    );
    // The withdrawal went out before the Cease.
    let withdrawn = log.find("withdrawn (").expect("no `withdrawn (` line in the log");
    let stopped = log
        .find("stopped: pharos node")
        .expect("no `stopped: pharos node` line in the log");
    assert!(withdrawn < stopped, "Cease before the withdrawal:\n{log}");
    peer.wait("Cease logged by BIRD", Duration::from_secs(3), |p| {
        p.log().contains(&format!(
            "Administrative shutdown: \"pharos node {} shutting down\"",
            p.name
        ))
    });
    assert_ne!(peer.state(), "Established");
}

/// The probe's record is removed and put back on the primary in phases
/// much shorter than rise = fall = 5 rounds of 100 ms: the checks fail
/// again and again, yet the route never leaves the peer, which is polled
/// all along. Left failing, the route is withdrawn (so the watch could see
/// it).
#[test]
fn a_probe_flapping_faster_than_rise_and_fall_does_not_flap_the_route() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let knot = primary_in_node_ns(&peer, "flap A 192.0.2.9\n");
    let mut cfg = node_config(
        &peer,
        "interval = \"100ms\"\nrise = 5\nfall = 5\nprobe = \"flap.sec.test A\"",
        sec_zone_toml(&knot, ""),
    );
    // The flapping loop asks one name every 2 ms: over the default rate
    // limit, which would add timeouts to the phases (tests/rrl.rs).
    cfg.dns_extra = "\n[dns.rrl]\nresponses-per-second = 0\n".into();
    let node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    wait_announced(&peer, "healthy", UP);
    let at = node.log().len();

    let flapping = AtomicBool::new(true);
    let polls = AtomicUsize::new(0);
    let (longest, missing) = std::thread::scope(|s| {
        // The watch: every poll of the peer while the probe flaps.
        let watch = s.spawn(|| {
            let mut missing = Vec::new();
            let started = Instant::now();
            while flapping.load(Ordering::Relaxed) {
                let routes = peer.routes();
                polls.fetch_add(1, Ordering::Relaxed);
                if routes.len() != 2 {
                    missing.push((started.elapsed(), routes.len()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            missing
        });
        // The flapping, inside the node namespace (queries to pharos).
        let longest = node.in_ns(|| {
            let addr = common::node_dns();
            let wait_for = |want: u8| -> Instant {
                let deadline = Instant::now() + Duration::from_secs(3);
                loop {
                    let r = wire::udp_query(
                        addr,
                        "flap.sec.test",
                        wire::TYPE_A,
                        wire::CLASS_IN,
                        Duration::from_millis(300),
                    );
                    if r.is_ok_and(|r| r.rcode == want) {
                        return Instant::now();
                    }
                    assert!(
                        Instant::now() < deadline,
                        "pharos did not answer flap.sec.test A with rcode {want}"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            knot.flap_a("flap", wait_for)
        });
        // A last look after the flapping ended.
        std::thread::sleep(Duration::from_millis(300));
        flapping.store(false, Ordering::Relaxed);
        (longest, watch.join().expect("watch thread"))
    });
    let polls = polls.load(Ordering::Relaxed);
    eprintln!("longest phase while flapping: {longest:?}; the peer polled {polls} times");
    assert!(
        longest < Duration::from_millis(400),
        "a phase lasted {longest:?}: the primary is too slow for this test to flap faster than fall (500 ms)"
    );
    assert!(polls >= 10, "the peer was polled only {polls} times");
    assert!(
        missing.is_empty(),
        "the route flapped at the peer (time, routes): {missing:?}"
    );
    let failed: Vec<String> = node
        .log()
        .get(at..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("health: check failed"))
        .map(String::from)
        .collect();
    assert!(
        failed.len() >= 3 && failed.iter().all(|l| l.contains("NXDOMAIN")),
        "the probe should have failed in several phases: {failed:#?}"
    );
    assert!(
        transitions(&node, at).is_empty(),
        "the state flapped: {:#?}",
        transitions(&node, at)
    );

    // Left failing: withdrawn after fall rounds.
    knot.unset_record("flap", "A");
    let t = wait_withdrawn(&peer, "probe left failing", Duration::from_secs(3));
    eprintln!("probe left failing -> withdrawn at the peer: {t:?}");
}

/// The maintenance file drains: GRACEFUL_SHUTDOWN (65535:0) added at the
/// peer, the other attributes kept, for `health.drain`; then withdrawn
/// while DNS still answers; the file removed: announced again without it.
fn maintenance_drains_then_withdraws_and_removal_announces(kind: &str) {
    let peer = BgpPeer::start(kind, &PeerOpts::default());
    let cfg = NodeConfig {
        drain: "1500ms",
        ..node_config(&peer, "interval = \"200ms\"\nrise = 2\nfall = 2", String::new())
    };
    let node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    wait_announced(&peer, "healthy", UP);
    let before = peer.routes();

    let file = node.maintenance_file();
    fs::create_dir_all(file.parent().expect("a parent dir")).expect("create the data dir");
    fs::write(&file, b"").expect("create the maintenance file");
    let created = Instant::now();
    let gshut = peer.wait("both prefixes with GRACEFUL_SHUTDOWN", Duration::from_secs(2), |p| {
        let r = p.routes();
        r.len() == 2 && r.iter().all(|r| r.communities.iter().any(|c| c == GSHUT))
    });
    eprintln!("maintenance file -> GRACEFUL_SHUTDOWN at the {kind} peer: {gshut:?}");
    for (old, new) in before.iter().zip(peer.routes()) {
        let mut want = old.communities.clone();
        want.push(GSHUT.into());
        want.sort();
        let mut got = new.communities.clone();
        got.sort();
        assert_eq!(got, want, "{}", new.line);
        assert_eq!(
            (&new.prefix, &new.next_hop, &new.as_path, new.med, &new.large),
            (&old.prefix, &old.next_hop, &old.as_path, old.med, &old.large),
            "only the community may change: {} -> {}",
            old.line,
            new.line
        );
    }
    wait_withdrawn(&peer, "drained", Duration::from_secs(4));
    let drained = created.elapsed();
    eprintln!("maintenance file -> withdrawn at the {kind} peer: {drained:?}");
    assert!(
        drained >= Duration::from_millis(1300),
        "withdrawn {drained:?} after the file appeared, before health.drain (1.5 s)"
    );
    assert_eq!(peer.state(), "Established");
    for _ in 0..3 {
        assert_eq!(
            rcode(&node, "example.com", wire::TYPE_SOA),
            Some(RCODE_NOERROR),
            "DNS must answer while drained"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stays withdrawn while the file is there.
    std::thread::sleep(Duration::from_millis(500));
    assert!(peer.routes().is_empty(), "announced again while drained");

    fs::remove_file(&file).expect("remove the maintenance file");
    let back = wait_announced(&peer, "maintenance ended", Duration::from_secs(3));
    eprintln!("maintenance file removed -> announced at the {kind} peer: {back:?}");
    let after: Vec<String> = peer.routes().into_iter().map(|r| r.line).collect();
    let before: Vec<String> = before.into_iter().map(|r| r.line).collect();
    assert_eq!(after, before, "the routes after maintenance differ from those before");
    let log = node.log();
    for t in ["health: draining", "health: drained", "maintenance ended"] {
        assert!(log.contains(t), "no {t:?} in the log:\n{}", common::tail(&log, 30));
    }
}

#[test]
fn maintenance_file_gshut_then_withdrawn_then_announced_bird() {
    maintenance_drains_then_withdraws_and_removal_announces("bird");
}

#[test]
fn maintenance_file_gshut_then_withdrawn_then_announced_gobgp() {
    maintenance_drains_then_withdraws_and_removal_announces("gobgp");
}
