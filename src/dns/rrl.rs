//! Response rate limiting (RRL) for UDP, as BIND, Knot and NSD do it: the
//! responses of each second are counted per (client netblock, response
//! class, name); past `responses-per-second` in a second, the rest of that
//! second's responses are "limited": every `slip`-th limited response goes
//! out truncated (TC=1, so a real client retries over TCP, which cannot be
//! spoofed), the others are dropped.
//!
//! Classes and the name their bucket is keyed by (so that one spoofed flood
//! of one big answer is limited, while a resolver asking many different
//! names is not):
//!
//! | class     | name                             |
//! |-----------|----------------------------------|
//! | answer    | query name and type               |
//! | nodata    | zone apex                        |
//! | nxdomain  | zone apex                        |
//! | referral  | the delegation (zone cut)        |
//! | error     | none (REFUSED, SERVFAIL, FORMERR...) |
//!
//! The state is one fixed table of `table-size` 64-bit slots shared by
//! every UDP worker without a lock: a slot holds a tag of its key, the
//! second it counts and the count so far, and is updated
//! with compare-and-swap. A key probes two neighbouring slots; when neither
//! is its own, the one untouched longest is taken over (the oldest entries
//! are reused). Memory is the table, whatever the traffic.
//!
//! Only UDP is limited; clients with a valid server cookie and the
//! `exempt` prefixes are never limited (the node's own health probes
//! present a valid cookie). Limited responses are counted by class and
//! action; a netblock that becomes limited is logged once per `window`.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::server::Counter;
use crate::config::RrlConfig;
use crate::logging::summary::Summary;

/// Response classes, each with its own buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Answer = 0,
    NoData = 1,
    NxDomain = 2,
    Referral = 3,
    Error = 4,
}

pub const CLASSES: usize = 5;

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Answer => "answer",
            Class::NoData => "nodata",
            Class::NxDomain => "nxdomain",
            Class::Referral => "referral",
            Class::Error => "error",
        }
    }

    pub const ALL: [Class; CLASSES] = [
        Class::Answer,
        Class::NoData,
        Class::NxDomain,
        Class::Referral,
        Class::Error,
    ];
}

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Limited, and this one goes out truncated (or as BADCOOKIE to a
    /// client that sent a cookie).
    Slip,
    /// Limited: no response.
    Drop,
}

/// Limited responses by class: [slipped, dropped].
#[derive(Default)]
pub struct RrlCounters {
    pub limited: [[Counter; 2]; CLASSES],
}

// Slot layout: tag (15 bits) | limited flag (1) | second (28) | count (20).
const TOKEN_BITS: u32 = 20;
const STAMP_BITS: u32 = 28;
const TOKEN_MASK: u64 = (1 << TOKEN_BITS) - 1;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;
const FLAG: u64 = 1 << (TOKEN_BITS + STAMP_BITS);
const TAG_SHIFT: u32 = TOKEN_BITS + STAMP_BITS + 1;
const TAG_MASK: u64 = !((1 << TAG_SHIFT) - 1);
/// The largest `responses-per-second` a slot can count.
pub const MAX_RATE: u32 = RrlConfig::MAX_RATE;
const _: () = assert!(MAX_RATE as u64 == TOKEN_MASK);

/// The rate limiter shared by the UDP workers.
pub struct Limiter {
    rate: u64,
    slip: u32,
    v4_prefix: u8,
    v6_prefix: u8,
    exempt: Vec<crate::config::Prefix>,
    table: Box<[AtomicU64]>,
    mask: usize,
    keys: (u64, u64),
    pub counters: RrlCounters,
    log: Arc<Summary>,
}

impl Limiter {
    /// A limiter for `cfg`, or `None` when rate limiting is off.
    pub fn new(cfg: &RrlConfig) -> Option<Limiter> {
        if cfg.responses_per_second == 0 {
            return None;
        }
        let size = cfg.table_size.clamp(1024, 1 << 26).next_power_of_two();
        let random = std::collections::hash_map::RandomState::new();
        let keys = (random.hash_one(1u8), random.hash_one(2u8));
        Some(Limiter {
            rate: u64::from(cfg.responses_per_second.min(MAX_RATE)),
            slip: cfg.slip,
            v4_prefix: cfg.ipv4_prefix.min(32),
            v6_prefix: cfg.ipv6_prefix.min(128),
            exempt: cfg.exempt.clone(),
            table: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
            keys,
            counters: RrlCounters::default(),
            log: Summary::with_interval("UDP responses rate-limited", cfg.window, |t| tracing::warn!("{t}")),
        })
    }

    /// Whether `ip` is in an `exempt` prefix.
    #[inline]
    pub fn is_exempt(&self, ip: &IpAddr) -> bool {
        !self.exempt.is_empty() && self.exempt.iter().any(|p| p.contains(ip))
    }

    /// The netblock `ip` is counted in (`ipv4-prefix`, `ipv6-prefix`).
    pub fn netblock(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(a.into(), self.v4_prefix).into()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(mask_v4(v4.into(), self.v4_prefix).into()),
                None => {
                    let m = u128::MAX.checked_shl(128 - u32::from(self.v6_prefix)).unwrap_or(0);
                    IpAddr::V6((u128::from(a) & m).into())
                }
            },
        }
    }

    /// Counts one response of `class` keyed by `name` (see [`name_hash`])
    /// to `ip`, and says whether it may be sent. `detail` names what was
    /// limited, for the log line of a newly limited netblock.
    pub fn check(&self, ip: IpAddr, class: Class, name: u64, detail: impl FnOnce() -> String) -> Verdict {
        let block = self.netblock(ip);
        let mut h = siphasher::sip::SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        match block {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => h.write(&a.octets()),
        }
        h.write_u8(class as u8);
        h.write_u64(name);
        let key = h.finish();
        let (limited, newly) = self.take(key, coarse_now_ms());
        if !limited {
            return Verdict::Send;
        }
        if newly {
            self.log.record(Some(block), "over the limit", || {
                format!(
                    "{}/{}: {} responses, {}, more than {} a second; {}",
                    block,
                    if block.is_ipv4() {
                        self.v4_prefix
                    } else {
                        self.v6_prefix
                    },
                    class.name(),
                    detail(),
                    self.rate,
                    match self.slip {
                        0 => "all dropped".to_string(),
                        1 => "all sent truncated".to_string(),
                        n => format!("1 in {n} sent truncated, the rest dropped"),
                    },
                )
            });
        }
        let slip = self.slip != 0 && slip_turn(self.slip);
        let action = usize::from(!slip);
        self.counters.limited[class as usize][action].fetch_add(1, Ordering::Relaxed);
        if slip { Verdict::Slip } else { Verdict::Drop }
    }

    /// Counts a response in the slot of `key` at `now` (ms): returns
    /// (limited, newly limited).
    fn take(&self, key: u64, now: u64) -> (bool, bool) {
        let tag = ((key >> TAG_SHIFT) | 1) << TAG_SHIFT;
        let i = (key as usize) & self.mask;
        let (a, b) = (&self.table[i], &self.table[i ^ 1]);
        let (va, vb) = (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
        let slot = if va & TAG_MASK == tag {
            a
        } else if vb & TAG_MASK == tag {
            b
        } else if age(va, now) >= age(vb, now) {
            a
        } else {
            b
        };
        let mut old = slot.load(Ordering::Relaxed);
        for _ in 0..4 {
            let (new, limited, newly) = self.step(old, tag, now);
            match slot.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (limited, newly),
                Err(cur) => old = cur,
            }
        }
        // A bucket this contended is one client at full speed: its verdict
        // stands without being stored.
        let (_, limited, _) = self.step(old, tag, now);
        (limited, false)
    }

    /// The slot after one response: (new value, limited, newly limited).
    /// A slot counts the responses of the current second (as Knot and NSD
    /// do); over `rate` of them, the rest of that second is limited.
    fn step(&self, old: u64, tag: u64, now_ms: u64) -> (u64, bool, bool) {
        let now = (now_ms / 1000) & STAMP_MASK;
        if old & TAG_MASK != tag {
            // A new key (or one taken over).
            return (tag | (now << TOKEN_BITS) | 1, false, false);
        }
        let mut count = old & TOKEN_MASK;
        let stamp = (old >> TOKEN_BITS) & STAMP_MASK;
        let mut flag = old & FLAG;
        if stamp != now {
            // A new second. Limited still, unless the last second was not
            // over the limit: then being limited again is news.
            let last = now.wrapping_sub(stamp) & STAMP_MASK == 1;
            if !(last && count > self.rate) {
                flag = 0;
            }
            count = 0;
        }
        count = (count + 1).min(TOKEN_MASK);
        let limited = count > self.rate;
        let newly = limited && flag == 0;
        if limited {
            flag = FLAG;
        }
        (tag | flag | (now << TOKEN_BITS) | count, limited, newly)
    }
}

/// How long (s) since slot value `v` was last counted (empty: oldest).
fn age(v: u64, now_ms: u64) -> u64 {
    if v == 0 {
        return u64::MAX;
    }
    ((now_ms / 1000) & STAMP_MASK).wrapping_sub((v >> TOKEN_BITS) & STAMP_MASK) & STAMP_MASK
}

fn mask_v4(a: u32, len: u8) -> u32 {
    a & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Whether this limited response is a slip turn: every `slip`-th limited
/// response of the calling worker thread.
fn slip_turn(slip: u32) -> bool {
    thread_local! {
        static LIMITED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    LIMITED.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n % slip == 0
    })
}

/// A cheap hash of the name (and type) a bucket is keyed by; the limiter
/// mixes it with its secret key.
#[inline]
pub fn name_hash(name: &[u8], qtype: u16) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x5252_4c00).build_hasher();
    h.write(name);
    h.write_u16(qtype);
    h.finish()
}

/// Milliseconds of a coarse monotonic clock (a few ms resolution, and a
/// fraction of the cost of a precise one).
fn coarse_now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1000) + (ts.tv_nsec as u64) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, slip: u32) -> Limiter {
        let cfg = RrlConfig {
            responses_per_second: rate,
            slip,
            ..RrlConfig::default()
        };
        match Limiter::new(&cfg) {
            Some(l) => l,
            None => panic!("rate {rate} should make a limiter"),
        }
    }

    #[test]
    fn off_at_zero() {
        let cfg = RrlConfig {
            responses_per_second: 0,
            ..RrlConfig::default()
        };
        assert!(Limiter::new(&cfg).is_none());
    }

    #[test]
    fn the_rate_in_each_second() {
        let l = limiter(100, 2);
        let key = 0x1234_5678_9abc_def0;
        let mut sent = 0;
        // 1,000 a second for 5 s, in 1 ms steps.
        for ms in 0..5000u64 {
            let (limited, _) = l.take(key, 10_000 + ms);
            sent += u32::from(!limited);
        }
        // 100 in each of the 5 seconds.
        assert_eq!(sent, 500);
    }

    #[test]
    fn newly_limited_once_until_quiet() {
        let l = limiter(10, 2);
        let key = 42;
        let mut newly = 0;
        for ms in 0..3000u64 {
            let (_, n) = l.take(key, 1000 + ms);
            newly += u32::from(n);
        }
        assert_eq!(newly, 1, "a continuous flood is newly limited once");
        // A quiet second ends it: a new flood is news again.
        for ms in 0..500u64 {
            let (_, n) = l.take(key, 6000 + ms);
            newly += u32::from(n);
        }
        assert_eq!(newly, 2);
    }

    #[test]
    fn keys_do_not_share_buckets_and_slots_are_reused() {
        let l = limiter(5, 2);
        let key = |k: u64| (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for k in 0..5u64 {
            for _ in 0..5 {
                assert!(!l.take(key(k), 100).0);
            }
            assert!(l.take(key(k), 100).0, "key {k} limited after its 5");
        }
        // Far more keys than slots: the table stays the same size.
        for k in 0..(l.table.len() as u64 * 4) {
            l.take(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 200);
        }
        assert_eq!(l.table.len(), l.mask + 1);
    }

    #[test]
    fn verdicts_slip_every_second_and_count() {
        let l = limiter(1, 2);
        let ip: IpAddr = IpAddr::from([192, 0, 2, 1]);
        let v: Vec<Verdict> = (0..7).map(|_| l.check(ip, Class::Answer, 9, String::new)).collect();
        assert_eq!(v[0], Verdict::Send);
        let slips = v.iter().filter(|v| **v == Verdict::Slip).count();
        let drops = v.iter().filter(|v| **v == Verdict::Drop).count();
        assert_eq!((slips, drops), (3, 3), "{v:?}");
        let c = &l.counters.limited[Class::Answer as usize];
        assert_eq!((c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed)), (3, 3));
        // The same /24, another address: the same bucket. Another /24: not.
        assert_ne!(
            l.check(IpAddr::from([192, 0, 2, 200]), Class::Answer, 9, String::new),
            Verdict::Send
        );
        assert_eq!(
            l.check(IpAddr::from([192, 0, 3, 1]), Class::Answer, 9, String::new),
            Verdict::Send
        );
        // Another class or name: another bucket.
        assert_eq!(l.check(ip, Class::NxDomain, 9, String::new), Verdict::Send);
        assert_eq!(l.check(ip, Class::Answer, 10, String::new), Verdict::Send);
    }

    #[test]
    fn netblocks_and_exempt() {
        let mut cfg = RrlConfig {
            responses_per_second: 10,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            ..RrlConfig::default()
        };
        cfg.exempt = vec![crate::config::Prefix::parse("10.8.0.0/24").unwrap_or_else(|e| panic!("{e}"))];
        let Some(l) = Limiter::new(&cfg) else {
            panic!("limiter");
        };
        let ip6: IpAddr = "2001:db8:1:2ff:1::1".parse().unwrap_or(IpAddr::from([0; 16]));
        assert_eq!(l.netblock(ip6).to_string(), "2001:db8:1:200::");
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap_or(IpAddr::from([0; 16]));
        assert_eq!(l.netblock(mapped).to_string(), "192.0.2.0");
        assert!(l.is_exempt(&IpAddr::from([10, 8, 0, 9])));
        assert!(!l.is_exempt(&IpAddr::from([10, 8, 1, 9])));
    }
}
