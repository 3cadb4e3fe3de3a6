//! Transfers out (issue 11, items 2, 3, 5, 6) against the real binary:
//! kdig and dig as clients, a raw client that checks every message's TSIG
//! with the crate's verifier, and a Knot secondary that transfers from
//! pharos with a TSIG key.
//!
//! Needs knotd (Debian package `knot`), kdig (`knot-dnsutils`) and dig
//! (`dnsutils`). Everything runs on 127.0.0.1; every process is killed by
//! its PID on drop.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wire::{self, TcpRead};
use common::{
    Knot, KnotOpts, MgmtNode, PharosOpts, Sample, Zone, kdig, parse_metrics, require_program, sample, toml_str,
};
use pharos::tsig::{Algorithm, Key, ResponseVerifier, Verified, sign_request, unix_now};

const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const TYPE_TSIG: u16 = 250;
const XFR_SECRET: &str = "c2VjcmV0LWtleS1mb3ItZG5zZGlmZi10ZXN0cw==";
const XFR_SECRET_RAW: &[u8] = b"secret-key-for-dnsdiff-tests";
const OTHER_SECRET: &str = "b3RoZXItc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVm";
const OTHER_SECRET_RAW: &[u8] = b"other-secret-key-0123456789abcdef";
const T: Duration = Duration::from_secs(20);

fn small_zone(name: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {name}.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\n@ NS ns2.elsewhere.test.\n\
         @ MX 10 mail\n@ TXT \"v=spf1 -all\"\nns1 A 192.0.2.1\nns1 AAAA 2001:db8::1\nmail A 192.0.2.2\n\
         www CNAME ns1\nsub NS ns.sub\nns.sub A 192.0.2.3\na.b.c TXT \"deep\" \"two strings\"\n\
         *.wild A 192.0.2.4\n_sip._tcp SRV 0 5 5060 sip\nsip A 192.0.2.5\n"
    )
}

fn big_zone(name: &str, n: usize) -> String {
    let mut z = small_zone(name, 2024010101);
    for i in 0..n {
        let _ = writeln!(z, "h{i} A 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    }
    z
}

fn write_zone(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.zone"));
    fs::write(&p, text).unwrap();
    p
}

/// A `[[zone]]` table with transfer-out settings.
fn zone_toml(name: &str, file: &Path, allow: &str, key: Option<&str>) -> String {
    let mut t = format!(
        "\n[[zone]]\nname = {}\nfile = {}\nallow-transfer = [{}]\n",
        toml_str(name),
        toml_str(&file.to_string_lossy()),
        toml_str(allow)
    );
    if let Some(k) = key {
        let _ = writeln!(t, "transfer-tsig-key = {}", toml_str(k));
    }
    t
}

fn keys_toml() -> String {
    format!(
        "\n[[tsig-key]]\nname = \"xfr\"\nalgorithm = \"hmac-sha256\"\nsecret = {}\n\
         \n[[tsig-key]]\nname = \"other\"\nalgorithm = \"hmac-sha256\"\nsecret = {}\n",
        toml_str(XFR_SECRET),
        toml_str(OTHER_SECRET)
    )
}

fn start(zones_toml: &str, ready: &str, dns_extra: &str) -> MgmtNode {
    MgmtNode::start(PharosOpts {
        extra_toml: format!("{}{zones_toml}", keys_toml()),
        ready_zone: Some(ready.to_string()),
        dns_extra: dns_extra.to_string(),
        ipv6: false,
        ..Default::default()
    })
}

fn metrics(node: &MgmtNode) -> Vec<Sample> {
    let r = node.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    parse_metrics(&r.body, false)
}

/// `/metrics` once no transfer out is running: a transfer is counted just
/// after its last message is written, so a client that has read it all may
/// ask before the count is in.
fn settled_metrics(node: &MgmtNode) -> Vec<Sample> {
    common::wait_until(&node.pharos, Duration::from_secs(10), "transfers out finish", || {
        sample(&metrics(node), "pharos_xfr_out_running", &[]) == 0.0
    });
    metrics(node)
}

fn xfr_key() -> Key {
    Key::new("xfr", Algorithm::HmacSha256, XFR_SECRET_RAW).unwrap()
}

/// A transfer query: an IXFR carries an SOA with `serial` in authority.
fn xfr_query(zone: &str, qtype: u16, serial: Option<u32>, edns: bool) -> Vec<u8> {
    let mut q = wire::encode_query(0x4242, zone, qtype, wire::CLASS_IN, None);
    q[2] = 0; // no RD
    if let Some(s) = serial {
        q[9] = 1;
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

/// Starts an AXFR of `zone` with a small receive buffer, reads its first
/// message and then stops reading: the transfer holds its slot until the
/// idle timeout (or until the stream is dropped).
fn stalled_axfr(addr: SocketAddr, zone: &str) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut stalled: TcpStream = sock.into();
    stalled
        .write_all(&wire::frame(&xfr_query(zone, TYPE_AXFR, None, false)))
        .unwrap();
    assert!(matches!(wire::tcp_read(&mut stalled, T), TcpRead::Message(_)));
    stalled
}

/// Sends `query` over TCP and reads messages until the answer is complete
/// (the second SOA of a transfer, a lone SOA, or an error RCODE).
fn transfer(addr: SocketAddr, query: &[u8]) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(&wire::frame(query)).unwrap();
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Vec<Vec<u8>> {
    let mut msgs = Vec::new();
    let mut soas = 0;
    loop {
        match wire::tcp_read(s, T) {
            TcpRead::Message(m) => {
                let r = wire::parse(&m).expect("parsable message");
                soas += r.answers.iter().filter(|a| a.rtype == wire::TYPE_SOA).count();
                let lone_soa = msgs.is_empty() && r.ancount == 1 && soas == 1;
                msgs.push(m);
                if r.rcode != 0 || soas >= 2 || lone_soa || r.ancount == 0 {
                    return msgs;
                }
            }
            other => panic!("transfer ended early after {} messages: {other:?}", msgs.len()),
        }
    }
}

/// The TSIG record of a message: (error, MAC length), if any.
fn tsig_of(m: &[u8]) -> Option<(u16, usize)> {
    let r = wire::parse(m)?;
    let t = r.additional.iter().find(|a| a.rtype == TYPE_TSIG)?;
    let alg_end = {
        let mut p = 0;
        while t.rdata[p] != 0 {
            p += 1 + t.rdata[p] as usize;
        }
        p + 1
    };
    let mac_len = u16::from_be_bytes([t.rdata[alg_end + 8], t.rdata[alg_end + 9]]) as usize;
    let e = alg_end + 10 + mac_len + 2;
    Some((u16::from_be_bytes([t.rdata[e], t.rdata[e + 1]]), mac_len))
}

/// Sorted answer lines of a kdig transfer, whitespace normalised.
fn kdig_records(out: &std::process::Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase())
        .collect();
    v.sort();
    v
}

fn kdig_xfr(addr: &str, port: u16, zone: &str, what: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        format!("@{addr}"),
        "-p".into(),
        port.to_string(),
        zone.to_string(),
        what.to_string(),
        "+noall".into(),
        "+answer".into(),
        "+stats".into(),
        "+time=10".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    kdig(&args)
}

fn received(out: &std::process::Output) -> (u64, u64) {
    // ";; Received 1234 B (5 messages, 678 records)"
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Received") && l.contains("messages"))
        .unwrap_or_else(|| {
            panic!(
                "no transfer summary in kdig output:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums[1], nums[2])
}

#[test]
fn axfr_out_of_a_file_zone_equals_knots_axfr_of_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("; dnsdiff: allow-axfr\n{}", small_zone("example.test", 7));
    let file = write_zone(dir.path(), "example.test", &text);
    let node = start(
        &zone_toml("example.test", &file, "127.0.0.0/8", None),
        "example.test",
        "",
    );
    let knot = Knot::start_with(KnotOpts::dnsdiff(vec![Zone::new("example.test", &file)]), 0);
    let ours = kdig_xfr("127.0.0.1", node.pharos.port, "example.test", "AXFR", &[]);
    let theirs = kdig_xfr("127.0.0.1", knot.port, "example.test", "AXFR", &[]);
    let (ours_r, theirs_r) = (kdig_records(&ours), kdig_records(&theirs));
    assert!(ours_r.len() > 15, "{}", String::from_utf8_lossy(&ours.stdout));
    assert_eq!(ours_r, theirs_r, "pharos and Knot send the same records");

    // SOA first and last, one message, no AA (as Knot).
    let msgs = transfer(node.pharos.addr(), &xfr_query("example.test", TYPE_AXFR, None, false));
    assert_eq!(msgs.len(), 1);
    let r = wire::parse(&msgs[0]).unwrap();
    assert_eq!(r.rcode, 0);
    assert!(!r.aa());
    assert_eq!(r.answers.first().unwrap().rtype, wire::TYPE_SOA);
    assert_eq!(r.answers.last().unwrap().rtype, wire::TYPE_SOA);

    // Counted, and listed in GET /zones/{name}.
    let m = settled_metrics(&node);
    assert_eq!(
        sample(
            &m,
            "pharos_xfr_out_transfers_total",
            &[("kind", "axfr"), ("result", "ok")]
        ),
        2.0
    );
    assert!(sample(&m, "pharos_xfr_out_bytes_total", &[("kind", "axfr"), ("result", "ok")]) > 500.0);
    let z = node.get("/zones/example.test").json();
    let list = z["transfers-out"].as_array().expect("transfers-out listed");
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["kind"], "axfr");
    assert_eq!(list[1]["client"], "127.0.0.1");
    assert_eq!(list[1]["serial"], 7);
    assert_eq!(list[1]["messages"], 1);
    assert_eq!(list[1]["result"], "ok");
}

#[test]
fn multi_message_axfr_is_signed_on_every_message_and_a_knot_secondary_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "big.test", &big_zone("big.test", 50_000));
    let node = start(
        &zone_toml("big.test", &file, "127.0.0.1/32", Some("xfr")),
        "big.test",
        "",
    );

    // kdig verifies the TSIG of the answer.
    let y = format!("hmac-sha256:xfr:{XFR_SECRET}");
    let out = kdig_xfr("127.0.0.1", node.pharos.port, "big.test", "AXFR", &["-y", &y]);
    let (messages, records) = received(&out);
    assert!(messages > 5, "{messages} messages");
    assert_eq!(records, 50_000 + 16, "every record, SOA twice");

    // Our own client: every message carries a TSIG that verifies, chained.
    let key = xfr_key();
    let mut q = xfr_query("big.test", TYPE_AXFR, None, false);
    let mac = sign_request(&mut q, &key, unix_now(), 300);
    let msgs = transfer(node.pharos.addr(), &q);
    assert_eq!(msgs.len() as u64, messages);
    let mut v = ResponseVerifier::new(&key, &mac);
    for (i, m) in msgs.iter().enumerate() {
        assert!(m.len() <= 65535);
        assert_eq!(v.verify(m, unix_now()), Ok(Verified::Signed), "message {i} is signed");
    }
    v.finish().expect("the stream verifies");

    // A Knot secondary with the key transfers it and answers the same.
    let sec = KnotSecondary::start("big.test", node.pharos.addr(), Some(("xfr", XFR_SECRET)));
    sec.wait_serial("big.test", 2024010101);
    let knot_side = kdig_records(&kdig_xfr("127.0.0.1", sec.port, "big.test", "AXFR", &[]));
    let ours = kdig_records(&out);
    assert_eq!(knot_side.len(), ours.len());
    assert!(knot_side == ours, "the Knot secondary holds the zone pharos sent");
    assert!(sec.log().contains("AXFR, incoming"), "{}", sec.log());
}

#[test]
fn an_rrset_of_64_kib_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = small_zone("fat.test", 1);
    // 250 TXT records of 250 octets: one RRset of about 63 KiB.
    for i in 0..250 {
        let _ = writeln!(text, "fat TXT \"{:03}{}\"", i, "x".repeat(246));
    }
    let file = write_zone(dir.path(), "fat.test", &text);
    let node = start(&zone_toml("fat.test", &file, "127.0.0.1", None), "fat.test", "");
    let out = kdig_xfr("127.0.0.1", node.pharos.port, "fat.test", "AXFR", &[]);
    let (messages, records) = received(&out);
    assert_eq!(records, 250 + 16);
    assert!(messages >= 2, "an RRset that fills a message starts another");
    let recs = kdig_records(&out);
    assert_eq!(
        recs.iter()
            .filter(|l| l.starts_with("fat.fat.test. 300 in txt"))
            .count(),
        250
    );
}

#[test]
fn ixfr_current_serial_one_soa_old_serial_whole_zone_and_pipelined_queries_wait() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "example.test", &small_zone("example.test", 100));
    let node = start(
        &zone_toml("example.test", &file, "127.0.0.0/8", None),
        "example.test",
        "",
    );
    let addr = node.pharos.addr();

    let up = transfer(addr, &xfr_query("example.test", TYPE_IXFR, Some(100), true));
    let r = wire::parse(&up[0]).unwrap();
    assert_eq!((r.rcode, r.ancount), (0, 1), "current: the single SOA");
    let newer = transfer(addr, &xfr_query("example.test", TYPE_IXFR, Some(101), false));
    assert_eq!(
        wire::parse(&newer[0]).unwrap().ancount,
        1,
        "newer client: the single SOA"
    );

    let old = transfer(addr, &xfr_query("example.test", TYPE_IXFR, Some(90), false));
    let all: Vec<wire::Rr> = old.iter().flat_map(|m| wire::parse(m).unwrap().answers).collect();
    assert_eq!(all.len(), 16, "no history: the whole zone, AXFR-style");
    assert_eq!(all[0].rtype, wire::TYPE_SOA);
    assert_eq!(all[15].rtype, wire::TYPE_SOA);
    let out = kdig_xfr("127.0.0.1", node.pharos.port, "example.test", "IXFR=90", &[]);
    assert_eq!(received(&out).1, 16, "kdig takes it");

    // Pipelined: AXFR then SOA on one connection; the SOA answer follows
    // the whole transfer.
    let mut s = TcpStream::connect(addr).unwrap();
    let mut both = wire::frame(&xfr_query("example.test", TYPE_AXFR, None, false));
    both.extend(wire::frame(&wire::encode_query(
        7,
        "example.test",
        wire::TYPE_SOA,
        wire::CLASS_IN,
        None,
    )));
    s.write_all(&both).unwrap();
    let xfr = read_answer(&mut s);
    assert_eq!(wire::parse(&xfr[0]).unwrap().ancount, 16);
    match wire::tcp_read(&mut s, T) {
        TcpRead::Message(m) => {
            let r = wire::parse(&m).unwrap();
            assert_eq!((r.id, r.rcode, r.ancount), (7, 0, 1));
        }
        other => panic!("no SOA answer after the transfer: {other:?}"),
    }

    let m = settled_metrics(&node);
    let kind = |k: &str| sample(&m, "pharos_xfr_out_transfers_total", &[("kind", k), ("result", "ok")]);
    assert_eq!(kind("up-to-date"), 2.0);
    assert_eq!(kind("ixfr-as-axfr"), 2.0);
    assert_eq!(kind("axfr"), 1.0);
}

#[test]
fn transfers_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "example.test", &small_zone("example.test", 100));
    let closed = write_zone(dir.path(), "closed.test", &small_zone("closed.test", 1));
    let zones = format!(
        "{}{}",
        zone_toml("example.test", &file, "127.0.0.0/8", None),
        zone_toml("closed.test", &closed, "192.0.2.0/24", None)
    );
    let node = start(&zones, "example.test", "");
    let udp = |q: &[u8]| -> wire::Reply {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(q, node.pharos.addr()).unwrap();
        let mut buf = [0u8; 65535];
        let n = s.recv(&mut buf).expect("UDP answer");
        wire::parse(&buf[..n]).unwrap()
    };
    // AXFR over UDP: NOTIMP, as Knot.
    let r = udp(&xfr_query("example.test", TYPE_AXFR, None, false));
    assert_eq!((r.rcode, r.ancount), (4, 0));
    // IXFR over UDP without a diff that fits: the SOA only (RFC 1995 2).
    let r = udp(&xfr_query("example.test", TYPE_IXFR, Some(90), true));
    assert_eq!((r.rcode, r.ancount), (0, 1));
    assert_eq!(r.answers[0].rtype, wire::TYPE_SOA);
    // Refused from outside allow-transfer, with EDE 18.
    let r = udp(&xfr_query("closed.test", TYPE_IXFR, Some(90), true));
    assert_eq!((r.rcode, r.ancount, r.nscount), (5, 0, 0));
    let opt = r.additional.iter().find(|a| a.rtype == wire::TYPE_OPT).expect("OPT");
    assert_eq!(opt.rdata, [0, 15, 0, 2, 0, 18]);
}

#[test]
fn refusals_are_clear_counted_and_carry_no_zone_data() {
    let dir = tempfile::tempdir().unwrap();
    let closed = write_zone(dir.path(), "closed.test", &small_zone("closed.test", 1));
    let keyed = write_zone(dir.path(), "keyed.test", &small_zone("keyed.test", 1));
    let zones = format!(
        "{}{}",
        zone_toml("closed.test", &closed, "192.0.2.0/24", None),
        zone_toml("keyed.test", &keyed, "127.0.0.1", Some("xfr"))
    );
    let node = start(&zones, "keyed.test", "");
    let addr = node.pharos.addr();
    let no_data = |m: &[u8]| {
        let r = wire::parse(m).unwrap();
        assert_eq!((r.ancount, r.nscount), (0, 0), "no zone data");
        let needle = b"\x08hostmaster";
        assert!(!m.windows(needle.len()).any(|w| w == needle), "no SOA rdata");
        r
    };

    // Outside allow-transfer: REFUSED with EDE 18.
    let msgs = transfer(addr, &xfr_query("closed.test", TYPE_AXFR, None, true));
    let r = no_data(&msgs[0]);
    assert_eq!(r.rcode, 5);
    assert_eq!(r.additional[0].rdata, [0, 15, 0, 2, 0, 18]);
    // Not served here: NOTAUTH, as Knot.
    let msgs = transfer(addr, &xfr_query("nowhere.test", TYPE_AXFR, None, false));
    assert_eq!(no_data(&msgs[0]).rcode, 9);
    // Key required, none given: NOTAUTH.
    let msgs = transfer(addr, &xfr_query("keyed.test", TYPE_AXFR, None, false));
    let r = no_data(&msgs[0]);
    assert_eq!((r.rcode, tsig_of(&msgs[0])), (9, None));

    let signed = |key: &Key, at: u64| {
        let mut q = xfr_query("keyed.test", TYPE_AXFR, None, false);
        sign_request(&mut q, key, at, 300);
        let msgs = transfer(addr, &q);
        let r = no_data(&msgs[0]);
        (r.rcode, tsig_of(&msgs[0]))
    };
    let other = Key::new("other", Algorithm::HmacSha256, OTHER_SECRET_RAW).unwrap();
    let unknown = Key::new("stranger", Algorithm::HmacSha256, b"whatever").unwrap();
    let forged = Key::new("xfr", Algorithm::HmacSha256, b"not the secret").unwrap();
    // Another configured key than the zone's, an unknown key: BADKEY, unsigned.
    assert_eq!(signed(&other, unix_now()), (9, Some((17, 0))));
    assert_eq!(signed(&unknown, unix_now()), (9, Some((17, 0))));
    // Wrong secret: BADSIG.
    assert_eq!(signed(&forged, unix_now()), (9, Some((16, 0))));
    // An hour off: BADTIME, signed with the key.
    assert_eq!(signed(&xfr_key(), unix_now() - 3600), (9, Some((18, 32))));
    // The right key at the right time: the zone.
    let mut q = xfr_query("keyed.test", TYPE_AXFR, None, false);
    sign_request(&mut q, &xfr_key(), unix_now(), 300);
    assert_eq!(wire::parse(&transfer(addr, &q)[0]).unwrap().ancount, 16);

    let m = metrics(&node);
    let refused = |r: &str| sample(&m, "pharos_xfr_out_refused_total", &[("reason", r)]);
    assert_eq!(refused("not-allowed"), 1.0);
    assert_eq!(refused("not-served"), 1.0);
    assert_eq!(refused("tsig-missing"), 1.0);
    assert_eq!(refused("tsig-badkey"), 2.0);
    assert_eq!(refused("tsig-badsig"), 1.0);
    assert_eq!(refused("tsig-badtime"), 1.0);
    // Logged once per source and reason.
    let log = node.pharos.log();
    assert!(log.contains("transfer request refused"), "{log}");
}

#[test]
fn past_max_out_per_client_refused_and_a_stalled_client_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "big.test", &big_zone("big.test", 300_000));
    let mut zones = zone_toml("big.test", &file, "127.0.0.1", None);
    zones.push_str("\n[transfer]\nmax-out-per-client = 1\n");
    let node = start(&zones, "big.test", "tcp-idle-timeout = \"2s\"\n");
    let addr = node.pharos.addr();

    // A client that reads one message, then stops reading.
    let stalled = stalled_axfr(addr, "big.test");
    let running = || sample(&metrics(&node), "pharos_xfr_out_running", &[]);
    assert_eq!(running(), 1.0);

    // A second transfer to the same address: REFUSED at once.
    let started = Instant::now();
    let msgs = transfer(addr, &xfr_query("big.test", TYPE_AXFR, None, false));
    let r = wire::parse(&msgs[0]).unwrap();
    assert_eq!((r.rcode, r.ancount), (5, 0));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        sample(
            &metrics(&node),
            "pharos_xfr_out_refused_total",
            &[("reason", "max-out-per-client")]
        ),
        1.0
    );

    // The stalled client is cut after the idle timeout; the slot is free.
    common::wait_until(
        &node.pharos,
        Duration::from_secs(15),
        "the stalled transfer ends",
        || running() == 0.0,
    );
    assert_eq!(
        sample(
            &metrics(&node),
            "pharos_xfr_out_transfers_total",
            &[("kind", "axfr"), ("result", "failed")]
        ),
        1.0
    );
    drop(stalled);
    let out = kdig_xfr("127.0.0.1", node.pharos.port, "big.test", "AXFR", &[]);
    assert_eq!(received(&out).1, 300_000 + 16);
}

/// A Knot secondary of one zone, transferring from `primary`.
struct KnotSecondary {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl KnotSecondary {
    fn start(zone: &str, primary: SocketAddr, key: Option<(&str, &str)>) -> KnotSecondary {
        let knotd = require_program("knotd", "knot");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let port = common::free_port(false);
        let mut c = format!(
            "server:\n    rundir: {d}\n    listen: 127.0.0.1@{port}\ndatabase:\n    storage: {d}/db\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             acl:\n  - id: local\n    address: 127.0.0.1\n    action: transfer\n"
        );
        if let Some((name, secret)) = key {
            let _ = write!(
                c,
                "key:\n  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n"
            );
        }
        let _ = write!(
            c,
            "remote:\n  - id: hub\n    address: {}@{}\n",
            primary.ip(),
            primary.port()
        );
        if let Some((name, _)) = key {
            let _ = writeln!(c, "    key: {name}");
        }
        let _ = write!(
            c,
            "template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    zonefile-load: none\n\
             zone:\n  - domain: {zone}\n    master: hub\n    acl: local\n"
        );
        fs::create_dir_all(dir.path().join("db")).unwrap();
        fs::write(dir.path().join("knot.conf"), c).unwrap();
        let out = fs::File::create(dir.path().join("stdout.log")).unwrap();
        let child = Command::new(knotd)
            .arg("-c")
            .arg(dir.path().join("knot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn knotd");
        KnotSecondary {
            child: Some(child),
            port,
            dir,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    fn wait_serial(&self, zone: &str, serial: u32) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Ok(r) = wire::udp_query(addr, zone, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_secs(1))
                && r.rcode == 0
                && common::soa_serial(&r) == Some(serial)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the Knot secondary never served {zone} serial {serial}:\n{}",
            self.log()
        );
    }
}

impl Drop for KnotSecondary {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A secondary signs the SOA query it sends before an IXFR with the
/// transfer key (Knot, BIND and NSD all do): a query signed with a key this
/// node knows is verified and answered signed, as Knot does; a bad MAC or
/// time gets NOTAUTH with the TSIG error.
#[test]
fn signed_soa_query_with_a_known_key_is_answered_signed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "keyed.test", &small_zone("keyed.test", 7));
    let node = start(
        &zone_toml("keyed.test", &file, "127.0.0.1", Some("xfr")),
        "keyed.test",
        "",
    );
    let ask = |key: &Key, at: u64| -> (Vec<u8>, Vec<u8>) {
        let mut q = wire::encode_query(0x5151, "keyed.test", wire::TYPE_SOA, wire::CLASS_IN, None);
        let mac = sign_request(&mut q, key, at, 300);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(&q, node.pharos.addr()).unwrap();
        let mut buf = [0u8; 65535];
        let n = s.recv(&mut buf).expect("UDP answer");
        (buf[..n].to_vec(), mac)
    };
    let (m, mac) = ask(&xfr_key(), unix_now());
    let r = wire::parse(&m).unwrap();
    assert_eq!((r.rcode, r.ancount), (0, 1), "NOERROR with the SOA");
    assert_eq!(r.answers[0].rtype, wire::TYPE_SOA);
    let mut v = ResponseVerifier::new(&xfr_key(), &mac);
    assert!(
        matches!(v.verify(&m, unix_now()), Ok(Verified::Signed)),
        "answer signed with the key"
    );

    // The same with kdig, which checks the answer's TSIG itself.
    let port = node.pharos.addr().port().to_string();
    let out = kdig(&[
        "@127.0.0.1",
        "-p",
        &port,
        "-y",
        &format!("hmac-sha256:xfr:{XFR_SECRET}"),
        "keyed.test",
        "SOA",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: NOERROR") && text.contains("SOA"), "{text}");
    assert!(!text.contains("WARNING"), "kdig accepts the signed answer: {text}");

    // Wrong secret: NOTAUTH, BADSIG; an hour off: NOTAUTH, BADTIME.
    let forged = Key::new("xfr", Algorithm::HmacSha256, b"not the secret").unwrap();
    let (m, _) = ask(&forged, unix_now());
    assert_eq!((wire::parse(&m).unwrap().rcode, tsig_of(&m)), (9, Some((16, 0))));
    let (m, _) = ask(&xfr_key(), unix_now() - 3600);
    assert_eq!(
        (wire::parse(&m).unwrap().rcode, tsig_of(&m).map(|t| t.0)),
        (9, Some(18))
    );
}

/// `[transfer]` caps follow a SIGHUP: a second transfer to one client is
/// refused under max-out-per-client = 1, accepted once the file says 2.
#[test]
fn transfer_caps_follow_a_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_zone(dir.path(), "big.test", &big_zone("big.test", 300_000));
    let mut zones = zone_toml("big.test", &file, "127.0.0.1", None);
    zones.push_str("\n[transfer]\nmax-out-per-client = 1\n");
    let node = start(&zones, "big.test", "tcp-idle-timeout = \"30s\"\n");
    let addr = node.pharos.addr();
    // A client that reads one message, then stops reading: it holds a slot.
    let stalled = stalled_axfr(addr, "big.test");
    let first = wire::parse(&transfer(addr, &xfr_query("big.test", TYPE_IXFR, Some(1), false))[0]).unwrap();
    assert_eq!(first.rcode, 5, "refused past max-out-per-client = 1");

    let config = fs::read_to_string(&node.pharos.config).unwrap();
    let raised = config.replace("max-out-per-client = 1", "max-out-per-client = 2");
    assert_ne!(config, raised);
    fs::write(&node.pharos.config, raised).unwrap();
    node.pharos.signal(1);
    common::wait_until(&node.pharos, Duration::from_secs(10), "the SIGHUP is applied", || {
        node.pharos.log().contains("SIGHUP: configuration applied")
    });
    let msgs = transfer(addr, &xfr_query("big.test", TYPE_IXFR, Some(1), false));
    let r = wire::parse(&msgs[0]).unwrap();
    assert_eq!(r.rcode, 0, "accepted under max-out-per-client = 2");
    assert!(r.ancount > 0);
    drop(stalled);
}
