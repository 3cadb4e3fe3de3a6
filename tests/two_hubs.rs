//! Two hubs, no single point of failure (issue 12 item 8), with real
//! processes: a Knot customer primary, pharos hub A producing `cat.test`,
//! pharos hub B a secondary of A for the catalog (its members listed in its
//! own config, naming `cat.test` as a standby catalog), and pharos nodes
//! that list both hubs as primaries of the catalog (and so of every member:
//! the catalog lends its primaries).
//!
//! Hub A stops; a change on the customer primary still reaches every node
//! through B. B is promoted (`catalog = "producer"`, SIGHUP) and a zone is
//! added there: it reaches every node, and no member is reset (same member
//! labels, derived from the names), so the customer zone is not transferred
//! from scratch.
//!
//! Needs knotd/knotc (`knot`). Loopback only.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{KnotPrimary, KnotPrimaryOpts, MgmtNode, PharosOpts, free_port, pharos_only, toml_str};

const CAT: &str = "cat.test";
const CUST: &str = "cust.test";
const WAIT: Duration = Duration::from_secs(30);
const NODES: usize = 2;

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

fn opts(port: u16, ready: &str, toml: String) -> PharosOpts {
    PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: Some(ready.to_string()),
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

fn serial(node: &MgmtNode, zone: &str) -> Option<u32> {
    node.pharos.query(zone, 6).ok().and_then(|r| common::soa_serial(&r))
}

fn list(ports: &[u16]) -> String {
    let v: Vec<String> = ports.iter().map(|p| toml_str(&format!("127.0.0.1:{p}"))).collect();
    v.join(", ")
}

/// The customer zone on a hub: a secondary of the Knot primary, member of
/// `cat.test`, served to the nodes.
fn customer_toml(knot: &str, nodes: &[u16]) -> String {
    format!(
        "[[zone]]\nname = {}\nprimaries = [{}]\ncatalog = {}\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n",
        toml_str(CUST),
        toml_str(knot),
        toml_str(CAT),
        list(nodes)
    )
}

#[test]
fn the_fleet_follows_the_second_hub_and_its_promotion_resets_nothing() {
    if !pharos_only("two_hubs") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (a_port, b_port) = (free_port(false), free_port(false));
    let node_ports: Vec<u16> = (0..NODES).map(|_| free_port(false)).collect();
    let mut ko = KnotPrimaryOpts::new(CUST, &zone_text(CUST, 1));
    ko.notify_port = Some(b_port);
    let knot = KnotPrimary::start_with(ko);
    let knot_addr = knot.addr().to_string();

    let a_toml = format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n{}",
        toml_str(CAT),
        list(&[&node_ports[..], &[b_port]].concat()),
        customer_toml(&knot_addr, &node_ports)
    );
    let mut hub_a = MgmtNode::start(opts(a_port, CAT, a_toml));
    let b_catalog = format!(
        "[[zone]]\nname = {}\nprimaries = [\"127.0.0.1:{a_port}\"]\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n",
        toml_str(CAT),
        list(&node_ports)
    );
    let b_toml = format!("{b_catalog}{}", customer_toml(&knot_addr, &node_ports));
    let hub_b = MgmtNode::start(opts(b_port, CAT, b_toml));
    let nodes: Vec<MgmtNode> = node_ports
        .iter()
        .map(|&p| {
            MgmtNode::start(opts(
                p,
                CAT,
                format!(
                    "[[zone]]\nname = {}\nprimaries = [\"127.0.0.1:{a_port}\", \"127.0.0.1:{b_port}\"]\ncatalog = \"consumer\"\n",
                    toml_str(CAT)
                ),
            ))
        })
        .collect();
    let log = |n: &MgmtNode| {
        format!(
            "{}\n--- hub B ---\n{}",
            n.pharos.log_tail(30),
            hub_b.pharos.log_tail(30)
        )
    };
    for n in &nodes {
        wait(
            "every node to serve the customer zone",
            || serial(n, CUST) == Some(1),
            || log(n),
        );
    }
    let first_transfers: Vec<serde_json::Value> = nodes
        .iter()
        .map(|n| {
            let v: serde_json::Value =
                serde_json::from_str(&n.call("GET", &format!("/zones/{CUST}"), None).body).unwrap_or_default();
            v["last-transfer"].clone()
        })
        .collect();

    // Hub A goes down; the customer changes the zone: B takes it (Knot
    // notifies B), B notifies the nodes, they fetch it from B.
    hub_a.pharos.stop();
    knot.add_record("new", 300, "A", "192.0.2.9");
    let changed = knot.serial();
    for n in &nodes {
        wait(
            "every node to serve the change through hub B",
            || serial(n, CUST) == Some(changed),
            || log(n),
        );
    }

    // Promote B and add a zone there.
    let file = dir.path().join("added.test.zone");
    fs::write(&file, zone_text("added.test", 1)).expect("zone file");
    let promoted = format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n\
         [[zone]]\nname = \"added.test\"\nfile = {}\ncatalog = {}\nallow-transfer = [\"127.0.0.0/8\"]\n",
        toml_str(CAT),
        list(&node_ports),
        toml_str(&file.to_string_lossy()),
        toml_str(CAT)
    );
    let text = fs::read_to_string(&hub_b.pharos.config).expect("hub B config");
    fs::write(&hub_b.pharos.config, text.replace(&b_catalog, &promoted)).expect("rewrite hub B config");
    hub_b.pharos.signal(libc::SIGHUP);
    for n in &nodes {
        wait(
            "every node to serve the zone added on B",
            || serial(n, "added.test") == Some(1),
            || log(n),
        );
    }
    for (n, before) in nodes.iter().zip(&first_transfers) {
        let v: serde_json::Value =
            serde_json::from_str(&n.call("GET", &format!("/zones/{CUST}"), None).body).unwrap_or_default();
        assert_eq!(serial(n, CUST), Some(changed), "{}", log(n));
        // Not transferred afresh: the last transfer is the IXFR of the
        // change (not an AXFR after the promotion), and no reset counted.
        assert_eq!(v["last-transfer"]["kind"], "ixfr", "{v}\n{before}\n{}", log(n));
        let m = n.call("GET", "/metrics", None).body;
        assert!(
            m.contains("pharos_catalog_member_changes_total{change=\"reset\"} 0"),
            "{}",
            m.lines()
                .filter(|l| l.contains("catalog"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(!n.pharos.log_tail(400).contains("catalog member reset"), "{}", log(n));
    }
}
