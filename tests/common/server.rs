//! What a spawned server needs, whichever it is: free loopback ports, the
//! readiness probe ([`wait_ready`], bounded by [`START_TIMEOUT`]) and reading
//! its log.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Child;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::wire;

/// How long a server gets to answer its first SOA query.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// True if the IPv6 loopback address can be bound here.
pub fn have_ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// A port that is free for both UDP and TCP on 127.0.0.1 (and on ::1 when
/// `ipv6`), and that this process has not handed out before.
pub fn free_port(ipv6: bool) -> u16 {
    for _ in 0..500 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = tcp.local_addr().unwrap().port();
        if handed_out().lock().unwrap().contains(&port) {
            continue;
        }
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        if ipv6 && (TcpListener::bind(("::1", port)).is_err() || UdpSocket::bind(("::1", port)).is_err()) {
            continue;
        }
        handed_out().lock().unwrap().insert(port);
        return port;
    }
    panic!("could not find a free port for UDP+TCP on loopback");
}

pub(super) fn wait_ready(child: &mut Child, port: u16, zone: Option<&str>) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no response");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited early with {status}"));
        }
        let name = zone.unwrap_or(".");
        match wire::udp_query(addr, name, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_millis(250)) {
            Ok(r) => {
                if zone.is_none() {
                    return Ok(());
                }
                if r.rcode == 0 && r.aa() && r.answers.iter().any(|rr| rr.rtype == wire::TYPE_SOA) {
                    return Ok(());
                }
                last = format!("SOA {name}: {r}");
            }
            Err(e) => last = format!("SOA {name}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "no authoritative SOA answer within {START_TIMEOUT:?} (last: {last})"
    ))
}

pub(super) fn read_lossy(p: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A process a test spawned itself (a server on a config the test wrote,
/// an installed binary): killed by PID and reaped when dropped.
pub struct Spawned(pub Child);

impl Spawned {
    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A finished program's stdout and stderr, for assertion messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
