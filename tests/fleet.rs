//! A fleet in one test (issue 12, "A fleet in one test"): a Knot customer
//! primary, a pharos hub producing `cat.test`, and five pharos nodes
//! consuming it, all separate processes on loopback ports.
//!
//! A zone added through the hub's API (a secondary of the Knot primary,
//! a member by its template) is served by every node; a change on the
//! customer primary reaches every node by IXFR; `/zones/{name}/fleet?serial=N&wait=`
//! answers 200 only once every node serves N, and 504 naming the node when
//! one is stopped; a zone removed from the hub is REFUSED on every node; a
//! mass removal on the hub is held on every node until accepted there.
//!
//! Needs knotd/knotc (`knot`). Loopback only.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{KnotPrimary, KnotPrimaryOpts, MgmtNode, PharosOpts, free_port, pharos_only, toml_str};
use serde_json::Value;

const CAT: &str = "cat.test";
const CUST: &str = "cust.test";
const NODES: usize = 5;
const WAIT: Duration = Duration::from_secs(30);

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
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

fn soa(node: &MgmtNode, zone: &str) -> (u8, Option<u32>) {
    match node.pharos.query(zone, 6) {
        Ok(r) => (r.rcode, common::soa_serial(&r)),
        Err(_) => (255, None),
    }
}

/// A file zone of the hub, a member of the catalog.
fn file_member(dir: &Path, zone: &str) -> String {
    let file = dir.join(format!("{zone}.zone"));
    fs::write(&file, zone_text(zone, 1)).expect("cannot write zone file");
    format!(
        "[[zone]]\nname = {}\nfile = {}\ntemplate = \"customers\"\n",
        toml_str(zone),
        toml_str(&file.to_string_lossy())
    )
}

#[test]
fn a_zone_added_once_is_live_on_every_node() {
    if !pharos_only("fleet") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let hub_port = free_port(false);
    let ports: Vec<u16> = (0..NODES).map(|_| free_port(false)).collect();
    let targets: Vec<String> = ports.iter().map(|p| toml_str(&format!("127.0.0.1:{p}"))).collect();
    let targets = targets.join(", ");
    let mut ko = KnotPrimaryOpts::new(CUST, &zone_text(CUST, 1));
    ko.notify_port = Some(hub_port);
    let knot = KnotPrimary::start_with(ko);

    // The hub: every customer zone comes from the "customers" template:
    // member of the catalog, served to the nodes, announced to them.
    let bulk: Vec<String> = (0..12).map(|i| format!("bulk{i}.test")).collect();
    let mut bulk_toml = String::new();
    for z in &bulk {
        bulk_toml.push_str(&file_member(dir.path(), z));
    }
    // Every node transfers from 127.0.0.1 here, so the hub's cap per client
    // (4) would be the whole fleet's: an IXFR refused under it was taken
    // again by AXFR, and the check for IXFR below failed now and then.
    let hub_toml = format!(
        "[transfer]\nmax-out-per-client = 32\n\
         [[template]]\nname = \"customers\"\ncatalog = {cat}\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{targets}]\n\
         [[zone]]\nname = {cat}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{targets}]\n{bulk_toml}",
        cat = toml_str(CAT)
    );
    let hub = MgmtNode::start(opts(hub_port, hub_toml));
    let mut nodes: Vec<MgmtNode> = ports
        .iter()
        .map(|&p| {
            MgmtNode::start(opts(
                p,
                format!(
                    "[[zone]]\nname = {}\nprimaries = [\"127.0.0.1:{hub_port}\"]\ncatalog = \"consumer\"\n",
                    toml_str(CAT)
                ),
            ))
        })
        .collect();
    let log = |n: &MgmtNode| format!("{}\n--- hub ---\n{}", n.pharos.log_tail(30), hub.pharos.log_tail(30));
    for n in &nodes {
        for z in &bulk {
            wait(&format!("{z} on every node"), || soa(n, z).1 == Some(1), || log(n));
        }
    }

    // One API call on the hub: the customer zone is live on every node.
    let body = format!(
        "{{\"name\": \"{CUST}\", \"primaries\": [\"{}\"], \"template\": \"customers\"}}",
        knot.addr()
    );
    let r = hub.call("POST", "/zones", Some(&body));
    assert_eq!(r.status, 201, "POST /zones: {}", r.body);
    for n in &nodes {
        wait("the API zone on every node", || soa(n, CUST).1 == Some(1), || log(n));
    }
    let r = hub.get(&format!("/zones/{CUST}/fleet?serial=1&wait=20s"));
    assert_eq!(r.status, 200, "{}", r.body);

    // A change at the customer's primary: every node takes it by IXFR.
    knot.add_record("new", 300, "A", "192.0.2.9");
    let changed = knot.serial();
    let r = hub.get(&format!("/zones/{CUST}/fleet?serial={changed}&wait=20s"));
    assert_eq!(r.status, 200, "{}", r.body);
    for n in &nodes {
        assert_eq!(soa(n, CUST).1, Some(changed), "200 came before every node served it");
        let v: Value = serde_json::from_str(&n.call("GET", &format!("/zones/{CUST}"), None).body).unwrap_or_default();
        assert_eq!(v["last-transfer"]["kind"], "ixfr", "{v}");
    }

    // One node stopped: the wait for the next change names it (504).
    nodes[2].pharos.stop();
    knot.add_record("newer", 300, "A", "192.0.2.10");
    let next = knot.serial();
    let r = hub.get(&format!("/zones/{CUST}/fleet?serial={next}&wait=5s"));
    assert_eq!(r.status, 504, "{}", r.body);
    let v = r.json();
    let laggards: Vec<&str> = v["laggards"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["node"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(laggards, [format!("127.0.0.1:{}", ports[2])], "{v:#}");
    nodes[2].pharos.restart(Some(CAT));
    let r = hub.get(&format!("/zones/{CUST}/fleet?serial={next}&wait=20s"));
    assert_eq!(r.status, 200, "{}", r.body);

    // Removed from the hub: REFUSED on every node.
    let r = hub.call("DELETE", &format!("/zones/{CUST}"), None);
    assert!(r.status / 100 == 2, "DELETE: {} {}", r.status, r.body);
    for n in &nodes {
        wait(
            "the removed zone REFUSED on every node",
            || soa(n, CUST).0 == 5,
            || log(n),
        );
    }

    // A mass removal on the hub (5 of 12 members): held on every node.
    let mut gone = String::new();
    for z in &bulk[..5] {
        gone.push_str(&file_member(dir.path(), z));
    }
    let text = fs::read_to_string(&hub.pharos.config).expect("hub config");
    fs::write(&hub.pharos.config, text.replace(&gone, "")).expect("rewrite hub config");
    hub.pharos.signal(libc::SIGHUP);
    let held = |n: &MgmtNode| {
        let v: Value = serde_json::from_str(&n.call("GET", &format!("/zones/{CAT}"), None).body).unwrap_or_default();
        v["catalog"]["held-removals"].as_u64()
    };
    for n in &nodes {
        wait("the hold on every node", || held(n) == Some(5), || log(n));
        for z in &bulk {
            assert_eq!(soa(n, z).1, Some(1), "{z} removed despite the hold");
        }
    }
    for n in &nodes {
        let r = n.call("POST", &format!("/zones/{CAT}/accept-removals"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        for z in &bulk[..5] {
            assert_eq!(soa(n, z).0, 5, "{z} still served after accept-removals");
        }
        for z in &bulk[5..] {
            assert_eq!(soa(n, z).1, Some(1), "{z} lost");
        }
    }
}
