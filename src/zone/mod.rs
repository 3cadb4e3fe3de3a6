//! The zone store: immutable zone snapshots and their lookup structures.
//!
//! A [`Zone`] is built once (from a file or a transfer) by
//! [`build::ZoneBuilder`] and never changes afterwards; a change publishes a
//! new snapshot through [`store::Store`]. Its data lives in a few flat arenas
//! (names, nodes, RRsets, rdata) so that a million records cost little memory
//! and a lookup is one hash probe per label, whatever the size of the zone.
//!
//! Nodes are kept in DNSSEC canonical order (RFC 4034 section 6.1), which is a
//! pre-order walk of the name tree: a node's descendants follow it directly.
//! That order gives NSEC predecessors by binary search.

pub mod build;
pub mod diff;
pub mod file;
pub mod history;
pub mod journal;
mod layout;
mod loc;
pub mod name;
pub mod nsec3;
pub mod patch;
pub mod persist;
pub mod store;
pub mod trim;
pub mod wire;

use std::hash::BuildHasher;

use hashbrown::HashTable;

pub use build::{ZoneBuilder, ZoneIssue};
pub use store::{Store, ZoneSet};

/// Resource record type codes used by the server.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const MD: u16 = 3;
    pub const MF: u16 = 4;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MB: u16 = 7;
    pub const MG: u16 = 8;
    pub const MR: u16 = 9;
    pub const PTR: u16 = 12;
    pub const HINFO: u16 = 13;
    pub const MINFO: u16 = 14;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const TKEY: u16 = 249;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Node flags.
pub mod flag {
    /// The apex of the zone.
    pub const APEX: u8 = 1;
    /// A delegation point: NS below the apex.
    pub const CUT: u8 = 2;
    /// Owns a DNAME.
    pub const DNAME: u8 = 4;
    /// Strictly below a cut or a DNAME: not served authoritatively.
    pub const OCCLUDED: u8 = 8;
    /// `*.<this name>` exists in the zone.
    pub const WILDCARD_CHILD: u8 = 16;
}

/// One name in the zone and the RRsets it owns (none for an empty
/// non-terminal).
#[derive(Clone, Copy, Debug)]
pub struct Node {
    name_off: u32,
    rr_start: u32,
    /// Index of the parent node (the apex is its own parent). Read it
    /// through [`Zone::parent`]: in a patched zone it may name a node the
    /// patch replaced.
    parent: u32,
    name_len: u8,
    pub flags: u8,
    rr_count: u16,
}

/// The records of one owner, type (and, for RRSIG, covered type).
#[derive(Clone, Copy, Debug)]
pub struct RRset {
    pub rtype: u16,
    /// For RRSIG sets: the type the signatures cover; else equal to `rtype`.
    pub covered: u16,
    pub count: u16,
    /// The rdata lives in the patch's arena, not the base's.
    in_patch: bool,
    pub ttl: u32,
    data_off: u32,
    data_len: u32,
}

/// Serial, TTLs and other facts taken from the apex.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZoneInfo {
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// TTL of negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308).
    pub neg_ttl: u32,
    /// The zone carries DNSSEC data (DNSKEY at the apex).
    pub signed: bool,
    /// Number of records, RRSIGs included.
    pub records: usize,
}

/// Flat arenas holding nodes in canonical order: the whole zone as built
/// from a file or an AXFR, or the small set of nodes an IXFR patch replaced
/// or added.
pub(crate) struct Flat {
    names: Vec<u8>,
    nodes: Vec<Node>,
    rrsets: Vec<RRset>,
    rdata: Vec<u8>,
    /// Name hash -> local node id.
    index: HashTable<u32>,
    /// Nodes that own an NSEC (and are not occluded), in canonical order;
    /// zone-wide ids.
    nsec_nodes: Vec<u32>,
}

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7068_6172_6f73)
}

impl Flat {
    fn empty() -> Flat {
        Flat {
            names: Vec::new(),
            nodes: Vec::new(),
            rrsets: Vec::new(),
            rdata: Vec::new(),
            index: HashTable::new(),
            nsec_nodes: Vec::new(),
        }
    }

    #[inline]
    fn name(&self, local: u32) -> &[u8] {
        let n = &self.nodes[local as usize];
        &self.names[n.name_off as usize..n.name_off as usize + n.name_len as usize]
    }

    #[inline]
    fn rrsets(&self, local: u32) -> &[RRset] {
        let n = &self.nodes[local as usize];
        &self.rrsets[n.rr_start as usize..n.rr_start as usize + n.rr_count as usize]
    }

    #[inline]
    fn find(&self, name: &[u8]) -> Option<u32> {
        let hash = hasher().hash_one(name);
        self.index.find(hash, |&id| self.name(id) == name).copied()
    }

    fn heap_size(&self) -> usize {
        self.names.capacity()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.rrsets.capacity() * std::mem::size_of::<RRset>()
            + self.rdata.capacity()
            + self.index.capacity() * 5
            + self.nsec_nodes.capacity() * 4
    }
}

/// An immutable zone snapshot: a base built in one go, plus, after IXFRs,
/// a small patch of replaced and added nodes (see [`patch`]). Node ids
/// below the base's node count are base nodes; the rest are patch nodes.
pub struct Zone {
    apex: Box<[u8]>,
    base: std::sync::Arc<Flat>,
    patch: Option<std::sync::Arc<patch::Patch>>,
    nsec3: Option<std::sync::Arc<nsec3::Chain>>,
    pub info: ZoneInfo,
}

/// Node id of the apex.
pub const APEX: u32 = 0;

impl Zone {
    /// The apex name, lowercase wire format.
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    #[inline]
    fn base_len(&self) -> u32 {
        self.base.nodes.len() as u32
    }

    /// The arena holding a node and the node's index in it.
    #[inline]
    fn locate(&self, id: u32) -> (&Flat, u32) {
        if let Some(p) = &self.patch {
            if id >= self.base_len() {
                return (&p.flat, id - self.base_len());
            }
            if id == APEX && p.apex_local != u32::MAX {
                return (&p.flat, p.apex_local);
            }
        }
        (&self.base, id)
    }

    #[inline]
    pub fn node(&self, id: u32) -> &Node {
        let (flat, local) = self.locate(id);
        &flat.nodes[local as usize]
    }

    /// The parent of a node (the apex is its own parent).
    #[inline]
    pub fn parent(&self, id: u32) -> u32 {
        let p = self.node(id).parent;
        match &self.patch {
            Some(patch) if p < self.base_len() => patch.replaced.get(&p).copied().unwrap_or(p),
            _ => p,
        }
    }

    /// Ids of every node of the zone, in no particular order.
    pub fn node_ids(&self) -> impl Iterator<Item = u32> + '_ {
        let base =
            (0..self.base_len()).filter(move |id| self.patch.as_ref().is_none_or(|p| !p.replaced.contains_key(id)));
        let patched = self.patch.as_ref().into_iter().flat_map(move |p| {
            (0..p.flat.nodes.len() as u32).map(move |local| {
                if local == p.apex_local {
                    APEX
                } else {
                    self.base_len() + local
                }
            })
        });
        base.chain(patched)
    }

    /// Ids of every node in canonical order (for writing the zone out).
    pub fn canonical_ids(&self) -> Vec<u32> {
        let Some(p) = &self.patch else {
            return (0..self.base_len()).collect();
        };
        let mut out = Vec::with_capacity(self.node_count());
        let patch_ids: Vec<u32> = (0..p.flat.nodes.len() as u32)
            .map(|local| {
                if local == p.apex_local {
                    APEX
                } else {
                    self.base_len() + local
                }
            })
            .collect();
        let mut pi = patch_ids.iter().peekable();
        for id in (0..self.base_len()).filter(|id| !p.replaced.contains_key(id)) {
            while let Some(&&q) = pi.peek() {
                if name::canonical_cmp(self.name(q), self.name(id)).is_lt() {
                    out.push(q);
                    pi.next();
                } else {
                    break;
                }
            }
            out.push(id);
        }
        out.extend(pi);
        out
    }

    /// Number of nodes (names, empty non-terminals included).
    pub fn node_count(&self) -> usize {
        match &self.patch {
            Some(p) => self.base.nodes.len() - p.replaced.len() + p.flat.nodes.len(),
            None => self.base.nodes.len(),
        }
    }

    /// Nodes in the patch (0 for a zone built in one go).
    pub fn patch_len(&self) -> usize {
        self.patch.as_ref().map_or(0, |p| p.flat.nodes.len())
    }

    /// Owner name of a node, lowercase wire format.
    #[inline]
    pub fn name(&self, id: u32) -> &[u8] {
        let (flat, local) = self.locate(id);
        flat.name(local)
    }

    /// All RRsets of a node, RRSIG sets last.
    #[inline]
    pub fn rrsets(&self, id: u32) -> &[RRset] {
        let (flat, local) = self.locate(id);
        flat.rrsets(local)
    }

    /// The RRset of a type at a node (not RRSIG; see [`Zone::sigs`]).
    #[inline]
    pub fn get(&self, id: u32, rtype: u16) -> Option<&RRset> {
        self.rrsets(id).iter().find(|r| r.rtype == rtype && r.covered == rtype)
    }

    /// The RRSIGs covering `covered` at a node.
    #[inline]
    pub fn sigs(&self, id: u32, covered: u16) -> Option<&RRset> {
        self.rrsets(id)
            .iter()
            .find(|r| r.rtype == rtype::RRSIG && r.covered == covered)
    }

    /// The rdata of an RRset: `count` entries of (u16 length, rdata).
    #[inline]
    pub fn rdata(&self, set: &RRset) -> &[u8] {
        let arena = match &self.patch {
            Some(p) if set.in_patch => &p.flat.rdata,
            _ => &self.base.rdata,
        };
        &arena[set.data_off as usize..set.data_off as usize + set.data_len as usize]
    }

    /// Iterates over the rdata of an RRset.
    pub fn records<'a>(&'a self, set: &RRset) -> RdataIter<'a> {
        RdataIter { data: self.rdata(set) }
    }

    /// Looks up a lowercase wire name.
    #[inline]
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        match &self.patch {
            None => self.base.find(name),
            Some(p) => {
                if let Some(local) = p.flat.find(name) {
                    return Some(if local == p.apex_local {
                        APEX
                    } else {
                        self.base_len() + local
                    });
                }
                self.base.find(name).filter(|id| !p.replaced.contains_key(id))
            }
        }
    }

    /// The NSEC3 chain, when the zone has an NSEC3PARAM.
    pub fn nsec3(&self) -> Option<&nsec3::Chain> {
        self.nsec3.as_deref()
    }

    /// The node owning the NSEC that covers or matches `name` (its canonical
    /// predecessor among NSEC owners, wrapping to the last one).
    pub fn nsec_covering(&self, name: &[u8]) -> Option<u32> {
        let le = |id: u32| name::canonical_cmp(self.name(id), name).is_le();
        let base = &self.base.nsec_nodes;
        let Some(p) = &self.patch else {
            if base.is_empty() {
                return None;
            }
            let pos = base.partition_point(|&id| le(id));
            return Some(base[if pos == 0 { base.len() - 1 } else { pos - 1 }]);
        };
        let live = |id: &&u32| !p.replaced.contains_key(*id);
        let from_base = |pos: usize| base[..pos].iter().rev().find(live).copied();
        let pos = base.partition_point(|&id| le(id));
        let before = [from_base(pos), {
            let pp = p.flat.nsec_nodes.partition_point(|&id| le(id));
            pp.checked_sub(1).map(|i| p.flat.nsec_nodes[i])
        }];
        let later = |a: u32, b: u32| {
            if name::canonical_cmp(self.name(a), self.name(b)).is_ge() {
                a
            } else {
                b
            }
        };
        match before {
            [Some(a), Some(b)] => Some(later(a, b)),
            [Some(a), None] | [None, Some(a)] => Some(a),
            [None, None] => {
                // Wrap around to the last NSEC owner of the zone.
                let last = [from_base(base.len()), p.flat.nsec_nodes.last().copied()];
                match last {
                    [Some(a), Some(b)] => Some(later(a, b)),
                    [Some(a), None] | [None, Some(a)] => Some(a),
                    [None, None] => None,
                }
            }
        }
    }

    /// Approximate heap bytes held by this snapshot.
    pub fn heap_size(&self) -> usize {
        self.base.heap_size()
            + self.patch.as_ref().map_or(0, |p| p.heap_size())
            + self.nsec3.as_ref().map_or(0, |c| c.heap_size())
    }
}

/// Iterator over the rdata entries of an RRset.
pub struct RdataIter<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.data.len() < 2 {
            return None;
        }
        let len = u16::from_be_bytes([self.data[0], self.data[1]]) as usize;
        let end = (2 + len).min(self.data.len());
        let rd = &self.data[2..end];
        self.data = &self.data[end..];
        Some(rd)
    }
}
