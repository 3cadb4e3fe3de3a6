//! What each secondary zone last did, for the status API and the metrics:
//! the serial served, the primary it came from and how, when the primaries
//! were last asked and last answered, the last error. The engine keeps one
//! per zone in its table ([`super::engine::Engine::status`]).

/// The state of one secondary zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneStatus {
    /// Serial of the version served (`None`: nothing yet).
    pub serial: Option<u32>,
    /// The primary that gave the version served (as `address:port`).
    pub primary: Option<String>,
    /// How that version came: "axfr", "ixfr", or "disk" after a restart.
    pub source: Option<&'static str>,
    /// Last transfer that gave a new version (unix seconds).
    pub last_transfer_unix: Option<u64>,
    /// That transfer's size (message bytes) and duration (milliseconds).
    pub last_transfer_bytes: Option<u64>,
    pub last_transfer_ms: Option<u64>,
    /// Last time a primary confirmed the version or gave a new one.
    pub last_success_unix: Option<u64>,
    /// Last failure (SOA query or transfer), with the primary.
    pub last_error: Option<String>,
    /// Past SOA expire: answering SERVFAIL.
    pub expired: bool,
    /// A round of asking every primary ended without a version, at least
    /// once (a zone with no version is then failed, not still loading).
    pub round_failed: bool,
    /// The last round that failed heard from no primary (no answer, no
    /// connection) or failed on our disk: the node's failure. False when a
    /// primary answered, even with an error (its own copy expired, REFUSED).
    pub primaries_silent: bool,
    /// A newer version came but could not be written to disk, so it is
    /// not served (the error; cleared once a version is written).
    pub persist_error: Option<String>,
}
