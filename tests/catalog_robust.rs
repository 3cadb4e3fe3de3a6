//! Robustness of the catalog consumer (issue 12): a pharos hub produces
//! `cat.test` (`catalog = "producer"`), a pharos node follows it
//! (`catalog = "consumer"`), and the node is crashed, cut off, reloaded.
//!
//! * `kill9_while_100_members_arrive`: the hub adds 100 members in one
//!   version; the node is killed (SIGKILL) at several moments of applying
//!   it. Restarted with the hub down, it serves exactly the old member set
//!   or exactly the new one (never a mix the catalog never had); members
//!   it has data for answer from disk, members whose first transfer never
//!   finished answer SERVFAIL; once the hub is back, every member is
//!   served;
//! * `expired_catalog_keeps_its_members`: the catalog zone expires on the
//!   node (hub down, `expire-max` of the catalog zone on the node): no
//!   member is removed; each serves until its own expire (a member of a
//!   short-expire group then answers SERVFAIL, still listed), also after a
//!   restart;
//! * `member_of_a_configured_zone_is_ignored`: a member whose name is a
//!   `[[zone]]` of the node is ignored, counted
//!   (`pharos_catalog_member_changes{change="conflict"}`) and logged; the
//!   configured zone keeps its data, also when the catalog drops it;
//! * `sighup_keeps_members_and_a_removed_catalog_takes_its_members`: a
//!   SIGHUP that leaves the catalog zone as it is keeps every member (no
//!   reset, no transfer); one that changes the catalog zone's primaries
//!   gives them to every member, versions kept (no transfer from the hub);
//!   a SIGHUP that removes the consumer catalog zone
//!   from the config removes its members and their files (as Knot does);
//!   one that adds it back makes them again.
//!
//! What "old or new, never a mix" means here: the state file holds one
//! member set (the old or the new one, written whole before any zone of a
//! version is added), and the node serves exactly that set when it starts
//! (checked from its log). If the kill came after the catalog's new version
//! reached the disk but before the state file, the node then applies that
//! version right away, one zone at a time (as at run time): while it does,
//! `GET /zones` may show the old set plus part of the new members, which
//! the test accepts only as a step from the old set towards the new one;
//! once applied, the set is exactly the new one.
//!
//! Needs only the pharos binary. Loopback only.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{MgmtNode, PharosOpts, free_port, pharos_only, toml_str};

const CAT: &str = "cat.test";
const WAIT: Duration = Duration::from_secs(60);

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// A file zone of the hub, a member of `cat.test` (in `group` if given).
fn member_toml(dir: &Path, zone: &str, group: Option<&str>) -> String {
    let file = dir.join(format!("{zone}.zone"));
    if !file.exists() {
        fs::write(&file, zone_text(zone, 1)).expect("cannot write zone file");
    }
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

fn hub_toml(dir: &Path, node_port: u16, members: &[String]) -> String {
    let mut t = format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\n\
         notify = [\"127.0.0.1:{node_port}\"]\n",
        toml_str(CAT)
    );
    for m in members {
        t.push_str(&member_toml(dir, m, None));
    }
    t
}

/// The node's consumer catalog zone; `extra` goes into its table.
fn catalog_toml(hub_port: u16, extra: &str) -> String {
    format!(
        "[[zone]]\nname = {}\nprimaries = [\"127.0.0.1:{hub_port}\"]\ncatalog = \"consumer\"\n{extra}",
        toml_str(CAT)
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

/// The rcode and SOA serial `node` answers for `zone` (rcode 255: no answer).
fn soa(node: &MgmtNode, zone: &str) -> (u8, Option<u32>) {
    match node.pharos.query(zone, 6) {
        Ok(r) => (r.rcode, common::soa_serial(&r)),
        Err(_) => (255, None),
    }
}

fn view(node: &MgmtNode, zone: &str) -> serde_json::Value {
    let r = node.call("GET", &format!("/zones/{zone}"), None);
    serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null)
}

fn serves(node: &MgmtNode, zone: &str) -> bool {
    soa(node, zone).1.is_some()
}

fn refused(node: &MgmtNode, zone: &str) -> bool {
    soa(node, zone).0 == 5
}

/// The zones `GET /zones` lists with origin "catalog".
fn members(node: &MgmtNode) -> BTreeSet<String> {
    let r = node.call("GET", "/zones", None);
    assert_eq!(r.status, 200, "GET /zones: {}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("GET /zones: JSON");
    v["zones"]
        .as_array()
        .expect("GET /zones: a zones array")
        .iter()
        .filter(|z| z["origin"] == "catalog")
        .filter_map(|z| z["name"].as_str().map(str::to_string))
        .collect()
}

/// The value of one sample of the node's `/metrics` (the line starting
/// with `line_prefix`); fails the test when there is none.
fn metric(node: &MgmtNode, line_prefix: &str) -> u64 {
    let m = node.call("GET", "/metrics", None).body;
    let v = m
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix).map(|v| v.trim().parse::<f64>()));
    match v {
        Some(Ok(v)) => v as u64,
        _ => panic!("no sample {line_prefix} in /metrics:\n{m}"),
    }
}

fn rewrite(p: &common::Pharos, from: &str, to: &str) {
    let text = fs::read_to_string(&p.config).expect("read the config");
    assert!(text.contains(from), "config of {} lacks:\n{from}", p.config.display());
    fs::write(&p.config, text.replacen(from, to, 1)).expect("rewrite the config");
}

/// SIGHUP and wait until the node says it applied the file.
fn sighup(node: &MgmtNode) {
    let applied = |n: &MgmtNode| n.pharos.log().matches("SIGHUP: configuration applied").count();
    let before = applied(node);
    node.pharos.signal(libc::SIGHUP);
    wait(
        "the SIGHUP to be applied",
        || applied(node) > before,
        || node.pharos.log_tail(40),
    );
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn set(names: &[String]) -> BTreeSet<String> {
    names.iter().cloned().collect()
}

#[test]
fn kill9_while_100_members_arrive() {
    if !pharos_only("kill9_while_100_members_arrive") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let mut listed: Vec<String> = (0..5).map(|i| format!("old{i}.test")).collect();
    let mut hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &listed)));
    let mut node = MgmtNode::start(opts(node_port, catalog_toml(hub_port, "")));
    for m in &listed {
        wait(
            &format!("the node to serve {m}"),
            || serves(&node, m),
            || node.pharos.log_tail(40),
        );
    }
    // Kill right after the hub serves the new catalog (NOTIFY on its way),
    // then right after the node serves it (its snapshot on disk, the state
    // file and the zones being written), and later and later into the
    // node's work.
    let kills: [(&str, u64); 7] = [
        ("hub", 0),
        ("hub", 10),
        ("node", 0),
        ("node", 2),
        ("node", 5),
        ("node", 20),
        ("node", 60),
    ];
    let mut outcomes = Vec::new();
    for (round, (after, delay)) in kills.iter().enumerate() {
        let old = set(&listed);
        let batch: Vec<String> = (0..100).map(|i| format!("r{round}-{i}.test")).collect();
        let new: BTreeSet<String> = old.iter().chain(batch.iter()).cloned().collect();
        let before = soa(&hub, CAT).1.expect("hub serves the catalog");
        let last = member_toml(dir.path(), listed.last().expect("members"), None);
        let mut added = last.clone();
        for m in &batch {
            added.push_str(&member_toml(dir.path(), m, None));
        }
        rewrite(&hub.pharos, &last, &added);
        hub.pharos.signal(libc::SIGHUP);
        let watched = if *after == "hub" { &hub } else { &node };
        let started = Instant::now();
        while soa(watched, CAT).1 == Some(before) {
            assert!(started.elapsed() < WAIT, "the {after} never served the new catalog");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(*delay));
        node.pharos.kill9();
        listed.extend(batch.iter().cloned());

        // With the hub down, what the node serves comes from its disk: the
        // member set of its state file (written whole, before any zone of
        // a version is added), then the catalog version it has on disk
        // applied to it (the kill may have come between the two).
        hub.pharos.stop();
        node.pharos.restart(Some(CAT));
        let now = members(&node);
        let log = node.pharos.log();
        let since = &log[log.rfind("restarted by the test harness").unwrap_or(0)..];
        let restored = since
            .lines()
            .find(|l| l.contains("catalog members restored from the data dir"))
            .and_then(|l| l.split("zones=").nth(1))
            .and_then(|n| n.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok());
        assert!(
            restored == Some(old.len()) || restored == Some(new.len()),
            "round {round} (killed {delay} ms after the {after} served the new catalog): the node restored {restored:?} members \
             from its state file, neither the old set ({}) nor the new one ({})\n{}",
            old.len(),
            new.len(),
            tail(since, 40)
        );
        let which = if now == old {
            "old"
        } else if now == new {
            "new"
        } else {
            // Only while the node applies the version on disk to the set it
            // restored: from the old set towards the new one.
            assert!(
                restored == Some(old.len()) && now.is_superset(&old) && now.is_subset(&new),
                "round {round} (killed {delay} ms after the {after} served the new catalog): after the restart the node lists \
                 {} members, a mix of the old set ({}) and the new one ({}) that is no step from one to the \
                 other: added {:?}, missing {:?}\n{}",
                now.len(),
                old.len(),
                new.len(),
                now.difference(&old).take(5).collect::<Vec<_>>(),
                new.difference(&now).take(5).collect::<Vec<_>>(),
                tail(since, 40)
            );
            "old, applying the new"
        };
        // Once the catalog served from disk is applied: one of the two.
        // (A version newer than the restored set is applied right after
        // the start; "catalog version applied" is logged once it is done.)
        let must_apply = soa(&node, CAT).1 != Some(before) && restored == Some(old.len());
        wait(
            "the node to apply the catalog it serves",
            || {
                let served = soa(&node, CAT).1;
                let log = node.pharos.log();
                let since = &log[log.rfind("restarted by the test harness").unwrap_or(0)..];
                served.is_some()
                    && view(&node, CAT)["catalog"]["applied-serial"].as_u64() == served.map(u64::from)
                    && (!must_apply || since.contains("catalog version applied"))
            },
            || node.pharos.log_tail(40),
        );
        let settled = members(&node);
        assert!(
            settled == old || settled == new,
            "round {round}: after applying the catalog from disk the node lists {} members (old {}, new {})",
            settled.len(),
            old.len(),
            new.len()
        );
        // Every member of the old set had its data on disk: served. A new
        // member may have been killed before its first transfer ended:
        // listed, SERVFAIL until the hub answers. Nothing else is served.
        let mut from_disk = 0;
        for m in &new {
            let (rcode, serial) = soa(&node, m);
            if old.contains(m) {
                assert!(
                    rcode == 0 && serial.is_some(),
                    "round {round}: old member {m} not served from disk after the restart: rcode {rcode}\n{}",
                    node.pharos.log_tail(60)
                );
            } else if settled.contains(m) {
                assert!(
                    (rcode == 0 && serial.is_some()) || rcode == 2,
                    "round {round}: new member {m} answers rcode {rcode} (NOERROR from disk or SERVFAIL expected)"
                );
                from_disk += usize::from(rcode == 0);
            } else {
                assert_eq!(rcode, 5, "round {round}: {m} is not a member yet answers rcode {rcode}");
            }
        }
        outcomes.push(format!(
            "killed {delay} ms after the {after} served it: restarted with the {which} set, then the {} set ({} members; {from_disk} of the \
             100 new served from disk)",
            if settled == new { "new" } else { "old" },
            settled.len()
        ));
        // The hub back: every member of the new set served.
        hub.pharos.restart(Some(CAT));
        for m in &new {
            wait(
                &format!("round {round}: the node to serve {m} once the hub is back"),
                || serves(&node, m),
                || node.pharos.log_tail(40),
            );
        }
        assert_eq!(members(&node), new, "round {round}: member set once the hub is back");
    }
    eprintln!("kill9_while_100_members_arrive:\n  {}", outcomes.join("\n  "));
}

#[test]
fn expired_catalog_keeps_its_members() {
    if !pharos_only("expired_catalog_keeps_its_members") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let mut hub_conf = hub_toml(dir.path(), node_port, &["a.test".into(), "b.test".into()]);
    hub_conf.push_str(&member_toml(dir.path(), "short.test", Some("short")));
    let hub = MgmtNode::start(opts(hub_port, hub_conf));
    // The producer's SOA says expire 14 days; the node clamps the catalog
    // zone to 10 s (refresh 2 s keeps it alive while the hub answers), and
    // the members of group "short" likewise.
    let fast = "refresh-max = \"2s\"\nretry-max = \"2s\"\nexpire-max = \"10s\"\n";
    let node_conf = format!(
        "{}\n[[template]]\nname = \"short\"\n{fast}",
        catalog_toml(hub_port, fast)
    );
    let mut node = MgmtNode::start(opts(node_port, node_conf));
    let log = || node.pharos.log_tail(40);
    let all = ["a.test", "b.test", "short.test"];
    for m in all {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    let listed: BTreeSet<String> = all.iter().map(|s| s.to_string()).collect();
    assert_eq!(members(&node), listed);
    let removed_before = metric(&node, "pharos_catalog_member_changes_total{change=\"removed\"}");

    drop(hub);
    wait(
        "the catalog zone to expire",
        || view(&node, CAT)["expired"] == true,
        log,
    );
    assert_eq!(soa(&node, CAT).0, 2, "an expired catalog answers SERVFAIL");
    wait(
        "short.test to expire",
        || view(&node, "short.test")["expired"] == true,
        log,
    );
    for m in ["a.test", "b.test"] {
        assert!(
            serves(&node, m),
            "{m} stopped serving when the catalog expired:\n{}",
            log()
        );
    }
    assert_eq!(
        soa(&node, "short.test").0,
        2,
        "short.test past its own expire: SERVFAIL"
    );
    // Nothing removed: every member still listed, the catalog still counts
    // them.
    assert_eq!(members(&node), listed, "members changed when the catalog expired");
    assert_eq!(view(&node, CAT)["catalog"]["members"], 3);
    assert_eq!(
        metric(&node, "pharos_catalog_member_changes_total{change=\"removed\"}"),
        removed_before
    );

    // A restart while the catalog is expired: the same.
    node.pharos.restart(None);
    let log = || node.pharos.log_tail(40);
    wait("a.test after the restart", || serves(&node, "a.test"), log);
    assert!(serves(&node, "b.test"), "b.test not served after the restart");
    assert_eq!(soa(&node, CAT).0, 2, "the catalog is still expired after the restart");
    assert_eq!(members(&node), listed, "members changed across the restart");
}

#[test]
fn member_of_a_configured_zone_is_ignored() {
    if !pharos_only("member_of_a_configured_zone_is_ignored") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let members_hub: Vec<String> = ["a.test", "c.test"].iter().map(|s| s.to_string()).collect();
    let hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &members_hub)));
    // The node serves c.test itself, with data of its own.
    let own = dir.path().join("node-c.test.zone");
    fs::write(&own, zone_text("c.test", 777)).expect("write the node's zone file");
    let node_conf = format!(
        "{}\n[[zone]]\nname = \"c.test\"\nfile = {}\n",
        catalog_toml(hub_port, ""),
        toml_str(&own.to_string_lossy())
    );
    let node = MgmtNode::start(opts(node_port, node_conf));
    let log = || node.pharos.log_tail(40);
    wait("the node to serve a.test", || serves(&node, "a.test"), log);
    wait(
        "the conflict to be counted",
        || metric(&node, "pharos_catalog_member_changes_total{change=\"conflict\"}") >= 1,
        log,
    );
    assert_eq!(
        soa(&node, "c.test").1,
        Some(777),
        "c.test must keep the node's own data"
    );
    let c = view(&node, "c.test");
    assert_eq!(c["origin"], "config", "{c}");
    assert!(c.get("member-of").is_none(), "{c}");
    assert_eq!(members(&node), set(&["a.test".into()]));
    let cv = view(&node, CAT);
    assert_eq!(cv["catalog"]["owned"], 1, "{cv}");
    assert_eq!(cv["catalog"]["members"], 2, "{cv}");
    assert!(
        node.pharos.log().contains("catalog member ignored"),
        "the conflict is not logged:\n{}",
        log()
    );

    // The catalog drops c.test: the configured zone stays, as it was.
    let c_toml = member_toml(dir.path(), "c.test", None);
    rewrite(&hub.pharos, &c_toml, "");
    sighup(&hub);
    let removed = |n: &MgmtNode| view(n, CAT)["catalog"]["members"] == 1;
    wait("the node to apply the catalog without c.test", || removed(&node), log);
    assert_eq!(
        soa(&node, "c.test").1,
        Some(777),
        "c.test lost when the catalog dropped it"
    );
    assert_eq!(view(&node, "c.test")["origin"], "config");
    assert!(serves(&node, "a.test"), "a.test lost");
    assert_eq!(
        metric(&node, "pharos_catalog_member_changes_total{change=\"removed\"}"),
        0,
        "the configured zone counted as a removed member"
    );
}

#[test]
fn sighup_keeps_members_and_a_removed_catalog_takes_its_members() {
    if !pharos_only("sighup_keeps_members_and_a_removed_catalog_takes_its_members") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let names: Vec<String> = ["a.test", "b.test", "c.test"].iter().map(|s| s.to_string()).collect();
    let hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &names)));
    // A file zone besides the catalog, so that the node keeps a ready zone.
    let keep = dir.path().join("keep.test.zone");
    fs::write(&keep, zone_text("keep.test", 5)).expect("write keep.test");
    let keep_toml = format!(
        "[[zone]]\nname = \"keep.test\"\nfile = {}\n",
        toml_str(&keep.to_string_lossy())
    );
    let cat_toml = catalog_toml(hub_port, "");
    let mut node = MgmtNode::start(opts(node_port, format!("{keep_toml}\n{cat_toml}")));
    let log = || node.pharos.log_tail(40);
    for m in &names {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    let transfers = |n: &MgmtNode| -> Vec<serde_json::Value> {
        names.iter().map(|m| view(n, m)["last-transfer"].clone()).collect()
    };
    let before = transfers(&node);
    assert!(before.iter().all(|t| !t.is_null()), "{before:?}");
    let added = metric(&node, "pharos_catalog_member_changes_total{change=\"added\"}");
    assert_eq!(added, 3);

    // SIGHUP, the catalog zone as it was (and another zone added): every
    // member stays, no reset, no new transfer.
    sighup(&node);
    let extra = dir.path().join("extra.test.zone");
    fs::write(&extra, zone_text("extra.test", 1)).expect("write extra.test");
    let extra_toml = format!(
        "[[zone]]\nname = \"extra.test\"\nfile = {}\n",
        toml_str(&extra.to_string_lossy())
    );
    rewrite(&node.pharos, &keep_toml, &format!("{keep_toml}\n{extra_toml}"));
    sighup(&node);
    wait("extra.test", || serves(&node, "extra.test"), log);
    assert_eq!(members(&node), set(&names));
    assert_eq!(transfers(&node), before, "a SIGHUP transferred members again");
    for m in &names {
        assert!(serves(&node, m), "{m} lost at a SIGHUP");
    }
    assert_eq!(
        metric(&node, "pharos_catalog_member_changes_total{change=\"added\"}"),
        added
    );
    assert_eq!(
        metric(&node, "pharos_catalog_member_changes_total{change=\"reset\"}"),
        0
    );

    // The catalog zone's primaries change (a second hub, dead here): every
    // member gets them (they are lent by the catalog zone), its version
    // kept: no transfer from the hub.
    let hub_transfers = |m: &str| {
        hub.pharos
            .log()
            .matches(&format!("transfer out done zone={m}."))
            .count()
    };
    let transfers_before: Vec<usize> = names.iter().map(|m| hub_transfers(m)).collect();
    assert!(transfers_before.iter().all(|n| *n >= 1), "{transfers_before:?}");
    let cat_toml2 = cat_toml.replace(
        &format!("primaries = [\"127.0.0.1:{hub_port}\"]"),
        &format!("primaries = [\"127.0.0.1:{hub_port}\", \"127.0.0.1:1\"]"),
    );
    assert_ne!(cat_toml2, cat_toml);
    rewrite(&node.pharos, &cat_toml, &cat_toml2);
    sighup(&node);
    for m in &names {
        let v = view(&node, m);
        assert_eq!(v["primaries"].as_array().map(Vec::len), Some(2), "{m}: {v}");
        assert_eq!(v["origin"], "catalog", "{v}");
        assert!(serves(&node, m), "{m} lost when the catalog zone's primaries changed");
    }
    std::thread::sleep(Duration::from_millis(500));
    let transfers_after: Vec<usize> = names.iter().map(|m| hub_transfers(m)).collect();
    assert_eq!(transfers_after, transfers_before, "members transferred again");
    assert_eq!(
        metric(&node, "pharos_catalog_member_changes_total{change=\"reset\"}"),
        0
    );
    let cat_toml = cat_toml2;

    // The consumer catalog zone removed from the config: its members go,
    // with their files, and stay gone after a restart.
    let zones_dir = node.pharos.data_dir().join("zones");
    let files_of = |zone: &str| -> Vec<String> {
        fs::read_dir(&zones_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|f| f.starts_with(zone))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(!files_of("a.test").is_empty(), "a.test has no files to remove");
    rewrite(&node.pharos, &cat_toml, "");
    sighup(&node);
    for m in &names {
        assert!(
            refused(&node, m),
            "{m} still served after its catalog left the config:\n{}",
            log()
        );
        assert!(files_of(m).is_empty(), "files of {m} left: {:?}", files_of(m));
    }
    assert!(refused(&node, CAT), "the catalog zone still served");
    assert!(members(&node).is_empty(), "members left: {:?}", members(&node));
    assert!(serves(&node, "keep.test"));
    node.pharos.restart(Some("keep.test"));
    let log = || node.pharos.log_tail(40);
    for m in &names {
        assert!(refused(&node, m), "{m} came back after a restart");
    }

    // Removed while the node is stopped: the same at the next start.
    rewrite(&node.pharos, &keep_toml, &format!("{keep_toml}\n{cat_toml}"));
    sighup(&node);
    for m in &names {
        wait(&format!("{m} once the catalog is back"), || serves(&node, m), log);
    }
    node.pharos.stop();
    rewrite(&node.pharos, &cat_toml, "");
    assert!(!files_of("a.test").is_empty(), "a.test has no files to remove");
    node.pharos.restart(Some("keep.test"));
    let log = || node.pharos.log_tail(40);
    for m in &names {
        assert!(refused(&node, m), "{m} served after a restart without its catalog");
        assert!(
            files_of(m).is_empty(),
            "files of {m} left after a restart: {:?}",
            files_of(m)
        );
    }
    let state_files = fs::read_dir(&zones_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".catalog"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(state_files, 0, "the catalog's state file is left");

    // Added back: the members are made again.
    rewrite(&node.pharos, &keep_toml, &format!("{keep_toml}\n{cat_toml}"));
    sighup(&node);
    for m in &names {
        wait(&format!("{m} once the catalog is back"), || serves(&node, m), log);
    }
    assert_eq!(members(&node), set(&names));
}
