//! A hang is not a death: a listener worker that stops moving while work
//! waits for it (a UDP worker thread whose socket holds datagrams, a TCP
//! accept loop whose listener holds connections) withdraws the node.
//!
//! With SO_REUSEPORT each UDP socket gets the queries of its share of
//! source addresses and ports: one stuck worker loses that share for as
//! long as it lasts, while the health probe, sent from a random port,
//! lands on either socket and would make health flap. So the check does
//! not ask the probe; it looks at the workers (see `progress`):
//!
//! - [`Detector`], sans-IO: a worker is **stuck** when its progress
//!   counter has not changed, and its queue has not been empty, at any
//!   sample for `health.interval` × `fall`; an idle worker (empty queue)
//!   is never stuck, however long it sleeps; any progress, or an empty
//!   queue, ends it;
//! - [`watch`]: the task that samples every worker several times per
//!   interval (so that detection is not late by a whole interval), logs
//!   one line when a worker becomes stuck and one when it moves again, and
//!   tells the monitor which worker is stuck, if any. The monitor then
//!   fails health at once ([`super::Core::set_stuck`]), and every check
//!   round while it lasts, whatever the probes say; once the worker moves
//!   again, `rise` passing rounds make the node healthy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::progress::{Sample, Workers};

/// Samples per `health.interval`.
const SAMPLES_PER_INTERVAL: u32 = 4;
/// Bounds of the time between two samples.
const MIN_PERIOD: Duration = Duration::from_millis(10);
const MAX_PERIOD: Duration = Duration::from_millis(250);

/// How often [`watch`] samples the workers for a given `health.interval`.
pub fn sample_period(interval: Duration) -> Duration {
    (interval / SAMPLES_PER_INTERVAL).clamp(MIN_PERIOD, MAX_PERIOD)
}

/// What changed at one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `worker` made no progress for `quiet` (at least the limit) while
    /// `waiting` (bytes or connections) waited in its queue.
    Stuck {
        worker: usize,
        quiet: Duration,
        waiting: u64,
    },
    /// `worker` is not stuck any more after `stuck_for`: it `moved`, or
    /// else its queue is empty.
    Cleared {
        worker: usize,
        stuck_for: Duration,
        moved: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Track {
    progress: u64,
    /// The last sample at which the worker had moved or had nothing waiting.
    quiet_since: Instant,
    stuck_since: Option<Instant>,
}

/// Stuck-worker detection over samples of every worker (sans-IO: the
/// caller reads the counters, the queues and the clock).
#[derive(Debug)]
pub struct Detector {
    limit: Duration,
    workers: Vec<Track>,
}

impl Detector {
    /// `limit`: how long a worker may make no progress with work waiting
    /// (`health.interval` × `fall`).
    pub fn new(limit: Duration) -> Detector {
        Detector {
            limit,
            workers: Vec::new(),
        }
    }

    /// Feeds one sample of every worker, in the same order each time (a
    /// worker first seen starts its clock now); returns what changed.
    pub fn observe(&mut self, now: Instant, samples: &[Sample]) -> Vec<Change> {
        let mut changes = Vec::new();
        for (worker, s) in samples.iter().enumerate() {
            let Some(t) = self.workers.get_mut(worker) else {
                self.workers.push(Track {
                    progress: s.progress,
                    quiet_since: now,
                    stuck_since: None,
                });
                continue;
            };
            let moved = s.progress != t.progress;
            t.progress = s.progress;
            if moved || s.waiting == 0 {
                t.quiet_since = now;
                if let Some(since) = t.stuck_since.take() {
                    changes.push(Change::Cleared {
                        worker,
                        stuck_for: now.saturating_duration_since(since),
                        moved,
                    });
                }
            } else if t.stuck_since.is_none() {
                let quiet = now.saturating_duration_since(t.quiet_since);
                if quiet >= self.limit {
                    t.stuck_since = Some(now);
                    changes.push(Change::Stuck {
                        worker,
                        quiet,
                        waiting: s.waiting,
                    });
                }
            }
        }
        changes
    }

    /// Whether `worker` is stuck now.
    pub fn is_stuck(&self, worker: usize) -> bool {
        self.workers.get(worker).is_some_and(|t| t.stuck_since.is_some())
    }

    /// How many workers are stuck now.
    pub fn stuck_count(&self) -> usize {
        self.workers.iter().filter(|t| t.stuck_since.is_some()).count()
    }
}

/// Samples `workers` every `period` for good. Logs each worker that gets
/// stuck or moves again (one line each), marks it in the registry (for
/// `/metrics`), and calls `publish` with the reason of the first stuck
/// worker, or `None` once none is, whenever that changes.
pub async fn watch(workers: Arc<Workers>, limit: Duration, period: Duration, publish: impl Fn(Option<String>)) {
    let mut detector = Detector::new(limit);
    let mut reasons: Vec<Option<String>> = Vec::new();
    let mut published: Option<String> = None;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let samples = workers.sample();
        reasons.resize(samples.len(), None);
        for change in detector.observe(Instant::now(), &samples) {
            match change {
                Change::Stuck { worker, quiet, waiting } => {
                    let why = workers.describe(worker, quiet, waiting);
                    warn!("health: {why}");
                    workers.set_stuck(worker, true);
                    if let Some(r) = reasons.get_mut(worker) {
                        *r = Some(why);
                    }
                }
                Change::Cleared {
                    worker,
                    stuck_for,
                    moved,
                } => {
                    let how = if moved {
                        "moves again"
                    } else {
                        "has nothing waiting any more"
                    };
                    info!(
                        stuck_for = %format!("{:.1}s", stuck_for.as_secs_f64()),
                        "health: {} {how}",
                        workers.label(worker)
                    );
                    workers.set_stuck(worker, false);
                    if let Some(r) = reasons.get_mut(worker) {
                        *r = None;
                    }
                }
            }
        }
        let now = reasons.iter().flatten().next().cloned();
        if now != published {
            publish(now.clone());
            published = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);
    const STEP: Duration = Duration::from_millis(250);

    fn s(progress: u64, waiting: u64) -> Sample {
        Sample { progress, waiting }
    }

    /// Feeds `samples` of one worker, one every STEP from `t0`; the
    /// changes, with the time (in steps) each came at.
    fn run(d: &mut Detector, t0: Instant, samples: &[Sample]) -> Vec<(usize, Change)> {
        samples
            .iter()
            .enumerate()
            .flat_map(|(i, x)| {
                d.observe(t0 + STEP * i as u32, std::slice::from_ref(x))
                    .into_iter()
                    .map(move |c| (i, c))
            })
            .collect()
    }

    #[test]
    fn no_progress_with_a_queue_for_the_limit_is_stuck_once() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        // moving until step 2, then frozen at 7 with datagrams piling up
        let mut samples = vec![s(5, 100), s(6, 0), s(7, 300)];
        samples.extend((0..20).map(|i| s(7, 400 + i)));
        let changes = run(&mut d, t0, &samples);
        // last move seen at step 2; 8 steps of 250 ms later: step 10
        assert_eq!(
            changes,
            [(
                10,
                Change::Stuck {
                    worker: 0,
                    quiet: LIMIT,
                    waiting: 407
                }
            )]
        );
        assert!(d.is_stuck(0));
        assert_eq!(d.stuck_count(), 1);
    }

    #[test]
    fn not_stuck_before_the_limit() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        d.observe(t0, &[s(1, 10)]);
        assert!(d.observe(t0 + LIMIT - Duration::from_millis(1), &[s(1, 10)]).is_empty());
        assert!(!d.is_stuck(0));
        assert_eq!(d.observe(t0 + LIMIT, &[s(1, 10)]).len(), 1);
    }

    #[test]
    fn an_idle_worker_with_an_empty_queue_is_never_stuck() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        let samples = vec![s(3, 0); 100];
        assert!(run(&mut d, t0, &samples).is_empty());
        assert!(!d.is_stuck(0));
        // a datagram arrives at an idle worker: the clock starts then
        assert!(d.observe(t0 + STEP * 100, &[s(3, 60)]).is_empty());
        assert!(d.observe(t0 + STEP * 100 + LIMIT / 2, &[s(3, 60)]).is_empty());
        assert!(!d.is_stuck(0));
    }

    #[test]
    fn a_queue_that_empties_now_and_then_restarts_the_clock() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        // no progress ever, but the queue is seen empty every 6 steps
        // (1.5 s < limit): someone drains it
        let samples: Vec<Sample> = (0..60).map(|i| s(9, if i % 6 == 0 { 0 } else { 50 })).collect();
        assert!(run(&mut d, t0, &samples).is_empty());
    }

    #[test]
    fn a_busy_worker_is_never_stuck() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        let samples: Vec<Sample> = (0..100).map(|i| s(i * 32, 4096)).collect();
        assert!(run(&mut d, t0, &samples).is_empty());
    }

    #[test]
    fn progress_resumes_and_the_worker_is_not_stuck_any_more() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        let mut samples = vec![s(1, 10); 12];
        samples.push(s(2, 10)); // step 12: moves again, queue still full
        samples.extend(vec![s(2, 10); 4]); // and stops again, briefly
        let changes = run(&mut d, t0, &samples);
        assert_eq!(
            changes,
            [
                (
                    8,
                    Change::Stuck {
                        worker: 0,
                        quiet: LIMIT,
                        waiting: 10
                    }
                ),
                (
                    12,
                    Change::Cleared {
                        worker: 0,
                        stuck_for: STEP * 4,
                        moved: true
                    }
                ),
            ]
        );
        assert!(!d.is_stuck(0));
        // stuck again only after a whole limit more
        let t = t0 + STEP * 12;
        assert!(d.observe(t + LIMIT - STEP, &[s(2, 10)]).is_empty());
        assert_eq!(d.observe(t + LIMIT, &[s(2, 10)]).len(), 1);
    }

    #[test]
    fn an_emptied_queue_clears_a_stuck_worker() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        d.observe(t0, &[s(1, 10)]);
        assert_eq!(d.observe(t0 + LIMIT, &[s(1, 10)]).len(), 1);
        assert_eq!(
            d.observe(t0 + LIMIT * 2, &[s(1, 0)]),
            [Change::Cleared {
                worker: 0,
                stuck_for: LIMIT,
                moved: false
            }]
        );
    }

    #[test]
    fn workers_are_judged_one_by_one() {
        let t0 = Instant::now();
        let mut d = Detector::new(LIMIT);
        // worker 0 serves, worker 1 is frozen with a queue, worker 2 idles
        for i in 0..=8u32 {
            let changes = d.observe(t0 + STEP * i, &[s(u64::from(i), 100), s(4, 100), s(0, 0)]);
            if i == 8 {
                assert_eq!(
                    changes,
                    [Change::Stuck {
                        worker: 1,
                        quiet: LIMIT,
                        waiting: 100
                    }]
                );
            } else {
                assert!(changes.is_empty(), "step {i}: {changes:?}");
            }
        }
        assert_eq!((d.is_stuck(0), d.is_stuck(1), d.is_stuck(2)), (false, true, false));
        assert_eq!(d.stuck_count(), 1);
    }

    #[test]
    fn samples_are_several_per_interval() {
        assert_eq!(sample_period(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(sample_period(Duration::from_millis(200)), Duration::from_millis(50));
        assert_eq!(sample_period(Duration::from_secs(10)), MAX_PERIOD);
        assert_eq!(sample_period(Duration::from_millis(1)), MIN_PERIOD);
    }
}
