//! The secondary engine's counters, read by the metrics at scrape time:
//! transfers by kind and result with a duration histogram and the bytes
//! received, transfers aborted at a bound, versions that could not be
//! written, primaries behind or contradicting themselves, and NOTIFYs
//! accepted (refused ones are counted by `dns`, which refuses them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use super::transfer::Bound;

/// Upper bounds of the transfer-duration buckets, in milliseconds (the
/// last bucket, past them, is `+Inf`).
pub const DURATION_BOUNDS_MS: [u64; 11] = [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 120_000];
const BUCKETS: usize = DURATION_BOUNDS_MS.len() + 1;

/// A transfer kind as counted: what was asked for when it failed, what was
/// delivered when it succeeded (an IXFR answered with the whole zone counts
/// as an AXFR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Axfr,
    Ixfr,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Axfr, Kind::Ixfr];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Axfr => "axfr",
            Kind::Ixfr => "ixfr",
        }
    }
}

/// Transfers of one kind with one result.
#[derive(Default, Debug)]
pub struct TransferStats {
    /// Per bucket, not cumulative: `DURATION_BOUNDS_MS` then `+Inf`.
    buckets: [AtomicU64; BUCKETS],
    micros: AtomicU64,
    /// Message bytes received (successful transfers only: a failed one
    /// reports no size).
    bytes: AtomicU64,
}

impl TransferStats {
    fn record(&self, took: Duration, bytes: u64) {
        let ms = took.as_millis().min(u128::from(u64::MAX)) as u64;
        let i = DURATION_BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.micros.fetch_add(us, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// How many transfers.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Total time spent in them.
    pub fn duration_sum(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// `(upper bound in seconds, count in that bucket)` pairs, not
    /// cumulative, the last bound `+Inf`.
    pub fn pairs(&self) -> Vec<(f64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let bound = DURATION_BOUNDS_MS.get(i).map_or(f64::INFINITY, |&ms| ms as f64 / 1e3);
                (bound, b.load(Ordering::Relaxed))
            })
            .collect()
    }
}

/// Every counter of the engine.
#[derive(Default, Debug)]
pub struct Counters {
    /// `[kind][0 = ok, 1 = failed]`, kinds in [`Kind::ALL`] order.
    transfers: [[TransferStats; 2]; 2],
    pub notify_accepted: AtomicU64,
    /// Transfers aborted at a bound, in [`Bound::ALL`] order.
    aborted: [AtomicU64; 3],
    /// New versions that could not be written to disk (and so were not
    /// served).
    pub persist_failures: AtomicU64,
    /// Timers files (and NOTIFY markers) that could not be written.
    pub timers_failures: AtomicU64,
    /// SOA answers older than the version served.
    pub primary_behind: AtomicU64,
    /// Transfers older than the SOA the same primary had just announced.
    pub primary_contradicts: AtomicU64,
}

impl Counters {
    /// Records a transfer that ended after `took`.
    pub fn transfer(&self, kind: Kind, ok: bool, took: Duration, bytes: u64) {
        self.stats(kind, ok).record(took, bytes);
    }

    /// Records a transfer aborted at `bound`.
    pub fn aborted(&self, bound: Bound) {
        self.aborted[bound as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Transfers aborted at `bound` so far.
    pub fn aborted_at(&self, bound: Bound) -> u64 {
        self.aborted[bound as usize].load(Ordering::Relaxed)
    }

    /// The transfers of `kind` that succeeded (`ok`) or failed.
    pub fn stats(&self, kind: Kind, ok: bool) -> &TransferStats {
        &self.transfers[kind as usize][usize::from(!ok)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_sums() {
        let c = Counters::default();
        c.transfer(Kind::Ixfr, true, Duration::from_millis(3), 100);
        c.transfer(Kind::Ixfr, true, Duration::from_millis(700), 50);
        c.transfer(Kind::Axfr, false, Duration::from_secs(600), 0);
        let ixfr = c.stats(Kind::Ixfr, true);
        assert_eq!(ixfr.count(), 2);
        assert_eq!(ixfr.bytes(), 150);
        assert_eq!(ixfr.duration_sum(), Duration::from_millis(703));
        let pairs = ixfr.pairs();
        assert_eq!(pairs[0], (0.01, 1));
        assert_eq!(pairs[4], (0.5, 0));
        assert_eq!(pairs[5], (1.0, 1));
        assert_eq!(
            c.stats(Kind::Axfr, false).pairs().last().copied(),
            Some((f64::INFINITY, 1))
        );
        assert_eq!(c.stats(Kind::Axfr, false).pairs()[10].1, 0);
        assert_eq!(c.stats(Kind::Axfr, true).count(), 0);
    }
}
