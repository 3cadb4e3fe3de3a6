//! Interop, consumer (issue 12): a pharos node consumes catalogs served by
//! Knot DNS 3.2 ([`common::KnotCatalog`]), NOTIFY and IXFR from Knot.
//!
//! The node has three templates: `gold` (Knot's first address, signed
//! with `gold-key`: gold members in Knot's generated catalog allow only
//! signed transfers), `silver` (Knot's two addresses, the second one
//! first) and `plain`, the `member-template` (no primaries: the catalog
//! zone lends its own). A member's view (`GET /zones/NAME`: `primaries`,
//! `tsig-key`, `primary`) tells which template it got.
//!
//! * `knot_generated_catalog`: Knot writes the catalog (`catalog-role:
//!   generate`, `catalog-group`); members are served with their group's
//!   template (an unknown group: `member-template`); members added and
//!   removed on Knot (knotc config transactions) appear and are REFUSED;
//!   a member that Knot removes and adds again gets a new label from Knot
//!   (checked), and when the node sees both changes in one catalog update
//!   the member is reset: transferred afresh (Knot's log counts the
//!   transfer), metric `pharos_catalog_member_changes{change="reset"}`,
//!   log "catalog member reset". Knot 3.2 answers queries for a catalog
//!   it generates over TCP only (REFUSED over UDP): the node's SOA query
//!   asks again over TCP (`src/axfr/client.rs`), or it never follows.
//! * `hand_written_catalog_broken_versions_and_group_change`: a version 2
//!   catalog written by hand, served by Knot as a plain zone and changed by
//!   knotc zone transactions (Knot itself never writes a broken catalog): a
//!   member whose group changes gets the new template's settings and keeps
//!   its data (no transfer, served throughout); three broken versions (two
//!   `version` records, a member PTR RRset of two records, two members for
//!   one zone), each with a change that must not apply, change nothing
//!   (the catalog's view shows `error`, `pharos_catalog_broken` 1), and the
//!   good version after each applies.
//! * `version_1_catalog_served_by_knot`: a version 1 catalog (`version` TXT
//!   "1", no properties) written by hand: members served (a `group` record
//!   is not read in version 1), one added and one removed by IXFR.
//! * `coo_migrates_a_member_only_once_the_new_catalog_lists_it`: two
//!   hand-written catalogs; a zone listed by both is a conflict until the
//!   old one carries a `coo` naming the new one (RFC 9432 5.6), then it
//!   migrates with its data.
//!
//! Needs knotd/knotc (`knot`), kdig (`knot-dnsutils`) and python3's
//! prometheus-client (metrics parser). Loopback only (127.0.0.1 and
//! 127.0.0.2).

mod common;

use std::time::{Duration, Instant};

use common::{
    Edit, KnotCatalog, KnotCatalogOpts, KnotMember, MgmtNode, PharosOpts, PlainZone, free_port, member_text,
    parse_metrics, pharos_only, sample, toml_str,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The node's config: the key, the three templates, consumer catalog `cat`
/// following Knot.
fn node_toml(knot: &KnotCatalog, cat: &str) -> String {
    let (k1, k2) = (knot.addr_str(), knot.addr2_str());
    format!(
        "{key}\n[[template]]\nname = \"gold\"\nprimaries = [{k1q}]\ntsig-key = {kn}\n\n\
         [[template]]\nname = \"silver\"\nprimaries = [{k2q}, {k1q}]\n\n\
         [[template]]\nname = \"plain\"\nmax-zone-records = 10000\n\n\
         [[zone]]\nname = {cat}\nprimaries = [{k1q}]\ncatalog = \"consumer\"\nmember-template = \"plain\"\n",
        key = knot.key.pharos_toml(),
        k1q = toml_str(&k1),
        k2q = toml_str(&k2),
        kn = toml_str(&knot.key.name),
        cat = toml_str(cat),
    )
}

fn start_node(port: u16, knot: &KnotCatalog, cat: &str) -> MgmtNode {
    MgmtNode::start(PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: Some(cat.to_string()),
        extra_toml: node_toml(knot, cat),
        ..Default::default()
    })
}

fn logs(node: &MgmtNode, knot: &KnotCatalog) -> String {
    format!(
        "{}\n--- knot.log ---\n{}",
        node.pharos.log_tail(40),
        common::tail(&knot.log(), 20)
    )
}

fn wait(what: &str, mut cond: impl FnMut() -> bool, log: impl Fn() -> String) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}\n--- node log ---\n{}", log());
}

/// The rcode and SOA serial the node answers for `zone` (255: no answer).
fn soa(node: &MgmtNode, zone: &str) -> (u8, Option<u32>) {
    match node.pharos.query(zone, 6) {
        Ok(r) => (r.rcode, common::soa_serial(&r)),
        Err(_) => (255, None),
    }
}

fn serves(node: &MgmtNode, zone: &str) -> bool {
    soa(node, zone).1.is_some()
}

fn refused(node: &MgmtNode, zone: &str) -> bool {
    soa(node, zone).0 == 5
}

/// `zone` is served (`served`) or REFUSED (`!served`) all through the
/// next half second: a change that must not happen had time to show.
fn stays(node: &MgmtNode, zone: &str, served: bool) -> bool {
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if (served && !serves(node, zone)) || (!served && !refused(node, zone)) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn view(node: &MgmtNode, zone: &str) -> Value {
    let r = node.call("GET", &format!("/zones/{zone}"), None);
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn metric(node: &MgmtNode, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = node.call("GET", "/metrics", None).body;
    sample(&parse_metrics(&text, false), name, labels)
}

/// What a member's view says of its template: (primaries, tsig-key).
fn settings(node: &MgmtNode, zone: &str) -> (Value, Value) {
    let v = view(node, zone);
    (v["primaries"].clone(), v["tsig-key"].clone())
}

fn gold(knot: &KnotCatalog) -> (Value, Value) {
    (json!([knot.addr_str()]), json!(knot.key.name))
}

fn silver(knot: &KnotCatalog) -> (Value, Value) {
    (json!([knot.addr2_str(), knot.addr_str()]), Value::Null)
}

/// `plain` names no primaries: the catalog zone's are lent.
fn plain(knot: &KnotCatalog) -> (Value, Value) {
    (json!([knot.addr_str()]), Value::Null)
}

#[test]
fn knot_generated_catalog() {
    if !pharos_only("knot_generated_catalog") {
        return;
    }
    const CAT: &str = "cat.test";
    let node_port = free_port(false);
    let knot = KnotCatalog::start(KnotCatalogOpts {
        generated: Some(CAT.into()),
        members: vec![
            KnotMember::new("m1.test", Some("gold")).keyed(),
            KnotMember::new("m2.test", Some("silver")),
            KnotMember::new("m3.test", None),
        ],
        notify_port: node_port,
        ..Default::default()
    });
    let node = start_node(node_port, &knot, CAT);
    let log = || logs(&node, &knot);
    for m in ["m1.test", "m2.test", "m3.test"] {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    // Each member has its group's template: gold transfers signed (Knot
    // allows m1 only with the key), silver from Knot's second address.
    let v = view(&node, "m1.test");
    assert_eq!(
        (v["origin"].clone(), v["member-of"].clone()),
        (json!("catalog"), json!(CAT)),
        "{v}"
    );
    assert_eq!(settings(&node, "m1.test"), gold(&knot));
    assert_eq!(settings(&node, "m2.test"), silver(&knot));
    assert_eq!(view(&node, "m2.test")["primary"], json!(knot.addr2_str()));
    assert_eq!(settings(&node, "m3.test"), plain(&knot));

    // Members added on Knot (one config transaction): a new catalog
    // version, NOTIFY, IXFR; an unknown group gets member-template.
    knot.add_members(
        &[
            KnotMember::new("m4.test", Some("silver")),
            KnotMember::new("m5.test", Some("bronze")),
        ],
        CAT,
    );
    for m in ["m4.test", "m5.test"] {
        wait(
            &format!("the node to serve the new member {m}"),
            || serves(&node, m),
            log,
        );
    }
    assert_eq!(settings(&node, "m4.test"), silver(&knot));
    assert_eq!(settings(&node, "m5.test"), plain(&knot));

    // A member removed on Knot: REFUSED on the node, the others served.
    knot.remove_member("m3.test");
    wait("the node to refuse m3.test", || refused(&node, "m3.test"), log);
    for m in ["m1.test", "m2.test", "m4.test", "m5.test"] {
        assert!(serves(&node, m), "{m} lost:\n{}", log());
    }

    // Removed and added again while the node hears nothing: Knot gives the
    // member a new label, and the node, seeing both in one update, resets
    // the zone (transferred afresh although its serial did not change).
    let old_label = knot.wait_listed(CAT, "m2.test", true);
    let transfers = knot.transfers_out("m2.test");
    assert_eq!(transfers, 1, "m2.test transferred once so far:\n{}", knot.log());
    knot.set_notify(CAT, false);
    knot.remove_member("m2.test");
    knot.wait_listed(CAT, "m2.test", false);
    // Knot's label is a hash of the name and of the second the zone became
    // a member: added again within the second it was first added, it
    // would keep its label.
    common::next_second();
    knot.add_members(&[KnotMember::new("m2.test", Some("silver"))], CAT);
    let new_label = knot.wait_listed(CAT, "m2.test", true);
    assert_ne!(
        old_label, new_label,
        "Knot kept the label of a member removed and added again"
    );
    assert!(serves(&node, "m2.test"), "the node heard of the removal:\n{}", log());
    knot.set_notify(CAT, true);
    knot.knotc(&["zone-notify", CAT]);
    let reset = || metric(&node, "pharos_catalog_member_changes_total", &[("change", "reset")]);
    wait("the node to reset m2.test", || reset() == 1.0, log);
    wait(
        "m2.test transferred afresh from Knot",
        || knot.transfers_out("m2.test") == transfers + 1,
        log,
    );
    wait("the node to serve m2.test again", || serves(&node, "m2.test"), log);
    assert!(
        node.pharos.log().contains("catalog member reset"),
        "no reset logged:\n{}",
        log()
    );
    assert_eq!(settings(&node, "m2.test"), silver(&knot));
    for m in ["m1.test", "m4.test", "m5.test"] {
        assert_eq!(knot.transfers_out(m), 1, "{m} transferred again:\n{}", knot.log());
    }
    assert_eq!(
        metric(&node, "pharos_catalog_members", &[("catalog", CAT)]),
        4.0,
        "{}",
        view(&node, CAT)
    );
}

/// A version 2 catalog written by hand: a.test, b.test (group gold), c.test.
fn hand_catalog(cat: &str) -> String {
    format!(
        "$ORIGIN {cat}.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\n\
         version TXT \"2\"\n\
         a1.zones PTR a.test.\n\
         b1.zones PTR b.test.\ngroup.b1.zones TXT \"gold\"\n\
         c1.zones PTR c.test.\n"
    )
}

fn plain_zone(zone: &str, text: String, notify: bool) -> PlainZone {
    PlainZone {
        zone: zone.to_string(),
        text,
        notify,
    }
}

#[test]
fn hand_written_catalog_broken_versions_and_group_change() {
    if !pharos_only("hand_written_catalog_broken_versions_and_group_change") {
        return;
    }
    const CAT: &str = "hand.test";
    let node_port = free_port(false);
    let mut zones = vec![plain_zone(CAT, hand_catalog(CAT), true)];
    for m in ["a.test", "b.test", "c.test"] {
        zones.push(plain_zone(m, member_text(m), false));
    }
    let knot = KnotCatalog::start(KnotCatalogOpts {
        plain: zones,
        notify_port: node_port,
        ..Default::default()
    });
    let node = start_node(node_port, &knot, CAT);
    let log = || logs(&node, &knot);
    for m in ["a.test", "b.test", "c.test"] {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    assert_eq!(settings(&node, "b.test"), gold(&knot));
    assert_eq!(settings(&node, "a.test"), plain(&knot));

    // b.test's group changes from gold to silver: the new template's
    // settings, the data kept (served all along, not transferred again).
    assert_eq!(knot.transfers_out("b.test"), 1, "{}", knot.log());
    let before = view(&node, "b.test");
    let b_group = format!("group.b1.zones.{CAT}.");
    knot.edit(
        CAT,
        &[Edit::Unset(&b_group, "TXT", ""), Edit::Set(&b_group, "TXT", "silver")],
    );
    wait(
        "b.test to take the silver template",
        || {
            assert_eq!(
                soa(&node, "b.test"),
                (0, Some(1)),
                "b.test not served during its group change"
            );
            settings(&node, "b.test") == silver(&knot)
        },
        log,
    );
    // A transfer from scratch would start at once when the zone is added
    // again; give it time to show in Knot's log.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(knot.transfers_out("b.test"), 1, "b.test transferred again:\n{}", log());
    let after = view(&node, "b.test");
    // Served on from the data it had (from disk when the zone was added
    // again with its new settings), not from a new transfer.
    assert!(
        after["last-transfer"].is_null() || after["last-transfer"] == before["last-transfer"],
        "{before}\n{after}"
    );
    assert_eq!(after["serial"], json!(1), "{after}");

    // Broken versions: each carries a change that must not apply; the
    // good version after it applies.
    let broken = |what: &str, edits: &[Edit]| {
        knot.edit(CAT, edits);
        wait(
            &format!("the catalog's view to show the error ({what})"),
            || view(&node, CAT)["catalog"]["error"].is_string(),
            log,
        );
        let v = view(&node, CAT);
        eprintln!("{what}: {}", v["catalog"]);
        assert_eq!(
            metric(&node, "pharos_catalog_broken", &[("catalog", CAT)]),
            1.0,
            "{what}"
        );
        v["catalog"]["error"].as_str().unwrap_or_default().to_string()
    };
    let repaired = |what: &str, edits: &[Edit], cond: &dyn Fn() -> bool| {
        knot.edit(CAT, edits);
        wait(&format!("the good version after {what} to apply"), cond, log);
        let v = view(&node, CAT);
        assert!(v["catalog"]["error"].is_null(), "{v}");
        assert_eq!(
            metric(&node, "pharos_catalog_broken", &[("catalog", CAT)]),
            0.0,
            "{what}"
        );
    };
    let version = format!("version.{CAT}.");
    let a1 = format!("a1.zones.{CAT}.");
    let b1 = format!("b1.zones.{CAT}.");
    let c1 = format!("c1.zones.{CAT}.");
    let d1 = format!("d1.zones.{CAT}.");

    // 1. Two version records (and a.test's removal).
    let e = broken(
        "two versions",
        &[Edit::Set(&version, "TXT", "1"), Edit::Unset(&a1, "PTR", "")],
    );
    assert!(e.contains("version"), "{e}");
    assert!(
        stays(&node, "a.test", true),
        "a.test removed by a broken catalog:\n{}",
        log()
    );
    repaired("two versions", &[Edit::Unset(&version, "TXT", "1")], &|| {
        refused(&node, "a.test")
    });

    // 2. A member PTR RRset of two records (and a.test back).
    let e = broken(
        "two PTR",
        &[Edit::Set(&c1, "PTR", "x.test."), Edit::Set(&a1, "PTR", "a.test.")],
    );
    assert!(e.contains("PTR"), "{e}");
    assert!(stays(&node, "a.test", false), "a.test added by a broken catalog");
    assert!(serves(&node, "c.test"), "c.test lost:\n{}", log());
    repaired("two PTR", &[Edit::Unset(&c1, "PTR", "x.test.")], &|| {
        serves(&node, "a.test")
    });

    // 3. Two members for one zone (and b.test's removal).
    let e = broken(
        "two members for one zone",
        &[Edit::Set(&d1, "PTR", "c.test."), Edit::Unset(&b1, "PTR", "")],
    );
    assert!(e.contains("c.test"), "{e}");
    assert!(
        stays(&node, "b.test", true),
        "b.test removed by a broken catalog:\n{}",
        log()
    );
    repaired("two members for one zone", &[Edit::Unset(&d1, "PTR", "")], &|| {
        refused(&node, "b.test")
    });
    for m in ["a.test", "c.test"] {
        assert!(serves(&node, m), "{m} lost:\n{}", log());
    }
    assert_eq!(
        metric(&node, "pharos_catalog_versions_total", &[("result", "broken")]),
        3.0
    );
    let c = view(&node, CAT);
    let knot_serial = knot.serial(CAT);
    assert!(knot_serial.is_some());
    assert_eq!(c["catalog"]["applied-serial"], json!(knot_serial), "{c}");
}

#[test]
fn version_1_catalog_served_by_knot() {
    if !pharos_only("version_1_catalog_served_by_knot") {
        return;
    }
    const CAT: &str = "v1.test";
    // Labels as the draft's producers write them (a hash of the member's
    // name); a group record, which version 1 does not have, is not read.
    let text = format!(
        "$ORIGIN {CAT}.\n$TTL 3600\n@ SOA ns.invalid. root.invalid. 7 3600 600 2147483646 3600\n\
         @ NS ns.invalid.\nversion TXT \"1\"\n\
         5960775ba382e7a4e09263fc06e7c00569b6a05c.zones PTR p.test.\n\
         2d5d7d7a9d1d3f3e2b1c0a9f8e7d6c5b4a392817.zones PTR q.test.\n\
         group.2d5d7d7a9d1d3f3e2b1c0a9f8e7d6c5b4a392817.zones TXT \"gold\"\n"
    );
    let node_port = free_port(false);
    let mut zones = vec![plain_zone(CAT, text, true)];
    for m in ["p.test", "q.test", "r.test"] {
        zones.push(plain_zone(m, member_text(m), false));
    }
    let knot = KnotCatalog::start(KnotCatalogOpts {
        plain: zones,
        notify_port: node_port,
        ..Default::default()
    });
    let node = start_node(node_port, &knot, CAT);
    let log = || logs(&node, &knot);
    for m in ["p.test", "q.test"] {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    assert!(refused(&node, "r.test"), "r.test is not a member yet");
    assert_eq!(
        settings(&node, "q.test"),
        plain(&knot),
        "a version 1 catalog has no groups"
    );
    assert_eq!(view(&node, "p.test")["member-of"], json!(CAT));
    assert!(view(&node, CAT)["catalog"]["error"].is_null(), "{}", view(&node, CAT));

    // One added, one removed, by IXFR of the catalog.
    let r = format!("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3.zones.{CAT}.");
    let p = format!("5960775ba382e7a4e09263fc06e7c00569b6a05c.zones.{CAT}.");
    knot.edit(CAT, &[Edit::Set(&r, "PTR", "r.test."), Edit::Unset(&p, "PTR", "")]);
    wait("the node to serve r.test", || serves(&node, "r.test"), log);
    wait("the node to refuse p.test", || refused(&node, "p.test"), log);
    assert!(serves(&node, "q.test"), "q.test lost:\n{}", log());
    let c = view(&node, CAT);
    assert_eq!(c["catalog"]["owned"], json!(2), "{c}");
    assert_eq!(c["source"], json!("ixfr"), "{c}");
}

/// A hand-written version 2 catalog `cat` listing `members` ((label, zone,
/// group, coo)).
fn catalog_of(cat: &str, members: &[(&str, &str, Option<&str>, Option<&str>)]) -> String {
    let mut t = format!(
        "$ORIGIN {cat}.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\n\
         version TXT \"2\"\n"
    );
    for (label, zone, group, coo) in members {
        t.push_str(&format!("{label}.zones PTR {zone}.\n"));
        if let Some(g) = group {
            t.push_str(&format!("group.{label}.zones TXT \"{g}\"\n"));
        }
        if let Some(c) = coo {
            t.push_str(&format!("coo.{label}.zones PTR {c}.\n"));
        }
    }
    t
}

/// RFC 9432 5.6 with two catalogs Knot serves: a zone of `old.test` listed
/// by `new.test` too is a conflict (stays with old.test); a `coo` in
/// old.test pointing at new.test migrates it (new.test's group, data kept:
/// served throughout, not transferred again); old.test dropping it then
/// changes nothing; new.test dropping it removes it.
#[test]
fn coo_migrates_a_member_only_once_the_new_catalog_lists_it() {
    if !pharos_only("coo_migrates_a_member_only_once_the_new_catalog_lists_it") {
        return;
    }
    const OLD: &str = "old.test";
    const NEW: &str = "new.test";
    const MIG: &str = "mig.test";
    let node_port = free_port(false);
    let knot = KnotCatalog::start(KnotCatalogOpts {
        plain: vec![
            plain_zone(
                OLD,
                catalog_of(OLD, &[("o1", MIG, None, None), ("o2", "stay.test", None, None)]),
                true,
            ),
            plain_zone(NEW, catalog_of(NEW, &[]), true),
            plain_zone(MIG, member_text(MIG), false),
            plain_zone("stay.test", member_text("stay.test"), false),
        ],
        notify_port: node_port,
        ..Default::default()
    });
    let k1q = toml_str(&knot.addr_str());
    let node = MgmtNode::start(PharosOpts {
        port: Some(node_port),
        ipv6: false,
        ready_zone: Some(NEW.to_string()),
        extra_toml: format!(
            "{}\n[[zone]]\nname = \"{NEW}\"\nprimaries = [{k1q}]\ncatalog = \"consumer\"\nmember-template = \"plain\"\n",
            node_toml(&knot, OLD)
        ),
        ..Default::default()
    });
    let log = || logs(&node, &knot);
    wait("the node to serve mig.test", || serves(&node, MIG), log);
    assert_eq!(view(&node, MIG)["member-of"], json!(OLD));
    assert_eq!(settings(&node, MIG), plain(&knot));
    assert_eq!(knot.transfers_out(MIG), 1, "{}", knot.log());

    // new.test lists it too, without a coo in old.test: a conflict.
    let n1 = format!("n1.zones.{NEW}.");
    let n1_group = format!("group.n1.zones.{NEW}.");
    let conflicts = || metric(&node, "pharos_catalog_member_changes_total", &[("change", "conflict")]);
    let before = conflicts();
    knot.edit(
        NEW,
        &[
            Edit::Set(&n1, "PTR", "mig.test."),
            Edit::Set(&n1_group, "TXT", "silver"),
        ],
    );
    wait(
        "new.test's version to be applied",
        || view(&node, NEW)["catalog"]["applied-serial"] == json!(knot.serial(NEW)),
        log,
    );
    assert!(stays(&node, MIG, true), "mig.test lost on a conflict:\n{}", log());
    assert_eq!(view(&node, MIG)["member-of"], json!(OLD), "taken without a coo");
    assert_eq!(settings(&node, MIG), plain(&knot));
    assert!(conflicts() > before, "the conflict is not counted:\n{}", log());
    assert!(
        node.pharos.log().contains("belongs to someone else"),
        "the conflict is not logged:\n{}",
        log()
    );

    // old.test points it at new.test: migrated, with new.test's group.
    let o1_coo = format!("coo.o1.zones.{OLD}.");
    knot.edit(OLD, &[Edit::Set(&o1_coo, "PTR", "new.test.")]);
    wait(
        "mig.test to migrate to new.test",
        || {
            assert!(serves(&node, MIG), "mig.test not served while it migrates:\n{}", log());
            view(&node, MIG)["member-of"] == json!(NEW)
        },
        log,
    );
    wait(
        "mig.test to take new.test's group",
        || settings(&node, MIG) == silver(&knot),
        log,
    );
    assert!(
        node.pharos.log().contains("catalog member migrates (coo)"),
        "no migration logged:\n{}",
        log()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(knot.transfers_out(MIG), 1, "mig.test transferred again:\n{}", log());

    // old.test drops it: it is new.test's now, nothing changes.
    let o1 = format!("o1.zones.{OLD}.");
    knot.edit(OLD, &[Edit::Unset(&o1_coo, "PTR", ""), Edit::Unset(&o1, "PTR", "")]);
    wait(
        "old.test's version to be applied",
        || view(&node, OLD)["catalog"]["applied-serial"] == json!(knot.serial(OLD)),
        log,
    );
    assert!(
        stays(&node, MIG, true),
        "old.test removed a zone it gave away:\n{}",
        log()
    );
    assert_eq!(view(&node, MIG)["member-of"], json!(NEW));
    assert!(serves(&node, "stay.test"));

    // new.test drops it: removed.
    knot.edit(NEW, &[Edit::Unset(&n1_group, "TXT", ""), Edit::Unset(&n1, "PTR", "")]);
    wait("the node to refuse mig.test", || refused(&node, MIG), log);
    assert!(serves(&node, "stay.test"), "stay.test lost:\n{}", log());
}
