//! Tests of the whole config pipeline: TOML text in, `Config` or every
//! error (with key path and line) out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

pub(super) const MINIMAL: &str = "[node]\nid = \"t\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n";

pub(super) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_str(text, Path::new("/etc/pharos"), Path::new("/etc/pharos/pharos.toml"))
}

pub(super) fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.errors,
    }
}

/// Asserts an error at exactly `key` whose message contains `fragment`.
#[track_caller]
pub(super) fn assert_error(errs: &[ConfigError], key: &str, fragment: &str) {
    assert!(
        errs.iter().any(|e| e.key == key && e.message.contains(fragment)),
        "no error at {key} containing {fragment:?}; got:\n{errs:#?}"
    );
}

pub(super) fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

const FULL: &str = r#"
[node]
id = "lon-b"
data-dir = "/var/lib/pharos"

[node.location]
city = "London"
country = "England"
country-iso = "GB"
display = "England, London, B"

[dns]
listen = ["127.0.0.1:5353", "[::1]:5353", "192.0.2.9"]
version = "pharos"
nsid = true
udp-payload = 1400
tcp-max-connections = 100
tcp-idle-timeout = "2500ms"
udp-workers = 4

[[tsig-key]]
name = "XFR-key."
algorithm = "hmac-sha512"
secret = "c2VjcmV0"

[[zone]]
name = "Example.COM."
file = "zones/example.com.zone"

[[zone]]
name = "example.net"
primaries = ["192.0.2.1:5300", "[2001:db8::1]:53", "192.0.2.2"]
tsig-key = "xfr-key"
allow-notify = ["192.0.2.7", "2001:db8:5::/64"]
refresh-min = "1m"

[[zone]]
name = "."
primaries = ["192.0.2.3"]

[secondary]
refresh-max = "12h"
expire-min = "1h"

[bgp]
enabled = true
asn = 60564
router-id = "10.0.0.1"
announce = ["193.47.147.0/24", "2001:67c:1b43::/48"]
communities = ["60564:100"]
large-communities = ["60564:1:2"]

[[bgp.peer]]
address = "10.255.0.1"
asn = 65000
local-address = "10.255.0.2"
password = "secret"
multihop = 2
hold-time = 0
families = ["ipv4", "ipv6"]
ipv6-next-hop = "2001:db8:ffff::2"
prepend = 2
med = 10

[[bgp.peer]]
address = "2001:db8::ff"
port = 1179
asn = 65001
families = ["ipv6"]

[health]
interval = "500ms"
rise = 3
fall = 1
probe = "example.com AAAA"
drain = "0s"

[mgmt]
listen = "127.0.0.1:8053"
token-file = "token"

[identity]
listen = ["127.0.0.1:8080", "[::1]:8080"]
"#;

#[test]
fn full_config_is_typed() {
    let c = ok(FULL);
    assert_eq!(c.node.id, "lon-b");
    assert_eq!(c.node.data_dir, PathBuf::from("/var/lib/pharos"));
    assert_eq!(c.node.location.country_iso.as_deref(), Some("gb"));
    assert_eq!(c.node.location.city.as_deref(), Some("London"));

    assert_eq!(c.dns.listen.len(), 3);
    assert_eq!(c.dns.listen[2], "192.0.2.9:53".parse::<SocketAddr>().unwrap());
    assert_eq!(c.dns.version.as_deref(), Some("pharos"));
    assert!(c.dns.nsid);
    assert_eq!(c.dns.udp_payload, 1400);
    assert_eq!(c.dns.tcp_max_connections, 100);
    assert_eq!(c.dns.tcp_idle_timeout, Duration::from_millis(2500));
    assert_eq!(c.dns.udp_workers, 4);

    assert_eq!(c.tsig_keys.len(), 1);
    let key = &c.tsig_keys[0];
    assert_eq!(key.name, "xfr-key");
    assert_eq!(key.algorithm, TsigAlgorithm::HmacSha512);
    assert_eq!(key.secret, b"secret");
    assert!(!format!("{key:?}").contains("secret\""));
    assert!(c.tsig_key("XFR-KEY.").is_some());

    assert_eq!(c.zones.len(), 3);
    assert_eq!(c.zones[0].name, "example.com");
    match &c.zones[0].source {
        ZoneSource::File(p) => assert_eq!(p, Path::new("/etc/pharos/zones/example.com.zone")),
        other => panic!("{other:?}"),
    }
    assert!(c.zone("EXAMPLE.com.").is_some());
    let ZoneSource::Secondary {
        primaries,
        tsig_key,
        allow_notify,
        timers,
    } = &c.zones[1].source
    else {
        panic!("example.net is a secondary");
    };
    assert_eq!(
        primaries,
        &[
            "192.0.2.1:5300".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:53".parse().unwrap(),
            "192.0.2.2:53".parse().unwrap(),
        ]
    );
    assert_eq!(tsig_key.as_deref(), Some("xfr-key"));
    assert_eq!(allow_notify.len(), 2);
    assert!(allow_notify[1].contains(&"2001:db8:5::9".parse().unwrap()));
    // Zone override, then [secondary], then the built-in default.
    assert_eq!(timers.refresh_min, Duration::from_secs(60));
    assert_eq!(timers.refresh_max, Duration::from_secs(12 * 3600));
    assert_eq!(timers.expire_min, Duration::from_secs(3600));
    assert_eq!(timers.retry_min, TimerLimits::default().retry_min);
    assert_eq!(timers.refresh(10), Duration::from_secs(60));
    assert_eq!(timers.refresh(7200), Duration::from_secs(7200));
    assert_eq!(timers.refresh(u32::MAX), Duration::from_secs(12 * 3600));
    assert_eq!(c.zones[2].name, ".");
    assert_eq!(c.secondary.refresh_max, Duration::from_secs(12 * 3600));

    let b = &c.bgp;
    assert!(b.enabled);
    assert_eq!(b.asn, 60564);
    assert_eq!(b.router_id, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(b.announce[0].to_string(), "193.47.147.0/24");
    assert_eq!(b.announce[1].len, 48);
    assert_eq!(b.communities, vec![Community(60564, 100)]);
    assert_eq!(b.large_communities, vec![LargeCommunity(60564, 1, 2)]);
    assert_eq!(b.peers.len(), 2);
    let p = &b.peers[0];
    assert_eq!(p.address, IpAddr::from([10, 255, 0, 1]));
    assert_eq!(p.port, 179);
    assert_eq!(p.asn, 65000);
    assert_eq!(p.local_address, Some(IpAddr::from([10, 255, 0, 2])));
    assert_eq!(p.password.as_deref(), Some("secret"));
    assert!(!format!("{p:?}").contains("\"secret\""));
    assert_eq!((p.multihop, p.hold_time, p.prepend, p.med), (2, 0, 2, Some(10)));
    assert!(p.carries(AddressFamily::Ipv4) && p.carries(AddressFamily::Ipv6));
    assert_eq!(p.ipv6_next_hop, Some("2001:db8:ffff::2".parse().unwrap()));
    let q = &b.peers[1];
    assert_eq!((q.port, q.hold_time, q.multihop, q.med), (1179, 9, 1, None));
    assert_eq!(q.families, vec![AddressFamily::Ipv6]);

    let h = &c.health;
    assert_eq!(h.interval, Duration::from_millis(500));
    assert_eq!((h.rise, h.fall), (3, 1));
    assert_eq!(
        h.probe,
        Some(HealthProbe {
            name: "example.com".into(),
            qtype: 28
        })
    );
    assert_eq!(h.drain, Duration::ZERO);
    assert_eq!(h.maintenance_file, PathBuf::from("/var/lib/pharos/maintenance"));
    assert_eq!(c.mgmt.listen, Some("127.0.0.1:8053".parse().unwrap()));
    assert_eq!(c.mgmt.token_file, PathBuf::from("/etc/pharos/token"));
    assert_eq!(c.identity.listen.len(), 2);
}

#[test]
fn minimal_config_gets_defaults() {
    let c = ok(MINIMAL);
    assert_eq!(c.node.id, "t");
    assert_eq!(c.node.data_dir, PathBuf::from("/etc/pharos/var/pharos"));
    assert_eq!(c.node.location, NodeLocation::default());
    assert_eq!(c.dns.version, None);
    assert!(!c.dns.nsid);
    assert_eq!(c.dns.udp_payload, 1232);
    assert_eq!(c.dns.tcp_max_connections, 1024);
    assert_eq!(c.dns.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(c.dns.udp_workers, 0);
    assert!(c.zones.is_empty() && c.tsig_keys.is_empty());
    assert_eq!(c.secondary, TimerLimits::default());
    assert!(!c.bgp.enabled);
    assert!(c.bgp.peers.is_empty() && c.bgp.announce.is_empty());
    assert_eq!(c.health.interval, Duration::from_secs(1));
    assert_eq!((c.health.rise, c.health.fall), (2, 2));
    assert_eq!(c.health.drain, Duration::from_secs(5));
    assert_eq!(c.health.probe, None);
    assert_eq!(
        c.health.maintenance_file,
        PathBuf::from("/etc/pharos/var/pharos/maintenance")
    );
    assert_eq!(c.mgmt.listen, None);
    assert_eq!(c.mgmt.token_file, PathBuf::from("/etc/pharos/var/pharos/token"));
    assert!(c.identity.listen.is_empty());
}

#[test]
fn peer_defaults() {
    let c = ok(&with(
        "[[bgp.peer]]\naddress = \"10.0.0.2\"\nasn = 65000\nfamilies = [\"ipv4\"]\n",
    ));
    let p = &c.bgp.peers[0];
    assert_eq!((p.port, p.multihop, p.hold_time, p.prepend), (179, 1, 9, 0));
    assert_eq!((p.med, p.local_address, &p.password), (None, None, &None));
    // Default families are ipv4 and ipv6.
    let c = ok(&with(
        "[[bgp.peer]]\naddress = \"10.0.0.2\"\nasn = 65000\nipv6-next-hop = \"2001:db8::2\"\n",
    ));
    assert_eq!(c.bgp.peers[0].families, vec![AddressFamily::Ipv4, AddressFamily::Ipv6]);
}

#[test]
fn node_and_dns_errors() {
    let errs = errors(
        "[node]\ndata-dir = \"\"\n[node.location]\ncountry-iso = \"gbr\"\n\
         [dns]\nlisten = [\"127.0.0.1:5353\", \"nonsense\", \"127.0.0.1:5353\"]\n\
         udp-payload = 100\ntcp-max-connections = 0\ntcp-idle-timeout = \"10\"\n\
         udp-workers = -1\nversion = \"\"\n",
    );
    assert_error(&errs, "node.id", "required");
    assert_error(&errs, "node.data-dir", "must not be empty");
    assert_error(&errs, "node.location.country-iso", "two-letter");
    assert_error(&errs, "dns.listen[1]", "not an address");
    assert_error(&errs, "dns.listen[2]", "duplicate of dns.listen[0]");
    assert_error(&errs, "dns.udp-payload", "512..=4096");
    assert_error(&errs, "dns.tcp-max-connections", "out of range");
    assert_error(&errs, "dns.tcp-idle-timeout", "no unit");
    assert_error(&errs, "dns.udp-workers", "out of range");
    assert_error(&errs, "dns.version", "must not be empty");
    assert_eq!(errs.len(), 10, "{errs:#?}");

    assert_error(&errors("[node]\nid = \"x\"\n"), "dns.listen", "required");
    assert_error(
        &errors("[node]\nid = \"x\"\n[dns]\nlisten = []\n"),
        "dns.listen",
        "at least one",
    );
    assert_error(&errors(""), "node.id", "required");
}

#[test]
fn zone_errors() {
    let errs = errors(&with(
        r#"
[[zone]]
name = "a..b"
file = "x.zone"

[[zone]]
name = "example.com"
file = "a.zone"
primaries = ["192.0.2.1"]

[[zone]]
name = "EXAMPLE.com."
primaries = []

[[zone]]
file = "b.zone"
tsig-key = "k"
refresh-min = "1s"

[[zone]]
name = "example.org"
primaries = ["192.0.2.1:53", "bad", "192.0.2.1", "192.0.2.5:0"]
tsig-key = "nokey"
allow-notify = ["192.0.2.0/33"]
refresh-min = "2d"

[[zone]]
name = "example.info"

[[zone]]
name = "xn--bcher-kva.example"
primaries = ["192.0.2.1"]
retry-max = "nope"
"#,
    ));
    assert_error(&errs, "zone[0].name", "empty label");
    assert_error(&errs, "zone[1]", "not both");
    assert_error(&errs, "zone[2].name", "duplicate zone \"example.com\" (also zone[1])");
    assert_error(&errs, "zone[2].primaries", "at least one primary");
    assert_error(&errs, "zone[3].name", "required");
    assert_error(&errs, "zone[3].tsig-key", "only to secondary zones");
    assert_error(&errs, "zone[3].refresh-min", "only to secondary zones");
    assert_error(&errs, "zone[4].primaries[1]", "not an address");
    assert_error(&errs, "zone[4].primaries[2]", "duplicate of zone[4].primaries[0]");
    assert_error(&errs, "zone[4].primaries[3]", "port 0");
    assert_error(&errs, "zone[4].tsig-key", "no [[tsig-key]] named \"nokey\"");
    assert_error(&errs, "zone[4].allow-notify[0]", "longer than 32");
    assert_error(&errs, "zone[4].refresh-min", "greater than refresh-max (1d)");
    assert_error(&errs, "zone[5]", "needs `file`");
    assert_error(&errs, "zone[6].retry-max", "not a duration");
    assert_eq!(errs.len(), 15, "{errs:#?}");
}

#[test]
fn long_zone_names() {
    let label = "a".repeat(64);
    assert_error(
        &errors(&with(&format!("[[zone]]\nname = \"{label}.com\"\nfile = \"z\"\n"))),
        "zone[0].name",
        "at most 63",
    );
    let name = vec!["b".repeat(63); 4].join(".");
    assert_error(
        &errors(&with(&format!("[[zone]]\nname = \"{name}\"\nfile = \"z\"\n"))),
        "zone[0].name",
        "at most 255",
    );
}

#[test]
fn tsig_errors() {
    let errs = errors(&with(
        r#"
[[tsig-key]]
name = "k1"
algorithm = "hmac-sha3"
secret = "not base64!"

[[tsig-key]]
name = "K1."
algorithm = "HMAC-MD5.SIG-ALG.REG.INT"
secret = ""

[[tsig-key]]
secret = "c2VjcmV0"
"#,
    ));
    assert_error(&errs, "tsig-key[0].algorithm", "unknown algorithm \"hmac-sha3\"");
    assert_error(&errs, "tsig-key[0].secret", "not valid base64");
    assert_error(&errs, "tsig-key[1].name", "duplicate key name \"k1\"");
    assert_error(&errs, "tsig-key[1].secret", "must not be empty");
    assert_error(&errs, "tsig-key[2].name", "required");
    assert_error(&errs, "tsig-key[2].algorithm", "required");
    assert_eq!(errs.len(), 6, "{errs:#?}");
    // A key with a bad secret still exists as a name: no second error on
    // the zone that uses it.
    let errs = errors(&with(
        "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha1\"\nsecret = \"!\"\n\
         [[zone]]\nname = \"z\"\nprimaries = [\"192.0.2.1\"]\ntsig-key = \"k\"\n",
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn bgp_errors() {
    let errs = errors(&with(
        r#"
[bgp]
enabled = true
announce = ["193.47.147.0/24", "193.0.0.0/25", "193.0.0.1/24", "2001:db8::/64", "193.47.147.0/24", "nope"]
communities = ["60564:100", "70000:1", "1"]
large-communities = ["1:2"]

[[bgp.peer]]
address = "10.255.0.1"
asn = 0
hold-time = 2
multihop = 0
local-address = "2001:db8::2"
password = ""

[[bgp.peer]]
address = "not-an-ip"
families = ["ipv4", "ipx", "ipv4"]

[[bgp.peer]]
address = "2001:db8::1"
asn = 65000
ipv6-next-hop = "10.0.0.1"
prepend = 17
med = -1
"#,
    ));
    assert_error(&errs, "bgp.asn", "required when bgp.enabled");
    assert_error(&errs, "bgp.router-id", "required when bgp.enabled");
    assert_error(&errs, "bgp.announce[1]", "more specific than /24");
    assert_error(&errs, "bgp.announce[2]", "193.0.0.1/24 has host bits set");
    assert_error(&errs, "bgp.announce[3]", "more specific than /48");
    assert_error(&errs, "bgp.announce[4]", "listed twice (also bgp.announce[0])");
    assert_error(&errs, "bgp.announce[5]", "not a prefix");
    assert_error(&errs, "bgp.communities[1]", "not a community");
    assert_error(&errs, "bgp.communities[2]", "not a community");
    assert_error(&errs, "bgp.large-communities[0]", "not a large community");
    assert_error(&errs, "bgp.peer[0].asn", "must not be 0");
    assert_error(&errs, "bgp.peer[0].hold-time", "at least 3");
    assert_error(&errs, "bgp.peer[0].multihop", "out of range");
    assert_error(&errs, "bgp.peer[0].local-address", "same address family");
    assert_error(&errs, "bgp.peer[0].password", "1..=80");
    assert_error(&errs, "bgp.peer[0].ipv6-next-hop", "session is ipv4");
    assert_error(&errs, "bgp.peer[1].address", "not an IP address");
    assert_error(&errs, "bgp.peer[1].asn", "required");
    assert_error(&errs, "bgp.peer[1].families[1]", "unknown family \"ipx\"");
    assert_error(&errs, "bgp.peer[1].families[2]", "listed twice");
    assert_error(&errs, "bgp.peer[2].ipv6-next-hop", "not an IPv6 address");
    assert_error(&errs, "bgp.peer[2].ipv4-next-hop", "session is ipv6");
    assert_error(&errs, "bgp.peer[2].prepend", "out of range");
    assert_error(&errs, "bgp.peer[2].med", "out of range");
    assert_eq!(errs.len(), 24, "{errs:#?}");
}

#[test]
fn bgp_announce_and_peer_sanity() {
    let many: Vec<String> = (0..257).map(|i| format!("\"65001:{i}\"")).collect();
    let large: Vec<String> = (0..129).map(|i| format!("\"65001:{i}:0\"")).collect();
    let errs = errors(&with(&format!(
        r#"
[bgp]
enabled = true
asn = 65001
router-id = "10.0.0.1"
announce = ["0.0.0.0/0", "239.1.2.0/24", "ff00::/8", "::/0", "192.0.2.0/24"]
communities = [{}]
large-communities = [{}]

[[bgp.peer]]
address = "10.255.0.1"
asn = 65001
families = ["ipv4"]
ipv4-next-hop = "0.0.0.0"

[[bgp.peer]]
address = "10.255.0.5"
asn = 65000
ipv6-next-hop = "ff02::1"
"#,
        many.join(", "),
        large.join(", ")
    )));
    assert_error(&errs, "bgp.announce[0]", "0.0.0.0/0 is a default route");
    assert_error(&errs, "bgp.announce[1]", "239.1.2.0/24 is a multicast range");
    assert_error(&errs, "bgp.announce[2]", "ff00::/8 is a multicast range");
    assert_error(&errs, "bgp.announce[3]", "::/0 is a default route");
    assert_error(&errs, "bgp.communities", "257 communities; at most 256");
    assert_error(&errs, "bgp.large-communities", "129 large communities; at most 128");
    assert_error(&errs, "bgp.peer[0].asn", "pharos speaks eBGP only");
    assert_error(&errs, "bgp.peer[0].ipv4-next-hop", "0.0.0.0 is not a unicast address");
    assert_error(&errs, "bgp.peer[1].ipv6-next-hop", "ff02::1 is not a unicast address");
    assert_eq!(errs.len(), 9, "{errs:#?}");
}

#[test]
fn bgp_checked_even_when_disabled() {
    let errs = errors(&with(
        "[bgp]\nasn = 23456\nrouter-id = \"0.0.0.0\"\nannounce = [\"10.0.0.1/8\"]\n\
         [[bgp.peer]]\naddress = \"10.0.0.2\"\nasn = 65000\n\
         [[bgp.peer]]\naddress = \"10.0.0.2\"\nasn = 65001\nfamilies = [\"ipv4\"]\n",
    ));
    assert_error(&errs, "bgp.asn", "AS_TRANS");
    assert_error(&errs, "bgp.router-id", "0.0.0.0");
    assert_error(&errs, "bgp.announce[0]", "did you mean 10.0.0.0/8");
    assert_error(&errs, "bgp.peer[0].ipv6-next-hop", "families = [\"ipv4\"]");
    assert_error(
        &errs,
        "bgp.peer[1].address",
        "duplicate peer 10.0.0.2 (also bgp.peer[0])",
    );
    assert_eq!(errs.len(), 5, "{errs:#?}");
    // Absent or disabled without asn/router-id: fine.
    ok(&with("[bgp]\nenabled = false\n"));
}

#[test]
fn health_mgmt_identity_errors() {
    let errs = errors(&with(
        r#"
[health]
interval = "0s"
rise = 0
fall = 1001
probe = "example.com SOA extra"
drain = "5 s"
maintenance-file = ""

[mgmt]
listen = "127.0.0.1"
token-file = ""

[identity]
listen = ["127.0.0.1:5353", "localhost:80"]
"#,
    ));
    assert_error(&errs, "health.interval", "greater than 0");
    assert_error(&errs, "health.rise", "out of range");
    assert_error(&errs, "health.fall", "out of range");
    assert_error(&errs, "health.probe", "NAME TYPE");
    assert_error(&errs, "health.drain", "no unit");
    assert_error(&errs, "health.maintenance-file", "must not be empty");
    assert_error(&errs, "mgmt.listen", "not an address:port");
    assert_error(&errs, "mgmt.token-file", "must not be empty");
    assert_error(&errs, "identity.listen[0]", "already used by dns.listen[0]");
    assert_error(&errs, "identity.listen[1]", "not an address:port");
    assert_eq!(errs.len(), 10, "{errs:#?}");
    assert_error(
        &errors(&with("[health]\nprobe = \"example.com BOGUS\"\n")),
        "health.probe",
        "unknown record type",
    );
    let c = ok(&with("[health]\nprobe = \"Example.com.\"\n"));
    assert_eq!(
        c.health.probe.map(|p| (p.name, p.qtype)),
        Some(("example.com".into(), 6))
    );
}

#[test]
fn critical_zones_and_max_failed_zones() {
    use super::MaxFailed;
    let c = ok(&with("[health]\n"));
    assert!(c.health.critical_zones.is_empty());
    assert_eq!(c.health.max_failed_zones, MaxFailed::Percent(50));
    let c = ok(&with(
        "[health]\ncritical-zones = [\"Esgob.com.\", \"not-configured.example\"]\nmax-failed-zones = \"10 %\"\n",
    ));
    assert_eq!(c.health.critical_zones, ["esgob.com", "not-configured.example"]);
    assert_eq!(c.health.max_failed_zones, MaxFailed::Percent(10));
    let c = ok(&with("[health]\nmax-failed-zones = 100\n"));
    assert_eq!(c.health.max_failed_zones, MaxFailed::Count(100));
    let errs = errors(&with(
        "[health]\ncritical-zones = [\"a..b\", \"x.test\", \"X.test.\"]\nmax-failed-zones = \"150%\"\n",
    ));
    assert_error(&errs, "health.critical-zones[0]", "empty label");
    assert_error(&errs, "health.critical-zones[2]", "listed twice");
    assert_error(&errs, "health.max-failed-zones", "percentage");
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_error(
        &errors(&with("[health]\nmax-failed-zones = -1\n")),
        "health.max-failed-zones",
        "negative",
    );
    assert_error(
        &errors(&with("[health]\nmax-failed-zones = true\n")),
        "health.max-failed-zones",
        "percentage",
    );
}

#[test]
fn unknown_keys_and_types_are_all_reported_with_lines() {
    let text = "[node]\nid = \"t\"\nidd = 1\n\
                [dns]\nlisten = [\"127.0.0.1:5353\", 7]\nnsid = \"yes\"\nlisen = []\n\
                [[zone]]\nname = \"a\"\nfil = \"x\"\n\
                [bogus]\nx = 1\n\
                [bgp]\nasn = \"60564\"\n[[bgp.peer]]\naddress = \"10.0.0.1\"\nasn = 65000\nmtu = 1\n\
                families = [\"ipv4\"]\n";
    let errs = errors(text);
    assert_error(&errs, "node.idd", "unknown key `idd` (did you mean `id`?)");
    assert_error(&errs, "dns.listen[1]", "invalid type: integer `7`");
    assert_error(&errs, "dns.nsid", "invalid type: string");
    assert_error(&errs, "dns.lisen", "did you mean `listen`");
    assert_error(&errs, "zone[0].fil", "did you mean `file`");
    assert_error(&errs, "bogus", "unknown key `bogus`, expected one of `node`");
    assert_error(&errs, "bgp.asn", "invalid type: string");
    assert_error(&errs, "bgp.peer[0].mtu", "unknown key");
    // zone[0] has a `fil` typo: no second "needs `file`" error for it, and
    // dns.listen's bad element does not also produce "dns.listen required".
    assert_eq!(errs.len(), 8, "{errs:#?}");
    let line_of = |key: &str| errs.iter().find(|e| e.key == key).and_then(|e| e.line);
    assert_eq!(line_of("node.idd"), Some(3));
    assert_eq!(line_of("dns.listen[1]"), Some(5));
    assert_eq!(line_of("zone[0].fil"), Some(10));
    assert_eq!(line_of("bgp.peer[0].mtu"), Some(18));
    // Sorted by line.
    let lines: Vec<usize> = errs.iter().filter_map(|e| e.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn nested_tables_report_every_key() {
    let errs = errors(&with(
        "[node.location]\ncity = 1\ncountry = 2\ncuntry-iso = \"gb\"\n\
         [[zone]]\nname = \"z\"\nfile = \"\"\nfil = \"x\"\n",
    ));
    assert_error(&errs, "node.location.city", "invalid type");
    assert_error(&errs, "node.location.country", "invalid type");
    assert_error(&errs, "node.location.cuntry-iso", "did you mean `country-iso`");
    // `file` is present, so the typo `fil` does not silence its checks.
    assert_error(&errs, "zone[0].fil", "did you mean `file`");
    assert_error(&errs, "zone[0].file", "must not be empty");
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn wrong_section_types() {
    let errs = errors("node = 1\ndns = \"x\"\nzone = {}\n");
    assert_error(&errs, "node", "expected a table");
    assert_error(&errs, "dns", "expected a table");
    assert_error(&errs, "zone", "expected an array of tables");
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn validation_errors_get_lines() {
    let errs = errors(&with("\n[[zone]]\nname = \"a\"\nprimaries = [\"x\"]\n"));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].key, "zone[0].primaries[0]");
    assert_eq!(errs[0].line, Some(8));
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = parse("[node]\nid = \"t\"\n[dns\nlisten = []\n").unwrap_err();
    assert_eq!(err.errors.len(), 1);
    let e = &err.errors[0];
    assert_eq!(e.key, "");
    assert!(e.message.starts_with("TOML syntax:"), "{e:?}");
    assert_eq!(e.line, Some(3));
    assert!(e.column.is_some());
    let shown = err.to_string();
    assert!(shown.contains("/etc/pharos/pharos.toml:3:"), "{shown}");

    let dup = parse("[node]\nid = \"a\"\nid = \"b\"\n").unwrap_err();
    assert_eq!(dup.errors[0].line, Some(3), "{dup}");
}

#[test]
fn display_lists_every_error() {
    let err = parse("[node]\n[dns]\nlisten = [\"x\"]\nudp-payload = 1\n").unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("/etc/pharos/pharos.toml: 3 errors\n"), "{shown}");
    assert!(
        shown.contains("\n  /etc/pharos/pharos.toml:3:11: dns.listen[0]: \"x\" is not"),
        "{shown}"
    );
    assert!(shown.contains("dns.udp-payload: 1 is out of range"), "{shown}");
    assert!(shown.contains("node.id: required"), "{shown}");
    assert!(!shown.ends_with('\n'));
    let one = parse("[dns]\nlisten = [\"127.0.0.1:1\"]\n").unwrap_err().to_string();
    assert!(one.starts_with("/etc/pharos/pharos.toml: 1 error\n"), "{one}");
}

#[test]
fn load_resolves_paths_against_the_file() {
    let dir = std::env::temp_dir().join(format!("pharos-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}[[zone]]\nname = \"z\"\nfile = \"zones/z.zone\"\n"),
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.node.data_dir, dir.join("var/pharos"));
    assert!(matches!(&c.zones[0].source, ZoneSource::File(p) if *p == dir.join("zones/z.zone")));
    let missing = Config::load(&dir.join("missing.toml")).unwrap_err();
    assert!(missing.to_string().contains("cannot read the file"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tsig_algorithm_names() {
    for a in TsigAlgorithm::ALL {
        assert_eq!(TsigAlgorithm::from_name(a.name()), Some(a));
        assert_eq!(a.name().parse::<TsigAlgorithm>(), Ok(a));
        assert_eq!(TsigAlgorithm::from_name(&format!("{}.", a.wire_name())), Some(a));
    }
    assert_eq!(TsigAlgorithm::HmacSha256.mac_len(), 32);
    assert!("hmac-sha3".parse::<TsigAlgorithm>().is_err());
}

#[test]
fn transfer_bounds_inherit_and_are_checked() {
    let c = ok(&with(
        "[secondary]\nmax-zone-records = 1000\nmax-zone-bytes = \"64MiB\"\n\
         [[zone]]\nname = \"a.test\"\nprimaries = [\"192.0.2.1\"]\ntransfer-timeout = \"30s\"\n\
         [[zone]]\nname = \"b.test\"\nprimaries = [\"192.0.2.1\"]\nmax-zone-bytes = 1048576\n",
    ));
    assert_eq!(c.secondary.max_zone_records, 1000);
    assert_eq!(c.secondary.transfer_timeout, Duration::from_secs(300));
    let limits = |i: usize| match &c.zones[i].source {
        ZoneSource::Secondary { timers, .. } => *timers,
        ZoneSource::File(_) => panic!("secondary"),
    };
    assert_eq!(limits(0).max_zone_bytes, 64 << 20);
    assert_eq!(limits(0).transfer_timeout, Duration::from_secs(30));
    assert_eq!(limits(1).max_zone_bytes, 1 << 20);
    assert_eq!(limits(1).max_zone_records, 1000);
    assert_eq!(TimerLimits::default().max_zone_records, DEFAULT_MAX_ZONE_RECORDS);

    let errs = errors(&with(
        "[secondary]\nmax-zone-records = 0\nmax-zone-bytes = \"12 parsecs\"\ntransfer-timeout = \"0s\"\n\
         [[zone]]\nname = \"a.test\"\nfile = \"a.zone\"\nmax-zone-bytes = \"1GiB\"\n\
         [[zone]]\nname = \"b.test\"\nprimaries = [\"192.0.2.1\"]\nmax-zone-bytes = 100\n\
         [[zone]]\nname = \"c.test\"\nprimaries = [\"192.0.2.1\"]\nmax-zone-bytes = true\n",
    ));
    assert_error(&errs, "secondary.max-zone-records", "out of range");
    assert_error(&errs, "secondary.max-zone-bytes", "unknown unit");
    assert_error(&errs, "secondary.transfer-timeout", "greater than 0");
    assert_error(&errs, "zone[0].max-zone-bytes", "only to secondary zones");
    assert_error(&errs, "zone[1].max-zone-bytes", "too small");
    assert_error(&errs, "zone[2].max-zone-bytes", "a size");
}
