//! BGP messages to and from bytes. This is the only module that touches the
//! wire library (`netgauze-bgp-pkt`): everything else sees the types of
//! `message`.
//!
//! Framing (RFC 4271 4.1) is checked here before the library parses a
//! message, so that a bad marker, length or type gets the exact Message
//! Header Error subcode, and a stream of garbage is refused after its
//! first octets instead of waiting for a 64 KiB "message". NOTIFICATIONs
//! are read field by field from the checked frame: the library refuses
//! subcodes it does not know (such as Cease/0), and a NOTIFICATION must
//! never be answered with another.
//!
//! Inbound UPDATEs never reach the library: pharos takes no routes, so an
//! UPDATE is only checked for consistent framing (RFC 4271 4.3, RFC 7606)
//! and summarised (prefix counts, End-of-RIB) by walking its bytes, with
//! no allocation per prefix. A peer sending a full table costs a pass over
//! the bytes and nothing kept.

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{BgpCapability, FourOctetAsCapability, MultiProtocolExtensionsCapability};
use netgauze_bgp_pkt::community::{Community as NgCommunity, LargeCommunity as NgLargeCommunity};
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::notification::{
    BgpNotificationMessage, CeaseError, FiniteStateMachineError, HoldTimerExpiredError, MessageHeaderError,
    OpenMessageError, RouteRefreshError, UpdateMessageError,
};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute::{
    As2PathSegment, As4Path, As4PathSegment, AsPath, AsPathSegmentType, Communities, LargeCommunities, MpReach,
    MpUnreach, MultiExitDiscriminator, NextHop, Origin, PathAttribute, PathAttributeValue,
};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;

use super::message::{
    Capabilities, DecodeError, Inbound, MAX_MESSAGE_LEN, Notification, Open, Outbound, RouteAttrs, Update,
    UpdateSummary, code, two_octet_as,
};
use crate::config::{AddressFamily, Prefix};

const HEADER_LEN: usize = 19;

/// Message type codes (RFC 4271 4.1, RFC 2918).
const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;
const ROUTE_REFRESH: u8 = 5;

/// Splits a byte stream into messages and decodes them.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Both sides sent the 4-octet AS capability: AS_PATH has 4-octet ASNs.
    asn4: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Set once the OPENs are exchanged (RFC 6793).
    pub fn set_asn4(&mut self, asn4: bool) {
        self.asn4 = asn4;
    }

    /// Takes the first whole message off `buf`. `Ok(None)`: more bytes are
    /// needed. After an error the stream is unusable (the session closes).
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Option<Inbound>, DecodeError> {
        let Some(len) = check_header(buf)? else {
            return Ok(None);
        };
        let msg = self.decode_frame(&buf[..len]);
        buf.drain(..len);
        msg.map(Some)
    }

    fn decode_frame(&self, frame: &[u8]) -> Result<Inbound, DecodeError> {
        if frame[18] == UPDATE {
            return update_summary(frame).map(Inbound::Update);
        }
        if frame[18] == NOTIFICATION {
            return Ok(Inbound::Notification(Notification::new(
                frame[19],
                frame[20],
                frame[21..].to_vec(),
            )));
        }
        // RFC 7606 spirit: pharos discards routes, so attributes it cannot
        // read are not worth a session reset; structure errors still are.
        let mut ctx = BgpParsingContext::new(
            self.asn4,
            Default::default(),
            Default::default(),
            false,
            false,
            false,
            false,
        );
        let mut reader = SliceReader::new(frame);
        match BgpMessage::parse(&mut reader, &mut ctx) {
            Ok(msg) => Ok(inbound(msg)),
            Err(e) => {
                let detail = e.to_string();
                let notification = from_netgauze(&BgpNotificationMessage::from(e))
                    .unwrap_or_else(|| Notification::new(code::MESSAGE_HEADER, 0, Vec::new()));
                Err(DecodeError { notification, detail })
            }
        }
    }
}

/// Checks the header of the message at the front of `buf`: the length of
/// the whole message once it is all there, `None` while incomplete.
fn check_header(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let header_error = |subcode: u8, data: Vec<u8>, detail: String| DecodeError {
        notification: Notification::new(code::MESSAGE_HEADER, subcode, data),
        detail,
    };
    if let Some(pos) = buf.iter().take(16).position(|&b| b != 0xff) {
        return Err(header_error(
            1,
            Vec::new(),
            format!("connection not synchronized: marker octet {pos} is {:#04x}", buf[pos]),
        ));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    let kind = buf[18];
    let bad_length = |why: &str| {
        header_error(
            2,
            (len as u16).to_be_bytes().to_vec(),
            format!("bad message length {len} for message type {kind}: {why}"),
        )
    };
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(bad_length("must be 19..=4096"));
    }
    let length_ok = match kind {
        OPEN => len >= 29,
        UPDATE => len >= 23,
        NOTIFICATION => len >= 21,
        KEEPALIVE => len == 19,
        ROUTE_REFRESH => len == 23,
        _ => return Err(header_error(3, vec![kind], format!("bad message type {kind}"))),
    };
    if !length_ok {
        return Err(bad_length("too short or too long for its type"));
    }
    Ok((buf.len() >= len).then_some(len))
}

fn family_of(t: AddressType) -> Option<AddressFamily> {
    match t {
        AddressType::Ipv4Unicast => Some(AddressFamily::Ipv4),
        AddressType::Ipv6Unicast => Some(AddressFamily::Ipv6),
        _ => None,
    }
}

fn address_type(f: AddressFamily) -> AddressType {
    match f {
        AddressFamily::Ipv4 => AddressType::Ipv4Unicast,
        AddressFamily::Ipv6 => AddressType::Ipv6Unicast,
    }
}

fn inbound(msg: BgpMessage) -> Inbound {
    match msg {
        BgpMessage::Open(open) => Inbound::Open(open_from(&open)),
        // Not reached: decode_frame summarises UPDATEs itself.
        BgpMessage::Update(_) => Inbound::Update(UpdateSummary::default()),
        BgpMessage::KeepAlive => Inbound::Keepalive,
        BgpMessage::RouteRefresh(rr) => Inbound::RouteRefresh(family_of(rr.address_type())),
        BgpMessage::Notification(n) => Inbound::Notification(
            from_netgauze(&n).unwrap_or_else(|| Notification::new(code::MESSAGE_HEADER, 0, Vec::new())),
        ),
    }
}

fn open_from(open: &BgpOpenMessage) -> Open {
    let mut caps = Capabilities::default();
    for cap in open.capabilities() {
        match cap {
            BgpCapability::MultiProtocolExtensions(mp) => {
                caps.any_multiprotocol = true;
                match family_of(mp.address_type()) {
                    Some(f) if !caps.families.contains(&f) => caps.families.push(f),
                    Some(_) => {}
                    None => caps.other_families += 1,
                }
            }
            BgpCapability::FourOctetAs(c) => caps.four_octet_as = Some(c.asn4()),
            BgpCapability::RouteRefresh | BgpCapability::EnhancedRouteRefresh | BgpCapability::CiscoRouteRefresh => {
                caps.route_refresh = true;
            }
            BgpCapability::GracefulRestartCapability(_) => caps.graceful_restart = true,
            other => caps.other.push(other.code().map_or_else(|c| c, u8::from)),
        }
    }
    Open {
        my_as: open.my_as(),
        hold_time: open.hold_time(),
        router_id: open.bgp_id(),
        capabilities: caps,
    }
}

/// UPDATE Message Error subcodes used on the inbound path (RFC 4271 6.3).
mod update_error {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
}

/// Path attribute type codes the walker looks at (RFC 4760).
const MP_REACH_NLRI: u8 = 14;
const MP_UNREACH_NLRI: u8 = 15;
/// The Extended Length attribute flag (RFC 4271 4.3).
const EXTENDED_LENGTH: u8 = 0x10;

fn update_error(subcode: u8, data: Vec<u8>, detail: String) -> DecodeError {
    DecodeError {
        notification: Notification::new(code::UPDATE, subcode, data),
        detail,
    }
}

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

/// Summarises the UPDATE `frame` (header included, its length checked by
/// [`check_header`]: at least 23 octets) by walking its bytes: the two
/// length fields must fit the message and each other, every attribute
/// must fit the attribute list, and every prefix its field. Prefixes are
/// counted, never stored.
pub(crate) fn update_summary(frame: &[u8]) -> Result<UpdateSummary, DecodeError> {
    let malformed = |detail: String| update_error(update_error::MALFORMED_ATTRIBUTE_LIST, Vec::new(), detail);
    let body = &frame[HEADER_LEN..];
    let withdrawn_len = be16(body);
    let rest = &body[2..];
    // The withdrawn routes and the 2-octet attribute length must both fit.
    if withdrawn_len + 2 > rest.len() {
        return Err(malformed(format!(
            "UPDATE withdrawn routes length {withdrawn_len} leaves no room for the path attribute length \
             ({} octets after it)",
            rest.len()
        )));
    }
    let (withdrawn, rest) = rest.split_at(withdrawn_len);
    let attrs_len = be16(rest);
    let rest = &rest[2..];
    if attrs_len > rest.len() {
        return Err(malformed(format!(
            "UPDATE total path attribute length {attrs_len} runs past the message ({} octets left)",
            rest.len()
        )));
    }
    let (attrs, nlri) = rest.split_at(attrs_len);
    let network = |what: &str, e: String| {
        update_error(
            update_error::INVALID_NETWORK_FIELD,
            Vec::new(),
            format!("UPDATE {what}: {e}"),
        )
    };
    let mut s = UpdateSummary {
        withdrawn: count_prefixes(withdrawn, 32).map_err(|e| network("withdrawn routes", e))?,
        announced: count_prefixes(nlri, 32).map_err(|e| network("NLRI", e))?,
        end_of_rib: None,
    };
    let mut pos = 0;
    let mut count = 0;
    let (mut reach_seen, mut unreach_seen) = (false, false);
    let mut empty_unreach = None;
    while pos < attrs.len() {
        let left = &attrs[pos..];
        let extended = left[0] & EXTENDED_LENGTH != 0;
        let head = if extended { 4 } else { 3 };
        if left.len() < head {
            return Err(malformed(format!(
                "UPDATE path attribute at offset {pos}: {} octets left, its header needs {head}",
                left.len()
            )));
        }
        let kind = left[1];
        let len = if extended {
            be16(&left[2..])
        } else {
            usize::from(left[2])
        };
        if head + len > left.len() {
            return Err(malformed(format!(
                "UPDATE path attribute type {kind} at offset {pos}: length {len} runs past the attribute list \
                 ({} octets left)",
                left.len() - head
            )));
        }
        let whole = &left[..head + len];
        let value = &whole[head..];
        let optional = |detail: String| update_error(update_error::OPTIONAL_ATTRIBUTE_ERROR, whole.to_vec(), detail);
        match kind {
            MP_REACH_NLRI | MP_UNREACH_NLRI => {
                let seen = if kind == MP_REACH_NLRI {
                    &mut reach_seen
                } else {
                    &mut unreach_seen
                };
                // RFC 7606 3 (g)
                if std::mem::replace(seen, true) {
                    return Err(malformed(format!("UPDATE carries path attribute type {kind} twice")));
                }
                let (family, prefixes) = mp_nlri(kind, value).map_err(|e| optional(format!("UPDATE {e}")))?;
                if let Some((family, max)) = family {
                    let name = if kind == MP_REACH_NLRI {
                        "MP_REACH_NLRI"
                    } else {
                        "MP_UNREACH_NLRI"
                    };
                    let n = count_prefixes(prefixes, max).map_err(|e| network(&format!("{name} {family}"), e))?;
                    if kind == MP_REACH_NLRI {
                        s.announced += n;
                    } else {
                        s.withdrawn += n;
                        empty_unreach = (n == 0).then_some(family);
                    }
                }
            }
            _ => {}
        }
        count += 1;
        pos += head + len;
    }
    // End-of-RIB (RFC 4724 2): IPv4, the empty UPDATE; another family, an
    // UPDATE with nothing but an empty MP_UNREACH_NLRI.
    if withdrawn.is_empty() && nlri.is_empty() {
        s.end_of_rib = match count {
            0 => Some(AddressFamily::Ipv4),
            1 => empty_unreach,
            _ => None,
        };
    }
    Ok(s)
}

/// A family pharos knows and its longest prefix, in bits.
type KnownFamily = (AddressFamily, u8);

/// The family (and its longest prefix) and the NLRI octets of an
/// MP_REACH_NLRI or MP_UNREACH_NLRI value; no family for one pharos does
/// not know (its prefixes are not counted).
fn mp_nlri(kind: u8, value: &[u8]) -> Result<(Option<KnownFamily>, &[u8]), String> {
    if value.len() < 3 {
        return Err(format!(
            "path attribute type {kind}: {} octets, shorter than AFI + SAFI",
            value.len()
        ));
    }
    let family = match (be16(value), value[2]) {
        (1, 1) => Some((AddressFamily::Ipv4, 32)),
        (2, 1) => Some((AddressFamily::Ipv6, 128)),
        _ => None,
    };
    if kind == MP_UNREACH_NLRI {
        return Ok((family, &value[3..]));
    }
    // AFI, SAFI, next hop length, next hop, reserved octet, NLRI.
    let nh_len = value.get(3).map(|&l| usize::from(l));
    match nh_len {
        Some(nh) if value.len() >= 5 + nh => Ok((family, &value[5 + nh..])),
        _ => Err(format!(
            "MP_REACH_NLRI: {} octets cannot hold its next hop (length {}) and reserved octet",
            value.len(),
            nh_len.map_or_else(|| "missing".to_string(), |l| l.to_string())
        )),
    }
}

/// Counts the prefixes (length octet, then that many bits rounded up to
/// octets) that make up `field` exactly; an error names the first that
/// does not fit or is longer than `max` bits.
fn count_prefixes(field: &[u8], max: u8) -> Result<usize, String> {
    let mut pos = 0;
    let mut n = 0;
    while pos < field.len() {
        let bits = field[pos];
        if bits > max {
            return Err(format!("prefix {n} at offset {pos} has length {bits}, more than {max}"));
        }
        let next = pos + 1 + usize::from(bits).div_ceil(8);
        if next > field.len() {
            return Err(format!(
                "prefix {n} at offset {pos} (length {bits}) runs past its field of {} octets",
                field.len()
            ));
        }
        pos = next;
        n += 1;
    }
    Ok(n)
}

/// Our NOTIFICATION from the library's: written out by the library, the
/// fields read back from the bytes.
fn from_netgauze(n: &BgpNotificationMessage) -> Option<Notification> {
    let mut out = Vec::new();
    BgpMessage::Notification(n.clone()).write(&mut out).ok()?;
    (out.len() >= 21).then(|| Notification::new(out[19], out[20], out[21..].to_vec()))
}

fn to_netgauze(n: &Notification) -> Option<BgpNotificationMessage> {
    use BgpNotificationMessage as N;
    let value: Box<[u8]> = n.data.clone().into();
    Some(match (n.code, n.subcode) {
        (1, 0) => N::MessageHeaderError(MessageHeaderError::Unspecific { value }),
        (1, 1) => N::MessageHeaderError(MessageHeaderError::ConnectionNotSynchronized { value }),
        (1, 2) => N::MessageHeaderError(MessageHeaderError::BadMessageLength { value }),
        (1, 3) => N::MessageHeaderError(MessageHeaderError::BadMessageType { value }),
        (2, 0) => N::OpenMessageError(OpenMessageError::Unspecific { value }),
        (2, 1) => N::OpenMessageError(OpenMessageError::UnsupportedVersionNumber { value }),
        (2, 2) => N::OpenMessageError(OpenMessageError::BadPeerAs { value }),
        (2, 3) => N::OpenMessageError(OpenMessageError::BadBgpIdentifier { value }),
        (2, 4) => N::OpenMessageError(OpenMessageError::UnsupportedOptionalParameter { value }),
        (2, 6) => N::OpenMessageError(OpenMessageError::UnacceptableHoldTime { value }),
        (2, 7) => N::OpenMessageError(OpenMessageError::UnsupportedCapability { value }),
        (3, 0) => N::UpdateMessageError(UpdateMessageError::Unspecific { value }),
        (3, 1) => N::UpdateMessageError(UpdateMessageError::MalformedAttributeList { value }),
        (3, 2) => N::UpdateMessageError(UpdateMessageError::UnrecognizedWellKnownAttribute { value }),
        (3, 3) => N::UpdateMessageError(UpdateMessageError::MissingWellKnownAttribute { value }),
        (3, 4) => N::UpdateMessageError(UpdateMessageError::AttributeFlagsError { value }),
        (3, 5) => N::UpdateMessageError(UpdateMessageError::AttributeLengthError { value }),
        (3, 6) => N::UpdateMessageError(UpdateMessageError::InvalidOriginAttribute { value }),
        (3, 8) => N::UpdateMessageError(UpdateMessageError::InvalidNextHopAttribute { value }),
        (3, 9) => N::UpdateMessageError(UpdateMessageError::OptionalAttributeError { value }),
        (3, 10) => N::UpdateMessageError(UpdateMessageError::InvalidNetworkField { value }),
        (3, 11) => N::UpdateMessageError(UpdateMessageError::MalformedAsPath { value }),
        (4, sub_code) => N::HoldTimerExpiredError(HoldTimerExpiredError::Unspecific { sub_code, value }),
        (5, 0) => N::FiniteStateMachineError(FiniteStateMachineError::Unspecific { value }),
        (5, 1) => {
            N::FiniteStateMachineError(FiniteStateMachineError::ReceiveUnexpectedMessageInOpenSentState { value })
        }
        (5, 2) => {
            N::FiniteStateMachineError(FiniteStateMachineError::ReceiveUnexpectedMessageInOpenConfirmState { value })
        }
        (5, 3) => {
            N::FiniteStateMachineError(FiniteStateMachineError::ReceiveUnexpectedMessageInEstablishedState { value })
        }
        (6, 1) => N::CeaseError(CeaseError::MaximumNumberOfPrefixesReached { value }),
        (6, 2) => N::CeaseError(CeaseError::AdministrativeShutdown { value }),
        (6, 3) => N::CeaseError(CeaseError::PeerDeConfigured { value }),
        (6, 4) => N::CeaseError(CeaseError::AdministrativeReset { value }),
        (6, 5) => N::CeaseError(CeaseError::ConnectionRejected { value }),
        (6, 6) => N::CeaseError(CeaseError::OtherConfigurationChange { value }),
        (6, 7) => N::CeaseError(CeaseError::ConnectionCollisionResolution { value }),
        (6, 8) => N::CeaseError(CeaseError::OutOfResources { value }),
        (6, 9) => N::CeaseError(CeaseError::HardReset { value }),
        (6, 10) => N::CeaseError(CeaseError::BfdDown { value }),
        (7, 1) => N::RouteRefreshError(RouteRefreshError::InvalidMessageLength { value }),
        _ => return None,
    })
}

/// A message that cannot be encoded (a bug or a config the validation
/// should have refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode BGP {kind}: {why}")]
pub struct EncodeError {
    pub kind: &'static str,
    pub why: String,
}

/// Encodes one message. `asn4`: both sides sent the 4-octet AS capability.
pub fn encode(msg: &Outbound, asn4: bool) -> Result<Vec<u8>, EncodeError> {
    let err = |why: String| EncodeError { kind: msg.kind(), why };
    let ng = match msg {
        Outbound::Open(open) => BgpMessage::Open(open_to(open)),
        Outbound::Keepalive => BgpMessage::KeepAlive,
        Outbound::Notification(n) => BgpMessage::Notification(
            to_netgauze(n).ok_or_else(|| err(format!("unknown code/subcode {}/{}", n.code, n.subcode)))?,
        ),
        Outbound::Update(u) => BgpMessage::Update(update_to(u, asn4).map_err(err)?),
    };
    let len = ng.len();
    if len > MAX_MESSAGE_LEN {
        return Err(err(format!("{len} octets, more than {MAX_MESSAGE_LEN}")));
    }
    let mut out = Vec::with_capacity(len);
    ng.write(&mut out).map_err(|e| err(e.to_string()))?;
    Ok(out)
}

fn open_to(open: &Open) -> BgpOpenMessage {
    let c = &open.capabilities;
    let mut caps: Vec<BgpCapability> = c
        .families
        .iter()
        .map(|f| BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(address_type(*f))))
        .collect();
    if c.route_refresh {
        caps.push(BgpCapability::RouteRefresh);
    }
    if let Some(asn) = c.four_octet_as {
        caps.push(BgpCapability::FourOctetAs(FourOctetAsCapability::new(asn)));
    }
    let params = if caps.is_empty() {
        Vec::new()
    } else {
        vec![BgpOpenMessageParameter::new_capabilities(caps)]
    };
    BgpOpenMessage::new(open.my_as, open.hold_time, open.router_id, params)
}

/// A path attribute with the flags its type requires; the extended length
/// flag only when the value needs it.
fn attribute(optional: bool, transitive: bool, value: PathAttributeValue) -> Result<PathAttribute, String> {
    let short = PathAttribute::from(optional, transitive, false, false, value)
        .map_err(|(v, e)| format!("attribute {:?}: {e}", v.path_attribute_type()))?;
    if short.len() <= 3 + 255 {
        return Ok(short);
    }
    PathAttribute::from(optional, transitive, false, true, short.value().clone())
        .map_err(|(v, e)| format!("attribute {:?}: {e}", v.path_attribute_type()))
}

fn v4_nlri(prefixes: &[Prefix]) -> Result<Vec<Ipv4UnicastAddress>, String> {
    prefixes
        .iter()
        .map(|p| match p.addr {
            IpAddr::V4(a) => Ipv4Net::new(a, p.len)
                .map_err(|e| format!("{p}: {e}"))
                .and_then(|n| Ipv4Unicast::from_net(n).map_err(|_| format!("{p} is not a unicast prefix")))
                .map(Ipv4UnicastAddress::new_no_path_id),
            IpAddr::V6(_) => Err(format!("{p} is not an IPv4 prefix")),
        })
        .collect()
}

fn v6_nlri(prefixes: &[Prefix]) -> Result<Vec<Ipv6UnicastAddress>, String> {
    prefixes
        .iter()
        .map(|p| match p.addr {
            IpAddr::V6(a) => Ipv6Net::new(a, p.len)
                .map_err(|e| format!("{p}: {e}"))
                .and_then(|n| Ipv6Unicast::from_net(n).map_err(|_| format!("{p} is not a unicast prefix")))
                .map(|n| Ipv6UnicastAddress::new(None, n)),
            IpAddr::V4(_) => Err(format!("{p} is not an IPv6 prefix")),
        })
        .collect()
}

fn update_to(u: &Update, asn4: bool) -> Result<BgpUpdateMessage, String> {
    match u {
        Update::EndOfRib(AddressFamily::Ipv4) => Ok(BgpUpdateMessage::new(vec![], vec![], vec![])),
        Update::EndOfRib(AddressFamily::Ipv6) => {
            let unreach = PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri: Box::new([]) });
            Ok(BgpUpdateMessage::new(
                vec![],
                vec![attribute(true, false, unreach)?],
                vec![],
            ))
        }
        Update::Withdraw {
            family: AddressFamily::Ipv4,
            prefixes,
        } => Ok(BgpUpdateMessage::new(v4_nlri(prefixes)?, vec![], vec![])),
        Update::Withdraw {
            family: AddressFamily::Ipv6,
            prefixes,
        } => {
            let nlri = v6_nlri(prefixes)?.into_boxed_slice();
            let unreach = PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri });
            Ok(BgpUpdateMessage::new(
                vec![],
                vec![attribute(true, false, unreach)?],
                vec![],
            ))
        }
        Update::Announce {
            family,
            prefixes,
            next_hop,
            attrs,
        } => {
            let mut path = Vec::new();
            path.push(attribute(false, true, PathAttributeValue::Origin(Origin::IGP))?);
            path.extend(as_path(attrs, asn4)?);
            let mut classic = Vec::new();
            let mut mp_reach = None;
            match (family, next_hop) {
                (AddressFamily::Ipv4, IpAddr::V4(nh)) => {
                    path.push(attribute(false, true, PathAttributeValue::NextHop(NextHop::new(*nh)))?);
                    classic = v4_nlri(prefixes)?;
                }
                (AddressFamily::Ipv6, IpAddr::V6(nh)) => {
                    let reach = MpReach::Ipv6Unicast {
                        next_hop_global: *nh,
                        next_hop_local: None,
                        nlri: v6_nlri(prefixes)?.into_boxed_slice(),
                    };
                    mp_reach = Some(attribute(true, false, PathAttributeValue::MpReach(reach))?);
                }
                (f, nh) => return Err(format!("next hop {nh} does not fit {f} routes")),
            }
            if let Some(med) = attrs.med {
                let v = PathAttributeValue::MultiExitDiscriminator(MultiExitDiscriminator::new(med));
                path.push(attribute(true, false, v)?);
            }
            if !attrs.communities.is_empty() {
                let list: Vec<NgCommunity> = attrs.communities.iter().map(|c| NgCommunity::new(c.as_u32())).collect();
                path.push(attribute(
                    true,
                    true,
                    PathAttributeValue::Communities(Communities::new(list)),
                )?);
            }
            path.extend(mp_reach);
            if !attrs.large_communities.is_empty() {
                let list: Vec<NgLargeCommunity> = attrs
                    .large_communities
                    .iter()
                    .map(|c| NgLargeCommunity::new(c.0, c.1, c.2))
                    .collect();
                let v = PathAttributeValue::LargeCommunities(LargeCommunities::new(list));
                path.push(attribute(true, true, v)?);
            }
            if !asn4 {
                path.extend(as4_path(attrs)?);
            }
            // Type code order (RFC 4271 5: SHOULD).
            path.sort_by_key(|a| a.path_attribute_type().map_or_else(|c| c, u8::from));
            Ok(BgpUpdateMessage::new(vec![], path, classic))
        }
    }
}

/// AS_PATH: one AS_SEQUENCE, 4-octet ASNs when both sides can; else
/// 2-octet ones with AS_TRANS for ASNs above 65535 (RFC 6793 4.2.2).
fn as_path(attrs: &RouteAttrs, asn4: bool) -> Result<Option<PathAttribute>, String> {
    if attrs.as_path.is_empty() {
        return Ok(None);
    }
    let path = if asn4 {
        AsPath::as4_path_segments(vec![As4PathSegment::new(
            AsPathSegmentType::AsSequence,
            attrs.as_path.clone(),
        )])
    } else {
        let asns: Vec<u16> = attrs.as_path.iter().map(|&a| two_octet_as(a)).collect();
        AsPath::as2_path_segments(vec![As2PathSegment::new(AsPathSegmentType::AsSequence, asns)])
    };
    attribute(false, true, PathAttributeValue::AsPath(path)).map(Some)
}

/// AS4_PATH, sent to a 2-octet-only peer when the path has an ASN above
/// 65535 (RFC 6793 4.2.2).
fn as4_path(attrs: &RouteAttrs) -> Result<Option<PathAttribute>, String> {
    if attrs.as_path.iter().all(|&a| a <= 0xffff) {
        return Ok(None);
    }
    let seg = As4PathSegment::new(AsPathSegmentType::AsSequence, attrs.as_path.clone());
    attribute(true, true, PathAttributeValue::As4Path(As4Path::new(vec![seg]))).map(Some)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
