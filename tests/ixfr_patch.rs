//! IXFR applied as a patch must give exactly the zone a full rebuild gives.
//!
//! Random sequences of differences (new names under empty non-terminals,
//! wildcards, delegations that occlude names, DNAMEs, NSEC owners, removals
//! that leave names empty) are applied twice: as patches chained on each
//! other, and by rebuilding the zone each time. After every step both
//! versions must answer every query in a fixed set byte for byte alike, and
//! both must accept or reject the same differences.

use std::sync::Arc;

use pharos::axfr::transfer::{self, Diff, Rec};
use pharos::dns::{Server, ServerOptions, Transport};
use pharos::zone::file::load_zone_text;
use pharos::zone::name::from_text;
use pharos::zone::persist::{self, ZoneMeta};
use pharos::zone::{Store, Zone, ZoneSet};

const BASE: &str = "$ORIGIN example.test.
@ 300 SOA ns1 host 1 3600 600 86400 300
@ 300 NS ns1
@ 300 DNSKEY 257 3 13 AAAA
@ 300 NSEC a A NS SOA DNSKEY NSEC
ns1 300 A 192.0.2.1
a 300 A 192.0.2.10
a 300 NSEC b A NSEC
b 300 MX 10 a
x.a 300 TXT \"deep\"
*.w 300 A 192.0.2.20
sub 300 NS ns.sub
ns.sub 300 A 192.0.2.30
deep.sub 300 A 192.0.2.31
d 300 DNAME target.example.net.
";

const OWNERS: &[&str] = &[
    "a",
    "b",
    "c",
    "x.a",
    "y.x.a",
    "z.y.x.a",
    "*.w",
    "*.a",
    "v.w",
    "ns.sub",
    "deep.sub",
    "q.deep.sub",
    "e.d",
    "www",
    "sub",
    "other",
    "ns.other",
    "d",
    "c2",
    "n.m.l",
];

fn name(owner: &str) -> Vec<u8> {
    from_text(&format!("{owner}.example.test")).unwrap()
}

fn soa(serial: u32) -> Rec {
    let mut rd = name("ns1");
    rd.extend(name("host"));
    for v in [serial, 3600, 600, 86400, 300] {
        rd.extend_from_slice(&v.to_be_bytes());
    }
    Rec {
        owner: from_text("example.test").unwrap(),
        rtype: 6,
        ttl: 300,
        rdata: rd,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random record at a random owner.
fn random_record(rng: &mut Rng) -> Rec {
    let owner = OWNERS[rng.below(OWNERS.len())];
    let (rtype, rdata) = match rng.below(9) {
        0..=2 => (1, vec![192, 0, 2, rng.below(4) as u8]),
        3 => (16, vec![3, b't', b'x', b't']),
        4 => (2, name(["ns.sub", "ns.other", "ns1"][rng.below(3)])),
        5 => (39, from_text("elsewhere.example.net").unwrap()),
        6 => (5, name("a")),
        7 => {
            let mut rd = name(OWNERS[rng.below(OWNERS.len())]);
            rd.extend_from_slice(&[0, 1, 0x40]);
            (47, rd)
        }
        _ => (
            28,
            vec![0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, rng.below(3) as u8],
        ),
    };
    Rec {
        owner: name(owner),
        rtype,
        ttl: 300,
        rdata,
    }
}

/// Every record of a zone but the apex SOA.
fn records(zone: &Zone) -> Vec<Rec> {
    let mut out = Vec::new();
    for id in zone.node_ids() {
        for set in zone.rrsets(id) {
            if set.rtype == 6 {
                continue;
            }
            for rd in zone.records(set) {
                out.push(Rec {
                    owner: zone.name(id).to_vec(),
                    rtype: set.rtype,
                    ttl: set.ttl,
                    rdata: rd.to_vec(),
                });
            }
        }
    }
    out
}

fn query(qname: &[u8], qtype: u16, dnssec: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // OPT: payload 4096, DO when asked.
    q.extend_from_slice(&[0, 0, 41, 16, 0, 0, 0, if dnssec { 0x80 } else { 0 }, 0, 0, 0]);
    q
}

fn server(zone: Zone) -> Server {
    Server::new(
        Store::new(ZoneSet::from_zones([Arc::new(zone)])),
        ServerOptions {
            node_id: "t".into(),
            nsid: false,
            version: None,
            udp_payload: 4096,
        },
    )
}

/// Both servers answer every query in the set identically.
fn same_answers(step: usize, patched: &Server, rebuilt: &Server) {
    let mut qnames: Vec<Vec<u8>> = OWNERS.iter().map(|o| name(o)).collect();
    for extra in [
        "nothere",
        "foo.w",
        "foo.a",
        "foo.sub",
        "foo.d",
        "foo.x.a",
        "m.l",
        "l",
        "zzz",
        "foo.other",
    ] {
        qnames.push(name(extra));
    }
    qnames.push(from_text("example.test").unwrap());
    let (mut a, mut b) = (vec![0u8; 65535], vec![0u8; 65535]);
    for qname in &qnames {
        for qtype in [1u16, 2, 5, 6, 15, 16, 28, 39, 43, 47, 255] {
            for dnssec in [false, true] {
                let q = query(qname, qtype, dnssec);
                let la = patched.handle(&q, Transport::Tcp, &mut a);
                let lb = rebuilt.handle(&q, Transport::Tcp, &mut b);
                assert_eq!(
                    &a[..la],
                    &b[..lb],
                    "step {step}: {} type {qtype} DO={dnssec} answered differently",
                    pharos::zone::name::to_text(qname)
                );
            }
        }
    }
}

#[test]
fn patched_zone_answers_like_a_rebuilt_one() {
    for seed in 1..=12u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let base = load_zone_text("example.test", BASE).unwrap().zone;
        let mut patched = load_zone_text("example.test", BASE).unwrap().zone;
        let mut rebuilt = base;
        let mut serial = 1u32;
        let (mut applied, mut rejected) = (0, 0);
        for step in 0..40 {
            let have = records(&rebuilt);
            let mut removed = vec![soa(serial)];
            let mut added = vec![soa(serial + 1)];
            for _ in 0..1 + rng.below(4) {
                if rng.below(3) == 0 && !have.is_empty() {
                    let r = have[rng.below(have.len())].clone();
                    if !removed.contains(&r) {
                        removed.push(r);
                    }
                } else {
                    added.push(random_record(&mut rng));
                }
            }
            let diffs = [Diff {
                from_serial: serial,
                to_serial: serial + 1,
                removed,
                added,
            }];
            let p = transfer::apply(&patched, &diffs);
            let r = transfer::rebuild(&rebuilt, &diffs).map(|b| b.build());
            match (p, r) {
                (Ok(p), Ok(Ok(r))) => {
                    assert_eq!(p.info.serial, r.zone.info.serial);
                    assert_eq!(
                        p.info.records, r.zone.info.records,
                        "seed {seed} step {step}: record count"
                    );
                    assert_eq!(
                        p.node_count(),
                        r.zone.node_count(),
                        "seed {seed} step {step}: node count"
                    );
                    patched = p;
                    rebuilt = r.zone;
                    serial += 1;
                    applied += 1;
                }
                (Err(_), Ok(Err(_))) | (Err(_), Err(_)) => {
                    rejected += 1;
                    continue;
                }
                (p, r) => panic!(
                    "seed {seed} step {step}: patch {:?} but rebuild {:?}",
                    p.as_ref().err(),
                    r.as_ref().map(|b| b.as_ref().err().map(|e| e[0].to_string()))
                ),
            }
            let (ps, rs) = (server(patched), server(rebuilt));
            same_answers(step, &ps, &rs);
            patched = take(ps);
            rebuilt = take(rs);
        }
        assert!(
            applied > 10,
            "seed {seed}: only {applied} steps applied ({rejected} rejected)"
        );
        // A patched zone written as a snapshot reads back as the same zone.
        let dir = tempfile::tempdir().unwrap();
        let path = persist::write_zone(dir.path(), &patched, &ZoneMeta::default()).unwrap();
        let (read, _) = persist::read_zone(&path).unwrap();
        assert_eq!(read.info.records, rebuilt.info.records);
        same_answers(usize::MAX, &server(read), &server(rebuilt));
    }
}

/// The zone back out of a one-zone server.
fn take(server: Server) -> Zone {
    let set = server.store().snapshot();
    let served = set.iter().next().unwrap().clone();
    drop(set);
    drop(server);
    let zone = served.answerable().unwrap().clone();
    drop(served);
    Arc::try_unwrap(zone).unwrap_or_else(|_| panic!("zone still shared"))
}
