//! Connection limits for the HTTP listeners. The identity endpoint is asked
//! over the anycast address, so anyone on the internet can open
//! connections to it: without a cap, a few thousand idle or slow clients
//! would take the file descriptors DNS over TCP and zone transfers need.
//!
//! Each listener holds at most `max` connections (beyond that, new ones
//! wait in the kernel's accept queue), and each connection lives at most
//! `lifetime`: past it, its next read or write fails and the connection is
//! closed, however slowly the client sends.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tracing::warn;

/// What a listener allows.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max: usize,
    /// How long one connection may stay open.
    pub lifetime: Duration,
}

/// The identity endpoint: public, one small document per connection.
pub const IDENTITY: Limits = Limits {
    max: 256,
    lifetime: Duration::from_secs(10),
};

/// The management API: operators, scripts, Prometheus and the status page.
pub const MGMT: Limits = Limits {
    max: 64,
    lifetime: Duration::from_secs(300),
};

/// A listener that keeps to [`Limits`].
pub struct Limited {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    lifetime: Duration,
}

impl Limited {
    pub fn new(listener: TcpListener, limits: Limits) -> Limited {
        Limited {
            listener,
            permits: Arc::new(Semaphore::new(limits.max.max(1))),
            lifetime: limits.lifetime,
        }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        // Only once a slot is free is the next connection taken off the
        // accept queue.
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => std::future::pending().await,
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        stream,
                        _permit: permit,
                        deadline: Box::pin(tokio::time::sleep(self.lifetime)),
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
    _permit: OwnedSemaphorePermit,
    deadline: Pin<Box<Sleep>>,
}

impl Connection {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn lifetime_over() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection open longer than its lifetime")
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
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
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn limited(limits: Limits) -> (Limited, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (Limited::new(l, limits), addr)
    }

    #[tokio::test]
    async fn a_connection_waits_for_a_free_slot() {
        use axum::serve::Listener;
        let (mut l, addr) = limited(Limits {
            max: 1,
            lifetime: Duration::from_secs(60),
        })
        .await;
        let _a = TcpStream::connect(addr).await.unwrap();
        let (first, _) = l.accept().await;
        let _b = TcpStream::connect(addr).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
        assert!(
            second.is_err(),
            "a second connection was taken while the first was open"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), l.accept()).await;
        assert!(second.is_ok(), "the slot was not given back");
    }

    #[tokio::test]
    async fn a_connection_is_closed_after_its_lifetime() {
        use axum::serve::Listener;
        let (mut l, addr) = limited(Limits {
            max: 4,
            lifetime: Duration::from_millis(200),
        })
        .await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = l.accept().await;
        client.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
        // The client sends nothing more: the read ends at the deadline.
        let r = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await;
        match r {
            Ok(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("read did not end with the lifetime: {other:?}"),
        }
    }
}
