//! `notify-source`: a secondary zone's SOA queries and transfers in go from
//! that address, so that an anycast node never talks to its primaries from
//! its anycast address (issue 11, item 1).
//!
//! A real Knot primary allows transfers only from 127.0.0.2 (its `acl`):
//! pharos with `notify-source = "127.0.0.2"` gets the zone; pharos without
//! it talks from 127.0.0.1, which Knot refuses (NOTAUTH), and the zone is
//! never served.
//!
//! The same through a SIGHUP: adding `notify-source` to a zone's settings
//! (and to a `[[template]]` that a zone added through the API names)
//! applies it in place, without reloading or re-adding the zone; the API
//! zone's template is kept in api-zones.json, across a restart.
//!
//! Needs knotd/knotc (Debian package `knot`); everything runs on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{
    KnotPrimary, KnotPrimaryOpts, MgmtNode, Pharos, PharosOpts, pharos_cmd, pharos_only, soa_serial, toml_str, wire,
};

const ZONE: &str = "src.test";
const API_ZONE: &str = "api.src.test";

fn text_of(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 2 2 600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// A Knot primary of `zone` that lets only 127.0.0.2 transfer it.
fn knot_for_127_0_0_2(zone: &str, serial: u32) -> KnotPrimary {
    let mut opts = KnotPrimaryOpts::new(zone, &text_of(zone, serial));
    opts.transfer_from = "127.0.0.2".into();
    KnotPrimary::start_with(opts)
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
    served_zone(p, ZONE)
}

fn served_zone(p: &Pharos, zone: &str) -> Option<u32> {
    let r = wire::udp_query(
        p.addr(),
        zone,
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
    let knot = knot_for_127_0_0_2(ZONE, 7);
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

/// Whether the log has a "transfer rejected ... NOTAUTH" line for `zone`.
fn refused(p: &Pharos, zone: &str) -> bool {
    p.log()
        .lines()
        .any(|l| l.contains("transfer rejected") && l.contains("NOTAUTH") && l.contains(&format!("zone={zone}.")))
}

#[test]
fn sighup_applies_notify_source_to_config_and_api_zones() {
    if !pharos_only("sighup_applies_notify_source_to_config_and_api_zones") {
        return;
    }
    let knot = knot_for_127_0_0_2(ZONE, 3);
    let knot_api = knot_for_127_0_0_2(API_ZONE, 5);
    let settings = |source: &str| {
        format!(
            "[[template]]\nname = \"hub\"\nprimaries = [{}]\n{source}\n\
             [[zone]]\nname = {}\nprimaries = [{}]\nallow-transfer = [\"10.8.0.0/24\"]\n{source}\n",
            toml_str(&knot_api.addr_str()),
            toml_str(ZONE),
            toml_str(&knot.addr_str()),
        )
    };
    let mut node = MgmtNode::start(PharosOpts {
        extra_toml: settings(""),
        ready_zone: None,
        ipv6: false,
        ..Default::default()
    });

    // An API zone that names the template; an unknown template is refused,
    // naming it.
    let r = node.call(
        "POST",
        "/zones",
        Some(&format!(r#"{{"name": "{API_ZONE}", "template": "hub"}}"#)),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = node.call("POST", "/zones", Some(r#"{"name": "other.test", "template": "hbu"}"#));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.error().contains("no [[template]] named \"hbu\""), "{}", r.body);
    // The command line too.
    let config_arg = node.pharos.config.display().to_string();
    let out = pharos_cmd(&[
        "zone",
        "add",
        "cli.src.test",
        "--template",
        "hub",
        "--config",
        &config_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("primaries of template hub"), "{stdout}");
    let listed = std::fs::read_to_string(node.pharos.data_dir().join("api-zones.json")).unwrap_or_default();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap_or_else(|e| panic!("{e}: {listed}"));
    assert_eq!(listed["zones"][0]["template"], "hub", "{listed}");
    assert_eq!(listed["zones"][0]["primaries"], serde_json::json!([]), "{listed}");
    assert_eq!(listed["zones"][1]["name"], "cli.src.test", "{listed}");
    assert_eq!(listed["zones"][1]["template"], "hub", "{listed}");

    // Both go from 127.0.0.1: refused.
    let p = &node.pharos;
    let both = poll(Duration::from_secs(15), || refused(p, ZONE) && refused(p, API_ZONE));
    assert!(both, "both zones should be refused by Knot first\n{}", p.log_tail(30));
    assert_eq!((served_zone(p, ZONE), served_zone(p, API_ZONE)), (None, None));

    // notify-source added to the zone and to the template: SIGHUP applies
    // it in place (no reload of the zone), and both zones load.
    let before = p.log().len();
    let config = std::fs::read_to_string(&p.config).unwrap_or_default();
    let edited = config.replace(&settings(""), &settings("notify-source = \"127.0.0.2\""));
    assert_ne!(config, edited, "the test's settings are not in the config file");
    std::fs::write(&p.config, edited).unwrap_or_else(|e| panic!("{e}"));
    p.signal(1); // SIGHUP
    let loaded = poll(Duration::from_secs(20), || {
        served_zone(p, ZONE) == Some(3) && served_zone(p, API_ZONE) == Some(5)
    });
    assert!(
        loaded,
        "zones not loaded after SIGHUP added notify-source\n{}",
        p.log_tail(40)
    );
    let log = p.log();
    let after = log.get(before..).unwrap_or_default();
    assert!(
        after
            .lines()
            .any(|l| l.contains("zone settings applied (no reload, no transfer)") && l.contains(ZONE)),
        "the config zone was not updated in place:\n{after}"
    );
    assert!(
        after
            .lines()
            .any(|l| l.contains("settings of zone added through the API applied") && l.contains(API_ZONE)),
        "the API zone was not updated in place:\n{after}"
    );
    assert!(!after.contains("SIGHUP: zone updated"), "a zone was re-added:\n{after}");

    // After a restart the API zone still names its template (and is
    // served; the template's notify-source applies to its refreshes).
    node.pharos.restart(None);
    let p = &node.pharos;
    let back = poll(Duration::from_secs(15), || served_zone(p, API_ZONE) == Some(5));
    assert!(back, "the API zone is not served after a restart\n{}", p.log_tail(30));
    let v = node.get(&format!("/zones/{API_ZONE}"));
    assert_eq!(v.status, 200, "{}", v.body);
    let knot_log = knot_api.log();
    assert!(
        knot_log
            .lines()
            .any(|l| l.contains("remote 127.0.0.2@") && l.contains("AXFR")),
        "{knot_log}"
    );
}
