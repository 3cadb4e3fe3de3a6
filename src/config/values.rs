//! Typed values parsed from config strings: DNS names, socket addresses,
//! IP prefixes, BGP communities, base64 secrets and RR type mnemonics.
//!
//! Every parser returns `Err(message)` with a message that reads well after
//! a key path (`bgp.announce[2]: 193.0.0.1/24 has host bits set`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP prefix: a network address and a prefix length, host bits all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// Builds a prefix; `None` if `len` is too long for the address family
    /// or host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let p = Prefix { addr, len };
        (len <= max_len(&addr) && p.network() == addr).then_some(p)
    }

    /// A single-address prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: max_len(&addr),
        }
    }

    /// Parses `addr/len`; the length is required and host bits must be zero.
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let Some((addr, len)) = s.split_once('/') else {
            return Err(format!("{s:?} is not a prefix (expected address/length)"));
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not a prefix: bad address {addr:?}"))?;
        let len: u8 = len
            .parse()
            .map_err(|_| format!("{s:?} is not a prefix: bad length {len:?}"))?;
        if len > max_len(&addr) {
            return Err(format!("{s}: prefix length {len} is longer than {}", max_len(&addr)));
        }
        let network = Prefix { addr, len }.network();
        if network != addr {
            return Err(format!("{s} has host bits set (did you mean {network}/{len}?)"));
        }
        Ok(Prefix { addr, len })
    }

    /// Parses a prefix, or a bare address meaning a single host.
    pub fn parse_addr_or_prefix(s: &str) -> Result<Prefix, String> {
        if s.contains('/') {
            Prefix::parse(s)
        } else {
            s.parse::<IpAddr>()
                .map(Prefix::host)
                .map_err(|_| format!("{s:?} is not an IP address or prefix"))
        }
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `ip` falls inside this prefix (IPv4-mapped IPv6 addresses
    /// match IPv4 prefixes).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
            IpAddr::V4(_) => *ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Prefix {
                    addr: ip,
                    len: self.len,
                }
                .network()
                    == self.addr
            }
            _ => false,
        }
    }

    /// The address with every host bit cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

fn max_len(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Prefix::parse(s)
    }
}

/// A standard BGP community (RFC 1997), written `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Community(pub u16, pub u16);

impl Community {
    pub fn parse(s: &str) -> Result<Community, String> {
        let parts = split_numbers::<u16>(s, 2)
            .ok_or_else(|| format!("{s:?} is not a community (expected N:N, each 0..=65535)"))?;
        Ok(Community(parts[0], parts[1]))
    }

    /// The 32-bit wire value.
    pub fn as_u32(&self) -> u32 {
        (u32::from(self.0) << 16) | u32::from(self.1)
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// A large BGP community (RFC 8092), written `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl LargeCommunity {
    pub fn parse(s: &str) -> Result<LargeCommunity, String> {
        let parts = split_numbers::<u32>(s, 3)
            .ok_or_else(|| format!("{s:?} is not a large community (expected N:N:N, each 0..=4294967295)"))?;
        Ok(LargeCommunity(parts[0], parts[1], parts[2]))
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

fn split_numbers<T: FromStr>(s: &str, n: usize) -> Option<Vec<T>> {
    let parts: Vec<T> = s
        .split(':')
        .map(|p| {
            // Reject signs and whitespace that FromStr would accept or mangle.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    (parts.len() == n).then_some(parts)
}

/// Parses `ip:port` or `[v6]:port`. With `default_port`, a bare address
/// (`192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`) gets that port.
pub fn parse_socket_addr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Some(port) = default_port {
        let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        return Err(format!("{s:?} is not an address (expected ip, ip:port or [ipv6]:port)"));
    }
    Err(format!(
        "{s:?} is not an address:port (expected ip:port or [ipv6]:port)"
    ))
}

/// Validates a domain name and returns it lowercase without the trailing
/// dot (the root is "."). Labels are 1..=63 octets, the wire form at most
/// 255 octets. Letters, digits, `-`, `_`, `*` and `/` (RFC 2317) are allowed.
pub fn normalize_dns_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty name".into());
    }
    if s == "." {
        return Ok(".".into());
    }
    let body = s.strip_suffix('.').unwrap_or(s);
    let mut wire_len = 1; // the root label
    for label in body.split('.') {
        if label.is_empty() {
            return Err(format!("{s:?} has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("{s:?} has a label of {} octets (at most 63)", label.len()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '/')))
        {
            return Err(format!("{s:?} contains the character {c:?}"));
        }
        wire_len += label.len() + 1;
    }
    if wire_len > 255 {
        return Err(format!("{s:?} is {wire_len} octets in wire form (at most 255)"));
    }
    Ok(body.to_ascii_lowercase())
}

/// Decodes standard base64 (RFC 4648 alphabet); padding optional,
/// ASCII whitespace ignored.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let chars: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let data_len = chars.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let padding = chars.len() - data_len;
    if padding > 2 || (padding > 0 && chars.len() % 4 != 0) {
        return Err("is not valid base64 (bad padding)".into());
    }
    if data_len % 4 == 1 {
        return Err("is not valid base64 (truncated)".into());
    }
    let mut out = Vec::with_capacity(data_len * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in &chars[..data_len] {
        let v = value(c).ok_or_else(|| {
            format!(
                "is not valid base64 (character {:?})",
                char::from(c).escape_default().to_string()
            )
        })?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// The RR type number for a mnemonic (`SOA`, `aaaa`, `TYPE65`).
pub fn qtype_from_name(s: &str) -> Option<u16> {
    const TYPES: &[(&str, u16)] = &[
        ("A", 1),
        ("NS", 2),
        ("CNAME", 5),
        ("SOA", 6),
        ("PTR", 12),
        ("HINFO", 13),
        ("MX", 15),
        ("TXT", 16),
        ("AAAA", 28),
        ("LOC", 29),
        ("SRV", 33),
        ("NAPTR", 35),
        ("DNAME", 39),
        ("DS", 43),
        ("SSHFP", 44),
        ("RRSIG", 46),
        ("NSEC", 47),
        ("DNSKEY", 48),
        ("NSEC3", 50),
        ("NSEC3PARAM", 51),
        ("TLSA", 52),
        ("CDS", 59),
        ("CDNSKEY", 60),
        ("SVCB", 64),
        ("HTTPS", 65),
        ("ANY", 255),
        ("CAA", 257),
    ];
    let upper = s.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    TYPES.iter().find(|(name, _)| *name == upper).map(|&(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = Prefix::parse("193.47.147.0/24").unwrap();
        assert_eq!(p.len, 24);
        assert_eq!(p.to_string(), "193.47.147.0/24");
        assert!(Prefix::parse("2001:67c:1b43::/48").is_ok());
        assert!(Prefix::parse("0.0.0.0/0").is_ok());
        let e = Prefix::parse("193.0.0.1/24").unwrap_err();
        assert!(e.contains("has host bits set"), "{e}");
        assert!(e.contains("193.0.0.0/24"), "{e}");
        assert!(Prefix::parse("2001:db8::1/48").is_err());
        assert!(Prefix::parse("10.0.0.0/33").is_err());
        assert!(Prefix::parse("10.0.0.0").is_err());
        assert!(Prefix::parse("10.0.0/8").is_err());
        assert!(Prefix::parse("10.0.0.0/x").is_err());
        assert!(p.contains(&"193.47.147.9".parse().unwrap()));
        assert!(p.contains(&"::ffff:193.47.147.9".parse().unwrap()));
        assert!(!p.contains(&"193.47.148.9".parse().unwrap()));
        let h = Prefix::parse_addr_or_prefix("2001:db8::1").unwrap();
        assert_eq!(h.len, 128);
        assert!(h.contains(&"2001:db8::1".parse().unwrap()));
        assert!(Prefix::new("10.1.0.0".parse().unwrap(), 8).is_none());
    }

    #[test]
    fn communities() {
        assert_eq!(Community::parse("60564:100").unwrap(), Community(60564, 100));
        assert_eq!(Community(1, 2).as_u32(), 0x0001_0002);
        for bad in ["60564", "65536:1", "1:2:3", "a:b", "-1:2", " 1:2", ""] {
            assert!(Community::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            LargeCommunity::parse("4200000000:1:2").unwrap(),
            LargeCommunity(4_200_000_000, 1, 2)
        );
        assert!(LargeCommunity::parse("1:2").is_err());
        assert!(LargeCommunity::parse("4294967296:1:2").is_err());
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(
            parse_socket_addr("192.0.2.1:53", None).unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_socket_addr("[2001:db8::1]:5300", None).unwrap(),
            "[2001:db8::1]:5300".parse().unwrap()
        );
        assert!(parse_socket_addr("192.0.2.1", None).is_err());
        assert_eq!(
            parse_socket_addr("192.0.2.1", Some(53)).unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_socket_addr("2001:db8::1", Some(53)).unwrap(),
            "[2001:db8::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_socket_addr("[2001:db8::1]", Some(53)).unwrap(),
            "[2001:db8::1]:53".parse().unwrap()
        );
        assert!(parse_socket_addr("example.com:53", Some(53)).is_err());
        assert!(parse_socket_addr("192.0.2.1:99999", Some(53)).is_err());
    }

    #[test]
    fn dns_names() {
        assert_eq!(normalize_dns_name("Example.COM.").unwrap(), "example.com");
        assert_eq!(normalize_dns_name(".").unwrap(), ".");
        assert_eq!(
            normalize_dns_name("0/25.2.0.192.in-addr.arpa").unwrap(),
            "0/25.2.0.192.in-addr.arpa"
        );
        assert!(normalize_dns_name("").is_err());
        assert!(normalize_dns_name("a..b").is_err());
        assert!(normalize_dns_name("a b.com").is_err());
        assert!(normalize_dns_name(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(normalize_dns_name(&format!("{}.com", "a".repeat(63))).is_ok());
        // 4 labels of 63 octets: 4*64 + 1 = 257 > 255.
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(normalize_dns_name(&long).is_err());
        let ok = ["a".repeat(63), "a".repeat(63), "a".repeat(63), "a".repeat(61)].join(".");
        assert!(normalize_dns_name(&ok).is_ok());
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zm9vYg").unwrap(), b"foob");
        assert_eq!(decode_base64("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(decode_base64("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(decode_base64("Zm9v!").is_err());
        assert!(decode_base64("Z").is_err());
        assert!(decode_base64("Zg===").is_err());
        assert!(decode_base64("Zg=").is_err());
        assert!(decode_base64("Z=g=").is_err());
    }

    #[test]
    fn qtypes() {
        assert_eq!(qtype_from_name("soa"), Some(6));
        assert_eq!(qtype_from_name("AAAA"), Some(28));
        assert_eq!(qtype_from_name("TYPE65"), Some(65));
        assert_eq!(qtype_from_name("BOGUS"), None);
    }
}
