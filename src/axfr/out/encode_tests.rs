use super::*;
use crate::axfr::out::request::parse;
use crate::zone::file::load_zone_text;
use crate::zone::journal::{Entry, Record};

fn zone(text: &str) -> Zone {
    load_zone_text("example.test", text).expect("zone loads").zone
}

const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n\
@ SOA ns1 hostmaster 7 3600 600 86400 300\n@ NS ns1\n@ NS ns2.other.test.\n@ MX 10 mail\n\
ns1 A 192.0.2.1\nmail A 192.0.2.2\nwww CNAME ns1\nsub NS ns.sub\nns.sub A 192.0.2.3\na.b.c TXT \"hello\"\n";

fn axfr_query() -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x07EXAMPLE\x04test\x00");
    q.extend_from_slice(&rtype::AXFR.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Reads a (possibly compressed) name at `pos`: (name, offset after it).
fn read_name(msg: &[u8], mut pos: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = msg[pos] as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | msg[pos + 1] as usize;
            assert!(ptr < pos, "pointers go backwards");
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        out.extend_from_slice(&msg[pos..pos + 1 + len]);
        if len == 0 {
            return (out, end.unwrap_or(pos + 1));
        }
        pos += 1 + len;
    }
    panic!("pointer loop");
}

/// Every answer record of a message, names decompressed:
/// (owner, type, ttl, rdata with names decompressed).
fn records(msg: &[u8]) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos).1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let (owner, p) = read_name(msg, pos);
        let rt = u16::from_be_bytes([msg[p], msg[p + 1]]);
        let ttl = u32::from_be_bytes([msg[p + 4], msg[p + 5], msg[p + 6], msg[p + 7]]);
        let rdlen = u16::from_be_bytes([msg[p + 8], msg[p + 9]]) as usize;
        let rd = &msg[p + 10..p + 10 + rdlen];
        let rdata = match rt {
            rtype::NS | rtype::CNAME => read_name(msg, p + 10).0,
            rtype::MX => {
                let mut v = rd[..2].to_vec();
                v.extend(read_name(msg, p + 12).0);
                v
            }
            rtype::SOA => {
                let (a, q) = read_name(msg, p + 10);
                let (b, q) = read_name(msg, q);
                [a, b, msg[q..p + 10 + rdlen].to_vec()].concat()
            }
            _ => rd.to_vec(),
        };
        out.push((owner, rt, ttl, rdata));
        pos = p + 10 + rdlen;
    }
    out
}

/// Every record of a zone, the apex SOA once, sorted.
fn zone_records(z: &Zone) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for id in z.node_ids() {
        for set in z.rrsets(id) {
            for rd in z.records(set) {
                out.push((z.name(id).to_vec(), set.rtype, set.ttl, rd.to_vec()));
            }
        }
    }
    out.sort();
    out
}

/// The messages of an AXFR answer with messages of at most `limit`.
fn axfr_messages(z: &Zone, limit: usize) -> Vec<Vec<u8>> {
    let q = axfr_query();
    let req = parse(&q).unwrap();
    let mut enc = Encoder::new(&req, limit);
    let mut walk = Axfr::new(z);
    let mut msgs = Vec::new();
    loop {
        let done = walk.fill(&mut enc).is_ok();
        assert!(done || enc.count() > 0, "a record does not fit");
        enc.finish();
        assert!(enc.msg.len() <= limit);
        msgs.push(enc.msg.clone());
        if done {
            return msgs;
        }
        enc.start();
    }
}

#[test]
fn axfr_is_the_zone_soa_first_and_last_compressed() {
    let z = zone(ZONE);
    let msgs = axfr_messages(&z, MAX_MESSAGE);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(&m[..2], &[0xab, 0xcd]);
    assert_eq!(m[2] & 0x04, 0, "no AA, as Knot");
    assert_eq!(u16::from_be_bytes([m[4], m[5]]), 1, "question in the first message");
    let recs = records(m);
    assert_eq!(recs.first().unwrap().1, rtype::SOA);
    assert_eq!(recs.last().unwrap().1, rtype::SOA);
    assert_eq!(recs.first(), recs.last());
    let mut got = recs[..recs.len() - 1].to_vec();
    got.sort();
    assert_eq!(got, zone_records(&z));
    // Compressed: shorter than the names written out in full.
    let full: usize = recs.iter().map(|r| r.0.len() + 10 + r.3.len()).sum();
    assert!(m.len() < 12 + 17 + full - 100, "{} vs {}", m.len(), full);
}

#[test]
fn axfr_splits_into_messages_and_keeps_every_record() {
    let mut text = String::from(ZONE);
    for i in 0..3000 {
        text.push_str(&format!("host{i}.dept{} A 10.0.{}.{}\n", i % 7, i / 256, i % 256));
        text.push_str(&format!("host{i}.dept{} TXT \"record number {i}\"\n", i % 7));
    }
    let z = zone(&text);
    let msgs = axfr_messages(&z, 16384);
    assert!(msgs.len() > 5, "{} messages", msgs.len());
    for m in &msgs[1..] {
        assert_eq!(
            u16::from_be_bytes([m[4], m[5]]),
            0,
            "question only in the first message"
        );
    }
    let all: Vec<_> = msgs.iter().flat_map(|m| records(m)).collect();
    assert_eq!(all.first(), all.last());
    let mut got = all[..all.len() - 1].to_vec();
    got.sort();
    assert_eq!(got, zone_records(&z));
}

#[test]
fn a_record_that_fits_nowhere_is_reported() {
    let z = zone(ZONE);
    let q = axfr_query();
    let req = parse(&q).unwrap();
    let mut enc = Encoder::new(&req, 40);
    let mut walk = Axfr::new(&z);
    assert_eq!(walk.fill(&mut enc), Err(Full));
    assert_eq!(enc.count(), 0);
}

fn rec(owner: &[u8], rt: u16, rdata: &[u8]) -> Record {
    Record {
        owner: owner.to_vec(),
        rtype: rt,
        ttl: 60,
        rdata: rdata.to_vec(),
    }
}

fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut v = b"\x03ns1\x07example\x04test\x00\x0ahostmaster\x07example\x04test\x00".to_vec();
    v.extend_from_slice(&serial.to_be_bytes());
    v.extend_from_slice(&[0; 16]);
    v
}

#[test]
fn ixfr_records_are_in_rfc1995_order() {
    let apex = b"\x07example\x04test\x00";
    let a = rec(b"\x01a\x07example\x04test\x00", rtype::A, &[192, 0, 2, 1]);
    let b = rec(b"\x01b\x07example\x04test\x00", rtype::A, &[192, 0, 2, 2]);
    let c = rec(b"\x01c\x07example\x04test\x00", rtype::A, &[192, 0, 2, 3]);
    let entries = vec![
        Entry {
            from: 5,
            to: 6,
            meta: Default::default(),
            from_soa: rec(apex, rtype::SOA, &soa_rdata(5)),
            soa: rec(apex, rtype::SOA, &soa_rdata(6)),
            removed: vec![a.clone()],
            added: vec![b.clone()],
        },
        Entry {
            from: 6,
            to: 7,
            meta: Default::default(),
            from_soa: rec(apex, rtype::SOA, &soa_rdata(6)),
            soa: rec(apex, rtype::SOA, &soa_rdata(7)),
            removed: vec![b.clone()],
            added: vec![c.clone()],
        },
    ];
    let served = soa_rdata(7);
    let out = ixfr_records(apex, (300, &served), &entries);
    let serials: Vec<Option<u32>> = out
        .iter()
        .map(|r| (r.rtype == rtype::SOA).then(|| soa_serial(&r.rdata).unwrap()))
        .collect();
    assert_eq!(
        serials,
        vec![
            Some(7),
            Some(5),
            None,
            Some(6),
            None,
            Some(6),
            None,
            Some(7),
            None,
            Some(7)
        ]
    );
    assert_eq!(out[2], a);
    assert_eq!(out[4], b);
    assert_eq!(out[6], b);
    assert_eq!(out[8], c);

    // Encoded (as the TCP path does, one record after the other) and read
    // back: the same records in the same order.
    let q = axfr_query();
    let mut req = parse(&q).unwrap();
    req.qtype = rtype::IXFR;
    let mut enc = Encoder::new(&req, MAX_MESSAGE);
    for r in &out {
        enc.record(&r.owner, r.rtype, r.ttl, &r.rdata).unwrap();
    }
    enc.finish();
    let back: Vec<Record> = records(&enc.msg)
        .into_iter()
        .map(|(owner, rtype, ttl, rdata)| Record {
            owner,
            rtype,
            ttl,
            rdata,
        })
        .collect();
    assert_eq!(back, out);
}

#[test]
fn serial_arithmetic_is_rfc1982() {
    assert!(serial_ge(5, 5));
    assert!(serial_ge(6, 5));
    assert!(!serial_ge(5, 6));
    assert!(serial_ge(1, u32::MAX));
    assert!(!serial_ge(u32::MAX, 1));
}

#[test]
fn axfr_of_a_patched_zone_is_the_patched_zone() {
    use crate::zone::patch::{Change, apply};
    let mut text = String::from(ZONE);
    for i in 0..500 {
        text.push_str(&format!("host{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    let base = zone(&text);
    let owner = b"\x04new1\x07example\x04test\x00";
    let gone = b"\x05host7\x07example\x04test\x00";
    let soa = soa_rdata(8);
    let patched = apply(
        &base,
        &[Change {
            owner: gone,
            rtype: rtype::A,
            ttl: 300,
            rdata: &[10, 0, 0, 7],
        }],
        &[Change {
            owner,
            rtype: rtype::A,
            ttl: 300,
            rdata: &[192, 0, 2, 99],
        }],
        Change {
            owner: b"\x07example\x04test\x00",
            rtype: rtype::SOA,
            ttl: 300,
            rdata: &soa,
        },
    )
    .expect("patch applies");
    assert!(patched.patch_len() > 0, "a patched zone");
    let msgs = axfr_messages(&patched, MAX_MESSAGE);
    let all: Vec<_> = msgs.iter().flat_map(|m| records(m)).collect();
    assert_eq!(all.first(), all.last());
    assert_eq!(soa_serial(&all[0].3), Some(8));
    let mut got = all[..all.len() - 1].to_vec();
    got.sort();
    assert_eq!(got, zone_records(&patched));
    assert!(got.iter().any(|r| r.0 == owner));
    assert!(!got.iter().any(|r| r.0 == gone));
}
