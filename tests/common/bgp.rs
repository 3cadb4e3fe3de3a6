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
//! * [`Node::start`] writes a pharos config ([`NodeConfig`], with peer
//!   entries from [`BgpPeer::peer_v4`] and friends) and runs
//!   `ip netns exec NODE_NS pharos serve`. DNS listens on the node
//!   namespace's loopback. Dropping it kills the process (by PID).
//! * [`in_netns`] runs a closure on a thread inside a namespace: what it
//!   binds or spawns lives there (a Knot primary beside pharos in the node
//!   namespace, a DNS query to pharos' loopback listener: [`Node::query`]).
//!
//! Needs root (network namespaces) and the Debian packages bird2, gobgpd,
//! jq (scripts/test.sh installs them).

use std::fmt::Write as _;
use std::fs;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::server::{read_lossy, tail};
use super::wire;
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
}

impl BgpPeer {
    /// Starts a peer of `kind` (bird, gobgp, frr, exabgp, script).
    pub fn start(kind: &str, opts: &PeerOpts) -> BgpPeer {
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
            name,
            run_dir,
        }
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

/// One `[[bgp.peer]]` table.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    pub address: String,
    pub asn: u32,
    pub port: Option<u16>,
    pub local_address: Option<String>,
    pub password: Option<String>,
    pub multihop: Option<u8>,
    pub hold_time: u16,
    pub families: Vec<&'static str>,
    pub ipv4_next_hop: Option<String>,
    pub ipv6_next_hop: Option<String>,
    pub prepend: u8,
    pub med: Option<u32>,
}

impl Default for PeerEntry {
    fn default() -> Self {
        PeerEntry {
            address: String::new(),
            asn: PEER_AS,
            port: None,
            local_address: None,
            password: None,
            multihop: None,
            hold_time: 9,
            families: vec!["ipv4", "ipv6"],
            ipv4_next_hop: None,
            ipv6_next_hop: None,
            prepend: 2,
            med: Some(10),
        }
    }
}

/// What [`Node::start`] writes into the config.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub asn: u32,
    pub announce: Vec<&'static str>,
    pub communities: Vec<&'static str>,
    pub large_communities: Vec<&'static str>,
    pub peers: Vec<PeerEntry>,
    /// `health.drain`.
    pub drain: &'static str,
    /// Appended verbatim (more `[health]` keys go here as `health_extra`).
    pub extra_toml: String,
    /// Lines added inside `[health]`.
    pub health_extra: String,
    /// Lines added inside `[dns]` (`udp-workers = 2`).
    pub dns_extra: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            asn: NODE_AS,
            announce: vec!["192.0.2.0/24", "2001:db8:1::/48"],
            communities: vec!["65001:100", "65001:666"],
            large_communities: vec!["65001:1:2"],
            peers: Vec::new(),
            drain: "1s",
            extra_toml: String::new(),
            health_extra: String::new(),
            dns_extra: String::new(),
        }
    }
}

fn q(s: &str) -> String {
    super::pharos::toml_str(s)
}

fn list(items: &[&str]) -> String {
    format!("[{}]", items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "))
}

impl NodeConfig {
    pub fn with_peers(peers: Vec<PeerEntry>) -> NodeConfig {
        NodeConfig {
            peers,
            ..NodeConfig::default()
        }
    }

    fn toml(&self, id: &str, data_dir: &Path, router_id: &str) -> String {
        let mut c = String::new();
        let _ = writeln!(
            c,
            "[node]\nid = {}\ndata-dir = {}\n",
            q(id),
            q(&data_dir.to_string_lossy())
        );
        let _ = writeln!(
            c,
            "[dns]\nlisten = [{}]\n{}\n",
            q(&node_dns().to_string()),
            self.dns_extra
        );
        let zone = repo_root().join("zones/example.com.zone");
        let _ = writeln!(
            c,
            "[[zone]]\nname = \"example.com\"\nfile = {}\n",
            q(&zone.to_string_lossy())
        );
        let _ = writeln!(
            c,
            "[bgp]\nenabled = true\nasn = {}\nrouter-id = {}\nannounce = {}\ncommunities = {}\nlarge-communities = {}\n",
            self.asn,
            q(router_id),
            list(&self.announce),
            list(&self.communities),
            list(&self.large_communities)
        );
        for p in &self.peers {
            let _ = writeln!(c, "[[bgp.peer]]\naddress = {}\nasn = {}", q(&p.address), p.asn);
            let opt = |c: &mut String, k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    let _ = writeln!(c, "{k} = {}", q(v));
                }
            };
            opt(&mut c, "local-address", &p.local_address);
            opt(&mut c, "password", &p.password);
            opt(&mut c, "ipv4-next-hop", &p.ipv4_next_hop);
            opt(&mut c, "ipv6-next-hop", &p.ipv6_next_hop);
            if let Some(port) = p.port {
                let _ = writeln!(c, "port = {port}");
            }
            if let Some(m) = p.multihop {
                let _ = writeln!(c, "multihop = {m}");
            }
            if let Some(m) = p.med {
                let _ = writeln!(c, "med = {m}");
            }
            let _ = writeln!(
                c,
                "hold-time = {}\nfamilies = {}\nprepend = {}\n",
                p.hold_time,
                list(&p.families),
                p.prepend
            );
        }
        let _ = writeln!(c, "[health]\ndrain = {}\n{}", q(self.drain), self.health_extra);
        c.push_str(&self.extra_toml);
        c
    }
}

/// `pharos serve` running in a peer's node namespace. Killed on drop.
pub struct Node {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log_path: PathBuf,
    pub ns: String,
}

impl Node {
    /// Writes the config and starts pharos in `peer`'s node namespace;
    /// returns once it logs that it serves DNS.
    pub fn start(peer: &BgpPeer, cfg: &NodeConfig) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("pharos-bgp.")
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("pharos.toml");
        fs::write(&config, cfg.toml(&peer.name, &dir.path().join("var"), &peer.node_ip4)).expect("write config");
        let log_path = dir.path().join("pharos.log");
        let log = fs::File::create(&log_path).expect("log file");
        // `ip netns exec` execs pharos: the child's PID is pharos's own.
        let child = Command::new("ip")
            .args(["netns", "exec", &peer.node_ns])
            .arg(env!("CARGO_BIN_EXE_pharos"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .env("PHAROS_LOG", "info,pharos::bgp=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("cannot spawn ip netns exec pharos");
        let mut node = Node {
            child: Some(child),
            dir,
            config,
            log_path,
            ns: peer.node_ns.clone(),
        };
        node.wait_log("serving", Duration::from_secs(10));
        node
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Waits until the log contains `text`; panics with the log if the
    /// process exits or time runs out.
    pub fn wait_log(&mut self, text: &str, timeout: Duration) -> Duration {
        self.wait_log_count(text, 1, timeout)
    }

    /// Waits until the log contains `text` at least `n` times (the `n`th
    /// SIGHUP applied, say); as [`Node::wait_log`].
    pub fn wait_log_count(&mut self, text: &str, n: usize, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.log().matches(text).count() >= n {
                return start.elapsed();
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "pharos exited ({status}) before logging {text:?} {n} times:\n{}",
                    tail(&self.log(), 40)
                );
            }
            assert!(
                start.elapsed() < timeout,
                "pharos did not log {text:?} {n} times within {timeout:?}:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends a signal by PID (`kill -s SIG PID`).
    /// Rewrites the config from `cfg` and sends SIGHUP (a reload).
    pub fn reload(&self, peer: &BgpPeer, cfg: &NodeConfig) {
        fs::write(
            &self.config,
            cfg.toml(&peer.name, &self.dir.path().join("var"), &peer.node_ip4),
        )
        .expect("write config");
        self.signal("HUP");
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.pid().expect("pharos is not running").to_string();
        let ok = Command::new("kill")
            .args(["-s", sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -s {sig} {pid} failed");
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            let c = self.child.as_mut().expect("pharos is not running");
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "pharos did not exit within {timeout:?}:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `[health] maintenance-file` default path (`<data-dir>/maintenance`).
    pub fn maintenance_file(&self) -> PathBuf {
        self.dir.path().join("var/maintenance")
    }

    /// Asks pharos `name` `qtype` over UDP on its listener in the node
    /// namespace ([`node_dns`]).
    pub fn query(&self, name: &str, qtype: u16) -> std::io::Result<wire::Reply> {
        in_netns(&self.ns, || {
            wire::udp_query(node_dns(), name, qtype, wire::CLASS_IN, Duration::from_millis(500))
        })
    }

    /// Runs `f` in the node namespace (see [`in_netns`]).
    pub fn in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.ns, f)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- pharos in {} (pid {:?}), config {}, log tail:\n{}\n----",
                self.ns,
                self.pid(),
                self.config.display(),
                tail(&self.log(), 40)
            );
        }
        self.kill9();
    }
}

/// Two [`Peer::session_since`] times of one unchanged session: within
/// 50 ms (a reset takes far longer: BIRD waits before it reconnects).
pub fn same_since(a: i64, b: i64) -> bool {
    (a - b).abs() <= 50
}

/// "YYYY-MM-DD HH:MM:SS.mmm" (BIRD's `timeformat protocol iso long ms`)
/// in milliseconds since the epoch.
pub fn since_ms(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // days from civil (proleptic Gregorian)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms.parse::<i64>().ok()?)
}
