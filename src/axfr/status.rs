//! What each secondary zone's task last did, for the status API and the
//! metrics: the serial served, the primary it came from and how, when the
//! primaries were last asked and last answered, the last error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The state of one secondary zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneStatus {
    /// Serial of the version served (`None`: nothing yet).
    pub serial: Option<u32>,
    /// The primary that gave the version served (as `address:port`).
    pub primary: Option<String>,
    /// How that version came: "axfr", "ixfr", or "disk" after a restart.
    pub source: Option<String>,
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
}

/// Every secondary zone's status, by apex (lowercase wire format).
#[derive(Clone, Default)]
pub struct StatusMap(Arc<Mutex<HashMap<Box<[u8]>, ZoneStatus>>>);

impl StatusMap {
    pub fn get(&self, apex: &[u8]) -> Option<ZoneStatus> {
        self.lock().get(apex).cloned()
    }

    /// All zones, sorted by apex.
    pub fn all(&self) -> Vec<(Box<[u8]>, ZoneStatus)> {
        let mut v: Vec<_> = self.lock().iter().map(|(k, s)| (k.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn update(&self, apex: &[u8], f: impl FnOnce(&mut ZoneStatus)) {
        f(self.lock().entry(apex.into()).or_default());
    }

    /// Like [`StatusMap::update`], but only for a zone still listed (a
    /// removed zone's late results are dropped).
    pub fn update_existing(&self, apex: &[u8], f: impl FnOnce(&mut ZoneStatus)) {
        if let Some(s) = self.lock().get_mut(apex) {
            f(s);
        }
    }

    pub fn remove(&self, apex: &[u8]) {
        self.lock().remove(apex);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, ZoneStatus>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
