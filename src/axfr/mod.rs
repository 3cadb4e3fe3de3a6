//! Secondary engine: NOTIFY in, SOA timers, AXFR/IXFR client,
//! multi-primary, fair slots; later transfers out + NOTIFY out (hub role)
//! and catalog zones. TSIG lives below it, in `crate::tsig`.

pub mod client;
pub mod engine;
pub mod out;
pub mod refresh;
pub mod slots;
pub mod stats;
pub mod status;
mod table;
pub mod transfer;
mod version;
