//! Encoding and decoding: what goes out is read back with the wire
//! library and checked attribute by attribute; malformed input gets the
//! right NOTIFICATION.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::bgp::message::AS_TRANS;
use crate::config::{Community, LargeCommunity};

fn attrs(as_path: Vec<u32>) -> Arc<RouteAttrs> {
    Arc::new(RouteAttrs {
        as_path,
        med: Some(10),
        communities: vec![Community(65001, 100), Community(65535, 0)],
        large_communities: vec![LargeCommunity(65001, 1, 2)],
    })
}

fn p(s: &str) -> Prefix {
    Prefix::parse(s).unwrap()
}

/// Parses bytes we produced with the library itself.
fn parse(bytes: &[u8], asn4: bool) -> BgpMessage {
    let mut ctx = BgpParsingContext::default();
    ctx.set_asn4(asn4);
    BgpMessage::parse(&mut SliceReader::new(bytes), &mut ctx).expect("our own message parses")
}

fn roundtrip(msg: &Outbound, asn4: bool) -> Inbound {
    let bytes = encode(msg, asn4).unwrap();
    let mut d = Decoder::new();
    d.set_asn4(asn4);
    let mut buf = bytes.clone();
    let m = d.decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    m
}

#[test]
fn open_roundtrip() {
    let open = Open {
        my_as: AS_TRANS,
        hold_time: 9,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: Capabilities {
            four_octet_as: Some(4_200_000_000),
            families: vec![AddressFamily::Ipv4, AddressFamily::Ipv6],
            route_refresh: true,
            ..Capabilities::default()
        },
    };
    let Inbound::Open(back) = roundtrip(&Outbound::Open(open.clone()), false) else {
        panic!()
    };
    assert_eq!(back.asn(), 4_200_000_000);
    assert_eq!(back.my_as, 23456);
    assert_eq!(back.hold_time, 9);
    assert_eq!(back.capabilities.families, open.capabilities.families);
    assert!(back.capabilities.any_multiprotocol && back.capabilities.route_refresh);
    assert!(!back.capabilities.graceful_restart);
}

#[test]
fn keepalive_and_notification_roundtrip() {
    assert_eq!(roundtrip(&Outbound::Keepalive, true), Inbound::Keepalive);
    let n = Notification::admin_shutdown("maintenance");
    let bytes = encode(&Outbound::Notification(n.clone()), true).unwrap();
    assert_eq!(&bytes[18..21], &[3, 6, 2]);
    assert_eq!(
        roundtrip(&Outbound::Notification(n.clone()), true),
        Inbound::Notification(n)
    );
}

#[test]
fn ipv4_announce_is_classic_nlri() {
    let u = Update::Announce {
        family: AddressFamily::Ipv4,
        prefixes: vec![p("192.0.2.0/24"), p("198.51.100.0/24")],
        next_hop: "10.255.0.2".parse().unwrap(),
        attrs: attrs(vec![65001, 65001]),
    };
    let bytes = encode(&Outbound::Update(u), true).unwrap();
    let BgpMessage::Update(m) = parse(&bytes, true) else {
        panic!()
    };
    assert_eq!(m.nlri().len(), 2);
    assert_eq!(m.nlri()[0].network().address().to_string(), "192.0.2.0/24");
    let mut seen = Vec::new();
    for a in m.path_attributes() {
        seen.push(u8::from(a.path_attribute_type().unwrap()));
        match a.value() {
            PathAttributeValue::Origin(o) => assert_eq!(*o, Origin::IGP),
            PathAttributeValue::AsPath(AsPath::As4PathSegments(s)) => {
                assert_eq!(s[0].as_numbers(), &[65001, 65001]);
            }
            PathAttributeValue::NextHop(nh) => assert_eq!(nh.next_hop().to_string(), "10.255.0.2"),
            PathAttributeValue::MultiExitDiscriminator(m) => assert_eq!(m.metric(), 10),
            PathAttributeValue::Communities(c) => {
                let v: Vec<u32> = c.communities().iter().map(|c| c.value()).collect();
                assert_eq!(v, vec![(65001 << 16) | 100, 0xffff_0000]);
            }
            PathAttributeValue::LargeCommunities(l) => {
                let c = &l.communities()[0];
                assert_eq!((c.global_admin(), c.local_data1(), c.local_data2()), (65001, 1, 2));
            }
            other => panic!("unexpected attribute {other:?}"),
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 8, 32], "type code order");
    let Inbound::Update(s) = roundtrip(&Outbound::Update(update_v6()), true) else {
        panic!()
    };
    assert_eq!(s.announced, 1);
}

fn update_v6() -> Update {
    Update::Announce {
        family: AddressFamily::Ipv6,
        prefixes: vec![p("2001:db8:1::/48")],
        next_hop: "fd00:255:1::2".parse().unwrap(),
        attrs: attrs(vec![65001]),
    }
}

#[test]
fn ipv6_announce_is_mp_reach() {
    let bytes = encode(&Outbound::Update(update_v6()), true).unwrap();
    let BgpMessage::Update(m) = parse(&bytes, true) else {
        panic!()
    };
    assert!(m.nlri().is_empty());
    let reach = m
        .path_attributes()
        .iter()
        .find_map(|a| match a.value() {
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global,
                next_hop_local,
                nlri,
            }) => Some((*next_hop_global, *next_hop_local, nlri.clone())),
            _ => None,
        })
        .expect("MP_REACH_NLRI");
    assert_eq!(reach.0.to_string(), "fd00:255:1::2");
    assert_eq!(reach.1, None);
    assert_eq!(reach.2[0].network().address().to_string(), "2001:db8:1::/48");
    assert!(
        !m.path_attributes()
            .iter()
            .any(|a| matches!(a.value(), PathAttributeValue::NextHop(_)))
    );
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let u = Update::Announce {
        family: AddressFamily::Ipv4,
        prefixes: vec![p("192.0.2.0/24")],
        next_hop: "10.255.0.2".parse().unwrap(),
        attrs: attrs(vec![4_200_000_000, 4_200_000_000]),
    };
    let bytes = encode(&Outbound::Update(u), false).unwrap();
    let BgpMessage::Update(m) = parse(&bytes, false) else {
        panic!()
    };
    let mut as_path = None;
    let mut as4 = None;
    for a in m.path_attributes() {
        match a.value() {
            PathAttributeValue::AsPath(AsPath::As2PathSegments(s)) => as_path = Some(s[0].as_numbers().to_vec()),
            PathAttributeValue::As4Path(p) => as4 = Some(p.segments()[0].as_numbers().to_vec()),
            _ => {}
        }
    }
    assert_eq!(as_path, Some(vec![AS_TRANS, AS_TRANS]));
    assert_eq!(as4, Some(vec![4_200_000_000, 4_200_000_000]));
    // A 2-octet ASN needs no AS4_PATH.
    let u = Update::Announce {
        family: AddressFamily::Ipv4,
        prefixes: vec![p("192.0.2.0/24")],
        next_hop: "10.255.0.2".parse().unwrap(),
        attrs: attrs(vec![65001]),
    };
    let BgpMessage::Update(m) = parse(&encode(&Outbound::Update(u), false).unwrap(), false) else {
        panic!()
    };
    assert!(
        !m.path_attributes()
            .iter()
            .any(|a| matches!(a.value(), PathAttributeValue::As4Path(_)))
    );
}

#[test]
fn withdraw_and_end_of_rib() {
    let w4 = Update::Withdraw {
        family: AddressFamily::Ipv4,
        prefixes: vec![p("192.0.2.0/24")],
    };
    let Inbound::Update(s) = roundtrip(&Outbound::Update(w4), true) else {
        panic!()
    };
    assert_eq!((s.withdrawn, s.announced, s.end_of_rib), (1, 0, None));
    let w6 = Update::Withdraw {
        family: AddressFamily::Ipv6,
        prefixes: vec![p("2001:db8:1::/48")],
    };
    let Inbound::Update(s) = roundtrip(&Outbound::Update(w6), true) else {
        panic!()
    };
    assert_eq!((s.withdrawn, s.end_of_rib), (1, None));
    let eor4 = encode(&Outbound::Update(Update::EndOfRib(AddressFamily::Ipv4)), true).unwrap();
    assert_eq!(eor4.len(), 23, "the minimum UPDATE");
    for f in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
        let Inbound::Update(s) = roundtrip(&Outbound::Update(Update::EndOfRib(f)), true) else {
            panic!()
        };
        assert_eq!(s.end_of_rib, Some(f));
    }
}

#[test]
fn mismatched_next_hop_or_prefix_is_an_encode_error() {
    let u = Update::Announce {
        family: AddressFamily::Ipv6,
        prefixes: vec![p("2001:db8:1::/48")],
        next_hop: "10.255.0.2".parse().unwrap(),
        attrs: attrs(vec![65001]),
    };
    assert!(encode(&Outbound::Update(u), true).is_err());
    let u = Update::Withdraw {
        family: AddressFamily::Ipv4,
        prefixes: vec![p("2001:db8:1::/48")],
    };
    assert!(encode(&Outbound::Update(u), true).is_err());
}

fn decode_all(bytes: &[u8]) -> Result<Option<Inbound>, DecodeError> {
    let mut d = Decoder::new();
    d.set_asn4(true);
    d.decode(&mut bytes.to_vec())
}

fn header(len: u16, kind: u8) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&len.to_be_bytes());
    v.push(kind);
    v
}

#[test]
fn framing_errors() {
    // Garbage: refused at its first octet, without waiting for more.
    let e = decode_all(b"GET / HTTP/1.0").unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (1, 1));
    // Incomplete but fine so far.
    assert_eq!(decode_all(&[0xff; 10]).unwrap(), None);
    assert_eq!(decode_all(&header(19, 4)[..18]).unwrap(), None);
    // Bad lengths, with the length as data.
    let e = decode_all(&header(18, 4)).unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (1, 2));
    assert_eq!(e.notification.data, vec![0, 18]);
    assert_eq!(decode_all(&header(5000, 2)).unwrap_err().notification.subcode, 2);
    assert_eq!(decode_all(&header(20, 4)).unwrap_err().notification.subcode, 2);
    assert_eq!(decode_all(&header(20, 1)).unwrap_err().notification.subcode, 2);
    // Bad type, with the type as data.
    let e = decode_all(&header(19, 9)).unwrap_err();
    assert_eq!((e.notification.subcode, e.notification.data.clone()), (3, vec![9]));
    // A whole KEEPALIVE, then the start of the next message stays.
    let mut buf = header(19, 4);
    buf.extend_from_slice(&[0xff; 3]);
    let mut d = Decoder::new();
    assert_eq!(d.decode(&mut buf).unwrap(), Some(Inbound::Keepalive));
    assert_eq!(buf.len(), 3);
    assert_eq!(d.decode(&mut buf).unwrap(), None);
}

#[test]
fn malformed_bodies_get_their_error_code() {
    // OPEN with version 3: OPEN Message Error.
    let mut open = encode(
        &Outbound::Open(Open {
            my_as: 65000,
            hold_time: 9,
            router_id: Ipv4Addr::new(1, 2, 3, 4),
            capabilities: Capabilities::default(),
        }),
        true,
    )
    .unwrap();
    open[19] = 3;
    let e = decode_all(&open).unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (2, 1));
    // UPDATE whose attribute length runs past the message: UPDATE error.
    let mut upd = header(23 + 4, 2);
    upd.extend_from_slice(&[0, 0, 0, 200, 0x40, 1, 1, 0]);
    upd[17] = upd.len() as u8;
    let e = decode_all(&upd).unwrap_err();
    assert_eq!(e.notification.code, code::UPDATE, "{e}");
    // NOTIFICATION with a subcode the library does not know: still read.
    let mut n = header(21, 3);
    n.extend_from_slice(&[6, 0]);
    assert_eq!(
        decode_all(&n).unwrap(),
        Some(Inbound::Notification(Notification::new(6, 0, vec![])))
    );
}

#[test]
fn route_refresh_is_read() {
    let mut rr = header(23, 5);
    rr.extend_from_slice(&[0, 2, 0, 1]);
    assert_eq!(
        decode_all(&rr).unwrap(),
        Some(Inbound::RouteRefresh(Some(AddressFamily::Ipv6)))
    );
}

#[test]
fn every_notification_we_send_encodes() {
    for (c, s) in [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
        (2, 4),
        (2, 6),
        (2, 7),
        (3, 1),
        (4, 0),
    ]
    .into_iter()
    .chain([(5, 1), (5, 2), (5, 3), (6, 2), (6, 4), (6, 10)])
    {
        let n = Notification::new(c, s, vec![1, 2]);
        assert_eq!(
            roundtrip(&Outbound::Notification(n.clone()), true),
            Inbound::Notification(n)
        );
    }
    assert!(encode(&Outbound::Notification(Notification::new(42, 1, vec![])), true).is_err());
}

/// An UPDATE from its three fields, the lengths written as given.
fn update_bytes(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    let mut m = header((19 + body.len()) as u16, 2);
    m.extend_from_slice(&body);
    m
}

fn summary_of(bytes: &[u8]) -> UpdateSummary {
    match decode_all(bytes) {
        Ok(Some(Inbound::Update(s))) => s,
        other => panic!("not an UPDATE summary: {other:?}"),
    }
}

fn update_error_of(bytes: &[u8]) -> (u8, u8) {
    let e = decode_all(bytes).unwrap_err();
    (e.notification.code, e.notification.subcode)
}

/// `n` IPv4 /24s (4 octets each), `n` IPv6 /48s (7 octets each).
fn v4_24s(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| [24, 10, (i >> 8) as u8, i as u8]).collect()
}
fn v6_48s(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| [48, 0x20, 0x01, 0x0d, 0xb8, (i >> 8) as u8, i as u8])
        .collect()
}

fn mp_reach_v6(nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    v.push(0);
    v.extend_from_slice(nlri);
    let mut a = vec![0x90, 14];
    a.extend_from_slice(&(v.len() as u16).to_be_bytes());
    a.extend_from_slice(&v);
    a
}

fn mp_unreach(afi: u8, nlri: &[u8]) -> Vec<u8> {
    let mut a = vec![0x80, 15, (3 + nlri.len()) as u8, 0, afi, 1];
    a.extend_from_slice(nlri);
    a
}

/// ORIGIN IGP, AS_PATH 65000 (4-octet), NEXT_HOP 10.255.0.1.
const BASIC_ATTRS: [u8; 20] = [
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 10, 255, 0, 1,
];

#[test]
fn update_walker_counts_every_prefix_without_the_library() {
    // Classic NLRI and withdrawn routes, the most one UPDATE holds.
    let s = summary_of(&update_bytes(&v4_24s(10), &BASIC_ATTRS, &v4_24s(1000)));
    assert_eq!((s.announced, s.withdrawn, s.end_of_rib), (1000, 10, None));
    // Odd prefix lengths: /0, /1, /9, /17, /25, /32.
    let nlri = [
        0, 1, 128, 9, 10, 128, 17, 10, 0, 128, 25, 10, 0, 0, 128, 32, 10, 0, 0, 1,
    ];
    assert_eq!(summary_of(&update_bytes(&[], &BASIC_ATTRS, &nlri)).announced, 6);
    // MP_REACH_NLRI (extended length) and MP_UNREACH_NLRI for IPv6.
    let mut attrs = BASIC_ATTRS[..13].to_vec();
    attrs.extend(mp_reach_v6(&v6_48s(300)));
    let s = summary_of(&update_bytes(&[], &attrs, &[]));
    assert_eq!((s.announced, s.withdrawn, s.end_of_rib), (300, 0, None));
    let s = summary_of(&update_bytes(&[], &mp_unreach(2, &v6_48s(20)), &[]));
    assert_eq!((s.announced, s.withdrawn, s.end_of_rib), (0, 20, None));
    // A family pharos does not know (AFI 1 SAFI 2): not counted, no error.
    let mut other = mp_unreach(1, &v4_24s(2));
    other[5] = 2;
    assert_eq!(summary_of(&update_bytes(&[], &other, &[])), UpdateSummary::default());
    // Unknown and odd attributes are skipped, not judged.
    let mut attrs = BASIC_ATTRS.to_vec();
    attrs.extend_from_slice(&[0xc0, 99, 2, 0xde, 0xad, 0x40, 1, 1, 7]);
    assert_eq!(summary_of(&update_bytes(&[], &attrs, &v4_24s(1))).announced, 1);
}

#[test]
fn update_walker_finds_end_of_rib() {
    assert_eq!(
        summary_of(&update_bytes(&[], &[], &[])).end_of_rib,
        Some(AddressFamily::Ipv4)
    );
    assert_eq!(
        summary_of(&update_bytes(&[], &mp_unreach(2, &[]), &[])).end_of_rib,
        Some(AddressFamily::Ipv6)
    );
    assert_eq!(
        summary_of(&update_bytes(&[], &mp_unreach(1, &[]), &[])).end_of_rib,
        Some(AddressFamily::Ipv4)
    );
    // Not End-of-RIB: an empty MP_UNREACH beside another attribute, or
    // with withdrawn routes.
    let mut attrs = BASIC_ATTRS[..4].to_vec();
    attrs.extend(mp_unreach(2, &[]));
    assert_eq!(summary_of(&update_bytes(&[], &attrs, &[])).end_of_rib, None);
    assert_eq!(
        summary_of(&update_bytes(&v4_24s(1), &mp_unreach(2, &[]), &[])).end_of_rib,
        None
    );
}

#[test]
fn update_walker_refuses_inconsistent_lengths() {
    let good = update_bytes(&v4_24s(2), &BASIC_ATTRS, &v4_24s(3));
    assert_eq!(summary_of(&good).announced, 3);
    // Withdrawn routes length past the message, or leaving no room for
    // the attribute length: Malformed Attribute List.
    let mut m = good.clone();
    m[19..21].copy_from_slice(&5000u16.to_be_bytes());
    assert_eq!(update_error_of(&m), (3, 1));
    let mut m = update_bytes(&[], &[], &[]);
    m[19..21].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(update_error_of(&m), (3, 1));
    // Total path attribute length past the message.
    let mut m = good.clone();
    let at = 21 + 8;
    m[at..at + 2].copy_from_slice(&(BASIC_ATTRS.len() as u16 + 13).to_be_bytes());
    assert_eq!(update_error_of(&m), (3, 1));
    // An attribute longer than the list, or its header cut off.
    let mut attrs = BASIC_ATTRS.to_vec();
    attrs[2] = 200;
    assert_eq!(update_error_of(&update_bytes(&[], &attrs, &[])), (3, 1));
    assert_eq!(update_error_of(&update_bytes(&[], &[0x40, 1], &[])), (3, 1));
    assert_eq!(update_error_of(&update_bytes(&[], &[0x50, 1, 0], &[])), (3, 1));
    // MP_REACH_NLRI twice (RFC 7606 3 g).
    let mut attrs = mp_reach_v6(&v6_48s(1));
    attrs.extend(mp_reach_v6(&v6_48s(1)));
    assert_eq!(update_error_of(&update_bytes(&[], &attrs, &[])), (3, 1));
    // Prefixes that do not fit their field, or are too long: Invalid
    // Network Field.
    assert_eq!(update_error_of(&update_bytes(&[], &BASIC_ATTRS, &[24, 10, 0])), (3, 10));
    assert_eq!(update_error_of(&update_bytes(&[24, 10], &[], &[])), (3, 10));
    assert_eq!(
        update_error_of(&update_bytes(&[], &BASIC_ATTRS, &[33, 1, 2, 3, 4, 5])),
        (3, 10)
    );
    assert_eq!(
        update_error_of(&update_bytes(&[], &mp_unreach(2, &[129; 17]), &[])),
        (3, 10)
    );
    // An MP_REACH_NLRI whose next hop runs past it: Optional Attribute
    // Error with the attribute as data.
    let bad = [0x80, 14, 5, 0, 2, 1, 16, 0];
    let e = decode_all(&update_bytes(&[], &bad, &[])).unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (3, 9));
    assert_eq!(e.notification.data, bad.to_vec());
}

#[test]
fn update_walker_reads_what_the_encoder_writes() {
    // Every UPDATE pharos itself sends summarises as the library saw it.
    for u in [
        update_v6(),
        Update::Withdraw {
            family: AddressFamily::Ipv4,
            prefixes: vec![p("192.0.2.0/24"), p("198.51.100.0/23")],
        },
    ] {
        let bytes = encode(&Outbound::Update(u.clone()), true).unwrap();
        let BgpMessage::Update(ng) = parse(&bytes, true) else {
            panic!("not an UPDATE")
        };
        let mut want = ng.nlri().len() + ng.withdraw_routes().len();
        for a in ng.path_attributes() {
            match a.value() {
                PathAttributeValue::MpReach(MpReach::Ipv6Unicast { nlri, .. }) => want += nlri.len(),
                PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => want += nlri.len(),
                _ => {}
            }
        }
        let s = summary_of(&bytes);
        assert_eq!(s.announced + s.withdrawn, want, "{u:?}");
    }
}
