//! Health end to end, against the real `pharos` binary: the health verdict
//! is read from its log (`health: <state> reason=...`), since the BGP side
//! (routes at a real peer) is tested with the speaker.
//!
//! What is checked: a node with good zones becomes healthy; a critical
//! secondary zone (`health.critical-zones`) past its expire makes it
//! unhealthy, naming the zone, and healthy again when its primary (Knot
//! DNS) is back (a zone that is not critical does not: see
//! tests/zone_failures.rs); the maintenance file drains
//! (draining, then drained) while DNS keeps answering, and removing it
//! brings the node back; SIGTERM/SIGINT publish `stopping`, wait the drain
//! only when BGP has something to drain, and exit 0; a probe that fails
//! keeps the node from ever being healthy; a probe that flaps faster than
//! rise/fall does not flap the state.
//!
//! Short intervals (100 ms) keep the file at about half a minute. The
//! secondary-zone cases need knotd/knotc (Debian package `knot`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{KnotPrimary, Pharos, PharosOpts, Zone, require_program, toml_str, wire};

const RCODE_NOERROR: u8 = 0;
const SEC: &str = "sec.test";

// ---------------------------------------------------------------- helpers

/// The health tests drive pharos' own health checks; the Knot stand-in of
/// the harness (`PHAROS_TEST_AGAINST=knot`) has none, so they skip.
fn pharos_only() -> bool {
    let against_knot = std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot");
    if against_knot {
        eprintln!("skipped: health tests run against pharos only (PHAROS_TEST_AGAINST=knot is set)");
    }
    !against_knot
}

fn example_zone() -> Zone {
    Zone::new("example.com", Path::new("zones/example.com.zone"))
}

/// A `[health]` table: interval 100 ms, the maintenance file `maintenance`
/// beside the config, and `extra` keys.
fn health_toml(extra: &str) -> String {
    format!("[health]\ninterval = \"100ms\"\nmaintenance-file = \"maintenance\"\n{extra}\n")
}

/// pharos serving example.com from its file, with `toml` appended.
fn start_with_file_zone(toml: &str) -> Pharos {
    Pharos::start(PharosOpts {
        zones: vec![example_zone()],
        extra_toml: toml.to_string(),
        ..Default::default()
    })
}

/// Polls (every 5 ms) for a log line after byte `from` that contains every
/// one of `parts`; returns the line and where the log ended when it was
/// found. Panics with the log after `timeout`.
fn wait_log(p: &Pharos, from: usize, timeout: Duration, parts: &[&str]) -> (String, usize) {
    let deadline = Instant::now() + timeout;
    loop {
        let log = p.log();
        let found = log
            .get(from..)
            .unwrap_or("")
            .lines()
            .find(|l| parts.iter().all(|x| l.contains(x)));
        if let Some(line) = found {
            return (line.to_string(), log.len());
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {parts:?} within {timeout:?}\n--- log\n{}",
            p.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Log lines after byte `from` that contain `needle`.
fn lines_with(p: &Pharos, from: usize, needle: &str) -> Vec<String> {
    p.log()
        .get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Asks `name` A on 127.0.0.1; the RCODE and whether an answer came.
fn rcode_of(p: &Pharos, name: &str, qtype: u16) -> Option<(u8, usize)> {
    let r = wire::udp_query(p.addr(), name, qtype, wire::CLASS_IN, Duration::from_millis(300)).ok()?;
    Some((r.rcode, r.answers.len()))
}

/// Asserts the node answers example.com SOA authoritatively.
fn assert_answers(p: &Pharos, what: &str) {
    let r = p
        .query("example.com", wire::TYPE_SOA)
        .unwrap_or_else(|e| panic!("{what}: no answer to example.com SOA: {e}\n{}", p.log_tail(20)));
    assert!(
        r.rcode == RCODE_NOERROR && r.aa() && !r.answers.is_empty(),
        "{what}: example.com SOA answered {r}"
    );
}

// ------------------------------------------------------------------ tests

#[test]
fn starts_healthy() {
    if !pharos_only() {
        return;
    }
    let p = start_with_file_zone(&health_toml("rise = 3\nfall = 2"));
    let (line, _) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);
    assert!(line.contains("from=starting"), "{line}");
    assert!(line.contains("bgp=announce"), "{line}");
    assert!(line.contains("reason=all checks pass (3 checks in a row)"), "{line}");
    let log = p.log();
    assert!(!log.contains("health: unhealthy"), "{log}");
    assert!(log.contains("health: checks started"), "{log}");
}

#[test]
fn failing_probe_is_never_healthy() {
    if !pharos_only() {
        return;
    }
    // The node serves example.com but is told to probe a zone it does not
    // serve: REFUSED every time.
    let p = start_with_file_zone(&health_toml("rise = 2\nfall = 2\nprobe = \"nothere.test SOA\""));
    let (line, _) = wait_log(&p, 0, Duration::from_secs(5), &["health: unhealthy"]);
    let probe = format!("reason=probe nothere.test SOA via 127.0.0.1:{}: REFUSED", p.port);
    assert!(line.contains(&probe), "expected {probe:?} in {line}");
    assert!(line.contains("from=starting"), "{line}");
    // 15 more rounds: never healthy, while DNS itself answers.
    std::thread::sleep(Duration::from_millis(1500));
    assert_answers(&p, "probe failing");
    let log = p.log();
    assert!(!log.contains("health: healthy"), "{log}");
}

#[test]
fn maintenance_file_drains_then_withdraws_while_dns_answers() {
    if !pharos_only() {
        return;
    }
    let drain = Duration::from_millis(400);
    let p = start_with_file_zone(&health_toml("rise = 2\nfall = 2\ndrain = \"400ms\""));
    let (_, at) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);

    let file = p.dir.path().join("maintenance");
    std::fs::write(&file, b"").unwrap();
    let created = Instant::now();
    let (line, at) = wait_log(&p, at, Duration::from_secs(2), &["health: draining"]);
    let draining_seen = Instant::now();
    assert!(line.contains("bgp=announce-graceful-shutdown"), "{line}");
    assert!(
        line.contains("maintenance file") && line.contains("from=healthy"),
        "{line}"
    );
    assert_answers(&p, "draining");
    let (line, at) = wait_log(&p, at, Duration::from_secs(3), &["health: drained"]);
    let drained_after = draining_seen.elapsed();
    assert!(
        line.contains("bgp=withdraw") && line.contains("from=draining"),
        "{line}"
    );
    assert!(
        drained_after + Duration::from_millis(150) >= drain,
        "drained {drained_after:?} after draining, though health.drain is {drain:?}"
    );
    eprintln!(
        "draining seen {:?} after the file was created, drained {:?} later",
        draining_seen - created,
        drained_after
    );
    // Drained: DNS still answers, and stays drained while the file is there.
    for _ in 0..5 {
        assert_answers(&p, "drained");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(lines_with(&p, at, "health: ").is_empty(), "{}", p.log_tail(10));

    std::fs::remove_file(&file).unwrap();
    let (line, _) = wait_log(&p, at, Duration::from_secs(2), &["health: healthy"]);
    assert!(
        line.contains("maintenance ended") && line.contains("bgp=announce"),
        "{line}"
    );
}

/// BGP enabled (its peer need not exist: no route is ever established
/// here), the node healthy: SIGTERM publishes `stopping` at once, DNS keeps
/// answering for `health.drain`, then the process exits 0.
#[test]
fn sigterm_withdraws_waits_the_drain_and_exits_0() {
    if !pharos_only() {
        return;
    }
    let drain = Duration::from_millis(1000);
    let closed = common::free_port(false);
    let toml = format!(
        "{}\n[bgp]\nenabled = true\nasn = 65001\nrouter-id = \"10.0.0.1\"\nannounce = [\"192.0.2.0/24\"]\n\n\
         [[bgp.peer]]\naddress = \"127.0.0.1\"\nport = {closed}\nasn = 65000\nfamilies = [\"ipv4\"]\n",
        health_toml("rise = 2\nfall = 2\ndrain = \"1s\"")
    );
    let mut p = start_with_file_zone(&toml);
    let (_, at) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);

    let sent = Instant::now();
    p.signal(libc::SIGTERM);
    let (line, _) = wait_log(&p, at, Duration::from_secs(1), &["health: stopping"]);
    assert!(
        line.contains("reason=SIGTERM") && line.contains("bgp=withdraw"),
        "{line}"
    );
    assert!(sent.elapsed() < Duration::from_millis(500), "stopping published late");
    // Still answering during the drain.
    std::thread::sleep(Duration::from_millis(300));
    assert_answers(&p, "during the drain");
    let status = p
        .wait_exit(drain + Duration::from_secs(3))
        .unwrap_or_else(|| panic!("still running {drain:?} + 3 s after SIGTERM\n{}", p.log_tail(20)));
    let took = sent.elapsed();
    eprintln!("exited {took:?} after SIGTERM (drain {drain:?})");
    assert!(status.success(), "exit status {status}\n{}", p.log_tail(20));
    assert!(
        took >= drain,
        "exited {took:?} after SIGTERM, before the {drain:?} drain"
    );
    let log = p.log();
    let stop_dns = log.find("stopping DNS").expect("no `stopping DNS` line");
    let stopping = log.find("health: stopping").unwrap();
    assert!(stopping < stop_dns, "DNS stopped before the withdrawal\n{log}");
}

/// A second signal ends the drain wait.
#[test]
fn second_sigterm_ends_the_drain() {
    if !pharos_only() {
        return;
    }
    let toml = format!(
        "{}\n[bgp]\nenabled = true\nasn = 65001\nrouter-id = \"10.0.0.1\"\nannounce = [\"192.0.2.0/24\"]\n\n\
         [[bgp.peer]]\naddress = \"127.0.0.1\"\nport = {}\nasn = 65000\nfamilies = [\"ipv4\"]\n",
        health_toml("rise = 1\nfall = 2\ndrain = \"30s\""),
        common::free_port(false)
    );
    let mut p = start_with_file_zone(&toml);
    let (_, at) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);
    let sent = Instant::now();
    p.signal(libc::SIGTERM);
    wait_log(
        &p,
        at,
        Duration::from_secs(1),
        &["still answering while the withdrawal spreads"],
    );
    p.signal(libc::SIGTERM);
    let status = p
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("a second SIGTERM did not end the 30 s drain\n{}", p.log_tail(20)));
    assert!(status.success(), "exit status {status}");
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert!(p.log().contains("again: not waiting"), "{}", p.log_tail(10));
}

/// BGP disabled: nothing to drain, so SIGINT stops the node at once even
/// with a long `health.drain`.
#[test]
fn sigint_without_bgp_stops_at_once() {
    if !pharos_only() {
        return;
    }
    let mut p = start_with_file_zone(&health_toml("rise = 1\nfall = 2\ndrain = \"30s\""));
    let (_, at) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);
    let sent = Instant::now();
    p.signal(libc::SIGINT);
    let status = p
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running 5 s after SIGINT\n{}", p.log_tail(20)));
    let took = sent.elapsed();
    eprintln!("exited {took:?} after SIGINT");
    assert!(status.success(), "exit status {status}");
    let (line, _) = wait_log(&p, at, Duration::ZERO, &["health: stopping"]);
    assert!(line.contains("reason=SIGINT"), "{line}");
    assert!(p.log().contains("BGP disabled: nothing to drain"), "{}", p.log_tail(10));
}

// ------------------------------------------------- with a Knot primary

fn require_knot() {
    require_program("knotd", "knot");
    require_program("knotc", "knot");
}

/// The secondary zone `sec.test`: SOA refresh 1h, retry 10m, expire 1h
/// (the clamps below decide), and `extra` records.
fn sec_zone_text(extra: &str) -> String {
    format!("$ORIGIN {SEC}.\n$TTL 300\n@ SOA ns1 host 1 3600 600 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n{extra}")
}

/// pharos with example.com from its file and `sec.test` from `knot`, with
/// per-zone timer clamps `timers` and the `[health]` keys `health`; waits
/// until sec.test was transferred.
fn start_secondary(knot: &KnotPrimary, timers: &str, health: &str) -> Pharos {
    let toml = format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\n{timers}\n\n{}",
        toml_str(SEC),
        toml_str(&knot.addr_str()),
        health_toml(health)
    );
    Pharos::start(PharosOpts {
        zones: vec![example_zone()],
        extra_toml: toml,
        ready_zone: Some(SEC.into()),
        ipv6: false,
        ..Default::default()
    })
}

/// With its only primary stopped, sec.test, a critical zone, expires
/// (expire clamped to 2..3 s): unhealthy, naming the zone; the primary
/// back: healthy again.
#[test]
fn expired_critical_zone_is_unhealthy_until_its_primary_is_back() {
    require_knot();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(SEC, &sec_zone_text(""));
    let timers = "refresh-min = \"1s\"\nrefresh-max = \"1s\"\nretry-min = \"1s\"\nretry-max = \"1s\"\n\
                  expire-min = \"2s\"\nexpire-max = \"3s\"";
    let p = start_secondary(&knot, timers, "rise = 2\nfall = 2\ncritical-zones = [\"sec.test\"]");
    let (_, at) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);

    knot.stop();
    let stopped = Instant::now();
    let (line, at) = wait_log(&p, at, Duration::from_secs(8), &["health: unhealthy"]);
    eprintln!("unhealthy {:?} after the primary stopped", stopped.elapsed());
    assert!(line.contains("reason=critical zone sec.test expired"), "{line}");
    assert!(line.contains("from=healthy") && line.contains("bgp=withdraw"), "{line}");
    // the other zone is still served
    assert_answers(&p, "sec.test expired");

    knot.start_again();
    let back = Instant::now();
    let (line, _) = wait_log(&p, at, Duration::from_secs(8), &["health: healthy"]);
    eprintln!("healthy {:?} after the primary came back", back.elapsed());
    assert!(
        line.contains("from=unhealthy") && line.contains("bgp=announce"),
        "{line}"
    );
}

/// `health.probe` asks `flap.sec.test A`, and the test adds and removes
/// that record on the Knot primary (NOTIFY, IXFR) so the probe passes and
/// fails in runs well shorter than rise = fall = 5 rounds of 100 ms: the
/// checks fail again and again, the state stays healthy. Left failing, the
/// node becomes unhealthy after `fall` rounds.
#[test]
fn probe_flapping_faster_than_rise_and_fall_does_not_flap() {
    require_knot();
    if !pharos_only() {
        return;
    }
    let record = "flap A 192.0.2.9\n";
    let mut knot = KnotPrimary::start(SEC, &sec_zone_text(record));
    let p = start_secondary(&knot, "", "rise = 5\nfall = 5\nprobe = \"flap.sec.test A\"");
    knot.notify_to(p.port);
    let (_, start) = wait_log(&p, 0, Duration::from_secs(5), &["health: healthy"]);

    let flap = format!("flap.{SEC}");
    let wait_for = |want: u8| -> Instant {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if rcode_of(&p, &flap, wire::TYPE_A).is_some_and(|(rc, _)| rc == want) {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "pharos did not answer {flap} A with rcode {want}\n{}",
                p.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    // Each phase lasts its visible time: ~100 ms of sleep plus how long
    // the next change takes to reach pharos. Limit: 5 rounds = 500 ms.
    let longest = knot.flap_a("flap", wait_for);
    eprintln!("longest phase while flapping: {longest:?}");
    assert!(
        longest < Duration::from_millis(400),
        "a phase lasted {longest:?}: the primary is too slow for this test to flap faster than fall"
    );
    std::thread::sleep(Duration::from_millis(200));
    let failed = lines_with(&p, start, "health: check failed");
    assert!(
        failed.len() >= 3,
        "the probe should have failed in several phases, saw {} check failures\n{}",
        failed.len(),
        p.log_tail(40)
    );
    assert!(failed.iter().all(|l| l.contains("NXDOMAIN")), "{failed:#?}");
    let transitions = lines_with(&p, start, "health: ");
    let transitions: Vec<&String> = transitions.iter().filter(|l| !l.contains("health: check")).collect();
    assert!(transitions.is_empty(), "the state flapped: {transitions:#?}");

    // Now leave it failing: unhealthy after fall rounds, naming the probe.
    let at = p.log().len();
    knot.unset_record("flap", "A");
    let (line, _) = wait_log(&p, at, Duration::from_secs(3), &["health: unhealthy"]);
    let probe = format!("reason=probe flap.sec.test A via 127.0.0.1:{}: NXDOMAIN", p.port);
    assert!(line.contains(&probe), "expected {probe:?} in {line}");
}
