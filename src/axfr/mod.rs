//! Secondary engine: NOTIFY in, SOA timers, AXFR/IXFR client,
//! multi-primary, fair slots; NOTIFY out (`notify_out`); later transfers
//! out (hub role) and catalog zones. TSIG lives below it, in `crate::tsig`.

pub mod client;
mod commit;
pub mod engine;
pub mod notify_out;
pub mod out;
pub mod refresh;
pub mod slots;
pub mod stats;
pub mod status;
mod table;
pub mod transfer;
mod version;
