//! TCP listeners (RFC 7766): length-prefixed messages, pipelined queries
//! answered as they arrive, an idle timeout, and a cap on connections
//! (excess connections are closed at once rather than queued).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::server::{MAX_MESSAGE, Server, Transport};

/// TCP settings from the config.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions {
    pub max_connections: usize,
    pub idle_timeout: Duration,
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
    limit: Arc<Semaphore>,
    progress: Arc<AtomicU64>,
) -> io::Error {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return e,
    };
    loop {
        let accepted = listener.accept().await;
        progress.fetch_add(1, Ordering::Release);
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if is_transient(&e) => {
                // Counted, not logged: this can come once per connection.
                server.counters.tcp_accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return e,
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            // Over the cap: close at once.
            server.counters.tcp_over_limit.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer, &server, opts.idle_timeout).await;
            drop(permit);
        });
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

/// Serves one connection until the peer closes it or it stays idle.
async fn connection(stream: TcpStream, peer: SocketAddr, server: &Server, idle: Duration) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(4096, rd);
    let mut req = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(1024);
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let len = u16::from_be_bytes(len) as usize;
        req.resize(len, 0);
        match tokio::time::timeout(idle, rd.read_exact(&mut req)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        // AXFR/IXFR: streamed on this task, after the answers to the
        // queries before it; the queries after it wait for it to end.
        if let Ok(xfr) = crate::axfr::out::request::parse(&req) {
            server.counters.queries_tcp.fetch_add(1, Ordering::Relaxed);
            if !out.is_empty() {
                match tokio::time::timeout(idle, wr.write_all(&out)).await {
                    Ok(Ok(())) => {}
                    _ => return Ok(()),
                }
                out.clear();
            }
            let served = match server.xfr_out.runtime() {
                // On the low-priority transfer threads (axfr::out::runtime):
                // the write half goes there and comes back when it is done.
                Some(rt) => {
                    let service = server.xfr_out.clone();
                    let store = server.store().clone();
                    let payload = server.udp_payload();
                    let request = req.clone();
                    let mut half = wr;
                    let task = rt.spawn(async move {
                        let served = match crate::axfr::out::request::parse(&request) {
                            Ok(xfr) => {
                                crate::axfr::out::stream::serve(&service, &store, &xfr, peer, payload, idle, &mut half)
                                    .await
                            }
                            Err(_) => Ok(()),
                        };
                        (half, served)
                    });
                    match task.await {
                        Ok((half, served)) => {
                            wr = half;
                            served
                        }
                        Err(_) => return Ok(()),
                    }
                }
                None => {
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
            if served.is_err() {
                return Ok(());
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
                match tokio::time::timeout(idle, wr.write_all(&out)).await {
                    Ok(Ok(())) => {}
                    _ => return Ok(()),
                }
                out.clear();
            }
            if !answered {
                // A request not worth an answer ends the connection.
                return Ok(());
            }
        }
    }
}
