//! Connection tables of the TCP listeners (DNS over TCP, the management
//! API, the identity endpoint): who holds one of the `max` slots, and who
//! gives theirs up when a new client comes, as Knot and NSD do.
//!
//! - **Idle or busy.** A connection is idle while it waits for its next
//!   request (or, on HTTP, reads it), and busy while a request is being
//!   answered in a way that must not be cut (a zone transfer streaming out,
//!   an HTTP handler running). Idle connections are kept in order of the
//!   time their last request came (or they were opened), oldest first.
//! - **Full table.** A new connection takes the slot of the connection that
//!   has been idle longest, which is closed ([`Closed::Evicted`]). Only when
//!   every connection is busy is the new one refused.
//! - **Timeouts tightened as the table fills.** A connection may stay idle
//!   for [`Limits::idle`] and live for [`Limits::lifetime`] while the table
//!   is at most half full; from there both shrink in proportion, down to
//!   [`Limits::floor`] for the idle time at 90 % and above (a client that
//!   sends a query every few seconds cannot hold a slot). Each admission
//!   first closes the idle connections past the timeout of the moment
//!   ([`Closed::IdleTimeout`]); each connection also watches its own
//!   [`Slot::deadline`].
//!
//! The table does no I/O and spawns nothing: a listener asks
//! [`Table::admit`] for a [`Slot`], marks it busy and idle, waits on
//! [`Slot::closed`] and its deadline beside its reads, and drops the slot
//! when the connection ends. Everything is O(1) per operation but the sweep,
//! which visits only the connections it closes.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// What a table allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max: usize,
    /// Idle time allowed between requests while the table is at most half full.
    pub idle: Duration,
    /// Whole life of a connection while the table is at most half full
    /// (checked whenever the connection is not busy).
    pub lifetime: Duration,
    /// Idle time allowed once the table is 90 % full (at most `idle`).
    pub floor: Duration,
}

impl Limits {
    /// The idle time allowed near full by default: one second, or `idle`
    /// if that is shorter.
    pub fn default_floor(idle: Duration) -> Duration {
        idle.min(Duration::from_secs(1))
    }
}

/// Why the table closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// It was the idle-longest when a new connection needed its slot.
    Evicted,
    /// It was found idle past the timeout of the moment by an admission.
    IdleTimeout,
}

/// Why a connection's own deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    Idle,
    Lifetime,
}

/// [`Table::admit`] found every connection busy.
#[derive(Debug)]
pub struct Full;

/// A new connection's slot, and what its admission closed.
pub struct Admitted {
    pub slot: Slot,
    /// The idle-longest connection was closed to make room.
    pub evicted: bool,
    /// Connections closed because they were idle past the timeout.
    pub expired: usize,
}

/// One table, shared by the listeners it caps.
pub struct Table {
    limits: Limits,
    /// Open connections (as in `Inner::len`), for lock-free reads.
    len: AtomicUsize,
    /// Time zero of the nanosecond stamps.
    epoch: Instant,
    inner: Mutex<Inner>,
}

const NIL: usize = usize::MAX;
const OPEN: u8 = 0;
const EVICTED: u8 = 1;
const TIMED_OUT: u8 = 2;
/// `Shared::idle_since` of a busy connection.
const BUSY: u64 = u64::MAX;

struct Inner {
    entries: Vec<Entry>,
    free: Vec<usize>,
    /// The idle list, oldest first.
    head: usize,
    tail: usize,
    len: usize,
}

struct Entry {
    prev: usize,
    next: usize,
    /// In the idle list.
    linked: bool,
    /// `None`: a free entry.
    shared: Option<Arc<Shared>>,
}

/// What a connection and the table both see.
struct Shared {
    state: AtomicU8,
    /// Nanoseconds since the epoch of the last request (or the opening);
    /// [`BUSY`] while busy.
    idle_since: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl Shared {
    fn close(&self, why: u8) -> Option<Waker> {
        self.state.store(why, Ordering::Release);
        lock(&self.waker).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the list consistent (every
    // change is a few assignments): carry on with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Table {
    pub fn new(limits: Limits) -> Arc<Table> {
        let limits = Limits {
            max: limits.max.max(1),
            floor: limits.floor.min(limits.idle),
            ..limits
        };
        Arc::new(Table {
            limits,
            len: AtomicUsize::new(0),
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                free: Vec::new(),
                head: NIL,
                tail: NIL,
                len: 0,
            }),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The idle time and lifetime allowed with `len` connections open.
    pub fn timeouts_at(&self, len: usize) -> (Duration, Duration) {
        let l = &self.limits;
        let low = l.max / 2;
        let high = (l.max * 9 / 10).max(low);
        if len <= low {
            return (l.idle, l.lifetime);
        }
        let idle = if len >= high || high == low {
            l.floor
        } else {
            let f = (len - low) as f64 / (high - low) as f64;
            l.idle - (l.idle - l.floor).mul_f64(f)
        };
        // The lifetime shrinks in the same proportion.
        let ratio = idle.as_secs_f64() / l.idle.as_secs_f64().max(1e-9);
        (idle, l.lifetime.mul_f64(ratio.min(1.0)))
    }

    /// [`Table::timeouts_at`] the current occupancy.
    pub fn timeouts(&self) -> (Duration, Duration) {
        self.timeouts_at(self.len())
    }

    fn stamp(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u128::from(BUSY - 1)) as u64
    }

    fn instant(&self, stamp: u64) -> Instant {
        self.epoch + Duration::from_nanos(stamp)
    }

    /// A slot for a new connection: first closes the idle connections past
    /// the timeout of the moment, then, if the table is still full, the
    /// idle-longest one. `Err(Full)` when every connection is busy.
    pub fn admit(self: &Arc<Self>) -> Result<Admitted, Full> {
        let now = Instant::now();
        let now_stamp = self.stamp(now);
        let mut wake = Vec::new();
        let mut expired = 0;
        let mut evicted = false;
        let slot = {
            let mut inner = lock(&self.inner);
            let (idle, _) = self.timeouts_at(inner.len);
            let idle = idle.as_nanos().min(u128::from(u64::MAX)) as u64;
            while inner.head != NIL {
                let head = inner.head;
                let Some(shared) = inner.entries[head].shared.clone() else {
                    break;
                };
                let since = shared.idle_since.load(Ordering::Relaxed);
                if since == BUSY || now_stamp.saturating_sub(since) < idle {
                    break;
                }
                inner.remove(head);
                wake.extend(shared.close(TIMED_OUT));
                expired += 1;
            }
            if inner.len >= self.limits.max {
                let head = inner.head;
                if head == NIL {
                    self.len.store(inner.len, Ordering::Relaxed);
                    drop(inner);
                    wake.into_iter().for_each(Waker::wake);
                    return Err(Full);
                }
                if let Some(shared) = inner.entries[head].shared.clone() {
                    inner.remove(head);
                    wake.extend(shared.close(EVICTED));
                    evicted = true;
                }
            }
            let shared = Arc::new(Shared {
                state: AtomicU8::new(OPEN),
                idle_since: AtomicU64::new(now_stamp),
                waker: Mutex::new(None),
            });
            let index = inner.insert(shared.clone());
            self.len.store(inner.len, Ordering::Relaxed);
            Slot {
                table: self.clone(),
                index,
                shared,
                opened: now,
            }
        };
        wake.into_iter().for_each(Waker::wake);
        Ok(Admitted { slot, evicted, expired })
    }
}

impl Inner {
    fn insert(&mut self, shared: Arc<Shared>) -> usize {
        let entry = Entry {
            prev: NIL,
            next: NIL,
            linked: false,
            shared: Some(shared),
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.len += 1;
        self.push_back(index);
        index
    }

    /// Frees entry `i` (unlinked first).
    fn remove(&mut self, i: usize) {
        self.unlink(i);
        self.entries[i].shared = None;
        self.free.push(i);
        self.len -= 1;
    }

    fn push_back(&mut self, i: usize) {
        if self.entries[i].linked {
            return;
        }
        let tail = self.tail;
        {
            let e = &mut self.entries[i];
            e.prev = tail;
            e.next = NIL;
            e.linked = true;
        }
        if tail == NIL {
            self.head = i;
        } else {
            self.entries[tail].next = i;
        }
        self.tail = i;
    }

    fn unlink(&mut self, i: usize) {
        if !self.entries[i].linked {
            return;
        }
        let (prev, next) = (self.entries[i].prev, self.entries[i].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        let e = &mut self.entries[i];
        e.prev = NIL;
        e.next = NIL;
        e.linked = false;
    }
}

/// One connection's place in its table; given back when dropped.
pub struct Slot {
    table: Arc<Table>,
    index: usize,
    shared: Arc<Shared>,
    opened: Instant,
}

impl Slot {
    /// Runs `f` on the table's list while this connection is still in it.
    fn with_entry(&self, f: impl FnOnce(&mut Inner, usize)) {
        let mut inner = lock(&self.table.inner);
        if self.shared.state.load(Ordering::Acquire) == OPEN {
            f(&mut inner, self.index);
        }
    }

    /// A request came: the idle clock starts again (the connection stays
    /// evictable; it is now the most recently active).
    pub fn active(&self) {
        self.with_entry(|inner, i| {
            inner.unlink(i);
            self.shared
                .idle_since
                .store(self.table.stamp(Instant::now()), Ordering::Relaxed);
            inner.push_back(i);
        });
    }

    /// Busy: neither evicted nor timed out until [`Slot::idle`].
    pub fn busy(&self) {
        self.with_entry(|inner, i| {
            inner.unlink(i);
            self.shared.idle_since.store(BUSY, Ordering::Relaxed);
        });
    }

    /// Idle again from now (as [`Slot::active`], from busy).
    pub fn idle(&self) {
        self.active();
    }

    pub fn is_busy(&self) -> bool {
        self.shared.idle_since.load(Ordering::Relaxed) == BUSY
    }

    pub fn opened(&self) -> Instant {
        self.opened
    }

    /// When this idle connection is to be closed at the current occupancy,
    /// and why; `None` while busy.
    pub fn deadline(&self) -> Option<(Instant, Expired)> {
        let since = self.shared.idle_since.load(Ordering::Relaxed);
        if since == BUSY {
            return None;
        }
        let (idle, lifetime) = self.table.timeouts();
        let idle_end = self.table.instant(since) + idle;
        let life_end = self.opened + lifetime;
        Some(if life_end <= idle_end {
            (life_end, Expired::Lifetime)
        } else {
            (idle_end, Expired::Idle)
        })
    }

    /// Whether this idle connection is past its deadline at `now`.
    pub fn expired(&self, now: Instant) -> Option<Expired> {
        self.deadline().filter(|(at, _)| *at <= now).map(|(_, why)| why)
    }

    /// Whether the table has closed this connection.
    pub fn closed_now(&self) -> Option<Closed> {
        match self.shared.state.load(Ordering::Acquire) {
            OPEN => None,
            EVICTED => Some(Closed::Evicted),
            _ => Some(Closed::IdleTimeout),
        }
    }

    /// Ready once the table closes this connection (one waker: poll it
    /// from the connection's own task).
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<Closed> {
        if let Some(c) = self.closed_now() {
            return Poll::Ready(c);
        }
        {
            let mut w = lock(&self.shared.waker);
            match w.as_ref() {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        match self.closed_now() {
            Some(c) => Poll::Ready(c),
            None => Poll::Pending,
        }
    }

    /// [`Slot::poll_closed`] as a future.
    pub fn closed(&self) -> impl Future<Output = Closed> + '_ {
        std::future::poll_fn(move |cx| self.poll_closed(cx))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let table = &self.table;
        let mut inner = lock(&table.inner);
        // Closed by the table: its entry is already free (maybe reused).
        if self.shared.state.load(Ordering::Acquire) == OPEN {
            inner.remove(self.index);
            table.len.store(inner.len, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: usize, idle_ms: u64) -> Arc<Table> {
        Table::new(Limits {
            max,
            idle: Duration::from_millis(idle_ms),
            lifetime: Duration::from_millis(idle_ms * 6),
            floor: Duration::from_millis(idle_ms / 10),
        })
    }

    #[test]
    fn the_idle_longest_makes_room_and_busy_ones_stay() {
        let t = table(3, 60_000);
        let a = t.admit().unwrap().slot;
        let b = t.admit().unwrap().slot;
        let c = t.admit().unwrap().slot;
        // a has a request in progress, b asked something after c opened.
        a.busy();
        b.active();
        let d = t.admit().unwrap();
        assert!(d.evicted);
        assert_eq!(c.closed_now(), Some(Closed::Evicted), "c was idle longest");
        assert_eq!((a.closed_now(), b.closed_now()), (None, None));
        drop(c);
        assert_eq!(t.len(), 3);
        let e = t.admit().unwrap();
        assert_eq!(b.closed_now(), Some(Closed::Evicted));
        assert!(e.evicted);
        drop(b);
        // Now a (busy), d and e: d goes next; with d busy too, e.
        d.slot.busy();
        let f = t.admit().unwrap();
        assert_eq!(e.slot.closed_now(), Some(Closed::Evicted));
        drop(e);
        // a, d busy and f idle: f makes room; once all are busy: Full.
        f.slot.busy();
        assert!(t.admit().is_err(), "every connection busy: refused");
        assert_eq!(t.len(), 3);
        a.idle();
        let g = t.admit().unwrap();
        assert_eq!(a.closed_now(), Some(Closed::Evicted));
        drop((a, d, f, g));
        assert_eq!(t.len(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn dropping_a_slot_frees_it_for_reuse() {
        let t = table(2, 60_000);
        for _ in 0..1000 {
            let a = t.admit().unwrap();
            assert!(!a.evicted);
            drop(a);
        }
        assert_eq!(t.len(), 0);
        assert!(lock(&t.inner).entries.len() <= 1, "entries are reused");
    }

    #[test]
    fn timeouts_shrink_as_the_table_fills() {
        let t = table(100, 10_000);
        let full = (Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(t.timeouts_at(0), full);
        assert_eq!(t.timeouts_at(50), full);
        let (i70, l70) = t.timeouts_at(70);
        assert!(i70 < full.0 && i70 > Duration::from_secs(1), "{i70:?}");
        assert!(l70 < full.1 && l70 > Duration::from_secs(6), "{l70:?}");
        assert_eq!(t.timeouts_at(90).0, Duration::from_secs(1));
        assert_eq!(t.timeouts_at(100).0, Duration::from_secs(1));
        assert_eq!(t.timeouts_at(100).1, Duration::from_secs(6));
        // A table of one is always "full".
        let one = table(1, 10_000);
        assert_eq!(one.timeouts_at(1).0, Duration::from_secs(1));
    }

    #[test]
    fn an_admission_sweeps_connections_idle_past_the_timeout() {
        let t = table(10, 200);
        let old: Vec<Slot> = (0..9).map(|_| t.admit().unwrap().slot).collect();
        // 9 of 10: past 90 %, the idle time allowed is the floor (20 ms).
        std::thread::sleep(Duration::from_millis(50));
        old[8].active();
        let a = t.admit().unwrap();
        assert_eq!(a.expired, 8, "the 8 idle past 20 ms closed");
        assert!(!a.evicted);
        assert!(old[..8].iter().all(|s| s.closed_now() == Some(Closed::IdleTimeout)));
        assert_eq!(old[8].closed_now(), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn deadlines_follow_idle_time_and_lifetime() {
        let t = table(100, 1000);
        let a = t.admit().unwrap().slot;
        let (at, why) = a.deadline().unwrap();
        assert_eq!(why, Expired::Idle);
        assert!(at <= Instant::now() + Duration::from_millis(1000));
        a.busy();
        assert!(a.deadline().is_none() && a.expired(Instant::now() + Duration::from_secs(3600)).is_none());
        a.idle();
        assert_eq!(a.expired(Instant::now() + Duration::from_secs(2)), Some(Expired::Idle));
        // A lifetime shorter than the idle time ends the connection first.
        let t = Table::new(Limits {
            max: 100,
            idle: Duration::from_secs(10),
            lifetime: Duration::from_secs(1),
            floor: Duration::from_secs(1),
        });
        let b = t.admit().unwrap().slot;
        assert_eq!(b.deadline().map(|d| d.1), Some(Expired::Lifetime));
        assert_eq!(b.expired(b.opened() + Duration::from_secs(2)), Some(Expired::Lifetime));
        assert_eq!(b.expired(b.opened()), None);
    }

    #[test]
    fn a_closed_slot_wakes_its_waiter() {
        let t = table(1, 60_000);
        let a = t.admit().unwrap().slot;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let waiter = async { a.closed().await };
            let evict = async {
                tokio::task::yield_now().await;
                t.admit().unwrap()
            };
            let (why, _b) = tokio::join!(waiter, evict);
            assert_eq!(why, Closed::Evicted);
        });
    }
}
