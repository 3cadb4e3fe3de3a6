//! The hub's fleet view (issue 12 item 5) against real pharos processes: a
//! pharos hub serving a file zone with `notify` and `allow-transfer` to
//! three pharos nodes (secondaries of the hub, separate processes, loopback
//! ports).
//!
//! * `wait_for_serial_on_every_node`: the zone changes on the hub (edit +
//!   SIGHUP): `?serial=N&wait=` answers 200 and every node serves N; it
//!   changes again while one node is stopped (SIGSTOP): `?serial=N&wait=` answers
//!   504 naming that node; once it runs again the same call answers 200,
//!   and then every node serves N. `/fleet`, `/zones/{name}/fleet`,
//!   `/metrics` and `pharos soa-check --fleet` show in-sync and
//!   unreachable; a killed node is named by the 504.
//! * `fleet_nodes_override_shows_behind`: `[fleet] nodes` names a node the
//!   hub does not notify, which serves an older serial from its own file:
//!   shown behind, by how much and for how long; a node that does not
//!   serve the zone (REFUSED) is shown failed; a SIGHUP that drops it from
//!   `[fleet] nodes` stops asking it.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Http, MgmtNode, Pharos, PharosOpts, free_port, http, parse_metrics, pharos_cmd, pharos_only, sample, toml_str,
};
use serde_json::Value;

const ZONE: &str = "fleet.test";
const WAIT: Duration = Duration::from_secs(30);

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.{serial}\n"
    )
}

/// Writes a zone file with an mtime in the future, so a reload sees it new.
fn write_zone_file(path: &Path, text: &str) {
    fs::write(path, text).expect("cannot write zone file");
    let f = fs::File::options()
        .write(true)
        .open(path)
        .expect("cannot open zone file");
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .expect("cannot set the zone file's mtime");
}

fn opts(port: u16, toml: String) -> PharosOpts {
    PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: Some(ZONE.to_string()),
        extra_toml: toml,
        ..Default::default()
    }
}

/// A hub serving `file`, notifying `ports`, with `extra` appended.
fn hub(file: &Path, ports: &[u16], extra: &str) -> MgmtNode {
    let notify: Vec<String> = ports.iter().map(|p| toml_str(&format!("127.0.0.1:{p}"))).collect();
    MgmtNode::start(opts(
        free_port(false),
        format!(
            "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n\
             notify-source = \"127.0.0.1\"\n{extra}",
            toml_str(ZONE),
            toml_str(&file.to_string_lossy()),
            notify.join(", ")
        ),
    ))
}

/// A pharos node on `port`, secondary of `hub`.
fn node(port: u16, hub: &Pharos) -> Pharos {
    Pharos::start(opts(
        port,
        format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n",
            toml_str(ZONE),
            toml_str(&hub.addr_str())
        ),
    ))
}

fn serial_of(p: &Pharos) -> Option<u32> {
    p.query(ZONE, common::wire::TYPE_SOA)
        .ok()
        .and_then(|r| (r.rcode == 0 && r.aa()).then(|| common::soa_serial(&r)).flatten())
}

fn zone_fleet(hub: &MgmtNode, query: &str) -> Http {
    hub.get(&format!("/zones/{ZONE}/fleet{query}"))
}

/// The state of `addr` in a `/zones/{name}/fleet` answer.
fn state_of(view: &Value, addr: &str) -> String {
    view["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["node"] == addr))
        .map(|n| n["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("node {addr} not in {view:#}"))
}

/// The laggards' addresses of a `?serial=` answer.
fn laggards(view: &Value) -> Vec<String> {
    view["laggards"]
        .as_array()
        .unwrap_or_else(|| panic!("no laggards in {view:#}"))
        .iter()
        .map(|l| l["node"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `/fleet`'s entry for `addr`.
fn fleet_node(hub: &MgmtNode, addr: &str) -> Value {
    let r = hub.get("/fleet");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    v["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["node"] == addr).cloned())
        .unwrap_or_else(|| panic!("node {addr} not in /fleet: {v:#}"))
}

#[test]
fn wait_for_serial_on_every_node() {
    if !pharos_only("wait_for_serial_on_every_node") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("fleet.test.zone");
    write_zone_file(&file, &zone_text(1));
    let ports: Vec<u16> = (0..3).map(|_| free_port(false)).collect();
    let hub = hub(&file, &ports, "");
    let mut nodes: Vec<Pharos> = ports.iter().map(|p| node(*p, &hub.pharos)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr_str()).collect();

    // every node serves serial 1: the wait answers 200, all in sync
    let r = zone_fleet(&hub, "?serial=1&wait=20s");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["serial"], 1, "{v:#}");
    assert!(laggards(&v).is_empty(), "{v:#}");
    for a in &addrs {
        assert_eq!(state_of(&v, a), "in-sync", "{v:#}");
        assert_eq!(fleet_node(&hub, a)["in-sync"], 1);
    }

    // all running: the zone changes on the hub (edit + SIGHUP); the wait
    // answers 200, and by then every node serves the new serial
    write_zone_file(&file, &zone_text(2));
    let changed = Instant::now();
    hub.pharos.signal(libc::SIGHUP);
    let r = zone_fleet(&hub, "?serial=2&wait=10s");
    let took = changed.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    for n in &nodes {
        assert_eq!(
            serial_of(n),
            Some(2),
            "200 was answered before {} served 2",
            n.addr_str()
        );
    }
    eprintln!("fleet view: SIGHUP to 200 for serial 2 on 3 nodes: {took:?}");

    // node 3 stopped; the zone changes on the hub
    nodes[2].signal(libc::SIGSTOP);
    write_zone_file(&file, &zone_text(3));
    hub.pharos.signal(libc::SIGHUP);
    for n in &nodes[..2] {
        common::wait_until(n, WAIT, "node serves serial 3", || serial_of(n) == Some(3));
    }
    let r = zone_fleet(&hub, "?serial=3&wait=2s");
    assert_eq!(r.status, 504, "node 3 is stopped: {}", r.body);
    let v = r.json();
    assert_eq!(laggards(&v), vec![addrs[2].clone()], "{v:#}");
    assert_eq!(state_of(&v, &addrs[2]), "unreachable", "{v:#}");
    assert_eq!(state_of(&v, &addrs[0]), "in-sync", "{v:#}");
    assert_eq!(fleet_node(&hub, &addrs[2])["unreachable"], 1);
    // soa-check --fleet prints the table and fails
    let out = pharos_cmd(&["soa-check", ZONE, "--fleet", &hub.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("hub serial 3"), "{text}");
    for (i, a) in addrs.iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.starts_with(a.as_str()))
            .unwrap_or_else(|| panic!("no line for {a}:\n{text}"));
        let want = if i == 2 { "unreachable" } else { "in-sync" };
        assert!(line.contains(want), "{line}");
    }
    // the status page shows the fleet table
    let page = hub.get("/").body;
    assert!(page.contains("id=\"fleet-table\""), "{page}");
    assert!(page.contains(addrs[2].as_str()), "{page}");
    // per-node metrics
    let m = hub.get("/metrics");
    let samples = parse_metrics(&m.body, false);
    let zones = |a: &str, state: &str| sample(&samples, "pharos_fleet_node_zones", &[("node", a), ("state", state)]);
    assert_eq!(zones(&addrs[2], "unreachable"), 1.0);
    assert_eq!(zones(&addrs[0], "in-sync"), 1.0);

    // a waiter started while node 3 is stopped answers 200 only after it runs
    let api = hub.api;
    let waiter = std::thread::spawn(move || {
        let r = http(api, "GET", &format!("/zones/{ZONE}/fleet?serial=3&wait=20s"), &[], None);
        (r, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!waiter.is_finished(), "the wait answered while node 3 was stopped");
    let resumed = Instant::now();
    nodes[2].signal(libc::SIGCONT);
    let (r, answered) = waiter.join().expect("waiter thread");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(answered > resumed);
    for n in &nodes {
        assert_eq!(
            serial_of(n),
            Some(3),
            "200 was answered before {} served 3",
            n.addr_str()
        );
    }
    let v = zone_fleet(&hub, "").json();
    for a in &addrs {
        assert_eq!(state_of(&v, a), "in-sync", "{v:#}");
    }
    let out = pharos_cmd(&["soa-check", ZONE, "--fleet", &hub.url()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // node 2 killed: the wait for serial 3 names it
    nodes[1].stop();
    let r = zone_fleet(&hub, "?serial=3&wait=3s");
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(laggards(&r.json()), vec![addrs[1].clone()]);

    // bad parameters and unknown zones
    assert_eq!(zone_fleet(&hub, "?wait=1s").status, 400);
    assert_eq!(zone_fleet(&hub, "?serial=2&wait=61s").status, 400);
    assert_eq!(hub.get("/zones/nope.test/fleet").status, 404);
}

#[test]
fn fleet_nodes_override_shows_behind() {
    if !pharos_only("fleet_nodes_override_shows_behind") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let hub_file = dir.path().join("hub.zone");
    write_zone_file(&hub_file, &zone_text(5));
    let static_file = dir.path().join("static.zone");
    write_zone_file(&static_file, &zone_text(3));
    let other_file = dir.path().join("other.zone");
    write_zone_file(&other_file, &zone_text(1).replace(ZONE, "other.test"));
    // a node that does not serve the zone (REFUSED): failed
    let refusing = Pharos::start(PharosOpts {
        ready_zone: Some("other.test".into()),
        ..opts(
            free_port(false),
            format!(
                "[[zone]]\nname = \"other.test\"\nfile = {}\n",
                toml_str(&other_file.to_string_lossy())
            ),
        )
    });
    let node_port = free_port(false);
    // a node that serves serial 3 from its own file, never told
    let stale = Pharos::start(opts(
        free_port(false),
        format!(
            "[[zone]]\nname = {}\nfile = {}\n",
            toml_str(ZONE),
            toml_str(&static_file.to_string_lossy())
        ),
    ));
    let hub = hub(
        &hub_file,
        &[node_port],
        &format!(
            "\n[fleet]\nnodes = [{}, {}, {}]\npoll = \"1s\"\n",
            toml_str(&format!("127.0.0.1:{node_port}")),
            toml_str(&stale.addr_str()),
            toml_str(&refusing.addr_str())
        ),
    );
    let follower = node(node_port, &hub.pharos);
    let r = zone_fleet(&hub, "?serial=5&wait=3s");
    assert_eq!(r.status, 504, "{}", r.body);
    let v = r.json();
    assert_eq!(laggards(&v), vec![stale.addr_str(), refusing.addr_str()], "{v:#}");
    assert_eq!(state_of(&v, &follower.addr_str()), "in-sync", "{v:#}");
    assert_eq!(state_of(&v, &refusing.addr_str()), "failed", "{v:#}");
    assert_eq!(fleet_node(&hub, &refusing.addr_str())["failed"], 1);
    let n = v["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["node"] == stale.addr_str().as_str()).cloned())
        .expect("stale node listed");
    assert_eq!(n["state"], "behind", "{v:#}");
    assert_eq!(n["serial"], 3);
    assert_eq!(n["behind-by"], 2);
    assert!(n["behind-for"].as_f64().is_some_and(|s| s >= 0.0), "{n:#}");
    let f = fleet_node(&hub, &stale.addr_str());
    assert_eq!(f["behind"], 1, "{f:#}");
    // serial 3 is served on both nodes that serve the zone
    let r = zone_fleet(&hub, "?serial=3&wait=1s");
    assert_eq!(laggards(&r.json()), vec![refusing.addr_str()], "{}", r.body);
    // SIGHUP with the refusing node out of [fleet] nodes: no longer asked
    let config = fs::read_to_string(&hub.pharos.config).expect("hub config");
    let without = config.replace(&format!(", {}]", toml_str(&refusing.addr_str())), "]");
    assert_ne!(config, without);
    fs::write(&hub.pharos.config, without).expect("write hub config");
    hub.pharos.signal(libc::SIGHUP);
    common::wait_until(&hub.pharos, WAIT, "the refusing node dropped from the fleet", || {
        zone_fleet(&hub, "").json()["nodes"].as_array().map(Vec::len) == Some(2)
    });
    assert_eq!(zone_fleet(&hub, "?serial=3&wait=3s").status, 200);
}
