//! The TCP listener of the real binary, against RFC 7766: pipelined queries
//! on one connection, messages split across segments, the idle timeout
//! (`[dns] tcp-idle-timeout`), the connection cap (`[dns]
//! tcp-max-connections`: the idle-longest makes room), requests that end the connection, and answers
//! too large for UDP.
//!
//! Queries are built and parsed with the harness's `wire` module; the zones
//! are tests/dnsdiff/zones/*.zone and zones/example.com.zone.

mod common;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::wire::{self, Reply, TcpRead};
use common::{Pharos, PharosOpts, Zone, dnsdiff_zones, repo_root};

/// How long a response may take before the test calls it missing.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

const NOERROR: u8 = 0;
const FORMERR: u8 = 1;
const NXDOMAIN: u8 = 3;
const REFUSED: u8 = 5;
const TYPE_CAA: u16 = 257;

fn zones() -> Vec<Zone> {
    let mut zones = dnsdiff_zones();
    zones.push(Zone::new("example.com", &repo_root().join("zones/example.com.zone")));
    zones
}

/// Starts pharos with the bundled zones and `dns_extra` inside `[dns]`.
fn start(dns_extra: &str) -> Pharos {
    Pharos::start(PharosOpts {
        zones: zones(),
        dns_extra: dns_extra.into(),
        ready_zone: Some("example.test".into()),
        ..Default::default()
    })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("cannot connect to {addr} over TCP: {e}"));
    s.set_nodelay(true).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes)
        .unwrap_or_else(|e| panic!("write to the server failed: {e}"));
    s.flush().unwrap();
}

fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    wire::frame(&wire::encode_query(id, name, qtype, wire::CLASS_IN, Some(1232)))
}

/// Reads one response and parses it; panics (saying `what`) on anything else.
fn expect_reply(s: &mut TcpStream, what: &str) -> Reply {
    match wire::tcp_read(s, ANSWER_WAIT) {
        TcpRead::Message(m) => wire::parse(&m).unwrap_or_else(|| panic!("{what}: unparseable response {m:02x?}")),
        other => panic!("{what}: no response over TCP: {other:?}"),
    }
}

/// Sends one query on `s` and returns the response with the same ID.
fn ask(s: &mut TcpStream, id: u16, name: &str, qtype: u16) -> Reply {
    send(s, &query_bytes(id, name, qtype));
    let r = expect_reply(s, &format!("{name} type {qtype} (id {id})"));
    assert_eq!(r.id, id, "response ID for {name} type {qtype}");
    assert!(r.qr(), "QR clear in the response for {name}");
    r
}

fn a_rdata(addr: &str) -> Vec<u8> {
    addr.parse::<std::net::Ipv4Addr>().unwrap().octets().to_vec()
}

/// True if the server closes `s` (EOF or reset) within `within`, without
/// sending anything; panics if a message arrives.
fn closed_within(s: &mut TcpStream, within: Duration, what: &str) -> bool {
    match wire::tcp_read(s, within) {
        TcpRead::Closed { .. } => true,
        TcpRead::TimedOut { partial: 0 } => false,
        TcpRead::TimedOut { partial } => panic!("{what}: {partial} octets of a message, then nothing"),
        TcpRead::Message(m) => panic!(
            "{what}: expected the server to close the connection, got a message: {}",
            wire::parse(&m).map_or_else(|| format!("{m:02x?}"), |r| format!("id {} {r}", r.id))
        ),
    }
}

// ---------------------------------------------------------------- pipelining

/// One expected answer of the pipelining test.
struct Case {
    name: &'static str,
    qtype: u16,
    rcode: u8,
    answers: u16,
    /// The A record that must be among the answers.
    address: Option<&'static str>,
}

const fn case(name: &'static str, qtype: u16, rcode: u8, answers: u16, address: Option<&'static str>) -> Case {
    Case {
        name,
        qtype,
        rcode,
        answers,
        address,
    }
}

const PIPELINE: [Case; 20] = [
    case("example.test", wire::TYPE_SOA, NOERROR, 1, None),
    case("example.test", wire::TYPE_NS, NOERROR, 3, None),
    case("example.test", wire::TYPE_MX, NOERROR, 2, None),
    case("example.test", wire::TYPE_TXT, NOERROR, 2, None),
    case("example.test", TYPE_CAA, NOERROR, 3, None),
    case("example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.1")),
    case("example.test", wire::TYPE_AAAA, NOERROR, 1, None),
    case("ns1.example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.53")),
    case("ns2.example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.54")),
    case("www.example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.80")),
    case("www.example.test", wire::TYPE_AAAA, NOERROR, 1, None),
    case("v4only.example.test", wire::TYPE_AAAA, NOERROR, 0, None),
    case("nothere.example.test", wire::TYPE_A, NXDOMAIN, 0, None),
    // CNAME www, then www's A
    case("alias.example.test", wire::TYPE_A, NOERROR, 2, Some("192.0.2.80")),
    case("big.example.test", wire::TYPE_A, NOERROR, 40, Some("198.51.100.40")),
    case("exists.w.example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.201")),
    case("foo.w.example.test", wire::TYPE_A, NOERROR, 1, Some("192.0.2.200")),
    case("mail.example.com", wire::TYPE_A, NOERROR, 1, Some("192.0.2.25")),
    case("example.com", wire::TYPE_MX, NOERROR, 2, None),
    case("www.example.org", wire::TYPE_A, REFUSED, 0, None),
];

/// RFC 7766 section 6.2.1.1: 20 queries sent back-to-back in one write on
/// one connection all get their own, correct, response (in any order).
#[test]
fn pipelined_queries_in_one_write() {
    let p = start("");
    let mut s = connect(p.addr());
    let id_of = |i: usize| 0x3100 + 7 * i as u16;
    let mut batch = Vec::new();
    for (i, c) in PIPELINE.iter().enumerate() {
        // every other query without EDNS: over TCP neither is truncated
        let edns = (i % 2 == 0).then_some(1232);
        batch.extend(wire::frame(&wire::encode_query(
            id_of(i),
            c.name,
            c.qtype,
            wire::CLASS_IN,
            edns,
        )));
    }
    send(&mut s, &batch);

    let mut seen: Vec<Option<Reply>> = vec![None; PIPELINE.len()];
    for n in 0..PIPELINE.len() {
        let r = expect_reply(&mut s, &format!("response {} of {}", n + 1, PIPELINE.len()));
        let i = (0..PIPELINE.len())
            .find(|&i| id_of(i) == r.id)
            .unwrap_or_else(|| panic!("response with an ID that was never sent: {} ({r})", r.id));
        assert!(seen[i].is_none(), "two responses with ID {}", r.id);
        seen[i] = Some(r);
    }
    for (i, c) in PIPELINE.iter().enumerate() {
        let r = seen[i].as_ref().unwrap();
        let what = format!("{} type {} (id {})", c.name, c.qtype, r.id);
        assert!(r.qr(), "{what}: QR clear");
        assert!(!r.tc(), "{what}: TC set over TCP ({r})");
        assert_eq!(r.rcode, c.rcode, "{what}: rcode ({r})");
        assert_eq!(r.ancount, c.answers, "{what}: answer count ({r})");
        assert_eq!(r.answers.len(), c.answers as usize, "{what}: answers parsed");
        if c.answers > 0 {
            assert!(
                r.answers[0].name.eq_ignore_ascii_case(&format!("{}.", c.name)),
                "{what}: first answer owned by {}",
                r.answers[0].name
            );
            let last = r.answers.last().unwrap();
            assert_eq!(last.rtype, c.qtype, "{what}: last answer has type {}", last.rtype);
        }
        if let Some(addr) = c.address {
            let want = a_rdata(addr);
            assert!(
                r.answers.iter().any(|rr| rr.rtype == wire::TYPE_A && rr.rdata == want),
                "{what}: A {addr} missing from {:?}",
                r.answers
            );
        }
    }
    // nothing beyond the 20 responses
    match wire::tcp_read(&mut s, Duration::from_millis(300)) {
        TcpRead::TimedOut { partial: 0 } => {}
        other => panic!("after 20 responses, expected silence on an open connection, got {other:?}"),
    }
    // and the connection is still usable
    let r = ask(&mut s, 0x3fff, "www.example.test", wire::TYPE_A);
    assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "{r}");
}

// ---------------------------------------------------------------- split messages

/// A message whose length prefix and body arrive in different segments (200
/// ms apart) is answered; so is one split inside the body and one split
/// inside the length prefix.
#[test]
fn query_split_across_writes() {
    let p = start("");
    let mut s = connect(p.addr());
    let splits: [(&str, usize); 3] = [
        ("after the length prefix", 2),
        ("inside the body", 9),
        ("inside the length prefix", 1),
    ];
    for (n, (how, at)) in splits.iter().enumerate() {
        let id = 0x5100 + n as u16;
        let q = query_bytes(id, "www.example.test", wire::TYPE_A);
        send(&mut s, &q[..*at]);
        sleep(Duration::from_millis(200));
        send(&mut s, &q[*at..]);
        let r = expect_reply(&mut s, &format!("query split {how}"));
        assert_eq!(r.id, id, "split {how}: response ID");
        assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "split {how}: {r}");
        assert_eq!(r.answers[0].rdata, a_rdata("192.0.2.80"), "split {how}");
    }
}

// ---------------------------------------------------------------- idle timeout

/// With `tcp-idle-timeout = "1s"`, a connection that sends nothing is closed
/// by the server after about a second (not at once, and well before 3 s).
#[test]
fn idle_connection_is_closed() {
    let p = start("tcp-idle-timeout = \"1s\"\n");

    let mut s = connect(p.addr());
    let t0 = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6), "idle connection"),
        "an idle connection is still open after 6 s (tcp-idle-timeout = 1s)"
    );
    let after = t0.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after <= Duration::from_secs(3),
        "idle connection closed after {after:?}; expected about 1 s (between 0.8 and 3 s)"
    );

    // half a message and then silence is idle too
    let mut s = connect(p.addr());
    let q = query_bytes(0x6001, "www.example.test", wire::TYPE_A);
    send(&mut s, &q[..5]);
    let t0 = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6), "connection stalled mid-message"),
        "a connection stalled inside a message is still open after 6 s"
    );
    let after = t0.elapsed();
    assert!(
        after <= Duration::from_secs(3),
        "stalled connection closed only after {after:?}"
    );
}

/// A connection that sends a query every 500 ms is not idle: it stays open
/// (every query answered) for over 3 s, then is closed about 1 s after the
/// last query.
#[test]
fn busy_connection_stays_open() {
    let p = start("tcp-idle-timeout = \"1s\"\n");
    let mut s = connect(p.addr());
    let t0 = Instant::now();
    let mut n = 0u16;
    while t0.elapsed() < Duration::from_millis(3500) {
        let r = ask(&mut s, 0x7000 + n, "www.example.test", wire::TYPE_A);
        assert_eq!(
            (r.rcode, r.ancount),
            (NOERROR, 1),
            "query {n} at {:?}: {r}",
            t0.elapsed()
        );
        n += 1;
        sleep(Duration::from_millis(500));
    }
    assert!(n >= 7, "only {n} queries in {:?}", t0.elapsed());
    let r = ask(&mut s, 0x7fff, "example.test", wire::TYPE_SOA);
    assert_eq!(
        (r.rcode, r.ancount),
        (NOERROR, 1),
        "last query after {:?}: {r}",
        t0.elapsed()
    );

    let idle_from = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6), "connection idle after its last query"),
        "connection still open 6 s after its last query (tcp-idle-timeout = 1s)"
    );
    let after = idle_from.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after <= Duration::from_secs(3),
        "closed {after:?} after the last answer; expected about 1 s"
    );
}

// ---------------------------------------------------------------- connection cap

/// With `tcp-max-connections = 4`, a fifth client is served at once: it
/// takes the place of the connection idle longest, which the server closes
/// (as Knot and NSD do; before, the fifth was turned away). At a full table
/// an idle connection gets about a second, not the configured 30 s. Once
/// the connections are closed, new ones are served again.
#[test]
fn connection_cap() {
    let p = start("tcp-max-connections = 4\ntcp-idle-timeout = \"30s\"\n");
    let mut open: Vec<TcpStream> = Vec::new();
    for i in 0..4u16 {
        let mut s = connect(p.addr());
        let r = ask(&mut s, 0x8000 + i, "www.example.test", wire::TYPE_A);
        assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "connection {}: {r}", i + 1);
        open.push(s);
    }
    // The first asks again: the second is now the one idle longest.
    let r = ask(&mut open[0], 0x8010, "example.test", wire::TYPE_SOA);
    assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "connection 1 again: {r}");

    let mut fifth = connect(p.addr());
    let r = ask(&mut fifth, 0x8005, "www.example.test", wire::TYPE_A);
    assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "the fifth connection: {r}");
    assert!(
        closed_within(&mut open[1], Duration::from_secs(3), "the connection idle longest"),
        "the connection idle longest is still open 3 s after a fifth took its place"
    );

    let idle_from = Instant::now();
    assert!(
        closed_within(&mut fifth, Duration::from_secs(8), "idle connection at a full table"),
        "an idle connection at a full table is still open after 8 s"
    );
    let after = idle_from.elapsed();
    assert!(
        after <= Duration::from_secs(4),
        "closed {after:?} after its answer at a full table; expected about 1 s, not tcp-idle-timeout (30 s)"
    );

    drop(open);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match TcpStream::connect_timeout(&p.addr(), Duration::from_secs(1)) {
            Err(e) => format!("connect: {e}"),
            Ok(mut s) => {
                let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                match s.write_all(&query_bytes(0x8200, "www.example.test", wire::TYPE_A)) {
                    Err(e) => format!("write: {e}"),
                    Ok(()) => match wire::tcp_read(&mut s, Duration::from_secs(1)) {
                        TcpRead::Message(m) => {
                            let r = wire::parse(&m).expect("unparseable response");
                            assert_eq!((r.id, r.rcode, r.ancount), (0x8200, NOERROR, 1), "{r}");
                            break;
                        }
                        other => format!("{other:?}"),
                    },
                }
            }
        };
        assert!(
            Instant::now() < deadline,
            "after closing the 4 connections, a new one is still not served ({attempts} attempts in 5 s; last: {last})"
        );
        sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------- bad requests

/// A header with QR=1 (a response, not a query) and a message shorter than a
/// header are not answered, and end the connection (promptly: the idle
/// timeout here is 30 s).
#[test]
fn unanswerable_request_ends_the_connection() {
    let p = start("tcp-idle-timeout = \"30s\"\n");
    let mut qr_set = vec![0x42, 0x42, 0x80, 0x00];
    qr_set.extend_from_slice(&[0; 8]);
    let cases: [(&str, Vec<u8>); 2] = [
        ("12-octet header with QR=1", qr_set),
        ("5-octet message", vec![0x42, 0x43, 0x00, 0x00, 0x00]),
    ];
    for (what, msg) in cases {
        let mut s = connect(p.addr());
        // the connection works ...
        let r = ask(&mut s, 0x9001, "www.example.test", wire::TYPE_A);
        assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "{r}");
        // ... until a request that gets no answer
        send(&mut s, &wire::frame(&msg));
        assert!(
            closed_within(&mut s, Duration::from_secs(3), what),
            "{what}: the connection is still open 3 s later (expected the server to close it)"
        );
    }
}

/// QDCOUNT=2 is malformed: FORMERR over TCP, with the request's ID; the
/// connection stays usable.
#[test]
fn two_questions_get_formerr() {
    let p = start("");
    let mut s = connect(p.addr());
    let mut msg = wire::encode_query(0x9a9a, "www.example.test", wire::TYPE_A, wire::CLASS_IN, None);
    msg[5] = 2; // QDCOUNT = 2
    let second = wire::encode_query(0, "example.test", wire::TYPE_SOA, wire::CLASS_IN, None);
    msg.extend_from_slice(&second[12..]); // the second question
    send(&mut s, &wire::frame(&msg));
    let r = expect_reply(&mut s, "query with QDCOUNT=2");
    assert_eq!(r.id, 0x9a9a, "FORMERR response ID");
    assert!(r.qr(), "QR clear: {r}");
    assert_eq!(r.rcode, FORMERR, "QDCOUNT=2 must get FORMERR: {r}");
    assert_eq!(r.ancount, 0, "FORMERR with answers: {r}");

    let r = ask(&mut s, 0x9a9b, "www.example.test", wire::TYPE_A);
    assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "query after the FORMERR: {r}");
}

// ---------------------------------------------------------------- large answers

/// The 40-record A RRset (too big for 512 octets) comes back complete over
/// TCP even without EDNS, with TC clear; so does the 1.5 KB TXT RRset that
/// exceeds udp-payload 1232.
#[test]
fn large_answers_are_complete_over_tcp() {
    let p = start("");
    let mut s = connect(p.addr());
    send(
        &mut s,
        &wire::frame(&wire::encode_query(
            0xb001,
            "big.example.test",
            wire::TYPE_A,
            wire::CLASS_IN,
            None,
        )),
    );
    let r = expect_reply(&mut s, "big.example.test A without EDNS");
    assert_eq!(r.id, 0xb001);
    assert!(!r.tc(), "TC set over TCP: {r}");
    assert!(r.aa(), "AA clear: {r}");
    assert_eq!((r.rcode, r.ancount), (NOERROR, 40), "{r}");
    assert!(r.size > 512, "40 A records in {} octets?", r.size);
    let mut got: Vec<Vec<u8>> = r
        .answers
        .iter()
        .filter(|rr| rr.rtype == wire::TYPE_A)
        .map(|rr| rr.rdata.clone())
        .collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = (1..=40).map(|i| vec![198, 51, 100, i]).collect();
    want.sort();
    assert_eq!(got, want, "the 40 addresses of big.example.test");

    let r = ask(&mut s, 0xb002, "bigtxt.example.test", wire::TYPE_TXT);
    assert!(!r.tc(), "TC set over TCP: {r}");
    assert_eq!((r.rcode, r.ancount), (NOERROR, 6), "{r}");
    assert!(r.size > 1232, "bigtxt answer is only {} octets", r.size);
}
