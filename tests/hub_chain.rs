//! The hub role against real software (issue 11, "Checks it must pass"):
//! a primary feeds a hub, the hub feeds Knot, BIND 9, NSD and pharos
//! secondaries (tests/common/secondaries.rs), TSIG on each hop with its own
//! key.  Every secondary's transfer kinds are read from its own log (and
//! pharos' from its /metrics), and after each change every secondary's
//! AXFR equals the primary's, record for record.
//!
//! * `knot_hub_feeds_three_secondaries`: Knot as the hub, to prove the rig
//!   itself (what the pharos tests assert holds for a known-good hub);
//! * `chain_knot_pharos_hub_four_secondaries`: pharos as the hub;
//! * `hidden_primary_file_zone_notify_sighup`: a file zone edited + SIGHUP;
//! * `history_across_restart_and_kill9`: IXFR after a restart and after
//!   kill -9, the whole zone for a secondary older than the history, the
//!   data dir bounded after 200 changes;
//! * `knot_primaries_signed_zones_to_knot_and_bind`: the rig on the signed
//!   test zones (Knot as the primary);
//! * `signed_zones_through_hub`: the NSEC and NSEC3 signed test zones and
//!   a 64 KiB RRset, served by pharos from their files, to Knot and BIND;
//! * `million_records_through_hub_and_kill9_during_axfr`: a 1,000,000-record
//!   zone to Knot and BIND, and kill -9 of the hub during an outgoing AXFR.
//!   Meant for the release binary (`cargo test --release --test
//!   hub_chain`): on the debug binary it is slow.
//!
//! Needs knotd/knotc (`knot`), kdig (`knot-dnsutils`), named (`bind9`) and
//! nsd (`nsd`).  Everything runs on loopback ports, as the test's user.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, KnotPrimaryOpts, MgmtNode, Pharos, PharosOpts, Secondary, SecondaryKind, SecondaryOpts, SecondaryZone,
    TsigKeyConf, XfrCounts, assert_same_records, canonical_axfr, free_port, parse_metrics, pharos_only, repo_root,
    toml_str,
};

const ZONE: &str = "hub.test";
/// Filler records: the whole zone is then ~10 KB on the wire, one change a
/// few hundred bytes (what tells NSD's IXFR from its AXFR).
const FILLERS: usize = 400;
const CHANGES: u32 = 20;
const WAIT: Duration = Duration::from_secs(20);

fn up_key() -> TsigKeyConf {
    TsigKeyConf::new(
        "up-key",
        "hmac-sha256",
        "dXAta2V5LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==",
    )
}

fn down_key() -> TsigKeyConf {
    TsigKeyConf::new(
        "down-key",
        "hmac-sha256",
        "ZG93bi1rZXktc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZA==",
    )
}

/// The test zone at `serial`: short retry (2 s) so secondaries retry soon.
fn zone_text(zone: &str, serial: u32) -> String {
    let mut t = format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\nversion TXT \"v0\"\n"
    );
    for i in 0..FILLERS {
        let _ = writeln!(t, "f{i} A 198.51.{}.{}", i / 250, i % 250 + 1);
    }
    t
}

/// A Knot primary of `zone` with `key`, sending NOTIFY to `notify_port`.
fn knot_primary(zone: &str, key: Option<&TsigKeyConf>, notify_port: Option<u16>) -> KnotPrimary {
    let mut o = KnotPrimaryOpts::new(zone, &zone_text(zone, 1));
    o.key = key.cloned();
    o.notify_port = notify_port;
    KnotPrimary::start_with(o)
}

/// Change `i` on the primary: one record added, and from the second change
/// on one removed (the one the previous change added with a different
/// value is replaced), in one commit.
fn change(p: &KnotPrimary, zone: &str, i: u32) {
    let z = format!("{zone}.");
    p.knotc(&["zone-begin", &z]);
    p.knotc(&[
        "zone-set",
        &z,
        &format!("c{i}"),
        "300",
        "A",
        &format!("192.0.2.{}", i % 250 + 1),
    ]);
    if i % 2 == 0 {
        p.knotc(&["zone-unset", &z, &format!("f{i}"), "A"]);
    }
    p.knotc(&["zone-commit", &z]);
}

/// A secondary under test: a real Knot/BIND/NSD, or a pharos node.
enum Node<'a> {
    Real(&'a Secondary),
    Pharos(&'a MgmtNode),
}

impl Node<'_> {
    fn name(&self) -> String {
        match self {
            Node::Real(s) => format!("{} secondary {}", s.opts.kind.name(), s.addr()),
            Node::Pharos(n) => format!("pharos secondary {}", n.pharos.addr()),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Node::Real(s) => s.addr(),
            Node::Pharos(n) => n.pharos.addr(),
        }
    }

    fn serial(&self, zone: &str) -> Option<u32> {
        match self {
            Node::Real(s) => s.serial(zone),
            Node::Pharos(n) => n
                .pharos
                .query(zone, common::wire::TYPE_SOA)
                .ok()
                .and_then(|r| (r.rcode == 0 && r.aa()).then(|| common::soa_serial(&r)).flatten()),
        }
    }

    /// Waits until it serves `serial` for `zone`.
    fn wait_serial(&self, zone: &str, serial: u32) {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < WAIT {
            last = self.serial(zone);
            if last == Some(serial) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = match self {
            Node::Real(s) => common::tail(&s.log(), 30),
            Node::Pharos(n) => n.pharos.log_tail(30),
        };
        panic!(
            "{}: {zone} not at serial {serial} within {WAIT:?} (serves {last:?})\n--- log\n{log}",
            self.name()
        );
    }

    /// Transfers in by kind: Knot/BIND/NSD from their logs, pharos from
    /// `pharos_xfr_transfers_total{kind, result="ok"}`.
    fn xfr_counts(&self, zone: &str) -> XfrCounts {
        match self {
            Node::Real(s) => s.xfr_counts(zone),
            Node::Pharos(n) => {
                let m = parse_metrics(&n.get("/metrics").body, false);
                let ok = |kind| common::sample(&m, "pharos_xfr_transfers_total", &[("kind", kind), ("result", "ok")]);
                XfrCounts {
                    ixfr: ok("ixfr") as usize,
                    axfr: ok("axfr") as usize,
                }
            }
        }
    }
}

/// Every secondary serves `serial` and has the primary's records.
fn all_equal(primary: (SocketAddr, Option<&TsigKeyConf>), zone: &str, serial: u32, nodes: &[Node], round: &str) {
    for n in nodes {
        n.wait_serial(zone, serial);
    }
    let expected = canonical_axfr(primary.0, zone, primary.1);
    for n in nodes {
        let got = canonical_axfr(n.addr(), zone, None);
        assert_same_records(round, "the primary", &expected, &n.name(), &got);
    }
}

/// The transfers out of `kind` the hub counted
/// (`pharos_xfr_out_transfers_total{kind, result="ok"}`).
fn hub_out_counts(hub: &MgmtNode, kind: &str) -> f64 {
    // A transfer is counted just after its last message is written: wait
    // until none is running.
    let running = || {
        let m = parse_metrics(&hub.get("/metrics").body, false);
        common::sample(&m, "pharos_xfr_out_running", &[])
    };
    common::wait_until(
        &hub.pharos,
        std::time::Duration::from_secs(10),
        "transfers out finish",
        || running() == 0.0,
    );
    let m = parse_metrics(&hub.get("/metrics").body, false);
    common::sample(
        &m,
        "pharos_xfr_out_transfers_total",
        &[("kind", kind), ("result", "ok")],
    )
}

/// Asserts one AXFR and then exactly `ixfr` IXFRs for each node.
fn assert_kinds(zone: &str, nodes: &[Node], ixfr: usize) {
    for n in nodes {
        let c = n.xfr_counts(zone);
        assert_eq!(
            c,
            XfrCounts { ixfr, axfr: 1 },
            "{}: expected the first transfer AXFR and then {ixfr} IXFRs, its log says {c:?}",
            n.name()
        );
    }
}

#[test]
fn knot_hub_feeds_three_secondaries() {
    let (up, down) = (up_key(), down_key());
    let hub_port = free_port(false);
    let (bind_port, nsd_port) = (free_port(false), free_port(false));
    let primary = knot_primary(ZONE, Some(&up), Some(hub_port));
    let mut hub_opts = SecondaryOpts::new(
        SecondaryKind::Knot,
        vec![SecondaryZone::new(ZONE, primary.addr(), Some(&up))],
    );
    hub_opts.port = hub_port;
    hub_opts.notify = vec![
        SocketAddr::from(([127, 0, 0, 1], bind_port)),
        SocketAddr::from(([127, 0, 0, 1], nsd_port)),
    ];
    hub_opts.out_key = Some(down.clone());
    let hub = Secondary::start(hub_opts);
    hub.wait_serial(ZONE, 1, WAIT);
    let downstream = |kind, port| {
        let mut o = SecondaryOpts::new(kind, vec![SecondaryZone::new(ZONE, hub.addr(), Some(&down))]);
        o.port = port;
        Secondary::start(o)
    };
    let bind = downstream(SecondaryKind::Bind, bind_port);
    let nsd = downstream(SecondaryKind::Nsd, nsd_port);
    let nodes = [Node::Real(&hub), Node::Real(&bind), Node::Real(&nsd)];
    all_equal((primary.addr(), Some(&up)), ZONE, 1, &nodes, "first transfer");
    for i in 1..=CHANGES {
        change(&primary, ZONE, i);
        all_equal((primary.addr(), Some(&up)), ZONE, 1 + i, &nodes, &format!("change {i}"));
    }
    assert_kinds(ZONE, &nodes, CHANGES as usize);
}

// ------------------------------------------------------------ pharos hub

/// The `[[tsig-key]]` tables for `keys`.
fn keys_toml(keys: &[&TsigKeyConf]) -> String {
    keys.iter().map(|k| k.pharos_toml() + "\n").collect()
}

/// `"127.0.0.1:PORT", ...` for a TOML list.
fn addr_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| toml_str(&format!("127.0.0.1:{p}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// pharos options with management API, listening on `port`, IPv4 only,
/// ready when `ready` is served.
fn pharos_opts(port: u16, ready: &str, toml: String) -> PharosOpts {
    PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: Some(ready.to_string()),
        extra_toml: toml,
        ..Default::default()
    }
}

#[test]
fn chain_knot_pharos_hub_four_secondaries() {
    if !pharos_only("chain_knot_pharos_hub_four_secondaries") {
        return;
    }
    let (up, down) = (up_key(), down_key());
    let hub_port = free_port(false);
    let ports: Vec<u16> = (0..4).map(|_| free_port(false)).collect();
    let primary = knot_primary(ZONE, Some(&up), Some(hub_port));
    // all four secondaries and the test transfer from 127.0.0.1 at once
    let hub = MgmtNode::start(pharos_opts(
        hub_port,
        ZONE,
        format!(
            "{}[[zone]]\nname = {}\nprimaries = [{}]\ntsig-key = \"up-key\"\n\
             allow-transfer = [\"127.0.0.1/32\"]\ntransfer-tsig-key = \"down-key\"\n\
             notify = [{}]\nnotify-source = \"127.0.0.1\"\nixfr-history-depth = 50\n\n\
             [transfer]\nmax-out-per-client = 16\n",
            keys_toml(&[&up, &down]),
            toml_str(ZONE),
            toml_str(&primary.addr_str()),
            addr_list(&ports)
        ),
    ));
    let downstream = |kind, port| {
        let mut o = SecondaryOpts::new(kind, vec![SecondaryZone::new(ZONE, hub.pharos.addr(), Some(&down))]);
        o.port = port;
        Secondary::start(o)
    };
    let knot = downstream(SecondaryKind::Knot, ports[0]);
    let bind = downstream(SecondaryKind::Bind, ports[1]);
    let nsd = downstream(SecondaryKind::Nsd, ports[2]);
    let leaf = MgmtNode::start(pharos_opts(
        ports[3],
        ZONE,
        format!(
            "{}[[zone]]\nname = {}\nprimaries = [{}]\ntsig-key = \"down-key\"\n\
             allow-transfer = [\"127.0.0.1/32\"]\n",
            keys_toml(&[&down]),
            toml_str(ZONE),
            toml_str(&hub.pharos.addr_str())
        ),
    ));
    let nodes = [
        Node::Real(&knot),
        Node::Real(&bind),
        Node::Real(&nsd),
        Node::Pharos(&leaf),
    ];
    all_equal((primary.addr(), Some(&up)), ZONE, 1, &nodes, "first transfer");
    // the hub itself serves what the primary has (signed with its out key)
    assert_same_records(
        "first transfer",
        "the primary",
        &canonical_axfr(primary.addr(), ZONE, Some(&up)),
        "the pharos hub",
        &canonical_axfr(hub.pharos.addr(), ZONE, Some(&down)),
    );
    for i in 1..=CHANGES {
        change(&primary, ZONE, i);
        all_equal((primary.addr(), Some(&up)), ZONE, 1 + i, &nodes, &format!("change {i}"));
    }
    assert_kinds(ZONE, &nodes, CHANGES as usize);
    // the hub counted them too: 4 downstream x 20 IXFRs at least
    let ixfr_out = hub_out_counts(&hub, "ixfr");
    assert!(
        ixfr_out >= f64::from(4 * CHANGES),
        "the hub's /metrics count {ixfr_out} IXFRs out, expected at least {}\n{}",
        4 * CHANGES,
        hub.get("/metrics").body
    );
}

/// Writes `text` to `path` with an mtime a second ahead (so a reload never
/// takes it for the file it loaded).
fn write_zone_file(path: &Path, text: &str) {
    fs::write(path, text).expect("cannot write zone file");
    let f = fs::File::options()
        .write(true)
        .open(path)
        .expect("cannot open zone file");
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .expect("cannot set the zone file's mtime");
}

#[test]
fn hidden_primary_file_zone_notify_sighup() {
    if !pharos_only("hidden_primary_file_zone_notify_sighup") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hub.test.zone");
    write_zone_file(&file, &zone_text(ZONE, 1));
    let hub_port = free_port(false);
    let (knot_port, bind_port) = (free_port(false), free_port(false));
    let hub = Pharos::start(pharos_opts(
        hub_port,
        ZONE,
        format!(
            "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.0/8\"]\nnotify = [{}]\n\
             notify-source = \"127.0.0.1\"\n",
            toml_str(ZONE),
            toml_str(&file.to_string_lossy()),
            addr_list(&[knot_port, bind_port])
        ),
    ));
    let downstream = |kind, port| {
        let mut o = SecondaryOpts::new(kind, vec![SecondaryZone::new(ZONE, hub.addr(), None)]);
        o.port = port;
        Secondary::start(o)
    };
    let knot = downstream(SecondaryKind::Knot, knot_port);
    let bind = downstream(SecondaryKind::Bind, bind_port);
    let nodes = [Node::Real(&knot), Node::Real(&bind)];
    all_equal((hub.addr(), None), ZONE, 1, &nodes, "first transfer");
    // one record added, one removed, serial raised; then SIGHUP
    let edited = zone_text(ZONE, 2).replace("f7 A 198.51.0.8\n", "") + "added A 192.0.2.77\n";
    write_zone_file(&file, &edited);
    hub.signal(libc::SIGHUP);
    all_equal((hub.addr(), None), ZONE, 2, &nodes, "after the edit and SIGHUP");
    let recs = canonical_axfr(hub.addr(), ZONE, None);
    assert!(
        recs.iter()
            .any(|r| r.starts_with("added.hub.test. 300 IN A 192.0.2.77"))
    );
    assert!(!recs.iter().any(|r| r.starts_with("f7.hub.test. ")));
    // they were told by NOTIFY (not by polling: refresh is an hour) and
    // fetched the change by IXFR
    assert_kinds(ZONE, &nodes, 1);
}

/// Sets `version TXT "vI"` on the primary (the zone keeps its size).
fn bump(p: &KnotPrimary, i: u32) {
    let z = format!("{ZONE}.");
    p.knotc(&["zone-begin", &z]);
    p.knotc(&["zone-unset", &z, "version", "TXT"]);
    p.knotc(&["zone-set", &z, "version", "300", "TXT", &format!("v{i}")]);
    p.knotc(&["zone-commit", &z]);
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

#[test]
fn history_across_restart_and_kill9() {
    if !pharos_only("history_across_restart_and_kill9") {
        return;
    }
    const DEPTH: u32 = 10;
    let hub_port = free_port(false);
    let primary = knot_primary(ZONE, None, Some(hub_port));
    let mut hub = Pharos::start(pharos_opts(
        hub_port,
        ZONE,
        format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\nallow-transfer = [\"127.0.0.1/32\"]\n\
             ixfr-history-depth = {DEPTH}\n",
            toml_str(ZONE),
            toml_str(&primary.addr_str())
        ),
    ));
    // no NOTIFY to them: each is told to refresh (knotc zone-refresh)
    let secondary = || {
        Secondary::start(SecondaryOpts::new(
            SecondaryKind::Knot,
            vec![SecondaryZone::new(ZONE, hub.addr(), None)],
        ))
    };
    let (near, mut far) = (secondary(), secondary());
    let z = format!("{ZONE}.");
    let mut serial = 1;
    near.wait_serial(ZONE, serial, WAIT);
    far.wait_serial(ZONE, serial, WAIT);
    far.stop();
    let hub_at = |hub: &Pharos, s: u32| {
        common::wait_until(hub, WAIT, &format!("the hub serves serial {s}"), || {
            hub.query(ZONE, common::wire::TYPE_SOA)
                .ok()
                .and_then(|r| common::soa_serial(&r))
                == Some(s)
        });
    };
    let refresh = |s: &Secondary, want: u32| {
        s.knotc(&["zone-refresh", &z]);
        s.wait_serial(ZONE, want, WAIT);
        assert_same_records(
            &format!("serial {want}"),
            "the hub",
            &canonical_axfr(hub_addr(hub_port), ZONE, None),
            "knot secondary",
            &s.records(ZONE),
        );
    };
    // 1. a clean restart (SIGTERM): one serial behind still gets an IXFR
    bump(&primary, 1);
    serial += 1;
    hub_at(&hub, serial);
    hub.signal(libc::SIGTERM);
    assert!(
        hub.wait_exit(Duration::from_secs(10)).is_some(),
        "pharos did not exit on SIGTERM"
    );
    hub.restart(Some(ZONE));
    refresh(&near, serial);
    assert_eq!(near.xfr_counts(ZONE), XfrCounts { ixfr: 1, axfr: 1 }, "after a restart");
    // 2. kill -9: one serial behind still gets an IXFR
    bump(&primary, 2);
    serial += 1;
    hub_at(&hub, serial);
    hub.kill9();
    hub.restart(Some(ZONE));
    refresh(&near, serial);
    assert_eq!(near.xfr_counts(ZONE), XfrCounts { ixfr: 2, axfr: 1 }, "after kill -9");
    // 3. more changes than the history keeps: `far` (serial 1) gets the
    // whole zone in the IXFR answer and ends up identical
    for i in 3..=DEPTH + 3 {
        bump(&primary, i);
        serial += 1;
        hub_at(&hub, serial);
    }
    far.start_again();
    refresh(&far, serial);
    assert_eq!(
        far.xfr_counts(ZONE),
        XfrCounts { ixfr: 0, axfr: 2 },
        "a secondary older than the history gets the whole zone"
    );
    // 4. the history stays bounded: the data dir after 200 changes is not
    // bigger than after DEPTH + 3 (the zone keeps its size)
    let after_few = dir_bytes(&hub.data_dir());
    for i in DEPTH + 4..DEPTH + 204 {
        bump(&primary, i);
        serial += 1;
    }
    hub_at(&hub, serial);
    std::thread::sleep(Duration::from_millis(500));
    let after_many = dir_bytes(&hub.data_dir());
    assert!(
        after_many <= after_few + 8 * 1024,
        "the hub's data dir grew from {after_few} to {after_many} bytes over 200 changes \
         with ixfr-history-depth = {DEPTH}"
    );
    refresh(&near, serial);
}

fn hub_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The zone with an RRset of ~63 KB (240 TXT records of 250 bytes at one
/// name): about the largest one DNS message can carry.
const BIG_RRSET: &str = "rrset64k.test";

/// The NSEC and NSEC3 signed test zones and [`BIG_RRSET`] (written into
/// `dir`): (name, file).
fn signed_zones(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut t =
        format!("$ORIGIN {BIG_RRSET}.\n$TTL 300\n@ SOA ns1 host 1 3600 2 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..240 {
        let _ = writeln!(t, "big TXT \"{i:03}{}\"", "x".repeat(247));
    }
    let big = dir.join("rrset64k.test.zone");
    fs::write(&big, t).expect("cannot write the 64 KiB RRset zone");
    vec![
        ("signed.test", repo_root().join("tests/dnsdiff/zones/signed.test.zone")),
        ("nsec3.test", repo_root().join("tests/dnsdiff/zones/nsec3.test.zone")),
        (BIG_RRSET, big),
    ]
}

/// Asserts the AXFR of a signed zone has RRSIGs and NSEC or NSEC3
/// records, and that of [`BIG_RRSET`] its 240 TXT records.
fn assert_signed(recs: &[String], name: &str) {
    if name == BIG_RRSET {
        let txt = recs
            .iter()
            .filter(|r| r.starts_with("big.rrset64k.test. 300 IN TXT "))
            .count();
        assert_eq!(txt, 240, "{name}: the AXFR does not carry the whole TXT RRset");
        return;
    }
    assert!(
        recs.iter().any(|r| r.contains(" RRSIG ")) && recs.iter().any(|r| r.contains(" NSEC")),
        "{name}: the AXFR has no RRSIG or no NSEC/NSEC3 records"
    );
}

/// The rig on signed zones: Knot primaries serve the signed test zones
/// (and the 64 KiB RRset), a Knot and a BIND secondary take them; their
/// contents equal the primaries' (the canonical comparison handles DNSSEC
/// rdata).
#[test]
fn knot_primaries_signed_zones_to_knot_and_bind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primaries: Vec<(&str, KnotPrimary)> = signed_zones(dir.path())
        .iter()
        .map(|(name, file)| {
            let text = fs::read_to_string(file).expect("signed test zone");
            (*name, KnotPrimary::start_with(KnotPrimaryOpts::new(name, &text)))
        })
        .collect();
    let zones: Vec<SecondaryZone> = primaries
        .iter()
        .map(|(name, p)| SecondaryZone::new(name, p.addr(), None))
        .collect();
    let knot = Secondary::start(SecondaryOpts::new(SecondaryKind::Knot, zones.clone()));
    let bind = Secondary::start(SecondaryOpts::new(SecondaryKind::Bind, zones));
    for (name, p) in &primaries {
        let nodes = [Node::Real(&knot), Node::Real(&bind)];
        all_equal((p.addr(), None), name, p.serial(), &nodes, name);
        assert_signed(&canonical_axfr(p.addr(), name, None), name);
    }
}

#[test]
fn signed_zones_through_hub() {
    if !pharos_only("signed_zones_through_hub") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let zones = signed_zones(dir.path());
    let (knot_port, bind_port) = (free_port(false), free_port(false));
    let mut toml = String::new();
    for (name, file) in &zones {
        let _ = write!(
            toml,
            "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.1/32\"]\nnotify = [{}]\n\n",
            toml_str(name),
            toml_str(&file.to_string_lossy()),
            addr_list(&[knot_port, bind_port])
        );
    }
    let hub = Pharos::start(pharos_opts(free_port(false), zones[0].0, toml));
    let downstream = |kind, port| {
        let z = zones
            .iter()
            .map(|(n, _)| SecondaryZone::new(n, hub.addr(), None))
            .collect();
        let mut o = SecondaryOpts::new(kind, z);
        o.port = port;
        Secondary::start(o)
    };
    let knot = downstream(SecondaryKind::Knot, knot_port);
    let bind = downstream(SecondaryKind::Bind, bind_port);
    for (name, _) in &zones {
        let serial = hub
            .query(name, common::wire::TYPE_SOA)
            .ok()
            .and_then(|r| common::soa_serial(&r))
            .unwrap_or_else(|| panic!("the hub does not serve {name}"));
        let nodes = [Node::Real(&knot), Node::Real(&bind)];
        all_equal((hub.addr(), None), name, serial, &nodes, name);
        assert_signed(&canonical_axfr(hub.addr(), name, None), name);
    }
}

/// A zone of `n` A records plus the apex, written to `path`.
fn write_big_zone(path: &Path, zone: &str, serial: u32, n: usize) {
    let mut t = String::with_capacity(n * 32);
    let _ = write!(
        t,
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in 0..n {
        let _ = writeln!(t, "h{i} A 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    }
    write_zone_file(path, &t);
}

#[test]
fn million_records_through_hub_and_kill9_during_axfr() {
    if !pharos_only("million_records_through_hub_and_kill9_during_axfr") {
        return;
    }
    const BIG: &str = "big.test";
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("big.test.zone");
    write_big_zone(&file, BIG, 1, 1_000_000);
    let (knot_port, bind_port) = (free_port(false), free_port(false));
    let mut opts = pharos_opts(
        free_port(false),
        BIG,
        format!(
            "[[zone]]\nname = {}\nfile = {}\nallow-transfer = [\"127.0.0.1/32\"]\nnotify = [{}]\n",
            toml_str(BIG),
            toml_str(&file.to_string_lossy()),
            addr_list(&[knot_port, bind_port])
        ),
    );
    opts.ready_zone = None;
    let mut hub = Pharos::start(opts);
    let hub_ready = |hub: &Pharos| {
        common::wait_until(hub, Duration::from_secs(120), "the hub serves big.test", || {
            hub.query(BIG, common::wire::TYPE_SOA)
                .is_ok_and(|r| r.rcode == 0 && r.aa())
        });
    };
    hub_ready(&hub);
    let downstream = |kind, port| {
        let mut o = SecondaryOpts::new(kind, vec![SecondaryZone::new(BIG, hub.addr(), None)]);
        o.port = port;
        Secondary::start(o)
    };
    let knot = downstream(SecondaryKind::Knot, knot_port);
    let bind = downstream(SecondaryKind::Bind, bind_port);
    knot.wait_serial(BIG, 1, Duration::from_secs(120));
    bind.wait_serial(BIG, 1, Duration::from_secs(120));
    let expected = canonical_axfr(hub.addr(), BIG, None);
    assert_eq!(expected.len(), 1_000_003, "the hub's AXFR of big.test");
    assert_same_records("1M zone", "the hub", &expected, "knot secondary", &knot.records(BIG));
    assert_same_records("1M zone", "the hub", &expected, "bind secondary", &bind.records(BIG));
    drop(bind);
    // kill -9 of the hub while Knot takes the zone again by AXFR
    let from = knot.log().len();
    knot.knotc(&["zone-retransfer", &format!("{BIG}.")]);
    let started = Instant::now();
    while !knot.log()[from..].contains("AXFR, incoming") {
        assert!(
            started.elapsed() < WAIT,
            "knot did not start the AXFR\n{}",
            &knot.log()[from..]
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    hub.kill9();
    // Knot keeps serving its old copy, whole
    std::thread::sleep(Duration::from_millis(500));
    let killed_at = knot.log().len();
    let finished = |text: &str| {
        text.lines()
            .any(|l| l.contains("AXFR, incoming") && l.contains("finished"))
    };
    assert!(
        !finished(&knot.log()[from..killed_at]),
        "the AXFR had finished before the hub was killed: nothing was tested\n{}",
        &knot.log()[from..killed_at]
    );
    assert_eq!(knot.serial(BIG), Some(1), "knot lost its zone when the transfer broke");
    let last = knot.records(BIG);
    assert_same_records("while the hub is down", "the hub", &expected, "knot secondary", &last);
    // While the hub is down its zone changes (serial 2, one record more).
    // Knot retries by itself (SOA retry 2 s; after a broken transfer its
    // retry is a refresh, not a new AXFR) and must end up with serial 2.
    write_big_zone(&file, BIG, 2, 1_000_001);
    hub.restart(None);
    hub_ready(&hub);
    knot.wait_serial(BIG, 2, Duration::from_secs(120));
    let expected = canonical_axfr(hub.addr(), BIG, None);
    assert_eq!(expected.len(), 1_000_004, "the hub's AXFR of big.test at serial 2");
    assert_same_records(
        "after the hub came back",
        "the hub",
        &expected,
        "knot secondary",
        &knot.records(BIG),
    );
}
