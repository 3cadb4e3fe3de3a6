//! What pharos announces to one peer: the prefixes of `bgp.announce`, split
//! by family, with the configured attributes, cut into UPDATEs that fit in
//! a BGP message. The validated config is the only source of prefixes:
//! nothing else can ever be announced.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::message::{GRACEFUL_SHUTDOWN, MAX_MESSAGE_LEN, RouteAttrs, Update};
use crate::config::{AddressFamily, BgpConfig, BgpPeer, Prefix};

/// How the prefixes go out while announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The configured attributes.
    Normal,
    /// The configured attributes plus GRACEFUL_SHUTDOWN (RFC 8326).
    GracefulShutdown,
}

/// The routes of one peer, built from the config (again on a reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoutes {
    v4: Vec<Prefix>,
    v6: Vec<Prefix>,
    normal: Arc<RouteAttrs>,
    graceful: Arc<RouteAttrs>,
    ipv4_next_hop: Option<Ipv4Addr>,
    ipv6_next_hop: Option<Ipv6Addr>,
}

impl PeerRoutes {
    /// The peer's own policy where it has one (`announce`, communities,
    /// `prepend`, `med`), else `[bgp]`'s.
    pub fn new(bgp: &BgpConfig, peer: &BgpPeer) -> PeerRoutes {
        let announce = peer.announce.as_deref().unwrap_or(&bgp.announce);
        let (v4, v6): (Vec<Prefix>, Vec<Prefix>) = announce.iter().partition(|p| p.is_ipv4());
        let normal = RouteAttrs {
            as_path: vec![bgp.asn; 1 + usize::from(peer.prepend)],
            med: peer.med,
            communities: peer.communities.clone().unwrap_or_else(|| bgp.communities.clone()),
            large_communities: peer
                .large_communities
                .clone()
                .unwrap_or_else(|| bgp.large_communities.clone()),
        };
        let mut graceful = normal.clone();
        if !graceful.communities.contains(&GRACEFUL_SHUTDOWN) {
            graceful.communities.push(GRACEFUL_SHUTDOWN);
        }
        PeerRoutes {
            v4,
            v6,
            normal: Arc::new(normal),
            graceful: Arc::new(graceful),
            ipv4_next_hop: peer.ipv4_next_hop,
            ipv6_next_hop: peer.ipv6_next_hop,
        }
    }

    /// The configured prefixes of `family`.
    pub fn prefixes(&self, family: AddressFamily) -> &[Prefix] {
        match family {
            AddressFamily::Ipv4 => &self.v4,
            AddressFamily::Ipv6 => &self.v6,
        }
    }

    /// The attributes sent in `mode`.
    pub fn attrs(&self, mode: Mode) -> &Arc<RouteAttrs> {
        match mode {
            Mode::Normal => &self.normal,
            Mode::GracefulShutdown => &self.graceful,
        }
    }

    /// Next hop self: the configured next hop of the family, else the
    /// session's local address when it is of that family.
    pub fn next_hop(&self, family: AddressFamily, local: Option<IpAddr>) -> Option<IpAddr> {
        match family {
            AddressFamily::Ipv4 => self.ipv4_next_hop.map(IpAddr::V4).or(local.filter(IpAddr::is_ipv4)),
            AddressFamily::Ipv6 => self
                .ipv6_next_hop
                .map(IpAddr::V6)
                .or(local.filter(|a| a.is_ipv6() && !is_v4_mapped(a))),
        }
    }

    /// UPDATEs announcing every prefix of `family`.
    pub fn announce(&self, family: AddressFamily, mode: Mode, next_hop: IpAddr) -> Vec<Update> {
        let attrs = self.attrs(mode);
        let per_msg = chunk_len(family, attrs);
        self.prefixes(family)
            .chunks(per_msg)
            .map(|c| Update::Announce {
                family,
                prefixes: c.to_vec(),
                next_hop,
                attrs: attrs.clone(),
            })
            .collect()
    }

    /// The prefixes of `self` that `newer` no longer has, with `self`'s
    /// attributes: what a reload must withdraw.
    pub fn minus(&self, newer: &PeerRoutes) -> PeerRoutes {
        let mut gone = self.clone();
        gone.v4.retain(|p| !newer.v4.contains(p));
        gone.v6.retain(|p| !newer.v6.contains(p));
        gone
    }

    /// UPDATEs withdrawing every prefix of `family`.
    pub fn withdraw(&self, family: AddressFamily) -> Vec<Update> {
        let per_msg = chunk_len(
            family,
            &RouteAttrs {
                as_path: Vec::new(),
                med: None,
                communities: Vec::new(),
                large_communities: Vec::new(),
            },
        );
        self.prefixes(family)
            .chunks(per_msg)
            .map(|c| Update::Withdraw {
                family,
                prefixes: c.to_vec(),
            })
            .collect()
    }
}

fn is_v4_mapped(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// How many prefixes fit in one UPDATE with these attributes: an upper
/// bound on the attribute octets (every attribute with a 4-octet header),
/// the rest for NLRI at their largest (5 octets for IPv4, 17 for IPv6).
fn chunk_len(family: AddressFamily, a: &RouteAttrs) -> usize {
    let path = 4 + 2 + 4 * a.as_path.len();
    let attrs = 4 + 1 // ORIGIN
        + 2 * path // AS_PATH, and AS4_PATH for a 2-octet peer
        + 4 + 4 // MED
        + 4 + 4 * a.communities.len()
        + 4 + 12 * a.large_communities.len()
        + 4 + 16 // NEXT_HOP
        + 4 + 5 + 16 + 1; // MP_REACH/MP_UNREACH header with a next hop
    let per_prefix = match family {
        AddressFamily::Ipv4 => 5,
        AddressFamily::Ipv6 => 17,
    };
    (MAX_MESSAGE_LEN.saturating_sub(19 + 4 + attrs) / per_prefix).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::codec;
    use crate::config::{Community, LargeCommunity};

    fn config(announce: &[&str]) -> (BgpConfig, BgpPeer) {
        let bgp = BgpConfig {
            enabled: true,
            asn: 65001,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            announce: announce.iter().map(|p| Prefix::parse(p).unwrap()).collect(),
            communities: vec![Community(65001, 100)],
            large_communities: vec![LargeCommunity(65001, 1, 2)],
            peers: Vec::new(),
        };
        let peer = BgpPeer {
            prepend: 2,
            ..crate::bgp::fsm::tests::peer()
        };
        (bgp, peer)
    }

    #[test]
    fn attributes_and_next_hops() {
        let (bgp, peer) = config(&["192.0.2.0/24", "2001:db8:1::/48"]);
        let r = PeerRoutes::new(&bgp, &peer);
        assert_eq!(r.prefixes(AddressFamily::Ipv4).len(), 1);
        assert_eq!(r.attrs(Mode::Normal).as_path, vec![65001; 3]);
        assert_eq!(r.attrs(Mode::Normal).med, Some(10));
        assert_eq!(
            r.attrs(Mode::GracefulShutdown).communities,
            vec![Community(65001, 100), GRACEFUL_SHUTDOWN]
        );
        let local: IpAddr = "10.255.0.2".parse().unwrap();
        assert_eq!(r.next_hop(AddressFamily::Ipv4, Some(local)), Some(local));
        assert_eq!(
            r.next_hop(AddressFamily::Ipv6, Some(local)),
            Some("fd00::2".parse().unwrap())
        );
        let mut no_v6 = peer.clone();
        no_v6.ipv6_next_hop = None;
        let r = PeerRoutes::new(&bgp, &no_v6);
        assert_eq!(r.next_hop(AddressFamily::Ipv6, Some(local)), None);
        let mapped: IpAddr = "::ffff:10.255.0.2".parse().unwrap();
        assert_eq!(r.next_hop(AddressFamily::Ipv6, Some(mapped)), None);
        let v6: IpAddr = "fd00::9".parse().unwrap();
        assert_eq!(r.next_hop(AddressFamily::Ipv6, Some(v6)), Some(v6));
        assert_eq!(r.next_hop(AddressFamily::Ipv4, Some(v6)), None);
    }

    #[test]
    fn a_peer_policy_overrides_bgp() {
        let (bgp, mut peer) = config(&["192.0.2.0/24", "198.51.100.0/24", "2001:db8:1::/48"]);
        peer.announce = Some(vec![Prefix::parse("198.51.100.0/24").unwrap()]);
        peer.communities = Some(vec![Community(65001, 200)]);
        peer.large_communities = Some(Vec::new());
        let r = PeerRoutes::new(&bgp, &peer);
        assert_eq!(
            r.prefixes(AddressFamily::Ipv4),
            &[Prefix::parse("198.51.100.0/24").unwrap()]
        );
        assert!(r.prefixes(AddressFamily::Ipv6).is_empty());
        assert_eq!(r.attrs(Mode::Normal).communities, vec![Community(65001, 200)]);
        assert!(r.attrs(Mode::Normal).large_communities.is_empty());
        assert_eq!(
            r.attrs(Mode::GracefulShutdown).communities,
            vec![Community(65001, 200), GRACEFUL_SHUTDOWN]
        );
        // No policy of its own: everything of [bgp].
        let (bgp, peer) = config(&["192.0.2.0/24", "2001:db8:1::/48"]);
        let r = PeerRoutes::new(&bgp, &peer);
        assert_eq!(r.prefixes(AddressFamily::Ipv6).len(), 1);
        assert_eq!(
            r.attrs(Mode::Normal).large_communities,
            vec![LargeCommunity(65001, 1, 2)]
        );
    }

    #[test]
    fn many_prefixes_are_split_into_messages_that_fit() {
        let v4: Vec<String> = (0..2000).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect();
        let v6: Vec<String> = (0..900).map(|i| format!("2001:db8:{i:x}::/48")).collect();
        let all: Vec<&str> = v4.iter().chain(&v6).map(String::as_str).collect();
        let (mut bgp, peer) = config(&all);
        bgp.communities = (0..256).map(|i| Community(65001, i)).collect();
        bgp.large_communities = (0..128).map(|i| LargeCommunity(65001, i, i)).collect();
        bgp.asn = 4_200_000_000;
        let r = PeerRoutes::new(&bgp, &peer);
        for (family, nh) in [
            (AddressFamily::Ipv4, "10.255.0.2".parse().unwrap()),
            (AddressFamily::Ipv6, "fd00::2".parse().unwrap()),
        ] {
            for mode in [Mode::Normal, Mode::GracefulShutdown] {
                let updates = r.announce(family, mode, nh);
                assert!(updates.len() > 1);
                let mut n = 0;
                for u in updates {
                    if let Update::Announce { prefixes, .. } = &u {
                        n += prefixes.len();
                    }
                    for asn4 in [true, false] {
                        let msg = codec::encode(&crate::bgp::message::Outbound::Update(u.clone()), asn4)
                            .unwrap_or_else(|e| panic!("{family} {mode:?} asn4={asn4}: {e}"));
                        assert!(msg.len() <= MAX_MESSAGE_LEN);
                    }
                }
                assert_eq!(n, r.prefixes(family).len());
            }
            for u in r.withdraw(family) {
                codec::encode(&crate::bgp::message::Outbound::Update(u), true).unwrap();
            }
        }
    }
}
