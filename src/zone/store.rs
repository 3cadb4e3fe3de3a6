//! The set of served zones, published through `arc-swap`.
//!
//! Readers (the query path) load the current [`ZoneSet`] without locking and
//! keep it for the duration of one answer. Writers build a new set (sharing
//! every unchanged zone through `Arc`) and swap it in atomically.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Zone;
use super::name;

/// One served zone as the query path sees it.
pub struct Served {
    pub apex: Box<[u8]>,
    /// The version being served; `None` for a secondary zone that has no
    /// version yet (answered with SERVFAIL, as Knot does).
    pub zone: Option<Arc<Zone>>,
    /// Past its SOA expire without a successful refresh: answer SERVFAIL.
    pub expired: bool,
}

impl Served {
    /// The zone to answer from, if it may be answered from.
    #[inline]
    pub fn answerable(&self) -> Option<&Arc<Zone>> {
        if self.expired { None } else { self.zone.as_ref() }
    }
}

/// An immutable set of zones, keyed by apex.
#[derive(Clone, Default)]
pub struct ZoneSet {
    zones: HashMap<Box<[u8]>, Arc<Served>, foldhash::fast::FixedState>,
}

impl ZoneSet {
    /// The zone with the longest apex that `qname` (lowercase wire) is at or
    /// below.
    #[inline]
    pub fn find(&self, qname: &[u8]) -> Option<&Arc<Served>> {
        if self.zones.is_empty() {
            return None;
        }
        let mut n = qname;
        loop {
            if let Some(z) = self.zones.get(n) {
                return Some(z);
            }
            if n.len() <= 1 {
                return None;
            }
            n = name::parent(n);
        }
    }

    /// The zone with exactly this apex.
    pub fn get(&self, apex: &[u8]) -> Option<&Arc<Served>> {
        self.zones.get(apex)
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Served>> {
        self.zones.values()
    }

    /// A copy of this set with `zone` added or replaced.
    pub fn with(&self, zone: Arc<Zone>, expired: bool) -> ZoneSet {
        let apex: Box<[u8]> = zone.apex().into();
        self.with_entry(Served {
            apex,
            zone: Some(zone),
            expired,
        })
    }

    /// A copy of this set with the entry for `served.apex` added or replaced.
    pub fn with_entry(&self, served: Served) -> ZoneSet {
        let mut zones = self.zones.clone();
        zones.insert(served.apex.clone(), Arc::new(served));
        ZoneSet { zones }
    }

    /// A copy of this set without the zone at `apex`.
    pub fn without(&self, apex: &[u8]) -> ZoneSet {
        let mut zones = self.zones.clone();
        zones.remove(apex);
        ZoneSet { zones }
    }

    /// A set built from many zones at once.
    pub fn from_zones(list: impl IntoIterator<Item = Arc<Zone>>) -> ZoneSet {
        let mut zones: HashMap<Box<[u8]>, Arc<Served>, foldhash::fast::FixedState> = HashMap::default();
        for zone in list {
            let apex: Box<[u8]> = zone.apex().into();
            zones.insert(
                apex.clone(),
                Arc::new(Served {
                    apex,
                    zone: Some(zone),
                    expired: false,
                }),
            );
        }
        ZoneSet { zones }
    }
}

/// The handle through which zones are published and read.
#[derive(Clone, Default)]
pub struct Store {
    current: Arc<ArcSwap<ZoneSet>>,
    /// Serialises writers (readers never take it).
    writer: Arc<std::sync::Mutex<()>>,
}

impl Store {
    pub fn new(set: ZoneSet) -> Store {
        Store {
            current: Arc::new(ArcSwap::from_pointee(set)),
            writer: Arc::default(),
        }
    }

    /// The current set. Cheap; hold it only for one answer.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<ZoneSet>> {
        self.current.load()
    }

    /// A full reference to the current set, for long-lived readers.
    pub fn snapshot(&self) -> Arc<ZoneSet> {
        self.current.load_full()
    }

    /// Replaces the set with `f(current)`. Writers are serialised; readers
    /// see the old set or the new one, never a mix.
    pub fn update(&self, f: impl FnOnce(&ZoneSet) -> ZoneSet) {
        let _guard = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = f(&self.current.load());
        self.current.store(Arc::new(next));
    }
}
