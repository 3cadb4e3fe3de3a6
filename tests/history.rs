//! The IXFR history (issue 11, item 3) against the real binary: a pharos
//! secondary of a Knot primary keeps the differences it received by IXFR,
//! and the difference of a version received by AXFR, in its journal; the
//! history survives a restart and `kill -9`, stays within
//! `ixfr-history-depth` after 200 changes, and a file zone's reloads
//! (SIGHUP) are diffed into it too. The history is read with the library's
//! own reader, `pharos::zone::history::changes`, as IXFR out reads it.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{KnotPrimary, Pharos, PharosOpts, Zone, require_program, send_notify, soa_serial, toml_str, wire};
use pharos::zone::history::changes;
use pharos::zone::journal::{Entry, Record};
use pharos::zone::name::from_text;

const ZONE: &str = "hist.test";

fn require_tools() {
    require_program("knotd", "knot");
    require_program("knotc", "knot");
}

fn pharos_only() -> bool {
    common::pharos_only("the IXFR history is pharos' own")
}

fn zone_text(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 600 86400 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\nold A 192.0.2.3\n{extra}"
    )
}

fn apex() -> Vec<u8> {
    from_text(ZONE).unwrap_or_else(|e| panic!("{e}"))
}

fn zones_dir(p: &Pharos) -> PathBuf {
    p.data_dir().join("zones")
}

fn history(p: &Pharos, from: u32, to: u32) -> Option<Vec<Entry>> {
    changes(&zones_dir(p), &apex(), from, to).unwrap_or_else(|e| panic!("reading the history: {e}"))
}

fn serial_of(p: &Pharos) -> Option<u32> {
    wire::udp_query(
        p.addr(),
        ZONE,
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_millis(500),
    )
    .ok()
    .filter(|r| r.rcode == 0 && r.aa())
    .and_then(|r| soa_serial(&r))
}

fn wait_serial(p: &Pharos, serial: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while serial_of(p) != Some(serial) {
        assert!(
            Instant::now() < deadline,
            "pharos did not serve serial {serial} within {limit:?} (serves {:?})\n{}",
            serial_of(p),
            p.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn start_secondary(knot: &KnotPrimary) -> Pharos {
    let toml = format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\n",
        toml_str(ZONE),
        toml_str(&knot.addr_str())
    );
    Pharos::start(PharosOpts {
        extra_toml: toml,
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        ..Default::default()
    })
}

fn a_record(owner: &str, last: u8) -> Record {
    Record {
        owner: from_text(owner).unwrap_or_else(|e| panic!("{e}")),
        rtype: wire::TYPE_A,
        ttl: 300,
        rdata: vec![192, 0, 2, last],
    }
}

fn assert_chain(chain: &[Entry], from: u32, to: u32) {
    assert_eq!(chain.first().map(|e| e.from), Some(from));
    assert_eq!(chain.last().map(|e| e.to), Some(to));
    assert!(chain.windows(2).all(|w| w[0].to == w[1].from), "a chain");
    for e in chain {
        assert!(
            e.soa
                .rdata
                .ends_with(&[0, 0, 0x0e, 0x10, 0, 0, 2, 0x58, 0, 1, 0x51, 0x80, 0, 0, 0, 60])
        );
        assert_eq!(
            &e.from_soa.rdata[e.from_soa.rdata.len() - 20..][..4],
            e.from.to_be_bytes()
        );
        assert_eq!(&e.soa.rdata[e.soa.rdata.len() - 20..][..4], e.to.to_be_bytes());
    }
}

/// 20 IXFRs and one AXFR from Knot: each version is in the history (the
/// AXFR as its difference), read back after a restart and after `kill -9`.
#[test]
fn ixfr_and_axfr_versions_kept_across_restarts() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, ""));
    let mut p = start_secondary(&knot);
    knot.notify_to(p.port);
    for i in 1..=20u32 {
        knot.add_record(&format!("h{i}"), 300, "A", &format!("192.0.2.{}", 100 + i));
        wait_serial(&p, i + 1, Duration::from_secs(10));
    }
    // The log writer is non-blocking: the last line may land a moment
    // after the serial is served.
    let ixfr_lines = |p: &Pharos| {
        p.log()
            .lines()
            .filter(|l| l.contains("new version served") && l.contains("kind=\"ixfr\""))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while ixfr_lines(&p) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ixfr_lines(&p), 20, "20 IXFRs\n{}", p.log_tail(30));

    // One AXFR: Knot rebuilt from a new file without its journal answers
    // IXFR with the whole zone. `old` removed, `new` added, `www` changed.
    let added: String = (1..=20u32).map(|i| format!("h{i} A 192.0.2.{}\n", 100 + i)).collect();
    let text = zone_text(22, &format!("{added}new A 192.0.2.50\n"))
        .replace("old A 192.0.2.3\n", "")
        .replace("www A 192.0.2.2", "www A 192.0.2.9");
    knot.replace_zone_and_forget_history(&text);
    let notified = send_notify(IpAddr::V4(Ipv4Addr::LOCALHOST), p.addr(), ZONE, Duration::from_secs(2));
    assert!(notified.is_ok(), "NOTIFY to pharos: {notified:?}");
    wait_serial(&p, 22, Duration::from_secs(10));
    assert!(
        p.log()
            .lines()
            .any(|l| l.contains("serial=22 ") && l.contains("kind=\"axfr\"")),
        "serial 22 should come by AXFR\n{}",
        p.log_tail(20)
    );

    let check = |p: &Pharos, when: &str| {
        let chain = history(p, 1, 22).unwrap_or_else(|| panic!("{when}: no history from 1 to 22\n{}", p.log_tail(20)));
        assert_eq!(chain.len(), 21, "{when}: 20 IXFRs and the AXFR");
        assert_chain(&chain, 1, 22);
        for (i, e) in chain[..20].iter().enumerate() {
            let n = i as u8 + 1;
            assert_eq!(
                e.added,
                [a_record(&format!("h{n}.{ZONE}"), 100 + n)],
                "{when}: entry {i}"
            );
            assert!(e.removed.is_empty());
            assert_eq!(e.meta.source, "ixfr");
        }
        let axfr = &chain[20];
        assert_eq!(axfr.meta.source, "axfr");
        let mut removed = axfr.removed.clone();
        removed.sort_by(|a, b| a.owner.cmp(&b.owner));
        assert_eq!(
            removed,
            [a_record(&format!("old.{ZONE}"), 3), a_record(&format!("www.{ZONE}"), 2)]
        );
        let mut added = axfr.added.clone();
        added.sort_by(|a, b| a.owner.cmp(&b.owner));
        assert_eq!(
            added,
            [
                a_record(&format!("new.{ZONE}"), 50),
                a_record(&format!("www.{ZONE}"), 9)
            ]
        );
        assert_eq!(history(p, 21, 22).map(|c| c.len()), Some(1), "{when}: one behind");
        assert_eq!(history(p, 22, 22), Some(Vec::new()), "{when}: current");
        assert_eq!(history(p, 77, 22), None, "{when}: unknown serial");
    };
    check(&p, "before the restart");

    knot.stop();
    p.signal(15); // SIGTERM: a clean stop
    assert!(
        p.wait_exit(Duration::from_secs(10)).is_some(),
        "pharos did not stop on SIGTERM"
    );
    p.restart(Some(ZONE));
    assert_eq!(serial_of(&p), Some(22));
    check(&p, "after a restart");
    p.kill9();
    p.restart(Some(ZONE));
    assert_eq!(serial_of(&p), Some(22));
    check(&p, "after kill -9");
}

/// 200 changes with the default depth (100): the history holds the last
/// 100 and no more; `kill -9` while the changes come leaves a journal that
/// serves the last version served.
#[test]
fn history_bounded_after_200_changes_and_kill_9() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, ""));
    let mut p = start_secondary(&knot);
    knot.notify_to(p.port);
    let journal = pharos::zone::journal::path_in(&zones_dir(&p), &apex());
    let mut largest = 0;
    for i in 1..=200u32 {
        knot.add_record(&format!("h{i}"), 300, "A", &format!("192.0.2.{}", i % 250));
        if i % 50 == 25 {
            // Killed while the change is being transferred and appended (or
            // just after): the restart serves what was served, or newer.
            let before = serial_of(&p).unwrap_or(0);
            p.kill9();
            p.restart(Some(ZONE));
            let after = serial_of(&p).unwrap_or(0);
            assert!(
                after >= before,
                "kill -9 at change {i}: served {before}, then {after} after the restart"
            );
            let _ = send_notify(IpAddr::V4(Ipv4Addr::LOCALHOST), p.addr(), ZONE, Duration::from_secs(2));
        }
        wait_serial(&p, i + 1, Duration::from_secs(10));
        largest = largest.max(std::fs::metadata(&journal).map_or(0, |m| m.len()));
    }
    let kept: Vec<u32> = (1..=201u32).filter(|&s| history(&p, s, 201).is_some()).collect();
    assert_eq!(kept.len(), 100 + 1, "100 entries and the current serial: {kept:?}");
    assert_eq!(kept.first(), Some(&101));
    let chain = history(&p, 101, 201).unwrap_or_else(|| panic!("the last 100"));
    assert_eq!(chain.len(), 100, "one IXFR per change");
    assert_chain(&chain, 101, 201);
    assert_eq!(chain[99].added, [a_record(&format!("h200.{ZONE}"), 200)]);
    let size = std::fs::metadata(&journal).map_or(0, |m| m.len());
    eprintln!("journal after 200 changes: {size} bytes (largest seen {largest}) for 100 entries");
    assert!(largest < 100 * 400, "100 entries of one record: {largest} bytes");
    assert_eq!(p.log().matches("transfer rejected").count(), 0, "{}", p.log_tail(30));
}

/// A file zone: a reload (SIGHUP) that adds and removes records is diffed
/// into the history; a restart keeps it; an edit that keeps the serial
/// starts it afresh.
#[test]
fn file_zone_reloads_are_diffed() {
    if !pharos_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("hist.zone");
    std::fs::write(&file, zone_text(1, "")).unwrap_or_else(|e| panic!("{e}"));
    let mut p = Pharos::start(PharosOpts {
        zones: vec![Zone::new(ZONE, &file)],
        ipv6: false,
        ..Default::default()
    });
    assert_eq!(history(&p, 1, 1), Some(Vec::new()));
    let edit = |text: String, serial: u32, p: &Pharos| {
        // The reload looks at the file's mtime: make sure it moves.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        p.signal(1);
        wait_serial(p, serial, Duration::from_secs(10));
    };
    edit(
        zone_text(2, "new A 192.0.2.50\n").replace("old A 192.0.2.3\n", ""),
        2,
        &p,
    );
    edit(
        zone_text(3, "new A 192.0.2.50\nnewer A 192.0.2.51\n").replace("old A 192.0.2.3\n", ""),
        3,
        &p,
    );
    let chain = history(&p, 1, 3).unwrap_or_else(|| panic!("no history of the reloads\n{}", p.log_tail(20)));
    assert_chain(&chain, 1, 3);
    assert_eq!(chain[0].removed, [a_record(&format!("old.{ZONE}"), 3)]);
    assert_eq!(chain[0].added, [a_record(&format!("new.{ZONE}"), 50)]);
    assert_eq!(chain[1].added, [a_record(&format!("newer.{ZONE}"), 51)]);
    assert_eq!(chain[1].meta.source, "file");

    // A restart with the same file keeps the history.
    p.signal(15);
    assert!(
        p.wait_exit(Duration::from_secs(10)).is_some(),
        "pharos did not stop on SIGTERM"
    );
    p.restart(Some(ZONE));
    assert_eq!(history(&p, 1, 3).map(|c| c.len()), Some(2), "kept across the restart");

    // Same serial, other contents: the history starts afresh.
    edit(zone_text(3, "new A 192.0.2.50\n"), 3, &p);
    let deadline = Instant::now() + Duration::from_secs(10);
    while history(&p, 2, 3).is_some() {
        assert!(Instant::now() < deadline, "history not reset\n{}", p.log_tail(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    edit(zone_text(4, "new A 192.0.2.50\n"), 4, &p);
    assert_eq!(history(&p, 3, 4).map(|c| c.len()), Some(1));
    assert_eq!(history(&p, 1, 4), None);

    // Edited while the node is down, serial kept: afresh at the restart.
    p.signal(15);
    assert!(
        p.wait_exit(Duration::from_secs(10)).is_some(),
        "pharos did not stop on SIGTERM"
    );
    std::fs::write(&file, zone_text(4, "new A 192.0.2.51\n")).unwrap_or_else(|e| panic!("{e}"));
    p.restart(Some(ZONE));
    assert_eq!(
        history(&p, 3, 4),
        None,
        "same serial, other contents than the history's last version"
    );
}

/// `ixfr-history-depth` from the config: 2 keeps the last two reloads, 0
/// keeps no history at all.
#[test]
fn history_depth_from_the_config() {
    if !pharos_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("hist.zone");
    let other = dir.path().join("none.zone");
    let none_text = |serial: u32| {
        format!(
            "$ORIGIN none.test.\n@ 300 SOA ns1 host {serial} 3600 600 86400 60\n@ 300 NS ns1\nns1 300 A 192.0.2.1\nh{serial} 300 A 192.0.2.9\n"
        )
    };
    std::fs::write(&file, zone_text(1, "")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&other, none_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let toml = format!(
        "[[zone]]\nname = {}\nfile = {}\nixfr-history-depth = 2\n\n[[zone]]\nname = \"none.test\"\nfile = {}\nixfr-history-depth = 0\n",
        toml_str(ZONE),
        toml_str(&file.to_string_lossy()),
        toml_str(&other.to_string_lossy())
    );
    let p = Pharos::start(PharosOpts {
        extra_toml: toml,
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        ..Default::default()
    });
    for serial in 2..=5u32 {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, zone_text(serial, &format!("h{serial} A 192.0.2.{serial}\n")))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&other, none_text(serial)).unwrap_or_else(|e| panic!("{e}"));
        p.signal(1);
        wait_serial(&p, serial, Duration::from_secs(10));
    }
    let kept: Vec<u32> = (1..=5u32).filter(|&s| history(&p, s, 5).is_some()).collect();
    assert_eq!(
        kept,
        [3, 4, 5],
        "the last two reloads and the current serial\n{}",
        p.log_tail(20)
    );
    let none = from_text("none.test").unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = wire::udp_query(
            p.addr(),
            "none.test",
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Duration::from_millis(500),
        );
        if r.ok().and_then(|r| soa_serial(&r)) == Some(5) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "none.test not at serial 5\n{}",
            p.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        changes(&zones_dir(&p), &none, 4, 5).unwrap_or_else(|e| panic!("{e}")),
        None
    );
    let journal = pharos::zone::journal::path_in(&zones_dir(&p), &none);
    assert!(!journal.exists(), "depth 0: no history file ({})", journal.display());
}

/// `ixfr-history-depth` lowered by a reload (SIGHUP, settings applied in
/// place) bounds a secondary's history from its next version on.
#[test]
fn history_depth_changed_by_a_reload() {
    require_tools();
    if !pharos_only() {
        return;
    }
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1, ""));
    let p = start_secondary(&knot);
    knot.notify_to(p.port);
    for i in 1..=3u32 {
        knot.add_record(&format!("h{i}"), 300, "A", &format!("192.0.2.{i}"));
        wait_serial(&p, i + 1, Duration::from_secs(10));
    }
    assert_eq!(history(&p, 1, 4).map(|c| c.len()), Some(3));
    let config = std::fs::read_to_string(&p.config).unwrap_or_else(|e| panic!("{e}"));
    let primaries = format!("primaries = [{}]\n", toml_str(&knot.addr_str()));
    assert!(config.contains(&primaries), "{config}");
    let lowered = config.replace(&primaries, &format!("{primaries}ixfr-history-depth = 1\n"));
    std::fs::write(&p.config, lowered).unwrap_or_else(|e| panic!("{e}"));
    let from = p.log().len();
    p.signal(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.log()[from..].contains("SIGHUP: configuration applied") {
        assert!(Instant::now() < deadline, "SIGHUP not applied\n{}", p.log_tail(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    knot.add_record("h4", 300, "A", "192.0.2.4");
    wait_serial(&p, 5, Duration::from_secs(10));
    // The entries a replay needs stay until the new snapshot is written,
    // just after the version is served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kept: Vec<u32> = (1..=5u32).filter(|&s| history(&p, s, 5).is_some()).collect();
        if kept == [4, 5] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "depth 1 after the reload: {kept:?}\n{}",
            p.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
