//! BFD (RFC 5880 asynchronous mode; single-hop RFC 5881, multihop RFC
//! 5883) for the BGP speaker: a peer with `bfd = true` gets a session, and
//! BFD Down takes the BGP session down at once.
//!
//! - `packet`: the Control packet, decoding with 6.8.6's checks, encoding.
//! - `fsm`: the sans-IO session state machine (timers as actions).
//! - `io`: the tokio layer: receive sockets (ports 3784/4784, TTL checked),
//!   one transmit socket and one task per session, the demultiplexer.
//! - `replay`: drives a session from fuzz bytes (fuzz target `bfd`).
//!
//! A leaf module: it uses tokio, socket2, libc and tracing, no other
//! pharos module.

pub mod fsm;
pub mod io;
pub mod packet;
mod sock;

pub use fsm::DownCause;
pub use io::{Bfd, BfdError, BfdStatus, DropCounters, Ports, SessionConfig, SessionHandle};
pub use packet::{Diag, State};
pub mod replay;
