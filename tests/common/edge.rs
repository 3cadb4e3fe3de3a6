//! Edge-defence helpers: Knot DNS (`mod-rrl`) and NSD (`rrl-*`) with
//! response rate limiting, as references for pharos' `[dns.rrl]`; a paced
//! UDP flood that records every reply; queries with a DNS COOKIE option and
//! the cookie of a reply.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::server::{free_port, read_lossy, tail, wait_ready};
use super::tools::require_program;
use super::wire;
use super::zone::Zone;

/// Which reference server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    Knot,
    Nsd,
}

/// A reference server with response rate limiting on; killed on drop.
pub struct RateLimitedRef {
    pub kind: RefKind,
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl RateLimitedRef {
    /// Starts Knot (`mod-rrl`) or NSD (`rrl-*`) serving `zones` with
    /// `rate` responses a second and `slip`, /24 and /56 netblocks, and
    /// waits until it answers the first zone's SOA.
    pub fn start(kind: RefKind, zones: &[Zone], rate: u32, slip: u32) -> RateLimitedRef {
        let port = free_port(false);
        let dir = tempfile::Builder::new()
            .prefix("rrl-ref.")
            .tempdir()
            .expect("cannot create temp dir");
        let d = dir.path().display().to_string();
        let (program, args, conf, log) = match kind {
            RefKind::Knot => {
                for sub in ["run", "db"] {
                    fs::create_dir_all(dir.path().join(sub)).expect("knot dirs");
                }
                let mut c = String::new();
                let _ = writeln!(
                    c,
                    "server:\n    rundir: {d}/run\n    pidfile: {d}/run/knot.pid\n    listen: 127.0.0.1@{port}\n\
                     database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
                     log:\n  - target: {d}/knot.log\n    any: info\n\
                     mod-rrl:\n  - id: limit\n    rate-limit: {rate}\n    slip: {slip}\n\
                     template:\n  - id: default\n    global-module: mod-rrl/limit\n    zonefile-sync: -1\n\
                     \x20   zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\nzone:"
                );
                for z in zones {
                    let _ = writeln!(c, "  - domain: \"{}\"\n    file: \"{}\"", z.name, z.file.display());
                }
                let conf = dir.path().join("knot.conf");
                fs::write(&conf, c).expect("write knot.conf");
                let args = vec!["-c".to_string(), conf.display().to_string()];
                ("knotd", args, conf, dir.path().join("knot.log"))
            }
            RefKind::Nsd => {
                let mut c = String::new();
                let _ = writeln!(
                    c,
                    "server:\n    ip-address: 127.0.0.1@{port}\n    port: {port}\n    zonesdir: \"{d}\"\n\
                     \x20   database: \"\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdfile: \"{d}/xfrd.state\"\n\
                     \x20   xfrdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    logfile: \"{d}/nsd.log\"\n\
                     \x20   username: \"\"\n    chroot: \"\"\n    server-count: 1\n    verbosity: 1\n\
                     \x20   rrl-size: 1000000\n    rrl-ratelimit: {rate}\n    rrl-slip: {slip}\n\
                     \x20   rrl-ipv4-prefix-length: 24\n    rrl-ipv6-prefix-length: 56\n    rrl-whitelist-ratelimit: {rate}\n\
                     remote-control:\n    control-enable: no"
                );
                for z in zones {
                    let _ = writeln!(
                        c,
                        "zone:\n    name: \"{}\"\n    zonefile: \"{}\"",
                        z.name,
                        z.file.display()
                    );
                }
                let conf = dir.path().join("nsd.conf");
                fs::write(&conf, c).expect("write nsd.conf");
                let args = vec!["-d".to_string(), "-c".to_string(), conf.display().to_string()];
                ("nsd", args, conf, dir.path().join("nsd.log"))
            }
        };
        let package = if kind == RefKind::Knot { "knot" } else { "nsd" };
        let bin = require_program(program, package);
        let out = File::create(dir.path().join("stdout.log")).expect("stdout.log");
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("stdout.log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut r = RateLimitedRef {
            kind,
            child: Some(child),
            port,
            dir,
            log,
        };
        let first = zones.first().map(|z| z.name.clone());
        if let Some(child) = r.child.as_mut()
            && let Err(e) = wait_ready(child, port, first.as_deref())
        {
            let msg = format!(
                "{program} did not start: {e}\n--- {}\n{}\n--- log\n{}\n--- stdout\n{}",
                conf.display(),
                fs::read_to_string(&conf).unwrap_or_default(),
                tail(&read_lossy(&r.log), 30),
                tail(&read_lossy(&r.dir.path().join("stdout.log")), 30)
            );
            drop(r);
            panic!("{msg}");
        }
        r
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            RefKind::Knot => "Knot",
            RefKind::Nsd => "NSD",
        }
    }
}

impl Drop for RateLimitedRef {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One reply the flood got.
#[derive(Clone, Copy, Debug)]
pub struct FloodReply {
    /// Since the flood started.
    pub at: Duration,
    pub tc: bool,
    pub rcode: u8,
    pub answers: u16,
}

/// What a flood sent and got.
#[derive(Debug, Default)]
pub struct FloodResult {
    pub sent: u64,
    pub replies: Vec<FloodReply>,
    pub took: Duration,
}

impl FloodResult {
    /// Replies that were full answers (not truncated).
    pub fn full(&self) -> usize {
        self.replies.iter().filter(|r| !r.tc && r.rcode != 7).count()
    }

    /// Full answers that arrived in `[from, to)` of the flood.
    pub fn full_between(&self, from: Duration, to: Duration) -> usize {
        self.replies
            .iter()
            .filter(|r| !r.tc && r.rcode != 7 && r.at >= from && r.at < to)
            .count()
    }

    /// Truncated replies (slipped).
    pub fn truncated(&self) -> usize {
        self.replies.iter().filter(|r| r.tc).count()
    }
}

/// Sends `query` (its ID rewritten each time) to `to` from `source`
/// (port 0: any) at `rate` a second for `secs`, in 10 ms steps, and
/// records every reply until half a second after the last query.
pub fn flood(to: SocketAddr, source: IpAddr, query: &[u8], rate: u32, secs: f64) -> FloodResult {
    let sock = Arc::new(UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind flood socket"));
    sock.connect(to).expect("connect flood socket");
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let reader = {
        let sock = sock.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut replies = Vec::new();
            let mut buf = [0u8; 4096];
            let mut quiet_since: Option<Instant> = None;
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) if n >= 12 => {
                        quiet_since = None;
                        let flags = u16::from_be_bytes([buf[2], buf[3]]);
                        replies.push(FloodReply {
                            at: start.elapsed(),
                            tc: flags & 0x0200 != 0,
                            rcode: (flags & 0xf) as u8,
                            answers: u16::from_be_bytes([buf[6], buf[7]]),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if done.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_millis(500) {
                                return replies;
                            }
                        }
                    }
                }
            }
        })
    };
    let mut q = query.to_vec();
    let total = (f64::from(rate) * secs) as u64;
    let mut sent = 0u64;
    while sent < total {
        // Catch up to where the schedule says we should be.
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as u64).min(total);
        while sent < due {
            q[..2].copy_from_slice(&(sent as u16).to_be_bytes());
            if sock.send(&q).is_ok() {
                sent += 1;
            } else {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let replies = reader.join().unwrap_or_default();
    FloodResult { sent, replies, took }
}

/// A query with EDNS (payload 1232) and a COOKIE option holding `cookie`
/// (8 octets of client cookie, then any server cookie).
pub fn query_with_cookie(id: u16, name: &str, qtype: u16, cookie: &[u8]) -> Vec<u8> {
    let mut m = wire::encode_query(id, name, qtype, wire::CLASS_IN, Some(1232));
    let len = m.len();
    let optlen = 4 + cookie.len();
    m[len - 2..].copy_from_slice(&(optlen as u16).to_be_bytes());
    m.extend_from_slice(&10u16.to_be_bytes());
    m.extend_from_slice(&(cookie.len() as u16).to_be_bytes());
    m.extend_from_slice(cookie);
    m
}

/// The COOKIE option's value in a reply (client then server cookie).
pub fn reply_cookie(reply: &wire::Reply) -> Option<Vec<u8>> {
    let opt = reply.additional.iter().find(|rr| rr.rtype == wire::TYPE_OPT)?;
    let mut d = &opt.rdata[..];
    while d.len() >= 4 {
        let code = u16::from_be_bytes([d[0], d[1]]);
        let len = u16::from_be_bytes([d[2], d[3]]) as usize;
        let v = d.get(4..4 + len)?;
        if code == 10 {
            return Some(v.to_vec());
        }
        d = &d[4 + len..];
    }
    None
}

/// The extended RCODE of a reply (OPT TTL upper bits folded in).
pub fn extended_rcode(reply: &wire::Reply) -> u16 {
    let upper = reply
        .additional
        .iter()
        .find(|rr| rr.rtype == wire::TYPE_OPT)
        .map_or(0, |rr| (rr.ttl >> 24) as u16);
    (upper << 4) | u16::from(reply.rcode)
}

/// Sends one raw query over UDP from `source` and returns the reply.
pub fn exchange(to: SocketAddr, source: IpAddr, msg: &[u8], timeout: Duration) -> Option<wire::Reply> {
    let sock = UdpSocket::bind(SocketAddr::new(source, 0)).ok()?;
    sock.connect(to).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.send(msg).ok()?;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let n = sock.recv(&mut buf).ok()?;
        if let Some(r) = wire::parse(&buf[..n])
            && r.id == u16::from_be_bytes([msg[0], msg[1]])
        {
            return Some(r);
        }
    }
    None
}
