//! `dns.socket-affinity`: UDP worker i is pinned to the CPUs c with
//! c % workers == i, and a datagram goes to the worker of the CPU that
//! received it. On loopback the receiving CPU is the sender's, so a client
//! pinned to one CPU wakes only that CPU's worker, whatever its source
//! port; without the setting the kernel spreads source ports over both
//! workers by hash. A worker's wake-ups are read from its
//! `voluntary_ctxt_switches` (/proc/PID/task/TID/status): every query that
//! wakes it is one.

mod common;

use std::fs;
use std::net::UdpSocket;
use std::time::Duration;

use common::*;

const QUERIES: usize = 600;

fn node(affinity: bool) -> Pharos {
    let zone = Zone::new("example.com", &repo_root().join("zones/example.com.zone"));
    let mut opts = PharosOpts::with_zones(vec![zone]);
    opts.ipv6 = false;
    opts.dns_extra = format!("udp-workers = 2\nsocket-affinity = {affinity}\n\n[dns.rrl]\nresponses-per-second = 0\n");
    Pharos::start(opts)
}

/// The thread ids of the node's UDP workers `udp-0` and `udp-1`.
fn workers(p: &Pharos) -> [u32; 2] {
    let pid = p.pid().expect("pharos runs");
    let mut out = [0u32; 2];
    for e in fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        let comm = fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let tid: u32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
        match comm.trim() {
            "udp-0" => out[0] = tid,
            "udp-1" => out[1] = tid,
            _ => {}
        }
    }
    assert!(out[0] != 0 && out[1] != 0, "no udp-0/udp-1 threads in pharos {pid}");
    out
}

fn status_field(p: &Pharos, tid: u32, field: &str) -> String {
    let pid = p.pid().expect("pharos runs");
    let s = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).expect("thread status");
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim_start_matches(':').trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {field} in thread {tid}'s status"))
}

fn wakeups(p: &Pharos, tid: u32) -> u64 {
    status_field(p, tid, "voluntary_ctxt_switches")
        .parse()
        .expect("a count")
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; the set outlives the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0
        );
    }
}

/// Sends `QUERIES` queries one after the other from a thread pinned to
/// `cpu`, each from a new socket (a new source port); all are answered.
/// Returns how many times each worker woke meanwhile.
fn queries_from_cpu(p: &Pharos, cpu: usize) -> [u64; 2] {
    let tids = workers(p);
    let before = [wakeups(p, tids[0]), wakeups(p, tids[1])];
    let addr = p.addr();
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cpu);
            let q = wire::encode_query(7, "example.com", 6, 1, None);
            let mut buf = [0u8; 1232];
            for i in 0..QUERIES {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("client socket");
                sock.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
                sock.send_to(&q, addr).expect("send");
                let n = sock
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("query {i} from CPU {cpu}: {e}"));
                assert!(n > 12 && buf[..2] == q[..2], "query {i}: not an answer");
            }
        });
    });
    [wakeups(p, tids[0]) - before[0], wakeups(p, tids[1]) - before[1]]
}

fn two_cpus() -> bool {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n < 2 {
        eprintln!("skipped: one CPU, nothing to steer");
    }
    n >= 2
}

#[test]
fn each_worker_is_pinned_and_takes_the_datagrams_of_its_cpu() {
    if !pharos_only("socket_affinity") || !two_cpus() {
        return;
    }
    let p = node(true);
    let tids = workers(&p);
    let cpus: Vec<String> = tids.iter().map(|&t| status_field(&p, t, "Cpus_allowed_list")).collect();
    eprintln!("udp-0 on CPUs {}, udp-1 on CPUs {}", cpus[0], cpus[1]);
    assert!(
        cpus[0].split(',').all(|c| c.parse::<usize>().is_ok_and(|c| c % 2 == 0)),
        "udp-0 on {}",
        cpus[0]
    );
    assert!(
        cpus[1].split(',').all(|c| c.parse::<usize>().is_ok_and(|c| c % 2 == 1)),
        "udp-1 on {}",
        cpus[1]
    );

    for cpu in [0usize, 1] {
        let woke = queries_from_cpu(&p, cpu);
        eprintln!(
            "{QUERIES} queries from CPU {cpu}: udp-0 woke {}, udp-1 woke {}",
            woke[0], woke[1]
        );
        // The other worker wakes only for its stop-flag poll (twice a
        // second) and the health probe's queries. Its own wakes once per
        // query unless the query arrived while it was still running (the
        // other test's node shares the CPUs): at least a quarter here.
        let (mine, other) = (woke[cpu], woke[1 - cpu]);
        assert!(
            mine >= QUERIES as u64 / 4,
            "udp-{cpu} woke {mine} times for {QUERIES} queries"
        );
        assert!(
            other < QUERIES as u64 / 10,
            "udp-{} woke {other} times: not steered",
            1 - cpu
        );
    }
}

#[test]
fn without_it_source_ports_spread_over_both_workers() {
    if !pharos_only("socket_affinity") || !two_cpus() {
        return;
    }
    let p = node(false);
    let woke = queries_from_cpu(&p, 0);
    eprintln!(
        "{QUERIES} queries from CPU 0, no affinity: udp-0 woke {}, udp-1 woke {}",
        woke[0], woke[1]
    );
    // The reuseport hash of 600 source ports: each worker gets about half.
    assert!(
        woke[0] >= QUERIES as u64 / 4 && woke[1] >= QUERIES as u64 / 4,
        "{woke:?}"
    );
}

#[test]
fn more_workers_than_cpus_is_said_at_start() {
    if !pharos_only("socket_affinity") {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let zone = Zone::new("example.com", &repo_root().join("zones/example.com.zone"));
    let mut opts = PharosOpts::with_zones(vec![zone]);
    opts.ipv6 = false;
    opts.dns_extra = format!("udp-workers = {}\nsocket-affinity = true\n", cpus + 1);
    let p = Pharos::start(opts);
    wait_until(&p, Duration::from_secs(5), "the socket-affinity warning", || {
        p.log()
            .contains(&format!("UDP worker {cpus} of each listener gets no datagrams"))
    });
    // It still serves, from the workers that get the datagrams.
    let r = p.query("example.com", 6).expect("an answer");
    assert_eq!(r.rcode, 0);
}
