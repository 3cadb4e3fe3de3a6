//! Response rate limiting (`[dns.rrl]`) against a real flood: pharos, and
//! Knot DNS (`mod-rrl`) and NSD (`rrl-*`) given the same settings in the
//! same test, with the counts of all three printed side by side.
//!
//! The floods run over loopback from 127.0.0.1 (one /24); a second client
//! uses 127.0.1.1 (another /24).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::*;

/// The limit under test, responses a second.
const LIMIT: u32 = 100;
/// The flood: queries a second, for how long.
const FLOOD_RATE: u32 = 1000;
const FLOOD_SECS: f64 = 5.0;

const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OTHER_NETBLOCK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1));

fn zone() -> Zone {
    Zone::new("example.com", &repo_root().join("zones/example.com.zone"))
}

fn rrl_pharos(rate: u32, slip: u32) -> Pharos {
    let mut opts = PharosOpts::with_zones(vec![zone()]);
    opts.ipv6 = false;
    opts.dns_extra = format!("\n[dns.rrl]\nresponses-per-second = {rate}\nslip = {slip}\n");
    Pharos::start(opts)
}

fn www_query() -> Vec<u8> {
    wire::encode_query(1, "www.example.com", wire::TYPE_A, wire::CLASS_IN, Some(1232))
}

fn report(name: &str, r: &FloodResult) -> String {
    format!(
        "{name:6}: sent {} in {:.1}s, full answers {} ({} in seconds 1..5), truncated {}, nothing {}",
        r.sent,
        r.took.as_secs_f64(),
        r.full(),
        r.full_between(Duration::from_secs(1), Duration::from_secs(5)),
        r.truncated(),
        r.sent as usize - r.replies.len(),
    )
}

/// 1,000 queries a second for 5 s from one netblock against a limit of
/// 100: pharos sends the limit's worth of answers (each second's first
/// 100), every second limited response truncated, the rest dropped.
/// Knot and NSD get the same flood.
#[test]
fn a_flood_from_one_netblock_gets_the_limit_and_the_slipped() {
    if !pharos_only("rrl") {
        return;
    }
    let pharos = rrl_pharos(LIMIT, 2);
    let knot = RateLimitedRef::start(RefKind::Knot, &[zone()], LIMIT, 2);
    let nsd = RateLimitedRef::start(RefKind::Nsd, &[zone()], LIMIT, 2);
    let q = www_query();
    let p = flood(pharos.addr(), FLOODER, &q, FLOOD_RATE, FLOOD_SECS);
    let k = flood(knot.addr(), FLOODER, &q, FLOOD_RATE, FLOOD_SECS);
    let n = flood(nsd.addr(), FLOODER, &q, FLOOD_RATE, FLOOD_SECS);
    let lines = [report("pharos", &p), report("Knot", &k), report("NSD", &n)];
    println!("limit {LIMIT}/s, slip 2, {FLOOD_RATE} queries/s for {FLOOD_SECS}s:");
    for l in &lines {
        println!("  {l}");
    }
    let all = lines.join("\n");
    // Every query was sent (the flood itself kept up).
    assert!(p.sent >= (f64::from(FLOOD_RATE) * FLOOD_SECS * 0.99) as u64, "{all}");
    // Steady state: four whole seconds (1 s .. 5 s) hold four seconds'
    // worth of answers, within 10 %.
    let steady = p.full_between(Duration::from_secs(1), Duration::from_secs(5));
    let expect = 4 * LIMIT as usize;
    assert!(
        steady.abs_diff(expect) <= expect / 10,
        "pharos sent {steady} full answers in 4 s, expected {expect} +-10%\n{all}"
    );
    // In all, the limit per second touched (5 or 6 seconds), plus 10 %.
    assert!(p.full() <= 6 * LIMIT as usize * 11 / 10, "{all}");
    // Half of the limited ones slipped (truncated), the rest dropped.
    let limited = p.sent as usize - p.full();
    let slipped = p.truncated();
    assert!(
        slipped.abs_diff(limited / 2) <= limited / 10,
        "{slipped} truncated of {limited} limited (slip 2)\n{all}"
    );
    assert_eq!(
        p.replies.len(),
        p.full() + slipped,
        "only full answers and truncated ones\n{all}"
    );
    // The references limit too (the comparison means something).
    for (name, r) in [("Knot", &k), ("NSD", &n)] {
        assert!(r.full() < r.sent as usize / 2, "{name} did not limit:\n{all}");
    }
    // Logged once for the netblock, not per response.
    let log = pharos.log();
    let firsts = log.matches("UDP responses rate-limited from 127.0.0.0:").count();
    assert_eq!(
        firsts,
        1,
        "one line for the newly limited netblock:\n{}",
        tail(&log, 20)
    );
}

/// During a flood from 127.0.0.0/24: `dig` from that netblock sees TC and
/// gets its answer over TCP; a client of that netblock with a valid
/// cookie is never limited; a client of another netblock is not limited.
#[test]
fn tc_sends_dig_to_tcp_and_cookies_and_other_netblocks_are_served() {
    if !pharos_only("rrl") {
        return;
    }
    let pharos = rrl_pharos(LIMIT, 2);
    let addr = pharos.addr();
    let q = www_query();
    let flood_started = Instant::now();
    let flooding = std::thread::spawn(move || flood(addr, FLOODER, &q, FLOOD_RATE, 15.0));
    std::thread::sleep(Duration::from_millis(1200));

    // dig without a cookie, from the flooded netblock. Over the limit,
    // every second response is truncated and the rest dropped, so a try
    // may get nothing (a real client tries again); with 4 tries a run
    // ends with no answer 1 time in 16.
    let mut saw_tc = false;
    let mut runs = 0;
    let mut silent = 0;
    while runs < 10 && !saw_tc {
        runs += 1;
        let out = dig(&[
            "@127.0.0.1",
            "-p",
            &pharos.addr().port().to_string(),
            "-b",
            "127.0.0.1",
            "+nocookie",
            "+tries=4",
            "+timeout=1",
            "www.example.com",
            "A",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !text.contains("status:") {
            silent += 1;
            continue;
        }
        assert!(
            text.contains("status: NOERROR") && text.contains("192.0.2.80"),
            "dig got a wrong answer:\n{text}"
        );
        if text.contains("Truncated, retrying in TCP mode") {
            saw_tc = true;
        }
    }
    assert!(silent <= 3, "{silent} of {runs} dig runs got no answer in 4 tries");
    assert!(saw_tc, "dig never saw a truncated (slipped) answer during the flood");

    // A client with a valid server cookie, from the flooded netblock. The
    // first exchange may itself be limited: BADCOOKIE (with a fresh
    // cookie) on slip turns, nothing otherwise.
    let client = *b"rrl-test";
    let mut cookie = None;
    for i in 0..20 {
        let m = query_with_cookie(100 + i, "www.example.com", wire::TYPE_A, &client);
        if let Some(r) = exchange(addr, FLOODER, &m, Duration::from_millis(500))
            && let Some(c) = reply_cookie(&r)
        {
            cookie = Some(c);
            break;
        }
    }
    let cookie = cookie.expect("no server cookie learned in 20 tries");
    assert_eq!(cookie.len(), 24, "client cookie and a 16-octet server cookie");
    let mut answered = 0;
    let started = Instant::now();
    for i in 0..200u16 {
        let m = query_with_cookie(1000 + i, "www.example.com", wire::TYPE_A, &cookie);
        match exchange(addr, FLOODER, &m, Duration::from_secs(1)) {
            Some(r) if r.rcode == 0 && !r.tc() && r.ancount > 0 => answered += 1,
            other => panic!("query {i} with a valid cookie was limited: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(answered, 200);
    assert!(
        flood_started.elapsed() < Duration::from_secs(14),
        "the flood ran all along ({:?} for the cookie queries)",
        started.elapsed()
    );

    // Another netblock: 150 queries at 50 a second, all answered.
    for i in 0..150u16 {
        let m = wire::encode_query(3000 + i, "www.example.com", wire::TYPE_A, wire::CLASS_IN, Some(1232));
        match exchange(addr, OTHER_NETBLOCK, &m, Duration::from_secs(1)) {
            Some(r) if r.rcode == 0 && !r.tc() && r.ancount > 0 => {}
            other => panic!("query {i} from another netblock was limited: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let f = flooding.join().expect("flood thread");
    assert!(
        f.full() < f.sent as usize / 4,
        "the flood itself was limited: {}",
        report("pharos", &f)
    );
}

/// `responses-per-second = 0` turns limiting off; `exempt` prefixes are
/// never limited.
#[test]
fn off_and_exempt_are_not_limited() {
    if !pharos_only("rrl") {
        return;
    }
    let q = www_query();
    let off = rrl_pharos(0, 2);
    let r = flood(off.addr(), FLOODER, &q, 500, 2.0);
    assert_eq!(r.full(), r.sent as usize, "limiting off: {}", report("pharos", &r));

    let mut opts = PharosOpts::with_zones(vec![zone()]);
    opts.ipv6 = false;
    opts.dns_extra = "\n[dns.rrl]\nresponses-per-second = 1\nexempt = [\"127.0.0.0/24\"]\n".into();
    let exempt = Pharos::start(opts);
    let r = flood(exempt.addr(), FLOODER, &q, 500, 2.0);
    assert_eq!(r.full(), r.sent as usize, "exempt prefix: {}", report("pharos", &r));
    let r = flood(exempt.addr(), OTHER_NETBLOCK, &q, 500, 2.0);
    assert!(r.full() <= 4, "not exempt, 1 a second: {}", report("pharos", &r));
}
