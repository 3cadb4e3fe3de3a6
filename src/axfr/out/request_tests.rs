use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::config::Prefix;
use crate::tsig::{Algorithm, Key};
use crate::zone::file::load_zone_text;

const APEX: &[u8] = b"\x07example\x04test\x00";

fn set() -> ZoneSet {
    let text =
        "$ORIGIN example.test.\n@ 300 SOA ns1 hostmaster 7 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n";
    let z = load_zone_text("example.test", text).expect("zone").zone;
    ZoneSet::from_zones([Arc::new(z)])
}

fn key(name: &str, secret: &[u8]) -> Arc<Key> {
    Arc::new(Key::new(name, Algorithm::HmacSha256, secret).unwrap())
}

fn table(zone_key: Option<Arc<Key>>) -> OutTable {
    let mut keys = HashMap::new();
    for k in [
        key("xfr", b"xfr-secret-0123456789"),
        key("other", b"other-secret-98765"),
    ] {
        keys.insert(k.name.clone(), k);
    }
    let mut zones = HashMap::new();
    zones.insert(
        APEX.into(),
        OutAcl {
            allow: vec![Prefix::parse("127.0.0.0/8").unwrap()],
            key: zone_key,
        },
    );
    OutTable {
        zones,
        keys,
        history_dir: None,
    }
}

fn query(qname: &[u8], qtype: u16, serial: Option<u32>, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some(s) = serial {
        q[9] = 1;
        // Owner compressed to the question, names in the rdata too.
        q.extend_from_slice(&[0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 0, 0, 24, 0xc0, 0x0c, 0xc0, 0x0c]);
        q.extend_from_slice(&s.to_be_bytes());
        q.extend_from_slice(&[0; 16]);
    }
    if edns {
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn signed(mut q: Vec<u8>, k: &Key, now: u64) -> Vec<u8> {
    tsig::sign_request(&mut q, k, now, 300);
    q
}

const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
const FAR: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9)));

fn reason(r: Result<Accepted, Refused>) -> Option<Refusal> {
    r.err().map(|e| e.reason)
}

#[test]
fn parses_ixfr_serial_from_a_compressed_soa() {
    let q = query(b"\x07Example\x04TEST\x00", rtype::IXFR, Some(42), true);
    let r = parse(&q).unwrap();
    assert_eq!(r.apex, APEX);
    assert_eq!(r.qname, b"\x07Example\x04TEST\x00");
    assert_eq!(r.client_serial, Some(42));
    assert_eq!(r.edns, Some(1232));
    assert!(!r.signed);
    assert_eq!(parse(&query(APEX, rtype::A, None, false)).err(), Some(NotXfr::Other));
    // EDNS version 1: left to the usual path, which answers BADVERS.
    let mut v1 = query(APEX, rtype::AXFR, None, true);
    let at = v1.len() - 5;
    v1[at] = 1;
    assert_eq!(parse(&v1).err(), Some(NotXfr::Other));
    let mut truncated = q.clone();
    truncated.truncate(q.len() - 5);
    assert!(parse(&truncated).is_err());
}

#[test]
fn decisions() {
    let set = set();
    let t = table(None);
    let now = 1_700_000_000;
    let ok = |q: &[u8], peer, t: &OutTable| reason(decide(&parse(q).unwrap(), peer, t, &set, now));
    let axfr = query(APEX, rtype::AXFR, None, false);
    assert_eq!(ok(&axfr, LOCAL, &t), None);
    assert_eq!(ok(&axfr, FAR, &t), Some(Refusal::NotAllowed));
    assert_eq!(ok(&axfr, None, &t), Some(Refusal::NotAllowed));
    let other = query(b"\x05other\x04test\x00", rtype::AXFR, None, false);
    assert_eq!(ok(&other, LOCAL, &t), Some(Refusal::NotServed));
    assert_eq!(
        ok(&query(APEX, rtype::IXFR, None, false), LOCAL, &t),
        Some(Refusal::NoSoa)
    );
    assert_eq!(ok(&query(APEX, rtype::IXFR, Some(3), false), LOCAL, &t), None);

    // The zone requires key "xfr".
    let xfr = t.keys.values().find(|k| k.name_text() == "xfr.").unwrap().clone();
    let other_key = t.keys.values().find(|k| k.name_text() == "other.").unwrap().clone();
    let tk = table(Some(xfr.clone()));
    assert_eq!(ok(&axfr, LOCAL, &tk), Some(Refusal::Unsigned));
    let good = signed(axfr.clone(), &xfr, now);
    let a = decide(&parse(&good).unwrap(), LOCAL, &tk, &set, now).unwrap();
    assert_eq!(a.signer.unwrap().key.name, xfr.name);
    assert_eq!(
        ok(&signed(axfr.clone(), &other_key, now), LOCAL, &tk),
        Some(Refusal::BadKey)
    );
    let unknown = Key::new("nobody", Algorithm::HmacSha256, b"x").unwrap();
    assert_eq!(
        ok(&signed(axfr.clone(), &unknown, now), LOCAL, &tk),
        Some(Refusal::BadKey)
    );
    let forged = Key::new("xfr", Algorithm::HmacSha256, b"wrong secret").unwrap();
    assert_eq!(
        ok(&signed(axfr.clone(), &forged, now), LOCAL, &tk),
        Some(Refusal::BadSig)
    );
    assert_eq!(
        ok(&signed(axfr.clone(), &xfr, now - 3600), LOCAL, &tk),
        Some(Refusal::BadTime)
    );
    // TSIG is checked before the address.
    assert_eq!(ok(&signed(axfr.clone(), &forged, now), FAR, &tk), Some(Refusal::BadSig));
}

#[test]
fn refusals_carry_no_zone_data() {
    let set = set();
    let t = table(None);
    let now = 1_700_000_000;
    let q = query(APEX, rtype::AXFR, None, true);
    let req = parse(&q).unwrap();
    let refused = decide(&req, FAR, &t, &set, now).unwrap_err();
    let msg = refusal_message(&req, &refused, &t, 1232, now);
    assert_eq!(msg[3] & 0x0f, rcode::REFUSED);
    assert_eq!(
        &msg[4..10],
        &[0, 1, 0, 0, 0, 0],
        "question only, no answer or authority"
    );
    assert_eq!(&msg[10..12], &[0, 1], "the OPT record");
    // EDE 18 in the OPT record, at the end.
    assert_eq!(&msg[msg.len() - 6..], &[0, 15, 0, 2, 0, 18]);

    let xfr = t.keys.values().find(|k| k.name_text() == "xfr.").unwrap().clone();
    let tk = table(Some(xfr));
    let forged = Key::new("xfr", Algorithm::HmacSha256, b"wrong secret").unwrap();
    let q = signed(query(APEX, rtype::AXFR, None, false), &forged, now);
    let req = parse(&q).unwrap();
    let refused = decide(&req, LOCAL, &tk, &set, now).unwrap_err();
    let msg = refusal_message(&req, &refused, &tk, 1232, now);
    assert_eq!(msg[3] & 0x0f, rcode::NOTAUTH);
    assert_eq!(
        &msg[4..12],
        &[0, 1, 0, 0, 0, 0, 0, 1],
        "question and the TSIG record only"
    );
}
