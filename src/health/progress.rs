//! The listener workers' progress, as health sees it: a registry
//! ([`Workers`]) of one counter per UDP worker thread and per TCP accept
//! loop, each beside a duplicate of the worker's socket so that its queue
//! can be read: datagrams waiting in a UDP socket's receive buffer, and
//! connections waiting in a TCP listener's accept queue.
//!
//! A worker only adds 1 to its [`Progress`] counter, once per turn of its
//! loop (a UDP worker also on each wake-up of its read timeout; an accept
//! loop once per accept). The supervisor registers the sockets and hands
//! the counters to `dns` as plain `Arc<AtomicU64>`s: `dns` does not depend
//! on `health`. What a sample means (stuck or not) is decided in `stuck`.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One worker's progress counter: +1 per turn of its loop.
pub type Progress = Arc<AtomicU64>;

/// What a worker does, and so what its queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A UDP worker thread: its socket's receive buffer (bytes).
    Udp,
    /// A TCP accept loop: its listener's accept queue (connections).
    TcpAccept,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Udp => "udp",
            Kind::TcpAccept => "tcp-accept",
        }
    }
}

struct Entry {
    name: String,
    kind: Kind,
    listen: SocketAddr,
    progress: Progress,
    /// A duplicate of the worker's socket (same socket, another fd).
    #[cfg(unix)]
    socket: std::os::fd::OwnedFd,
    stuck: AtomicBool,
}

/// One worker as `/metrics` shows it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// `udp-0` (the thread's name), `tcp-0`.
    pub name: String,
    pub kind: Kind,
    pub listen: SocketAddr,
    /// Turns of the worker's loop so far.
    pub progress: u64,
    /// Whether health counts it stuck now.
    pub stuck: bool,
}

/// One reading of a worker: its counter and what waits in its queue (0:
/// nothing, or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub progress: u64,
    pub waiting: u64,
}

/// Every registered worker, in registration order.
#[derive(Default)]
pub struct Workers {
    entries: Mutex<Vec<Arc<Entry>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("count", &self.entries().len()).finish()
    }
}

impl Workers {
    fn entries(&self) -> Vec<Arc<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn register(&self, name: String, kind: Kind, listen: SocketAddr, fd: FdSource<'_>) -> io::Result<Progress> {
        let progress = Progress::default();
        let entry = Entry {
            name,
            kind,
            listen,
            progress: progress.clone(),
            #[cfg(unix)]
            socket: fd.try_clone_to_owned()?,
            stuck: AtomicBool::new(false),
        };
        #[cfg(not(unix))]
        let _ = fd;
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(entry));
        Ok(progress)
    }

    /// Registers one UDP worker per socket, named `udp-{i}` as
    /// `dns::udp::spawn` names their threads; their counters, in order.
    pub fn udp(&self, sockets: &[UdpSocket]) -> io::Result<Vec<Progress>> {
        sockets
            .iter()
            .enumerate()
            .map(|(i, s)| self.register(format!("udp-{i}"), Kind::Udp, s.local_addr()?, fd_of(s)))
            .collect()
    }

    /// Registers one accept loop per listener, named `tcp-{i}`; their
    /// counters, in order.
    pub fn tcp<'a>(&self, listeners: impl IntoIterator<Item = &'a TcpListener>) -> io::Result<Vec<Progress>> {
        listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| self.register(format!("tcp-{i}"), Kind::TcpAccept, l.local_addr()?, fd_of(l)))
            .collect()
    }

    /// Every worker now.
    pub fn views(&self) -> Vec<WorkerView> {
        self.entries()
            .iter()
            .map(|e| WorkerView {
                name: e.name.clone(),
                kind: e.kind,
                listen: e.listen,
                progress: e.progress.load(Ordering::Relaxed),
                stuck: e.stuck.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Reads every worker's counter and queue, in registration order.
    pub(super) fn sample(&self) -> Vec<Sample> {
        self.entries()
            .iter()
            .map(|e| Sample {
                // The counter first: a datagram that arrives after it was
                // read is not mistaken for one the worker failed to take.
                progress: e.progress.load(Ordering::Acquire),
                waiting: waiting(e),
            })
            .collect()
    }

    pub(super) fn set_stuck(&self, worker: usize, stuck: bool) {
        if let Some(e) = self.entries().get(worker) {
            e.stuck.store(stuck, Ordering::Relaxed);
        }
    }

    /// "UDP worker udp-0 on 127.0.0.1:53 made no progress for 2.0 s with
    /// 12 KiB of datagrams waiting".
    pub(super) fn describe(&self, worker: usize, quiet: std::time::Duration, waiting: u64) -> String {
        let entries = self.entries();
        let Some(e) = entries.get(worker) else {
            return format!(
                "listener worker {worker} made no progress for {:.1} s",
                quiet.as_secs_f64()
            );
        };
        let (what, queue) = match e.kind {
            Kind::Udp => ("UDP worker", format!("{} of datagrams waiting", bytes(waiting))),
            Kind::TcpAccept => (
                "TCP acceptor",
                format!(
                    "{waiting} connection{} waiting to be accepted",
                    if waiting == 1 { "" } else { "s" }
                ),
            ),
        };
        format!(
            "{what} {} on {} made no progress for {:.1} s with {queue}",
            e.name,
            e.listen,
            quiet.as_secs_f64()
        )
    }

    /// `udp-0 on 127.0.0.1:53`, for the log.
    pub(super) fn label(&self, worker: usize) -> String {
        match self.entries().get(worker) {
            Some(e) => format!("{} {} on {}", e.kind.name(), e.name, e.listen),
            None => format!("listener worker {worker}"),
        }
    }
}

fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else {
        format!("{} KiB", n / 1024)
    }
}

#[cfg(unix)]
type FdSource<'a> = std::os::fd::BorrowedFd<'a>;
#[cfg(not(unix))]
type FdSource<'a> = std::marker::PhantomData<&'a ()>;

#[cfg(unix)]
fn fd_of(s: &impl std::os::fd::AsFd) -> FdSource<'_> {
    s.as_fd()
}

#[cfg(not(unix))]
fn fd_of<T>(_: &T) -> FdSource<'_> {
    std::marker::PhantomData
}

/// What waits in the worker's queue; 0 when empty or unknown (a worker
/// whose queue cannot be read is never counted stuck).
#[cfg(target_os = "linux")]
fn waiting(e: &Entry) -> u64 {
    use std::os::fd::AsRawFd;
    let fd = e.socket.as_raw_fd();
    match e.kind {
        Kind::Udp => udp_waiting(fd).unwrap_or(0),
        Kind::TcpAccept => accept_queue(fd).unwrap_or(0),
    }
}

#[cfg(not(target_os = "linux"))]
fn waiting(_: &Entry) -> u64 {
    0
}

/// `SO_MEMINFO` (asm-generic/socket.h; the libc crate has only its
/// offsets): the socket's memory use, `SK_MEMINFO_VARS` u32s.
#[cfg(target_os = "linux")]
const SO_MEMINFO: libc::c_int = 55;
#[cfg(target_os = "linux")]
const SK_MEMINFO_VARS: usize = 9;

/// Bytes held by the datagrams in a UDP socket's receive buffer
/// (`SO_MEMINFO` rmem_alloc, kernel overhead included); where that option
/// is missing, the size of the first datagram (`FIONREAD`). A zero-length
/// datagram alone counts as 1.
#[cfg(target_os = "linux")]
fn udp_waiting(fd: libc::c_int) -> io::Result<u64> {
    let mut mem = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&mem) as libc::socklen_t;
    // SAFETY: a buffer of `len` bytes for the kernel to fill, on a socket
    // fd this registry owns.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, SO_MEMINFO, mem.as_mut_ptr().cast(), &mut len) };
    if r == 0 && len as usize > libc::SK_MEMINFO_RMEM_ALLOC as usize * 4 {
        return Ok(u64::from(mem[libc::SK_MEMINFO_RMEM_ALLOC as usize]));
    }
    let mut next: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut next) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(next).unwrap_or(0))
}

/// Connections waiting in a listening TCP socket's accept queue: for a
/// socket in LISTEN, `TCP_INFO`'s `tcpi_unacked` is the accept backlog.
#[cfg(target_os = "linux")]
fn accept_queue(fd: libc::c_int) -> io::Result<u64> {
    // SAFETY: all-zero is a valid tcp_info.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: a tcp_info-sized buffer for the kernel to fill.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // TCP_LISTEN in include/net/tcp_states.h (not in the libc crate).
    const TCP_LISTEN: u8 = 10;
    if info.tcpi_state != TCP_LISTEN {
        return Ok(0);
    }
    Ok(u64::from(info.tcpi_unacked))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}: not within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn udp_queue_is_seen_on_the_duplicate_and_empties_when_read() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let workers = Workers::default();
        let progress = workers.udp(std::slice::from_ref(&sock)).expect("register the socket");
        assert_eq!(
            workers.sample(),
            [Sample {
                progress: 0,
                waiting: 0
            }]
        );
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
        let to = sock.local_addr().expect("local address");
        for _ in 0..3 {
            client.send_to(b"query", to).expect("send a datagram");
        }
        wait_for("three datagrams queued", || workers.sample()[0].waiting >= 3 * 5);
        progress[0].fetch_add(1, Ordering::Relaxed);
        sock.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("read timeout");
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            sock.recv_from(&mut buf).expect("read a datagram back");
        }
        assert_eq!(
            workers.sample(),
            [Sample {
                progress: 1,
                waiting: 0
            }]
        );
        let v = &workers.views()[0];
        assert_eq!(
            (v.name.as_str(), v.kind, v.listen, v.progress),
            ("udp-0", Kind::Udp, to, 1)
        );
    }

    #[test]
    fn accept_queue_counts_connections_not_yet_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP listener on loopback");
        let addr = listener.local_addr().expect("local address");
        let workers = Workers::default();
        workers.tcp([&listener]).expect("register the listener");
        assert_eq!(workers.sample()[0].waiting, 0);
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
            .collect();
        wait_for("three connections in the accept queue", || {
            workers.sample()[0].waiting == 3
        });
        let why = workers.describe(0, Duration::from_millis(2500), 3);
        assert_eq!(
            why,
            format!(
                "TCP acceptor tcp-0 on {addr} made no progress for 2.5 s with 3 connections waiting to be accepted"
            )
        );
        for _ in 0..3 {
            listener.accept().expect("accept");
        }
        assert_eq!(workers.sample()[0].waiting, 0);
        drop(clients);
    }

    #[test]
    fn descriptions_name_the_worker_and_its_queue() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let workers = Workers::default();
        workers.udp(&[sock]).expect("register");
        let addr = workers.views()[0].listen;
        assert_eq!(
            workers.describe(0, Duration::from_secs(3), 12 * 1024 + 100),
            format!("UDP worker udp-0 on {addr} made no progress for 3.0 s with 12 KiB of datagrams waiting")
        );
        assert_eq!(workers.label(0), format!("udp udp-0 on {addr}"));
        assert!(workers.describe(7, Duration::from_secs(1), 1).contains("worker 7"));
    }
}
