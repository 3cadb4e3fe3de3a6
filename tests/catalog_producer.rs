//! The producer catalog on a hub (issue 12 item 4) against real consumers:
//! pharos writes `cat.test` (`catalog = "producer"`) from its member zones,
//! Knot 3.2 (`catalog-role: interpret`) and BIND 9.18 (`catalog-zones`)
//! consume it over AXFR/IXFR with NOTIFY and serve every member, following
//! an addition and a removal by SIGHUP and by the management API; the
//! catalog's serial rises and Knot fetches the changes by IXFR.
//!
//! * `knot_and_bind_consume_the_catalog`: the interop proof;
//! * `labels_stable_across_restart_and_hubs`: the member labels (and the
//!   whole member set) are the same after a restart and on a second pharos
//!   with the same zones, and the serial does not change when the members
//!   did not;
//! * `api_member_kept_across_restart`: a member added through the API
//!   (its `catalog` from a template, persisted in api-zones.json) is still
//!   listed after a restart, and gone from the catalog as soon as DELETE
//!   returns.
//!
//! Needs knotd/knotc (`knot`), kdig (`knot-dnsutils`) and named (`bind9`).
//! Everything runs on loopback ports, as the test's user.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, MgmtNode, Pharos, PharosOpts, Secondary, SecondaryKind, SecondaryOpts, SecondaryZone, canonical_axfr,
    free_port, pharos_only, toml_str,
};

const CAT: &str = "cat.test";
const WAIT: Duration = Duration::from_secs(30);

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// A file zone of the hub, a member of `cat.test` (with a group when given).
fn member_toml(dir: &Path, zone: &str, group: Option<&str>) -> String {
    let file = dir.join(format!("{zone}.zone"));
    fs::write(&file, zone_text(zone, 1)).expect("cannot write zone file");
    let mut t = format!(
        "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.0/8\"]\ncatalog = {}\n",
        toml_str(zone),
        toml_str(&file.to_string_lossy()),
        toml_str(CAT)
    );
    if let Some(g) = group {
        t.push_str(&format!("catalog-group = {}\n", toml_str(g)));
    }
    t
}

fn producer_toml(notify: &[u16]) -> String {
    let targets: Vec<String> = notify.iter().map(|p| toml_str(&format!("127.0.0.1:{p}"))).collect();
    format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\n\
         notify = [{}]\nnotify-source = \"127.0.0.1\"\n",
        toml_str(CAT),
        targets.join(", ")
    )
}

fn opts(port: u16, toml: String) -> PharosOpts {
    PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: Some(CAT.to_string()),
        extra_toml: toml,
        ..Default::default()
    }
}

fn wait(what: &str, cond: impl Fn() -> bool, log: impl Fn() -> String) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}\n--- log ---\n{}", log());
}

/// The catalog's records other than its SOA (canonical, sorted).
fn members_of(hub: &Pharos) -> Vec<String> {
    let mut recs: Vec<String> = canonical_axfr(hub.addr(), CAT, None)
        .into_iter()
        .filter(|r| !r.contains(" SOA "))
        .collect();
    recs.sort();
    recs.dedup();
    recs
}

fn serial_of(hub: &Pharos) -> u32 {
    let r = hub.query(CAT, 6).expect("SOA query to the hub");
    common::soa_serial(&r).expect("the hub serves the catalog's SOA")
}

#[test]
fn knot_and_bind_consume_the_catalog() {
    if !pharos_only("knot_and_bind_consume_the_catalog") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, knot_port, bind_port) = (free_port(false), free_port(false), free_port(false));
    let base = format!(
        "[[template]]\nname = \"members\"\nallow-transfer = [\"127.0.0.0/8\"]\n{}{}{}",
        producer_toml(&[knot_port, bind_port]),
        member_toml(dir.path(), "a.test", Some("gold")),
        member_toml(dir.path(), "b.test", None)
    );
    let hub = MgmtNode::start(opts(hub_port, base.clone()));
    let p = &hub.pharos;
    let first = serial_of(p);
    let recs = members_of(p);
    assert!(
        recs.iter()
            .any(|r| r.contains(" TXT \"2\"") && r.starts_with("version.cat.test.")),
        "{recs:#?}"
    );
    assert!(
        recs.iter().any(|r| r.starts_with("cat.test. 0 IN NS invalid.")),
        "{recs:#?}"
    );
    assert_eq!(recs.iter().filter(|r| r.contains(" PTR ")).count(), 2, "{recs:#?}");
    assert!(
        recs.iter()
            .any(|r| r.starts_with("group.") && r.ends_with("TXT \"gold\"")),
        "{recs:#?}"
    );

    let consumer = |kind, port| {
        let mut o = SecondaryOpts::new(kind, Vec::new());
        o.port = port;
        o.catalogs = vec![SecondaryZone::new(CAT, p.addr(), None)];
        Secondary::start(o)
    };
    let knot = consumer(SecondaryKind::Knot, knot_port);
    let bind = consumer(SecondaryKind::Bind, bind_port);
    let nodes = [("knot", &knot), ("bind", &bind)];
    let serves = |s: &Secondary, zone: &str| s.serial(zone).is_some();
    let log = |s: &Secondary| format!("{}\n--- hub ---\n{}", common::tail(&s.log(), 60), p.log_tail(40));
    for (name, s) in nodes {
        for zone in ["a.test", "b.test"] {
            wait(&format!("{name} to serve member {zone}"), || serves(s, zone), || log(s));
        }
    }

    // A member added to the config, then SIGHUP.
    let with_c = format!("{base}{}", member_toml(dir.path(), "c.test", None));
    let original = fs::read_to_string(&p.config).expect("hub config");
    fs::write(&p.config, original.replace(&base, &with_c)).expect("rewrite the hub config");
    p.signal(libc::SIGHUP);
    for (name, s) in nodes {
        wait(
            &format!("{name} to serve c.test (SIGHUP)"),
            || serves(s, "c.test"),
            || log(s),
        );
    }
    let second = serial_of(p);
    assert!((second.wrapping_sub(first) as i32) > 0, "serial {first} -> {second}");

    // A member added through the API: a secondary of a Knot primary.
    let upstream = KnotPrimary::start("d.test", &zone_text("d.test", 7));
    let body = format!(
        "{{\"name\": \"d.test\", \"primaries\": [\"{}\"], \"template\": \"members\", \
         \"catalog\": \"{CAT}\", \"catalog-group\": \"silver\"}}",
        upstream.addr()
    );
    let r = hub.call("POST", "/zones", Some(&body));
    assert!(r.status / 100 == 2, "POST /zones: {} {}", r.status, r.body);
    wait(
        "the catalog to list d.test",
        || members_of(p).iter().any(|r| r.ends_with("PTR d.test.")),
        || p.log_tail(40),
    );
    assert!(members_of(p).iter().any(|r| r.ends_with("TXT \"silver\"")));
    for (name, s) in nodes {
        wait(
            &format!("{name} to serve d.test (API)"),
            || s.serial("d.test") == Some(7),
            || log(s),
        );
    }
    let third = serial_of(p);
    assert!((third.wrapping_sub(second) as i32) > 0, "serial {second} -> {third}");

    // Removed through the API: gone from the catalog, and from Knot and BIND.
    let r = hub.call("DELETE", "/zones/d.test", None);
    assert!(r.status / 100 == 2, "DELETE: {} {}", r.status, r.body);
    wait(
        "the catalog to drop d.test",
        || !members_of(p).iter().any(|r| r.ends_with("PTR d.test.")),
        || p.log_tail(40),
    );
    for (name, s) in nodes {
        wait(
            &format!("{name} to drop d.test (API)"),
            || !serves(s, "d.test"),
            || log(s),
        );
    }

    // A member removed from the config, then SIGHUP.
    let without_b = with_c.replace(&member_toml(dir.path(), "b.test", None), "");
    fs::write(&p.config, original.replace(&base, &without_b)).expect("rewrite the hub config");
    p.signal(libc::SIGHUP);
    for (name, s) in nodes {
        wait(
            &format!("{name} to drop b.test (SIGHUP)"),
            || !serves(s, "b.test"),
            || log(s),
        );
        assert!(serves(s, "a.test") && serves(s, "c.test"), "{name} lost a member");
    }
    let last = serial_of(p);
    assert!((last.wrapping_sub(third) as i32) > 0, "serial {third} -> {last}");
    // Knot's SOA answer for the catalog it interprets did not show the new
    // serial in this rig; its log tells the serial it has.
    let knot_has = || {
        knot.log()
            .contains(&format!("[{CAT}.] refresh, remote {}, zone updated", p.addr()).replace(":", "@"))
            && knot.log().contains(&format!(" -> {last}"))
    };
    wait(&format!("knot to have catalog serial {last}"), knot_has, || log(&knot));
    wait(
        &format!("bind to have catalog serial {last}"),
        || bind.serial(CAT) == Some(last),
        || log(&bind),
    );
    // Knot followed the catalog by IXFR (the hub's history of versions).
    let ixfr = knot.log().matches(&format!("[{CAT}.] IXFR, incoming")).count();
    assert!(
        ixfr >= 2,
        "Knot fetched the catalog changes by IXFR {ixfr} times:\n{}",
        knot.log()
    );
}

#[test]
fn labels_stable_across_restart_and_hubs() {
    if !pharos_only("labels_stable_across_restart_and_hubs") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        "{}{}{}",
        producer_toml(&[]),
        member_toml(dir.path(), "one.test", Some("gold")),
        member_toml(dir.path(), "two.test", None)
    );
    let mut a = Pharos::start(opts(free_port(false), toml.clone()));
    let b = Pharos::start(opts(free_port(false), toml));
    let (recs_a, serial_a) = (members_of(&a), serial_of(&a));
    assert_eq!(recs_a.iter().filter(|r| r.contains(" PTR ")).count(), 2, "{recs_a:#?}");
    assert_eq!(
        recs_a,
        members_of(&b),
        "two hubs with the same zones write the same members"
    );
    a.restart(Some(CAT));
    assert_eq!(members_of(&a), recs_a, "the same labels after a restart");
    assert_eq!(serial_of(&a), serial_a, "no change, no new serial");
}

#[test]
fn api_member_kept_across_restart() {
    if !pharos_only("api_member_kept_across_restart") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        "[[template]]\nname = \"members\"\ncatalog = {}\n{}{}",
        toml_str(CAT),
        producer_toml(&[]),
        member_toml(dir.path(), "one.test", None)
    );
    let mut hub = MgmtNode::start(opts(free_port(false), toml));
    let upstream = KnotPrimary::start("api.test", &zone_text("api.test", 3));
    // The catalog comes from the template; a bad group is refused.
    let body = |name: &str, group: &str| {
        format!(
            "{{\"name\": \"{name}\", \"primaries\": [\"{}\"], \"template\": \"members\", \"catalog-group\": {}}}",
            upstream.addr(),
            toml_str(group)
        )
    };
    let r = hub.call("POST", "/zones", Some(&body("api.test", "")));
    assert!(r.status / 100 == 2, "POST /zones: {} {}", r.status, r.body);
    let listed = |p: &Pharos| members_of(p).iter().any(|r| r.ends_with("PTR api.test."));
    wait(
        "the catalog to list api.test",
        || listed(&hub.pharos),
        || hub.pharos.log_tail(40),
    );
    let r = hub.call("POST", "/zones", Some(&body("bad.test", "x\u{7}")));
    assert_eq!(
        r.status / 100,
        4,
        "a control character in a group: {} {}",
        r.status,
        r.body
    );
    let (recs, serial) = (members_of(&hub.pharos), serial_of(&hub.pharos));
    hub.pharos.restart(Some(CAT));
    assert_eq!(
        members_of(&hub.pharos),
        recs,
        "the API member is listed after a restart"
    );
    assert_eq!(serial_of(&hub.pharos), serial, "no change, no new serial");
    let r = hub.call("DELETE", "/zones/api.test", None);
    assert!(r.status / 100 == 2, "DELETE: {} {}", r.status, r.body);
    assert!(!listed(&hub.pharos), "removed from the catalog when the call returns");
    assert!((serial_of(&hub.pharos).wrapping_sub(serial) as i32) > 0);
}
