//! The validated `[bgp]` section: the speaker's settings and each
//! `[[bgp.peer]]` (session, export policy, BFD, GTSM, passive).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::values::{Community, LargeCommunity, Prefix};

/// `[bgp]`. When `enabled`, `asn` is nonzero and `router_id` is set.
#[derive(Debug, Clone)]
pub struct BgpConfig {
    pub enabled: bool,
    pub asn: u32,
    /// `0.0.0.0` when BGP is disabled and no router id is configured.
    pub router_id: Ipv4Addr,
    /// Valid, distinct, IPv4 at most /24 and IPv6 at most /48.
    pub announce: Vec<Prefix>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub peers: Vec<BgpPeer>,
}

impl Default for BgpConfig {
    fn default() -> Self {
        BgpConfig {
            enabled: false,
            asn: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            announce: Vec::new(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            peers: Vec::new(),
        }
    }
}

/// `[[bgp.peer]]`. `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BgpPeer {
    pub address: IpAddr,
    /// TCP port of the peer (default 179).
    pub port: u16,
    pub asn: u32,
    /// Source address of the session; same family as `address`.
    pub local_address: Option<IpAddr>,
    /// TCP-MD5 (RFC 2385) password.
    pub password: Option<String>,
    /// TTL for eBGP multihop, 1..=255 (default 1).
    pub multihop: u8,
    /// Seconds; 0 or 3..=65535 (default 9).
    pub hold_time: u16,
    /// Distinct, at least one (default ipv4 and ipv6).
    pub families: Vec<AddressFamily>,
    /// Next hop for IPv4 routes over an IPv6 session (required then).
    pub ipv4_next_hop: Option<Ipv4Addr>,
    /// Next hop for IPv6 routes over an IPv4 session (required then).
    pub ipv6_next_hop: Option<Ipv6Addr>,
    /// Extra copies of our ASN in the AS path, 0..=16 (the peer's own
    /// `prepend`, else `bgp.prepend`).
    pub prepend: u8,
    /// MULTI_EXIT_DISC to send (the peer's own `med`, else `bgp.med`);
    /// `None` sends none.
    pub med: Option<u32>,
    /// The peer's own `announce`: a subset of `bgp.announce`, in its
    /// order. `None`: all of `bgp.announce`.
    pub announce: Option<Vec<Prefix>>,
    /// The peer's own `communities`; `None`: `bgp.communities`.
    pub communities: Option<Vec<Community>>,
    /// The peer's own `large-communities`; `None`: `bgp.large-communities`.
    pub large_communities: Option<Vec<LargeCommunity>>,
    /// BFD (RFC 5880) watches the path to the peer; `None`: off.
    pub bfd: Option<BfdSettings>,
    /// GTSM (RFC 5082): send with TTL 255 and accept only session packets
    /// that crossed at most `multihop` hops (minimum TTL 256 - multihop).
    pub ttl_security: bool,
    /// Wait for the peer to connect, on `listen_port`, instead of
    /// connecting.
    pub passive: bool,
    /// Where a passive session listens (default 179).
    pub listen_port: u16,
}

/// `bfd = true` on a peer: the asynchronous-mode timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdSettings {
    /// Desired minimum transmit and required minimum receive interval
    /// (default 300 ms; 10 ms..=60 s).
    pub interval: Duration,
    /// Detection multiplier (default 3; 1..=255).
    pub multiplier: u8,
}

impl Default for BfdSettings {
    fn default() -> Self {
        BfdSettings {
            interval: Duration::from_millis(300),
            multiplier: 3,
        }
    }
}

impl fmt::Debug for BgpPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BgpPeer")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("asn", &self.asn)
            .field("local_address", &self.local_address)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("multihop", &self.multihop)
            .field("hold_time", &self.hold_time)
            .field("families", &self.families)
            .field("ipv4_next_hop", &self.ipv4_next_hop)
            .field("ipv6_next_hop", &self.ipv6_next_hop)
            .field("prepend", &self.prepend)
            .field("med", &self.med)
            .field("announce", &self.announce)
            .field("communities", &self.communities)
            .field("large_communities", &self.large_communities)
            .field("bfd", &self.bfd)
            .field("ttl_security", &self.ttl_security)
            .field("passive", &self.passive)
            .field("listen_port", &self.listen_port)
            .finish()
    }
}

impl BgpPeer {
    pub fn carries(&self, family: AddressFamily) -> bool {
        self.families.contains(&family)
    }

    /// True when `other` describes the same session: only the export
    /// policy (prefixes, attributes, next hops) may differ, which a reload
    /// applies to the running session without resetting it.
    pub fn same_session(&self, other: &BgpPeer) -> bool {
        self.address == other.address
            && self.port == other.port
            && self.asn == other.asn
            && self.local_address == other.local_address
            && self.password == other.password
            && self.multihop == other.multihop
            && self.hold_time == other.hold_time
            && self.families == other.families
            && self.bfd == other.bfd
            && self.ttl_security == other.ttl_security
            && self.passive == other.passive
            && self.listen_port == other.listen_port
    }

    /// The lowest TTL a session packet may arrive with under
    /// `ttl-security` (RFC 5082): 255 for a directly connected peer.
    pub fn min_ttl(&self) -> u8 {
        255u8.saturating_sub(self.multihop.saturating_sub(1))
    }
}

/// An address family a BGP session carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
}

impl AddressFamily {
    pub fn name(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        }
    }

    pub fn of(addr: &IpAddr) -> AddressFamily {
        if addr.is_ipv4() {
            AddressFamily::Ipv4
        } else {
            AddressFamily::Ipv6
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
