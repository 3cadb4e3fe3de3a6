//! A hang is not a death (issue 13, item 4): pharos with two UDP workers
//! (SO_REUSEPORT) in a node namespace, a real BIRD peer in its own
//! (tests/common/bgp.rs), and queries flowing all along from 32 source
//! ports, so that both workers' sockets get their share.
//!
//! One worker thread (`udp-0`) is stopped from the test with ptrace
//! (PTRACE_SEIZE + PTRACE_INTERRUPT on its TID stop that thread only):
//!
//! - the node's prefixes leave the peer within `interval` × `fall` + 1 s,
//!   with one log line naming the worker and its queue;
//! - they stay away while the worker stays stopped (the peer is polled all
//!   along), though the other worker answers its share, and the health
//!   probe, from a random port, often reaches it: no flapping;
//! - `/metrics` counts the stuck worker, `/status` names it;
//! - released (PTRACE_DETACH), the worker answers again and the node comes
//!   back after `rise` passing rounds.
//!
//! Needs root (network namespaces, ptrace), bird2, jq and iproute2
//! (scripts/test.sh installs them).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{BgpPeer, Node, NodeConfig, PeerOpts, http, node_dns, wire};

const UP: Duration = Duration::from_secs(15);
const INTERVAL: Duration = Duration::from_millis(500);
const RISE: u32 = 2;
const FALL: u32 = 4;
/// Source ports the background traffic comes from.
const SOURCES: usize = 32;
/// The management API, on the node namespace's own loopback.
const MGMT: &str = "127.0.0.1:8053";

/// How long a worker may make no progress with datagrams waiting.
fn limit() -> Duration {
    INTERVAL * FALL
}

// ---------------------------------------------------------------- ptrace

/// The TID of the thread of process `pid` whose name is `name`.
fn thread_named(pid: u32, name: &str) -> libc::pid_t {
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {dir}: {e}"));
    let mut names = Vec::new();
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let tid = task.file_name().to_string_lossy().into_owned();
        if comm.trim_end() == name {
            return tid
                .parse()
                .unwrap_or_else(|e| panic!("task {tid} of {pid}: not a TID: {e}"));
        }
        names.push(comm.trim_end().to_string());
    }
    panic!("pharos (pid {pid}) has no thread named {name}; its threads: {names:?}")
}

/// One thread of another process, stopped with ptrace: PTRACE_SEIZE then
/// PTRACE_INTERRUPT stop that thread alone, the process's other threads
/// run on. Released with [`Frozen::release`], or on drop. The kernel
/// takes ptrace requests from the attaching thread only: a `Frozen` stays
/// on the thread that made it.
struct Frozen {
    tid: libc::pid_t,
    attached: bool,
}

impl Frozen {
    fn stop(tid: libc::pid_t) -> Frozen {
        let null = std::ptr::null_mut::<libc::c_void>();
        // SAFETY: ptrace requests on a TID, with no data pointers.
        let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, null, null) };
        assert_eq!(r, 0, "PTRACE_SEIZE {tid}: {}", std::io::Error::last_os_error());
        let frozen = Frozen { tid, attached: true };
        // SAFETY: as above.
        let r = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, null, null) };
        assert_eq!(r, 0, "PTRACE_INTERRUPT {tid}: {}", std::io::Error::last_os_error());
        let mut status = 0;
        // SAFETY: waits for the tracee's stop; writes one c_int.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
        assert_eq!(r, tid, "waitpid {tid}: {}", std::io::Error::last_os_error());
        assert!(
            libc::WIFSTOPPED(status),
            "thread {tid} did not stop: status {status:#x}"
        );
        frozen
    }

    fn release(mut self) {
        if let Err(e) = self.detach() {
            panic!("PTRACE_DETACH {}: {e}", self.tid);
        }
    }

    fn detach(&mut self) -> std::io::Result<()> {
        if !std::mem::replace(&mut self.attached, false) {
            return Ok(());
        }
        let null = std::ptr::null_mut::<libc::c_void>();
        // SAFETY: detaching a tracee this thread attached.
        let r = unsafe { libc::ptrace(libc::PTRACE_DETACH, self.tid, null, null) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}

// --------------------------------------------------------------- traffic

/// Queries from `SOURCES` sockets (one source port each), about 25 rounds
/// a second, and the answers each got.
struct Traffic {
    socks: Vec<UdpSocket>,
    answered: Vec<AtomicU64>,
    stop: AtomicBool,
}

impl Traffic {
    /// Sockets made in the node namespace, connected to pharos.
    fn new(node: &Node) -> Traffic {
        let socks = node.in_ns(|| {
            (0..SOURCES)
                .map(|_| {
                    let s = UdpSocket::bind("127.0.0.1:0").expect("bind a query socket in the node namespace");
                    s.connect(node_dns()).expect("connect the query socket to pharos");
                    s.set_nonblocking(true).expect("non-blocking query socket");
                    s
                })
                .collect()
        });
        Traffic {
            socks,
            answered: (0..SOURCES).map(|_| AtomicU64::new(0)).collect(),
            stop: AtomicBool::new(false),
        }
    }

    fn run(&self) {
        let query = wire::encode_query(0x5157, "example.com", wire::TYPE_SOA, wire::CLASS_IN, None);
        let mut buf = [0u8; 4096];
        while !self.stop.load(Ordering::Relaxed) {
            for s in &self.socks {
                let _ = s.send(&query);
            }
            std::thread::sleep(Duration::from_millis(40));
            for (s, n) in self.socks.iter().zip(&self.answered) {
                while let Ok(len) = s.recv(&mut buf) {
                    if wire::parse(&buf[..len]).is_some_and(|r| r.rcode == 0) {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn counts(&self) -> Vec<u64> {
        self.answered.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// How many sources got an answer during `window`.
    fn answering_sources(&self, window: Duration) -> usize {
        let before = self.counts();
        std::thread::sleep(window);
        self.counts().iter().zip(before).filter(|(a, b)| **a > *b).count()
    }
}

/// Stops the traffic when dropped (also when the test panics).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

// --------------------------------------------------------------- helpers

fn announced(p: &BgpPeer) -> bool {
    p.routes().len() == 2
}

/// The health transition lines (`health: <state> ... from=...`) logged
/// after byte `from`.
fn transitions(node: &Node, from: usize) -> Vec<String> {
    node.log()
        .get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("health: ") && l.contains(" from="))
        .map(String::from)
        .collect()
}

fn get(node: &Node, path: &str) -> String {
    let addr: SocketAddr = MGMT.parse().expect("a socket address");
    let r = node.in_ns(|| http(addr, "GET", path, &[], None));
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.body
}

/// The value of the `/metrics` sample line that starts with `series` and
/// contains every one of `labels`.
fn metric(node: &Node, series: &str, labels: &[&str]) -> f64 {
    let text = get(node, "/metrics");
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && labels.iter().all(|x| l.contains(x)))
        .unwrap_or_else(|| panic!("no {series} {labels:?} in /metrics:\n{text}"));
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {line:?}"))
}

// ------------------------------------------------------------------ test

#[test]
fn a_stuck_udp_worker_withdraws_without_flapping_and_comes_back_when_released() {
    let peer = BgpPeer::start("bird", &PeerOpts::default());
    let cfg = NodeConfig {
        dns_extra: "udp-workers = 2".into(),
        health_extra: format!(
            "interval = \"{}ms\"\nrise = {RISE}\nfall = {FALL}",
            INTERVAL.as_millis()
        ),
        extra_toml: format!("[mgmt]\nlisten = \"{MGMT}\"\n"),
        ..NodeConfig::with_peers(vec![peer.peer_v4()])
    };
    let node = Node::start(&peer, &cfg);
    peer.wait_established(UP);
    peer.wait("both prefixes announced", UP, announced);
    let pid = node.pid().expect("pharos runs");
    let udp0 = thread_named(pid, "udp-0");
    thread_named(pid, "udp-1");
    let port = common::NODE_DNS_PORT;

    let traffic = Traffic::new(&node);
    std::thread::scope(|s| {
        s.spawn(|| traffic.run());
        let _stop = StopOnDrop(&traffic.stop);
        std::thread::sleep(Duration::from_millis(500));
        let n = traffic.answering_sources(Duration::from_secs(1));
        assert_eq!(
            n, SOURCES,
            "before any worker stopped, only {n} of {SOURCES} sources got answers"
        );
        assert_eq!(metric(&node, "pharos_listener_workers_stuck", &[]), 0.0);

        // ---- udp-0 stopped: withdrawn within interval x fall + 1 s
        let at = node.log().len();
        let frozen = Frozen::stop(udp0);
        let stopped = Instant::now();
        peer.wait("every prefix withdrawn", limit() + Duration::from_secs(5), |p| {
            p.routes().is_empty()
        });
        let took = stopped.elapsed();
        eprintln!("udp-0 stopped -> withdrawn at the peer: {took:?} (limit {:?})", limit());
        assert!(
            took <= limit() + Duration::from_secs(1),
            "withdrawn {took:?} after udp-0 stopped; want within interval x fall + 1 s = {:?}",
            limit() + Duration::from_secs(1)
        );
        let stuck_line = format!("health: UDP worker udp-0 on 127.0.0.1:{port} made no progress for ");
        let mut node_log = node.log();
        for _ in 0..20 {
            if node_log.get(at..).is_some_and(|l| l.contains(&stuck_line)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            node_log = node.log();
        }
        let since = node_log.get(at..).unwrap_or("");
        assert!(
            since.contains(&stuck_line) && since.contains("of datagrams waiting"),
            "no {stuck_line:?} line:\n{}",
            common::tail(since, 30)
        );
        let named = transitions(&node, at)
            .into_iter()
            .find(|l| l.contains("health: unhealthy") && l.contains("reason=UDP worker udp-0"));
        assert!(
            named.as_ref().is_some_and(|l| l.contains("bgp=withdraw")),
            "no unhealthy transition naming udp-0: {:#?}",
            transitions(&node, at)
        );
        assert_eq!(peer.state(), "Established");

        // ---- stays withdrawn while stuck; the other worker serves its share
        assert_eq!(metric(&node, "pharos_listener_workers_stuck", &[]), 1.0);
        assert_eq!(
            metric(&node, "pharos_listener_worker_stuck", &["worker=\"udp-0\""]),
            1.0
        );
        assert_eq!(
            metric(&node, "pharos_listener_worker_stuck", &["worker=\"udp-1\""]),
            0.0
        );
        let status = get(&node, "/status");
        assert!(
            status.contains("UDP worker udp-0"),
            "/status does not name udp-0: {status}"
        );
        let n = traffic.answering_sources(Duration::from_secs(1));
        eprintln!("while udp-0 is stopped, {n} of {SOURCES} sources get answers");
        assert!(
            n > 0 && n < SOURCES,
            "{n} of {SOURCES} sources answered: both workers should have had a share"
        );
        let watch_until = Instant::now() + limit() * 3;
        let mut polls = 0;
        while Instant::now() < watch_until {
            let routes = peer.routes();
            assert!(
                routes.is_empty(),
                "announced again while udp-0 is stopped (poll {polls}): {routes:?}\n{:#?}",
                transitions(&node, at)
            );
            polls += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(polls >= 10, "the peer was polled only {polls} times");
        let seen = transitions(&node, at);
        eprintln!("transitions while stopped: {seen:#?}");
        assert!(
            !seen.is_empty() && seen.iter().all(|l| l.contains("health: unhealthy")),
            "health moved while udp-0 was stopped: {seen:#?}"
        );
        let stuck_lines = node.log().get(at..).unwrap_or("").matches(&stuck_line).count();
        assert_eq!(stuck_lines, 1, "the stuck worker must be logged once, not per interval");

        // ---- released: answers again, announced after rise rounds
        let at = node.log().len();
        frozen.release();
        let released = Instant::now();
        peer.wait("both prefixes announced again", Duration::from_secs(10), announced);
        eprintln!("udp-0 released -> announced at the peer: {:?}", released.elapsed());
        let back = transitions(&node, at);
        eprintln!("transitions after the release: {back:#?}");
        assert!(
            back.iter()
                .any(|l| l.contains("health: healthy") && l.contains("from=unhealthy")),
            "{back:#?}"
        );
        let log = node.log();
        assert!(
            log.get(at..)
                .is_some_and(|l| l.contains(&format!("health: udp udp-0 on 127.0.0.1:{port} moves again"))),
            "no `moves again` line:\n{}",
            common::tail(&log, 20)
        );
        let n = traffic.answering_sources(Duration::from_secs(1));
        assert_eq!(
            n, SOURCES,
            "after the release only {n} of {SOURCES} sources got answers"
        );
        assert_eq!(metric(&node, "pharos_listener_workers_stuck", &[]), 0.0);
        assert!(
            metric(&node, "pharos_listener_worker_progress_total", &["worker=\"udp-0\""]) > 0.0,
            "udp-0's progress counter"
        );
        // and it stays announced
        let until = Instant::now() + limit();
        while Instant::now() < until {
            assert!(announced(&peer), "withdrawn again after the release");
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}
