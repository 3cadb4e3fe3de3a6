//! The arenas of a zone being built: records streamed straight into the
//! layout a [`Zone`](super::Zone) serves from, so that a zone is held once
//! while it is built (not as a list of records, then again as a zone).
//!
//! [`Layout::push`] appends each record's owner to the names arena (once per
//! run of records with that owner) and its rdata, length first, to the rdata
//! arena. When the owner changes, the run becomes a node: its records are
//! grouped into RRsets (data types first, then RRSIGs, each in canonical
//! rdata order, RFC 4034 section 6.3), duplicates dropped (RFC 2181 section
//! 5) and one TTL chosen per RRset. Only the node's own bytes, at the tail of
//! the arena, are rewritten when they came out of order.
//!
//! Input in canonical order (an AXFR from Knot, a snapshot) is then laid out
//! already. Any other order (zone files) is put right by [`Layout::finish`]:
//! the nodes are sorted in place (the arenas stay in arrival order: nodes
//! point into them), owners that came in several runs are merged, and the
//! arenas are compacted only if merging left many dead bytes behind. Empty
//! non-terminals are added last, in one walk, with names that point into
//! their descendants' names.

use std::cmp::Ordering;

use super::build::{SourcePos, lowercase_rdata_names, prefix_u64, type_name};
use super::name::{self, canonical_cmp, is_subdomain, parent};
use super::{Node, RRset, rtype};

/// Stop collecting warnings past this many.
const MAX_WARNINGS: usize = 100;

/// One record of the node being filled, or of the runs being merged.
#[derive(Clone, Copy)]
struct Pending {
    /// Data types first, then RRSIGs; by (covered) type.
    group: u32,
    ttl: u32,
    /// Offset of the record's length prefix in the source arena.
    off: u32,
    len: u16,
    /// Arrival order: within a node, or the run's rank in a merge.
    seq: u32,
    pos: SourcePos,
}

fn group(rtype: u16, covered: u16) -> u32 {
    (((rtype == rtype::RRSIG) as u32) << 16) | covered as u32
}

fn group_types(group: u32) -> (u16, u16) {
    let covered = group as u16;
    (if group >> 16 != 0 { rtype::RRSIG } else { covered }, covered)
}

/// An RRset whose records came with different TTLs: warned about when
/// the zone is laid out, unless a merge replaced the set meanwhile.
#[derive(Clone, Copy)]
struct TtlWarning {
    set: u32,
    owner: Node,
    pos: SourcePos,
    /// The TTL of the first record that differs from the set's.
    ttl: u32,
}

/// Where [`Layout::emit`] finds the records' bytes.
enum Source<'a> {
    /// In the rdata arena, in order and without duplicates: nothing to copy.
    InPlace,
    /// In this buffer, at `off - base`.
    Scratch(&'a [u8], usize),
    /// Elsewhere in the rdata arena: copied to its end.
    Arena,
}

/// A zone's names, nodes, RRsets and rdata while it is built.
pub(super) struct Layout {
    pub(super) names: Vec<u8>,
    pub(super) nodes: Vec<Node>,
    pub(super) rrsets: Vec<RRset>,
    /// Where each RRset's first record came from (for messages).
    pub(super) rr_pos: Vec<SourcePos>,
    pub(super) rdata: Vec<u8>,
    /// Records kept (duplicates dropped).
    pub(super) records: usize,
    pub(super) warnings: Vec<(SourcePos, String)>,
    /// What the zone's arrays cannot hold (an RRset of more than 65535
    /// records, a node of more than 65535 RRsets): the zone is refused.
    pub(super) errors: Vec<(SourcePos, String)>,
    ttl_warnings: Vec<TtlWarning>,
    apex_labels: usize,
    /// Records of the last node, not yet grouped into RRsets.
    cur: Vec<Pending>,
    /// Where the last node's rdata starts.
    node_data: usize,
    /// Every owner so far came after the one before, in canonical order.
    sorted: bool,
    scratch: Vec<u8>,
}

impl Layout {
    pub(super) fn new(apex_labels: usize) -> Layout {
        Layout {
            names: Vec::new(),
            nodes: Vec::new(),
            rrsets: Vec::new(),
            rr_pos: Vec::new(),
            rdata: Vec::new(),
            records: 0,
            warnings: Vec::new(),
            errors: Vec::new(),
            ttl_warnings: Vec::new(),
            apex_labels,
            cur: Vec::new(),
            node_data: 0,
            sorted: true,
            scratch: Vec::new(),
        }
    }

    fn name(&self, n: &Node) -> &[u8] {
        &self.names[n.name_off as usize..n.name_off as usize + n.name_len as usize]
    }

    /// Turns the TTL warnings of RRsets still in the zone into messages.
    fn warn_ttls(&mut self) {
        for w in std::mem::take(&mut self.ttl_warnings) {
            let set = self.rrsets[w.set as usize];
            if set.rtype == 0 || self.warnings.len() >= MAX_WARNINGS {
                continue; // replaced by a merge, or enough said
            }
            let msg = format!(
                "{} {}: TTL {} differs from the RRset's TTL {}; serving {}",
                name::to_text(self.name(&w.owner)),
                type_name(set.rtype),
                w.ttl,
                set.ttl,
                set.ttl
            );
            self.warnings.push((w.pos, msg));
        }
    }

    /// Adds one record: `owner` lowercase, inside the zone; `rdata` at most
    /// 65535 octets (the builder checked both).
    pub(super) fn push(&mut self, owner: &[u8], rtype: u16, covered: u16, ttl: u32, rdata: &[u8], pos: SourcePos) {
        if self.nodes.last().is_none_or(|n| self.name(n) != owner) {
            self.close_node();
            if let Some(prev) = self.nodes.last()
                && canonical_cmp(self.name(prev), owner) != Ordering::Less
            {
                self.sorted = false;
            }
            let name_off = self.names.len() as u32;
            self.names.extend_from_slice(owner);
            self.nodes.push(Node {
                name_off,
                rr_start: self.rrsets.len() as u32,
                parent: 0,
                name_len: owner.len() as u8,
                flags: 0,
                rr_count: 0,
            });
            self.node_data = self.rdata.len();
        }
        let off = self.rdata.len();
        self.rdata.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.rdata.extend_from_slice(rdata);
        lowercase_rdata_names(rtype, &mut self.rdata[off + 2..]);
        self.cur.push(Pending {
            group: group(rtype, covered),
            ttl,
            off: off as u32,
            len: rdata.len() as u16,
            seq: self.cur.len() as u32,
            pos,
        });
    }

    /// The rdata of `p` in `data` (with `base` subtracted from its offset).
    fn rd<'a>(data: &'a [u8], base: usize, p: &Pending) -> &'a [u8] {
        let at = p.off as usize - base + 2;
        &data[at..at + p.len as usize]
    }

    /// Groups the last node's records into its RRsets.
    fn close_node(&mut self) {
        let Some(&owner) = self.nodes.last() else {
            return;
        };
        if self.cur.is_empty() {
            return;
        }
        let mut cur = std::mem::take(&mut self.cur);
        let data = &self.rdata;
        let key = |p: &Pending| (p.group, Layout::rd(data, 0, p));
        let in_order = cur.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        let mut scratch = std::mem::take(&mut self.scratch);
        let rr_start = self.rrsets.len();
        if in_order {
            self.emit(owner, &cur, Source::InPlace);
        } else {
            // Stable: among equal records the first to arrive is kept.
            cur.sort_by(|a, b| key(a).cmp(&key(b)));
            let base = self.node_data;
            scratch.clear();
            scratch.extend_from_slice(&self.rdata[base..]);
            self.rdata.truncate(base);
            self.emit(owner, &cur, Source::Scratch(&scratch, base));
        }
        if let Some(node) = self.nodes.last_mut() {
            node.rr_start = rr_start as u32;
            node.rr_count = (self.rrsets.len() - rr_start).min(u16::MAX as usize) as u16;
        }
        cur.clear();
        // One huge node (a big RRset at the apex) need not keep its buffers.
        if cur.capacity() > 4096 {
            cur = Vec::new();
        }
        if scratch.capacity() > 1 << 16 {
            scratch = Vec::new();
        }
        self.cur = cur;
        self.scratch = scratch;
    }

    /// Appends the RRsets of `recs` (records of `owner`, sorted by group,
    /// then rdata; `seq` says which came last) to `rrsets`, with their
    /// rdata as `src` says.
    fn emit(&mut self, owner: Node, recs: &[Pending], src: Source<'_>) {
        let mut i = 0;
        while i < recs.len() {
            let g = recs[i].group;
            let j = i + recs[i..].iter().take_while(|p| p.group == g).count();
            let set = &recs[i..j];
            let (rtype, covered) = group_types(g);
            // As Knot DNS: on mismatched TTLs the last record's TTL wins.
            let set_ttl = set.iter().max_by_key(|p| p.seq).map_or(0, |p| p.ttl);
            let data_off = match src {
                Source::InPlace => set[0].off as usize,
                _ => self.rdata.len(),
            };
            let mut count = 0usize;
            let mut prev: Option<&Pending> = None;
            let mut ttl_warned = false;
            for p in set {
                match src {
                    Source::InPlace => {}
                    Source::Scratch(buf, base) => {
                        if prev.is_some_and(|q| Layout::rd(buf, base, q) == Layout::rd(buf, base, p)) {
                            continue;
                        }
                        let at = p.off as usize - base;
                        self.rdata.extend_from_slice(&buf[at..at + 2 + p.len as usize]);
                    }
                    Source::Arena => {
                        if prev.is_some_and(|q| Layout::rd(&self.rdata, 0, q) == Layout::rd(&self.rdata, 0, p)) {
                            continue;
                        }
                        let at = p.off as usize;
                        self.rdata.extend_from_within(at..at + 2 + p.len as usize);
                    }
                }
                prev = Some(p);
                if p.ttl != set_ttl && rtype != rtype::RRSIG && !ttl_warned {
                    ttl_warned = true;
                    if self.ttl_warnings.len() < MAX_WARNINGS {
                        self.ttl_warnings.push(TtlWarning {
                            set: self.rrsets.len() as u32,
                            owner,
                            pos: p.pos,
                            ttl: p.ttl,
                        });
                    }
                }
                count += 1;
            }
            if count > usize::from(u16::MAX) && self.errors.len() < MAX_WARNINGS {
                self.errors.push((
                    set[0].pos,
                    format!("an RRset of {count} records (at most {} are possible)", u16::MAX),
                ));
            }
            let count = count.min(usize::from(u16::MAX)) as u16;
            let data_end = match src {
                Source::InPlace => {
                    let last = &set[set.len() - 1];
                    last.off as usize + 2 + last.len as usize
                }
                _ => self.rdata.len(),
            };
            self.records += count as usize;
            self.rrsets.push(RRset {
                rtype,
                covered,
                count,
                in_patch: false,
                ttl: set_ttl,
                data_off: data_off as u32,
                data_len: (data_end - data_off) as u32,
            });
            self.rr_pos.push(set[0].pos);
            i = j;
        }
    }

    /// Closes the last node and puts the nodes in canonical order, each
    /// owner once, with the empty non-terminals. `apex` is the zone's.
    pub(super) fn finish(&mut self, apex: &[u8]) {
        self.close_node();
        if !self.sorted {
            self.sort_nodes();
            self.merge_owners();
        }
        self.warn_ttls();
        if self.nodes.first().is_some_and(|n| self.name(n) == apex) {
            self.add_empty_non_terminals(apex.len());
        }
        self.names.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.rrsets.shrink_to_fit();
        self.rdata.shrink_to_fit();
        self.cur = Vec::new();
        self.scratch = Vec::new();
    }

    /// Sorts the nodes by name (equal names in arrival order), in place.
    fn sort_nodes(&mut self) {
        let mut key = Vec::with_capacity(name::MAX_NAME_LEN + 8);
        let mut order: Vec<(u64, u32)> = (0..self.nodes.len())
            .map(|i| {
                key.clear();
                name::push_sort_key_below(self.name(&self.nodes[i]), self.apex_labels, &mut key);
                (prefix_u64(&key), i as u32)
            })
            .collect();
        let name_of = |i: u32| self.name(&self.nodes[i as usize]);
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| canonical_cmp(name_of(a.1), name_of(b.1)))
                .then(a.1.cmp(&b.1))
        });
        // Apply the permutation cycle by cycle: new[k] = old[order[k]].
        const DONE: u32 = u32::MAX;
        for start in 0..order.len() {
            if order[start].1 == DONE {
                continue;
            }
            let first = self.nodes[start];
            let mut k = start;
            loop {
                let from = order[k].1 as usize;
                order[k].1 = DONE;
                if from == start {
                    self.nodes[k] = first;
                    break;
                }
                self.nodes[k] = self.nodes[from];
                k = from;
            }
        }
    }

    /// Merges the runs of nodes with one name (sorted, so adjacent) into
    /// one node each; compacts the arenas if that left much dead space.
    fn merge_owners(&mut self) {
        let (mut w, mut i) = (0usize, 0usize);
        let mut dead = 0usize;
        while i < self.nodes.len() {
            let mut j = i + 1;
            while j < self.nodes.len() && self.name(&self.nodes[j]) == self.name(&self.nodes[i]) {
                j += 1;
            }
            if j - i > 1 {
                dead += self.merge_run(i, j);
            }
            self.nodes[w] = self.nodes[i];
            w += 1;
            i = j;
        }
        self.nodes.truncate(w);
        self.warn_ttls();
        let total = self.names.len() + self.rdata.len() + self.rrsets.len() * std::mem::size_of::<RRset>();
        if dead > total / 8 {
            self.compact();
        }
    }

    /// Merges nodes `i..j` (one name) into node `i`, their RRsets and rdata
    /// rewritten at the end of the arenas. Returns the bytes left dead.
    fn merge_run(&mut self, i: usize, j: usize) -> usize {
        let mut recs = std::mem::take(&mut self.cur);
        recs.clear();
        let mut dead = 0usize;
        for (rank, k) in (i..j).enumerate() {
            let node = self.nodes[k];
            if k > i {
                dead += node.name_len as usize;
            }
            for s in node.rr_start as usize..node.rr_start as usize + node.rr_count as usize {
                let set = self.rrsets[s];
                // Replaced by the merged sets (see `warn_ttls`).
                self.rrsets[s].rtype = 0;
                dead += set.data_len as usize + std::mem::size_of::<RRset>();
                self.records -= set.count as usize;
                let mut at = set.data_off as usize;
                let end = at + set.data_len as usize;
                while at + 2 <= end {
                    let len = u16::from_be_bytes([self.rdata[at], self.rdata[at + 1]]);
                    recs.push(Pending {
                        group: group(set.rtype, set.covered),
                        ttl: set.ttl,
                        off: at as u32,
                        len,
                        seq: rank as u32,
                        pos: self.rr_pos[s],
                    });
                    at += 2 + len as usize;
                }
            }
        }
        let data = &self.rdata;
        recs.sort_by(|a, b| (a.group, Layout::rd(data, 0, a)).cmp(&(b.group, Layout::rd(data, 0, b))));
        let rr_start = self.rrsets.len();
        self.emit(self.nodes[i], &recs, Source::Arena);
        let node = &mut self.nodes[i];
        node.rr_start = rr_start as u32;
        node.rr_count = (self.rrsets.len() - rr_start).min(u16::MAX as usize) as u16;
        recs.clear();
        self.cur = recs;
        dead
    }

    /// Rewrites names, RRsets and rdata in node order, without the bytes
    /// merged nodes left behind.
    fn compact(&mut self) {
        let sets: usize = self.nodes.iter().map(|n| n.rr_count as usize).sum();
        let mut rrsets = Vec::with_capacity(sets);
        let mut rr_pos = Vec::with_capacity(sets);
        let mut live = 0usize;
        for n in &self.nodes {
            for s in &self.rrsets[n.rr_start as usize..n.rr_start as usize + n.rr_count as usize] {
                live += s.data_len as usize;
            }
        }
        let mut rdata = Vec::with_capacity(live);
        for n in &mut self.nodes {
            let start = rrsets.len();
            for k in n.rr_start as usize..n.rr_start as usize + n.rr_count as usize {
                let mut s = self.rrsets[k];
                let from = s.data_off as usize;
                s.data_off = rdata.len() as u32;
                rdata.extend_from_slice(&self.rdata[from..from + s.data_len as usize]);
                rrsets.push(s);
                rr_pos.push(self.rr_pos[k]);
            }
            n.rr_start = start as u32;
        }
        self.rrsets = rrsets;
        self.rr_pos = rr_pos;
        self.rdata = rdata;
        let mut names = Vec::with_capacity(self.nodes.iter().map(|n| n.name_len as usize).sum());
        for n in &mut self.nodes {
            let from = n.name_off as usize;
            n.name_off = names.len() as u32;
            names.extend_from_slice(&self.names[from..from + n.name_len as usize]);
        }
        self.names = names;
    }

    /// Walks the nodes (canonical order, apex first) and calls `f` with
    /// each node's index, or with the name (offset, length in `names`) of
    /// an empty non-terminal where one is missing before it.
    fn walk(&self, apex_len: usize, mut f: impl FnMut(Result<usize, (u32, u8)>)) {
        // Names (offset, length) of the last node and its ancestors.
        let mut stack: Vec<(u32, u8)> = Vec::with_capacity(16);
        let mut missing: Vec<(u32, u8)> = Vec::with_capacity(16);
        for (i, n) in self.nodes.iter().enumerate() {
            let name = self.name(n);
            while let Some(&(o, l)) = stack.last() {
                let up = &self.names[o as usize..o as usize + l as usize];
                if name.len() > up.len() && is_subdomain(name, up) {
                    break;
                }
                stack.pop();
            }
            let top = stack.last().map_or(apex_len, |&(_, l)| l as usize);
            if name.len() > top {
                missing.clear();
                let mut p = parent(name);
                while p.len() > top {
                    missing.push((n.name_off + (name.len() - p.len()) as u32, p.len() as u8));
                    p = parent(p);
                }
                for &ent in missing.iter().rev() {
                    f(Err(ent));
                    stack.push(ent);
                }
            }
            f(Ok(i));
            stack.push((n.name_off, n.name_len));
        }
    }

    /// Inserts a node for every missing ancestor (below the apex) of a
    /// name: the empty non-terminals.
    fn add_empty_non_terminals(&mut self, apex_len: usize) {
        let mut ents = 0usize;
        self.walk(apex_len, |step| ents += step.is_err() as usize);
        if ents == 0 {
            return;
        }
        let mut nodes = Vec::with_capacity(self.nodes.len() + ents);
        self.walk(apex_len, |step| match step {
            Ok(i) => nodes.push(self.nodes[i]),
            Err((name_off, name_len)) => nodes.push(Node {
                name_off,
                rr_start: 0,
                parent: 0,
                name_len,
                flags: 0,
                rr_count: 0,
            }),
        });
        self.nodes = nodes;
    }
}

#[cfg(test)]
mod tests {
    use super::super::build::{SourcePos, ZoneBuilder};
    use super::super::file::load_zone_text;
    use super::super::name::{from_text, to_text};
    use super::super::{Zone, rtype};

    type Record = (Vec<u8>, u16, u32, Vec<u8>);

    const ZONES: [(&str, &str); 3] = [
        (
            "example.test",
            include_str!("../../tests/dnsdiff/zones/example.test.zone"),
        ),
        (
            "signed.test",
            include_str!("../../tests/dnsdiff/zones/signed.test.zone"),
        ),
        ("nsec3.test", include_str!("../../tests/dnsdiff/zones/nsec3.test.zone")),
    ];

    /// Every record of a zone, in canonical order.
    fn records(zone: &Zone) -> Vec<Record> {
        let mut out = Vec::new();
        for id in zone.canonical_ids() {
            for set in zone.rrsets(id) {
                for rd in zone.records(set) {
                    out.push((zone.name(id).to_vec(), set.rtype, set.ttl, rd.to_vec()));
                }
            }
        }
        out
    }

    /// The zone as text: node by node (flags, parent), RRset by RRset.
    fn dump(zone: &Zone) -> Vec<String> {
        let mut out = vec![format!("records {} serial {}", zone.info.records, zone.info.serial)];
        for id in zone.canonical_ids() {
            let n = zone.node(id);
            out.push(format!(
                "{} flags {} parent {}",
                to_text(zone.name(id)),
                n.flags,
                to_text(zone.name(zone.parent(id)))
            ));
            for set in zone.rrsets(id) {
                let rdata: Vec<String> = zone.records(set).map(|rd| format!("{rd:02x?}")).collect();
                out.push(format!(
                    "  {} {} {} {}: {}",
                    set.rtype,
                    set.covered,
                    set.ttl,
                    set.count,
                    rdata.join(" ")
                ));
            }
        }
        out
    }

    /// A builder fed `recs` in order, each on a line of its own.
    fn builder(apex: &str, recs: &[Record]) -> ZoneBuilder {
        let mut b = ZoneBuilder::new(&from_text(apex).unwrap());
        for (i, (owner, t, ttl, rd)) in recs.iter().enumerate() {
            b.add(
                owner,
                *t,
                *ttl,
                rd,
                SourcePos {
                    file: 0,
                    line: i as u32 + 1,
                },
            );
        }
        b
    }

    fn build(apex: &str, recs: &[Record]) -> Zone {
        match builder(apex, recs).build() {
            Ok(built) => built.zone,
            Err(issues) => panic!("{apex}: {issues:?}"),
        }
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Records in canonical order (laid out as they come), shuffled (nodes
    /// sorted, owners merged from many runs, sets sorted) and repeated
    /// (duplicates dropped) all give the same zone.
    #[test]
    fn any_order_gives_the_same_zone() {
        let mut rng = Rng(0x5eed_1234_abcd);
        for (apex, text) in ZONES {
            let zone = load_zone_text(apex, text).unwrap().zone;
            let recs = records(&zone);
            let want = dump(&zone);
            assert_eq!(dump(&build(apex, &recs)), want, "{apex} in canonical order");
            for round in 0..20 {
                let mut shuffled = recs.clone();
                for i in (1..shuffled.len()).rev() {
                    shuffled.swap(i, rng.below(i + 1));
                }
                if round % 2 == 1 {
                    for _ in 0..recs.len() / 3 {
                        let r = shuffled[rng.below(shuffled.len())].clone();
                        shuffled.insert(rng.below(shuffled.len()), r);
                    }
                }
                assert_eq!(dump(&build(apex, &shuffled)), want, "{apex}, shuffle {round}");
            }
            // Reversed: every node and every set out of order.
            let reversed: Vec<Record> = recs.iter().rev().cloned().collect();
            assert_eq!(dump(&build(apex, &reversed)), want, "{apex} reversed");
        }
    }

    fn a(owner: &str, ttl: u32, last: u8) -> Record {
        (from_text(owner).unwrap(), rtype::A, ttl, vec![192, 0, 2, last])
    }

    fn soa_and_ns() -> Vec<Record> {
        let mut soa = from_text("ns.t").unwrap();
        soa.extend(from_text("host.t").unwrap());
        for v in [7u32, 3600, 600, 86400, 300] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        vec![
            (from_text("t").unwrap(), rtype::SOA, 300, soa),
            (from_text("t").unwrap(), rtype::NS, 300, from_text("ns.t").unwrap()),
            a("ns.t", 300, 1),
        ]
    }

    /// An RRset the arrays cannot count (more than 65535 records) refuses
    /// the zone instead of serving a wrong count.
    #[test]
    fn an_rrset_past_65535_records_is_an_error() {
        let mut recs = soa_and_ns();
        for i in 0..70_000u32 {
            recs.push((from_text("big.t").unwrap(), rtype::A, 300, i.to_be_bytes().to_vec()));
        }
        match builder("t", &recs).build() {
            Ok(_) => panic!("a 70,000-record RRset was accepted"),
            Err(issues) => assert!(
                issues
                    .iter()
                    .any(|i| i.to_string().contains("an RRset of 70000 records")),
                "{issues:?}"
            ),
        }
    }

    /// An owner in several runs with different TTLs: the last record's TTL
    /// wins, with one warning, whatever run it came in.
    #[test]
    fn the_last_ttl_wins_across_runs() {
        let mut recs = soa_and_ns();
        recs.extend([a("w.t", 100, 1), a("x.t", 300, 1), a("w.t", 100, 2), a("w.t", 200, 3)]);
        recs.extend([a("x.t", 300, 1), a("w.t", 100, 1)]);
        let mut b = ZoneBuilder::new(&from_text("t").unwrap());
        for (i, (owner, t, ttl, rd)) in recs.iter().enumerate() {
            b.add(
                owner,
                *t,
                *ttl,
                rd,
                SourcePos {
                    file: 0,
                    line: i as u32 + 1,
                },
            );
        }
        let built = b.build().unwrap();
        let zone = &built.zone;
        let w = zone.find(&from_text("w.t").unwrap()).unwrap();
        let set = zone.get(w, rtype::A).unwrap();
        assert_eq!((set.count, set.ttl), (3, 100));
        let x = zone.find(&from_text("x.t").unwrap()).unwrap();
        assert_eq!(zone.get(x, rtype::A).unwrap().count, 1);
        assert_eq!(zone.info.records, 7);
        let ttl_warnings: Vec<_> = built.warnings.iter().filter(|w| w.message.contains("TTL")).collect();
        assert_eq!(ttl_warnings.len(), 1, "{:?}", built.warnings);
        assert!(ttl_warnings[0].message.contains("w.t"), "{:?}", ttl_warnings);
    }

    /// Names several labels below their nearest existing ancestor get every
    /// missing ancestor as an empty non-terminal, in order and with parents.
    #[test]
    fn empty_non_terminals_fill_the_tree() {
        for reverse in [false, true] {
            let mut recs = soa_and_ns();
            recs.extend([
                a("a.b.c.t", 300, 1),
                a("d.b.c.t", 300, 2),
                a("e.c.t", 300, 3),
                a("z.y.t", 300, 4),
            ]);
            if reverse {
                recs.reverse();
            }
            let zone = build("t", &recs);
            let names: Vec<String> = zone.canonical_ids().iter().map(|&id| to_text(zone.name(id))).collect();
            assert_eq!(
                names,
                [
                    "t.", "c.t.", "b.c.t.", "a.b.c.t.", "d.b.c.t.", "e.c.t.", "ns.t.", "y.t.", "z.y.t."
                ],
                "reverse {reverse}"
            );
            for (child, parent) in [("a.b.c.t", "b.c.t"), ("b.c.t", "c.t"), ("c.t", "t"), ("z.y.t", "y.t")] {
                let id = zone.find(&from_text(child).unwrap()).unwrap();
                assert_eq!(to_text(zone.name(zone.parent(id))), format!("{parent}."));
            }
            let ent = zone.find(&from_text("b.c.t").unwrap()).unwrap();
            assert!(zone.rrsets(ent).is_empty());
        }
    }
}
