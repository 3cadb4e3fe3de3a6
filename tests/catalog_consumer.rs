//! The catalog consumer (issue 12 items 1-3) against real producers: a
//! pharos node with `catalog = "consumer"` follows a catalog and serves
//! its members as secondary zones.
//!
//! * `node_follows_a_pharos_hub`: a pharos hub produces `cat.test`; the
//!   node serves every member (primaries lent by the catalog zone when the
//!   template names none), follows an addition and a removal by NOTIFY and
//!   IXFR, and after a restart with the hub down serves every member from
//!   disk;
//! * `mass_removal_is_held_until_accepted`: a version removing more than
//!   `catalog-max-removals` members removes none until
//!   `POST /zones/cat.test/accept-removals`; `/metrics` and the catalog's
//!   view show the hold.
//!
//! Needs knotd/knotc (`knot`) and kdig (`knot-dnsutils`). Loopback only.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{MgmtNode, PharosOpts, free_port, pharos_only, toml_str};

const CAT: &str = "cat.test";
const WAIT: Duration = Duration::from_secs(30);

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// A file zone of the hub, a member of `cat.test`.
fn member_toml(dir: &Path, zone: &str) -> String {
    let file = dir.join(format!("{zone}.zone"));
    fs::write(&file, zone_text(zone, 1)).expect("cannot write zone file");
    format!(
        "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.0/8\"]\ncatalog = {}\n",
        toml_str(zone),
        toml_str(&file.to_string_lossy()),
        toml_str(CAT)
    )
}

fn hub_toml(dir: &Path, node_port: u16, members: &[String]) -> String {
    let mut t = format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\n\
         notify = [\"127.0.0.1:{node_port}\"]\n",
        toml_str(CAT)
    );
    for m in members {
        t.push_str(&member_toml(dir, m));
    }
    t
}

fn node_toml(hub_port: u16, extra: &str) -> String {
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

/// The rcode and SOA serial `node` answers for `zone`.
fn soa(node: &MgmtNode, zone: &str) -> (u8, Option<u32>) {
    match node.pharos.query(zone, 6) {
        Ok(r) => (r.rcode, common::soa_serial(&r)),
        Err(_) => (255, None),
    }
}

/// A zone's view from the node's API.
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

fn rewrite_hub(hub: &MgmtNode, from: &str, to: &str) {
    let p = &hub.pharos;
    let text = fs::read_to_string(&p.config).expect("hub config");
    fs::write(&p.config, text.replace(from, to)).expect("rewrite the hub config");
    p.signal(libc::SIGHUP);
}

#[test]
fn node_follows_a_pharos_hub() {
    if !pharos_only("node_follows_a_pharos_hub") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let members: Vec<String> = ["a.test", "b.test", "c.test"].iter().map(|s| s.to_string()).collect();
    let hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &members)));
    let mut node = MgmtNode::start(opts(node_port, node_toml(hub_port, "")));
    let log = || format!("{}\n--- hub ---\n{}", node.pharos.log_tail(40), hub.pharos.log_tail(20));
    for m in &members {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    // The member's view says where it comes from.
    let v = view(&node, "a.test");
    assert_eq!(v["origin"], "catalog", "{v}");
    assert_eq!(v["member-of"], "cat.test", "{v}");
    let c = view(&node, CAT);
    assert_eq!(c["catalog"]["owned"], 3, "{c}");

    // A member added on the hub (SIGHUP): NOTIFY, IXFR of the catalog, the
    // new zone transferred at once.
    let d = member_toml(dir.path(), "d.test");
    let last = member_toml(dir.path(), "c.test");
    rewrite_hub(&hub, &last, &format!("{last}{d}"));
    wait("the node to serve d.test", || serves(&node, "d.test"), log);
    // A member removed on the hub: REFUSED on the node, files gone.
    rewrite_hub(&hub, &member_toml(dir.path(), "b.test"), "");
    wait("the node to refuse b.test", || refused(&node, "b.test"), log);
    for m in ["a.test", "c.test", "d.test"] {
        assert!(serves(&node, m), "{m} lost:\n{}", log());
    }
    let m = node.call("GET", "/metrics", None).body;
    assert!(
        m.contains("pharos_catalog_members{catalog=\"cat.test\"} 3"),
        "{}",
        m.lines()
            .filter(|l| l.contains("catalog"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Restart with the hub down: every member is served from disk.
    drop(hub);
    node.pharos.restart(Some(CAT));
    for m in ["a.test", "c.test", "d.test"] {
        assert!(
            serves(&node, m),
            "{m} not served after a restart:\n{}",
            node.pharos.log_tail(40)
        );
    }
    assert!(refused(&node, "b.test"), "b.test came back");
}

#[test]
fn mass_removal_is_held_until_accepted() {
    if !pharos_only("mass_removal_is_held_until_accepted") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let members: Vec<String> = (0..12).map(|i| format!("m{i}.test")).collect();
    let hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &members)));
    let node = MgmtNode::start(opts(node_port, node_toml(hub_port, "catalog-max-removals = \"20%\"\n")));
    let log = || format!("{}\n--- hub ---\n{}", node.pharos.log_tail(40), hub.pharos.log_tail(20));
    for m in &members {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    // Remove 4 of 12 (33 % > 20 %) and add one: the addition applies, the
    // removals wait.
    let mut removed = String::new();
    for m in &members[..4] {
        removed.push_str(&member_toml(dir.path(), m));
    }
    let new = member_toml(dir.path(), "new.test");
    rewrite_hub(&hub, &removed, &new);
    wait("the node to serve new.test", || serves(&node, "new.test"), log);
    wait(
        "the hold to show",
        || view(&node, CAT)["catalog"]["held-removals"] == 4,
        log,
    );
    for m in &members {
        assert!(serves(&node, m), "{m} removed despite the hold:\n{}", log());
    }
    let metrics = node.call("GET", "/metrics", None).body;
    assert!(
        metrics.contains("pharos_catalog_held_removals{catalog=\"cat.test\"} 4"),
        "{metrics}"
    );
    // From the command line, as an operator would.
    let config = node.pharos.config.to_string_lossy().to_string();
    let out = common::pharos_cmd(&["zone", "accept-removals", CAT, "--config", &config]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("cat.test: 4 held member zones removed"), "{stdout}");
    for m in &members[..4] {
        assert!(refused(&node, m), "{m} still served after accept-removals");
    }
    for m in &members[4..] {
        assert!(serves(&node, m), "{m} lost");
    }
    let v = view(&node, CAT);
    assert_eq!(v["catalog"]["held-removals"], 0, "{v}");
}

#[test]
fn a_sighup_applies_template_changes_to_members() {
    if !pharos_only("a_sighup_applies_template_changes_to_members") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (hub_port, node_port) = (free_port(false), free_port(false));
    let members: Vec<String> = ["a.test", "b.test"].iter().map(|s| s.to_string()).collect();
    let hub = MgmtNode::start(opts(hub_port, hub_toml(dir.path(), node_port, &members)));
    let template = |primaries: &str| format!("[[template]]\nname = \"from-hub\"\nprimaries = [{primaries}]\n");
    let before = template(&format!("\"127.0.0.1:{hub_port}\""));
    let node = MgmtNode::start(opts(
        node_port,
        format!("{before}{}", node_toml(hub_port, "member-template = \"from-hub\"\n")),
    ));
    let log = || format!("{}\n--- hub ---\n{}", node.pharos.log_tail(40), hub.pharos.log_tail(20));
    for m in &members {
        wait(&format!("the node to serve {m}"), || serves(&node, m), log);
    }
    // The template gains a second primary (first in the list): every
    // member takes it at the SIGHUP, keeps serving, and is not reset.
    let after = template(&format!("\"127.0.0.2:{hub_port}\", \"127.0.0.1:{hub_port}\""));
    let text = fs::read_to_string(&node.pharos.config).expect("node config");
    fs::write(&node.pharos.config, text.replace(&before, &after)).expect("rewrite the node config");
    node.pharos.signal(libc::SIGHUP);
    for m in &members {
        wait(
            &format!("{m} to take the new primaries"),
            || view(&node, m)["primaries"][0] == format!("127.0.0.2:{hub_port}"),
            log,
        );
        assert!(serves(&node, m), "{m} stopped answering:\n{}", log());
        assert_eq!(view(&node, m)["member-of"], CAT);
    }
    let metrics = node.call("GET", "/metrics", None).body;
    assert!(
        metrics.contains("pharos_catalog_member_changes_total{change=\"reset\"} 0"),
        "{metrics}"
    );
}
