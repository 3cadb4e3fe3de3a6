//! Tests of the per-peer BGP keys: export policy (`announce`, communities,
//! `prepend`, `med` and their `[bgp]` defaults), BFD, TTL security and
//! passive sessions.

use std::time::Duration;

use super::tests::{assert_error, errors, ok, with};
use super::*;

const BGP: &str = r#"
[bgp]
enabled = true
asn = 65001
router-id = "10.0.0.1"
announce = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:1::/48"]
communities = ["65001:100"]
prepend = 1
med = 50
"#;

#[test]
fn peer_policy_and_its_defaults() {
    let c = ok(&with(&format!(
        r#"{BGP}
[[bgp.peer]]
address = "10.255.0.1"
asn = 65000
families = ["ipv4"]

[[bgp.peer]]
address = "10.255.1.1"
asn = 65002
families = ["ipv4"]
announce = ["2001:db8:1::/48", "198.51.100.0/24"]
communities = ["65002:666"]
large-communities = ["65001:1:2"]
prepend = 0
med = 7
"#
    )));
    let (a, b) = (&c.bgp.peers[0], &c.bgp.peers[1]);
    assert_eq!((a.prepend, a.med), (1, Some(50)));
    assert_eq!(
        (&a.announce, &a.communities, &a.large_communities),
        (&None, &None, &None)
    );
    assert_eq!((b.prepend, b.med), (0, Some(7)));
    // Kept in bgp.announce's order.
    let order: Vec<String> = b.announce.iter().flatten().map(|p| p.to_string()).collect();
    assert_eq!(order, ["198.51.100.0/24", "2001:db8:1::/48"]);
    assert_eq!(b.communities, Some(vec![Community(65002, 666)]));
    assert_eq!(b.large_communities, Some(vec![LargeCommunity(65001, 1, 2)]));
    // Only the policy differs: a reload keeps the session.
    let mut changed = a.clone();
    changed.med = Some(1);
    changed.announce = Some(Vec::new());
    assert!(a.same_session(&changed));
    changed.hold_time = 30;
    assert!(!a.same_session(&changed));
}

#[test]
fn bfd_gtsm_and_passive() {
    let c = ok(&with(&format!(
        r#"{BGP}
[[bgp.peer]]
address = "10.255.0.1"
asn = 65000
families = ["ipv4"]
bfd = true

[[bgp.peer]]
address = "10.255.1.1"
asn = 65002
families = ["ipv4"]
bfd = true
bfd-interval = "50ms"
bfd-multiplier = 5
ttl-security = true
multihop = 2
passive = true
listen-port = 1179

[[bgp.peer]]
address = "10.255.2.1"
asn = 65003
families = ["ipv4"]
bfd-interval = "1s"
"#
    )));
    let p = &c.bgp.peers;
    assert_eq!(p[0].bfd, Some(BfdSettings::default()));
    assert_eq!(
        p[0].bfd.map(|b| (b.interval, b.multiplier)),
        Some((Duration::from_millis(300), 3))
    );
    assert_eq!(
        p[1].bfd.map(|b| (b.interval, b.multiplier)),
        Some((Duration::from_millis(50), 5))
    );
    assert!(p[1].ttl_security && p[1].passive && !p[0].passive && !p[0].ttl_security);
    assert_eq!((p[0].listen_port, p[1].listen_port), (179, 1179));
    assert_eq!((p[0].min_ttl(), p[1].min_ttl()), (255, 254));
    // bfd-interval without bfd = true: BFD stays off.
    assert_eq!(p[2].bfd, None);
}

#[test]
fn peer_keys_errors() {
    let errs = errors(&with(&format!(
        r#"{BGP}
[[bgp.peer]]
address = "10.255.0.1"
asn = 65000
families = ["ipv4"]
announce = ["203.0.113.0/24", "192.0.2.0/24", "192.0.2.0/24", "nope"]
communities = ["1"]
large-communities = ["1:2"]
bfd = true
bfd-interval = "5ms"
bfd-multiplier = 0
listen-port = 1179

[[bgp.peer]]
address = "10.255.1.1"
asn = 65002
families = ["ipv4"]
passive = true

[[bgp.peer]]
address = "10.255.2.1"
asn = 65003
families = ["ipv4"]
local-address = "10.255.2.2"
passive = true
"#
    )));
    let p = "bgp.peer[0]";
    assert_error(&errs, &format!("{p}.announce[0]"), "not in bgp.announce");
    assert_error(&errs, &format!("{p}.announce[2]"), "listed twice");
    assert_error(&errs, &format!("{p}.announce[3]"), "not a prefix");
    assert_error(&errs, &format!("{p}.communities[0]"), "not a community");
    assert_error(&errs, &format!("{p}.large-communities[0]"), "not a large community");
    assert_error(&errs, &format!("{p}.bfd-interval"), "out of range (10ms..=60s)");
    assert_error(&errs, &format!("{p}.bfd-multiplier"), "out of range");
    assert_error(&errs, "bgp.peer[2].local-address", "must all set local-address or none");
    assert_eq!(errs.len(), 8, "{errs:#?}");
}
