//! TCP under pressure (issue 13, items 3 and 3a), against the real binary:
//!
//! - 10,000 idle TCP connections, at the default cap (the idle-longest make
//!   room) and with a cap above them (all held): UDP is answered as before,
//!   a new TCP client is served at once, and resident memory stays bounded
//!   (VmRSS from /proc/PID/status: at most [`RSS_AT_CAP_MIB`], 32 MiB, at
//!   the default cap; [`RSS_HELD_MIB`], 48 MiB, with all 10,000 held).
//! - Slowloris: 1,024 clients each sending a DNS query every 8 s, while 30
//!   legitimate TCP queries are all answered; 1,024 clients sending an HTTP
//!   header line every 3 s to the management API, while `/metrics` and
//!   `/status` still answer; 256 clients holding the identity endpoint with
//!   half a request, while a new client is answered at once.
//! - The open-file limit: started under `prlimit --nofile=1024:4096`, the
//!   soft limit is raised to 4096; under `--nofile=1024:1024` with
//!   `tcp-max-connections = 1024` the node refuses to start, saying why
//!   with the numbers, and `check-config` only warns.
//!
//! The test process raises its own RLIMIT_NOFILE to its hard limit (the
//! 10,000 connections need it), and the tests that open thousands of
//! sockets run one at a time ([`HEAVY`]). Client sockets close with RST
//! (SO_LINGER 0), leaving no TIME_WAIT behind on the ephemeral ports.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{
    MgmtNode, Pharos, PharosOpts, Zone, free_port, http, parse_metrics, pharos_bin, pharos_config, repo_root, sample,
    wire,
};

/// Resident memory allowed with 10,000 connections opened at the default
/// cap of 1,024 (the node holds at most 1,024 of them): measured 17 MiB.
const RSS_AT_CAP_MIB: u64 = 32;
/// Resident memory allowed with all 10,000 held open: the node's own
/// ~9 MiB, then ~1.8 KiB a connection (its task, its socket's registration
/// and its slot; no buffers until it sends something): measured 27 MiB.
const RSS_HELD_MIB: u64 = 48;

/// Tests that open thousands of sockets, one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns it.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0, "getrlimit");
        r.rlim_cur = r.rlim_max;
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &r),
            0,
            "setrlimit to the hard limit"
        );
    }
    r.rlim_cur
}

fn example_zone() -> Zone {
    Zone::new("example.com", &repo_root().join("zones/example.com.zone"))
}

/// `dns_extra` in `[dns]`, and response rate limiting off: the UDP rounds
/// here ask one name 2,000 times from one address, far over the default
/// limit (tests/rrl.rs tests the limiting).
fn opts(dns_extra: &str) -> PharosOpts {
    PharosOpts {
        zones: vec![example_zone()],
        dns_extra: format!("{dns_extra}\n[dns.rrl]\nresponses-per-second = 0\n"),
        ipv6: false,
        ..Default::default()
    }
}

fn proc_status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

fn rss_mib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS") / 1024
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Closes with RST: no TIME_WAIT left on the ephemeral port.
fn linger0(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Three rounds of [`udp_one_round`]: the fewest answered and the quickest
/// round (the least disturbed by the other work of a shared machine).
fn udp_round(addr: SocketAddr, n: u16) -> (u16, Duration) {
    let rounds: Vec<(u16, Duration)> = (0..3).map(|_| udp_one_round(addr, n)).collect();
    let answered = rounds.iter().map(|r| r.0).min().unwrap_or(0);
    let quickest = rounds.iter().map(|r| r.1).min().unwrap_or_default();
    (answered, quickest)
}

/// `n` sequential UDP queries for example.com SOA, one socket, at most
/// 1 s each: (answered, time taken).
fn udp_one_round(addr: SocketAddr, n: u16) -> (u16, Duration) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("UDP socket");
    sock.connect(addr).expect("UDP connect");
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    let mut answered = 0;
    for id in 0..n {
        sock.send(&wire::encode_query(
            id,
            "example.com",
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Some(1232),
        ))
        .expect("UDP send");
        while let Ok(len) = sock.recv(&mut buf) {
            if wire::parse(&buf[..len]).is_some_and(|r| r.id == id && r.rcode == 0 && r.ancount == 1) {
                answered += 1;
                break;
            }
        }
    }
    (answered, started.elapsed())
}

/// A new TCP client asks example.com SOA: the time to its answer.
fn new_tcp_client(addr: SocketAddr) -> Result<Duration, String> {
    let t = Instant::now();
    match wire::tcp_query(
        addr,
        "example.com",
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_secs(5),
    ) {
        Ok(r) if r.rcode == 0 && r.ancount == 1 => Ok(t.elapsed()),
        Ok(r) => Err(format!("answer {r}")),
        Err(e) => Err(format!("{e} after {:?}", t.elapsed())),
    }
}

/// Opens `n` TCP connections to `addr` that send nothing.
fn open_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("idle connection {i} of {n}: {e}"));
        linger0(&s);
        v.push(s);
    }
    v
}

/// With 10,000 idle connections opened: UDP answered as before (every
/// query of three rounds of 2,000; the quickest round's rate within a
/// generous factor of 4 of the one before, on a busy 2-core machine), 10 new TCP clients each answered
/// within 3 s (the idle timeout is 10 s), and the node's memory and
/// descriptors bounded (all 10,000 held, or fewer than the cap's 1,024).
fn ten_thousand_idle(p: &Pharos, expect_held: bool, rss_bound: u64) {
    let pid = p.pid().expect("pharos runs");
    let (before, before_t) = udp_round(p.addr(), 2000);
    assert_eq!(before, 2000, "UDP before the connections");
    let rss_before = rss_mib(pid);
    let t = Instant::now();
    let idle = open_idle(p.addr(), 10_000);
    let opened_in = t.elapsed();
    // Every connection accepted (or evicted) by the node before measuring.
    thread::sleep(Duration::from_secs(2));
    let fds = open_fds(pid);
    let rss = rss_mib(pid);
    let (during, during_t) = udp_round(p.addr(), 2000);
    let clients: Vec<Result<Duration, String>> = (0..10).map(|_| new_tcp_client(p.addr())).collect();
    eprintln!(
        "10,000 idle connections opened in {opened_in:?}: node fds {fds}, RSS {rss_before} -> {rss} MiB; \
         UDP 3 x 2,000 queries: {before} answered (quickest round {before_t:?}) before, {during} ({during_t:?}) during; \
         new TCP clients: {clients:?}"
    );
    assert!(
        during >= 1800 && during as f64 >= before as f64 * 0.9,
        "UDP answered {during} of 2,000 with the connections open, {before} before"
    );
    assert!(
        during_t < before_t * 4 + Duration::from_secs(2),
        "UDP much slower with the connections open: {during_t:?} against {before_t:?}"
    );
    for (i, c) in clients.iter().enumerate() {
        match c {
            Ok(took) => assert!(
                *took < Duration::from_secs(3),
                "new TCP client {i} answered after {took:?}"
            ),
            Err(e) => panic!("new TCP client {i} not answered with 10,000 idle connections open: {e}"),
        }
    }
    if expect_held {
        assert!(
            fds >= 10_000,
            "only {fds} descriptors open: the connections are not all held"
        );
    } else {
        assert!(fds < 1024 + 200, "{fds} descriptors open at a cap of 1,024");
    }
    assert!(
        rss <= rss_bound,
        "RSS {rss} MiB with 10,000 idle connections (bound {rss_bound} MiB)"
    );
    assert!(!p.log().contains("Too many open files"), "{}", p.log_tail(20));
    drop(idle);
}

#[test]
fn ten_thousand_idle_connections_at_the_default_cap() {
    let _g = heavy();
    assert!(raise_nofile() >= 12_000, "the test needs RLIMIT_NOFILE hard >= 12,000");
    let p = Pharos::start(opts("tcp-max-connections = 1024\n"));
    ten_thousand_idle(&p, false, RSS_AT_CAP_MIB);
}

#[test]
fn ten_thousand_idle_connections_held() {
    let _g = heavy();
    assert!(raise_nofile() >= 17_000, "the test needs RLIMIT_NOFILE hard >= 17,000");
    // 10,000 of 15,000 slots: the idle time allowed is still about 70 s.
    let p = Pharos::start(opts("tcp-max-connections = 15000\ntcp-idle-timeout = \"120s\"\n"));
    ten_thousand_idle(&p, true, RSS_HELD_MIB);
}

// ---------------------------------------------------------------- slowloris

/// `n` clients that each send `tick` every `every` (staggered), reopening
/// their connection (and sending `hello`) whenever the server closed it.
struct Swarm {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(u64, u64)>>,
}

impl Swarm {
    fn start(addr: SocketAddr, n: usize, every: Duration, hello: &'static [u8], tick: fn(u64) -> Vec<u8>) -> Swarm {
        let connect = move || -> Option<TcpStream> {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
            linger0(&s);
            s.set_nonblocking(true).ok()?;
            (&s).write_all(hello).ok()?;
            Some(s)
        };
        let mut socks: Vec<Option<TcpStream>> = (0..n).map(|_| connect()).collect();
        let opened = socks.iter().filter(|s| s.is_some()).count();
        assert!(opened >= n * 9 / 10, "only {opened} of {n} slow clients connected");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let period = every / n as u32;
            let (mut sent, mut reopened) = (0u64, 0u64);
            let mut next = Instant::now();
            let mut buf = [0u8; 4096];
            for i in (0..n).cycle() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                next += period;
                thread::sleep(next.saturating_duration_since(Instant::now()));
                let slot = &mut socks[i];
                // Read what came (answers), and see whether it was closed.
                let closed = slot.as_mut().is_none_or(|s| {
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break true,
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                            Err(_) => break true,
                        }
                    }
                });
                if closed {
                    *slot = connect();
                    reopened += 1;
                }
                if let Some(s) = slot {
                    if s.write_all(&tick(sent)).is_ok() {
                        sent += 1;
                    } else {
                        *slot = None;
                    }
                }
            }
            (sent, reopened)
        });
        Swarm {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it: (ticks sent, connections reopened).
    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or((0, 0), |t| t.join().unwrap_or((0, 0)))
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn dns_tick(n: u64) -> Vec<u8> {
    wire::frame(&wire::encode_query(
        n as u16,
        "example.com",
        wire::TYPE_A,
        wire::CLASS_IN,
        None,
    ))
}

/// 1,024 clients each send a query every 8 s (at the cap of 1,024 and a
/// 10 s idle timeout, that held every slot before): 30 legitimate TCP
/// queries, one every 500 ms, each on a new connection, are all answered.
#[test]
fn slowloris_dns_queries_every_8s() {
    let _g = heavy();
    raise_nofile();
    let node = MgmtNode::start(opts("tcp-max-connections = 1024\ntcp-idle-timeout = \"10s\"\n"));
    let addr = node.pharos.addr();
    let swarm = Swarm::start(addr, 1024, Duration::from_secs(8), b"", dns_tick);
    // Let it run a whole round first.
    thread::sleep(Duration::from_secs(8));
    let mut failed = Vec::new();
    for i in 0..30 {
        if let Err(e) = new_tcp_client(addr) {
            failed.push(format!("query {i}: {e}"));
        }
        thread::sleep(Duration::from_millis(500));
    }
    let (sent, reopened) = swarm.stop();
    let m = parse_metrics(&node.get("/metrics").body, false);
    let closed = |r: &str| sample(&m, "pharos_dns_tcp_closed_total", &[("reason", r)]);
    eprintln!(
        "slow clients: {sent} queries sent, {reopened} connections reopened; closed by pharos: evicted {}, \
         idle-timeout {}, lifetime {}",
        closed("evicted"),
        closed("idle-timeout"),
        closed("lifetime")
    );
    assert!(
        failed.is_empty(),
        "{} of 30 legitimate TCP queries failed: {failed:?}",
        failed.len()
    );
    assert!(sent >= 1024, "the slow clients sent only {sent} queries");
    assert!(
        closed("evicted") + closed("idle-timeout") > 0.0,
        "no slow client was closed (pharos_dns_tcp_closed_total)"
    );
}

fn http_tick(n: u64) -> Vec<u8> {
    format!("X-Slow-{n}: 1\r\n").into_bytes()
}

/// GET `path` on a new connection: the status, or why there is none.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, Duration), String> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read after {:?}: {e}", t.elapsed()))?;
    let head = String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
    Ok((status, t.elapsed()))
}

/// 1,024 clients hold connections to the management API (cap 64), each
/// sending one header line every 3 s and never ending the request: 10 GETs
/// of `/metrics` and 10 of `/status` are all answered, each within 10 s
/// (before: none for up to 300 s).
#[test]
fn slowloris_http_header_lines_every_3s() {
    let _g = heavy();
    raise_nofile();
    let node = MgmtNode::start(opts(""));
    let swarm = Swarm::start(
        node.api,
        1024,
        Duration::from_secs(3),
        b"GET /status HTTP/1.1\r\nHost: pharos\r\n",
        http_tick,
    );
    thread::sleep(Duration::from_secs(4));
    let mut failed = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let path = if i % 2 == 0 { "/metrics" } else { "/status" };
        match http_get(node.api, path) {
            Ok((200, took)) if took < Duration::from_secs(10) => slowest = slowest.max(took),
            other => failed.push(format!("{path}: {other:?}")),
        }
        thread::sleep(Duration::from_millis(300));
    }
    let (sent, reopened) = swarm.stop();
    let m = parse_metrics(&node.get("/metrics").body, false);
    let closed = |r: &str| {
        sample(
            &m,
            "pharos_http_connections_closed_total",
            &[("listener", "mgmt"), ("reason", r)],
        )
    };
    eprintln!(
        "slow HTTP clients: {sent} header lines, {reopened} reopened; closed by pharos: evicted {}, idle-timeout {}; \
         slowest answer {slowest:?}",
        closed("evicted"),
        closed("idle-timeout")
    );
    assert!(failed.is_empty(), "{} of 20 requests failed: {failed:?}", failed.len());
    assert!(closed("evicted") > 0.0, "no slow client was evicted");
    // DNS is not affected either.
    let r = node
        .pharos
        .query("example.com", wire::TYPE_SOA)
        .expect("UDP during the slow clients");
    assert_eq!(r.rcode, 0);
}

/// The identity endpoint is public (asked over the anycast address): idle
/// and slow clients cannot hold it. With its 256 slots held by clients that
/// sent a request line and nothing more, a new client is answered at once
/// (it takes the place of the one idle longest), DNS over TCP and the
/// management API still answer, and the slow clients are all cut off
/// within seconds (at a full table an idle connection gets a second).
#[test]
fn identity_endpoint_caps_slow_clients() {
    const CAP: usize = 256;
    let node = MgmtNode::start(opts(""));
    // Slow clients: a request line and then nothing.
    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..CAP)
        .map(|i| {
            let mut s = TcpStream::connect_timeout(&node.identity, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("slow client {i}: {e}"));
            s.write_all(b"GET / HTTP/1.1\r\n")
                .unwrap_or_else(|e| panic!("slow client {i}: {e}"));
            s
        })
        .collect();

    // One more client is answered at once.
    let t = Instant::now();
    let answered = http(node.identity, "GET", "/", &[], None);
    assert_eq!(answered.status, 200);
    assert_eq!(answered.json()["id"], "pharos-test");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered only after {:?} with {CAP} slow clients",
        t.elapsed()
    );
    // DNS over TCP and the management API are not affected.
    let r = wire::tcp_query(
        node.pharos.addr(),
        "example.com",
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_secs(2),
    )
    .expect("DNS over TCP while the identity endpoint is full");
    assert_eq!(r.rcode, 0, "{r}");
    assert_eq!(node.get("/status").status, 200);

    // Every slow client is cut off (5 s of idle time at most, less as the
    // table filled), well before the 10 s lifetime.
    let mut buf = [0u8; 512];
    for (i, s) in slow.iter_mut().enumerate() {
        let left = Duration::from_secs(15)
            .saturating_sub(opened.elapsed())
            .max(Duration::from_millis(10));
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("slow client {i} got {n} octets of an answer to half a request"),
            Err(e) => panic!("slow client {i} not cut off {:?} after opening: {e}", opened.elapsed()),
        }
    }
    let m = parse_metrics(&node.get("/metrics").body, false);
    let closed = |r: &str| {
        sample(
            &m,
            "pharos_http_connections_closed_total",
            &[("listener", "identity"), ("reason", r)],
        )
    };
    assert!(
        closed("evicted") + closed("idle-timeout") >= CAP as f64,
        "evicted {} + idle {} < {CAP}",
        closed("evicted"),
        closed("idle-timeout")
    );
}

// ---------------------------------------------------------------- open-file limit

/// `pharos serve` run through `prlimit --nofile=SOFT:HARD` (prlimit execs
/// it: the PID is pharos'), stderr in a pipe. Killed on drop.
struct Limited {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Limited {
    fn spawn(nofile: &str, dns_extra: &str, command: &str) -> Limited {
        let dir = tempfile::Builder::new().prefix("pharos-nofile.").tempdir().unwrap();
        let port = free_port(false);
        let config = dir.path().join("pharos.toml");
        std::fs::write(&config, pharos_config(&opts(dns_extra), port, &dir.path().join("var"))).unwrap();
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}")).arg(pharos_bin()).arg(command);
        if command == "serve" {
            cmd.arg("--config");
        }
        let child = cmd
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run prlimit (util-linux)");
        Limited { child, port, _dir: dir }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for it to answer example.com SOA; its exit status and stderr
    /// if it exits first; panics if it does neither within 20 s.
    fn wait_ready(&mut self) -> Result<(), (std::process::ExitStatus, String)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err((status, self.stderr()));
            }
            if wire::udp_query(
                self.addr(),
                "example.com",
                wire::TYPE_SOA,
                wire::CLASS_IN,
                Duration::from_millis(200),
            )
            .is_ok_and(|r| r.rcode == 0)
            {
                return Ok(());
            }
        }
        panic!("pharos did not answer within 20 s");
    }

    /// [`Limited::spawn`] of `serve`, then [`Limited::wait_ready`]; again on
    /// another port if the one chosen was taken meanwhile (other tests open
    /// thousands of connections from ephemeral ports).
    fn serve_ready(nofile: &str, dns_extra: &str) -> Limited {
        let mut last = String::new();
        for _ in 0..3 {
            let mut p = Limited::spawn(nofile, dns_extra, "serve");
            match p.wait_ready() {
                Ok(()) => return p,
                Err((status, stderr)) if stderr.contains("in use") => last = format!("{status}: {stderr}"),
                Err((status, stderr)) => panic!("pharos exited with {status}: {stderr}"),
            }
        }
        panic!("no free port in 3 tries: {last}");
    }

    /// Waits (20 s at most) for it to exit: its status and stderr.
    fn wait_exit(&mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self.stderr());
            }
            assert!(Instant::now() < deadline, "still running after 20 s");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The soft and hard "Max open files" of /proc/PID/limits.
fn nofile_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("no Max open files line");
    let mut f = line["Max open files".len()..].split_whitespace();
    (f.next().unwrap_or_default().into(), f.next().unwrap_or_default().into())
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let p = Limited::serve_ready("1024:4096", "");
    let pid = p.child.id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "pharos", "prlimit did not exec pharos");
    assert_eq!(nofile_of(pid), ("4096".to_string(), "4096".to_string()));
}

#[test]
fn too_low_an_open_file_limit_refuses_to_start_with_the_numbers() {
    let mut p = Limited::spawn("1024:1024", "tcp-max-connections = 1024\n", "serve");
    let (status, stderr) = p.wait_exit();
    assert!(
        !status.success(),
        "started under a limit of 1024 with 1024 TCP connections:\n{stderr}"
    );
    assert_eq!(status.code(), Some(2), "a start-up failure exits 2:\n{stderr}");
    for needle in [
        "RLIMIT_NOFILE is 1024 (hard 1024)",
        "dns.tcp-max-connections = 1024 plus",
        "LimitNOFILE=",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in:\n{stderr}");
    }
    let need: u64 = stderr
        .split("needs ")
        .nth(1)
        .and_then(|r| r.split(';').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no \"needs N;\" in:\n{stderr}"));
    assert!(need > 1024, "needs {need}");
    assert!(
        wire::udp_query(
            p.addr(),
            "example.com",
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Duration::from_millis(300)
        )
        .is_err(),
        "something answers on the refused node's port"
    );

    // The same limit with room to spare: it starts and serves.
    let _ok = Limited::serve_ready("1024:1024", "tcp-max-connections = 512\n");

    // check-config warns but does not fail: the limit is the runtime's.
    let mut check = Limited::spawn("1024:1024", "tcp-max-connections = 1024\n", "check-config");
    let (status, stderr) = check.wait_exit();
    assert!(status.success(), "check-config failed:\n{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("RLIMIT_NOFILE is 1024 (hard 1024)"),
        "no warning:\n{stderr}"
    );
}

/// The keys added with the connection tables are checked like the others.
#[test]
fn connection_keys_are_validated() {
    let mut o = opts("tcp-idle-timeout = \"10s\"\ntcp-max-lifetime = \"5s\"\n");
    o.extra_toml = "[mgmt]\nlisten = \"127.0.0.1:0\"\nmax-connections = 0\n".into();
    let out = common::pharos_check_config(&o);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("dns.tcp-max-lifetime") && stderr.contains("shorter than dns.tcp-idle-timeout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mgmt.max-connections") && stderr.contains("out of range"),
        "{stderr}"
    );

    let mut o = opts("tcp-max-lifetime = \"2m\"\n");
    o.extra_toml = "[mgmt]\nlisten = \"127.0.0.1:0\"\nmax-connections = 16\n".into();
    let out = common::pharos_check_config(&o);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
