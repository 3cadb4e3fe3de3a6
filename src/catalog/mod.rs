//! Catalog zones (RFC 9432): a zone that lists other zones.
//!
//! This module owns the producer that writes a catalog from this node's
//! zones (a hub, [`producer`]), reading a catalog ([`mod@parse`]), the consumer's sans-IO
//! core that turns member sets into zone changes ([`consumer`]), and the
//! consumer's state file ([`state`]); [`replay`] is the fuzz harness. It sits below the front doors (dns,
//! mgmt, bgp) and above axfr and zone: it reads zone snapshots and returns
//! actions; carrying them out (adding, removing, resetting zones) is the
//! caller's job, through the runtime zone owner.

pub mod consumer;
pub mod parse;
pub mod producer;
pub mod replay;
pub mod state;

#[cfg(test)]
mod consumer_tests;
#[cfg(test)]
mod tests;

pub use consumer::{Action, Consumer, Context, Entry, MaxRemovals, Owner, Settings};
pub use parse::{CatalogError, Member, Members, Version, parse};
