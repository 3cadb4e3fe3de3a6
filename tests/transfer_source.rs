//! `notify-source`: a secondary zone's SOA queries and transfers in go from
//! that address, so that an anycast node never talks to its primaries from
//! its anycast address (issue 11, item 1).
//!
//! A real Knot primary allows transfers only from 127.0.0.2 (its `acl`):
//! pharos with `notify-source = "127.0.0.2"` gets the zone; pharos without
//! it talks from 127.0.0.1, which Knot refuses (NOTAUTH), and the zone is
//! never served.
//!
//! Needs knotd/knotc (Debian package `knot`); everything runs on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{KnotPrimary, KnotPrimaryOpts, Pharos, PharosOpts, pharos_only, soa_serial, toml_str, wire};

const ZONE: &str = "src.test";

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 2 2 600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

fn start_pharos(primary: &str, extra: &str) -> Pharos {
    Pharos::start(PharosOpts {
        extra_toml: format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n{extra}\n",
            toml_str(ZONE),
            toml_str(primary)
        ),
        ready_zone: None,
        ipv6: false,
        ..Default::default()
    })
}

/// The serial pharos serves for the zone (authoritative NOERROR), if any.
fn served(p: &Pharos) -> Option<u32> {
    let r = wire::udp_query(
        p.addr(),
        ZONE,
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_millis(500),
    )
    .ok()?;
    soa_serial(&r).filter(|_| r.rcode == 0 && r.aa())
}

/// Polls `f` every 20 ms for up to `limit`.
fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn transfers_in_go_from_notify_source() {
    if !pharos_only("transfers_in_go_from_notify_source") {
        return;
    }
    let mut opts = KnotPrimaryOpts::new(ZONE, &zone_text(7));
    opts.transfer_from = "127.0.0.2".into();
    let knot = KnotPrimary::start_with(opts);
    let primary = knot.addr_str();

    // Without notify-source: from 127.0.0.1, refused by Knot's ACL (Knot
    // answers NOTAUTH and logs nothing).
    let plain = start_pharos(&primary, "");
    let denied = poll(Duration::from_secs(15), || {
        plain
            .log()
            .lines()
            .any(|l| l.contains("transfer rejected") && l.contains("NOTAUTH"))
    });
    assert!(
        denied,
        "pharos without notify-source was not refused\n--- knot log\n{}\n--- pharos log\n{}",
        knot.log(),
        plain.log_tail(30)
    );
    assert_eq!(
        served(&plain),
        None,
        "the zone must not be served from a refused transfer"
    );

    // With notify-source = 127.0.0.2: the SOA query and the transfer come
    // from there, and the zone is served.
    let sourced = start_pharos(&primary, "notify-source = \"127.0.0.2\"");
    let got = poll(Duration::from_secs(15), || served(&sourced) == Some(7));
    assert!(
        got,
        "pharos with notify-source did not get the zone\n--- knot log\n{}\n--- pharos log\n{}",
        knot.log(),
        sourced.log_tail(30)
    );
    let log = knot.log();
    assert!(
        log.lines()
            .any(|l| l.contains("remote 127.0.0.2@") && l.contains("AXFR") && !l.contains("denied")),
        "Knot's log shows no transfer to 127.0.0.2:\n{log}"
    );
    // The one without still has nothing.
    assert_eq!(served(&plain), None);
}
