//! SIGHUP re-reads the config: zones added, removed and changed are applied
//! while a query loop keeps running and sees no failure; a broken file is
//! refused, logged, and the running configuration kept.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Pharos, PharosOpts, Zone, wire};

fn zone_file(dir: &std::path::Path, name: &str, serial: u32) -> Zone {
    let path = dir.join(format!("{name}.zone"));
    std::fs::write(
        &path,
        format!("$ORIGIN {name}.\n@ 300 SOA ns1 host {serial} 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n"),
    )
    .unwrap();
    Zone::new(name, &path)
}

fn zone_toml(z: &Zone) -> String {
    format!("\n[[zone]]\nname = \"{}\"\nfile = \"{}\"\n", z.name, z.file.display())
}

/// (rcode, serial) of the zone's SOA.
fn soa(p: &Pharos, zone: &str) -> (u8, Option<u32>) {
    match p.query(zone, wire::TYPE_SOA) {
        Ok(r) => (r.rcode, r.answers.iter().find_map(|rr| soa_serial(&rr.rdata))),
        Err(_) => (255, None),
    }
}

fn wait_for(p: &Pharos, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "{what} within 5 s\n{}", p.log_tail(30));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_applies_zone_changes_and_refuses_a_broken_file() {
    let zones = tempfile::tempdir().unwrap();
    let a = zone_file(zones.path(), "a.reload.test", 1);
    let b = zone_file(zones.path(), "b.reload.test", 7);
    let p = Pharos::start(PharosOpts {
        zones: vec![a.clone()],
        ipv6: false,
        ready_zone: Some("a.reload.test".into()),
        // The query loop asks one name 500 times a second from one address:
        // over the default rate limit (tests/rrl.rs tests that).
        dns_extra: "\n[dns.rrl]\nresponses-per-second = 0\n".into(),
        ..Default::default()
    });
    let original = std::fs::read_to_string(&p.config).unwrap();

    // A query loop through every reload: each answer must be NOERROR.
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let addr = p.addr();
    let looper = {
        let (stop, asked, failed) = (stop.clone(), asked.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                asked.fetch_add(1, Ordering::Relaxed);
                let ok = wire::udp_query(
                    addr,
                    "a.reload.test",
                    wire::TYPE_SOA,
                    wire::CLASS_IN,
                    Duration::from_secs(1),
                )
                .is_ok_and(|r| r.rcode == 0);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    // Zone b added to the file: served after SIGHUP.
    assert_eq!(soa(&p, "b.reload.test").0, 5, "b is not served yet: REFUSED");
    std::fs::write(&p.config, format!("{original}{}", zone_toml(&b))).unwrap();
    p.signal(libc_sighup());
    wait_for(&p, "b.reload.test served after SIGHUP", || {
        soa(&p, "b.reload.test") == (0, Some(7))
    });
    std::thread::sleep(Duration::from_millis(300));

    // A broken file: refused, logged, the running config kept.
    let log_before = p.log().len();
    std::fs::write(&p.config, format!("{original}\n[[zone]]\nname = 5\n")).unwrap();
    p.signal(libc_sighup());
    wait_for(&p, "the refusal logged", || {
        p.log()[log_before..].contains("invalid; keeping the running one")
    });
    assert!(
        p.log()[log_before..].contains("zone"),
        "the log names the key:\n{}",
        p.log_tail(10)
    );
    assert_eq!(soa(&p, "a.reload.test"), (0, Some(1)));
    assert_eq!(soa(&p, "b.reload.test"), (0, Some(7)));
    std::thread::sleep(Duration::from_millis(300));

    // a's file edited (new serial), b removed from the config.
    let a2 = zone_file(zones.path(), "a.reload.test", 2);
    std::fs::write(&p.config, &original).unwrap();
    p.signal(libc_sighup());
    wait_for(&p, "b.reload.test REFUSED after its removal", || {
        soa(&p, "b.reload.test").0 == 5
    });
    wait_for(&p, "a.reload.test at serial 2", || {
        soa(&p, "a.reload.test") == (0, Some(2))
    });
    drop(a2);
    std::thread::sleep(Duration::from_millis(300));

    stop.store(true, Ordering::Relaxed);
    looper.join().unwrap();
    let (n, bad) = (asked.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(n > 50, "the query loop ran only {n} queries");
    assert_eq!(
        bad,
        0,
        "{bad} of {n} queries failed during the reloads\n{}",
        p.log_tail(30)
    );
}

/// The serial in SOA rdata (names possibly compressed).
fn soa_serial(rd: &[u8]) -> Option<u32> {
    let mut pos = 0;
    for _ in 0..2 {
        loop {
            let len = *rd.get(pos)? as usize;
            if len == 0 {
                pos += 1;
                break;
            }
            if len >= 0xc0 {
                pos += 2;
                break;
            }
            pos += 1 + len;
        }
    }
    Some(u32::from_be_bytes(rd.get(pos..pos + 4)?.try_into().ok()?))
}

fn libc_sighup() -> i32 {
    1 // SIGHUP on Linux
}
