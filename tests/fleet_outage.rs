//! One customer cannot take the fleet down (issue 12, item 6, check "The
//! customer outage"), against real processes: two Knot primaries (one per
//! zone, customer alpha has two of the three: `alpha.test`, `alpha-shop.test`;
//! customer beta `beta.test`) -> a pharos hub -> 5 pharos nodes
//! (tests/common/fleet.rs). Refresh and retry 1 s, expire 4 s.
//!
//! * alpha's primaries stop: alpha's zones pass their expire on the hub,
//!   then on every node; every node answers SERVFAIL for them,
//!   NOERROR/AA for beta, and stays healthy (`GET /status`,
//!   `pharos_health_*`) although two of its three zones failed: the hub
//!   answers for them (SERVFAIL), so the node is not cut off. The hub's
//!   `/zones/alpha.test/fleet`, `/fleet` and status page show alpha's
//!   zones failed on every node (told apart from "behind"; `/fleet` and the
//!   page list them as failed everywhere: upstream). The primaries back:
//!   every node serves alpha's zones again, in sync.
//! * node 4 reaches the hub through a link (`common::Link`) the test cuts: past the
//!   expire of its zones it alone becomes unhealthy ("cut off"); the other
//!   nodes and the hub stay healthy; the hub shows node 4 failed for every
//!   zone (each zone failed on 1 of 5 nodes). The link back: node 4
//!   healthy again.
//! * `fleet_harness_placeholders_and_restart`: the harness itself (`{NODES}`
//!   and `{HUB}` in the extra TOML, a node stopped and restarted).
//!
//! Needs knotd/knotc (Debian package `knot`).

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{Fleet, FleetOpts, KnotPrimary, MgmtNode, parse_metrics, pharos_only, require_program, sample, wire};
use serde_json::Value;

/// Customer alpha's zones (each from a Knot primary of its own).
const ALPHAS: [&str; 2] = ["alpha.test", "alpha-shop.test"];
const BETA: &str = "beta.test";
const ALL: [&str; 3] = ["alpha.test", "alpha-shop.test", "beta.test"];
const NODES: usize = 5;
/// The node that reaches the hub through a link the test cuts.
const CUT: usize = 4;
const NOERROR: u8 = 0;
const SERVFAIL: u8 = 2;
/// Longer than any expire here (4 s) plus a refresh and health's fall.
const WAIT: Duration = Duration::from_secs(20);

/// The SOA says refresh/retry 1 s, expire 4 s; the zone keys let it.
const TIMERS: &str = "refresh-min = \"1s\"\nrefresh-max = \"1s\"\nretry-min = \"1s\"\nretry-max = \"1s\"\n\
                      expire-min = \"4s\"\nexpire-max = \"4s\"\n";

/// Health checks every 500 ms (each probe waits up to 500 ms: the machine
/// running the tests may be loaded), 3 failed checks withdraw.
const HEALTH: &str = "\n[health]\ninterval = \"500ms\"\nrise = 2\nfall = 3\nmaintenance-file = \"maintenance\"\n";

fn zone_text(zone: &str) -> String {
    let mut t = format!("$ORIGIN {zone}.\n$TTL 60\n@ SOA ns1 host 1 1 1 4 60\n@ NS ns1\nns1 A 192.0.2.1\n");
    let _ = writeln!(t, "www A 192.0.2.2");
    t
}

/// The node's health state and reason from `GET /status`.
fn health(n: &MgmtNode) -> (String, String) {
    let s = n.get("/status").json();
    (
        s["health"]["state"].as_str().unwrap_or_default().to_string(),
        s["health"]["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn wait_health(n: &MgmtNode, state: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (now, reason) = health(n);
        if now == state {
            return reason;
        }
        assert!(
            Instant::now() < deadline,
            "{}: health is {now:?} ({reason}), not {state:?} after {WAIT:?}\n{}",
            n.pharos.addr(),
            n.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `pharos_health_transitions_total{to="unhealthy"}` of `n` (a fresh node
/// may pass through unhealthy while its first transfers run).
fn times_unhealthy(n: &MgmtNode) -> f64 {
    let m = parse_metrics(&n.get("/metrics").body, false);
    let transitions = "pharos_health_transitions_total";
    assert!(
        m.iter()
            .any(|(name, labels, _)| name == transitions && labels.iter().any(|(_, v)| v == "unhealthy")),
        "{}: no {transitions}{{to=\"unhealthy\"}} in /metrics",
        n.pharos.addr()
    );
    sample(&m, transitions, &[("to", "unhealthy")])
}

/// `pharos_health_state{state="healthy"}` is 1, and the node did not become
/// unhealthy since it had been `before` times.
fn assert_stayed_healthy(n: &MgmtNode, before: f64) {
    let m = parse_metrics(&n.get("/metrics").body, false);
    let who = n.pharos.addr();
    assert_eq!(sample(&m, "pharos_health_state", &[("state", "healthy")]), 1.0, "{who}");
    assert_eq!(
        times_unhealthy(n),
        before,
        "{who} became unhealthy:\n{}",
        n.pharos.log_tail(30)
    );
}

/// The RCODE and AA bit of `zone` SOA from `n` (None: no answer).
fn answer(n: &MgmtNode, zone: &str) -> Option<(u8, bool)> {
    wire::udp_query(
        n.pharos.addr(),
        zone,
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_millis(500),
    )
    .ok()
    .map(|r| (r.rcode, r.aa()))
}

fn wait_rcode(n: &MgmtNode, zone: &str, want: u8) -> Duration {
    let started = Instant::now();
    while answer(n, zone).map(|a| a.0) != Some(want) {
        assert!(
            started.elapsed() < WAIT,
            "{}: {zone} SOA not answered with rcode {want} within {WAIT:?} (last {:?})\n{}",
            n.pharos.addr(),
            answer(n, zone),
            n.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// The state of every node in the hub's `/zones/{zone}/fleet`, by address.
fn fleet_states(fleet: &Fleet, zone: &str) -> Vec<(String, String)> {
    let r = fleet.hub.get(&format!("/zones/{zone}/fleet"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let mut out: Vec<(String, String)> = v["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes: {v:#}"))
        .iter()
        .map(|n| {
            let s = n["state"].as_str().unwrap_or_default().to_string();
            (n["node"].as_str().unwrap_or_default().to_string(), s)
        })
        .collect();
    out.sort();
    out
}

/// Waits until the hub's fleet view shows `zone` as `state` on the nodes
/// `which` (addresses, sorted).
fn wait_fleet_state(fleet: &Fleet, zone: &str, which: &[String], state: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = fleet_states(fleet, zone);
        if which.iter().all(|a| now.iter().any(|(n, s)| n == a && s == state)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "hub's fleet view of {zone} is {now:?}, not {state} on {which:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `/fleet`'s `failed-zones`: (zone, failed on how many nodes, everywhere).
fn failed_zones(fleet: &Fleet) -> Vec<(String, u64, bool)> {
    let v = fleet.hub.get("/fleet").json();
    v["failed-zones"]
        .as_array()
        .unwrap_or_else(|| panic!("no failed-zones in /fleet: {v:#}"))
        .iter()
        .map(|f| {
            (
                f["zone"].as_str().unwrap_or_default().to_string(),
                f["failed"].as_u64().unwrap_or_default(),
                f["everywhere"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

/// `/fleet`'s entry for `addr`.
fn fleet_node(fleet: &Fleet, addr: &str) -> Value {
    let v = fleet.hub.get("/fleet").json();
    v["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["node"] == addr).cloned())
        .unwrap_or_else(|| panic!("node {addr} not in /fleet: {v:#}"))
}

#[test]
fn customer_outage_fails_its_zones_everywhere_and_a_cut_node_withdraws_alone() {
    require_program("knotd", "knot");
    if !pharos_only("customer_outage") {
        return;
    }
    let mut alpha: Vec<KnotPrimary> = ALPHAS.iter().map(|z| KnotPrimary::start(z, &zone_text(z))).collect();
    let beta = KnotPrimary::start(BETA, &zone_text(BETA));
    let mut zones: Vec<(String, std::net::SocketAddr)> =
        alpha.iter().map(|k| (k.opts.zone.clone(), k.addr())).collect();
    zones.push((BETA.into(), beta.addr()));
    let fleet = Fleet::start(FleetOpts {
        zones,
        zone_toml: TIMERS.into(),
        hub_toml: format!("{HEALTH}\n[fleet]\npoll = \"1s\"\n"),
        node_toml: HEALTH.into(),
        nodes: NODES,
        linked: vec![CUT],
        ..Default::default()
    });
    let link = fleet.link(CUT);
    let addrs: Vec<String> = (0..NODES).map(|i| fleet.dns(i).to_string()).collect();
    let mut sorted = addrs.clone();
    sorted.sort();
    for n in fleet.nodes.iter().chain([&fleet.hub]) {
        for z in ALL {
            wait_rcode(n, z, NOERROR);
        }
        wait_health(n, "healthy");
    }
    for z in ALL {
        wait_fleet_state(&fleet, z, &sorted, "in-sync");
    }
    let unhealthy: Vec<f64> = fleet.nodes.iter().map(times_unhealthy).collect();

    // ---- the customer outage: alpha's primaries stop
    for k in &mut alpha {
        k.stop();
    }
    let stopped = Instant::now();
    for z in ALPHAS {
        let took = wait_rcode(&fleet.hub, z, SERVFAIL);
        eprintln!("{z} expired on the hub {took:?} after its primary stopped");
    }
    for n in &fleet.nodes {
        for z in ALPHAS {
            wait_rcode(n, z, SERVFAIL);
        }
    }
    eprintln!(
        "alpha's zones SERVFAIL on every node {:?} after its primaries stopped",
        stopped.elapsed()
    );
    // Well past fall (3 rounds of 500 ms): every node still healthy,
    // serving beta, though 2 of its 3 zones failed.
    std::thread::sleep(Duration::from_secs(2));
    for n in fleet.nodes.iter().chain([&fleet.hub]) {
        let who = n.pharos.addr();
        assert_eq!(answer(n, BETA), Some((NOERROR, true)), "{who}");
        for z in ALPHAS {
            assert_eq!(answer(n, z), Some((SERVFAIL, false)), "{who}: {z}");
        }
        let status = n.get("/status").json();
        assert_eq!(status["zones"]["expired"], 2, "{who}: {}", status["zones"]);
    }
    for (n, before) in fleet.nodes.iter().zip(&unhealthy) {
        assert_eq!(health(n).0, "healthy", "{}: {:?}", n.pharos.addr(), health(n));
        assert_stayed_healthy(n, *before);
    }
    // The hub, whose alpha primaries are silent, cannot tell alpha's
    // outage from its own loss of the network (2 of 3 zones failed): shown.
    eprintln!("the hub during alpha's outage: {:?}", health(&fleet.hub));
    // The hub shows alpha's zones failed on every node, beta in sync.
    for z in ALPHAS {
        wait_fleet_state(&fleet, z, &sorted, "failed");
    }
    wait_fleet_state(&fleet, BETA, &sorted, "in-sync");
    for a in &addrs {
        let f = fleet_node(&fleet, a);
        assert_eq!(
            (f["failed"].as_u64(), f["in-sync"].as_u64()),
            (Some(2), Some(1)),
            "{f:#}"
        );
        assert_eq!(f["behind"], 0, "{f:#}");
    }
    // ... and lists them as failed on every node: upstream, not a node.
    let want: Vec<(String, u64, bool)> = ["alpha-shop.test.", "alpha.test."]
        .iter()
        .map(|z| (z.to_string(), NODES as u64, true))
        .collect();
    assert_eq!(failed_zones(&fleet), want);
    let m = parse_metrics(&fleet.hub.get("/metrics").body, false);
    assert_eq!(sample(&m, "pharos_fleet_failed_zones", &[("where", "everywhere")]), 2.0);
    assert_eq!(sample(&m, "pharos_fleet_failed_zones", &[("where", "some-nodes")]), 0.0);
    for a in &addrs {
        let failed = [("node", a.as_str()), ("state", "failed")];
        assert_eq!(sample(&m, "pharos_fleet_node_zones", &failed), 2.0, "{a}");
    }
    let page = fleet.hub.get("/").body;
    assert!(page.contains("id=\"fleet-table\""), "{page}");
    assert!(page.contains("id=\"fleet-failed-table\""), "{page}");
    assert!(page.contains("alpha-shop.test."), "{page}");
    assert!(page.contains("every node: upstream"), "{page}");

    // ---- alpha's primaries back: every node serves alpha's zones again
    for k in &mut alpha {
        k.start_again();
    }
    for n in fleet.nodes.iter().chain([&fleet.hub]) {
        for z in ALPHAS {
            wait_rcode(n, z, NOERROR);
        }
    }
    for z in ALPHAS {
        wait_fleet_state(&fleet, z, &sorted, "in-sync");
    }
    wait_health(&fleet.hub, "healthy");

    // ---- node CUT loses the hub: past the expire of its zones it alone
    // withdraws
    link.set_up(false);
    let cut = Instant::now();
    let reason = wait_health(&fleet.nodes[CUT], "unhealthy");
    eprintln!(
        "node {CUT} unhealthy {:?} after it lost the hub: {reason}",
        cut.elapsed()
    );
    assert!(reason.contains("cut off"), "{reason}");
    for z in ALL {
        assert_eq!(answer(&fleet.nodes[CUT], z).map(|a| a.0), Some(SERVFAIL), "{z}");
    }
    for (i, n) in fleet.nodes.iter().enumerate().filter(|(i, _)| *i != CUT) {
        for z in ALL {
            assert_eq!(answer(n, z), Some((NOERROR, true)), "node {i}: {z}");
        }
        assert_stayed_healthy(n, unhealthy[i]);
    }
    assert_eq!(health(&fleet.hub).0, "healthy");
    // The hub shows node CUT failed for every zone, the others in sync.
    let others: Vec<String> = sorted.iter().filter(|a| **a != addrs[CUT]).cloned().collect();
    for z in ALL {
        wait_fleet_state(&fleet, z, std::slice::from_ref(&addrs[CUT]), "failed");
        wait_fleet_state(&fleet, z, &others, "in-sync");
    }
    let f = fleet_node(&fleet, &addrs[CUT]);
    assert_eq!((f["failed"].as_u64(), f["zones"].as_u64()), (Some(3), Some(3)), "{f:#}");
    let want: Vec<(String, u64, bool)> = ["alpha-shop.test.", "alpha.test.", "beta.test."]
        .iter()
        .map(|z| (z.to_string(), 1, false))
        .collect();
    assert_eq!(failed_zones(&fleet), want);
    assert!(fleet.hub.get("/").body.contains("some nodes: look at those nodes"));
    let m = parse_metrics(&fleet.hub.get("/metrics").body, false);
    assert_eq!(sample(&m, "pharos_fleet_failed_zones", &[("where", "everywhere")]), 0.0);
    assert_eq!(sample(&m, "pharos_fleet_failed_zones", &[("where", "some-nodes")]), 3.0);

    // ---- the link back: node CUT healthy again
    link.set_up(true);
    wait_health(&fleet.nodes[CUT], "healthy");
    for z in ALL {
        wait_rcode(&fleet.nodes[CUT], z, NOERROR);
    }
}

/// The harness itself: `{NODES}` and `{HUB}` in the extra TOML (a file
/// zone of the hub's own, notified to the nodes), and a node restarted.
#[test]
fn fleet_harness_placeholders_and_restart() {
    if !pharos_only("fleet_harness_placeholders_and_restart") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("own.test.zone");
    let own = |serial: u32| {
        format!("$ORIGIN own.test.\n$TTL 60\n@ SOA ns1 host {serial} 3600 60 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n")
    };
    std::fs::write(&file, own(1)).expect("zone file");
    let mut fleet = Fleet::start(FleetOpts {
        hub_toml: format!(
            "[[zone]]\nname = \"own.test\"\nfile = {}\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{{NODES}}]\n\
             notify-source = \"127.0.0.1\"\n",
            common::toml_str(&file.to_string_lossy())
        ),
        node_toml: "[[zone]]\nname = \"own.test\"\nprimaries = [{HUB}]\n".into(),
        nodes: 2,
        ..Default::default()
    });
    for n in &fleet.nodes {
        wait_rcode(n, "own.test", NOERROR);
    }
    // A new serial on the hub reaches both nodes by NOTIFY (refresh is an hour).
    std::fs::write(&file, own(2)).expect("zone file");
    let f = std::fs::File::options().write(true).open(&file).expect("zone file");
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .expect("mtime");
    fleet.hub.pharos.signal(libc::SIGHUP);
    let serial = |n: &MgmtNode| {
        wire::udp_query(
            n.pharos.addr(),
            "own.test",
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Duration::from_millis(500),
        )
        .ok()
        .and_then(|r| common::soa_serial(&r))
    };
    for n in &fleet.nodes {
        common::wait_until(&n.pharos, WAIT, "serial 2 on the node", || serial(n) == Some(2));
    }
    let r = fleet.hub.get("/zones/own.test/fleet?serial=2&wait=10s");
    assert_eq!(r.status, 200, "{}", r.body);
    // A node stopped and restarted serves from its disk.
    fleet.stop_node(1);
    assert!(answer(&fleet.nodes[1], "own.test").is_none());
    fleet.restart_node(1, false);
    wait_rcode(&fleet.nodes[1], "own.test", NOERROR);
    assert_eq!(serial(&fleet.nodes[1]), Some(2));
    assert_eq!(fleet.url(0), fleet.nodes[0].url());
    assert_eq!(fleet.token(), common::TOKEN);
}
