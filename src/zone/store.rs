//! The set of served zones, published through `arc-swap`.
//!
//! Readers (the query path) load the current [`ZoneSet`] without locking and
//! keep it for the duration of one answer. Writers build a new set (sharing
//! every unchanged zone through `Arc`) and swap it in atomically.

use std::hash::BuildHasher;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::HashTable;

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

/// Shards of a [`ZoneSet`]: a change copies one shard, not the whole set,
/// so publishing a zone costs O(zones / SHARDS) however many zones a node
/// holds (10,000 zones: about 160 entries per copy).
const SHARDS: usize = 64;

type Shard = HashTable<Arc<Served>>;

fn hash_of(apex: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7a6f_6e65_7365_7421).hash_one(apex)
}

/// Bits 40..46 of the hash pick the shard: the table inside uses the low
/// bits for its buckets and the top seven for its tags.
#[inline]
fn shard_of(hash: u64) -> usize {
    ((hash >> 40) as usize) & (SHARDS - 1)
}

/// An immutable set of zones, keyed by apex.
#[derive(Clone)]
pub struct ZoneSet {
    shards: Vec<Arc<Shard>>,
}

impl Default for ZoneSet {
    fn default() -> Self {
        ZoneSet {
            shards: (0..SHARDS).map(|_| Arc::new(Shard::new())).collect(),
        }
    }
}

impl ZoneSet {
    /// The zone with the longest apex that `qname` (lowercase wire) is at or
    /// below.
    #[inline]
    pub fn find(&self, qname: &[u8]) -> Option<&Arc<Served>> {
        let mut n = qname;
        loop {
            if let Some(z) = self.get(n) {
                return Some(z);
            }
            if n.len() <= 1 {
                return None;
            }
            n = name::parent(n);
        }
    }

    /// The zone with exactly this apex.
    #[inline]
    pub fn get(&self, apex: &[u8]) -> Option<&Arc<Served>> {
        let hash = hash_of(apex);
        self.shards[shard_of(hash)].find(hash, |s| &*s.apex == apex)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Served>> {
        self.shards.iter().flat_map(|s| s.iter())
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
        let mut next = self.clone();
        next.insert(Arc::new(served));
        next
    }

    /// A copy of this set with many entries added or replaced at once.
    pub fn with_entries(&self, list: impl IntoIterator<Item = Served>) -> ZoneSet {
        let mut next = self.clone();
        for served in list {
            next.insert(Arc::new(served));
        }
        next
    }

    /// A copy of this set without the zone at `apex`.
    pub fn without(&self, apex: &[u8]) -> ZoneSet {
        let mut next = self.clone();
        let hash = hash_of(apex);
        let shard = Arc::make_mut(&mut next.shards[shard_of(hash)]);
        if let Ok(entry) = shard.find_entry(hash, |s| &*s.apex == apex) {
            entry.remove();
        }
        next
    }

    /// Adds or replaces an entry; copies its shard if it is shared.
    fn insert(&mut self, served: Arc<Served>) {
        let hash = hash_of(&served.apex);
        let shard = Arc::make_mut(&mut self.shards[shard_of(hash)]);
        match shard.find_entry(hash, |s| s.apex == served.apex) {
            Ok(mut entry) => *entry.get_mut() = served,
            Err(_) => {
                shard.insert_unique(hash, served, |s| hash_of(&s.apex));
            }
        }
    }

    /// A set built from many zones at once.
    pub fn from_zones(list: impl IntoIterator<Item = Arc<Zone>>) -> ZoneSet {
        ZoneSet::default().with_entries(list.into_iter().map(|zone| Served {
            apex: zone.apex().into(),
            zone: Some(zone),
            expired: false,
        }))
    }
}

/// The handle through which zones are published and read.
#[derive(Clone, Default)]
pub struct Store {
    current: Arc<ArcSwap<ZoneSet>>,
    /// Serialises writers (readers never take it).
    writer: Arc<std::sync::Mutex<()>>,
    /// Bumped after every [`Store::update`]: tasks that follow new versions
    /// (NOTIFY out) wait on it instead of polling. Writers only; the query
    /// path never touches it.
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Store {
    pub fn new(set: ZoneSet) -> Store {
        Store {
            current: Arc::new(ArcSwap::from_pointee(set)),
            writer: Arc::default(),
            generation: Arc::default(),
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
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A receiver that sees a new value after every [`Store::update`]
    /// (changes that follow each other fast are seen once): compare
    /// [`Store::snapshot`] with the last set seen to find what changed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
