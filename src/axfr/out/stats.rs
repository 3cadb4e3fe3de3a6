//! Counters of the transfers out, read by `/metrics` at scrape time
//! (transfers by kind and result with a duration histogram, bytes sent,
//! refusals by reason), and the last transfers of each zone for
//! `GET /zones/{name}`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::request::Refusal;
use crate::axfr::stats::DURATION_BOUNDS_MS;

const BUCKETS: usize = DURATION_BOUNDS_MS.len() + 1;
/// Transfers kept per zone for `GET /zones/{name}`.
pub const RECENT: usize = 16;

/// What a transfer out sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An AXFR request, the whole zone.
    Axfr,
    /// An IXFR answered with the differences.
    Ixfr,
    /// An IXFR answered with the whole zone (no history for the serial).
    IxfrAsAxfr,
    /// An IXFR from a client already current: one SOA.
    UpToDate,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Axfr, Kind::Ixfr, Kind::IxfrAsAxfr, Kind::UpToDate];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Axfr => "axfr",
            Kind::Ixfr => "ixfr",
            Kind::IxfrAsAxfr => "ixfr-as-axfr",
            Kind::UpToDate => "up-to-date",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One transfer out, as `GET /zones/{name}` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Recent {
    pub kind: Kind,
    pub client: IpAddr,
    /// IXFR: the client's serial.
    pub from_serial: Option<u32>,
    pub serial: u32,
    pub bytes: u64,
    pub messages: u64,
    pub duration_ms: u64,
    /// Unix seconds when it started.
    pub when: u64,
    /// "ok", or why it failed.
    pub result: String,
}

#[derive(Default)]
struct Series {
    buckets: [AtomicU64; BUCKETS],
    micros: AtomicU64,
    bytes: AtomicU64,
}

/// Every counter of the primary side.
#[derive(Default)]
pub struct Stats {
    /// `[kind][0 = ok, 1 = failed]`.
    series: [[Series; 2]; 4],
    refused: [AtomicU64; Refusal::ALL.len()],
    recent: Mutex<HashMap<Box<[u8]>, VecDeque<Recent>>>,
}

impl Stats {
    /// Counts a finished transfer of zone `apex`.
    pub fn record(&self, apex: &[u8], t: Recent, took: Duration) {
        let ok = t.result == "ok";
        let s = &self.series[t.kind.index()][usize::from(!ok)];
        let ms = took.as_millis().min(u128::from(u64::MAX)) as u64;
        let i = DURATION_BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(BUCKETS - 1);
        s.buckets[i].fetch_add(1, Ordering::Relaxed);
        s.micros
            .fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        s.bytes.fetch_add(t.bytes, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let list = recent.entry(apex.into()).or_default();
        if list.len() >= RECENT {
            list.pop_front();
        }
        list.push_back(t);
    }

    /// Counts a refusal.
    pub fn refused(&self, why: Refusal) {
        if let Some(i) = Refusal::ALL.iter().position(|&r| r == why) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused_count(&self, why: Refusal) -> u64 {
        Refusal::ALL
            .iter()
            .position(|&r| r == why)
            .map_or(0, |i| self.refused[i].load(Ordering::Relaxed))
    }

    /// Transfers of a kind with a result.
    pub fn count(&self, kind: Kind, ok: bool) -> u64 {
        let s = &self.series[kind.index()][usize::from(!ok)];
        s.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    pub fn bytes(&self, kind: Kind, ok: bool) -> u64 {
        self.series[kind.index()][usize::from(!ok)]
            .bytes
            .load(Ordering::Relaxed)
    }

    pub fn duration_sum(&self, kind: Kind, ok: bool) -> Duration {
        Duration::from_micros(
            self.series[kind.index()][usize::from(!ok)]
                .micros
                .load(Ordering::Relaxed),
        )
    }

    /// `(upper bound in seconds, count)` pairs, not cumulative, last `+Inf`.
    pub fn pairs(&self, kind: Kind, ok: bool) -> Vec<(f64, u64)> {
        self.series[kind.index()][usize::from(!ok)]
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let bound = DURATION_BOUNDS_MS.get(i).map_or(f64::INFINITY, |&ms| ms as f64 / 1e3);
                (bound, b.load(Ordering::Relaxed))
            })
            .collect()
    }

    /// The last transfers of a zone, oldest first.
    pub fn recent(&self, apex: &[u8]) -> Vec<Recent> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .get(apex)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}
