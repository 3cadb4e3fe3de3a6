//! A fleet in one test: a pharos **hub** and N pharos **nodes**, each a
//! separate `pharos serve` process with its management API
//! ([`MgmtNode`]), on its own free loopback ports.
//!
//! * The hub serves the fleet's zones as secondaries of the customers'
//!   primaries (e.g. [`KnotPrimary`](super::KnotPrimary)), with
//!   `allow-transfer` to loopback and `notify` to every node.
//! * Each node serves the same zones as secondaries of the hub: of the
//!   hub's own address, or, for the nodes of [`FleetOpts::linked`], of a
//!   [`Link`] to it the test can cut ([`Fleet::link`]), to cut one node
//!   off from the hub.
//!
//! Every port is chosen free beforehand; on a busy machine one may be
//! taken before the process binds it (an outgoing connection's ephemeral
//! port): [`Fleet::start`] then starts the whole fleet again, with fresh
//! ports (at most 3 times; also when loopback had no free port left).
//!
//! [`FleetOpts`] takes the zones, the lines added to each `[[zone]]`
//! (timers), and the TOML appended to the hub's and to each node's config;
//! [`Fleet`] gives each process's DNS address, API URL and token, and
//! stops, kills and restarts one node or the hub by PID.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::mgmt::{MgmtNode, TOKEN};
use super::pharos::{PharosOpts, toml_str};
use super::server::free_port;

/// What [`Fleet::start`] starts.
#[derive(Default)]
pub struct FleetOpts {
    /// The zones: (name, the customer primary the hub transfers it from).
    pub zones: Vec<(String, SocketAddr)>,
    /// Lines added inside every `[[zone]]`, on the hub and on the nodes
    /// (e.g. short `refresh-min`/`expire-max` timers).
    pub zone_toml: String,
    /// TOML appended to the hub's config (`[health]`, `[fleet]`, a catalog
    /// zone, ...); `{NODES}` in it becomes the nodes' DNS addresses as a
    /// TOML list's items (`"127.0.0.1:P1", "127.0.0.1:P2"`), e.g. for
    /// `notify = [{NODES}]`.
    pub hub_toml: String,
    /// TOML appended to every node's config; `{HUB}` in it becomes the
    /// hub's address as a TOML string (the node's link to it, for a linked
    /// node), e.g. for `primaries = [{HUB}]`.
    pub node_toml: String,
    /// TOML appended to one node's config (by index), after `node_toml`.
    pub node_extra: Vec<(usize, String)>,
    /// How many nodes.
    pub nodes: usize,
    /// The nodes (by index) that reach the hub through a [`Link`] of their
    /// own ([`Fleet::link`]), to be cut off from it.
    pub linked: Vec<usize>,
}

/// A running hub and its nodes; every process is killed on drop (and
/// every link cut).
pub struct Fleet {
    pub hub: MgmtNode,
    pub nodes: Vec<MgmtNode>,
    links: Vec<(usize, Link)>,
    first_zone: Option<String>,
}

fn opts(port: u16, ready: Option<String>, toml: String) -> PharosOpts {
    PharosOpts {
        port: Some(port),
        ipv6: false,
        ready_zone: ready,
        extra_toml: toml,
        ..Default::default()
    }
}

/// Whether a panic of [`Fleet::try_start`] was a port taken meanwhile.
fn port_taken(panic: &(dyn std::any::Any + Send)) -> bool {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    text.contains("in use") || text.contains("AddrInUse") || text.contains("could not find a free port")
}

impl Fleet {
    /// Starts the hub, waits until it serves the first zone, then starts
    /// each node and waits until it serves the first zone too.
    pub fn start(o: FleetOpts) -> Fleet {
        for attempt in 1.. {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Fleet::try_start(&o))) {
                Ok(fleet) => return fleet,
                Err(e) if attempt < 3 && port_taken(&*e) => {
                    eprintln!("fleet: a port was taken before its process bound it; starting again");
                    std::thread::sleep(Duration::from_secs(2 * attempt));
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        unreachable!()
    }

    fn try_start(o: &FleetOpts) -> Fleet {
        let hub_addr = SocketAddr::from(([127, 0, 0, 1], free_port(false)));
        let ports: Vec<u16> = (0..o.nodes).map(|_| free_port(false)).collect();
        let notify: Vec<String> = ports.iter().map(|p| toml_str(&format!("127.0.0.1:{p}"))).collect();
        let first_zone = o.zones.first().map(|z| z.0.clone());
        // Every node transfers from 127.0.0.1: the hub's cap per client
        // (default 4) is raised so that it is not the whole fleet's.
        let mut hub_toml = String::from("[transfer]\nmax-out-per-client = 32\n");
        for (name, primary) in &o.zones {
            hub_toml.push_str(&format!(
                "[[zone]]\nname = {}\nprimaries = [{}]\nallow-transfer = [\"127.0.0.0/8\"]\n\
                 notify = [{}]\nnotify-source = \"127.0.0.1\"\n{}\n",
                toml_str(name),
                toml_str(&primary.to_string()),
                notify.join(", "),
                o.zone_toml
            ));
        }
        hub_toml.push_str(&o.hub_toml.replace("{NODES}", &notify.join(", ")));
        let hub = MgmtNode::start(opts(hub_addr.port(), first_zone.clone(), hub_toml));
        let mut nodes = Vec::new();
        let mut links = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let mut primary = hub_addr;
            if o.linked.contains(&i) {
                let link = Link::start(hub_addr);
                primary = link.addr;
                links.push((i, link));
            }
            let mut toml = String::new();
            for (name, _) in &o.zones {
                toml.push_str(&format!(
                    "[[zone]]\nname = {}\nprimaries = [{}]\n{}\n",
                    toml_str(name),
                    toml_str(&primary.to_string()),
                    o.zone_toml
                ));
            }
            toml.push_str(&o.node_toml.replace("{HUB}", &toml_str(&primary.to_string())));
            for (_, extra) in o.node_extra.iter().filter(|(n, _)| *n == i) {
                toml.push('\n');
                toml.push_str(extra);
            }
            let mut node_opts = opts(*port, first_zone.clone(), toml);
            node_opts.node_id = format!("node{i}");
            nodes.push(MgmtNode::start(node_opts));
        }
        Fleet {
            hub,
            nodes,
            links,
            first_zone,
        }
    }

    /// The link between node `i` and the hub (`i` must be in
    /// [`FleetOpts::linked`]).
    pub fn link(&self, i: usize) -> &Link {
        self.links
            .iter()
            .find(|(n, _)| *n == i)
            .map(|(_, l)| l)
            .unwrap_or_else(|| panic!("node {i} has no link (FleetOpts::linked)"))
    }

    /// Node `i`'s DNS address (`127.0.0.1:PORT`), as the hub's fleet view
    /// names it.
    pub fn dns(&self, i: usize) -> SocketAddr {
        self.nodes[i].pharos.addr()
    }

    /// Node `i`'s management API, `http://127.0.0.1:PORT`.
    pub fn url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    /// The bearer token of every process's API.
    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// SIGKILL node `i` by PID (data dir, config and log stay).
    pub fn stop_node(&mut self, i: usize) {
        self.nodes[i].pharos.stop();
    }

    /// Starts node `i` again with the same config, ports and data dir and
    /// waits until it answers (the first zone with NOERROR/AA when
    /// `serving`, anything otherwise).
    pub fn restart_node(&mut self, i: usize, serving: bool) {
        let zone = if serving { self.first_zone.clone() } else { None };
        self.nodes[i].pharos.restart(zone.as_deref());
    }

    /// SIGKILL the hub by PID.
    pub fn stop_hub(&mut self) {
        self.hub.pharos.stop();
    }

    /// Starts the hub again (see [`Fleet::restart_node`]).
    pub fn restart_hub(&mut self, serving: bool) {
        let zone = if serving { self.first_zone.clone() } else { None };
        self.hub.pharos.restart(zone.as_deref());
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) to node `i`, by PID.
    pub fn signal_node(&self, i: usize, signal: i32) {
        self.nodes[i].pharos.signal(signal);
    }
}

/// A path to `to` that the test can cut: DNS over UDP and TCP on
/// `127.0.0.1:PORT` relayed to `to` while it is up. Cut, UDP queries are
/// dropped, TCP connections closed and new ones refused (closed at once).
pub struct Link {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

const TICK: Duration = Duration::from_millis(50);

impl Link {
    pub fn start(to: SocketAddr) -> Link {
        let port = free_port(false);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("link: cannot bind UDP {addr}: {e}"));
        let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("link: cannot bind TCP {addr}: {e}"));
        udp.set_read_timeout(Some(TICK)).expect("link: UDP timeout");
        tcp.set_nonblocking(true).expect("link: nonblocking listener");
        let up = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (u, s) = (up.clone(), stop.clone());
        let udp_thread = std::thread::spawn(move || relay_udp(udp, to, &u, &s));
        let (u, s) = (up.clone(), stop.clone());
        let tcp_thread = std::thread::spawn(move || relay_tcp(tcp, to, &u, &s));
        Link {
            addr,
            up,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    /// Cuts the path (`false`) or restores it (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Each query is relayed from a socket of its own; the answer goes back
/// to the client unless the link was cut meanwhile.
fn relay_udp(sock: UdpSocket, to: SocketAddr, up: &Arc<AtomicBool>, stop: &AtomicBool) {
    let mut buf = [0u8; 65535];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, client)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if !up.load(Ordering::SeqCst) {
            continue;
        }
        let (Ok(back), Ok(out)) = (sock.try_clone(), UdpSocket::bind("127.0.0.1:0")) else {
            continue;
        };
        let query = buf[..n].to_vec();
        let up = up.clone();
        std::thread::spawn(move || {
            let mut answer = [0u8; 65535];
            let _ = out.set_read_timeout(Some(Duration::from_secs(2)));
            if out.send_to(&query, to).is_ok()
                && let Ok(n) = out.recv(&mut answer)
                && up.load(Ordering::SeqCst)
            {
                let _ = back.send_to(&answer[..n], client);
            }
        });
    }
}

fn relay_tcp(listener: TcpListener, to: SocketAddr, up: &Arc<AtomicBool>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((client, _)) = listener.accept() else {
            std::thread::sleep(TICK);
            continue;
        };
        if !up.load(Ordering::SeqCst) {
            continue; // dropped: closed at once
        }
        let Ok(server) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
            continue;
        };
        let pairs = (client.try_clone(), server.try_clone());
        let (Ok(client2), Ok(server2)) = pairs else { continue };
        let _ = client.set_nonblocking(false);
        let (u1, u2) = (up.clone(), up.clone());
        std::thread::spawn(move || copy_while_up(client, server, &u1));
        std::thread::spawn(move || copy_while_up(server2, client2, &u2));
    }
}

/// Copies `from` to `to` until end of file or the link is cut; then shuts
/// both down.
fn copy_while_up(mut from: TcpStream, mut to: TcpStream, up: &AtomicBool) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = [0u8; 16384];
    while up.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
