//! TSIG (src/tsig/) against real software:
//!
//! - Knot DNS (`knotd`, Debian package `knot`) as a primary with one key per
//!   algorithm: signed SOA and AXFR requests, every message of a
//!   multi-message AXFR verified; a wrong secret, an unknown key and a
//!   skewed clock answered BADSIG, BADKEY and BADTIME; Knot's own signed
//!   NOTIFY verified and answered with a signed reply Knot accepts.
//! - `kdig -y` (Debian package `knot-dnsutils`) as a client: its signed
//!   queries verify, tampered copies do not, and kdig accepts our signed
//!   answers and reports our error answers.
//!
//! Everything runs on 127.0.0.1; every knotd is killed (by its PID) on drop.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pharos::tsig::{
    self, Algorithm, Key, RequestTsig, ResponseVerifier, TsigError, Verified, error_response_tsig, sign_request,
    sign_response, unix_now, verify_request,
};

const ZONE: &str = "example.test";
const TXT_RECORDS: usize = 2000;
const TYPE_SOA: u16 = 6;
const TYPE_AXFR: u16 = 252;
const OPCODE_NOTIFY: u8 = 4;

// ---------------------------------------------------------------------------
// programs, ports, encoding

/// Absolute path of an external program, or a test failure naming the
/// Debian package that provides it.
fn require_program(name: &str, package: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    candidates.push(Path::new("/usr/sbin").join(name));
    candidates.push(Path::new("/usr/bin").join(name));
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "required program `{name}` not found (Debian package `{package}`): \
             run scripts/test.sh, which installs it, or `apt-get install {package}`"
        )
    })
}

/// A loopback port free for both TCP and UDP.
fn free_port() -> u16 {
    for _ in 0..200 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port for TCP+UDP");
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The key Knot and the tests share for `a`: named after the algorithm,
/// a secret as long as the MAC.
fn shared_key(a: Algorithm) -> Key {
    let secret: Vec<u8> = (0..a.mac_len())
        .map(|i| (i * 37 + a.mac_len() * 11 + 5) as u8)
        .collect();
    Key::new(&format!("{}-key", a.name()), a, &secret).unwrap()
}

fn keys_lookup<'k>(keys: &'k [Key]) -> impl Fn(&[u8]) -> Option<&'k Key> + 'k {
    move |name: &[u8]| keys.iter().find(|k| k.name == name)
}

// ---------------------------------------------------------------------------
// DNS wire helpers (just enough to build queries and walk answers)

fn wire_name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&wire_name(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn rcode(msg: &[u8]) -> u8 {
    msg[3] & 0x0f
}

fn skip_name(msg: &[u8], mut pos: usize) -> usize {
    loop {
        let len = msg[pos] as usize;
        if len == 0 {
            return pos + 1;
        }
        if len & 0xc0 == 0xc0 {
            return pos + 2;
        }
        pos += 1 + len;
    }
}

/// Offset just after the question section.
fn question_end(msg: &[u8]) -> usize {
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    let mut pos = 12;
    for _ in 0..qdcount {
        pos = skip_name(msg, pos) + 4;
    }
    pos
}

/// The types of the answer-section records.
fn answer_types(msg: &[u8]) -> Vec<u16> {
    let ancount = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = question_end(msg);
    let mut types = Vec::new();
    for _ in 0..ancount {
        pos = skip_name(msg, pos);
        types.push(u16::from_be_bytes([msg[pos], msg[pos + 1]]));
        let rdlen = u16::from_be_bytes([msg[pos + 8], msg[pos + 9]]) as usize;
        pos += 10 + rdlen;
    }
    types
}

/// A reply to `request` that repeats its header and question: QR and AA
/// set, no records.
fn reply_to(request: &[u8]) -> Vec<u8> {
    let mut r = request[..question_end(request)].to_vec();
    r[2] |= 0x84;
    r[3] &= 0xf0;
    r[6..12].fill(0);
    r
}

/// Sends `msg` over TCP and reads answer messages until `soas` SOA records
/// have been seen in the answer sections or an answer has a non-zero RCODE.
fn tcp_exchange(addr: SocketAddr, msg: &[u8], soas: usize) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).unwrap();
    let mut out = Vec::new();
    let mut seen = 0;
    loop {
        let mut len = [0u8; 2];
        s.read_exact(&mut len)
            .unwrap_or_else(|e| panic!("reading answer {} from {addr}: {e}", out.len() + 1));
        let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut m).unwrap();
        seen += answer_types(&m).iter().filter(|&&t| t == TYPE_SOA).count();
        let done = rcode(&m) != 0 || seen >= soas;
        out.push(m);
        if done {
            return out;
        }
    }
}

// ---------------------------------------------------------------------------
// knotd

/// A knotd serving `example.test` (SOA, NS, 2000 long TXT records) with one
/// key per algorithm, all allowed to transfer. Killed by PID on drop.
struct Knot {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Knot {
    /// `notify_to`: a UDP port Knot sends NOTIFY for the zone to, signed
    /// with `notify_key`.
    fn start(keys: &[Key], notify: Option<(u16, &Key)>) -> Knot {
        let knotd = require_program("knotd", "knot");
        let dir = tempfile::Builder::new().prefix("pharos-tsig.").tempdir().unwrap();
        let d = dir.path();
        for sub in ["run", "db"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mut zone = format!(
            "$ORIGIN {ZONE}.\n$TTL 3600\n@ SOA ns.{ZONE}. hostmaster.{ZONE}. 2024010101 3600 600 86400 300\n\
             @ NS ns\nns A 192.0.2.53\n"
        );
        for i in 0..TXT_RECORDS {
            let text: String = (0..200).map(|j| (b'a' + ((i + j) % 26) as u8) as char).collect();
            let _ = writeln!(zone, "r{i:04} TXT \"{text}\"");
        }
        let zone_file = d.join(format!("{ZONE}.zone"));
        fs::write(&zone_file, zone).unwrap();

        let port = free_port();
        let dd = d.display();
        let mut c = format!(
            "server:\n    rundir: {dd}/run\n    pidfile: {dd}/run/knot.pid\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: {dd}/db\ncontrol:\n    listen: {dd}/run/knot.sock\n\
             log:\n  - target: {dd}/knot.log\n    any: debug\nkey:\n"
        );
        for k in keys {
            let _ = writeln!(
                c,
                "  - id: {}\n    algorithm: {}\n    secret: {}",
                k.name_text(),
                k.algorithm.name(),
                base64(&k.secret)
            );
        }
        let names: Vec<String> = keys.iter().map(Key::name_text).collect();
        let _ = writeln!(
            c,
            "acl:\n  - id: tsig_transfer\n    address: 127.0.0.1\n    key: [{}]\n    action: transfer",
            names.join(", ")
        );
        if let Some((notify_port, key)) = notify {
            let _ = writeln!(
                c,
                "remote:\n  - id: secondary\n    address: 127.0.0.1@{notify_port}\n    key: {}",
                key.name_text()
            );
        }
        let _ = writeln!(
            c,
            "template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n\
             \x20   journal-content: none\n    semantic-checks: off\n\
             zone:\n  - domain: {ZONE}\n    file: {}\n    acl: tsig_transfer",
            zone_file.display()
        );
        if notify.is_some() {
            c.push_str("    notify: secondary\n");
        }
        let config = d.join("knot.conf");
        fs::write(&config, &c).unwrap();
        let out = fs::File::create(d.join("stdout.log")).unwrap();
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot spawn knotd");
        let mut knot = Knot { child, port, dir };
        knot.wait_ready(&c);
        knot
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("knot.conf")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    /// Waits until an unsigned SOA query over UDP gets an answer.
    fn wait_ready(&mut self, config: &str) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let q = query(1, ZONE, TYPE_SOA);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "knotd exited with {status}\n--- knot.conf\n{config}\n--- stdout.log\n{}",
                    fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
                );
            }
            let _ = sock.send_to(&q, self.addr());
            let mut buf = [0u8; 4096];
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && rcode(&buf[..n]) == 0
                && answer_types(&buf[..n]).contains(&TYPE_SOA)
            {
                return;
            }
        }
        panic!(
            "knotd did not serve {ZONE} within 15s\n--- knot.conf\n{config}\n--- knot.log\n{}",
            self.log()
        );
    }

    fn knotc(&self, args: &[&str]) -> Output {
        let knotc = require_program("knotc", "knot");
        Command::new(knotc)
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run knotc")
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "---- knotd (pid {}) on {}, last log lines:\n{}",
                self.child.id(),
                self.addr(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        // Child::kill signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The answer messages, the verifier's result for each (up to the first
/// error) and its `finish()`.
type Exchange = (Vec<Vec<u8>>, Vec<Result<Verified, TsigError>>, Result<(), TsigError>);

/// Signs a `qtype` query for the zone with `key` at `time`, sends it to
/// Knot over TCP and runs every answer message through a
/// [`ResponseVerifier`].
fn signed_exchange(knot: &Knot, key: &Key, qtype: u16, time: u64) -> Exchange {
    let mut q = query(0x5a5a, ZONE, qtype);
    let mac = sign_request(&mut q, key, time, tsig::DEFAULT_FUDGE);
    let msgs = tcp_exchange(knot.addr(), &q, if qtype == TYPE_AXFR { 2 } else { 1 });
    let mut verifier = ResponseVerifier::new(key, &mac);
    let mut results = Vec::new();
    for m in &msgs {
        let r = verifier.verify(m, unix_now());
        let failed = r.is_err();
        results.push(r);
        if failed {
            break;
        }
    }
    (msgs, results, verifier.finish())
}

#[test]
fn knot_soa_and_axfr_with_every_algorithm() {
    let keys: Vec<Key> = Algorithm::ALL.into_iter().map(shared_key).collect();
    let knot = Knot::start(&keys, None);
    for key in &keys {
        let a = key.algorithm;

        let (msgs, results, finish) = signed_exchange(&knot, key, TYPE_SOA, unix_now());
        assert_eq!(msgs.len(), 1, "{a}: SOA answer");
        assert_eq!(rcode(&msgs[0]), 0, "{a}: SOA rcode");
        assert_eq!(results, vec![Ok(Verified::Signed)], "{a}: SOA answer TSIG");
        finish.unwrap_or_else(|e| panic!("{a}: SOA finish: {e}"));

        let (msgs, results, finish) = signed_exchange(&knot, key, TYPE_AXFR, unix_now());
        assert!(
            msgs.len() >= 3,
            "{a}: the AXFR should span several messages, got {}",
            msgs.len()
        );
        assert!(msgs.iter().all(|m| rcode(m) == 0), "{a}: AXFR rcode");
        let records: usize = msgs.iter().map(|m| answer_types(m).len()).sum();
        assert_eq!(records, TXT_RECORDS + 4, "{a}: SOA, NS, A, TXT..., SOA");
        for (i, r) in results.iter().enumerate() {
            assert!(r.is_ok(), "{a}: AXFR message {i} of {}: {r:?}", msgs.len());
        }
        assert_eq!(results.len(), msgs.len());
        assert_eq!(results.last(), Some(&Ok(Verified::Signed)), "{a}: last message signed");
        finish.unwrap_or_else(|e| panic!("{a}: AXFR finish: {e}"));
        eprintln!(
            "{a}: AXFR of {records} records in {} messages, {} signed",
            msgs.len(),
            results.iter().filter(|r| **r == Ok(Verified::Signed)).count()
        );

        // Knot's real stream, one byte changed in a middle message
        let mut q = query(0x1111, ZONE, TYPE_AXFR);
        let mac = sign_request(&mut q, key, unix_now(), tsig::DEFAULT_FUDGE);
        let mut msgs = tcp_exchange(knot.addr(), &q, 2);
        let mid = msgs.len() / 2;
        // a letter inside a TXT string, so the message still parses
        let at = (msgs[mid].len() / 2..)
            .find(|&i| msgs[mid][i..i + 3].iter().all(u8::is_ascii_lowercase))
            .unwrap();
        msgs[mid][at] ^= 0x01;
        let mut v = ResponseVerifier::new(key, &mac);
        let first_err = msgs.iter().map(|m| v.verify(m, unix_now())).position(|r| r.is_err());
        assert!(
            first_err.is_some_and(|i| i >= mid),
            "{a}: tampered message {mid} not caught"
        );
        assert!(matches!(v.finish(), Err(TsigError::BadSig { .. })), "{a}");
    }
}

#[test]
fn knot_answers_badsig_badkey_badtime() {
    let good = shared_key(Algorithm::HmacSha256);
    let knot = Knot::start(std::slice::from_ref(&good), None);

    // wrong secret: NOTAUTH, TSIG error BADSIG, unsigned
    let wrong_secret = Key::new(&good.name_text(), good.algorithm, b"not the secret").unwrap();
    for qtype in [TYPE_SOA, TYPE_AXFR] {
        let (msgs, results, finish) = signed_exchange(&knot, &wrong_secret, qtype, unix_now());
        assert_eq!(msgs.len(), 1);
        assert_eq!(rcode(&msgs[0]), 9, "NOTAUTH");
        let e = results[0].clone().unwrap_err();
        assert_eq!(
            e,
            TsigError::Peer {
                key: "hmac-sha256-key.".into(),
                code: tsig::BADSIG,
                server_time: None
            }
        );
        assert_eq!(e.rcode(), 16);
        assert_eq!(
            e.to_string(),
            "TSIG BADSIG from key hmac-sha256-key.: the server rejected our signature"
        );
        assert_eq!(finish, Err(e));
    }

    // a key Knot does not know: BADKEY
    let unknown = Key::new("unknown-key", Algorithm::HmacSha256, &good.secret).unwrap();
    let (msgs, results, _) = signed_exchange(&knot, &unknown, TYPE_AXFR, unix_now());
    assert_eq!(rcode(&msgs[0]), 9, "NOTAUTH");
    let e = results[0].clone().unwrap_err();
    assert!(matches!(e, TsigError::Peer { code: 17, .. }), "{e:?}");
    assert_eq!(e.rcode(), tsig::BADKEY);

    // the right key with the wrong algorithm: BADKEY as well
    let other_alg = Key::new(&good.name_text(), Algorithm::HmacSha512, &good.secret).unwrap();
    let (_, results, _) = signed_exchange(&knot, &other_alg, TYPE_SOA, unix_now());
    assert_eq!(results[0].clone().unwrap_err().rcode(), tsig::BADKEY);

    // our clock 1000 s behind: BADTIME, signed, with Knot's time
    let now = unix_now();
    let (msgs, results, _) = signed_exchange(&knot, &good, TYPE_AXFR, now - 1000);
    assert_eq!(rcode(&msgs[0]), 9, "NOTAUTH");
    let e = results[0].clone().unwrap_err();
    match &e {
        TsigError::Peer {
            code: 18,
            server_time: Some(t),
            ..
        } => assert!(t.abs_diff(now) < 30, "server time {t}, now {now}"),
        other => panic!("expected a verified BADTIME answer, got {other:?}"),
    }
    assert!(
        e.to_string().starts_with("TSIG BADTIME from key hmac-sha256-key.: "),
        "{e}"
    );
    // Knot signs its BADTIME answer and we checked that MAC: a changed
    // byte makes it BADSIG
    let mut q = query(0x5a5a, ZONE, TYPE_AXFR);
    let mac = sign_request(&mut q, &good, now - 1000, tsig::DEFAULT_FUDGE);
    let mut answer = tcp_exchange(knot.addr(), &q, 2).remove(0);
    answer[12 + 1] ^= 0x20; // case of the question name's first letter
    let r = ResponseVerifier::new(&good, &mac).verify(&answer, unix_now());
    assert!(matches!(r, Err(TsigError::BadSig { .. })), "{r:?}");

    // and within the fudge it is fine
    let (_, results, finish) = signed_exchange(&knot, &good, TYPE_SOA, now - 200);
    assert_eq!(results, vec![Ok(Verified::Signed)]);
    assert!(finish.is_ok());
}

// ---------------------------------------------------------------------------
// kdig as the client

/// Runs `kdig -y ...` against a UDP socket of ours and hands its query to
/// `answer`, which returns the reply to send (or none). Returns the query
/// and kdig's output.
fn kdig_exchange(key: &Key, answer: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> (Vec<u8>, String) {
    let kdig = require_program("kdig", "knot-dnsutils");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let y = format!("{}:{}:{}", key.algorithm.name(), key.name_text(), base64(&key.secret));
    let child = Command::new(kdig)
        .args(["@127.0.0.1", "-p", &port.to_string(), "-y", &y])
        .args(["+retry=0", "+timeout=3", "+notcp", ZONE, "SOA"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot spawn kdig");
    let mut buf = vec![0u8; 65535];
    let (n, from) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no query from kdig within 10s: {e}"));
    let q = buf[..n].to_vec();
    if let Some(reply) = answer(&q) {
        sock.send_to(&reply, from).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (q, text)
}

#[test]
fn kdig_requests_verify_and_kdig_accepts_our_answers() {
    for a in Algorithm::ALL {
        let key = shared_key(a);
        let keys = [key.clone()];
        let lookup = keys_lookup(&keys);
        let mut verified: Option<RequestTsig> = None;
        let (q, out) = kdig_exchange(&key, |q| {
            let r = verify_request(q, &lookup, unix_now()).unwrap_or_else(|e| panic!("{a}: kdig's query: {e}"));
            let mut reply = reply_to(q);
            sign_response(&mut reply, &key, &r.mac, unix_now(), tsig::DEFAULT_FUDGE);
            verified = Some(r);
            Some(reply)
        });
        let r = verified.unwrap();
        assert_eq!(r.key_name, key.name);
        assert_eq!(r.algorithm, a);
        assert_eq!(r.mac.len(), a.mac_len(), "{a}: kdig sends full-length MACs");
        assert!(r.time_signed.abs_diff(unix_now()) < 30);
        assert!(
            out.contains("status: NOERROR"),
            "{a}: kdig did not accept our answer:\n{out}"
        );
        assert!(
            !out.to_ascii_lowercase().contains("warning"),
            "{a}: kdig complained:\n{out}"
        );

        // one byte changed anywhere before the MAC: BADSIG (or FORMERR if
        // the change breaks the framing)
        let t_start = q.len() - (key.name.len() + 10 + tsig::algorithm_wire_name(a).len() + 16 + a.mac_len());
        for i in 2..t_start {
            let mut bad = q.clone();
            bad[i] ^= 0x04;
            match verify_request(&bad, &lookup, unix_now()) {
                Err(TsigError::BadSig { key: k }) => assert_eq!(k, key.name_text()),
                Err(TsigError::Malformed(_)) => {}
                other => panic!("{a}: byte {i} changed: {other:?}"),
            }
        }
        let mut bad_mac = q.clone();
        let last_mac_byte = q.len() - 7;
        bad_mac[last_mac_byte] ^= 0x80;
        assert_eq!(
            verify_request(&bad_mac, &lookup, unix_now()),
            Err(TsigError::BadSig { key: key.name_text() })
        );
        // unknown key, clock skew
        let none = |_: &[u8]| None;
        assert_eq!(verify_request(&q, &none, unix_now()).unwrap_err().rcode(), tsig::BADKEY);
        assert_eq!(
            verify_request(&q, &lookup, unix_now() + 1000).unwrap_err().rcode(),
            tsig::BADTIME
        );
    }
}

#[test]
fn kdig_sees_our_error_answers() {
    let key = shared_key(Algorithm::HmacSha256);
    let keys = [key.clone()];
    let lookup = keys_lookup(&keys);

    // tampered signature on our answer: kdig refuses it
    let (_, out) = kdig_exchange(&key, |q| {
        let r = verify_request(q, &lookup, unix_now()).unwrap();
        let mut reply = reply_to(q);
        sign_response(&mut reply, &key, &r.mac, unix_now(), tsig::DEFAULT_FUDGE);
        let n = reply.len();
        reply[n - 10] ^= 1; // inside the MAC
        Some(reply)
    });
    assert!(out.contains("failed to verify TSIG"), "kdig accepted a bad MAC:\n{out}");

    // kdig's clock is "1000 s behind ours": a signed BADTIME answer with
    // our time in Other Data; kdig verifies its MAC and reports the time
    // error (a broken MAC is reported as such instead)
    for tamper in [false, true] {
        let server_now = unix_now() + 1000;
        let (_, out) = kdig_exchange(&key, |q| {
            let e = verify_request(q, &lookup, server_now).unwrap_err();
            assert_eq!(e.rcode(), tsig::BADTIME);
            let mut reply = reply_to(q);
            assert!(error_response_tsig(&mut reply, q, &e, &lookup, server_now));
            if tamper {
                let n = reply.len();
                reply[n - 20] ^= 1; // inside the MAC
            }
            Some(reply)
        });
        assert!(out.contains("status: BADTIME"), "{out}");
        assert!(out.contains(&format!("BADTIME 6 {server_now}")), "{out}");
        if tamper {
            assert!(out.contains("failed to verify TSIG"), "{out}");
        } else {
            assert!(out.contains("TSIG out of time window"), "{out}");
        }
    }

    // an unknown key: an unsigned BADKEY answer
    let stranger = Key::new("stranger", Algorithm::HmacSha1, b"whatever").unwrap();
    let (_, out) = kdig_exchange(&stranger, |q| {
        let e = verify_request(q, &lookup, unix_now()).unwrap_err();
        assert_eq!(
            e,
            TsigError::BadKey {
                key: "stranger.".into(),
                detail: "no such key here".into()
            }
        );
        let mut reply = reply_to(q);
        assert!(error_response_tsig(&mut reply, q, &e, &lookup, unix_now()));
        Some(reply)
    });
    eprintln!("kdig on BADKEY:\n{out}");
    assert!(out.contains("status: BADKEY"), "{out}");

    // a wrong MAC: an unsigned BADSIG answer
    let impostor = Key::new(&key.name_text(), key.algorithm, b"wrong secret").unwrap();
    let (_, out) = kdig_exchange(&impostor, |q| {
        let e = verify_request(q, &lookup, unix_now()).unwrap_err();
        assert_eq!(e.rcode(), tsig::BADSIG);
        let mut reply = reply_to(q);
        assert!(error_response_tsig(&mut reply, q, &e, &lookup, unix_now()));
        Some(reply)
    });
    eprintln!("kdig on BADSIG:\n{out}");
    assert!(out.contains("status: BADSIG"), "{out}");
}

// ---------------------------------------------------------------------------
// NOTIFY from Knot

/// Where a NOTIFY came from, to send the reply back the same way.
enum Peer {
    Udp(SocketAddr),
    Tcp(TcpStream),
}

/// A UDP socket and a TCP listener on the same loopback port: Knot may
/// send NOTIFY over either.
struct NotifyListener {
    udp: UdpSocket,
    tcp: TcpListener,
    port: u16,
}

impl NotifyListener {
    fn bind() -> NotifyListener {
        for _ in 0..200 {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
                udp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                tcp.set_nonblocking(true).unwrap();
                return NotifyListener { udp, tcp, port };
            }
        }
        panic!("no loopback port free for both UDP and TCP");
    }

    /// The next NOTIFY whose ID is not `skip_id` (retransmits of an earlier
    /// one are dropped).
    fn recv(&self, skip_id: Option<u16>) -> (Vec<u8>, Peer) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = vec![0u8; 65535];
        while Instant::now() < deadline {
            let (m, peer) = if let Ok((n, from)) = self.udp.recv_from(&mut buf) {
                (buf[..n].to_vec(), Peer::Udp(from))
            } else if let Ok((mut s, _)) = self.tcp.accept() {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut m).is_err() {
                    continue;
                }
                (m, Peer::Tcp(s))
            } else {
                continue;
            };
            let id = u16::from_be_bytes([m[0], m[1]]);
            if m.len() >= 12 && (m[2] >> 3) & 0x0f == OPCODE_NOTIFY && Some(id) != skip_id {
                return (m, peer);
            }
        }
        panic!("no NOTIFY from knotd within 20s on 127.0.0.1@{}", self.port);
    }

    fn reply(&self, peer: Peer, msg: &[u8]) {
        match peer {
            Peer::Udp(to) => {
                self.udp.send_to(msg, to).unwrap();
            }
            Peer::Tcp(mut s) => {
                let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(msg);
                s.write_all(&framed).unwrap();
                // Knot closes the connection once it has the answer
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest);
            }
        }
    }
}

fn wait_for_log(knot: &Knot, what: &dyn Fn(&str) -> bool, desc: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = knot.log();
        if let Some(line) = log.lines().find(|l| what(l)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "knot.log never showed {desc}:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn knot_notify_is_verified_and_our_signed_reply_accepted() {
    let key = shared_key(Algorithm::HmacSha384);
    let keys = [key.clone()];
    let lookup = keys_lookup(&keys);
    let listener = NotifyListener::bind();
    let port = listener.port;
    let knot = Knot::start(&keys, Some((port, &key)));

    // Knot notifies after loading the zone
    let (n1, peer) = listener.recv(None);
    let transport = if matches!(peer, Peer::Tcp(_)) { "TCP" } else { "UDP" };
    let r = verify_request(&n1, &lookup, unix_now()).unwrap_or_else(|e| panic!("Knot's NOTIFY: {e}"));
    assert_eq!(r.key_name, key.name);
    assert_eq!(r.algorithm, Algorithm::HmacSha384);
    // a tampered copy fails
    let mut bad = n1.clone();
    bad[13] ^= 0x20; // the question name's first letter: case is data too
    assert!(matches!(
        verify_request(&bad, &lookup, unix_now()),
        Err(TsigError::BadSig { .. })
    ));

    let mut reply = reply_to(&n1);
    sign_response(&mut reply, &key, &r.mac, unix_now(), tsig::DEFAULT_FUDGE);
    listener.reply(peer, &reply);
    let ok = wait_for_log(
        &knot,
        &|l| l.contains("notify, outgoing") && l.contains(&format!("@{port}")) && !l.contains("failed"),
        "a successful outgoing NOTIFY",
    );
    eprintln!("NOTIFY over {transport}; knot.log: {ok}");

    // an answer with a broken signature is rejected by Knot
    let out = knot.knotc(&["zone-notify", ZONE]);
    assert!(out.status.success(), "knotc zone-notify: {out:?}");
    let (n2, peer) = listener.recv(Some(u16::from_be_bytes([n1[0], n1[1]])));
    let r2 = verify_request(&n2, &lookup, unix_now()).unwrap();
    let mut reply = reply_to(&n2);
    sign_response(&mut reply, &key, &r2.mac, unix_now(), tsig::DEFAULT_FUDGE);
    let n = reply.len();
    reply[n - 8] ^= 0xff;
    listener.reply(peer, &reply);
    let failed = wait_for_log(
        &knot,
        &|l| l.contains("notify, outgoing") && l.contains(&format!("@{port}")) && l.contains("failed"),
        "a failed outgoing NOTIFY",
    );
    eprintln!("knot.log: {failed}");
}

// ---------------------------------------------------------------------------
// dnspython: multi-message streams with unsigned messages in between
// (Knot signs every message, so it never exercises RFC 8945 section 5.3.1's
// unsigned-message rules)

/// Verifies a request and the answer stream after it (length-prefixed
/// messages in a file) with dnspython; prints S/U per answer message.
const PY_VERIFY: &str = r#"
import struct, sys
import dns.message, dns.name, dns.tsig
alg, keyname, secret, path = sys.argv[1:5]
keyring = {dns.name.from_text(keyname): dns.tsig.Key(keyname, secret, alg)}
data = open(path, "rb").read()
msgs, pos = [], 0
while pos < len(data):
    (n,) = struct.unpack("!H", data[pos:pos + 2])
    msgs.append(data[pos + 2:pos + 2 + n])
    pos += 2 + n
q = dns.message.from_wire(msgs[0], keyring=keyring)
assert q.had_tsig
ctx, out = None, ""
for w in msgs[1:]:
    r = dns.message.from_wire(w, keyring=keyring, request_mac=q.mac, xfr=True, tsig_ctx=ctx, multi=True)
    ctx = r.tsig_ctx
    out += "S" if r.had_tsig else "U"
print(out)
"#;

/// Answers the signed request in `req_path` with one message per letter of
/// `pattern` (S signed, U unsigned, digested into the running context as
/// RFC 8945 section 5.3.1 says), written length-prefixed to `out_path`.
const PY_SIGN: &str = r#"
import struct, sys
import dns.flags, dns.message, dns.name, dns.rrset, dns.tsig
alg, keyname, secret, req_path, out_path, pattern = sys.argv[1:7]
keyring = {dns.name.from_text(keyname): dns.tsig.Key(keyname, secret, alg)}
q = dns.message.from_wire(open(req_path, "rb").read(), keyring=keyring)
ctx, out = None, b""
for i, c in enumerate(pattern):
    if i == 0:
        r = dns.message.make_response(q)
    else:
        r = dns.message.Message(id=q.id)
        r.flags = dns.flags.QR | dns.flags.AA
        if c == "S":
            r.use_tsig(keyring, keyname=keyname, algorithm=alg)
            r.request_mac = q.mac
    r.answer.append(dns.rrset.from_text("r%d.example.test." % i, 60, "IN", "TXT", '"message %d"' % i))
    if c == "S":
        w = r.to_wire(multi=True, tsig_ctx=ctx)
        ctx = r.tsig_ctx
    else:
        w = r.to_wire()
        ctx.update(w)
    out += struct.pack("!H", len(w)) + w
open(out_path, "wb").write(out)
"#;

fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install python3 and dnspython (scripts/test.sh)"))
}

fn require_dnspython() {
    let out = python("import dns.message, dns.tsig", &[]);
    assert!(
        out.status.success(),
        "python3 cannot import dnspython: install the Debian package `python3-dnspython` \
         or `python3 -m pip install dnspython` (scripts/test.sh does it)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An answer message carrying one TXT record `r<i>.example.test.`, with
/// the question only in the first.
fn stream_message(id: u16, i: usize) -> Vec<u8> {
    let mut m = if i == 0 {
        let mut q = query(id, ZONE, TYPE_AXFR);
        q[2] = 0x84;
        q
    } else {
        let mut h = id.to_be_bytes().to_vec();
        h.extend_from_slice(&[0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        h
    };
    m[7] = 1; // ANCOUNT
    let text = format!("message {i}");
    m.extend_from_slice(&wire_name(&format!("r{i}.{ZONE}")));
    m.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 60]);
    m.extend_from_slice(&((text.len() + 1) as u16).to_be_bytes());
    m.push(text.len() as u8);
    m.extend_from_slice(text.as_bytes());
    m
}

fn framed(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

fn unframe(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = u16::from_be_bytes([data[pos], data[pos + 1]]) as usize;
        out.push(data[pos + 2..pos + 2 + n].to_vec());
        pos += 2 + n;
    }
    out
}

fn pattern_of(p: &str) -> Vec<bool> {
    p.chars().map(|c| c == 'S').collect()
}

#[test]
fn dnspython_agrees_on_streams_with_unsigned_messages() {
    require_dnspython();
    let dir = tempfile::tempdir().unwrap();
    let req_path = dir.path().join("request");
    let stream_path = dir.path().join("stream");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // first signed, runs of unsigned ones up to the 99 allowed, last signed
    let pattern = format!("SUUSSU{}S", "U".repeat(98));
    for a in Algorithm::ALL {
        let key = shared_key(a);
        let (alg, name, secret) = (a.wire_name(), key.name_text(), base64(&key.secret));

        // ours -> dnspython
        let mut q = query(0x2468, ZONE, TYPE_AXFR);
        let req_mac = sign_request(&mut q, &key, unix_now(), tsig::DEFAULT_FUDGE);
        let mut signer = tsig::ResponseSigner::new(&key, &req_mac);
        let mut msgs = vec![q.clone()];
        for (i, signed) in pattern_of(&pattern).into_iter().enumerate() {
            let mut m = stream_message(0x2468, i);
            assert_eq!(signer.must_sign(), i == 0 || i == 104, "{a}: message {i}");
            if signed {
                signer.sign(&mut m, unix_now(), tsig::DEFAULT_FUDGE);
            } else {
                signer.skip(&m);
            }
            msgs.push(m);
        }
        fs::write(&stream_path, framed(&msgs)).unwrap();
        let out = python(PY_VERIFY, &[alg, &name, &secret, &s(&stream_path)]);
        assert!(
            out.status.success(),
            "{a}: dnspython rejected our stream:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pattern, "{a}");
        // one byte of an unsigned message changed: dnspython refuses the next signed one
        let mut bad = msgs.clone();
        let n = bad[2].len();
        bad[2][n - 1] ^= 0x01;
        fs::write(&stream_path, framed(&bad)).unwrap();
        let out = python(PY_VERIFY, &[alg, &name, &secret, &s(&stream_path)]);
        assert!(!out.status.success(), "{a}: dnspython accepted a tampered stream");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("BadSignature"),
            "{a}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // dnspython -> ours
        let verify_stream = |p: &str| -> (Vec<Result<Verified, TsigError>>, Result<(), TsigError>) {
            fs::write(&req_path, &q).unwrap();
            let out = python(PY_SIGN, &[alg, &name, &secret, &s(&req_path), &s(&stream_path), p]);
            assert!(
                out.status.success(),
                "{a}: dnspython could not sign:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let msgs = unframe(&fs::read(&stream_path).unwrap());
            assert_eq!(msgs.len(), p.len());
            let mut v = ResponseVerifier::new(&key, &req_mac);
            let results = msgs.iter().map(|m| v.verify(m, unix_now())).collect();
            (results, v.finish())
        };
        let (results, finish) = verify_stream(&pattern);
        let expected: Vec<_> = pattern_of(&pattern)
            .into_iter()
            .map(|signed| Ok(if signed { Verified::Signed } else { Verified::Unsigned }))
            .collect();
        assert_eq!(results, expected, "{a}");
        assert_eq!(finish, Ok(()), "{a}");

        let (results, finish) = verify_stream("SSUU");
        assert!(results.iter().all(Result::is_ok), "{a}: {results:?}");
        assert_eq!(finish, Err(TsigError::UnsignedLast { count: 2 }), "{a}");

        let (results, finish) = verify_stream(&format!("S{}S", "U".repeat(100)));
        assert_eq!(results[100], Err(TsigError::TooManyUnsigned), "{a}");
        assert_eq!(finish, Err(TsigError::TooManyUnsigned), "{a}");
    }
}
