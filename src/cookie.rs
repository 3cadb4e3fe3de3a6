//! DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018):
//! the server secrets, making a server cookie and checking one.
//!
//! A server cookie is 16 octets: version 1, three reserved zero octets, a
//! 32-bit timestamp (seconds since the Unix epoch) and an 8-octet
//! SipHash-2-4 of (client cookie | version | reserved | timestamp | client
//! IP) keyed with the server secret. Every node of a fleet configured with
//! the same secret (`dns.cookie-secret`) makes and accepts the same
//! cookies, so an anycast client that moves to another node keeps a valid
//! one; `dns.cookie-secret-previous` is still accepted while a new secret
//! rolls out (RFC 9018 section 5).
//!
//! This module is pure (no I/O, no clock of its own): the query path in
//! `dns` and the health probes, which present a valid cookie so that rate
//! limiting never applies to them, both use it.

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

/// Length of a client cookie.
pub const CLIENT_LEN: usize = 8;
/// Length of the server cookies this node makes (RFC 9018).
pub const SERVER_LEN: usize = 16;
/// A cookie older than this is not valid (RFC 9018 section 4.3: one hour).
const MAX_AGE: u32 = 3600;
/// A cookie from up to this far in the future is valid (clock skew
/// between the nodes of a fleet; RFC 9018: five minutes).
const MAX_AHEAD: u32 = 300;
/// A valid cookie older than this is replaced by a fresh one in the
/// response (RFC 9018 section 4.3: half an hour).
const RENEW_AFTER: u32 = 1800;

/// A 128-bit server secret.
pub type Secret = [u8; 16];

/// The secrets a node makes and accepts cookies with.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// Makes new cookies, and is accepted.
    pub current: Secret,
    /// Accepted only (during a rollover).
    pub previous: Option<Secret>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("current", &"<secret>")
            .field("previous", &self.previous.map(|_| "<secret>"))
            .finish()
    }
}

impl Secrets {
    /// A random secret from the kernel's generator, for a node with none
    /// configured; should the kernel refuse (never seen), the process's
    /// randomly seeded hasher.
    pub fn random() -> Secrets {
        let mut current = [0u8; 16];
        let mut filled = 0;
        while filled < current.len() {
            // SAFETY: writes at most the remaining length into `current`.
            let n = unsafe { libc::getrandom(current[filled..].as_mut_ptr().cast(), current.len() - filled, 0) };
            if n > 0 {
                filled += n as usize;
            } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                use std::hash::BuildHasher;
                let r = std::collections::hash_map::RandomState::new();
                current[..8].copy_from_slice(&r.hash_one(std::process::id()).to_le_bytes());
                current[8..].copy_from_slice(&r.hash_one(std::time::Instant::now()).to_le_bytes());
                break;
            }
        }
        Secrets {
            current,
            previous: None,
        }
    }
}

/// How the server cookie of a request checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Made by this fleet, recent: the response may echo it.
    Valid,
    /// Valid but older than half an hour, or made with the previous
    /// secret: valid, and the response carries a fresh one.
    ValidRenew,
    /// Not made by this fleet for this client, or too old or too new.
    Invalid,
}

impl Check {
    pub fn is_valid(self) -> bool {
        !matches!(self, Check::Invalid)
    }
}

/// Makes the server cookie for `client` at `ip` at time `now`.
pub fn make(secret: &Secret, client: &[u8; CLIENT_LEN], ip: IpAddr, now: u32) -> [u8; SERVER_LEN] {
    let mut out = [0u8; SERVER_LEN];
    out[0] = 1;
    out[4..8].copy_from_slice(&now.to_be_bytes());
    let hash = hash(secret, client, &out[..8], ip);
    out[8..].copy_from_slice(&hash);
    out
}

/// Checks the server cookie `server` that `client` at `ip` sent back.
pub fn check(secrets: &Secrets, client: &[u8; CLIENT_LEN], server: &[u8], ip: IpAddr, now: u32) -> Check {
    if server.len() != SERVER_LEN || server[0] != 1 || server[1..4] != [0, 0, 0] {
        return Check::Invalid;
    }
    let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
    // Serial arithmetic (RFC 1982) on the 32-bit timestamp.
    let age = now.wrapping_sub(stamp);
    let ahead = stamp.wrapping_sub(now);
    let fresh = if age <= MAX_AGE {
        age <= RENEW_AFTER
    } else if ahead <= MAX_AHEAD {
        true
    } else {
        return Check::Invalid;
    };
    let made_with = |s: &Secret| hash(s, client, &server[..8], ip) == server[8..];
    if made_with(&secrets.current) {
        return if fresh { Check::Valid } else { Check::ValidRenew };
    }
    match &secrets.previous {
        Some(p) if made_with(p) => Check::ValidRenew,
        _ => Check::Invalid,
    }
}

/// SipHash-2-4 of the cookie input, as 8 octets in the order of the
/// reference implementation (little-endian), as RFC 9018's examples.
fn hash(secret: &Secret, client: &[u8; CLIENT_LEN], head: &[u8], ip: IpAddr) -> [u8; 8] {
    let mut h = SipHasher24::new_with_key(secret);
    h.write(client);
    h.write(head);
    match ip {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => h.write(&v4.octets()),
            None => h.write(&a.octets()),
        },
    }
    h.finish().to_le_bytes()
}

/// Parses a 32-hex-digit secret (`dns.cookie-secret`).
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    let s = s.trim();
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "must be 32 hexadecimal digits (128 bits), got {} characters{}",
            s.len(),
            if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                ""
            } else {
                " with non-hex ones"
            }
        ));
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    }

    fn client(s: &str) -> [u8; 8] {
        let mut c = [0u8; 8];
        c.copy_from_slice(&hex(s));
        c
    }

    fn secret(s: &str) -> Secret {
        parse_secret(s).unwrap_or_else(|e| panic!("secret {s}: {e}"))
    }

    /// RFC 9018 appendix A.1 and A.3 (an IPv4 and an IPv6 client).
    #[test]
    fn rfc9018_examples() {
        let s = secret("e5e973e5a6b2a43f48e7dc849e37bfcf");
        let c = client("2464c4abcf10c957");
        let ip: IpAddr = "198.51.100.100".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let got = make(&s, &c, ip, 1559731985);
        assert_eq!(got.to_vec(), hex("010000005cf79f111f8130c3eee29480"));

        let s = secret("dd3bdf9344b678b185a6f5cb60fca715");
        let c = client("22681ab97d52c298");
        let ip: IpAddr = "2001:db8:220:1:59de:d0f4:8769:82b8"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let got = make(&s, &c, ip, 1559741817);
        assert_eq!(got.to_vec(), hex("010000005cf7c57926556bd0934c72f8"));
    }

    #[test]
    fn checks_age_secret_client_and_address() {
        let now = 1_800_000_000u32;
        let a = secret("00112233445566778899aabbccddeeff");
        let b = secret("ffeeddccbbaa99887766554433221100");
        let c = client("0102030405060708");
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let other: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let only_a = Secrets {
            current: a,
            previous: None,
        };
        let rolled = Secrets {
            current: b,
            previous: Some(a),
        };
        let cookie = make(&a, &c, ip, now);
        assert_eq!(check(&only_a, &c, &cookie, ip, now), Check::Valid);
        assert_eq!(check(&only_a, &c, &cookie, ip, now + 1800), Check::Valid);
        assert_eq!(check(&only_a, &c, &cookie, ip, now + 1801), Check::ValidRenew);
        assert_eq!(check(&only_a, &c, &cookie, ip, now + 3601), Check::Invalid);
        assert_eq!(check(&only_a, &c, &cookie, ip, now - 300), Check::Valid);
        assert_eq!(check(&only_a, &c, &cookie, ip, now - 301), Check::Invalid);
        // Rollover: the previous secret is still accepted, and renewed.
        assert_eq!(check(&rolled, &c, &cookie, ip, now), Check::ValidRenew);
        // Another client or address, or a changed octet: invalid.
        assert_eq!(check(&only_a, &c, &cookie, other, now), Check::Invalid);
        assert_eq!(
            check(&only_a, &client("0102030405060709"), &cookie, ip, now),
            Check::Invalid
        );
        let mut bad = cookie;
        bad[15] ^= 1;
        assert_eq!(check(&only_a, &c, &bad, ip, now), Check::Invalid);
        assert_eq!(check(&only_a, &c, &cookie[..8], ip, now), Check::Invalid);
        // An IPv4-mapped IPv6 source is the IPv4 client.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(check(&only_a, &c, &cookie, mapped, now), Check::Valid);
        // Timestamps wrap (serial arithmetic).
        let w = make(&a, &c, ip, u32::MAX - 10);
        assert_eq!(check(&only_a, &c, &w, ip, 20), Check::Valid);
    }

    #[test]
    fn secrets_parse_and_random() {
        assert!(parse_secret("00112233445566778899aabbccddeeff").is_ok());
        assert!(parse_secret("0011").is_err());
        assert!(parse_secret("g0112233445566778899aabbccddeeff").is_err());
        assert_ne!(Secrets::random().current, Secrets::random().current);
        assert!(!format!("{:?}", only(secret("00112233445566778899aabbccddeeff"))).contains("0011"));
    }

    fn only(s: Secret) -> Secrets {
        Secrets {
            current: s,
            previous: None,
        }
    }
}
