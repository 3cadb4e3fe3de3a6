//! Queries per second over the last minutes, for the status page: a task
//! reads the DNS query counters once a second and keeps the differences in
//! a small ring. The query path pays nothing for it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::dns::Server;

/// How many one-second samples are kept (10 minutes).
pub const SAMPLES: usize = 600;

/// The ring of per-second query counts, oldest first.
#[derive(Clone, Default)]
pub struct Qps(Arc<Mutex<VecDeque<u64>>>);

impl Qps {
    pub fn push(&self, n: u64) {
        let mut ring = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == SAMPLES {
            ring.pop_front();
        }
        ring.push_back(n);
    }

    /// The samples, oldest first (at most [`SAMPLES`]).
    pub fn samples(&self) -> Vec<u64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Mean queries per second over the last `secs` samples.
    pub fn mean(&self, secs: usize) -> f64 {
        let s = self.samples();
        let tail = &s[s.len().saturating_sub(secs)..];
        if tail.is_empty() {
            0.0
        } else {
            tail.iter().sum::<u64>() as f64 / tail.len() as f64
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Total queries (UDP and TCP) answered or dropped so far.
pub fn total_queries(server: &Server) -> u64 {
    server.counters.queries_udp.load(Ordering::Relaxed) + server.counters.queries_tcp.load(Ordering::Relaxed)
}

/// Samples the query counters every second into `qps`.
pub fn spawn_sampler(qps: Qps, server: Arc<Server>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = total_queries(&server);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = total_queries(&server);
            qps.push(now.saturating_sub(last));
            last = now;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_samples() {
        let q = Qps::default();
        for i in 0..(SAMPLES as u64 + 5) {
            q.push(i);
        }
        let s = q.samples();
        assert_eq!(s.len(), SAMPLES);
        assert_eq!(s[0], 5);
        assert_eq!(q.mean(2), (SAMPLES as f64 + 3.0 + SAMPLES as f64 + 4.0) / 2.0);
        assert_eq!(Qps::default().mean(60), 0.0);
    }
}
