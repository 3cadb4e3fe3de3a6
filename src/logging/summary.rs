//! Per-event log summaries: events that can come once per packet (a refused
//! NOTIFY, a refused transfer request, a bad TSIG) are counted here instead
//! of logged one by one, and written as at most one line per (source,
//! reason) and interval:
//!
//! ```text
//! NOTIFY refused from 127.0.0.2: not a secondary zone here (zone x.); more like it are counted and summarised every 10s
//! NOTIFY refused: 68259 more from 127.0.0.2 in the last 10s: not a secondary zone here (e.g. zone x.)
//! ```
//!
//! The first event of a (source, reason) not seen in the previous interval
//! is logged at once, with its detail; the others are only counted, and
//! the count of those not logged yet is written when the interval ends (by
//! one `log-summary` thread for every [`Summary`] of the process), when
//! [`flush_all`] runs at exit, or when the `Summary` is dropped. So the
//! numbers in the lines add up to the events recorded.
//!
//! Memory is bounded: at most [`MAX_KEYS`] distinct (source, reason) keys
//! per shard and per interval, each with a detail of at most
//! [`MAX_DETAIL`] bytes; events beyond the cap fold into one "from other
//! sources" count per reason (reasons are `&'static str`, so there are as
//! many as the code names). The lines written per interval are bounded the
//! same way.
//!
//! No lock the hot path can contend on: the counts live in shards, one per
//! recording thread (threads get a shard index in turn, as the query path's
//! counters do), each behind its own mutex that only its thread and the
//! flush (once per interval, just long enough to take the shard's map) ever
//! take. The hot path only `try_lock`s it: if the shard is busy (the flush,
//! or a second thread sharing the shard), the event goes to one relaxed
//! atomic counter instead and is summarised without a source. The only
//! shared lock, the set of keys already reported, is taken when a key is
//! new to a shard, so at most [`MAX_KEYS`] times per shard and interval.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

/// How often a summary line is written (per source and reason).
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Distinct (source, reason) keys kept per shard and per interval.
pub const MAX_KEYS: usize = 32;
/// The longest detail kept for a key (longer ones are cut).
pub const MAX_DETAIL: usize = 160;
/// Shards of counts; threads beyond this many share them.
const SHARDS: usize = 8;
/// How often the `log-summary` thread looks for intervals that ended.
const TICK: Duration = Duration::from_millis(500);

type Key = (Option<IpAddr>, &'static str);

/// One line a summary writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// The first event of a key: written at once.
    First {
        source: Option<IpAddr>,
        reason: &'static str,
        detail: String,
    },
    /// Events of a key not written yet, in the interval that ended.
    Summary {
        source: Option<IpAddr>,
        reason: &'static str,
        count: u64,
        example: String,
    },
    /// Events of keys past the cap, for one reason.
    OtherSources { reason: &'static str, count: u64 },
    /// Events whose shard was busy: counted, source and reason not kept.
    Unattributed { count: u64 },
}

impl Line {
    /// The text logged for this line of summary `what` over `took`.
    pub fn text(&self, what: &str, took: Duration) -> String {
        self.text_every(what, took, INTERVAL)
    }

    /// [`Line::text`] of a summary written every `interval`.
    pub fn text_every(&self, what: &str, took: Duration, interval: Duration) -> String {
        let secs = took.as_secs_f64().round().max(1.0);
        let mut s = String::with_capacity(160);
        let _ = match self {
            Line::First { source, reason, detail } => write!(
                s,
                "{what} from {}: {reason} ({detail}); more like it are counted and summarised every {}s",
                Source(*source),
                interval.as_secs()
            ),
            Line::Summary {
                source,
                reason,
                count,
                example,
            } => write!(
                s,
                "{what}: {count} more from {} in the last {secs}s: {reason} (e.g. {example})",
                Source(*source)
            ),
            Line::OtherSources { reason, count } => write!(
                s,
                "{what}: {count} more from other sources in the last {secs}s: {reason} \
                 (over {MAX_KEYS} sources; counted, not listed)"
            ),
            Line::Unattributed { count } => write!(
                s,
                "{what}: {count} more in the last {secs}s (counted while busy; source and reason not kept)"
            ),
        };
        s
    }
}

struct Source(Option<IpAddr>);

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("an unknown source"),
        }
    }
}

/// Where lines go: the log, or (in tests) a collector.
pub type Sink = Box<dyn Fn(&Line, Duration) + Send + Sync>;

#[derive(Default)]
struct Entry {
    /// Events of the key not written yet.
    count: u64,
    detail: String,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Key, Entry>,
    /// Events of keys past the cap, by reason.
    other: Vec<(&'static str, u64)>,
}

impl Shard {
    fn add_other(&mut self, reason: &'static str, n: u64) {
        match self.other.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => self.other.push((reason, n)),
        }
    }
}

/// The counts and lines of one kind of event (e.g. "NOTIFY refused").
pub struct Summary {
    what: &'static str,
    interval: Duration,
    shards: Box<[Mutex<Shard>]>,
    unattributed: AtomicU64,
    /// Keys reported in this interval or the one before: not logged at once.
    known: Mutex<HashSet<Key>>,
    /// When the current interval began.
    began: Mutex<Instant>,
    sink: Sink,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shard of the calling thread, in `0..SHARDS`.
#[inline]
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl Summary {
    /// A summary of `what` whose lines go to `log` (the caller's
    /// `|text| tracing::warn!("{text}")`, so that lines carry the caller's
    /// module as their target) and that the process's `log-summary` thread
    /// flushes every [`INTERVAL`].
    pub fn new(what: &'static str, log: fn(&str)) -> Arc<Summary> {
        Summary::with_interval(what, INTERVAL, log)
    }

    /// [`Summary::new`] with its own interval (e.g. `[dns.rrl] window`).
    pub fn with_interval(what: &'static str, interval: Duration, log: fn(&str)) -> Arc<Summary> {
        let interval = interval.max(Duration::from_secs(1));
        let s = Arc::new(Summary::with_sink(
            what,
            interval,
            Box::new(move |line, took| log(&line.text_every(what, took, interval))),
        ));
        register(&s);
        s
    }

    /// A summary that hands its lines to `sink` and is flushed only by
    /// [`Summary::flush_at`] (or when dropped).
    pub fn with_sink(what: &'static str, interval: Duration, sink: Sink) -> Summary {
        Summary {
            what,
            interval,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            unattributed: AtomicU64::new(0),
            known: Mutex::new(HashSet::new()),
            began: Mutex::new(Instant::now()),
            sink,
        }
    }

    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Records one event from `source` for `reason`. `detail` (the zone,
    /// the key, the error) is only worked out for the first event of a key
    /// in an interval.
    #[inline]
    pub fn record(&self, source: Option<IpAddr>, reason: &'static str, detail: impl FnOnce() -> String) {
        let shard = &self.shards[shard_index() % self.shards.len()];
        let mut s = match shard.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.unattributed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let key = (source, reason);
        if let Some(e) = s.entries.get_mut(&key) {
            e.count += 1;
            return;
        }
        if s.entries.len() >= MAX_KEYS {
            s.add_other(reason, 1);
            return;
        }
        let mut detail = detail();
        cut(&mut detail, MAX_DETAIL);
        let first = {
            let mut known = lock(&self.known);
            known.len() < 2 * MAX_KEYS && known.insert(key)
        };
        if first {
            s.entries.insert(
                key,
                Entry {
                    count: 0,
                    detail: detail.clone(),
                },
            );
            drop(s);
            let line = Line::First { source, reason, detail };
            (self.sink)(&line, Duration::ZERO);
        } else {
            s.entries.insert(key, Entry { count: 1, detail });
        }
    }

    /// Writes the lines of the interval if it has ended by `now`.
    pub fn flush_if_due(&self, now: Instant) {
        let due = now.saturating_duration_since(*lock(&self.began)) >= self.interval;
        if due {
            self.flush_at(now);
        }
    }

    /// Ends the interval at `now`: writes one line per key with events not
    /// written yet, then one per reason for the keys past the cap, then the
    /// events counted without a source.
    pub fn flush_at(&self, now: Instant) {
        let took = {
            let mut began = lock(&self.began);
            let took = now.saturating_duration_since(*began);
            *began = now;
            took
        };
        let mut merged: HashMap<Key, Entry> = HashMap::new();
        let mut other = Shard::default();
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *lock(shard));
            for (reason, n) in taken.other {
                other.add_other(reason, n);
            }
            for (key, e) in taken.entries {
                let room = merged.len() < MAX_KEYS;
                match merged.get_mut(&key) {
                    Some(m) => m.count += e.count,
                    None if room => {
                        merged.insert(key, e);
                    }
                    None => other.add_other(key.1, e.count),
                }
            }
        }
        let unattributed = self.unattributed.swap(0, Ordering::Relaxed);
        // Keys seen in this interval stay known for the next one.
        *lock(&self.known) = merged.keys().copied().collect();
        let mut lines: Vec<Line> = merged
            .into_iter()
            .filter(|(_, e)| e.count > 0)
            .map(|((source, reason), e)| Line::Summary {
                source,
                reason,
                count: e.count,
                example: e.detail,
            })
            .collect();
        lines.sort_by(|a, b| match (a, b) {
            (Line::Summary { count: x, .. }, Line::Summary { count: y, .. }) => y.cmp(x),
            _ => std::cmp::Ordering::Equal,
        });
        lines.extend(
            other
                .other
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(reason, count)| Line::OtherSources { reason, count }),
        );
        if unattributed > 0 {
            lines.push(Line::Unattributed { count: unattributed });
        }
        for line in &lines {
            (self.sink)(line, took);
        }
    }
}

impl Drop for Summary {
    fn drop(&mut self) {
        self.flush_at(Instant::now());
    }
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// Every [`Summary::new`] of the process, for the `log-summary` thread.
fn registry() -> &'static Mutex<Vec<Weak<Summary>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Weak<Summary>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("log-summary".into()).spawn(|| {
            loop {
                std::thread::sleep(TICK);
                for s in live() {
                    s.flush_if_due(Instant::now());
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the log-summary thread: {e}; summaries are written only at exit");
        }
        Mutex::new(Vec::new())
    })
}

fn register(s: &Arc<Summary>) {
    let mut all = lock(registry());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(s));
}

fn live() -> Vec<Arc<Summary>> {
    lock(registry()).iter().filter_map(Weak::upgrade).collect()
}

/// Writes what every summary has counted and not written yet (at exit).
pub fn flush_all() {
    let now = Instant::now();
    for s in live() {
        s.flush_at(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    type Lines = Arc<Mutex<Vec<Line>>>;

    fn summary(interval: Duration) -> (Summary, Lines) {
        let lines: Lines = Arc::default();
        let l = lines.clone();
        let s = Summary::with_sink(
            "NOTIFY refused",
            interval,
            Box::new(move |line, _| lock(&l).push(line.clone())),
        );
        (s, lines)
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    fn take(lines: &Lines) -> Vec<Line> {
        std::mem::take(&mut *lock(lines))
    }

    /// The events the lines account for.
    fn total(lines: &[Line]) -> u64 {
        lines
            .iter()
            .map(|l| match l {
                Line::First { .. } => 1,
                Line::Summary { count, .. } | Line::OtherSources { count, .. } | Line::Unattributed { count } => *count,
            })
            .sum()
    }

    #[test]
    fn first_at_once_then_one_summary_per_key_and_interval() {
        let (s, lines) = summary(Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..1000 {
            s.record(ip(1), "not a secondary zone here", || "zone a.".into());
        }
        s.record(ip(1), "bad key", || "key k".into());
        s.record(ip(2), "not a secondary zone here", || "zone b.".into());
        let now = take(&lines);
        assert_eq!(
            now,
            vec![
                Line::First {
                    source: ip(1),
                    reason: "not a secondary zone here",
                    detail: "zone a.".into()
                },
                Line::First {
                    source: ip(1),
                    reason: "bad key",
                    detail: "key k".into()
                },
                Line::First {
                    source: ip(2),
                    reason: "not a secondary zone here",
                    detail: "zone b.".into()
                },
            ]
        );
        // Not due yet: nothing more.
        s.flush_if_due(t0 + Duration::from_secs(1));
        assert!(take(&lines).is_empty());
        s.flush_if_due(t0 + Duration::from_secs(11));
        let summed = take(&lines);
        assert_eq!(
            summed,
            vec![Line::Summary {
                source: ip(1),
                reason: "not a secondary zone here",
                count: 999,
                example: "zone a.".into()
            }],
            "one line for the key with events not logged yet; none for keys whose only event was"
        );
        // Next interval: the key is known, so nothing is logged at once.
        for _ in 0..5 {
            s.record(ip(1), "not a secondary zone here", || "zone c.".into());
        }
        assert!(take(&lines).is_empty());
        s.flush_at(t0 + Duration::from_secs(22));
        assert_eq!(
            take(&lines),
            vec![Line::Summary {
                source: ip(1),
                reason: "not a secondary zone here",
                count: 5,
                example: "zone c.".into()
            }]
        );
        // A quiet interval makes the key new again.
        s.flush_at(t0 + Duration::from_secs(33));
        assert!(take(&lines).is_empty());
        s.record(ip(1), "not a secondary zone here", || "zone d.".into());
        assert!(matches!(take(&lines).as_slice(), [Line::First { .. }]));
    }

    #[test]
    fn keys_past_the_cap_fold_into_other_sources() {
        let (s, lines) = summary(Duration::from_secs(10));
        let n = MAX_KEYS as u32 + 50;
        for i in 0..n {
            let src = Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
            for _ in 0..3 {
                s.record(src, "spoofed", || "zone z.".into());
            }
        }
        s.flush_at(Instant::now() + Duration::from_secs(10));
        let all = take(&lines);
        let firsts = all.iter().filter(|l| matches!(l, Line::First { .. })).count();
        let summaries = all.iter().filter(|l| matches!(l, Line::Summary { .. })).count();
        assert_eq!(firsts, MAX_KEYS, "the first of each kept key, up to the cap");
        assert_eq!(summaries, MAX_KEYS);
        assert_eq!(
            all.last(),
            Some(&Line::OtherSources {
                reason: "spoofed",
                count: 50 * 3
            })
        );
        assert_eq!(total(&all), u64::from(n) * 3, "every event is accounted for");
        assert!(all.len() <= 2 * MAX_KEYS + 1, "lines per interval are bounded");
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let (s, lines) = summary(Duration::from_secs(10));
        let s = Arc::new(s);
        let threads: Vec<_> = (0..12u8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        s.record(ip(t % 3), if i % 2 == 0 { "a" } else { "b" }, || {
                            format!("from thread {t}")
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_default();
        }
        s.flush_at(Instant::now());
        let all = take(&lines);
        assert_eq!(total(&all), 120_000);
        // 3 sources x 2 reasons: at most 6 keys, each logged once at once
        // (or not at all if the known set was full) and summarised once.
        let summaries = all.iter().filter(|l| matches!(l, Line::Summary { .. })).count();
        assert!(summaries <= 6, "{all:?}");
        assert!(all.iter().filter(|l| matches!(l, Line::First { .. })).count() <= 6);
    }

    #[test]
    fn dropped_summary_flushes_and_text_reads_well() {
        let (s, lines) = summary(Duration::from_secs(10));
        s.record(None, "source address unknown", || "zone x.".into());
        s.record(None, "source address unknown", || "zone x.".into());
        let mut long = "é".repeat(200);
        cut(&mut long, MAX_DETAIL);
        assert!(long.len() <= MAX_DETAIL + '…'.len_utf8());
        drop(s);
        let all = take(&lines);
        assert_eq!(all.len(), 2);
        let text = all[1].text("NOTIFY refused", Duration::from_millis(9_600));
        assert_eq!(
            text,
            "NOTIFY refused: 1 more from an unknown source in the last 10s: source address unknown (e.g. zone x.)"
        );
        let first = all[0].text("NOTIFY refused", Duration::ZERO);
        assert!(first.starts_with("NOTIFY refused from an unknown source: source address unknown (zone x.)"));
    }
}
