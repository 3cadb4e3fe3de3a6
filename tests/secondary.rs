//! Secondary zones end to end: the real `pharos` binary as a secondary of a
//! real Knot DNS primary (tests/common/primary.rs: knotd changed through
//! knotc, NOTIFY to pharos) and of a scripted primary that misbehaves.
//!
//! What is checked: NOTIFY → SOA check → IXFR (and the latency from the
//! commit on the primary to the first answer with the new serial); AXFR
//! when the primary has no history; the persisted copy served at once
//! after a restart with the primaries down; expiry to SERVFAIL and
//! recovery; the second primary when the first is unreachable; who may send
//! NOTIFY; broken transfers rejected with the old version kept; `kill -9`
//! during and right after a large transfer; TSIG-signed SOA queries,
//! transfers and NOTIFY with BIND 9 as the primary, and a wrong secret.
//!
//! Needs knotd/knotc (Debian package `knot`), kdig (`knot-dnsutils`) and,
//! for the TSIG test, named (`bind9`); a test fails with a message naming
//! the package when one is missing.
//! Everything runs on loopback, with short timers; the whole file takes
//! well under a minute.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    BindPrimary, BindPrimaryOpts, KnotPrimary, KnotPrimaryOpts, Misbehave, Pharos, PharosOpts, ScriptedPrimary,
    TsigKeyConf, Zone, client_text, free_port, kdig, repo_root, require_program, send_notify, soa_serial, tail,
    toml_str, wire,
};

const ZONE: &str = "sec.test";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const RCODE_NOERROR: u8 = 0;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_REFUSED: u8 = 5;
const RCODE_NOTAUTH: u8 = 9;

// ---------------------------------------------------------------- helpers

/// Fails (naming the Debian package) unless knotd, knotc and kdig exist.
fn require_tools() {
    require_program("knotd", "knot");
    require_program("knotc", "knot");
    require_program("kdig", "knot-dnsutils");
}

/// These tests drive pharos' secondary engine; the Knot stand-in of the
/// harness (`PHAROS_TEST_AGAINST=knot`) has no equivalent, so they skip.
fn pharos_only() -> bool {
    let against_knot = std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot");
    if against_knot {
        eprintln!("skipped: secondary-zone tests run against pharos only (PHAROS_TEST_AGAINST=knot is set)");
    }
    !against_knot
}

/// A small zone for Knot.
fn zone_text(serial: u32, refresh: u32, retry: u32, expire: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} {refresh} {retry} {expire} 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n{extra}"
    )
}

/// A `[[zone]]` table for a secondary zone; `extra` holds more keys.
fn secondary_toml(zone: &str, primaries: &[String], extra: &str) -> String {
    let list: Vec<String> = primaries.iter().map(|p| toml_str(p)).collect();
    format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\n{extra}\n",
        toml_str(zone),
        list.join(", ")
    )
}

/// Starts pharos with the secondary zones in `toml`; with `ready`, waits
/// until `zone` answers an authoritative SOA (first transfer done), else
/// only until the process answers anything.
fn start_pharos(toml: String, zone: &str, ready: bool) -> Pharos {
    Pharos::start(PharosOpts {
        extra_toml: toml,
        ready_zone: ready.then(|| zone.to_string()),
        ipv6: false,
        ..Default::default()
    })
}

/// What pharos answers for the zone's SOA.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// NOERROR, AA and an SOA with this serial.
    Serial(u32),
    /// Any other answer: RCODE, AA.
    Other { rcode: u8, aa: bool },
    /// No answer (timeout, error).
    Nothing(String),
}

fn look_at(addr: SocketAddr, zone: &str) -> Seen {
    match wire::udp_query(addr, zone, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_millis(500)) {
        Ok(r) => match soa_serial(&r) {
            Some(s) if r.rcode == RCODE_NOERROR && r.aa() => Seen::Serial(s),
            _ => Seen::Other {
                rcode: r.rcode,
                aa: r.aa(),
            },
        },
        Err(e) => Seen::Nothing(e.to_string()),
    }
}

fn look(p: &Pharos, zone: &str) -> Seen {
    look_at(p.addr(), zone)
}

/// Polls (every 2 ms) until pharos serves `serial`; returns when it first
/// did.  Panics with the log after `timeout`.
fn wait_serial(p: &Pharos, zone: &str, serial: u32, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    let mut last = Seen::Nothing("not asked".into());
    while Instant::now() < deadline {
        last = look(p, zone);
        if last == Seen::Serial(serial) {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!(
        "pharos did not serve {zone} serial {serial} within {timeout:?}; last SOA answer: {last:?}\n--- pharos log\n{}",
        p.log_tail(30)
    );
}

/// Polls (every 5 ms) for a log line after byte `from` matching `pred`.
fn wait_log(p: &Pharos, from: usize, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = p.log();
        if let Some(l) = log.get(from..).unwrap_or("").lines().find(|l| pred(l)) {
            return Some(l.to_string());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The "transfer complete; new version served" line for `serial`.
fn is_served_line(line: &str, serial: u32) -> bool {
    line.contains("transfer complete; new version served") && line.contains(&format!("serial={serial} "))
}

fn served_line(p: &Pharos, serial: u32) -> String {
    wait_log(p, 0, Duration::from_secs(2), |l| is_served_line(l, serial)).unwrap_or_else(|| {
        panic!(
            "no `transfer complete; new version served ... serial={serial}` line in the log\n{}",
            p.log_tail(30)
        )
    })
}

/// Queries `name` `qtype` at pharos over UDP.
fn ask(p: &Pharos, name: &str, qtype: u16) -> wire::Reply {
    p.query(name, qtype)
        .unwrap_or_else(|e| panic!("no answer from pharos for {name} type {qtype}: {e}\n{}", p.log_tail(30)))
}

/// Asserts that `name` A is answered NOERROR, AA with the address `a.b.c.d`.
fn assert_a(p: &Pharos, name: &str, addr: [u8; 4]) {
    let r = ask(p, name, wire::TYPE_A);
    assert!(
        r.rcode == RCODE_NOERROR && r.aa() && r.answers.iter().any(|rr| rr.rtype == wire::TYPE_A && rr.rdata == addr),
        "{name} A: expected NOERROR, AA, {addr:?}; got {r} {:?}\n--- pharos log\n{}",
        r.answers,
        p.log_tail(20)
    );
}

/// The snapshot pharos keeps of `zone` under its data dir.
fn snapshot_path(p: &Pharos, zone: &str) -> PathBuf {
    let apex = pharos::zone::name::from_text(zone).expect("zone name");
    p.data_dir().join("zones").join(pharos::zone::persist::file_name(&apex))
}

/// Serial of the snapshot on disk, if there is a readable one.
fn snapshot_serial(p: &Pharos, zone: &str) -> Option<u32> {
    let path = snapshot_path(p, zone);
    path.exists()
        .then(|| pharos::zone::persist::read_zone(&path).ok())
        .flatten()
        .map(|(z, _)| z.info.serial)
}

/// A thread asking pharos for the zone's SOA every few ms, keeping every
/// distinct answer in order.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(addr: SocketAddr, zone: &str) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v, zone) = (stop.clone(), seen.clone(), zone.to_string());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let x = look_at(addr, &zone);
                let mut v = v.lock().unwrap();
                if v.last() != Some(&x) {
                    v.push(x);
                }
                drop(v);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        Watcher {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops the thread; the distinct answers seen, in order.
    fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen.lock().unwrap().clone()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ------------------------------------------------------------ Knot tests

/// After the first AXFR, each change committed on Knot reaches pharos by
/// NOTIFY and IXFR within 2 s; prints the latency from `knotc zone-commit`
/// to the first answer with the new serial.
#[test]
fn notify_brings_new_serial_by_ixfr() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, 3600, 600, 3600, ""));
    let pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], ""), ZONE, true);
    assert_eq!(look(&pharos, ZONE), Seen::Serial(1));
    let first = served_line(&pharos, 1);
    assert!(
        first.contains(r#"kind="axfr""#),
        "the first transfer must be an AXFR: {first}"
    );

    knot.notify_to(pharos.port);
    let mut latencies = Vec::new();
    for i in 0..5u8 {
        let old = knot.serial();
        let owner = format!("new{i}.{ZONE}.");
        let addr = [192, 0, 2, 100 + i];
        let commit = knot.add_record(&owner, 300, "A", &format!("192.0.2.{}", 100 + i));
        let serial = knot.serial();
        assert_eq!(serial, old.wrapping_add(1), "knotc zone-commit did not bump the serial");
        let served = wait_serial(&pharos, ZONE, serial, Duration::from_secs(2));
        latencies.push((served - commit.before, served.saturating_duration_since(commit.after)));

        // The new record, as kdig sees it.
        let mut args = pharos.at();
        args.extend([owner.clone(), "A".into(), "+norec".into()]);
        let (text, header) = client_text(&kdig(&args));
        assert!(
            header.status == "NOERROR" && header.has_flag("aa"),
            "kdig {owner} A: {header:?}\n{text}"
        );
        assert!(
            text.contains(&format!("192.0.2.{}", 100 + i)),
            "kdig {owner} A: the new address is missing\n{text}"
        );
        assert_a(&pharos, &owner, addr);

        let line = served_line(&pharos, serial);
        assert!(
            line.contains(r#"kind="ixfr""#),
            "serial {serial} (one record added on Knot, which keeps a journal) should come by IXFR: {line}"
        );
    }
    let klog = knot.log();
    assert!(
        klog.contains("IXFR, outgoing") && !klog.contains("fallback to AXFR"),
        "Knot should have served IXFR with differences:\n{}",
        tail(&klog, 20)
    );
    let mut total: Vec<f64> = latencies.iter().map(|(a, _)| ms(*a)).collect();
    total.sort_by(f64::total_cmp);
    eprintln!("NOTIFY→served latency, from just before `knotc zone-commit` / from its return:");
    for (i, (a, b)) in latencies.iter().enumerate() {
        eprintln!("  change {i}: {:.1} ms / {:.1} ms", ms(*a), ms(*b));
    }
    eprintln!(
        "  min {:.1} ms, median {:.1} ms, max {:.1} ms",
        total[0],
        total[total.len() / 2],
        total[total.len() - 1]
    );
}

/// Knot without a journal answers pharos' IXFR with the whole zone
/// ("incomplete history, fallback to AXFR"); pharos takes it as a full
/// transfer.  Then the primary is rebuilt from a new file with a serial
/// jump and no history: pharos replaces the zone by AXFR (a record gone
/// from the new file disappears).  The old version is served throughout:
/// never an error, never an older serial.
#[test]
fn ixfr_unavailable_falls_back_to_axfr() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut opts = KnotPrimaryOpts::new(ZONE, &zone_text(1, 3600, 600, 3600, ""));
    opts.journal = false;
    let mut knot = KnotPrimary::start_with(opts);
    let pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], ""), ZONE, true);
    knot.notify_to(pharos.port);
    let watcher = Watcher::start(pharos.addr(), ZONE);

    knot.add_record(&format!("added.{ZONE}."), 300, "A", "192.0.2.55");
    assert_eq!(knot.serial(), 2);
    wait_serial(&pharos, ZONE, 2, Duration::from_secs(3));
    let line = served_line(&pharos, 2);
    let klog = knot.log();
    assert!(
        klog.contains("IXFR, outgoing") && klog.contains("fallback to AXFR"),
        "pharos should have asked Knot (no journal) for IXFR, which Knot answers with the whole zone:\n{}",
        tail(&klog, 20)
    );
    assert!(
        line.contains(r#"kind="axfr""#),
        "an IXFR answered with the whole zone is a full transfer: {line}"
    );
    assert_a(&pharos, &format!("added.{ZONE}"), [192, 0, 2, 55]);
    assert_a(&pharos, &format!("www.{ZONE}"), [192, 0, 2, 2]);

    // The primary is rebuilt: a new file, serial 1000, no journal.
    let text = format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host 1000 3600 600 3600 60\n@ NS ns1\nns1 A 192.0.2.1\nfresh A 192.0.2.77\n"
    );
    knot.replace_zone_and_forget_history(&text);
    let r = send_notify(LOCALHOST, pharos.addr(), ZONE, Duration::from_secs(2)).expect("NOTIFY");
    assert_eq!(
        (r.rcode, r.aa()),
        (RCODE_NOERROR, true),
        "NOTIFY from the primary's address: {r}"
    );
    wait_serial(&pharos, ZONE, 1000, Duration::from_secs(3));
    let line = served_line(&pharos, 1000);
    assert!(line.contains(r#"kind="axfr""#), "serial 1000 must come whole: {line}");
    assert_a(&pharos, &format!("fresh.{ZONE}"), [192, 0, 2, 77]);
    for gone in [format!("www.{ZONE}"), format!("added.{ZONE}")] {
        let r = ask(&pharos, &gone, wire::TYPE_A);
        assert_eq!(
            (r.rcode, r.aa()),
            (RCODE_NXDOMAIN, true),
            "{gone} is not in the new zone: expected NXDOMAIN, AA; got {r}"
        );
    }

    let seen = watcher.finish();
    eprintln!("SOA answers seen while the zone changed: {seen:?}");
    let mut last = 0;
    for s in &seen {
        match s {
            Seen::Serial(n) if *n >= last => last = *n,
            other => panic!(
                "while transfers ran, pharos answered {other:?} (after serial {last}); \
                 the old version must stay served. All answers: {seen:?}\n{}",
                pharos.log_tail(30)
            ),
        }
    }
}

/// A restarted pharos serves its persisted copy at once (the first query
/// after it answers at all) when no primary answers.
#[test]
fn persisted_copy_served_when_primaries_down() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, 3600, 600, 3600, ""));
    let mut pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], ""), ZONE, true);
    knot.notify_to(pharos.port);
    knot.add_record(&format!("later.{ZONE}."), 300, "A", "192.0.2.66");
    let served = wait_serial(&pharos, ZONE, 2, Duration::from_secs(2));
    // Serial 2 came by IXFR; wait until it is on disk too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while snapshot_serial(&pharos, ZONE) != Some(2) {
        assert!(
            Instant::now() < deadline,
            "serial 2 is served but {} does not hold it after 5 s (it holds {:?})\n{}",
            snapshot_path(&pharos, ZONE).display(),
            snapshot_serial(&pharos, ZONE),
            pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!(
        "serial 2 persisted {:.1} ms after it was first served",
        ms(served.elapsed())
    );
    // An IXFR is persisted as a journal entry beside the snapshot, not as a
    // new snapshot.
    let journal = pharos::zone::journal::path_for(&snapshot_path(&pharos, ZONE));
    assert!(
        journal.exists(),
        "serial 2 came by IXFR: {} should hold it",
        journal.display()
    );

    pharos.kill9();
    knot.stop();
    let log_len = pharos.log().len();
    pharos.restart(None);
    let first = look(&pharos, ZONE);
    assert_eq!(
        first,
        Seen::Serial(2),
        "first SOA answer after the restart with the primary down\n{}",
        pharos.log_tail(20)
    );
    assert_a(&pharos, &format!("later.{ZONE}"), [192, 0, 2, 66]);
    assert_a(&pharos, &format!("www.{ZONE}"), [192, 0, 2, 2]);
    assert!(
        wait_log(&pharos, log_len, Duration::from_secs(1), |l| l
            .contains("served from its persisted copy"))
        .is_some(),
        "the log should say the zone was served from its persisted copy\n{}",
        pharos.log_tail(20)
    );
    // Still served a moment later, while the primary stays down.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(look(&pharos, ZONE), Seen::Serial(2));
}

/// Per-zone clamps: refresh and retry 1 s, expire 2..3 s.
const SHORT_TIMERS: &str = "refresh-min = \"1s\"\nrefresh-max = \"1s\"\nretry-min = \"1s\"\nretry-max = \"1s\"\n\
                            expire-min = \"2s\"\nexpire-max = \"3s\"";

/// Polls the zone's SOA from `since` until SERVFAIL; panics on anything
/// but serial `serial` before that, or after `limit`.  Returns when
/// SERVFAIL came, measured from `since`.
fn wait_expired(p: &Pharos, serial: u32, since: Instant, limit: Duration, what: &str) -> Duration {
    loop {
        let s = look(p, ZONE);
        let t = since.elapsed();
        match s {
            Seen::Serial(n) if n == serial => {}
            Seen::Other {
                rcode: RCODE_SERVFAIL, ..
            } => return t,
            other => panic!(
                "{what}: while waiting for expiry pharos answered {other:?}\n{}",
                p.log_tail(20)
            ),
        }
        assert!(
            t < limit,
            "{what}: expire-max is 3s but the zone still answers {s:?} {t:?} after its only primary stopped\n{}",
            p.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// expire-max = 3s: with the primary stopped the zone answers SERVFAIL
/// within a few seconds; when the primary is back, NOERROR with AA again.
#[test]
fn expires_to_servfail_and_recovers() {
    require_tools();
    if !pharos_only() {
        return;
    }
    // The SOA says refresh 1h, retry 10m, expire 1h: the clamps decide.
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, 3600, 600, 3600, ""));
    let pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], SHORT_TIMERS), ZONE, true);
    // Let a refresh or two confirm the zone, then take the primary away.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(look(&pharos, ZONE), Seen::Serial(1));
    knot.stop();
    let stopped = Instant::now();
    let expired_after = wait_expired(&pharos, 1, stopped, Duration::from_secs(6), "primary stopped");
    eprintln!("SERVFAIL {:.0} ms after the primary stopped", ms(expired_after));
    assert!(
        expired_after >= Duration::from_millis(1500),
        "expired {expired_after:?} after the primary stopped, though a refresh confirmed it at most ~1 s before \
         and expire-min is 2s\n{}",
        pharos.log_tail(20)
    );
    let r = ask(&pharos, &format!("www.{ZONE}"), wire::TYPE_A);
    assert_eq!(r.rcode, RCODE_SERVFAIL, "www in the expired zone: {r}");
    assert!(
        pharos.log().contains("zone expired"),
        "the log should say the zone expired\n{}",
        pharos.log_tail(20)
    );

    knot.start_again();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(5);
    loop {
        let s = look(&pharos, ZONE);
        if s == Seen::Serial(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the primary is back (retry 1s) but pharos still answers {s:?} after 5 s\n{}",
            pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("served again {:.0} ms after the primary restarted", ms(back.elapsed()));
    assert_a(&pharos, &format!("www.{ZONE}"), [192, 0, 2, 2]);
}

/// The expiry survives a restart: the zone is confirmed by SOA refreshes
/// (no new transfer) for longer than the clamped expire, then the primary
/// stops and pharos is killed and restarted at once.  The persisted copy
/// must be served (the last confirmation was about a second ago, less
/// than expire-max 3s) and must still expire by about 3 s after the
/// primary stopped: the clamp applies, not the SOA's 1 h.
#[test]
fn expiry_survives_restart() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, 3600, 600, 3600, ""));
    let mut pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], SHORT_TIMERS), ZONE, true);
    // Refreshes (every ~1 s) keep the zone fresh well past the 3 s expire.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(look(&pharos, ZONE), Seen::Serial(1));
    knot.stop();
    let stopped = Instant::now();
    pharos.kill9();
    pharos.restart(None);
    let first = look(&pharos, ZONE);
    assert_eq!(
        first,
        Seen::Serial(1),
        "restarted {:?} after the primary stopped; the zone was confirmed by a refresh about 1 s before \
         (expire-max 3s), so the persisted copy should be served\n{}",
        stopped.elapsed(),
        pharos.log_tail(20)
    );
    let expired_after = wait_expired(&pharos, 1, stopped, Duration::from_secs(6), "after a restart");
    eprintln!(
        "after a restart: SERVFAIL {:.0} ms after the primary stopped",
        ms(expired_after)
    );
}

/// primaries = [a loopback port where nothing listens, Knot]: the zone
/// comes from the second.
#[test]
fn second_primary_used_when_first_unreachable() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let knot = KnotPrimary::start(ZONE, &zone_text(7, 3600, 600, 3600, ""));
    let dead = format!("127.0.0.1:{}", free_port(false));
    let started = Instant::now();
    let pharos = start_pharos(secondary_toml(ZONE, &[dead.clone(), knot.addr_str()], ""), ZONE, true);
    eprintln!(
        "zone served {:.0} ms after start, via the second primary",
        ms(started.elapsed())
    );
    assert_eq!(look(&pharos, ZONE), Seen::Serial(7));
    assert_a(&pharos, &format!("www.{ZONE}"), [192, 0, 2, 2]);
    let line = served_line(&pharos, 7);
    assert!(
        line.contains(&format!("primary={}", knot.addr_str())),
        "the transfer should come from the second primary {}: {line}",
        knot.addr_str()
    );
    let log = pharos.log();
    assert!(
        log.lines().any(|l| l.contains("primary 0") && l.contains(&dead)),
        "the log should say primary 0 ({dead}) failed\n{}",
        tail(&log, 20)
    );
}

// ------------------------------------------------------- NOTIFY sources

/// NOTIFY for a secondary zone: REFUSED from 127.0.0.2 (not a primary, not
/// in allow-notify), NOERROR with AA from 127.0.0.1 (the primary's
/// address) and from 127.0.0.2 for a zone that allows it; NOTAUTH for a
/// zone served from a file and for a zone not served at all.  Only the
/// accepted ones make pharos ask the primary.
#[test]
fn notify_from_unknown_source_refused() {
    if !pharos_only() {
        return;
    }
    let primary = ScriptedPrimary::start(ZONE, 1, 3);
    let allowed = ScriptedPrimary::start("other.test", 1, 3);
    let file_zone = Zone::new("example.com", &repo_root().join("zones/example.com.zone"));
    let toml = secondary_toml(ZONE, &[primary.addr_str()], "")
        + &secondary_toml("other.test", &[allowed.addr_str()], "allow-notify = [\"127.0.0.2/32\"]");
    let pharos = Pharos::start(PharosOpts {
        zones: vec![file_zone],
        extra_toml: toml,
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        ..Default::default()
    });
    wait_serial(&pharos, "other.test", 1, Duration::from_secs(3));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let notify = |from: IpAddr, zone: &str| {
        send_notify(from, pharos.addr(), zone, Duration::from_secs(2)).unwrap_or_else(|e| {
            panic!(
                "no answer to NOTIFY for {zone} from {from}: {e}\n{}",
                pharos.log_tail(20)
            )
        })
    };
    let soa_queries = |p: &ScriptedPrimary| p.requests().iter().filter(|r| r.starts_with("udp SOA")).count();

    let before = soa_queries(&primary);
    let r = notify(other, ZONE);
    assert_eq!(r.rcode, RCODE_REFUSED, "NOTIFY for {ZONE} from 127.0.0.2: {r}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        soa_queries(&primary),
        before,
        "a refused NOTIFY must not make pharos query the primary"
    );

    let r = notify(LOCALHOST, ZONE);
    assert_eq!(
        (r.rcode, r.aa()),
        (RCODE_NOERROR, true),
        "NOTIFY for {ZONE} from 127.0.0.1: {r}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while soa_queries(&primary) == before {
        assert!(
            Instant::now() < deadline,
            "an accepted NOTIFY did not make pharos ask the primary for the SOA: {:?}",
            primary.requests()
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let before = soa_queries(&allowed);
    let r = notify(other, "other.test");
    assert_eq!(
        (r.rcode, r.aa()),
        (RCODE_NOERROR, true),
        "NOTIFY for other.test (allow-notify 127.0.0.2/32) from 127.0.0.2: {r}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while soa_queries(&allowed) == before {
        assert!(Instant::now() < deadline, "NOTIFY from allow-notify source ignored");
        std::thread::sleep(Duration::from_millis(5));
    }

    for zone in ["example.com", "not-served.test"] {
        for from in [LOCALHOST, other] {
            let r = notify(from, zone);
            assert_eq!(
                r.rcode, RCODE_NOTAUTH,
                "NOTIFY for {zone} (not a secondary zone here) from {from}: {r}"
            );
        }
    }
    assert_eq!(look(&pharos, ZONE), Seen::Serial(1), "still serving");
}

// --------------------------------------------------- misbehaving primary

/// Gives pharos version 1 from the scripted primary, then serial 2 with
/// AXFR broken as `how` (IXFR is answered NOTIMP, so pharos falls back to
/// AXFR): pharos logs `transfer rejected: ...<reason>...`, keeps serving
/// version 1 whole, and still answers.  Then the primary behaves again and
/// pharos takes serial 2.
fn misbehaving_primary(how: Misbehave, reason: &str) {
    if !pharos_only() {
        return;
    }
    let zone = "bad.test";
    let primary = ScriptedPrimary::start(zone, 1, 200);
    let mut pharos = start_pharos(secondary_toml(zone, &[primary.addr_str()], ""), zone, true);
    let version = |p: &Pharos| {
        let r = ask(p, &format!("version.{zone}"), wire::TYPE_TXT);
        r.answers
            .first()
            .map(|rr| String::from_utf8_lossy(&rr.rdata[1..]).into_owned())
    };
    assert_eq!(version(&pharos).as_deref(), Some("v1"));

    primary.set_serial(2);
    primary.set_axfr(how);
    let from = pharos.log().len();
    let r = send_notify(LOCALHOST, pharos.addr(), zone, Duration::from_secs(2)).expect("NOTIFY");
    assert_eq!(r.rcode, RCODE_NOERROR);
    let rejected = wait_log(&pharos, from, Duration::from_secs(5), |l| {
        l.contains("transfer rejected") && l.contains(r#"kind="axfr""#)
    })
    .unwrap_or_else(|| {
        panic!(
            "{how:?}: no `transfer rejected` line for the AXFR; requests {:?}\n{}",
            primary.requests(),
            pharos.log_tail(20)
        )
    });
    eprintln!("{how:?}: {rejected}");
    assert!(
        rejected.contains(reason) && rejected.contains(&primary.addr_str()),
        "{how:?}: the rejection should name the primary {} and say `{reason}`: {rejected}",
        primary.addr_str()
    );
    let log = pharos.log();
    assert!(
        log[from..]
            .lines()
            .any(|l| l.contains("transfer rejected") && l.contains(r#"kind="ixfr""#) && l.contains("NOTIMP")),
        "{how:?}: IXFR (answered NOTIMP) should have been tried first\n{}",
        tail(&log, 20)
    );
    let reqs = primary.requests();
    let ixfr = reqs.iter().position(|r| r.starts_with("tcp IXFR"));
    let axfr = reqs.iter().rposition(|r| r.starts_with("tcp AXFR"));
    assert!(
        matches!((ixfr, axfr), (Some(i), Some(a)) if i < a),
        "{how:?}: expected IXFR then AXFR: {reqs:?}"
    );

    assert!(pharos.is_running(), "{how:?}: pharos died\n{}", pharos.log_tail(30));
    assert!(
        !log.contains("panicked"),
        "{how:?}: a panic in the log\n{}",
        tail(&log, 30)
    );
    assert_eq!(
        look(&pharos, zone),
        Seen::Serial(1),
        "{how:?}: version 1 must stay served"
    );
    assert_eq!(version(&pharos).as_deref(), Some("v1"), "{how:?}");
    assert_a(&pharos, &format!("h199.{zone}"), [10, 0, 0, 199]);
    assert_a(&pharos, &format!("h0.{zone}"), [10, 0, 0, 0]);
    let r = ask(&pharos, "intruder.example.org", wire::TYPE_A);
    assert!(r.answers.is_empty(), "{how:?}: the intruder record is served: {r}");

    // Behaving again: serial 2 arrives.
    primary.set_axfr(Misbehave::Nothing);
    let r = send_notify(LOCALHOST, pharos.addr(), zone, Duration::from_secs(2)).expect("NOTIFY");
    assert_eq!(r.rcode, RCODE_NOERROR);
    wait_serial(&pharos, zone, 2, Duration::from_secs(5));
    assert_eq!(version(&pharos).as_deref(), Some("v2"));
}

#[test]
fn misbehaving_primary_closes_mid_transfer() {
    misbehaving_primary(Misbehave::CutOff, "connection");
}

#[test]
fn misbehaving_primary_final_soa_differs() {
    misbehaving_primary(Misbehave::FinalSoaDiffers, "serial 3");
}

#[test]
fn misbehaving_primary_record_outside_zone() {
    misbehaving_primary(Misbehave::OutsideZone, "outside the zone");
}

#[test]
fn misbehaving_primary_wrong_message_id() {
    misbehaving_primary(Misbehave::WrongId, "ID");
}

// ------------------------------------------------------------- kill -9

const BIG_HOSTS: usize = 300_000;

fn big_zone_text(serial: u32) -> String {
    let mut t = String::with_capacity(BIG_HOSTS * 24 + 200);
    t.push_str(&format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 1 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n"
    ));
    for i in 0..BIG_HOSTS {
        use std::fmt::Write as _;
        let _ = writeln!(t, "h{i:06} A 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    }
    t
}

fn host(i: usize) -> (String, [u8; 4]) {
    (
        format!("h{i:06}.{ZONE}"),
        [10, ((i >> 16) & 255) as u8, ((i >> 8) & 255) as u8, (i & 255) as u8],
    )
}

/// If the zone's SOA is answered, the records near the end of the zone are
/// too (no partial version is ever served).  Returns what the SOA got.
fn check_whole(p: &Pharos, what: &str) -> Seen {
    let s = look(p, ZONE);
    if let Seen::Serial(serial) = s {
        for i in [0, BIG_HOSTS / 2, BIG_HOSTS - 2, BIG_HOSTS - 1] {
            let (name, addr) = host(i);
            let r = p.query(&name, wire::TYPE_A);
            let ok = r.as_ref().is_ok_and(|r| {
                r.rcode == RCODE_NOERROR && r.answers.iter().any(|rr| rr.rtype == wire::TYPE_A && rr.rdata == addr)
            });
            assert!(
                ok,
                "{what}: SOA serial {serial} is served but {name} A is {:?}: a partial version is served\n{}",
                r.map(|r| r.to_string()),
                p.log_tail(20)
            );
        }
    }
    s
}

/// Lines of `text` containing every `|`-separated part of `needle`.
fn count(text: &str, needle: &str) -> usize {
    text.lines()
        .filter(|l| needle.split('|').all(|n| l.contains(n)))
        .count()
}

/// `kill -9` of pharos at several moments of a 300k-record AXFR: after
/// each restart it serves nothing (SERVFAIL) or the whole zone, never part
/// of it.  Then, right after a completed transfer, `kill -9` and a restart
/// with the primary stopped: the version just transferred is served.
#[test]
fn kill_9_during_large_transfer() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let test_started = Instant::now();
    let mut knot = KnotPrimary::start(ZONE, &big_zone_text(1));
    eprintln!(
        "knotd loaded {BIG_HOSTS} records in {:.0} ms",
        ms(test_started.elapsed())
    );
    let mut pharos = start_pharos(secondary_toml(ZONE, &[knot.addr_str()], ""), ZONE, false);
    let started = "AXFR, outgoing|started";
    let mut outcomes = Vec::new();
    for (round, delay_ms) in [0u64, 100, 250, 400, 600, 900].into_iter().enumerate() {
        // Wait for Knot to start sending this round's AXFR, checking that
        // whatever pharos serves meanwhile is whole.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut complete = false;
        while count(&knot.log(), started) <= round {
            if let Seen::Serial(_) = check_whole(&pharos, "before the kill") {
                complete = true;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: Knot did not start an AXFR to pharos within 10 s\n--- knot\n{}\n--- pharos\n{}",
                tail(&knot.log(), 10),
                pharos.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        if complete {
            outcomes.push(format!("round {round}: the zone was already complete"));
            break;
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        pharos.kill9();
        let on_disk = snapshot_serial(&pharos, ZONE);
        pharos.restart(None);
        let first = check_whole(&pharos, &format!("first answer after kill -9 at +{delay_ms} ms"));
        assert!(
            matches!(
                first,
                Seen::Serial(1)
                    | Seen::Other {
                        rcode: RCODE_SERVFAIL,
                        ..
                    }
            ),
            "after kill -9 at +{delay_ms} ms and a restart, the zone answers {first:?}: expected SERVFAIL \
             (nothing yet) or serial 1 (complete)\n{}",
            pharos.log_tail(20)
        );
        outcomes.push(format!(
            "round {round}: kill -9 {delay_ms} ms after Knot started the AXFR; snapshot on disk: {on_disk:?}; \
             first answer after restart: {first:?}"
        ));
        if first == Seen::Serial(1) {
            break;
        }
    }
    for o in &outcomes {
        eprintln!("{o}");
    }

    // Let the transfer complete, checking all along that nothing partial is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    while check_whole(&pharos, "while the last transfer runs") != Seen::Serial(1) {
        assert!(
            Instant::now() < deadline,
            "the {BIG_HOSTS}-record zone was not served within 20 s\n{}",
            pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(l) = wait_log(&pharos, 0, Duration::from_secs(1), |l| is_served_line(l, 1)) {
        eprintln!("{l}");
    }

    // Serial 2 (one record added; IXFR from Knot's journal, applied to the
    // 300k-record version): kill -9 as soon as pharos says it is served.
    knot.notify_to(pharos.port);
    let from = pharos.log().len();
    knot.add_record(&format!("zzz-last.{ZONE}."), 300, "A", "192.0.2.99");
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let log = pharos.log();
        if let Some(l) = log[from..].lines().find(|l| is_served_line(l, 2)) {
            break l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "serial 2 was not served within 20 s\n{}",
            pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    pharos.kill9();
    eprintln!("killed right after: {line}");
    let on_disk = snapshot_serial(&pharos, ZONE);
    eprintln!("snapshot on disk at the kill: serial {on_disk:?}");
    knot.stop();
    pharos.restart(None);
    let first = check_whole(&pharos, "after kill -9 right after the transfer of serial 2");
    assert_eq!(
        first,
        Seen::Serial(2),
        "pharos logged `transfer complete; new version served` for serial 2 and was killed right after; \
         restarted with the primary down it answers {first:?} (snapshot on disk at the kill: serial {on_disk:?})\n{}",
        pharos.log_tail(20)
    );
    assert_a(&pharos, &format!("zzz-last.{ZONE}"), [192, 0, 2, 99]);
    eprintln!(
        "kill_9_during_large_transfer took {:.1} s",
        test_started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------ TSIG

const BIND_ZONE: &str = "bind.test";
/// The key BIND and pharos share (32 random bytes, base64).
const TSIG_SECRET: &str = "q8Dx1pZ0mYQ9b8Jt2u5rWlq3fK9hV7nE4cS6aT1gB0M=";
/// Another secret for the same key name: what a misconfigured pharos has.
const WRONG_SECRET: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw=";

fn bind_zone_text(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {BIND_ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 600 3600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n{extra}"
    )
}

/// Lines of `text` after byte `from` containing every one of `parts`.
fn lines_with(text: &str, from: usize, parts: &[&str]) -> Vec<String> {
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(String::from)
        .collect()
}

/// BIND 9 (`named`, Debian package `bind9`) as primary of `bind.test` with
/// `key "xfr-key" { algorithm hmac-sha256; ... }`, `allow-transfer { key
/// "xfr-key"; }` and `also-notify` to pharos with that key; pharos with the
/// same `[[tsig-key]]` and `tsig-key = "xfr-key"` on the zone.
///
/// 1. The first transfer: pharos serves serial 1 within 5 s; BIND logs the
///    AXFR as signed by xfr-key.
/// 2. The zone file is rewritten with serial 2 and a new record, and BIND
///    reloaded (SIGHUP): its signed NOTIFY is accepted (no `NOTIFY refused`
///    line) and pharos serves serial 2 by IXFR within 3 s; BIND logs the
///    IXFR as signed and got NOERROR for its NOTIFY, with no failure (a reply
///    whose TSIG BIND could not verify would be logged `notify to ...
///    failed`).  An unsigned NOTIFY from the primary's address gets NOTAUTH.
/// 3. pharos restarted with a different secret for xfr-key (same data dir):
///    it serves serial 2 from disk; its SOA query is answered BADSIG (logged
///    `SOA query to primary 0 failed: ... BADSIG`), BIND's NOTIFY for serial
///    3 does not verify (`NOTIFY refused: ... BADSIG`), and serial 2 stays
///    served, whole, for 3 s after BIND has serial 3.
#[test]
fn tsig_hmac_sha256_transfers_from_bind() {
    require_program("named", "bind9");
    if !pharos_only() {
        return;
    }
    let test_started = Instant::now();
    let key = TsigKeyConf::new("xfr-key", "hmac-sha256", TSIG_SECRET);
    let mut opts = BindPrimaryOpts::new(BIND_ZONE, &bind_zone_text(1, ""));
    opts.key = Some(key.clone());
    let mut bind = BindPrimary::start_with(opts);
    let toml = key.pharos_toml() + "\n" + &secondary_toml(BIND_ZONE, &[bind.addr_str()], "tsig-key = \"xfr-key\"");
    let mut pharos = start_pharos(toml, BIND_ZONE, false);

    // 1. The first transfer, signed.
    wait_serial(&pharos, BIND_ZONE, 1, Duration::from_secs(5));
    let line = served_line(&pharos, 1);
    eprintln!("serial 1: {line}");
    assert!(
        line.contains(r#"kind="axfr""#),
        "the first transfer must be an AXFR: {line}"
    );
    assert_a(&pharos, &format!("www.{BIND_ZONE}"), [192, 0, 2, 2]);
    let started = bind.wait_log(0, "AXFR started");
    assert!(
        started.contains("TSIG xfr-key"),
        "BIND should log pharos' AXFR as signed with xfr-key: {started}"
    );

    // 2. A change on BIND: signed NOTIFY, signed IXFR.
    bind.notify_to(pharos.port);
    let (p_from, b_from) = (pharos.log().len(), bind.log().len());
    let reloaded = bind.replace_zone(&bind_zone_text(2, "new A 192.0.2.20\n"), 2);
    let served = wait_serial(&pharos, BIND_ZONE, 2, Duration::from_secs(3));
    eprintln!(
        "serial 2 served {:.1} ms after BIND's SIGHUP",
        ms(served.saturating_duration_since(reloaded))
    );
    assert_a(&pharos, &format!("new.{BIND_ZONE}"), [192, 0, 2, 20]);
    let line = served_line(&pharos, 2);
    assert!(
        line.contains(r#"kind="ixfr""#),
        "serial 2 (one record added; BIND has ixfr-from-differences) should come by IXFR: {line}"
    );
    let started = bind.wait_log(b_from, "IXFR started");
    assert!(
        started.contains("TSIG xfr-key"),
        "BIND should log pharos' IXFR as signed with xfr-key: {started}"
    );
    let notify_to = format!("127.0.0.1#{}", pharos.port);
    let response = bind.wait_log(b_from, &format!("notify response from {notify_to}"));
    let plog = pharos.log();
    let blog = bind.log();
    assert!(
        response.contains("NOERROR"),
        "BIND's signed NOTIFY should be answered NOERROR: {response}\n--- pharos log\n{}",
        tail(&plog, 20)
    );
    let failed = lines_with(&blog, b_from, &["notify to", &notify_to, "failed"]);
    assert!(
        failed.is_empty(),
        "BIND could not use pharos' answer to its signed NOTIFY (is the answer signed?):\n{}\n--- pharos log\n{}",
        failed.join("\n"),
        tail(&plog, 20)
    );
    eprintln!("BIND: {started}\nBIND: {response}");
    let refused = lines_with(&plog, p_from, &["NOTIFY refused"]);
    assert!(
        refused.is_empty(),
        "pharos refused BIND's signed NOTIFY:\n{}\n--- BIND log\n{}",
        refused.join("\n"),
        tail(&blog, 20)
    );

    // An unsigned NOTIFY from the primary's address: NOTAUTH.
    let from = pharos.log().len();
    let r = send_notify(LOCALHOST, pharos.addr(), BIND_ZONE, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("no answer to an unsigned NOTIFY: {e}\n{}", pharos.log_tail(20)));
    assert_eq!(
        r.rcode, RCODE_NOTAUTH,
        "unsigned NOTIFY for {BIND_ZONE} (tsig-key = xfr-key) from 127.0.0.1: {r}"
    );
    let line = wait_log(&pharos, from, Duration::from_secs(2), |l| l.contains("NOTIFY refused"));
    assert!(
        line.is_some_and(|l| l.contains("unsigned")),
        "no `NOTIFY refused: ... unsigned` line for the unsigned NOTIFY\n{}",
        pharos.log_tail(10)
    );

    // 3. pharos with the wrong secret for xfr-key.
    pharos.stop();
    let config = std::fs::read_to_string(&pharos.config).expect("pharos config");
    assert!(
        config.contains(TSIG_SECRET),
        "the secret is not in {}",
        pharos.config.display()
    );
    // refresh-max 1 s: the refresh timer, resumed from disk, is due at once
    // after the restart (else the first check waits for the SOA refresh).
    let config = config.replace(TSIG_SECRET, WRONG_SECRET).replace(
        "tsig-key = \"xfr-key\"",
        "tsig-key = \"xfr-key\"\nrefresh-min = \"1s\"\nrefresh-max = \"1s\"",
    );
    assert!(config.contains("refresh-max"), "{config}");
    std::fs::write(&pharos.config, config).expect("rewrite pharos config");
    let p_from = pharos.log().len();
    pharos.restart(Some(BIND_ZONE));
    assert_eq!(
        look(&pharos, BIND_ZONE),
        Seen::Serial(2),
        "restarted with the wrong secret, pharos should serve its persisted serial 2"
    );
    let b_from = bind.log().len();
    let changed = bind.replace_zone(&bind_zone_text(3, "new A 192.0.2.20\nnewer A 192.0.2.30\n"), 3);
    let soa_badsig = wait_log(&pharos, p_from, Duration::from_secs(3), |l| {
        l.contains("SOA query to primary 0 failed") && l.contains("BADSIG")
    });
    let notify_badsig = wait_log(&pharos, p_from, Duration::from_secs(3), |l| {
        l.contains("NOTIFY refused") && l.contains("BADSIG")
    });
    let plog = pharos.log();
    assert!(
        soa_badsig.is_some() && notify_badsig.is_some(),
        "with the wrong secret, expected `SOA query to primary 0 failed: ... BADSIG` (got {soa_badsig:?}) and \
         `NOTIFY refused: ... BADSIG` for BIND's NOTIFY (got {notify_badsig:?})\n--- pharos log since the restart\n{}\n--- BIND log\n{}",
        tail(plog.get(p_from..).unwrap_or(""), 30),
        tail(bind.log().get(b_from..).unwrap_or(""), 30)
    );
    eprintln!("wrong secret: {}", soa_badsig.unwrap());
    eprintln!("wrong secret: {}", notify_badsig.unwrap());
    while changed.elapsed() < Duration::from_secs(3) {
        let seen = look(&pharos, BIND_ZONE);
        assert_eq!(
            seen,
            Seen::Serial(2),
            "with the wrong secret pharos must keep serving serial 2 ({:.1} s after BIND loaded serial 3)\n{}",
            changed.elapsed().as_secs_f64(),
            pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_a(&pharos, &format!("new.{BIND_ZONE}"), [192, 0, 2, 20]);
    let r = ask(&pharos, &format!("newer.{BIND_ZONE}"), wire::TYPE_A);
    assert_eq!(
        (r.rcode, r.aa()),
        (RCODE_NXDOMAIN, true),
        "newer.{BIND_ZONE} is only in serial 3, which pharos cannot verify: {r}"
    );
    let plog = pharos.log();
    let transferred = lines_with(&plog, p_from, &["transfer complete; new version served"]);
    assert!(
        transferred.is_empty(),
        "with the wrong secret nothing may be transferred:\n{}",
        transferred.join("\n")
    );
    for l in lines_with(&bind.log(), b_from, &["notify to", &notify_to]) {
        eprintln!("BIND: {l}");
    }
    eprintln!(
        "tsig_hmac_sha256_transfers_from_bind took {:.1} s",
        test_started.elapsed().as_secs_f64()
    );
}
