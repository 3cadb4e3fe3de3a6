//! DNS cookies (RFC 7873, server cookies as RFC 9018) with real clients:
//! `dig +cookie` and `kdig +cookie` get one; a cookie sent back is valid,
//! on this node and on another node with the same `dns.cookie-secret`; one
//! made with the previous secret is valid during a rollover; a BIND 9
//! resolver forwarding to pharos resolves through it without cookie
//! errors.
//!
//! Validity is observed through behaviour: the nodes here limit responses
//! to 1 a second, slip 1, and a client with a valid server cookie is never
//! limited (an invalid one gets BADCOOKIE with a fresh cookie once over
//! the limit). Cookies are also compared: a valid, recent server cookie is
//! echoed; any other gets a fresh one.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SECRET_A: &str = "00112233445566778899aabbccddeeff";
const SECRET_B: &str = "ffeeddccbbaa99887766554433221100";
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn zone() -> Zone {
    Zone::new("example.com", &repo_root().join("zones/example.com.zone"))
}

/// A node with `secret` (and `previous`), limiting to 1 response a second.
fn node(secret: Option<&str>, previous: Option<&str>) -> Pharos {
    let mut opts = PharosOpts::with_zones(vec![zone()]);
    opts.ipv6 = false;
    let mut extra = String::new();
    if let Some(s) = secret {
        let _ = writeln!(extra, "cookie-secret = \"{s}\"");
    }
    if let Some(p) = previous {
        let _ = writeln!(extra, "cookie-secret-previous = \"{p}\"");
    }
    extra.push_str("\n[dns.rrl]\nresponses-per-second = 1\nslip = 1\n");
    opts.dns_extra = extra;
    Pharos::start(opts)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A client's output and its COOKIE line (dig writes `; COOKIE:`, kdig
/// `;; COOKIE:`).
fn cookie_line(tool: &str, out: std::process::Output) -> (String, String) {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.to_ascii_uppercase().contains("COOKIE:"))
        .unwrap_or_else(|| panic!("{tool} saw no cookie:\n{text}"))
        .to_string();
    (text, line)
}

/// Asks `to` with `cookie` and returns the reply's cookie (the first
/// reply that carries one, in a few tries).
fn learn(to: SocketAddr, cookie: &[u8]) -> Vec<u8> {
    for i in 0..10 {
        let m = query_with_cookie(7000 + i, "www.example.com", wire::TYPE_A, cookie);
        if let Some(r) = exchange(to, CLIENT, &m, Duration::from_millis(500))
            && let Some(c) = reply_cookie(&r)
        {
            return c;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no cookie from {to} in 10 tries");
}

/// How `to` treats 5 queries in quick succession with `cookie`: the
/// number of full answers, and the extended RCODEs seen.
fn burst(to: SocketAddr, cookie: &[u8]) -> (usize, Vec<u16>) {
    let mut full = 0;
    let mut rcodes = Vec::new();
    for i in 0..5 {
        let m = query_with_cookie(8000 + i, "www.example.com", wire::TYPE_A, cookie);
        if let Some(r) = exchange(to, CLIENT, &m, Duration::from_millis(500)) {
            let rc = extended_rcode(&r);
            if rc == 0 && !r.tc() && r.ancount > 0 {
                full += 1;
            }
            rcodes.push(rc);
        }
    }
    (full, rcodes)
}

#[test]
fn dig_and_kdig_get_a_server_cookie_and_it_is_valid_on_every_node_with_the_secret() {
    if !pharos_only("cookies") {
        return;
    }
    let a = node(Some(SECRET_A), None);
    let b = node(Some(SECRET_A), None);

    // dig and kdig: a client cookie out, client + server cookie back.
    let port = a.addr().port().to_string();
    let (text, line) = cookie_line(
        "dig",
        dig(&["@127.0.0.1", "-p", &port, "+cookie", "www.example.com", "A"]),
    );
    assert!(line.contains("(good)"), "dig: the client cookie came back: {line}");
    let dig_cookie = line.split_whitespace().nth(2).unwrap_or_default().to_string();
    assert_eq!(dig_cookie.len(), 48, "8 + 16 octets: {line}");
    assert!(text.contains("status: NOERROR"), "{text}");
    let (_, line) = cookie_line(
        "kdig",
        kdig(&["@127.0.0.1", "-p", &port, "+cookie", "www.example.com", "A"]),
    );
    let kdig_cookie = line.split_whitespace().last().unwrap_or_default().to_string();
    assert_eq!(kdig_cookie.len(), 48, "{line}");
    // RFC 9018: version 1, reserved zero.
    assert_eq!(&kdig_cookie[16..24].to_ascii_lowercase(), "01000000", "{line}");

    // Sent back (after the second changed): echoed, so valid.
    std::thread::sleep(Duration::from_millis(1100));
    let out = dig(&[
        "@127.0.0.1",
        "-p",
        &a.addr().port().to_string(),
        &format!("+cookie={dig_cookie}"),
        "www.example.com",
        "A",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains(&dig_cookie),
        "the node echoes its own valid cookie:\n{text}"
    );

    // Ours: a cookie from A, valid on A and on B (same secret), never
    // limited at 1 a second.
    let client = *b"cookie-1";
    let from_a = learn(a.addr(), &client);
    assert_eq!(&from_a[..8], &client, "the client cookie comes back");
    std::thread::sleep(Duration::from_millis(1100));
    let echoed = learn(b.addr(), &from_a);
    assert_eq!(hex(&echoed), hex(&from_a), "node B echoes node A's cookie: valid there");
    assert_eq!(burst(b.addr(), &from_a).0, 5, "a valid cookie is never limited");
    assert_eq!(burst(a.addr(), &from_a).0, 5, "a valid cookie is never limited");

    // A forged server cookie: a fresh one comes back, and once over the
    // limit, BADCOOKIE (23) instead of an answer.
    let mut forged = from_a.clone();
    forged[23] ^= 0x55;
    let fresh = learn(b.addr(), &forged);
    assert_ne!(hex(&fresh[8..]), hex(&forged[8..]), "a bad cookie is replaced");
    let (full, rcodes) = burst(b.addr(), &forged);
    assert!(full <= 1, "a bad cookie is limited like none: {rcodes:?}");
    assert!(rcodes.contains(&23), "BADCOOKIE on slip turns: {rcodes:?}");
    // And the fresh one from that BADCOOKIE answer works.
    assert_eq!(burst(b.addr(), &fresh).0, 5);
}

#[test]
fn previous_secret_is_valid_during_a_rollover_and_not_after() {
    if !pharos_only("cookies") {
        return;
    }
    let old = node(Some(SECRET_A), None);
    let rolling = node(Some(SECRET_B), Some(SECRET_A));
    let rolled = node(Some(SECRET_B), None);
    let client = *b"rollover";
    let old_cookie = learn(old.addr(), &client);

    // During the rollover: valid (never limited), and renewed with the new
    // secret.
    assert_eq!(burst(rolling.addr(), &old_cookie).0, 5, "previous secret accepted");
    let renewed = learn(rolling.addr(), &old_cookie);
    assert_ne!(hex(&renewed), hex(&old_cookie), "renewed with the new secret");
    // The renewed one is valid on a node that has only the new secret.
    assert_eq!(burst(rolled.addr(), &renewed).0, 5);
    // After the rollover the old cookie is not valid any more.
    let (full, rcodes) = burst(rolled.addr(), &old_cookie);
    assert!(
        full <= 1 && rcodes.contains(&23),
        "old secret refused: {full} {rcodes:?}"
    );

    // A node without a secret warns that a fleet needs one.
    let random = node(None, None);
    assert!(
        random.log().contains("dns.cookie-secret is not set"),
        "{}",
        tail(&random.log(), 10)
    );
}

/// BIND 9 as a resolver that forwards to pharos (it sends cookies and
/// checks the ones that come back).
struct BindResolver {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl BindResolver {
    fn start(forward_to: SocketAddr) -> BindResolver {
        let named = require_program("named", "bind9");
        let dir = tempfile::Builder::new()
            .prefix("bind-resolver.")
            .tempdir()
            .expect("temp dir");
        let port = free_port(false);
        let d = dir.path().display();
        let conf = format!(
            "options {{\n    directory \"{d}\";\n    pid-file \"{d}/named.pid\";\n    session-keyfile \"{d}/session.key\";\n\
             \x20   managed-keys-directory \"{d}\";\n    listen-on port {port} {{ 127.0.0.1; }};\n    listen-on-v6 {{ none; }};\n\
             \x20   recursion yes;\n    allow-query {{ 127.0.0.1; }};\n    dnssec-validation no;\n\
             \x20   forward only;\n    forwarders {{ {} port {}; }};\n    send-cookie yes;\n}};\ncontrols {{ }};\n\
             logging {{ channel all {{ stderr; severity debug 3; print-category yes; }}; category default {{ all; }}; \
             category resolver {{ all; }}; category lame-servers {{ all; }}; category edns-disabled {{ all; }}; }};\n",
            forward_to.ip(),
            forward_to.port()
        );
        let conf_path = dir.path().join("named.conf");
        fs::write(&conf_path, conf).expect("named.conf");
        let log = fs::File::create(dir.path().join("named.log")).expect("named.log");
        let child = Command::new(named)
            .args(["-g", "-d", "3", "-c"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start named");
        let r = BindResolver {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if wire::udp_query(
                r.addr(),
                "version.bind",
                wire::TYPE_TXT,
                wire::CLASS_CH,
                Duration::from_millis(300),
            )
            .is_ok()
            {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("named did not start:\n{}", tail(&r.log(), 30));
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }
}

impl Drop for BindResolver {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn bind_resolver_forwarding_to_pharos_resolves_without_cookie_errors() {
    if !pharos_only("cookies") {
        return;
    }
    let mut opts = PharosOpts::with_zones(vec![zone()]);
    opts.ipv6 = false;
    opts.dns_extra = format!("cookie-secret = \"{SECRET_A}\"\n");
    let node = MgmtNode::start(opts);
    let bind = BindResolver::start(node.pharos.addr());
    for (name, want) in [
        ("www.example.com", "192.0.2.80"),
        ("mail.example.com", "192.0.2.25"),
        ("ns1.example.com", "192.0.2.53"),
    ] {
        let out = dig(&["@127.0.0.1", "-p", &bind.port.to_string(), name, "A"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.contains("status: NOERROR") && text.contains(want),
            "BIND resolved {name} through pharos:\n{text}\n--- named\n{}",
            tail(&bind.log(), 30)
        );
    }
    let log = bind.log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("cookie") && (l.contains("missing") || l.contains("bad") || l.contains("mismatch"))
        })
        .collect();
    assert!(bad.is_empty(), "cookie errors in BIND's log:\n{}", bad.join("\n"));
    // BIND sent cookies, and came back with the server cookie it learned.
    let metrics = parse_metrics(&node.get("/metrics").body, false);
    let valid = sample(&metrics, "pharos_dns_cookies_total", &[("result", "valid")]);
    let first = sample(&metrics, "pharos_dns_cookies_total", &[("result", "client-only")]);
    let invalid = sample(&metrics, "pharos_dns_cookies_total", &[("result", "invalid")]);
    assert!(first >= 1.0, "BIND sent a client cookie: {first}");
    assert!(valid >= 1.0, "BIND sent back the server cookie: valid {valid}");
    assert_eq!(invalid, 0.0, "no invalid cookie from BIND");
}
