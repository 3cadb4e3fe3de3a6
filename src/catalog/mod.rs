//! Catalog zones (RFC 9432): the producer writes a catalog from this
//! node's zones (a hub).

pub mod producer;
