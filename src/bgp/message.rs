//! The BGP messages as the rest of the speaker sees them: our own small
//! types, independent of the wire library. `codec` converts between these
//! and bytes; `fsm` reasons about them.
//!
//! Only what pharos needs is modelled. Inbound UPDATEs are reduced to a
//! summary (pharos accepts no routes); outbound UPDATEs are built only from
//! the validated config (see `routes`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::config::{AddressFamily, Community, LargeCommunity, Prefix};

/// AS_TRANS (RFC 6793): the 2-octet "My AS" of a speaker whose ASN does not
/// fit in 16 bits.
pub const AS_TRANS: u16 = 23456;

/// The 2-octet "My AS" / AS_PATH form of `asn` (RFC 6793): AS_TRANS when
/// it does not fit.
pub fn two_octet_as(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

/// GRACEFUL_SHUTDOWN (RFC 8326), added while the node drains.
pub const GRACEFUL_SHUTDOWN: Community = Community(65535, 0);

/// The largest BGP message without the extended message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// An OPEN message (RFC 4271 4.2) with its capabilities (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet "My Autonomous System" field.
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Capabilities,
}

impl Open {
    /// The sender's ASN: the 4-octet AS capability when present (RFC 6793),
    /// else the 2-octet field.
    pub fn asn(&self) -> u32 {
        self.capabilities.four_octet_as.unwrap_or(u32::from(self.my_as))
    }
}

/// The capabilities pharos understands, plus a note of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// 4-octet AS number capability (RFC 6793), with the sender's ASN.
    pub four_octet_as: Option<u32>,
    /// Multiprotocol (RFC 4760) IPv4/IPv6 unicast.
    pub families: Vec<AddressFamily>,
    /// Multiprotocol capabilities for families pharos does not carry.
    pub other_families: usize,
    /// Route refresh (RFC 2918).
    pub route_refresh: bool,
    /// The peer advertises graceful restart (RFC 4724). pharos never does.
    pub graceful_restart: bool,
    /// Any other capability, by code (ignored, RFC 5492).
    pub other: Vec<u8>,
    /// True when the OPEN carried at least one Multiprotocol capability
    /// (of any family): without any, only IPv4 unicast is implied.
    pub any_multiprotocol: bool,
}

/// A NOTIFICATION message (RFC 4271 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// NOTIFICATION error codes (RFC 4271 4.5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// OPEN Message Error subcodes (RFC 4271 6.2, RFC 5492).
pub mod open_error {
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// Finite State Machine Error subcodes (RFC 6608).
pub mod fsm_error {
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486).
pub mod cease {
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// RFC 9384.
    pub const BFD_DOWN: u8 = 10;
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification { code, subcode, data }
    }

    /// Cease / Administrative Shutdown with a shutdown communication
    /// (RFC 9003): one length octet, then at most 255 octets of UTF-8, cut
    /// at a character boundary.
    pub fn admin_shutdown(message: &str) -> Notification {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(text.len() as u8);
        data.extend_from_slice(text);
        Notification::new(code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN, data)
    }

    pub fn hold_timer_expired() -> Notification {
        Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new())
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or
    /// Reset (RFC 9003), if it carries a valid one.
    pub fn shutdown_message(&self) -> Option<String> {
        if self.code != code::CEASE
            || !matches!(
                self.subcode,
                cease::ADMINISTRATIVE_SHUTDOWN | cease::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    /// "Cease / Administrative Shutdown" style names (RFC 4271, 4486, 6608).
    pub fn name(&self) -> String {
        let (c, s) = names(self.code, self.subcode);
        match s {
            Some(s) => format!("{c} / {s}"),
            None if self.subcode == 0 => c.to_string(),
            None => format!("{c} / subcode {}", self.subcode),
        }
    }
}

fn names(code: u8, subcode: u8) -> (&'static str, Option<&'static str>) {
    let s = |list: &[&'static str]| {
        usize::from(subcode)
            .checked_sub(1)
            .and_then(|i| list.get(i).copied())
            .filter(|n| !n.is_empty())
    };
    match code {
        code::MESSAGE_HEADER => (
            "Message Header Error",
            s(&["Connection Not Synchronized", "Bad Message Length", "Bad Message Type"]),
        ),
        code::OPEN => (
            "OPEN Message Error",
            s(&[
                "Unsupported Version Number",
                "Bad Peer AS",
                "Bad BGP Identifier",
                "Unsupported Optional Parameter",
                "",
                "Unacceptable Hold Time",
                "Unsupported Capability",
                "",
                "",
                "",
                "Role Mismatch",
            ]),
        ),
        code::UPDATE => (
            "UPDATE Message Error",
            s(&[
                "Malformed Attribute List",
                "Unrecognized Well-known Attribute",
                "Missing Well-known Attribute",
                "Attribute Flags Error",
                "Attribute Length Error",
                "Invalid ORIGIN Attribute",
                "",
                "Invalid NEXT_HOP Attribute",
                "Optional Attribute Error",
                "Invalid Network Field",
                "Malformed AS_PATH",
            ]),
        ),
        code::HOLD_TIMER_EXPIRED => ("Hold Timer Expired", None),
        code::FSM => (
            "Finite State Machine Error",
            s(&[
                "Unexpected Message in OpenSent",
                "Unexpected Message in OpenConfirm",
                "Unexpected Message in Established",
            ]),
        ),
        code::CEASE => (
            "Cease",
            s(&[
                "Maximum Number of Prefixes Reached",
                "Administrative Shutdown",
                "Peer De-configured",
                "Administrative Reset",
                "Connection Rejected",
                "Other Configuration Change",
                "Connection Collision Resolution",
                "Out of Resources",
                "Hard Reset",
                "BFD Down",
            ]),
        ),
        code::ROUTE_REFRESH => ("ROUTE-REFRESH Message Error", s(&["Invalid Message Length"])),
        _ => ("unknown error code", None),
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.name(), self.code, self.subcode)?;
        if let Some(m) = self.shutdown_message() {
            write!(f, ": {m:?}")?;
        }
        Ok(())
    }
}

/// What an inbound UPDATE carried; pharos takes no routes, it only counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Prefixes announced (classic NLRI and MP_REACH_NLRI).
    pub announced: usize,
    /// Prefixes withdrawn (classic and MP_UNREACH_NLRI).
    pub withdrawn: usize,
    /// The End-of-RIB marker (RFC 4724) of a family pharos knows.
    pub end_of_rib: Option<AddressFamily>,
}

/// A message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Open(Open),
    Update(UpdateSummary),
    Notification(Notification),
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918) for a family pharos knows (None: another).
    RouteRefresh(Option<AddressFamily>),
}

impl Inbound {
    /// The message type name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Inbound::Open(_) => "OPEN",
            Inbound::Update(_) => "UPDATE",
            Inbound::Notification(_) => "NOTIFICATION",
            Inbound::Keepalive => "KEEPALIVE",
            Inbound::RouteRefresh(_) => "ROUTE-REFRESH",
        }
    }
}

/// The path attributes pharos sends with its prefixes: ORIGIN is always
/// IGP; NEXT_HOP goes with the announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAttrs {
    /// AS_PATH as one AS_SEQUENCE: our ASN, repeated for prepending.
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}

/// An UPDATE pharos sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Prefixes of one family with their attributes. IPv4 goes out as
    /// classic NLRI with NEXT_HOP, IPv6 in MP_REACH_NLRI (RFC 4760).
    Announce {
        family: AddressFamily,
        prefixes: Vec<Prefix>,
        next_hop: IpAddr,
        attrs: Arc<RouteAttrs>,
    },
    /// Withdrawn prefixes of one family (classic, or MP_UNREACH_NLRI).
    Withdraw {
        family: AddressFamily,
        prefixes: Vec<Prefix>,
    },
    /// End-of-RIB (RFC 4724): an empty UPDATE for IPv4, an empty
    /// MP_UNREACH_NLRI for IPv6.
    EndOfRib(AddressFamily),
}

/// A message pharos sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
}

impl Outbound {
    pub fn kind(&self) -> &'static str {
        match self {
            Outbound::Open(_) => "OPEN",
            Outbound::Update(_) => "UPDATE",
            Outbound::Notification(_) => "NOTIFICATION",
            Outbound::Keepalive => "KEEPALIVE",
        }
    }
}

/// A message that could not be decoded, and the NOTIFICATION it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub notification: Notification,
    /// What was wrong, for the log.
    pub detail: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.notification.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_communication() {
        let n = Notification::admin_shutdown("maintenance");
        assert_eq!((n.code, n.subcode), (6, 2));
        assert_eq!(n.data[0], 11);
        assert_eq!(n.shutdown_message().as_deref(), Some("maintenance"));
        assert_eq!(n.to_string(), "Cease / Administrative Shutdown (6/2): \"maintenance\"");
        // Cut at 255 octets, on a character boundary.
        let long = "é".repeat(200);
        let n = Notification::admin_shutdown(&long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_message().unwrap().chars().count(), 127);
        // Bad length or UTF-8: no message, still a name.
        let bad = Notification::new(6, 2, vec![9, b'a']);
        assert_eq!(bad.shutdown_message(), None);
        assert_eq!(Notification::new(6, 0, vec![]).name(), "Cease");
        assert_eq!(
            Notification::new(2, 2, vec![]).name(),
            "OPEN Message Error / Bad Peer AS"
        );
        assert_eq!(Notification::new(2, 5, vec![]).name(), "OPEN Message Error / subcode 5");
        assert_eq!(
            Notification::new(99, 1, vec![]).name(),
            "unknown error code / subcode 1"
        );
    }

    #[test]
    fn open_asn() {
        let mut o = Open {
            my_as: AS_TRANS,
            hold_time: 9,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            capabilities: Capabilities::default(),
        };
        assert_eq!(o.asn(), 23456);
        o.capabilities.four_octet_as = Some(4_200_000_000);
        assert_eq!(o.asn(), 4_200_000_000);
    }
}
