//! Per-query statistics for the metrics: answers by transport, query type
//! and RCODE, and a histogram of the time spent answering.
//!
//! The query path records into the shard of its own thread (the same
//! sharding as [`super::server::Counter`]): three relaxed atomic adds and
//! no lock, allocation or shared cache line between workers. A scrape sums
//! the shards ([`QueryStats::snapshot`]); the sum is not atomic across
//! shards, which a monotonic counter does not need.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::server::{COUNTER_SHARDS, Transport, shard_index};
use crate::zone::rtype;

/// The query types counted by name; everything else is `other`, and a
/// request whose question could not be read is `none`.
pub const QTYPES: [(&str, u16); 23] = [
    ("A", rtype::A),
    ("NS", rtype::NS),
    ("CNAME", rtype::CNAME),
    ("SOA", rtype::SOA),
    ("PTR", rtype::PTR),
    ("MX", rtype::MX),
    ("TXT", rtype::TXT),
    ("AAAA", rtype::AAAA),
    ("SRV", rtype::SRV),
    ("NAPTR", 35),
    ("DS", rtype::DS),
    ("RRSIG", rtype::RRSIG),
    ("NSEC", rtype::NSEC),
    ("DNSKEY", rtype::DNSKEY),
    ("NSEC3", rtype::NSEC3),
    ("NSEC3PARAM", rtype::NSEC3PARAM),
    ("TLSA", 52),
    ("SVCB", rtype::SVCB),
    ("HTTPS", rtype::HTTPS),
    ("CAA", 257),
    ("ANY", rtype::ANY),
    ("AXFR", rtype::AXFR),
    ("IXFR", rtype::IXFR),
];

/// Label slots: the named types, then `other`, then `none`.
pub const TYPE_SLOTS: usize = QTYPES.len() + 2;
const TYPE_OTHER: usize = QTYPES.len();
/// The slot of a request whose question could not be read (FORMERR).
pub const TYPE_NONE: usize = QTYPES.len() + 1;

/// RCODE slots: 0..=15 from the header, 16 for an extended RCODE (BADVERS).
pub const RCODE_SLOTS: usize = 17;

/// Transports, in slot order.
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

/// Upper bounds of the latency buckets, in nanoseconds (the last bucket,
/// past them, is `+Inf`).
pub const LATENCY_BOUNDS_NS: [u64; 14] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    100_000_000,
];

const KEYS: usize = TRANSPORTS.len() * TYPE_SLOTS * RCODE_SLOTS;
const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// The label text of a type slot.
pub fn type_name(slot: usize) -> &'static str {
    match slot {
        s if s < QTYPES.len() => QTYPES[s].0,
        TYPE_OTHER => "other",
        _ => "none",
    }
}

/// The label text of an RCODE slot.
pub fn rcode_name(slot: usize) -> &'static str {
    const NAMES: [&str; RCODE_SLOTS] = [
        "NOERROR",
        "FORMERR",
        "SERVFAIL",
        "NXDOMAIN",
        "NOTIMP",
        "REFUSED",
        "YXDOMAIN",
        "YXRRSET",
        "NXRRSET",
        "NOTAUTH",
        "NOTZONE",
        "DSOTYPENI",
        "RCODE12",
        "RCODE13",
        "RCODE14",
        "RCODE15",
        "BADVERS",
    ];
    NAMES.get(slot).copied().unwrap_or("BADVERS")
}

/// The type slot of a query type.
#[inline]
pub fn type_slot(qtype: u16) -> usize {
    // A linear scan over 23 constants compiles to a handful of compares for
    // the common types at the front; no table lookup, no hashing.
    QTYPES.iter().position(|&(_, t)| t == qtype).unwrap_or(TYPE_OTHER)
}

#[repr(align(64))]
struct Shard {
    answers: [AtomicU64; KEYS],
    latency: [AtomicU64; BUCKETS],
    latency_ns: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            answers: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_ns: AtomicU64::new(0),
        }
    }
}

/// Answers by (transport, type, rcode) and the answer-time histogram.
pub struct QueryStats {
    shards: Box<[Shard]>,
}

impl Default for QueryStats {
    fn default() -> Self {
        QueryStats {
            shards: (0..COUNTER_SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

impl QueryStats {
    /// Records one response: its transport, type slot ([`type_slot`] or
    /// [`TYPE_NONE`]), RCODE (extended values above 15 share one slot) and
    /// the time taken to build it.
    #[inline]
    pub fn record(&self, transport: Transport, type_slot: usize, rcode: u16, took: Duration) {
        let shard = &self.shards[shard_index() % self.shards.len()];
        let t = match transport {
            Transport::Udp => 0,
            Transport::Tcp => 1,
        };
        let r = (rcode as usize).min(RCODE_SLOTS - 1);
        let key = (t * TYPE_SLOTS + type_slot.min(TYPE_SLOTS - 1)) * RCODE_SLOTS + r;
        shard.answers[key].fetch_add(1, Ordering::Relaxed);
        let ns = took.as_nanos().min(u128::from(u64::MAX)) as u64;
        let bucket = LATENCY_BOUNDS_NS.iter().position(|&b| ns <= b).unwrap_or(BUCKETS - 1);
        shard.latency[bucket].fetch_add(1, Ordering::Relaxed);
        shard.latency_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The sum over every shard.
    pub fn snapshot(&self) -> QuerySnapshot {
        let mut s = QuerySnapshot {
            answers: Vec::new(),
            latency_buckets: [0; BUCKETS],
            latency_sum: Duration::ZERO,
        };
        let mut totals = vec![0u64; KEYS];
        let mut ns = 0u64;
        for shard in self.shards.iter() {
            for (t, a) in totals.iter_mut().zip(shard.answers.iter()) {
                *t += a.load(Ordering::Relaxed);
            }
            for (b, l) in s.latency_buckets.iter_mut().zip(shard.latency.iter()) {
                *b += l.load(Ordering::Relaxed);
            }
            ns = ns.wrapping_add(shard.latency_ns.load(Ordering::Relaxed));
        }
        s.latency_sum = Duration::from_nanos(ns);
        for (key, &n) in totals.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let rcode = key % RCODE_SLOTS;
            let ty = (key / RCODE_SLOTS) % TYPE_SLOTS;
            let t = key / (RCODE_SLOTS * TYPE_SLOTS);
            s.answers.push(AnswerCount {
                transport: TRANSPORTS[t],
                qtype: type_name(ty),
                rcode: rcode_name(rcode),
                count: n,
            });
        }
        s
    }
}

/// One nonzero (transport, type, rcode) count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerCount {
    pub transport: &'static str,
    pub qtype: &'static str,
    pub rcode: &'static str,
    pub count: u64,
}

/// What [`QueryStats::snapshot`] returns.
#[derive(Clone, Debug)]
pub struct QuerySnapshot {
    /// Only the nonzero combinations.
    pub answers: Vec<AnswerCount>,
    /// Per bucket (not cumulative): `LATENCY_BOUNDS_NS` then `+Inf`.
    pub latency_buckets: [u64; BUCKETS],
    pub latency_sum: Duration,
}

impl QuerySnapshot {
    /// `(upper bound in seconds, count in that bucket)` pairs, not
    /// cumulative (the encoder adds them up), the last bound `+Inf`.
    pub fn latency_pairs(&self) -> Vec<(f64, u64)> {
        self.latency_buckets
            .iter()
            .enumerate()
            .map(|(i, &n)| (LATENCY_BOUNDS_NS.get(i).map_or(f64::INFINITY, |&ns| ns as f64 / 1e9), n))
            .collect()
    }

    pub fn latency_count(&self) -> u64 {
        self.latency_buckets.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_sums_across_threads() {
        let stats = std::sync::Arc::new(QueryStats::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        s.record(Transport::Udp, type_slot(rtype::A), 0, Duration::from_micros(3));
                    }
                    s.record(Transport::Tcp, TYPE_NONE, 1, Duration::from_secs(1));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_default();
        }
        let snap = stats.snapshot();
        let a = snap
            .answers
            .iter()
            .find(|c| c.transport == "udp" && c.qtype == "A" && c.rcode == "NOERROR")
            .map(|c| c.count);
        assert_eq!(a, Some(400));
        let f = snap
            .answers
            .iter()
            .find(|c| c.transport == "tcp" && c.qtype == "none" && c.rcode == "FORMERR")
            .map(|c| c.count);
        assert_eq!(f, Some(4));
        assert_eq!(snap.latency_count(), 404);
        let pairs = snap.latency_pairs();
        // 3 µs falls in the 5 µs bucket; 1 s only in +Inf.
        assert_eq!(pairs[1], (2e-6, 0));
        assert_eq!(pairs[2], (5e-6, 400));
        assert_eq!(pairs.last().copied(), Some((f64::INFINITY, 4)));
    }

    #[test]
    fn slots_and_names() {
        assert_eq!(type_name(type_slot(rtype::AAAA)), "AAAA");
        assert_eq!(type_name(type_slot(4242)), "other");
        assert_eq!(type_name(TYPE_NONE), "none");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(16), "BADVERS");
    }
}
