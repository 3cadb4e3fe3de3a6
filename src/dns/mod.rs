//! The DNS front door: listeners, query parsing, the answer algorithm and
//! response encoding.
//!
//! `query` parses a request without allocating; `answer` runs the RFC 1034
//! algorithm against a zone snapshot and writes the reply through
//! `message::Writer`; `udp` and `tcp` move bytes. Everything between the
//! socket read and the socket write happens in [`Server::handle`], a plain
//! function of (request bytes, transport) that the fuzz target calls too.

#[cfg(target_os = "linux")]
pub mod affinity;
pub mod answer;
mod edge;
pub mod message;
pub mod notify;
pub mod query;
pub mod rrl;
pub mod server;
pub mod stats;
pub mod tcp;
pub mod udp;
mod xfr;

pub use server::{Server, ServerOptions, Transport};
