//! Health decides on the node, not on one customer's zone (issue 10, item
//! 4), against the real `pharos` binary and real Knot DNS primaries:
//!
//! - 10,000 file zones, one of them broken: the node becomes healthy, the
//!   broken zone answers SERVFAIL, and `/status`, `/zones/{name}` and
//!   `/metrics` say why;
//! - a secondary zone whose primary is down from the start: a fresh node
//!   does not wait for it forever once its first attempt failed;
//! - two secondary zones from two Knot primaries beside a file zone: one
//!   primary stopped past expire, the node stays healthy while that zone
//!   answers SERVFAIL and is reported expired; both stopped (2 of 3 zones
//!   failed, more than `max-failed-zones` 50 %): cut off, unhealthy;
//!   primaries back: healthy;
//! - `health.critical-zones` naming the zone: its expiry withdraws.
//!
//! The health state is read from `GET /status` (the BGP side of the same
//! verdict is tested in tests/bgp_health.rs). Needs knotd/knotc (Debian
//! package `knot`).

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{KnotPrimary, MgmtNode, PharosOpts, Zone, parse_metrics, require_program, sample, toml_str, wire};

const RCODE_NOERROR: u8 = 0;
const RCODE_SERVFAIL: u8 = 2;

fn pharos_only() -> bool {
    let against_knot = std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot");
    if against_knot {
        eprintln!("skipped: health tests run against pharos only (PHAROS_TEST_AGAINST=knot is set)");
    }
    !against_knot
}

fn require_knot() {
    require_program("knotd", "knot");
    require_program("knotc", "knot");
}

/// `[health]` with a 100 ms interval and `extra` keys.
fn health_toml(extra: &str) -> String {
    format!("\n[health]\ninterval = \"100ms\"\nrise = 2\nfall = 2\nmaintenance-file = \"maintenance\"\n{extra}\n")
}

/// The node's health (state, reason) from `GET /status`.
fn health(node: &MgmtNode) -> (String, String) {
    let s = node.get("/status").json();
    (
        s["health"]["state"].as_str().unwrap_or_default().to_string(),
        s["health"]["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// Polls `/status` until the health state is `state`; returns its reason.
fn wait_health(node: &MgmtNode, state: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let (now, reason) = health(node);
        if now == state {
            return reason;
        }
        assert!(
            Instant::now() < deadline,
            "health is {now:?} ({reason}), not {state:?}, after {timeout:?}\n{}",
            node.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The RCODE pharos answers for `name` SOA (None: no answer).
fn rcode(node: &MgmtNode, name: &str) -> Option<u8> {
    wire::udp_query(
        node.pharos.addr(),
        name,
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_millis(500),
    )
    .ok()
    .map(|r| r.rcode)
}

fn wait_rcode(node: &MgmtNode, name: &str, want: u8, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while rcode(node, name) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "{name} SOA not answered with rcode {want} within {timeout:?} (last {:?})\n{}",
            rcode(node, name),
            node.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts the health stays `state` for `span` (polled every 100 ms).
fn stays(node: &MgmtNode, state: &str, span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        let (now, reason) = health(node);
        assert_eq!(
            now,
            state,
            "health left {state:?}: {reason}\n{}",
            node.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `failed-zones` entry of `/status` for `name`.
fn failed_entry(status: &serde_json::Value, name: &str) -> Option<serde_json::Value> {
    status["zones"]["failed-zones"]
        .as_array()?
        .iter()
        .find(|z| z["name"] == name)
        .cloned()
}

// ------------------------------------------------------------- file zones

/// (a) 10,000 file zones, one broken: healthy; the broken zone answers
/// SERVFAIL (not REFUSED) and is reported with its file and line.
#[test]
fn ten_thousand_file_zones_with_one_broken_stay_healthy() {
    if !pharos_only() {
        return;
    }
    const ZONES: usize = 10_000;
    const BROKEN: usize = 4321;
    let dir = tempfile::Builder::new().prefix("pharos-zones.").tempdir().unwrap();
    let mut toml = String::with_capacity(ZONES * 90);
    for i in 0..ZONES {
        let name = format!("z{i}.test");
        let path = dir.path().join(format!("{name}.zone"));
        let mut text = format!("$ORIGIN {name}.\n$TTL 300\n@ SOA ns1 host {i} 3600 600 86400 300\n@ NS ns1\n");
        if i == BROKEN {
            text.push_str("ns1 A not-an-address\n");
        } else {
            text.push_str("ns1 A 192.0.2.1\n");
        }
        std::fs::write(&path, text).unwrap();
        let _ = write!(
            toml,
            "[[zone]]\nname = {}\nfile = {}\n\n",
            toml_str(&name),
            toml_str(&path.to_string_lossy())
        );
    }
    toml.push_str(&health_toml(""));
    let broken = format!("z{BROKEN}.test");
    let node = MgmtNode::start(PharosOpts {
        extra_toml: toml,
        ready_zone: Some("z0.test".into()),
        ipv6: false,
        ..Default::default()
    });

    let reason = wait_health(&node, "healthy", Duration::from_secs(30));
    eprintln!("healthy: {reason}");
    assert_eq!(rcode(&node, &broken), Some(RCODE_SERVFAIL), "the broken zone");
    assert_eq!(rcode(&node, "z4320.test"), Some(RCODE_NOERROR));
    assert_eq!(rcode(&node, "z9999.test"), Some(RCODE_NOERROR));

    let status = node.get("/status").json();
    let zones = &status["zones"];
    assert_eq!(zones["total"], ZONES, "{zones}");
    assert_eq!(zones["ok"], ZONES - 1, "{zones}");
    assert_eq!(zones["failed"], 1, "{zones}");
    let entry = failed_entry(&status, &broken).unwrap_or_else(|| panic!("{broken} not in /status: {zones}"));
    assert_eq!(entry["state"], "failed");
    let why = entry["error"].as_str().unwrap_or_default();
    let file = format!("{broken}.zone:5:");
    assert!(why.contains(&file), "/status says {why:?}, not naming {file}");

    let z = node.get(&format!("/zones/{broken}")).json();
    assert_eq!(z["state"], "failed", "{z}");
    assert_eq!(z["kind"], "file", "{z}");
    assert!(z["last-error"].as_str().is_some_and(|e| e.contains(&file)), "{z}");

    let m = node.get("/metrics");
    let samples = parse_metrics(&m.body, false);
    assert_eq!(sample(&samples, "pharos_zones_failed", &[]), 1.0);
    assert_eq!(sample(&samples, "pharos_zone_failed", &[("zone", &broken)]), 1.0);
    assert_eq!(sample(&samples, "pharos_zone_failed", &[("zone", "z0.test")]), 0.0);
    assert_eq!(sample(&samples, "pharos_zones", &[("state", "failed")]), 1.0);

    // The status page shows it too.
    let page = node.get("/").body;
    assert!(page.contains(&broken) && page.contains("1 failed"), "status page");
}

/// A secondary zone whose only primary is down from the start: once its
/// first SOA query failed it is a failed zone, not a pending one, and no
/// longer keeps a fresh node withdrawn (1 of 2 zones failed).
#[test]
fn a_secondary_whose_first_attempt_failed_does_not_hold_a_fresh_node_back() {
    if !pharos_only() {
        return;
    }
    let closed = common::free_port(false);
    let mut toml = format!("[[zone]]\nname = \"dead.test\"\nprimaries = [\"127.0.0.1:{closed}\"]\n");
    toml.push_str(&health_toml(""));
    let node = MgmtNode::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        extra_toml: toml,
        ipv6: false,
        ..Default::default()
    });
    wait_health(&node, "healthy", Duration::from_secs(15));
    assert_eq!(rcode(&node, "dead.test"), Some(RCODE_SERVFAIL));
    let z = node.get("/zones/dead.test").json();
    assert_eq!(z["state"], "failed", "{z}");
    assert!(
        z["last-error"]
            .as_str()
            .is_some_and(|e| e.contains(&closed.to_string())),
        "{z}"
    );
}

/// A file zone that did not load, its file fixed, SIGHUP: served, and no
/// longer reported.
#[test]
fn a_broken_file_zone_fixed_and_reloaded_is_served() {
    if !pharos_only() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pharos-zones.").tempdir().unwrap();
    let path = dir.path().join("fix.test.zone");
    let good = "$ORIGIN fix.test.\n$TTL 300\n@ SOA ns1 host 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n";
    std::fs::write(&path, good.replace("192.0.2.1", "192.0.2.999")).unwrap();
    let node = MgmtNode::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        extra_toml: format!(
            "[[zone]]\nname = \"fix.test\"\nfile = {}\n",
            toml_str(&path.to_string_lossy())
        ),
        ipv6: false,
        ..Default::default()
    });
    assert_eq!(rcode(&node, "fix.test"), Some(RCODE_SERVFAIL));
    let z = node.get("/zones/fix.test").json();
    assert_eq!(z["state"], "failed", "{z}");
    assert!(
        z["last-error"].as_str().is_some_and(|e| e.contains("fix.test.zone:5:")),
        "{z}"
    );

    // Keep the mtime moving forward even on a coarse-grained filesystem.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, good).unwrap();
    node.pharos.signal(libc::SIGHUP);
    wait_rcode(&node, "fix.test", RCODE_NOERROR, Duration::from_secs(5));
    let z = node.get("/zones/fix.test").json();
    assert_eq!(z["state"], "ok", "{z}");
    assert!(z["last-error"].is_null(), "{z}");
}

// -------------------------------------------------------- secondary zones

/// A secondary zone's text: SOA expire 1 h (the pharos clamps decide).
fn sec_zone_text(zone: &str) -> String {
    format!("$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host 1 3600 600 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n")
}

/// Refresh and retry every second, expire 2..3 s after the last success.
const FAST_TIMERS: &str = "refresh-min = \"1s\"\nrefresh-max = \"1s\"\nretry-min = \"1s\"\nretry-max = \"1s\"\n\
                           expire-min = \"2s\"\nexpire-max = \"3s\"\n";

/// pharos with example.com from its file, `one.test` from `one` and
/// `two.test` from `two`, and the `[health]` keys `health`; waits until
/// both secondary zones answer.
fn start_two_secondaries(one: &KnotPrimary, two: &KnotPrimary, health: &str) -> MgmtNode {
    let mut toml = String::new();
    for (name, knot) in [("one.test", one), ("two.test", two)] {
        let _ = write!(
            toml,
            "[[zone]]\nname = {}\nprimaries = [{}]\n{FAST_TIMERS}\n",
            toml_str(name),
            toml_str(&knot.addr_str())
        );
    }
    toml.push_str(&health_toml(health));
    let node = MgmtNode::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        extra_toml: toml,
        ready_zone: Some("one.test".into()),
        ipv6: false,
        ..Default::default()
    });
    wait_rcode(&node, "two.test", RCODE_NOERROR, Duration::from_secs(10));
    node
}

/// (b) one primary stopped past expire: healthy, that zone SERVFAILs and is
/// reported expired, the others answer. (d) the other primary stopped too:
/// 2 of 3 zones failed, more than 50 %: cut off. Primaries back: healthy.
#[test]
fn one_expired_secondary_stays_healthy_but_most_zones_failed_is_cut_off() {
    require_knot();
    if !pharos_only() {
        return;
    }
    let mut one = KnotPrimary::start("one.test", &sec_zone_text("one.test"));
    let mut two = KnotPrimary::start("two.test", &sec_zone_text("two.test"));
    let node = start_two_secondaries(&one, &two, "");
    wait_health(&node, "healthy", Duration::from_secs(10));

    two.stop();
    let stopped = Instant::now();
    wait_rcode(&node, "two.test", RCODE_SERVFAIL, Duration::from_secs(8));
    eprintln!("two.test expired {:?} after its primary stopped", stopped.elapsed());
    // Well past fall (2 rounds of 100 ms): still healthy.
    stays(&node, "healthy", Duration::from_secs(1));
    assert_eq!(rcode(&node, "one.test"), Some(RCODE_NOERROR));
    assert_eq!(rcode(&node, "example.com"), Some(RCODE_NOERROR));
    let status = node.get("/status").json();
    assert_eq!(status["zones"]["expired"], 1, "{}", status["zones"]);
    let entry = failed_entry(&status, "two.test").unwrap_or_else(|| panic!("{}", status["zones"]));
    assert_eq!(entry["state"], "expired");
    let why = entry["error"].as_str().unwrap_or_default();
    assert!(
        why.contains(&two.addr_str()),
        "/status says {why:?}, not naming the primary"
    );
    let z = node.get("/zones/two.test").json();
    assert_eq!(
        (z["state"].as_str(), z["expired"].as_bool()),
        (Some("expired"), Some(true)),
        "{z}"
    );
    let list = node.get("/zones").json();
    let states: Vec<(String, String)> = list["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| (z["name"].as_str().unwrap().into(), z["state"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        states,
        [
            ("example.com".to_string(), "ok".to_string()),
            ("one.test".into(), "ok".into()),
            ("two.test".into(), "expired".into())
        ]
    );
    assert!(
        !node.pharos.log().contains("health: unhealthy"),
        "{}",
        node.pharos.log_tail(30)
    );

    // The node is cut off from its primaries: withdraw.
    one.stop();
    let reason = wait_health(&node, "unhealthy", Duration::from_secs(8));
    assert!(
        reason.starts_with("2 of 3 zones failed (max-failed-zones 50%): cut off"),
        "{reason}"
    );
    assert_eq!(rcode(&node, "example.com"), Some(RCODE_NOERROR));

    one.start_again();
    two.start_again();
    wait_health(&node, "healthy", Duration::from_secs(10));
    wait_rcode(&node, "one.test", RCODE_NOERROR, Duration::from_secs(10));
    wait_rcode(&node, "two.test", RCODE_NOERROR, Duration::from_secs(10));
    let status = node.get("/status").json();
    assert_eq!(status["zones"]["ok"], 3, "{}", status["zones"]);
}

/// (c) `health.critical-zones` names two.test: its expiry withdraws.
#[test]
fn an_expired_critical_zone_withdraws() {
    require_knot();
    if !pharos_only() {
        return;
    }
    let one = KnotPrimary::start("one.test", &sec_zone_text("one.test"));
    let mut two = KnotPrimary::start("two.test", &sec_zone_text("two.test"));
    let node = start_two_secondaries(&one, &two, "critical-zones = [\"two.test\"]");
    wait_health(&node, "healthy", Duration::from_secs(10));
    two.stop();
    let reason = wait_health(&node, "unhealthy", Duration::from_secs(8));
    assert!(reason.starts_with("critical zone two.test expired"), "{reason}");
    assert_eq!(rcode(&node, "one.test"), Some(RCODE_NOERROR));
    two.start_again();
    wait_health(&node, "healthy", Duration::from_secs(10));
}
