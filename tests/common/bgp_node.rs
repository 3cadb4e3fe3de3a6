//! pharos in a BGP peer's node namespace: the `[[bgp.peer]]` entries
//! ([`PeerEntry`]), the config written for it ([`NodeConfig`]), the running
//! process ([`Node`]: log, signals, DNS queries in the namespace, resident
//! memory and CPU time from /proc), and BIRD's session times
//! ([`same_since`], [`since_ms`]). The peers themselves are in `bgp`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::bgp::{BgpPeer, NODE_AS, PEER_AS, in_netns, node_dns};
use super::server::{read_lossy, tail};
use super::wire;
use super::zone::repo_root;

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
    /// Lines added verbatim to this `[[bgp.peer]]` (`passive = true`).
    pub extra: String,
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
            extra: String::new(),
        }
    }
}

/// The management port in the node namespace (each namespace has its own
/// loopback, so every node may use it).
pub const MGMT_PORT: u16 = 8053;
/// `extra_toml` that turns the management API on for [`Node::status`].
pub const MGMT_TOML: &str = "[mgmt]\nlisten = \"127.0.0.1:8053\"\n";

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
                "hold-time = {}\nfamilies = {}\nprepend = {}\n{}\n",
                p.hold_time,
                list(&p.families),
                p.prepend,
                p.extra
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

    /// Resident memory (VmRSS of /proc/PID/status), KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid().expect("pharos is not running");
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
    }

    /// CPU time the process has used (utime + stime of /proc/PID/stat).
    pub fn cpu_time(&self) -> Duration {
        let pid = self.pid().expect("pharos is not running");
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
        // Fields after the command name (which may hold spaces) in parens.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
        // utime and stime are fields 14 and 15; `after` starts at field 3.
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / hz)
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

    /// `GET /status` of the node's management API, which must listen on
    /// `127.0.0.1:MGMT_PORT` in the node namespace (`extra_toml` =
    /// [`MGMT_TOML`]).
    pub fn status(&self) -> serde_json::Value {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], MGMT_PORT));
        in_netns(&self.ns, || super::mgmt::http(addr, "GET", "/status", &[], None)).json()
    }

    /// `GET /metrics` of the node's management API (see [`Node::status`]).
    pub fn metrics(&self) -> String {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], MGMT_PORT));
        in_netns(&self.ns, || super::mgmt::http(addr, "GET", "/metrics", &[], None)).body
    }

    /// The node's `/status` entry of the peer at `address`.
    pub fn peer_status(&self, address: &str) -> serde_json::Value {
        let s = self.status();
        s["bgp"]["peers"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["address"] == address).cloned())
            .unwrap_or_else(|| panic!("no peer {address} in /status: {s}"))
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
