//! TCP listeners (RFC 7766): length-prefixed messages, pipelined queries
//! answered as they arrive, and a connection table (`crate::conntable`)
//! shared by every TCP listener: at `dns.tcp-max-connections` a new client
//! takes the slot of the connection idle longest (one streaming a zone
//! transfer is busy, never taken); the idle time between queries
//! (`dns.tcp-idle-timeout`) and the lifetime (`dns.tcp-max-lifetime`) shrink
//! as the table fills, down to a second of idle time, so that clients
//! sending a query every few seconds cannot hold the slots. A connection
//! holds no buffers until it sends something. Closures are counted
//! (`Counters::tcp_*`), never logged one by one.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::server::{MAX_MESSAGE, Server, Transport};
use crate::conntable::{Expired, Limits, Slot, Table};

/// TCP settings from the config.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub lifetime: Duration,
}

impl TcpOptions {
    /// The connection table these settings make (one for every listener).
    pub fn table(&self) -> Arc<Table> {
        Table::new(Limits {
            max: self.max_connections,
            idle: self.idle_timeout,
            lifetime: self.lifetime,
            floor: Limits::default_floor(self.idle_timeout),
        })
    }
}

/// Binds a listening socket (before the runtime starts serving).
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_tcp_nodelay(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Accepts connections until the listener fails; returns that error.
/// Adds 1 to `progress` per accept (health watches it).
pub async fn serve(
    listener: std::net::TcpListener,
    server: Arc<Server>,
    opts: TcpOptions,
    table: Arc<Table>,
    progress: Arc<AtomicU64>,
) -> io::Error {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let c = &server.counters;
    loop {
        let accepted = listener.accept().await;
        progress.fetch_add(1, Ordering::Release);
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if is_transient(&e) => {
                // Counted, not logged: this can come once per connection.
                c.tcp_accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return e,
        };
        let admitted = match table.admit() {
            Ok(a) => a,
            Err(_) => {
                // Every connection busy (transfers streaming): close at once.
                c.tcp_over_limit.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            }
        };
        if admitted.evicted {
            c.tcp_evicted.fetch_add(1, Ordering::Relaxed);
        }
        if admitted.expired > 0 {
            c.tcp_idle_timeouts
                .fetch_add(admitted.expired as u64, Ordering::Relaxed);
        }
        c.tcp_open.fetch_add(1, Ordering::Relaxed);
        let server = server.clone();
        let slot = admitted.slot;
        tokio::spawn(async move {
            let end = connection(stream, peer, &server, &slot, opts.idle_timeout).await;
            let c = &server.counters;
            match end {
                End::Expired(Expired::Idle) => c.tcp_idle_timeouts.fetch_add(1, Ordering::Relaxed),
                End::Expired(Expired::Lifetime) => c.tcp_lifetime_ends.fetch_add(1, Ordering::Relaxed),
                // Closed by the table (counted at the admission) or by the peer.
                End::Table | End::Done => 0,
            };
            drop(slot);
            c.tcp_open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// How a connection ended.
enum End {
    /// The peer closed it, an error, or a request not worth an answer.
    Done,
    /// Idle or lifetime past.
    Expired(Expired),
    /// Closed by the table (evicted, or swept idle).
    Table,
}

/// Runs `f` until it ends, the connection's deadline passes (measured from
/// its last request, so a request trickled in byte by byte gains nothing)
/// or the table closes the connection.
async fn idle_wait<F: Future>(slot: &Slot, f: F) -> Result<F::Output, End> {
    let Some((at, why)) = slot.deadline() else {
        // Not called while busy; be safe and wait on the table alone.
        return tokio::select! {
            r = f => Ok(r),
            _ = slot.closed() => Err(End::Table),
        };
    };
    tokio::select! {
        biased;
        _ = slot.closed() => Err(End::Table),
        r = f => Ok(r),
        _ = tokio::time::sleep_until(at.into()) => Err(End::Expired(why)),
    }
}

/// Writes `out`, within `io_timeout`, unless the table closes the connection.
async fn write_out<W: AsyncWriteExt + Unpin>(
    slot: &Slot,
    wr: &mut W,
    out: &[u8],
    io_timeout: Duration,
) -> Result<(), End> {
    tokio::select! {
        biased;
        _ = slot.closed() => Err(End::Table),
        r = tokio::time::timeout(io_timeout, wr.write_all(out)) => match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Done),
        },
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EINTR)
    ) || e.kind() == io::ErrorKind::ConnectionAborted
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_MESSAGE]);
}

/// Serves one connection until the peer closes it, it stays idle, or the
/// table closes it.
async fn connection(stream: TcpStream, peer: SocketAddr, server: &Server, slot: &Slot, io_timeout: Duration) -> End {
    // Nothing is allocated until the client sends something (a peek: a
    // new socket may report itself readable with nothing to read).
    let mut first = [0u8; 1];
    match idle_wait(slot, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return End::Done,
        Err(end) => return end,
    }
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(4096, rd);
    let mut req = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(1024);
    loop {
        // Closed by the table, or past its lifetime (or idle time): no
        // further request is read, even one already buffered.
        if slot.closed_now().is_some() {
            return End::Table;
        }
        if let Some(why) = slot.expired(Instant::now()) {
            return End::Expired(why);
        }
        let mut len = [0u8; 2];
        match idle_wait(slot, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return End::Done,
            Err(end) => return end,
        }
        let len = u16::from_be_bytes(len) as usize;
        req.resize(len, 0);
        match idle_wait(slot, rd.read_exact(&mut req)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return End::Done,
            Err(end) => return end,
        }
        slot.active();
        // AXFR/IXFR: streamed on this task, after the answers to the
        // queries before it; the queries after it wait for it to end.
        if crate::axfr::out::request::parse(&req).is_ok() {
            server.counters.queries_tcp.fetch_add(1, Ordering::Relaxed);
            if !out.is_empty() {
                if let Err(end) = write_out(slot, &mut wr, &out, io_timeout).await {
                    return end;
                }
                out.clear();
            }
            // Busy while it streams: neither evicted nor timed out.
            slot.busy();
            let served = Box::pin(transfer(server, &req, peer, io_timeout, wr)).await;
            slot.idle();
            match served {
                Some(half) => wr = half,
                None => return End::Done,
            }
            continue;
        }
        let answered = SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let n = match catch_unwind(AssertUnwindSafe(|| {
                server.handle_from(&req, Transport::Tcp, Some(peer), &mut s)
            })) {
                Ok(n) => n,
                Err(_) => {
                    server.counters.panics.fetch_add(1, Ordering::Relaxed);
                    0
                }
            };
            if n > 0 {
                out.extend_from_slice(&(n as u16).to_be_bytes());
                out.extend_from_slice(&s[..n]);
            }
            n > 0
        });
        // Pipelining: flush once no further request is already buffered.
        if !answered || rd.buffer().len() < 2 || out.len() > 32 * 1024 {
            if !out.is_empty() {
                if let Err(end) = write_out(slot, &mut wr, &out, io_timeout).await {
                    return end;
                }
                out.clear();
            }
            if !answered {
                // A request not worth an answer ends the connection.
                return End::Done;
            }
        }
    }
}

/// Streams one zone transfer (or its refusal) to the write half, which
/// comes back unless the connection must end.
async fn transfer(
    server: &Server,
    req: &[u8],
    peer: SocketAddr,
    idle: Duration,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
) -> Option<tokio::net::tcp::OwnedWriteHalf> {
    let served = match server.xfr_out.runtime() {
        // On the low-priority transfer threads (axfr::out::runtime):
        // the write half goes there and comes back when it is done.
        Some(rt) => {
            let service = server.xfr_out.clone();
            let store = server.store().clone();
            let payload = server.udp_payload();
            let request = req.to_vec();
            let task = rt.spawn(async move {
                let served = match crate::axfr::out::request::parse(&request) {
                    Ok(xfr) => {
                        crate::axfr::out::stream::serve(&service, &store, &xfr, peer, payload, idle, &mut wr).await
                    }
                    Err(_) => Ok(()),
                };
                (wr, served)
            });
            match task.await {
                Ok((half, served)) => {
                    wr = half;
                    served
                }
                Err(_) => return None,
            }
        }
        None => {
            let Ok(xfr) = crate::axfr::out::request::parse(req) else {
                return Some(wr);
            };
            crate::axfr::out::stream::serve(
                &server.xfr_out,
                server.store(),
                &xfr,
                peer,
                server.udp_payload(),
                idle,
                &mut wr,
            )
            .await
        }
    };
    served.ok().map(|()| wr)
}
