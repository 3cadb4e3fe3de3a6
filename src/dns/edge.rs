//! What the query path does for the open Internet after an answer is
//! built: the COOKIE option of the response (RFC 7873, server cookies as
//! RFC 9018, see `crate::cookie`) and the rate-limit verdict for UDP
//! (`rrl`), with the response class and name it is keyed by.
//!
//! [`Server::handle_with`](super::Server::handle_with) calls these; they
//! hold no state of their own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::answer::rcode;
use super::message::{Section, Writer};
use super::query::{Query, hflag};
use super::rrl::{Class, name_hash};
use crate::cookie::{self, Check, Secrets};

/// BADCOOKIE (RFC 7873 section 8): an extended RCODE.
pub const BADCOOKIE: u16 = 23;

/// The source address of a request, worked out once and only when asked
/// (ordinary queries without cookies and without rate limiting never ask).
pub(super) struct LazyPeer<F> {
    f: Option<F>,
    v: Option<SocketAddr>,
}

impl<F: FnOnce() -> Option<SocketAddr>> LazyPeer<F> {
    pub(super) fn new(f: F) -> Self {
        LazyPeer { f: Some(f), v: None }
    }

    #[inline]
    pub(super) fn get(&mut self) -> Option<SocketAddr> {
        if let Some(f) = self.f.take() {
            self.v = f();
        }
        self.v
    }
}

/// The COOKIE option of a response.
#[derive(Clone, Copy)]
pub(super) struct CookieReply {
    /// Client cookie, then the server cookie.
    pub value: [u8; cookie::CLIENT_LEN + cookie::SERVER_LEN],
    /// The request's server cookie was valid: the client is not limited.
    pub valid: bool,
}

/// Length of the COOKIE option in a response (header and value).
pub(super) const COOKIE_OPTION_LEN: usize = 4 + cookie::CLIENT_LEN + cookie::SERVER_LEN;

/// Checks the request's cookie and makes the one the response carries:
/// the same server cookie while it is recent, else a fresh one.
pub(super) fn cookie_reply(secrets: &Secrets, client: &[u8; 8], server: &[u8], ip: Option<IpAddr>) -> CookieReply {
    let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let now = crate::tsig::unix_now() as u32;
    let check = if server.is_empty() {
        Check::Invalid
    } else {
        cookie::check(secrets, client, server, ip, now)
    };
    let mut value = [0u8; cookie::CLIENT_LEN + cookie::SERVER_LEN];
    value[..8].copy_from_slice(client);
    if check == Check::Valid {
        value[8..].copy_from_slice(server);
    } else {
        value[8..].copy_from_slice(&cookie::make(&secrets.current, client, ip, now));
    }
    CookieReply {
        value,
        valid: check.is_valid(),
    }
}

/// Where an answer came from, for classifying it.
#[derive(Clone, Copy, Default)]
pub(super) struct Origin {
    /// Hash of the apex of the zone that answered.
    pub zone: Option<u64>,
    /// Hash of the delegation a referral points to.
    pub referral: Option<u64>,
}

/// The rate-limit class of a response and the name its bucket is keyed by.
pub(super) fn classify(q: &Query<'_>, rc: u8, w: &Writer<'_>, origin: Origin) -> (Class, u64) {
    match rc {
        rcode::NOERROR if w.count(Section::Answer) > 0 => (Class::Answer, name_hash(q.lower(), q.qtype)),
        rcode::NOERROR => match origin.referral {
            Some(cut) if w.flags() & hflag::AA == 0 => (Class::Referral, cut),
            _ => (Class::NoData, origin.zone.unwrap_or(0)),
        },
        rcode::NXDOMAIN => (Class::NxDomain, origin.zone.unwrap_or(0)),
        _ => (Class::Error, 0),
    }
}
