//! Primaries that try to hurt a secondary: the real `pharos` binary as the
//! secondary of scripted primaries (tests/common/primary.rs) that send an
//! endless AXFR, a zone past the bounds, a transfer trickling one message
//! every 4 s, a serial older than ours, or a transfer older than their own
//! SOA; and sixteen slow primaries against one healthy zone.
//!
//! What is checked: every bound (`max-zone-records`, `max-zone-bytes`,
//! `transfer-timeout`) aborts the transfer, counts it in `/metrics`, names
//! the primary in the log, and keeps the version served, with the memory of
//! the process bounded; slow primaries do not hold every transfer slot; a
//! primary behind us is no confirmation (the zone expires) and is logged
//! once; a primary contradicting itself is backed off.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{
    MgmtNode, Misbehave, Pharos, PharosOpts, Sample, ScriptedPrimary, parse_metrics, pharos_only, sample, send_notify,
    soa_serial, toml_str, wait_until, wire,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn secondary_toml(zone: &str, primary: &str, extra: &str) -> String {
    format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\n{extra}\n",
        toml_str(zone),
        toml_str(primary)
    )
}

fn start(toml: String, ready: Option<&str>) -> MgmtNode {
    MgmtNode::start(PharosOpts {
        extra_toml: toml,
        ready_zone: ready.map(str::to_string),
        ipv6: false,
        ..Default::default()
    })
}

/// (rcode, serial) of the zone's SOA at pharos.
fn soa(p: &Pharos, zone: &str) -> (u8, Option<u32>) {
    match p.query(zone, wire::TYPE_SOA) {
        Ok(r) => (r.rcode, soa_serial(&r)),
        Err(e) => panic!("pharos does not answer {zone} SOA: {e}\n{}", p.log_tail(20)),
    }
}

fn metrics(node: &MgmtNode) -> Vec<Sample> {
    let r = node.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    parse_metrics(&r.body, false)
}

fn aborted(node: &MgmtNode, bound: &str) -> f64 {
    sample(&metrics(node), "pharos_xfr_aborted_total", &[("bound", bound)])
}

/// Peak resident memory of the process (VmHWM), in MiB.
fn peak_rss_mib(p: &Pharos) -> f64 {
    let pid = p.pid().expect("pharos runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

fn notify(p: &Pharos, zone: &str) {
    let r = send_notify(LOCALHOST, p.addr(), zone, Duration::from_secs(2)).expect("NOTIFY answered");
    assert_eq!(r.rcode, 0, "NOTIFY refused");
}

/// An AXFR past a bound is aborted, counted and logged with the primary;
/// the version held stays served and the process stays small.
fn bound_aborts(how: Misbehave, bounds: &str, bound: &str, within: Duration) {
    let zone = "hostile.test";
    let primary = ScriptedPrimary::start(zone, 1, 20);
    let mut node = start(secondary_toml(zone, &primary.addr_str(), bounds), Some(zone));
    assert_eq!(soa(&node.pharos, zone), (0, Some(1)));
    let base_rss = peak_rss_mib(&node.pharos);

    // Serial 2 is bad: an endless stream, a trickle, or too large a zone.
    primary.set_serial(2);
    primary.set_axfr(how);
    let started = Instant::now();
    let from = node.pharos.log().len();
    notify(&node.pharos, zone);
    let took = wait_until(&node.pharos, within, &format!("{how:?}: {bound} abort"), || {
        aborted(&node, bound) >= 1.0
    });
    let log = node.pharos.log();
    let line = log[from..]
        .lines()
        .find(|l| l.contains("transfer rejected") && l.contains(bound))
        .unwrap_or_else(|| {
            panic!(
                "{how:?}: no `transfer rejected ... {bound}` line\n{}",
                node.pharos.log_tail(20)
            )
        });
    assert!(line.contains(&primary.addr_str()), "the line names the primary: {line}");
    assert!(node.pharos.is_running(), "pharos died\n{}", node.pharos.log_tail(30));
    assert_eq!(
        soa(&node.pharos, zone),
        (0, Some(1)),
        "{how:?}: version 1 must stay served"
    );
    let peak = peak_rss_mib(&node.pharos);
    eprintln!(
        "{how:?}: aborted at {bound} after {:.1} s; peak RSS {peak:.1} MiB (before: {base_rss:.1} MiB)",
        took.as_secs_f64()
    );
    assert!(peak < 300.0, "{how:?}: peak RSS {peak:.1} MiB");
    let z = node.get(&format!("/zones/{zone}")).json();
    assert!(
        z["last-error"].as_str().is_some_and(|e| e.contains(bound)),
        "/zones/{zone} should show the abort: {z}"
    );
    assert!(started.elapsed() < within + Duration::from_secs(5));
    node.pharos.stop();
}

#[test]
fn endless_axfr_is_aborted_at_max_zone_records() {
    if !pharos_only("endless_axfr_is_aborted_at_max_zone_records") {
        return;
    }
    bound_aborts(Misbehave::Endless, "", "max-zone-records", Duration::from_secs(60));
}

#[test]
fn endless_axfr_is_aborted_at_max_zone_bytes() {
    if !pharos_only("endless_axfr_is_aborted_at_max_zone_bytes") {
        return;
    }
    bound_aborts(
        Misbehave::Endless,
        "max-zone-bytes = \"4MiB\"",
        "max-zone-bytes",
        Duration::from_secs(60),
    );
}

#[test]
fn trickling_axfr_is_aborted_at_transfer_timeout() {
    if !pharos_only("trickling_axfr_is_aborted_at_transfer_timeout") {
        return;
    }
    bound_aborts(
        Misbehave::Trickle,
        "transfer-timeout = \"6s\"",
        "transfer-timeout",
        Duration::from_secs(20),
    );
}

#[test]
fn a_zone_over_max_zone_records_is_never_served_half() {
    if !pharos_only("a_zone_over_max_zone_records_is_never_served_half") {
        return;
    }
    let zone = "toobig.test";
    let primary = ScriptedPrimary::start(zone, 1, 3000);
    let node = start(
        secondary_toml(zone, &primary.addr_str(), "max-zone-records = 1000"),
        None,
    );
    wait_until(
        &node.pharos,
        Duration::from_secs(10),
        "abort at max-zone-records",
        || aborted(&node, "max-zone-records") >= 1.0,
    );
    assert_eq!(soa(&node.pharos, zone).0, 2, "a zone never loaded answers SERVFAIL");
}

/// Sixteen primaries that trickle their transfers must not keep a zone
/// added next from its first transfer: one primary address never holds the
/// last 4 of the 16 transfer slots.
#[test]
fn slow_primaries_do_not_starve_a_healthy_zone() {
    if !pharos_only("slow_primaries_do_not_starve_a_healthy_zone") {
        return;
    }
    let slow: Vec<ScriptedPrimary> = (0..16)
        .map(|i| {
            let p = ScriptedPrimary::start_on([127, 0, 0, 2].into(), &format!("slow{i}.test"), 1, 10);
            p.set_axfr(Misbehave::Trickle);
            p
        })
        .collect();
    let healthy = ScriptedPrimary::start_on([127, 0, 0, 3].into(), "healthy.test", 7, 10);
    let mut toml = String::new();
    for p in &slow {
        toml.push_str(&secondary_toml(&p.zone, &p.addr_str(), ""));
    }
    let node = start(toml, None);
    let transferring = || {
        slow.iter()
            .filter(|p| p.requests().iter().any(|r| r.starts_with("tcp AXFR")))
            .count()
    };
    // The slow transfers have taken what they can get.
    wait_until(&node.pharos, Duration::from_secs(10), "slow transfers started", || {
        transferring() >= 12
    });
    std::thread::sleep(Duration::from_secs(1));
    let body = format!(
        r#"{{"name": "healthy.test", "primaries": [{}]}}"#,
        serde_json::to_string(&healthy.addr_str()).unwrap()
    );
    let added = Instant::now();
    let r = node.call("POST", "/zones", Some(&body));
    assert!(r.status < 300, "POST /zones: {} {}", r.status, r.body);
    wait_until(&node.pharos, Duration::from_secs(30), "healthy.test served", || {
        soa(&node.pharos, "healthy.test") == (0, Some(7))
    });
    let waited = added.elapsed();
    eprintln!(
        "healthy.test served {:.2} s after it was added, while 16 slow primaries trickle",
        waited.as_secs_f64()
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // The slow ones are still at it; one address never holds the last 4
    // of the 16 slots.
    let n = transferring();
    assert!(
        n <= 12,
        "{n} slow primaries on one address got a transfer slot (at most 16 - 4)"
    );
    drop(node);
}

/// A primary whose serial is older than ours does not confirm our version:
/// logged once, counted, `last-success` stays, and the zone expires.
#[test]
fn a_primary_behind_us_is_no_confirmation() {
    if !pharos_only("a_primary_behind_us_is_no_confirmation") {
        return;
    }
    let zone = "behind.test";
    let primary = ScriptedPrimary::start(zone, 10, 5);
    // Refresh every 2 s; expire 12 s after the last confirmation.
    let node = start(
        secondary_toml(zone, &primary.addr_str(), "refresh-max = \"2s\"\nexpire-max = \"12s\""),
        Some(zone),
    );
    assert_eq!(soa(&node.pharos, zone), (0, Some(10)));
    let z = node.get(&format!("/zones/{zone}")).json();
    let success = z["last-success"].as_u64().expect("last-success");
    primary.set_serial(5);
    let restored = Instant::now();
    wait_until(
        &node.pharos,
        Duration::from_secs(10),
        "older serial counted twice",
        || sample(&metrics(&node), "pharos_xfr_primary_serial_older_total", &[]) >= 2.0,
    );
    let z = node.get(&format!("/zones/{zone}")).json();
    assert_eq!(z["last-success"].as_u64(), Some(success), "last-success advanced: {z}");
    assert!(
        z["last-error"].as_str().is_some_and(|e| e.contains("older")),
        "/zones shows why: {z}"
    );
    // Expires (SERVFAIL) once 12 s passed without a confirmation.
    wait_until(&node.pharos, Duration::from_secs(20), "expiry", || {
        soa(&node.pharos, zone).0 == 2
    });
    eprintln!(
        "expired {:.1} s after the primary went back",
        restored.elapsed().as_secs_f64()
    );
    let lines = node
        .pharos
        .log()
        .lines()
        .filter(|l| l.contains("older serial than ours"))
        .count();
    assert_eq!(
        lines,
        1,
        "logged once, not on every check\n{}",
        node.pharos.log_tail(30)
    );
    // The primary has it again: served again.
    primary.set_serial(11);
    wait_until(&node.pharos, Duration::from_secs(10), "serial 11", || {
        soa(&node.pharos, zone) == (0, Some(11))
    });
}

/// A primary whose SOA announces a serial its AXFR does not deliver is
/// asked again with backoff, not every retry interval forever.
#[test]
fn a_primary_contradicting_itself_is_backed_off() {
    if !pharos_only("a_primary_contradicting_itself_is_backed_off") {
        return;
    }
    let zone = "stale.test";
    let primary = ScriptedPrimary::start(zone, 10, 5);
    let node = start(secondary_toml(zone, &primary.addr_str(), ""), Some(zone));
    primary.set_axfr(Misbehave::Stale);
    primary.set_serial(11);
    let requests_before = primary.requests().len();
    notify(&node.pharos, zone);
    std::thread::sleep(Duration::from_secs(25));
    let axfrs = primary.requests()[requests_before..]
        .iter()
        .filter(|r| r.starts_with("tcp AXFR"))
        .count();
    // The SOA retry is 2 s: without backoff about 12 in 25 s; with it
    // 2 + 4 + 8 + ... about 4.
    eprintln!("{axfrs} AXFRs in 25 s");
    assert!((1..=5).contains(&axfrs), "{axfrs} AXFRs in 25 s: not backed off");
    assert_eq!(soa(&node.pharos, zone), (0, Some(10)));
    let count = sample(&metrics(&node), "pharos_xfr_primary_stale_transfer_total", &[]);
    assert!(count >= 1.0, "counted: {count}");
    let lines = node
        .pharos
        .log()
        .lines()
        .filter(|l| l.contains("newer than its transfer"))
        .count();
    assert_eq!(lines, 1, "logged once\n{}", node.pharos.log_tail(30));
}

/// A primary without IXFR that answers one with only its newer SOA (as
/// PowerDNS does): said once at INFO, then AXFR straight away for every
/// later change, with no "transfer rejected" warnings.
#[test]
fn a_primary_without_ixfr_gets_axfr_requests() {
    if !pharos_only("a_primary_without_ixfr_gets_axfr_requests") {
        return;
    }
    let zone = "noixfr.test";
    let primary = ScriptedPrimary::start(zone, 1, 5);
    primary.set_ixfr_soa_only(true);
    let node = start(secondary_toml(zone, &primary.addr_str(), ""), Some(zone));
    for serial in 2..=4 {
        primary.set_serial(serial);
        notify(&node.pharos, zone);
        wait_until(
            &node.pharos,
            Duration::from_secs(10),
            &format!("serial {serial}"),
            || soa(&node.pharos, zone) == (0, Some(serial)),
        );
    }
    let tcp: Vec<String> = primary
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("tcp IXFR") || r.starts_with("tcp AXFR"))
        .collect();
    let ixfrs = tcp.iter().filter(|r| r.starts_with("tcp IXFR")).count();
    assert_eq!(ixfrs, 1, "IXFR asked once, then AXFR only: {tcp:?}");
    let log = node.pharos.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("has no IXFR")).count(),
        1,
        "said once\n{}",
        node.pharos.log_tail(20)
    );
    assert!(
        !log.lines().any(|l| l.contains("transfer rejected")),
        "no warning for a primary without IXFR\n{}",
        node.pharos.log_tail(20)
    );
    assert!(
        log.lines().any(|l| l.contains("has no IXFR") && l.contains("INFO")),
        "at INFO"
    );
}
