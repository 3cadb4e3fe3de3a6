//! Abuse of the secondary and management paths stays cheap (issue 13,
//! item 5): NOTIFYs from a source that may not send them, transfer
//! requests from a source that may not transfer, and mutating API calls
//! with a wrong token are answered (refused) without starting a refresh or
//! a transfer, without writing to disk, and without a log line per
//! request; they are counted in `/metrics`.
//!
//! pharos is a secondary of a real Knot primary (127.0.0.1, the only
//! address allowed to NOTIFY); the abuse comes from 127.0.0.9.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::*;

const ZONE: &str = "sec.test";
const ABUSER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// Every file under `dir` with its size and modification time.
fn files(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) => {
                    out.insert(
                        p.display().to_string(),
                        (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
                    );
                }
                Err(_) => {}
            }
        }
    }
    out
}

fn notify_msg(id: u16) -> Vec<u8> {
    let mut m = wire::encode_query(id, ZONE, wire::TYPE_SOA, wire::CLASS_IN, None);
    m[2] = (4 << 3) | 0x04; // NOTIFY, AA
    m
}

fn metric(node: &MgmtNode, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(&parse_metrics(&node.get("/metrics").body, false), name, labels)
}

fn transfers_in(node: &MgmtNode) -> f64 {
    parse_metrics(&node.get("/metrics").body, false)
        .iter()
        .filter(|(n, _, _)| n == "pharos_xfr_transfers_total")
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn refused_notify_transfer_and_api_calls_start_nothing_write_nothing_log_little() {
    if !pharos_only("abuse") {
        return;
    }
    let knot = KnotPrimary::start(ZONE, &zone_text(1));
    let mut opts = PharosOpts {
        ipv6: false,
        ready_zone: Some(ZONE.into()),
        ..PharosOpts::default()
    };
    opts.extra_toml = format!("[[zone]]\nname = \"{ZONE}\"\nprimaries = [\"{}\"]\n", knot.addr_str());
    let node = MgmtNode::start(opts);
    let addr = node.pharos.addr();
    // Let the first transfer and its files settle.
    std::thread::sleep(Duration::from_millis(1500));
    let data = node.pharos.data_dir();
    let files_before = files(&data);
    let transfers_before = transfers_in(&node);
    let log_lines_before = node.pharos.log().lines().count();

    let started = Instant::now();
    // 1. NOTIFYs from a source not allowed to send them: 6,000 over 3 s.
    let sock = UdpSocket::bind(SocketAddr::new(ABUSER, 0)).expect("bind");
    sock.connect(addr).expect("connect");
    sock.set_nonblocking(true).expect("nonblocking");
    let mut notifies = 0u32;
    let mut refused_answers = 0u32;
    let mut buf = [0u8; 512];
    while started.elapsed() < Duration::from_secs(3) {
        for _ in 0..20 {
            if sock.send(&notify_msg(notifies as u16)).is_ok() {
                notifies += 1;
            }
        }
        while let Ok(n) = sock.recv(&mut buf) {
            if n >= 4 && buf[3] & 0x0f == 5 {
                refused_answers += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // 2. Transfer requests from a source that may not transfer: AXFR over
    // TCP and IXFR over UDP.
    let mut axfr_refused = 0;
    for i in 0..100u16 {
        let Ok(s) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) else {
            continue;
        };
        if s.bind(&SocketAddr::new(ABUSER, 0).into()).is_err() || s.connect(&addr.into()).is_err() {
            continue;
        }
        let mut s: TcpStream = s.into();
        let q = wire::encode_query(i, ZONE, 252, wire::CLASS_IN, None);
        use std::io::Write as _;
        if s.write_all(&wire::frame(&q)).is_ok()
            && let wire::TcpRead::Message(m) = wire::tcp_read(&mut s, Duration::from_secs(2))
            && let Some(r) = wire::parse(&m)
            && r.rcode != 0
            && r.ancount == 0
        {
            axfr_refused += 1;
        }
    }
    for i in 0..500u16 {
        let q = wire::encode_query(i, ZONE, 251, wire::CLASS_IN, None);
        let _ = sock.send(&q);
    }
    // 3. Mutating API calls with a wrong token.
    let mut unauthorized = 0;
    for i in 0..300 {
        let body = format!(
            "{{\"name\": \"abuse{i}.test\", \"primaries\": [\"{}\"]}}",
            knot.addr_str()
        );
        let r = node.call_as(Some("Bearer not-the-token"), "POST", "/zones", Some(&body));
        if r.status == 401 {
            unauthorized += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    // Refused: answered REFUSED up to the rate limit (REFUSED is an
    // error response like any other: 200 a second to this netblock, then
    // every second one truncated), and every one counted.
    assert!(
        refused_answers > 600,
        "{refused_answers} of {notifies} NOTIFYs answered REFUSED"
    );
    assert_eq!(axfr_refused, 100, "every AXFR over TCP refused");
    assert_eq!(unauthorized, 300, "every call with a wrong token got 401");
    // Counted.
    let counted = metric(&node, "pharos_dns_notify_total", &[("result", "refused")]);
    assert!(
        counted >= f64::from(notifies) * 0.9,
        "NOTIFYs refused counted: {counted} of {notifies}"
    );
    assert_eq!(
        metric(&node, "pharos_mgmt_refused_total", &[("reason", "unauthorized")]),
        300.0
    );
    // Nothing started, nothing written.
    assert_eq!(transfers_in(&node), transfers_before, "no transfer started");
    let files_after = files(&data);
    assert_eq!(files_after, files_before, "nothing written to the data dir");
    assert!(
        node.get("/zones").body.find("abuse0.test").is_none(),
        "no zone added by a refused call"
    );
    // A handful of log lines, not one per request: the first of each
    // source and reason, and summaries.
    let log = node.pharos.log();
    let new_lines = log.lines().count() - log_lines_before;
    assert!(
        new_lines <= 20,
        "{new_lines} log lines for {notifies} NOTIFYs, 600 transfer requests and 300 API calls:\n{}",
        tail(&log, 30)
    );
    // And the zone is still served, from the primary's version.
    let r = wire::udp_query(addr, ZONE, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_secs(2)).expect("SOA");
    assert_eq!(soa_serial(&r), Some(1));
}
