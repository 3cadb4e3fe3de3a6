//! Config loading from real files: the bundled `config.example.toml`
//! round-trips to the values it documents, and a broken file is rejected
//! with every error and its key path, by the library and by
//! `pharos check-config`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pharos::config::{
    AddressFamily, CatalogRole, Config, ConfigErrors, FleetConfig, MaxRemovals, TimerLimits, TransferConfig,
    TransferOut, ZoneSource,
};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn example_config_round_trips() {
    let root = repo_root();
    let path = root.join("config.example.toml");
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("config.example.toml does not load:\n{e}"),
    };

    assert_eq!(c.node.id, "example-1");
    assert_eq!(c.node.data_dir, root.join("var/pharos"));
    assert_eq!(c.node.location.country_iso.as_deref(), Some("gb"));

    assert_eq!(c.dns.listen, vec![addr("127.0.0.1:5353"), addr("[::1]:5353")]);
    assert_eq!(c.dns.version.as_deref(), Some("pharos"));
    assert!(c.dns.nsid);
    assert_eq!(c.dns.udp_payload, 1232);
    assert_eq!(c.dns.tcp_max_connections, 1024);
    assert_eq!(c.dns.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(c.dns.udp_workers, 0);

    assert_eq!(c.zones.len(), 1);
    assert!(c.templates.is_empty());
    assert_eq!(c.zones[0].name, "example.com");
    match &c.zones[0].source {
        ZoneSource::File(p) => {
            assert_eq!(p, &root.join("zones/example.com.zone"));
        }
        other => panic!("example.com should be a file zone, got {other:?}"),
    }
    assert!(c.tsig_keys.is_empty());
    // The [secondary] table in the example spells out the defaults.
    assert_eq!(c.secondary, TimerLimits::default());
    assert_eq!(c.zones[0].out, TransferOut::default());
    assert_eq!(c.transfer, TransferConfig::default());
    assert_eq!(c.fleet, FleetConfig::default());
    assert_eq!(c.fleet.poll, Duration::from_secs(30));

    let b = &c.bgp;
    assert!(!b.enabled, "BGP must be off in the example");
    assert_eq!(b.asn, 60564);
    assert_eq!(b.router_id, Ipv4Addr::new(10, 0, 0, 1));
    let announce: Vec<String> = b.announce.iter().map(|p| p.to_string()).collect();
    assert_eq!(announce, ["193.47.147.0/24", "2001:67c:1b43::/48"]);
    assert_eq!(b.communities.len(), 1);
    assert_eq!(b.communities[0].to_string(), "60564:100");
    assert_eq!(b.peers.len(), 1);
    let p = &b.peers[0];
    assert_eq!(p.address, IpAddr::from([10, 255, 0, 1]));
    assert_eq!((p.asn, p.port, p.multihop, p.hold_time), (65000, 179, 1, 9));
    assert_eq!(p.families, [AddressFamily::Ipv4, AddressFamily::Ipv6]);
    assert!(p.ipv6_next_hop.is_some());

    let h = &c.health;
    assert_eq!(h.interval, Duration::from_secs(1));
    assert_eq!((h.rise, h.fall), (2, 2));
    assert_eq!(h.drain, Duration::from_secs(5));
    assert_eq!(h.maintenance_file, root.join("var/pharos/maintenance"));
    assert_eq!(h.probe.as_ref().map(|p| p.name.as_str()), Some("example.com"));
    assert!(h.critical_zones.is_empty());
    assert_eq!(h.max_failed_zones, pharos::config::MaxFailed::Percent(50));

    assert_eq!(c.mgmt.listen, Some(addr("127.0.0.1:8053")));
    assert_eq!(c.mgmt.token_file, root.join("var/pharos/token"));
    assert!(c.identity.listen.is_empty());
}

/// Every commented-out example in config.example.toml is valid too, once
/// uncommented (with a real secret in place of the placeholder).
#[test]
fn example_config_commented_keys_are_valid() {
    let text = std::fs::read_to_string(repo_root().join("config.example.toml")).expect("read config.example.toml");
    let mut out = String::new();
    for line in text.lines() {
        let uncommented = line.strip_prefix("# ").unwrap_or(line);
        // Only lines that are TOML, not prose: table headers and key = value.
        let is_header = uncommented.starts_with('[') && uncommented.ends_with(']') && !uncommented.contains(' ');
        let is_toml = is_header
            || uncommented
                .split_once(" = ")
                .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        let line = if line.starts_with("# ") && is_toml {
            uncommented
        } else {
            line
        };
        out.push_str(&line.replace("\"base64...\"", "\"c2VjcmV0c2VjcmV0\""));
        out.push('\n');
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("all.toml");
    std::fs::write(&path, &out).expect("write config");
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("uncommented example does not load:\n{e}\n---\n{out}"),
    };
    assert_eq!(c.tsig_keys.len(), 1);
    assert_eq!(c.zones.len(), 6);
    assert!(c.zones[1].source.is_secondary());
    let producer = c.zone("catalog.fleet.example").expect("the producer example");
    assert_eq!(producer.catalog, Some(CatalogRole::Producer));
    assert!(matches!(&producer.source, ZoneSource::File(p) if p.ends_with("catalog/catalog.fleet.example.zone")));
    let member = c.zone("member.example").expect("the member example");
    assert_eq!(
        member.catalog,
        Some(CatalogRole::Member("catalog.fleet.example".into()))
    );
    assert_eq!(member.catalog_group.as_deref(), Some("customers"));
    match &c.zone("catalog.other.example").expect("the consumer example").catalog {
        Some(CatalogRole::Consumer(k)) => {
            assert_eq!(k.member_template.as_deref(), Some("customers"));
            assert_eq!(k.max_removals, MaxRemovals::default());
        }
        other => panic!("consumer: {other:?}"),
    }
    assert_eq!(c.templates.len(), 1);
    let customer = c.zone("customer.example").expect("the templated example zone");
    assert_eq!(customer.template.as_deref(), Some("customers"));
    assert!(customer.source.is_secondary());
    assert_eq!(customer.out.notify.len(), 2);
    let out = &c.zones[0].out;
    assert_eq!(out.allow_transfer.len(), 2);
    assert_eq!(out.tsig_key.as_deref(), Some("xfr-key"));
    assert_eq!(out.notify, vec![addr("10.8.0.11:53"), addr("10.8.0.12:5353")]);
    assert_eq!(out.notify_source, Some(IpAddr::from([10, 8, 0, 1])));
    // The commented values are the defaults.
    assert_eq!(
        (out.history_depth, out.history_bytes),
        (
            TransferOut::default().history_depth,
            TransferOut::default().history_bytes
        )
    );
    assert_eq!(c.transfer, TransferConfig::default());
    assert_eq!(c.identity.listen, vec![addr("127.0.0.1:8080")]);
    assert_eq!(c.bgp.peers[0].password.as_deref(), Some("secret"));
}

const BROKEN: &str = r#"# a config with many mistakes
[node]
id = "broken-1"

[dns]
listen = ["127.0.0.1:5353", "127.0.0.1:99999"]
udp-payload = 100000
tcp-idle-timeout = "ten seconds"

[[zone]]
name = "example.com"
fil = "zones/example.com.zone"

[[zone]]
name = "example.net"
primaries = ["192.0.2.1"]
tsig-key = "missing-key"

[bgp]
announce = ["193.0.0.1/24"]

[[bgp.peer]]
address = "10.255.0.1"
asn = 0
families = ["ipv4"]
"#;

const BROKEN_KEYS: &[&str] = &[
    "dns.listen[1]",
    "dns.udp-payload",
    "dns.tcp-idle-timeout",
    "zone[0].fil",
    "zone[1].tsig-key",
    "bgp.announce[0]",
    "bgp.peer[0].asn",
];

fn write_broken(dir: &Path) -> PathBuf {
    let path = dir.join("broken.toml");
    std::fs::write(&path, BROKEN).expect("write broken config");
    path
}

#[test]
fn broken_config_reports_every_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_broken(dir.path());
    let err: ConfigErrors = match Config::load(&path) {
        Ok(_) => panic!("broken config accepted"),
        Err(e) => e,
    };
    assert_eq!(err.file, path);
    let keys: Vec<&str> = err.errors.iter().map(|e| e.key.as_str()).collect();
    assert!(err.errors.len() >= 3);
    assert_eq!(keys, BROKEN_KEYS, "{err}");
    assert!(err.errors.iter().all(|e| e.line.is_some()), "{err}");
    let bgp = &err.errors[5];
    assert!(bgp.message.contains("193.0.0.1/24 has host bits set"), "{bgp:?}");
    assert_eq!(bgp.line, Some(20));
}

#[test]
fn check_config_binary_lists_every_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_broken(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run pharos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    for key in BROKEN_KEYS {
        assert!(stderr.contains(&format!(": {key}: ")), "{key} missing:\n{stderr}");
    }
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

/// `pharos check-config` names every template problem with its key path
/// and line: an unknown template (with the closest name), a duplicate
/// name, a zone with both sources (one from the template), an unknown
/// transfer-tsig-key, a notify target that notify-source cannot reach.
#[test]
fn check_config_names_template_problems() {
    const TEMPLATES: &str = r#"[node]
id = "t"

[dns]
listen = ["127.0.0.1:5353"]

[[template]]
name = "customers"
primaries = ["198.51.100.7"]
notify = ["10.8.0.11", "[2001:db8::11]:53"]

[[template]]
name = "customers"

[[zone]]
name = "a.example"
template = "custmers"

[[zone]]
name = "b.example"
template = "customers"
file = "b.zone"

[[zone]]
name = "c.example"
primaries = ["192.0.2.1"]
transfer-tsig-key = "nokey"

[[zone]]
name = "d.example"
template = "customers"
notify-source = "10.8.0.1"
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("templates.toml");
    std::fs::write(&path, TEMPLATES).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run pharos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let file = path.display().to_string();
    for want in [
        format!("{file}:13:8: template[1].name: duplicate template name \"customers\" (also template[0])"),
        format!("{file}:17:12: zone[0].template: no [[template]] named \"custmers\" (did you mean \"customers\"?)"),
        format!(
            "{file}:19:1: zone[1]: set either `file` or `primaries`, not both (it has `file` and `primaries` from template \"customers\")"
        ),
        format!("{file}:27:21: zone[2].transfer-tsig-key: no [[tsig-key]] named \"nokey\""),
        format!(
            "{file}:10:24: template[0].notify[1]: IPv6 address [2001:db8::11]:53 cannot be reached from notify-source 10.8.0.1 (IPv4) (in zone[3], which takes it from template[0])"
        ),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
    assert!(stderr.contains("5 errors"), "{stderr}");
}
