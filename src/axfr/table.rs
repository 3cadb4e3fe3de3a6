//! The engine's table of secondary zones: one slot per zone (its
//! settings, state machine, status and life) under a generation, so that
//! a removed zone's late events never reach a new one, and the set of
//! every zone's next wake-up, which the driver takes in order.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::refresh::Secondary;
use super::slots::Priority;
use super::status::ZoneStatus;
use super::version::Life;

/// A zone in the table: its slot and the slot's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) slot: u32,
    pub(super) generation: u32,
}

/// Every zone, and every zone's next wake-up.
#[derive(Default)]
pub(super) struct Table {
    pub(super) slots: Vec<Option<Box<Slot>>>,
    pub(super) free: Vec<u32>,
    pub(super) by_apex: HashMap<Box<[u8]>, u32>,
    /// (when, zone): at most one per zone, the one in its slot's `wake`.
    pub(super) timers: BTreeSet<(Instant, Key)>,
    pub(super) generation: u32,
}

/// One zone: where it comes from, its state machine, status and life.
pub(super) struct Slot {
    pub(super) generation: u32,
    pub(super) zone: Link,
    pub(super) machine: Secondary,
    pub(super) status: ZoneStatus,
    pub(super) life: Arc<Life>,
    pub(super) wake: Option<Instant>,
    /// Confirmations so far (orders the timers file's writes).
    pub(super) confirmations: u64,
    /// The serial of a first version just written as a snapshot (which
    /// holds its expiry): its confirmation needs no timers file.
    pub(super) first_written: Option<u32>,
    /// (primary, serial) of the stale or contradicting answers logged since
    /// the last success: each is logged once, not on every retry.
    pub(super) reported: Vec<(usize, u32)>,
    /// The NOTIFY marker is (being) written: a NOTIFY's round has not
    /// ended yet (see [`super::version::notified_path`]).
    pub(super) notified: bool,
    /// Changes of the marker so far (orders them).
    pub(super) marker_changes: u64,
}

/// At most this many stale answers are remembered per zone.
pub(super) const MAX_REPORTED: usize = 16;

/// What a zone's queries and transfers need of its settings (the timer
/// clamps live in its state machine).
pub(super) struct Link {
    pub(super) apex: Box<[u8]>,
    pub(super) primaries: Box<[SocketAddr]>,
    pub(super) key: Option<Arc<crate::tsig::Key>>,
    /// How much IXFR history the zone keeps.
    pub(super) history: crate::zone::journal::Bounds,
    /// `notify-source`: the address SOA queries and transfers go from.
    pub(super) source: Option<std::net::IpAddr>,
}

impl Table {
    pub(super) fn get_mut(&mut self, key: Key) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot as usize)
            .and_then(Option::as_deref_mut)
            .filter(|s| s.generation == key.generation)
    }

    pub(super) fn key_of(&self, apex: &[u8]) -> Option<Key> {
        let slot = *self.by_apex.get(apex)?;
        let generation = self.slots.get(slot as usize)?.as_ref()?.generation;
        Some(Key { slot, generation })
    }

    pub(super) fn insert(&mut self, zone: Link, machine: Secondary, status: ZoneStatus) -> Key {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let slot = Box::new(Slot {
            generation,
            zone,
            machine,
            status,
            life: Arc::new(Life::default()),
            wake: None,
            confirmations: 0,
            first_written: None,
            reported: Vec::new(),
            notified: false,
            marker_changes: 0,
        });
        let apex = slot.zone.apex.clone();
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_apex.insert(apex, index);
        Key {
            slot: index,
            generation,
        }
    }

    pub(super) fn remove(&mut self, apex: &[u8]) -> Option<Box<Slot>> {
        let index = self.by_apex.remove(apex)?;
        let slot = self.slots.get_mut(index as usize)?.take()?;
        self.free.push(index);
        if let Some(at) = slot.wake {
            self.timers.remove(&(
                at,
                Key {
                    slot: index,
                    generation: slot.generation,
                },
            ));
        }
        Some(slot)
    }

    /// Sets the zone's one wake-up.
    pub(super) fn set_wake(&mut self, key: Key, at: Instant) {
        let Some(slot) = self.get_mut(key) else { return };
        let old = slot.wake.replace(at);
        if let Some(old) = old {
            self.timers.remove(&(old, key));
        }
        self.timers.insert((at, key));
    }

    /// Takes the earliest wake-up if it is due.
    pub(super) fn due(&mut self, now: Instant) -> Option<Key> {
        let &(at, key) = self.timers.first()?;
        if at > now {
            return None;
        }
        self.timers.pop_first();
        if let Some(slot) = self.get_mut(key) {
            slot.wake = None;
        }
        Some(key)
    }
}

/// A primary answered what it should not (a serial behind ours, a transfer
/// older than its own SOA): counted, and `why(address)` becomes the zone's
/// last error. Returns the address when this (primary, serial) was not
/// reported since the last success, so the caller logs it once.
pub(super) fn primary_problem(
    slot: &mut Slot,
    primary: usize,
    serial: u32,
    counter: &AtomicU64,
    why: impl FnOnce(&str) -> String,
) -> Option<String> {
    counter.fetch_add(1, Ordering::Relaxed);
    let addr = slot
        .zone
        .primaries
        .get(primary)
        .map_or_else(|| format!("primary {primary}"), |a| a.to_string());
    slot.status.last_error = Some(why(&addr));
    if slot.reported.contains(&(primary, serial)) {
        return None;
    }
    if slot.reported.len() >= MAX_REPORTED {
        slot.reported.remove(0);
    }
    slot.reported.push((primary, serial));
    Some(addr)
}

/// A zone that was never loaded (answering SERVFAIL) goes before the
/// refreshes of zones already served.
pub(super) fn priority_of(slot: &Slot) -> Priority {
    if slot.status.serial.is_none() {
        Priority::FirstLoad
    } else {
        Priority::Refresh
    }
}
