//! Connection limits for the HTTP listeners. The identity endpoint is asked
//! over the anycast address, so anyone on the internet can open
//! connections to it; the management API serves operators and Prometheus,
//! who must get through while someone holds sockets open. Without limits a
//! few idle or slow clients would lock them out, and a few thousand would
//! take the file descriptors DNS over TCP and zone transfers need.
//!
//! Each listener has a connection table (`crate::conntable`) of `max`
//! slots. A connection is idle from its opening or the end of its last
//! answer until its next request has been read whole, head and body, and
//! busy while the handler runs. At the cap a new client takes the slot of
//! the connection idle longest. An idle connection is closed after `idle`
//! (a keep-alive wait, a header line every few seconds and a trickled body
//! all count as idle), less as the table fills: 1 s at 90 %. No connection
//! lives longer than `lifetime`: past it, its next read or write fails.
//! Closures are counted in [`Stats`] (`/metrics`), never logged one by one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tracing::warn;

use crate::conntable::{self, Closed, Expired, Slot, Table};

/// What a listener allows.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max: usize,
    /// Idle time allowed (see the module doc) while at most half full.
    pub idle: Duration,
    /// How long one connection may stay open.
    pub lifetime: Duration,
}

/// The identity endpoint: public, one small document per connection.
pub const IDENTITY: Limits = Limits {
    max: 256,
    idle: Duration::from_secs(5),
    lifetime: Duration::from_secs(10),
};

/// The management API (`mgmt.max-connections`): operators, scripts,
/// Prometheus and the status page.
pub fn mgmt(max: usize) -> Limits {
    Limits {
        max,
        idle: Duration::from_secs(30),
        lifetime: Duration::from_secs(300),
    }
}

/// How a listener's connections ended early, for `/metrics`.
#[derive(Default)]
pub struct Stats {
    /// Open now.
    pub open: AtomicUsize,
    /// Closed to make room for a new connection (the idle-longest).
    pub evicted: AtomicU64,
    /// Closed after their idle time.
    pub idle_timeouts: AtomicU64,
    /// Closed at the end of their lifetime.
    pub lifetime_ends: AtomicU64,
    /// Refused at once: every connection was busy.
    pub over_limit: AtomicU64,
}

/// A listener that keeps to [`Limits`].
pub struct Limited {
    listener: TcpListener,
    table: Arc<Table>,
    stats: Arc<Stats>,
    lifetime: Duration,
}

impl Limited {
    pub fn new(listener: TcpListener, limits: Limits, stats: Arc<Stats>) -> Limited {
        Limited {
            listener,
            table: Table::new(conntable::Limits {
                max: limits.max,
                idle: limits.idle,
                lifetime: limits.lifetime,
                floor: conntable::Limits::default_floor(limits.idle),
            }),
            stats,
            lifetime: limits.lifetime,
        }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let admitted = match self.table.admit() {
                        Ok(a) => a,
                        Err(_) => {
                            self.stats.over_limit.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    if admitted.evicted {
                        self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                    self.stats
                        .idle_timeouts
                        .fetch_add(admitted.expired as u64, Ordering::Relaxed);
                    self.stats.open.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        stream,
                        slot: Arc::new(admitted.slot),
                        stats: self.stats.clone(),
                        lifetime: Box::pin(tokio::time::sleep(self.lifetime)),
                        idle: Box::pin(tokio::time::sleep(self.lifetime)),
                        idle_at: None,
                        ended: false,
                    };
                    return (connection, addr);
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    // Out of descriptors or memory: wait rather than spin.
                    warn!("HTTP accept failed: {e}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Errors that concern one connection only, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection: its slot is given back when it is dropped.
pub struct Connection {
    stream: TcpStream,
    slot: Arc<Slot>,
    stats: Arc<Stats>,
    lifetime: Pin<Box<Sleep>>,
    /// Armed at the slot's deadline while idle.
    idle: Pin<Box<Sleep>>,
    idle_at: Option<Instant>,
    /// An end was counted already.
    ended: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    /// The error every read and write gets once the connection must end;
    /// counts the end the first time.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let end = if self.lifetime.as_mut().poll(cx).is_ready() {
            Some((
                Some(&self.stats.lifetime_ends),
                "connection open longer than its lifetime",
            ))
        } else if let Poll::Ready(why) = self.slot.poll_closed(cx) {
            // Counted at the admission that closed it.
            Some((
                None,
                match why {
                    Closed::Evicted => "connection closed to make room for a new one",
                    Closed::IdleTimeout => "connection idle too long",
                },
            ))
        } else if let Some((at, why)) = self.slot.deadline() {
            if self.idle_at != Some(at) {
                self.idle.as_mut().reset(at.into());
                self.idle_at = Some(at);
            }
            if self.idle.as_mut().poll(cx).is_ready() {
                Some(match why {
                    Expired::Idle => (Some(&self.stats.idle_timeouts), "connection idle too long"),
                    Expired::Lifetime => (
                        Some(&self.stats.lifetime_ends),
                        "connection open longer than its lifetime",
                    ),
                })
            } else {
                None
            }
        } else {
            None
        };
        let Some((counter, text)) = end else {
            return Ok(());
        };
        if !self.ended {
            self.ended = true;
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, text))
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The connection's slot, handed to [`track`] with each request.
#[derive(Clone)]
pub struct Tracked(Arc<Slot>);

impl Connected<IncomingStream<'_, Limited>> for Tracked {
    fn connect_info(stream: IncomingStream<'_, Limited>) -> Self {
        Tracked(stream.io().slot.clone())
    }
}

/// Middleware: the connection is busy from the end of the request's body
/// until the answer is ready, idle otherwise.
pub async fn track(req: Request, next: Next) -> Response {
    let Some(ConnectInfo(Tracked(slot))) = req.extensions().get::<ConnectInfo<Tracked>>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let body = if body.is_end_stream() {
        slot.busy();
        body
    } else {
        Body::new(TrackedBody {
            inner: body,
            slot: slot.clone(),
            done: false,
        })
    };
    let _idle = IdleAfter(slot);
    next.run(Request::from_parts(parts, body)).await
}

/// Marks the connection idle when the answer is ready (or the handler
/// was dropped).
struct IdleAfter(Arc<Slot>);

impl Drop for IdleAfter {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// A request body that marks its connection busy once read whole.
struct TrackedBody {
    inner: Body,
    slot: Arc<Slot>,
    done: bool,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = matches!(r, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) || self.inner.is_end_stream();
        if ended && !self.done {
            self.done = true;
            self.slot.busy();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn limited(limits: Limits) -> (Limited, SocketAddr, Arc<Stats>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        (Limited::new(l, limits, stats.clone()), addr, stats)
    }

    async fn read_err(conn: &mut Connection) -> io::Error {
        let mut buf = [0u8; 8];
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
            Ok(Err(e)) => e,
            other => panic!("the read did not fail: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_new_connection_takes_the_slot_of_the_idle_longest() {
        use axum::serve::Listener;
        let (mut l, addr, stats) = limited(Limits {
            max: 2,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(60),
        })
        .await;
        let _a = TcpStream::connect(addr).await.unwrap();
        let (mut first, _) = l.accept().await;
        let _b = TcpStream::connect(addr).await.unwrap();
        let (second, _) = l.accept().await;
        // The second is busy (a request being answered): not taken.
        second.slot.busy();
        let _c = TcpStream::connect(addr).await.unwrap();
        let (_third, _) = tokio::time::timeout(Duration::from_secs(5), l.accept())
            .await
            .expect("a new connection waited for a slot");
        assert_eq!(read_err(&mut first).await.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(second.slot.closed_now(), None);
        drop(first);
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_connection_is_closed_after_its_lifetime() {
        use axum::serve::Listener;
        let (mut l, addr, stats) = limited(Limits {
            max: 4,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_millis(200),
        })
        .await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = l.accept().await;
        client.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
        // The client sends nothing more: the read ends at the deadline.
        assert_eq!(read_err(&mut conn).await.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stats.lifetime_ends.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_but_not_a_busy_one() {
        use axum::serve::Listener;
        let (mut l, addr, stats) = limited(Limits {
            max: 100,
            idle: Duration::from_millis(200),
            lifetime: Duration::from_secs(60),
        })
        .await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut idle, _) = l.accept().await;
        // A byte now and then does not keep it open: only a whole request does.
        client.write_all(b"G").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(idle.read(&mut buf).await.unwrap(), 1);
        assert_eq!(read_err(&mut idle).await.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stats.idle_timeouts.load(Ordering::Relaxed), 1);

        let _client = TcpStream::connect(addr).await.unwrap();
        let (mut busy, _) = l.accept().await;
        busy.slot.busy();
        let r = tokio::time::timeout(Duration::from_millis(600), busy.read(&mut buf)).await;
        assert!(r.is_err(), "a busy connection was closed: {r:?}");
    }
}
