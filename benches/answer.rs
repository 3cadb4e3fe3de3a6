//! Criterion benches for the answer path: parse + lookup + encode, per kind
//! of answer, through `Server::handle` exactly as the UDP workers call it.
//!
//! `cargo bench --bench answer` — a change to the hot path shows its cost here.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use pharos::dns::{Server, ServerOptions, Transport};
use pharos::zone::file::load_zone_text;
use pharos::zone::{Store, ZoneSet};

const SMALL: &str = include_str!("../tests/dnsdiff/zones/example.test.zone");
const NSEC3: &str = include_str!("../tests/dnsdiff/zones/nsec3.test.zone");

/// A wire query for `name`/`qtype`, EDNS 1232, DO as given.
fn query(name: &str, qtype: u16, dnssec: bool) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, if dnssec { 0x80 } else { 0 }, 0, 0, 0]);
    m
}

fn big_zone(records: usize) -> String {
    let mut z = String::with_capacity(records * 32);
    z.push_str("$ORIGIN big.test.\n$TTL 3600\n@ SOA ns1 host 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..records {
        let _ = writeln!(z, "h{i} A 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    }
    z
}

fn server() -> Server {
    let zones = [
        ("example.test", SMALL.to_string()),
        ("nsec3.test", NSEC3.to_string()),
        ("big.test", big_zone(200_000)),
    ];
    let loaded: Vec<_> = zones
        .iter()
        .map(|(apex, text)| Arc::new(load_zone_text(apex, text).expect("bench zone loads").zone))
        .collect();
    Server::new(
        Store::new(ZoneSet::from_zones(loaded)),
        ServerOptions {
            node_id: "bench".into(),
            nsid: false,
            version: None,
            udp_payload: 1232,
        },
    )
}

fn answers(c: &mut Criterion) {
    let server = server();
    let mut out = vec![0u8; 65535];
    let cases: &[(&str, Vec<u8>)] = &[
        ("positive_a", query("www.example.test", 1, false)),
        ("nodata", query("www.example.test", 16, false)),
        ("nxdomain", query("nothere.example.test", 1, false)),
        ("wildcard", query("foo.w.example.test", 1, false)),
        ("referral", query("host.deleg.example.test", 1, false)),
        ("cname_chain", query("long1.example.test", 1, false)),
        ("mx_additional", query("example.test", 15, false)),
        ("refused", query("www.example.org", 1, false)),
        ("big_zone_hit", query("h123456.big.test", 1, false)),
        ("big_zone_nxdomain", query("nope.big.test", 1, false)),
        ("nsec3_nxdomain_do", query("nothere.nsec3.test", 1, true)),
        ("truncated_40_a", query("big.example.test", 1, false)),
    ];
    let mut group = c.benchmark_group("handle_udp");
    for (name, q) in cases {
        assert!(server.handle(q, Transport::Udp, &mut out) > 12, "{name} answers");
        group.bench_function(*name, |b| {
            b.iter(|| black_box(server.handle(black_box(q), Transport::Udp, &mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, answers);
criterion_main!(benches);
