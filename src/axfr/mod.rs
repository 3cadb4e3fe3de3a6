//! Secondary engine: NOTIFY in, SOA timers, AXFR/IXFR client, TSIG,
//! multi-primary, transfers out + NOTIFY out (hub role), catalog zones.

pub mod client;
pub mod engine;
pub mod refresh;
pub mod slots;
pub mod stats;
pub mod status;
pub mod transfer;
pub mod tsig;
mod version;
