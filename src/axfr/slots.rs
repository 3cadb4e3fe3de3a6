//! Node-wide slots for the work zones do against their primaries (SOA
//! queries, transfers), shared fairly.
//!
//! A node holds thousands of zones of many customers, and any customer
//! names its own primary: a primary that answers slowly, or trickles a
//! transfer, must not hold every slot while the other customers' zones
//! wait. So:
//!
//! - at most `total` slots are in use node-wide (the node's own bound on
//!   sockets and memory in flight);
//! - each primary address (IP, whatever the port) is sure of `per_source`
//!   of them; it gets more only while more than `per_source` slots are
//!   free besides, so one primary — or one customer's many zones on it —
//!   can never take the last `per_source` slots from everyone else, yet a
//!   node that takes all its zones from one primary (a fleet's hub) still
//!   uses most of the slots;
//! - a zone that has never been loaded (answering SERVFAIL) goes before the
//!   refreshes of zones already served; within a priority, primaries take
//!   turns (round robin), and each primary's zones go in arrival order.
//!
//! A waiter is a oneshot channel; a slot is granted by sending it a
//! [`Slot`], whose drop gives it back and grants the next one. A waiter that
//! gave up (its future dropped) is skipped; a slot sent to a waiter that
//! gives up at that moment is dropped with the channel and so given back.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Who goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A zone with no version yet.
    FirstLoad = 0,
    /// A zone already served.
    Refresh = 1,
}

/// A pool of slots. Cheap to clone.
#[derive(Clone)]
pub struct Slots {
    inner: Arc<Inner>,
}

struct Inner {
    total: usize,
    per_source: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_use: usize,
    /// Slots held per primary address (no entry: none).
    active: HashMap<IpAddr, usize>,
    /// Per priority: each address's waiters, and the addresses with
    /// waiters in turn order.
    waiting: [HashMap<IpAddr, VecDeque<oneshot::Sender<Slot>>>; 2],
    turns: [VecDeque<IpAddr>; 2],
}

/// One slot held; given back on drop.
pub struct Slot {
    inner: Option<Arc<Inner>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.lock();
            state.release(self.source);
            inner.grant(&mut state);
        }
    }
}

impl Slots {
    /// `total` slots node-wide; `per_source` for each primary address, more
    /// only while `per_source` others stay free.
    pub fn new(total: usize, per_source: usize) -> Slots {
        Slots {
            inner: Arc::new(Inner {
                total: total.max(1),
                per_source: per_source.clamp(1, total.max(1)),
                state: Mutex::default(),
            }),
        }
    }

    /// Waits for a slot for work against `source`.
    pub async fn acquire(&self, source: IpAddr, priority: Priority) -> Slot {
        let rx = {
            let mut state = self.inner.lock();
            let (tx, rx) = oneshot::channel();
            let p = priority as usize;
            let queue = state.waiting[p].entry(source).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                state.turns[p].push_back(source);
            }
            self.inner.grant(&mut state);
            rx
        };
        match rx.await {
            Ok(slot) => slot,
            // The sender is dropped only with the pool, which `self` keeps
            // alive: not reached. Hand out an unaccounted slot rather than
            // panic.
            Err(_) => Slot { inner: None, source },
        }
    }

    /// Slots in use now, node-wide and for `source`.
    pub fn in_use(&self, source: IpAddr) -> (usize, usize) {
        let state = self.inner.lock();
        (state.in_use, state.active.get(&source).copied().unwrap_or(0))
    }

    /// Waiters now, both priorities.
    pub fn waiting(&self) -> usize {
        let state = self.inner.lock();
        state.waiting.iter().flat_map(|m| m.values()).map(VecDeque::len).sum()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands free slots to waiters: first-load before refresh, addresses in
    /// turn, none past its share.
    fn grant(self: &Arc<Self>, state: &mut State) {
        'slots: while state.in_use < self.total {
            for p in 0..2 {
                for _ in 0..state.turns[p].len() {
                    let Some(source) = state.turns[p].pop_front() else {
                        break;
                    };
                    let held = state.active.get(&source).copied().unwrap_or(0);
                    if held >= self.per_source && state.in_use + self.per_source >= self.total {
                        state.turns[p].push_back(source);
                        continue;
                    }
                    let Some(queue) = state.waiting[p].get_mut(&source) else {
                        continue;
                    };
                    let waiter = queue.pop_front();
                    if queue.is_empty() {
                        state.waiting[p].remove(&source);
                    } else {
                        state.turns[p].push_back(source);
                    }
                    let Some(tx) = waiter else { continue };
                    state.in_use += 1;
                    *state.active.entry(source).or_default() += 1;
                    let slot = Slot {
                        inner: Some(self.clone()),
                        source,
                    };
                    if let Err(mut slot) = tx.send(slot) {
                        // That waiter gave up: undo, without the drop that
                        // would lock again.
                        slot.inner = None;
                        state.release(source);
                    }
                    continue 'slots;
                }
            }
            break;
        }
    }
}

impl State {
    fn release(&mut self, source: IpAddr) {
        self.in_use = self.in_use.saturating_sub(1);
        if let Some(n) = self.active.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.active.remove(&source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    async fn try_acquire(slots: &Slots, source: IpAddr, priority: Priority) -> Option<Slot> {
        tokio::time::timeout(Duration::from_millis(20), slots.acquire(source, priority))
            .await
            .ok()
    }

    #[tokio::test]
    async fn one_source_gets_at_most_its_share() {
        let slots = Slots::new(4, 2);
        let a1 = try_acquire(&slots, ip(1), Priority::Refresh).await;
        let a2 = try_acquire(&slots, ip(1), Priority::Refresh).await;
        assert!(a1.is_some() && a2.is_some());
        assert!(try_acquire(&slots, ip(1), Priority::Refresh).await.is_none());
        // Others still get theirs.
        let b = try_acquire(&slots, ip(2), Priority::Refresh).await;
        assert!(b.is_some());
        assert_eq!(slots.in_use(ip(1)), (3, 2));
        drop(a1);
        assert_eq!(slots.in_use(ip(1)), (2, 1));
        assert_eq!(slots.waiting(), 0, "a waiter that timed out is gone");
    }

    #[tokio::test]
    async fn one_source_takes_more_only_while_others_keep_a_share_free() {
        let slots = Slots::new(8, 2);
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(try_acquire(&slots, ip(1), Priority::Refresh).await.expect("free slot"));
        }
        assert!(
            try_acquire(&slots, ip(1), Priority::Refresh).await.is_none(),
            "the last 2 are kept"
        );
        let b1 = try_acquire(&slots, ip(2), Priority::Refresh).await;
        let b2 = try_acquire(&slots, ip(2), Priority::Refresh).await;
        assert!(b1.is_some() && b2.is_some(), "another primary gets its share at once");
        assert_eq!(slots.in_use(ip(2)), (8, 2));
        drop(b1);
        assert!(try_acquire(&slots, ip(1), Priority::Refresh).await.is_none());
        assert!(try_acquire(&slots, ip(3), Priority::Refresh).await.is_some());
        drop(held);
    }

    #[tokio::test]
    async fn first_loads_go_before_refreshes_and_sources_take_turns() {
        let slots = Slots::new(1, 1);
        let held = slots.acquire(ip(9), Priority::Refresh).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (source, priority, tag) in [
            (ip(1), Priority::Refresh, "r1a"),
            (ip(1), Priority::Refresh, "r1b"),
            (ip(2), Priority::Refresh, "r2"),
            (ip(3), Priority::FirstLoad, "f3"),
        ] {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire(source, priority).await;
                order.lock().unwrap().push(tag);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(slots.waiting(), 4);
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["f3", "r1a", "r2", "r1b"]);
        assert_eq!(slots.in_use(ip(1)), (0, 0));
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_slot_behind() {
        let slots = Slots::new(1, 1);
        let held = slots.acquire(ip(1), Priority::Refresh).await;
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(ip(2), Priority::Refresh).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiting.abort();
        let _ = waiting.await;
        drop(held);
        assert_eq!(slots.in_use(ip(2)), (0, 0));
        assert!(try_acquire(&slots, ip(3), Priority::Refresh).await.is_some());
    }
}
