//! The fleet view (on a hub): for every zone with downstream nodes (its
//! `notify` targets, or `[fleet] nodes` when set), the serial each node
//! serves now, asked by a SOA query over UDP to the node's own address.
//!
//! This module owns the poller task ([`poller`]) and its handle, [`Fleet`]:
//!
//! - **When.** A zone is polled as soon as the hub serves a new version
//!   of it (the NOTIFY round starts at the same moment), then again
//!   [`FAST`] later, doubling, while any node is behind or unreachable,
//!   and every `fleet.poll` once all are in sync. A waiting API call
//!   (`?serial=N&wait=`) asks for a poll now and then.
//! - **Pacing.** Every query takes a token from a bucket filled at
//!   `fleet.rate` a second; at most [`MAX_IN_FLIGHT`] wait for answers;
//!   each waits [`QUERY_TIMEOUT`]. Zones that changed go before routine
//!   polls. A zone is asked again only once all its answers are in.
//! - **State** ([`state`]): per zone and node, the serial served, since
//!   when behind, the last answer, unreachable. The API, the status page
//!   and the metrics read views of it.
//! - **Failed zones** ([`Fleet::failed_zones`]): a node that answers a
//!   zone with an error (SERVFAIL: expired there) is `failed`, not behind.
//!   A zone failed on every node failed upstream (one customer's primaries,
//!   the hub's own copy); zones failed on one node while the others serve
//!   them point at that node (cut off from the hub). `GET /fleet` and the
//!   status page list them, failed everywhere first.
//!
//! Layering: above `axfr` (it uses the SOA query of [`crate::axfr::client`]
//! and the NOTIFY targets of [`crate::axfr::notify_out`]), below `mgmt`.

pub mod poller;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::axfr::notify_out::Targets;
use crate::config::FleetConfig;
use crate::zone::Store;
pub use state::{FailedZone, Laggard, NodeSummary, ZoneFleetView};

/// The first re-poll after a poll that found a node behind; doubles up to
/// `fleet.poll`.
pub const FAST: Duration = Duration::from_millis(50);
/// Queries waiting for an answer at once.
pub const MAX_IN_FLIGHT: usize = 256;
/// How long a node's answer is waited for.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// The shortest wait for a serial: one poll (the answers a call trusts are
/// the ones to queries sent after it began).
pub const MIN_WAIT: Duration = Duration::from_millis(1500);
/// The longest `?wait=` accepted.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// API calls waiting at once; more are refused.
pub const MAX_WAITERS: usize = 1024;
/// Nodes given a label of their own in `/metrics`.
pub const MAX_METRIC_NODES: usize = 256;
/// Zones failed on some node listed by `GET /fleet` and the status page
/// (the count says how many there are in all).
pub const MAX_FAILED_ZONES: usize = 100;

/// Handle to the fleet poller; cheap to clone. The task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Fleet {
    shared: Arc<Shared>,
    targets: Arc<watch::Sender<poller::Table>>,
    settings: Arc<watch::Sender<FleetConfig>>,
    wake: mpsc::Sender<Box<[u8]>>,
}

struct Shared {
    zones: Mutex<state::Zones>,
    /// Bumped after every answer recorded.
    changed: watch::Sender<u64>,
    waiters: Semaphore,
    counters: poller::Counters,
}

/// Why a wait could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// No zone of that name has nodes to ask.
    UnknownZone,
    /// [`MAX_WAITERS`] calls are already waiting.
    Busy,
}

impl Fleet {
    /// Starts the poller, following `store`. Call it inside the runtime.
    pub fn spawn(store: Store, config: &FleetConfig) -> Fleet {
        let (targets_tx, targets_rx) = watch::channel(Arc::new(HashMap::new()));
        let (settings_tx, settings_rx) = watch::channel(config.clone());
        let (wake_tx, wake_rx) = mpsc::channel(1024);
        let shared = Arc::new(Shared {
            zones: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
            waiters: Semaphore::new(MAX_WAITERS),
            counters: poller::Counters::default(),
        });
        let task = poller::Task::new(store, shared.clone(), config);
        tokio::spawn(task.run(targets_rx, settings_rx, wake_rx));
        Fleet {
            shared,
            targets: Arc::new(targets_tx),
            settings: Arc::new(settings_tx),
            wake: wake_tx,
        }
    }

    /// Replaces the NOTIFY targets (by lowercase wire apex), which are the
    /// nodes of each zone unless `fleet.nodes` is set.
    pub fn set_targets(&self, table: HashMap<Box<[u8]>, Targets>) {
        self.targets.send_replace(Arc::new(table));
    }

    /// Applies a reloaded `[fleet]`.
    pub fn set_config(&self, config: &FleetConfig) {
        self.settings.send_if_modified(|c| {
            let changed = c != config;
            *c = config.clone();
            changed
        });
    }

    /// The poller's counters.
    pub fn counters(&self) -> &poller::Counters {
        &self.shared.counters
    }

    /// Every node over all zones, in address order.
    pub fn nodes(&self) -> Vec<NodeSummary> {
        let zones = lock(&self.shared.zones);
        state::summarize(zones.values(), SystemTime::now())
    }

    /// The zones failed on at least one node, failed everywhere first (at
    /// most [`MAX_FAILED_ZONES`]), and how many there are in all.
    pub fn failed_zones(&self) -> (Vec<FailedZone>, usize) {
        state::failed_zones(&lock(&self.shared.zones), MAX_FAILED_ZONES)
    }

    /// How many zones are failed on every node, and on some nodes only.
    pub fn count_failed(&self) -> (usize, usize) {
        state::count_failed(&lock(&self.shared.zones))
    }

    /// The nodes of the zone at `apex` (lowercase wire); `None` when it has
    /// none to ask.
    pub fn zone(&self, apex: &[u8]) -> Option<ZoneFleetView> {
        lock(&self.shared.zones)
            .get(apex)
            .map(|z| z.view(apex, SystemTime::now()))
    }

    /// Waits at most `wait` (capped at [`MAX_WAIT`]) until every node of
    /// the zone at `apex` has answered `serial` or newer to a SOA query
    /// sent after the call began (a poll is asked for at once, so a node
    /// killed since the last poll is not taken for one that serves it):
    /// `Ok` with the view then, `Err` with the view and its laggards when
    /// the time is up.
    pub async fn wait(
        &self,
        apex: &[u8],
        serial: u32,
        wait: Duration,
    ) -> Result<Result<ZoneFleetView, ZoneFleetView>, WaitError> {
        let _permit = self.shared.waiters.try_acquire().map_err(|_| WaitError::Busy)?;
        // At least one poll of the nodes, however short the wait.
        let deadline = tokio::time::Instant::now() + wait.clamp(MIN_WAIT, MAX_WAIT);
        let since = SystemTime::now();
        let mut changed = self.shared.changed.subscribe();
        let mut next_wake = tokio::time::Instant::now();
        loop {
            let (view, laggards) = {
                let zones = lock(&self.shared.zones);
                let z = zones.get(apex).ok_or(WaitError::UnknownZone)?;
                (z.view(apex, SystemTime::now()), z.laggards(serial, since))
            };
            let done = laggards.is_empty();
            let mut view = view;
            view.wanted = Some(serial);
            view.laggards = Some(laggards);
            if done {
                return Ok(Ok(view));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Err(view));
            }
            if now >= next_wake {
                // A poll now (the poller ignores it while one is running).
                let _ = self.wake.try_send(apex.into());
                next_wake = now + Duration::from_secs(1);
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(deadline.min(next_wake)) => {}
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
