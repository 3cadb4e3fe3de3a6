//! BGP validation: `[bgp]`, its prefixes and communities, and every
//! `[[bgp.peer]]`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::super::raw::{RawBgp, RawPeer};
use super::super::values::{Community, LargeCommunity, Prefix};
use super::super::{AddressFamily, BfdSettings, BgpConfig, BgpPeer};
use super::Check;

/// Limits that keep one UPDATE (every attribute plus at least one prefix)
/// within 4096 octets.
const MAX_COMMUNITIES: usize = 256;
const MAX_LARGE_COMMUNITIES: usize = 128;

/// BFD intervals pharos accepts (BIRD and FRR take 10 ms upward).
const BFD_MIN_INTERVAL: Duration = Duration::from_millis(10);
const BFD_MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The `[bgp]` values a peer is checked against or takes unless it sets
/// its own.
struct Defaults<'a> {
    announce: &'a [Prefix],
    prepend: u8,
    med: Option<u32>,
}

impl Check<'_> {
    pub(super) fn bgp(&mut self, b: &RawBgp) -> BgpConfig {
        let enabled = b.enabled.unwrap_or(false);
        let asn = match b.asn {
            Some(v) => self.asn("bgp.asn", v),
            None => {
                if enabled {
                    self.err("bgp.asn", "required when bgp.enabled = true");
                }
                0
            }
        };
        let router_id = match b.router_id.as_deref() {
            Some(s) => match s.parse::<Ipv4Addr>() {
                Ok(ip) if ip.is_unspecified() => {
                    self.err("bgp.router-id", "must not be 0.0.0.0");
                    ip
                }
                Ok(ip) => ip,
                Err(_) => {
                    self.err("bgp.router-id", format!("{s:?} is not an IPv4 address"));
                    Ipv4Addr::UNSPECIFIED
                }
            },
            None => {
                if enabled {
                    self.err(
                        "bgp.router-id",
                        "required when bgp.enabled = true (an IPv4 address, e.g. \"10.0.0.1\")",
                    );
                }
                Ipv4Addr::UNSPECIFIED
            }
        };
        let mut announce: Vec<Prefix> = Vec::new();
        for (i, s) in b.announce.iter().flatten().enumerate() {
            let key = format!("bgp.announce[{i}]");
            let pfx = match Prefix::parse(s) {
                Ok(p) => p,
                Err(e) => {
                    self.err(key, e);
                    continue;
                }
            };
            let limit = if pfx.is_ipv4() { 24 } else { 48 };
            if pfx.len > limit {
                self.err(
                    &key,
                    format!("{pfx} is more specific than /{limit} (filtered on the Internet)"),
                );
            }
            if pfx.len == 0 {
                self.err(
                    &key,
                    format!("{pfx} is a default route: only the node's own anycast prefixes can be announced"),
                );
            } else if pfx.addr.is_multicast() {
                self.err(&key, format!("{pfx} is a multicast range, not a unicast prefix"));
            }
            if let Some(j) = announce.iter().position(|a| *a == pfx) {
                self.err(&key, format!("{pfx} is listed twice (also bgp.announce[{j}])"));
            }
            announce.push(pfx);
        }
        let communities = self.communities("bgp", &b.communities);
        let large_communities = self.large_communities("bgp", &b.large_communities);
        let defaults = Defaults {
            announce: &announce,
            prepend: self.int("bgp.prepend", b.prepend, 0, 0..=16),
            med: b.med.map(|v| self.int("bgp.med", Some(v), 0, 0..=i64::from(u32::MAX))),
        };
        let mut peers: Vec<BgpPeer> = Vec::new();
        for (i, raw) in b.peer.iter().enumerate() {
            let p = format!("bgp.peer[{i}]");
            if let Some(peer) = self.peer(&p, raw, &defaults) {
                if let Some(j) = peers
                    .iter()
                    .position(|q| q.address == peer.address && q.port == peer.port)
                {
                    self.err(
                        format!("{p}.address"),
                        format!("duplicate peer {} (also bgp.peer[{j}])", peer.address),
                    );
                }
                if asn != 0 && peer.asn == asn {
                    self.err(
                        format!("{p}.asn"),
                        format!("{asn} is bgp.asn: pharos speaks eBGP only, the peer must be in another AS"),
                    );
                }
                peers.push(peer);
            }
        }
        self.passive_listeners(&peers);
        BgpConfig {
            enabled,
            asn,
            router_id,
            announce,
            communities,
            large_communities,
            peers,
        }
    }

    fn asn(&mut self, key: &str, v: i64) -> u32 {
        match v {
            0 => self.err(key, "must not be 0"),
            23456 => self.err(key, "23456 is AS_TRANS, reserved (RFC 6793)"),
            v if u32::try_from(v).is_err() => {
                self.err(key, format!("{v} is not an AS number (1..=4294967295)"));
            }
            _ => {}
        }
        u32::try_from(v).unwrap_or(0)
    }

    /// `communities` of `[bgp]` or a peer (`at`), within what one UPDATE
    /// can carry beside its prefixes (4096 octets).
    fn communities(&mut self, at: &str, raw: &Option<Vec<String>>) -> Vec<Community> {
        let key = format!("{at}.communities");
        let list = self.each(&key, raw, Community::parse);
        if list.len() > MAX_COMMUNITIES {
            self.err(key, format!("{} communities; at most {MAX_COMMUNITIES}", list.len()));
        }
        list
    }

    fn large_communities(&mut self, at: &str, raw: &Option<Vec<String>>) -> Vec<LargeCommunity> {
        let key = format!("{at}.large-communities");
        let list = self.each(&key, raw, LargeCommunity::parse);
        if list.len() > MAX_LARGE_COMMUNITIES {
            self.err(
                key,
                format!("{} large communities; at most {MAX_LARGE_COMMUNITIES}", list.len()),
            );
        }
        list
    }

    /// A peer's `announce`: a subset of `bgp.announce`, kept in that order.
    fn peer_announce(&mut self, p: &str, raw: &[String], all: &[Prefix]) -> Vec<Prefix> {
        let mut chosen: Vec<Prefix> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let key = format!("{p}.announce[{i}]");
            match Prefix::parse(s) {
                Err(e) => self.err(key, e),
                Ok(pfx) if !all.contains(&pfx) => self.err(
                    key,
                    format!("{pfx} is not in bgp.announce (a peer announces a subset of it)"),
                ),
                Ok(pfx) if chosen.contains(&pfx) => self.err(key, format!("{pfx} is listed twice")),
                Ok(pfx) => chosen.push(pfx),
            }
        }
        all.iter().filter(|a| chosen.contains(a)).copied().collect()
    }

    fn bfd(&mut self, p: &str, r: &RawPeer) -> Option<BfdSettings> {
        let d = BfdSettings::default();
        let interval = self.duration(&format!("{p}.bfd-interval"), &r.bfd_interval, d.interval);
        if !(BFD_MIN_INTERVAL..=BFD_MAX_INTERVAL).contains(&interval) {
            self.err(
                format!("{p}.bfd-interval"),
                format!(
                    "{} is out of range (10ms..=60s)",
                    crate::config::format_duration(interval)
                ),
            );
        }
        let multiplier = self.int(&format!("{p}.bfd-multiplier"), r.bfd_multiplier, d.multiplier, 1..=255);
        r.bfd.unwrap_or(false).then_some(BfdSettings { interval, multiplier })
    }

    /// Passive peers share one listening socket per local address and
    /// port; a wildcard and a specific address of one family on the same
    /// port cannot both listen.
    fn passive_listeners(&mut self, peers: &[BgpPeer]) {
        let passive: Vec<(usize, &BgpPeer)> = peers.iter().enumerate().filter(|(_, q)| q.passive).collect();
        for (n, &(i, a)) in passive.iter().enumerate() {
            for &(j, b) in &passive[..n] {
                let clash = a.listen_port == b.listen_port
                    && a.address.is_ipv4() == b.address.is_ipv4()
                    && a.local_address.is_some() != b.local_address.is_some();
                if clash {
                    self.err(
                        format!("bgp.peer[{i}].local-address"),
                        format!(
                            "passive peers on listen-port {} must all set local-address or none \
                             (bgp.peer[{j}] differs): a wildcard and a specific address cannot both listen",
                            a.listen_port
                        ),
                    );
                }
            }
        }
    }

    fn peer(&mut self, p: &str, r: &RawPeer, defaults: &Defaults<'_>) -> Option<BgpPeer> {
        let address = match r.address.as_deref() {
            None => {
                self.err(format!("{p}.address"), "required");
                None
            }
            Some(s) => {
                let ip = s.parse::<IpAddr>().ok();
                if ip.is_none() {
                    self.err(format!("{p}.address"), format!("{s:?} is not an IP address"));
                }
                ip
            }
        };
        let asn = match r.asn {
            Some(v) => self.asn(&format!("{p}.asn"), v),
            None => {
                self.err(format!("{p}.asn"), "required");
                0
            }
        };
        let local_address = r.local_address.as_deref().and_then(|s| {
            let ip = s.parse::<IpAddr>().ok();
            match (ip, address) {
                (None, _) => self.err(format!("{p}.local-address"), format!("{s:?} is not an IP address")),
                (Some(l), Some(a)) if l.is_ipv4() != a.is_ipv4() => self.err(
                    format!("{p}.local-address"),
                    format!("{l} is not in the same address family as the peer {a}"),
                ),
                _ => {}
            }
            ip
        });
        if r.password.as_ref().is_some_and(|pw| pw.is_empty() || pw.len() > 80) {
            self.err(format!("{p}.password"), "must be 1..=80 octets (the TCP-MD5 key limit)");
        }
        let hold_time: u16 = self.int(&format!("{p}.hold-time"), r.hold_time, 9, 0..=65535);
        if hold_time == 1 || hold_time == 2 {
            self.err(
                format!("{p}.hold-time"),
                format!("{hold_time} is not allowed: use 0 (no keepalives) or at least 3"),
            );
        }
        let families = self.families(p, r.families.as_deref());
        let ipv4_next_hop = self.parsed::<Ipv4Addr>(p, "ipv4-next-hop", &r.ipv4_next_hop, "IPv4");
        let ipv6_next_hop = self.parsed::<Ipv6Addr>(p, "ipv6-next-hop", &r.ipv6_next_hop, "IPv6");
        for (key, nh) in [
            ("ipv4-next-hop", ipv4_next_hop.map(IpAddr::V4)),
            ("ipv6-next-hop", ipv6_next_hop.map(IpAddr::V6)),
        ] {
            if let Some(nh) = nh.filter(|a| a.is_unspecified() || a.is_multicast()) {
                self.err(format!("{p}.{key}"), format!("{nh} is not a unicast address"));
            }
        }
        if let Some(a) = address {
            let (other, key, missing) = match a {
                IpAddr::V4(_) => (AddressFamily::Ipv6, "ipv6-next-hop", ipv6_next_hop.is_none()),
                IpAddr::V6(_) => (AddressFamily::Ipv4, "ipv4-next-hop", ipv4_next_hop.is_none()),
            };
            if families.contains(&other) && missing && !self.failed.covers(&format!("{p}.{key}")) {
                let session = AddressFamily::of(&a);
                self.err(
                    format!("{p}.{key}"),
                    format!(
                        "required: the session is {session} and families include {other}; \
                         set {key} or families = [\"{session}\"]"
                    ),
                );
            }
        }
        let med = r
            .med
            .map(|v| self.int(&format!("{p}.med"), Some(v), 0, 0..=i64::from(u32::MAX)));
        let announce = r
            .announce
            .as_ref()
            .map(|list| self.peer_announce(p, list, defaults.announce));
        let communities = r.communities.is_some().then(|| self.communities(p, &r.communities));
        let large_communities = r
            .large_communities
            .is_some()
            .then(|| self.large_communities(p, &r.large_communities));
        let passive = r.passive.unwrap_or(false);
        let listen_port = self.int(&format!("{p}.listen-port"), r.listen_port, 179, 1..=65535);
        Some(BgpPeer {
            address: address?,
            port: self.int(&format!("{p}.port"), r.port, 179, 1..=65535),
            asn,
            local_address,
            password: r.password.clone(),
            multihop: self.int(&format!("{p}.multihop"), r.multihop, 1, 1..=255),
            hold_time,
            families,
            ipv4_next_hop,
            ipv6_next_hop,
            prepend: match r.prepend {
                Some(_) => self.int(&format!("{p}.prepend"), r.prepend, 0, 0..=16),
                None => defaults.prepend,
            },
            med: med.or(defaults.med),
            announce,
            communities,
            large_communities,
            bfd: self.bfd(p, r),
            ttl_security: r.ttl_security.unwrap_or(false),
            passive,
            listen_port,
        })
    }

    fn families(&mut self, p: &str, list: Option<&[String]>) -> Vec<AddressFamily> {
        let Some(list) = list else {
            return vec![AddressFamily::Ipv4, AddressFamily::Ipv6];
        };
        if list.is_empty() {
            self.err(format!("{p}.families"), "must list at least one of ipv4, ipv6");
        }
        let mut out = Vec::new();
        for (i, f) in list.iter().enumerate() {
            let key = format!("{p}.families[{i}]");
            let fam = match f.as_str() {
                "ipv4" => AddressFamily::Ipv4,
                "ipv6" => AddressFamily::Ipv6,
                other => {
                    self.err(key, format!("unknown family {other:?} (expected ipv4 or ipv6)"));
                    continue;
                }
            };
            if out.contains(&fam) {
                self.err(key, format!("{fam} is listed twice"));
            } else {
                out.push(fam);
            }
        }
        out
    }

    fn parsed<T: std::str::FromStr>(&mut self, p: &str, key: &str, raw: &Option<String>, what: &str) -> Option<T> {
        let s = raw.as_deref()?;
        let v = s.parse().ok();
        if v.is_none() {
            self.err(format!("{p}.{key}"), format!("{s:?} is not an {what} address"));
        }
        v
    }
}
