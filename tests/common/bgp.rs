//! BGP test harness: a real BGP peer (BIRD 2, GoBGP, FRR, ExaBGP or a
//! scripted peer) in its own network namespace, joined by a veth pair to a
//! node namespace where the real `pharos serve` runs.
//!
//! * [`BgpPeer::start`] runs `tests/bgp-peer/peer.sh start KIND NAME` with a
//!   unique NAME (so namespaces never clash between tests or runs) and a
//!   private runtime dir; dropping it runs `peer.sh stop NAME`, which kills
//!   only the daemon PIDs it started and deletes only its two namespaces.
//! * [`BgpPeer::routes`] lists what the peer received, with attributes
//!   ([`Route`]); `wait_*` poll for established / a prefix / withdrawn.
//! * Beyond one veth pair ([`PeerOpts`]): a router namespace between node
//!   and peer (`router`), BFD and TTL security on the peer (`bfd`,
//!   `ttl_security`; [`BgpPeer::bfd_sessions`], [`BgpPeer::wait_bfd`]), a
//!   full table sent to the node (`full_table`), a peer that connects
//!   itself (`peer_connects`), a second upstream of the same node
//!   ([`BgpPeer::start_joined`]), a link that drops everything
//!   ([`BgpPeer::link`]) and a second address on the peer's side
//!   ([`BgpPeer::add_peer_address`]).
//! * [`Node::start`] (in `bgp_node`) writes a pharos config ([`NodeConfig`], with peer
//!   entries from [`BgpPeer::peer_v4`] and friends) and runs
//!   `ip netns exec NODE_NS pharos serve`. DNS listens on the node
//!   namespace's loopback. Dropping it kills the process (by PID).
//! * [`in_netns`] runs a closure on a thread inside a namespace: what it
//!   binds or spawns lives there (a Knot primary beside pharos in the node
//!   namespace, a DNS query to pharos' loopback listener: [`Node::query`]).
//!
//! Needs root (network namespaces) and the Debian packages bird2, gobgpd,
//! jq (scripts/test.sh installs them).

use std::fs;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::bgp_node::{PeerEntry, since_ms};
use super::server::tail;
use super::zone::repo_root;

/// The node's AS in every test (peer.sh's default NODE_AS).
pub const NODE_AS: u32 = 65001;
/// The peer's AS (peer.sh's default PEER_AS).
pub const PEER_AS: u32 = 65000;

/// The port pharos' DNS listens on, on 127.0.0.1 in the node namespace.
pub const NODE_DNS_PORT: u16 = 5353;

/// Where pharos' DNS listens inside the node namespace.
pub fn node_dns() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], NODE_DNS_PORT))
}

/// Runs `f` on a new thread that has joined the network namespace `ns`
/// (`/run/netns/NS`) and returns what it returns. A thread's network
/// namespace is its own: the sockets `f` opens and the processes it spawns
/// live in `ns`, while the test's other threads stay where they are.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let file = fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            // SAFETY: setns(2) with a namespace fd we hold open; it changes
            // the network namespace of this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
            f()
        });
        t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn peer_sh() -> PathBuf {
    repo_root().join("tests/bgp-peer/peer.sh")
}

/// Path of `tests/bgp-peer/scripted_peer.py`.
pub fn scripted_peer_py() -> PathBuf {
    repo_root().join("tests/bgp-peer/scripted_peer.py")
}

/// Fails the test unless it runs as root with the programs it needs.
pub fn require_bgp_tools(kind: &str) {
    // Root: the Uid line of /proc/self/status.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"));
    assert!(root, "BGP tests need root (network namespaces); run them as root");
    let (prog, pkg) = match kind {
        "bird" => ("birdc", "bird2"),
        "gobgp" => ("gobgp", "gobgpd"),
        "frr" => ("vtysh", "frr"),
        "exabgp" => ("exabgp", "exabgp"),
        _ => ("python3", "python3"),
    };
    for (p, k) in [(prog, pkg), ("jq", "jq"), ("ip", "iproute2")] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{p} not found: install the Debian package {k} (scripts/test.sh does)"
        );
    }
}

/// One route as the peer has it (peer.sh's normalised line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: String,
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub communities: Vec<String>,
    pub med: Option<u32>,
    pub origin: String,
    pub large: Vec<String>,
    /// The whole line, for messages.
    pub line: String,
}

impl Route {
    /// Parses `PREFIX nexthop=X aspath=A B communities=C D med=M origin=O large=L`.
    pub fn parse(line: &str) -> Option<Route> {
        let (prefix, rest) = line.split_once(' ')?;
        let mut fields = std::collections::HashMap::new();
        let mut key: Option<&str> = None;
        let mut value = String::new();
        for word in rest.split(' ') {
            if let Some((k, v)) = word.split_once('=') {
                if let Some(old) = key.take() {
                    fields.insert(old, std::mem::take(&mut value));
                }
                key = Some(k);
                value = v.to_string();
            } else {
                value.push(' ');
                value.push_str(word);
            }
        }
        if let Some(k) = key {
            fields.insert(k, value);
        }
        let list = |k: &str| -> Vec<String> {
            match fields.get(k).map(String::as_str) {
                None | Some("-") => Vec::new(),
                Some(v) => v.split_whitespace().map(str::to_owned).collect(),
            }
        };
        Some(Route {
            prefix: prefix.to_string(),
            next_hop: fields.get("nexthop")?.clone(),
            as_path: list("aspath").iter().filter_map(|a| a.parse().ok()).collect(),
            communities: list("communities"),
            med: fields.get("med").and_then(|m| m.parse().ok()),
            origin: fields.get("origin").cloned().unwrap_or_default(),
            large: list("large"),
            line: line.to_string(),
        })
    }
}

/// How [`BgpPeer::start`] sets up the peer (peer.sh's environment).
#[derive(Debug, Clone)]
pub struct PeerOpts {
    /// `v4` (one IPv4 session, both families), `v6`, `dual`, or `both`
    /// (the `v4` and the `v6` session, each with both families: two peers
    /// for one node, [`BgpPeer::peer_v4`] and [`BgpPeer::peer_v6`]).
    pub sessions: &'static str,
    pub hold: u16,
    pub md5: Option<String>,
    pub multihop: Option<u8>,
    /// The AS the peer expects from the node.
    pub node_as: u32,
    /// For KIND `script`: the command run in the peer netns.
    pub command: Option<String>,
    /// BFD on the peer's session(s) (bird, frr): (interval ms, multiplier).
    pub bfd: Option<(u32, u8)>,
    /// GTSM on the peer (bird, frr): it accepts only TTL 255 (- multihop + 1).
    pub ttl_security: bool,
    /// A router namespace between node and peer: one routed hop. The peer
    /// then runs multihop 2 unless `multihop` says otherwise; the node
    /// needs `multihop = 2` too.
    pub router: bool,
    /// The peer (bird) sends this many IPv4 /24 routes to the node.
    pub full_table: u32,
    /// The peer connects to the node itself too (peer.sh PASSIVE=0);
    /// default: it only accepts.
    pub peer_connects: bool,
}

impl Default for PeerOpts {
    fn default() -> Self {
        PeerOpts {
            sessions: "v4",
            hold: 9,
            md5: None,
            multihop: None,
            node_as: NODE_AS,
            command: None,
            bfd: None,
            ttl_security: false,
            router: false,
            full_table: 0,
            peer_connects: false,
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running peer in its own namespace pair. Stopped on drop.
pub struct BgpPeer {
    pub kind: String,
    pub name: String,
    pub run_dir: tempfile::TempDir,
    pub peer_ns: String,
    pub node_ns: String,
    pub peer_ip4: String,
    pub node_ip4: String,
    pub peer_ip6: String,
    pub node_ip6: String,
    /// Started with a router namespace between node and peer.
    pub router: bool,
}

impl BgpPeer {
    /// Starts a peer of `kind` (bird, gobgp, frr, exabgp, script).
    pub fn start(kind: &str, opts: &PeerOpts) -> BgpPeer {
        Self::start_in(kind, opts, None)
    }

    /// Starts a second (third...) upstream of `first`'s node: its own peer
    /// namespace, joined by a new veth pair (another subnet) to `first`'s
    /// node namespace. Drop it before `first` (declare it after): dropping
    /// it deletes its own peer namespace only.
    pub fn start_joined(kind: &str, opts: &PeerOpts, first: &BgpPeer) -> BgpPeer {
        assert!(!opts.router && !first.router, "a joined peer has no router namespace");
        Self::start_in(kind, opts, Some(&first.node_ns))
    }

    fn start_in(kind: &str, opts: &PeerOpts, join: Option<&str>) -> BgpPeer {
        require_bgp_tools(kind);
        let name = format!(
            "px{}-{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let run_dir = tempfile::Builder::new()
            .prefix("pharos-bgpt.")
            .tempdir()
            .expect("temp dir");
        // FRR's daemons run as user frr and must reach their dir.
        let _ = Command::new("chmod").arg("711").arg(run_dir.path()).status();
        let mut cmd = Command::new(peer_sh());
        cmd.args(["start", kind, &name])
            .env("BGPT_RUN_DIR", run_dir.path())
            .env("SESSIONS", opts.sessions)
            .env("HOLD", opts.hold.to_string())
            .env("NODE_AS", opts.node_as.to_string())
            .env("PEER_AS", PEER_AS.to_string());
        if let Some(m) = &opts.md5 {
            cmd.env("MD5", m);
        }
        if let Some(m) = opts.multihop {
            cmd.env("MULTIHOP", m.to_string());
        }
        if let Some(c) = &opts.command {
            cmd.env("PEER_CMD", c);
        }
        if let Some((interval, mult)) = opts.bfd {
            cmd.env("BFD", "1")
                .env("BFD_INTERVAL", interval.to_string())
                .env("BFD_MULT", mult.to_string());
        }
        for (on, var) in [(opts.ttl_security, "TTL_SECURITY"), (opts.router, "ROUTER")] {
            if on {
                cmd.env(var, "1");
            }
        }
        if opts.full_table > 0 {
            cmd.env("FULL_TABLE", opts.full_table.to_string());
        }
        if opts.peer_connects {
            cmd.env("PASSIVE", "0");
        }
        if let Some(ns) = join {
            cmd.env("JOIN_NS", ns);
        }
        let out = cmd.output().expect("cannot run peer.sh");
        assert!(
            out.status.success(),
            "peer.sh start {kind} {name} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&run_sh(run_dir.path(), &["env", &name]).stdout).into_owned();
        let get = |k: &str| -> String {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('\'').to_string())
                .unwrap_or_else(|| panic!("peer.sh env has no {k}:\n{env}"))
        };
        BgpPeer {
            kind: kind.to_string(),
            peer_ns: get("PEER_NS"),
            node_ns: get("NODE_NS"),
            peer_ip4: get("PEER_IP4"),
            node_ip4: get("NODE_IP4"),
            peer_ip6: get("PEER_IP6"),
            node_ip6: get("NODE_IP6"),
            router: opts.router,
            name,
            run_dir,
        }
    }

    /// One `(address, state)` per BFD session the peer has (bird, frr);
    /// state `up`, `down`, `init` or `admindown`.
    pub fn bfd_sessions(&self) -> Vec<(String, String)> {
        let out = self.sh(&["bfd", &self.name]);
        assert!(
            out.status.success(),
            "peer.sh bfd {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, s)| (a.to_string(), s.trim().to_string()))
            .collect()
    }

    /// Waits until the peer's BFD session with `addr` is in `state`.
    pub fn wait_bfd(&self, addr: &str, state: &str, timeout: Duration) -> Duration {
        self.wait(&format!("BFD session {addr} {state}"), timeout, |p| {
            p.bfd_sessions().iter().any(|(a, s)| a == addr && s == state)
        })
    }

    /// `up = false`: every packet on the node-peer path is dropped, both
    /// ways (nftables ingress drop on both veth ends): nothing is closed,
    /// nothing is told. `up = true` restores it.
    pub fn link(&self, up: bool) {
        let out = self.sh(&["link", &self.name, if up { "up" } else { "down" }]);
        assert!(
            out.status.success(),
            "peer.sh link {} {}: {}",
            self.name,
            if up { "up" } else { "down" },
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds `addr` (IPv4 or IPv6) to the peer's side of the veth, routed
    /// from the node, so the peer can open a connection from it.
    pub fn add_peer_address(&self, addr: &str) {
        let out = self.sh(&["alias", &self.name, addr]);
        assert!(
            out.status.success(),
            "peer.sh alias {} {addr}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `f` in the peer namespace (see [`in_netns`]).
    pub fn in_peer_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.peer_ns, f)
    }

    /// BIRD: the routes it has exported to the node (a FULL_TABLE's count).
    pub fn exported(&self) -> u64 {
        let out = self.sh(&["exported", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }

    fn sh(&self, args: &[&str]) -> std::process::Output {
        run_sh(self.run_dir.path(), args)
    }

    /// Every route the peer accepted from the node, sorted.
    pub fn routes(&self) -> Vec<Route> {
        let out = self.sh(&["routes", &self.name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(Route::parse)
            .collect()
    }

    /// One word: Established when every session is, else the first
    /// session's state (Idle, Active, ... or Dead).
    pub fn state(&self) -> String {
        let out = self.sh(&["state", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The state of one session (`v4` or `v6`), as [`BgpPeer::state`].
    pub fn session_state(&self, session: &str) -> String {
        let out = self.sh(&["state", &self.name, session]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The routes one session (`v4` or `v6`) received, as
    /// [`BgpPeer::routes`] (BIRD only).
    pub fn session_routes(&self, session: &str) -> Vec<Route> {
        let out = self.sh(&["routes", &self.name, session]);
        assert!(
            out.status.success(),
            "peer.sh routes {} {session}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(Route::parse)
            .collect()
    }

    /// When BIRD's protocol for one session (`v4` or `v6`) last changed
    /// state, in milliseconds since the epoch: a session reset shows as a
    /// new time. Compare two with [`same_since`]: BIRD keeps the time on
    /// its monotonic clock and converts it to wall-clock time at each
    /// `show protocols`, so two reads of one unchanged value can differ by
    /// a millisecond.
    pub fn session_since(&self, session: &str) -> i64 {
        let out = self.sh(&["since", &self.name, session]);
        let since = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && !since.is_empty(),
            "peer.sh since {} {session}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        since_ms(&since).unwrap_or_else(|| panic!("peer.sh since {} {session}: not a time: {since:?}", self.name))
    }

    /// The daemon's log (BIRD: session events and received NOTIFICATIONs).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.sh(&["log", &self.name]).stdout).into_owned()
    }

    /// Polls `cond` every 50 ms until it holds; the time it took, or an
    /// error with the last state and routes.
    pub fn wait(&self, what: &str, timeout: Duration, mut cond: impl FnMut(&BgpPeer) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if cond(self) {
                return start.elapsed();
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what} at the {} peer; state {}, routes:\n{}\n--- peer log (tail):\n{}",
                    self.kind,
                    self.state(),
                    self.routes()
                        .iter()
                        .map(|r| r.line.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    tail(&self.log(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_established(&self, timeout: Duration) -> Duration {
        self.wait("Established", timeout, |p| p.state() == "Established")
    }

    pub fn wait_prefix(&self, prefix: &str, timeout: Duration) -> Duration {
        self.wait(&format!("prefix {prefix}"), timeout, |p| {
            p.routes().iter().any(|r| r.prefix == prefix)
        })
    }

    pub fn wait_withdrawn(&self, prefix: &str, timeout: Duration) -> Duration {
        self.wait(&format!("{prefix} withdrawn"), timeout, |p| {
            !p.routes().iter().any(|r| r.prefix == prefix)
        })
    }

    /// Waits until `prefix` is listed with attributes for which `pred`
    /// holds (e.g. the GRACEFUL_SHUTDOWN community `65535:0`); the route.
    pub fn wait_route(&self, prefix: &str, timeout: Duration, pred: impl Fn(&Route) -> bool) -> Route {
        let mut found = None;
        self.wait(&format!("{prefix} with the expected attributes"), timeout, |p| {
            found = p.routes().into_iter().find(|r| r.prefix == prefix && pred(r));
            found.is_some()
        });
        found.expect("wait returned, so the route was found")
    }

    pub fn wait_route_count(&self, n: usize, timeout: Duration) -> Duration {
        self.wait(&format!("{n} routes"), timeout, |p| p.routes().len() == n)
    }

    /// `[[bgp.peer]]` for the IPv4 session, carrying both families (IPv6
    /// with the node's veth address as next hop).
    pub fn peer_v4(&self) -> PeerEntry {
        PeerEntry {
            address: self.peer_ip4.clone(),
            local_address: Some(self.node_ip4.clone()),
            families: vec!["ipv4", "ipv6"],
            ipv6_next_hop: Some(self.node_ip6.clone()),
            // through the router: one hop more
            multihop: self.router.then_some(2),
            ..PeerEntry::default()
        }
    }

    /// `[[bgp.peer]]` for the IPv6 session, carrying both families.
    pub fn peer_v6(&self) -> PeerEntry {
        PeerEntry {
            address: self.peer_ip6.clone(),
            local_address: Some(self.node_ip6.clone()),
            families: vec!["ipv4", "ipv6"],
            ipv4_next_hop: Some(self.node_ip4.clone()),
            ..PeerEntry::default()
        }
    }

    /// The two `[[bgp.peer]]` of the `dual` plan: IPv4 on the IPv4
    /// session, IPv6 on the IPv6 session.
    pub fn peers_dual(&self) -> Vec<PeerEntry> {
        vec![
            PeerEntry {
                address: self.peer_ip4.clone(),
                families: vec!["ipv4"],
                ..PeerEntry::default()
            },
            PeerEntry {
                address: self.peer_ip6.clone(),
                families: vec!["ipv6"],
                ..PeerEntry::default()
            },
        ]
    }
}

impl Drop for BgpPeer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} peer {} log (tail):\n{}\n----",
                self.kind,
                self.name,
                tail(&self.log(), 30)
            );
        }
        let out = self.sh(&["stop", &self.name]);
        if !out.status.success() {
            eprintln!(
                "peer.sh stop {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn run_sh(run_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(peer_sh())
        .args(args)
        .env("BGPT_RUN_DIR", run_dir)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run peer.sh")
}
