//! Building a [`Zone`] snapshot from records, and validating it.
//!
//! Records arrive in any order (zone file, AXFR); `build` sorts them into
//! canonical order once, inserts empty non-terminals, marks cuts, DNAMEs and
//! occluded names, fills the hash index and checks the zone: SOA and NS at
//! the apex, CNAME beside other data, data outside the zone (errors), missing
//! glue and mismatched TTLs (warnings). Every issue names file and line.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{HashSet, HashTable};

use super::name::{self, is_subdomain, parent};
use super::{Flat, Node, RRset, Zone, ZoneInfo, flag, hasher, nsec3, rtype};

/// Where a record came from.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourcePos {
    /// Index into the builder's file list (see [`ZoneBuilder::add_file`]).
    pub file: u16,
    /// 1-based line; 0 when unknown (transfers).
    pub line: u32,
}

/// A problem found while loading a zone, with its origin.
#[derive(Clone, Debug)]
pub struct ZoneIssue {
    pub file: Option<String>,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ZoneIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), 0) => write!(f, "{file}: {}", self.message),
            (Some(file), line) => write!(f, "{file}:{line}: {}", self.message),
            (None, 0) => write!(f, "{}", self.message),
            (None, line) => write!(f, "record {line}: {}", self.message),
        }
    }
}

/// A built zone and the warnings found on the way.
pub struct Built {
    pub zone: Zone,
    pub warnings: Vec<ZoneIssue>,
}

#[derive(Clone, Copy)]
struct Rec {
    name_off: u32,
    rdata_off: u32,
    key_off: u32,
    key_len: u16,
    rdata_len: u16,
    /// The first 8 octets of the sort key, for quick comparisons.
    key_prefix: u64,
    name_len: u8,
    rtype: u16,
    covered: u16,
    ttl: u32,
    pos: SourcePos,
}

/// Collects the records of one zone and turns them into a [`Zone`].
pub struct ZoneBuilder {
    apex: Vec<u8>,
    /// Labels in the apex, which every owner ends with.
    apex_labels: usize,
    files: Vec<String>,
    names: Vec<u8>,
    rdata: Vec<u8>,
    keys: Vec<u8>,
    recs: Vec<Rec>,
    errors: Vec<ZoneIssue>,
    warnings: Vec<ZoneIssue>,
}

/// Stop collecting errors past this many; the zone is rejected anyway.
const MAX_ERRORS: usize = 100;

impl ZoneBuilder {
    /// A builder for the zone at `apex` (wire format, any case).
    pub fn new(apex: &[u8]) -> ZoneBuilder {
        let mut apex = apex.to_vec();
        name::lowercase_in_place(&mut apex);
        ZoneBuilder {
            apex_labels: name::label_count(&apex),
            apex,
            files: Vec::new(),
            names: Vec::new(),
            rdata: Vec::new(),
            keys: Vec::new(),
            recs: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Registers a source file name for [`SourcePos::file`].
    pub fn add_file(&mut self, file: &str) -> u16 {
        self.files.push(file.to_string());
        (self.files.len() - 1).min(u16::MAX as usize) as u16
    }

    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Number of records added so far.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    fn issue(&self, pos: SourcePos, message: String) -> ZoneIssue {
        ZoneIssue {
            file: self.files.get(pos.file as usize).cloned(),
            line: pos.line,
            message,
        }
    }

    /// Records an error that makes the zone unusable.
    pub fn error(&mut self, pos: SourcePos, message: String) {
        if self.errors.len() < MAX_ERRORS {
            let issue = self.issue(pos, message);
            self.errors.push(issue);
        }
    }

    fn warn(&mut self, pos: SourcePos, message: String) {
        if self.warnings.len() < MAX_ERRORS {
            let issue = self.issue(pos, message);
            self.warnings.push(issue);
        }
    }

    /// Adds one IN-class record. `owner` is an uncompressed wire name in any
    /// case; `rdata` is uncompressed wire rdata.
    pub fn add(&mut self, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8], pos: SourcePos) {
        let start = self.names.len();
        self.names.extend_from_slice(owner);
        name::lowercase_in_place(&mut self.names[start..]);
        let lower = &self.names[start..];
        if !is_subdomain(lower, &self.apex) {
            let msg = format!(
                "{} {} is outside the zone {}",
                name::to_text(lower),
                type_name(rtype),
                name::to_text(&self.apex)
            );
            self.names.truncate(start);
            self.error(pos, msg);
            return;
        }
        if rdata.len() > u16::MAX as usize {
            self.names.truncate(start);
            self.error(pos, "rdata longer than 65535 octets".into());
            return;
        }
        if matches!(rtype, rtype::OPT | rtype::TSIG | rtype::TKEY | 0 | 251..=255) {
            self.names.truncate(start);
            self.error(pos, format!("type {} cannot appear in a zone", type_name(rtype)));
            return;
        }
        let covered = if rtype == rtype::RRSIG {
            if rdata.len() < 18 {
                self.names.truncate(start);
                self.error(pos, "RRSIG rdata too short".into());
                return;
            }
            u16::from_be_bytes([rdata[0], rdata[1]])
        } else {
            rtype
        };
        let key_off = self.keys.len();
        // Every owner shares the apex: the key holds only the part below it.
        name::push_sort_key_below(&self.names[start..], self.apex_labels, &mut self.keys);
        let key_prefix = prefix_u64(&self.keys[key_off..]);
        let rdata_off = self.rdata.len();
        self.rdata.extend_from_slice(rdata);
        lowercase_rdata_names(rtype, &mut self.rdata[rdata_off..]);
        self.recs.push(Rec {
            name_off: start as u32,
            name_len: owner.len() as u8,
            rdata_off: rdata_off as u32,
            rdata_len: rdata.len() as u16,
            key_off: key_off as u32,
            key_len: (self.keys.len() - key_off) as u16,
            key_prefix,
            rtype,
            covered,
            ttl,
            pos,
        });
    }

    fn rec_name(&self, r: &Rec) -> &[u8] {
        &self.names[r.name_off as usize..r.name_off as usize + r.name_len as usize]
    }

    fn rec_key(&self, r: &Rec) -> &[u8] {
        &self.keys[r.key_off as usize..r.key_off as usize + r.key_len as usize]
    }

    /// Sorts, indexes and validates the zone.
    pub fn build(mut self) -> Result<Built, Vec<ZoneIssue>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        // Order: owner (canonical), then data types before RRSIGs, by type.
        let group = |r: &Rec| ((r.rtype == rtype::RRSIG) as u32) << 16 | r.covered as u32;
        let mut order: Vec<u32> = (0..self.recs.len() as u32).collect();
        {
            let recs = &self.recs;
            let keys = &self.keys;
            let data = &self.rdata;
            let key = |r: &Rec| &keys[r.key_off as usize..r.key_off as usize + r.key_len as usize];
            let rd = |r: &Rec| &data[r.rdata_off as usize..r.rdata_off as usize + r.rdata_len as usize];
            // Within an RRset, records in canonical rdata order (RFC 4034
            // section 6.3), as Knot DNS keeps them.
            order.sort_unstable_by(|&a, &b| {
                let (ra, rb) = (&recs[a as usize], &recs[b as usize]);
                ra.key_prefix
                    .cmp(&rb.key_prefix)
                    .then_with(|| key(ra).cmp(key(rb)))
                    .then(group(ra).cmp(&group(rb)))
                    .then_with(|| rd(ra).cmp(rd(rb)))
            });
        }

        // Distinct owners in canonical order: (first rec, end rec) in `order`.
        let mut owners: Vec<(u32, u32)> = Vec::new();
        for i in 0..order.len() {
            let same = i > 0 && {
                let prev = &self.recs[order[i - 1] as usize];
                let cur = &self.recs[order[i] as usize];
                self.rec_key(prev) == self.rec_key(cur)
            };
            if same {
                if let Some(last) = owners.last_mut() {
                    last.1 = i as u32 + 1;
                }
            } else {
                owners.push((i as u32, i as u32 + 1));
            }
        }

        // Empty non-terminals: ancestors (below the apex) that own nothing.
        let ents = self.find_empty_non_terminals(&order, &owners);

        let mut zone_names: Vec<u8> = Vec::with_capacity(self.names.len() / 2 + 64);
        let mut nodes: Vec<Node> = Vec::with_capacity(owners.len() + ents.len());
        let mut rrsets: Vec<RRset> = Vec::with_capacity(owners.len() + owners.len() / 4);
        let mut rdata: Vec<u8> = Vec::with_capacity(self.rdata.len() + self.recs.len() * 2);
        let mut records = 0usize;
        // Source position of each RRset's first record, for validation messages.
        let mut rr_pos: Vec<SourcePos> = Vec::with_capacity(owners.len());

        // Merge owners and ENTs, both in canonical order.
        let (mut oi, mut ei) = (0usize, 0usize);
        while oi < owners.len() || ei < ents.len() {
            let take_ent = match (owners.get(oi), ents.get(ei)) {
                (Some(&(first, _)), Some((ent_key, _))) => {
                    let okey = self.rec_key(&self.recs[order[first as usize] as usize]);
                    ent_key.as_slice() < okey
                }
                (None, Some(_)) => true,
                _ => false,
            };
            let name_off = zone_names.len() as u32;
            if take_ent {
                let (_, ent_name) = &ents[ei];
                zone_names.extend_from_slice(ent_name);
                nodes.push(Node {
                    name_off,
                    name_len: ent_name.len() as u8,
                    rr_start: rrsets.len() as u32,
                    rr_count: 0,
                    parent: 0,
                    flags: 0,
                });
                ei += 1;
                continue;
            }
            let (first, end) = owners[oi];
            oi += 1;
            let first_rec = self.recs[order[first as usize] as usize];
            zone_names.extend_from_slice(self.rec_name(&first_rec));
            let rr_start = rrsets.len();
            let mut i = first as usize;
            while i < end as usize {
                let head = self.recs[order[i] as usize];
                let mut j = i + 1;
                while j < end as usize && {
                    let r = &self.recs[order[j] as usize];
                    r.rtype == head.rtype && r.covered == head.covered
                } {
                    j += 1;
                }
                let data_off = rdata.len();
                let mut count = 0u16;
                let mut ttl_warned = false;
                // As Knot DNS: on mismatched TTLs the last record's TTL wins.
                let last_in_file = (i..j).map(|k| order[k]).max().unwrap_or(order[i]);
                let set_ttl = self.recs[last_in_file as usize].ttl;
                let mut prev: Option<(usize, usize)> = None;
                for &idx in &order[i..j] {
                    let r = self.recs[idx as usize];
                    let (ro, rl) = (r.rdata_off as usize, r.rdata_len as usize);
                    // Sorted, so a duplicate (RFC 2181 section 5) follows its twin.
                    if prev.is_some_and(|(po, pl)| self.rdata[po..po + pl] == self.rdata[ro..ro + rl]) {
                        continue;
                    }
                    prev = Some((ro, rl));
                    if r.ttl != set_ttl && head.rtype != rtype::RRSIG && !ttl_warned {
                        ttl_warned = true;
                        let msg = format!(
                            "{} {}: TTL {} differs from the RRset's TTL {}; serving {}",
                            name::to_text(self.rec_name(&r)),
                            type_name(r.rtype),
                            r.ttl,
                            set_ttl,
                            set_ttl
                        );
                        self.warn(r.pos, msg);
                    }
                    rdata.extend_from_slice(&(rl as u16).to_be_bytes());
                    rdata.extend_from_slice(&self.rdata[ro..ro + rl]);
                    count = count.saturating_add(1);
                }
                records += count as usize;
                rr_pos.push(head.pos);
                rrsets.push(RRset {
                    rtype: head.rtype,
                    covered: head.covered,
                    count,
                    in_patch: false,
                    ttl: set_ttl,
                    data_off: data_off as u32,
                    data_len: (rdata.len() - data_off) as u32,
                });
                i = j;
            }
            nodes.push(Node {
                name_off,
                name_len: first_rec.name_len,
                rr_start: rr_start as u32,
                rr_count: (rrsets.len() - rr_start).min(u16::MAX as usize) as u16,
                parent: 0,
                flags: 0,
            });
        }
        drop(order);
        drop(owners);
        let first_pos = self.recs.first().map(|r| r.pos).unwrap_or_default();
        self.recs = Vec::new();
        self.keys = Vec::new();

        let mut flat = Flat {
            names: zone_names,
            nodes,
            rrsets,
            rdata,
            index: HashTable::new(),
            nsec_nodes: Vec::new(),
        };
        flat.names.shrink_to_fit();
        flat.rdata.shrink_to_fit();
        flat.rrsets.shrink_to_fit();
        let mut zone = Zone {
            apex: self.apex.clone().into_boxed_slice(),
            base: std::sync::Arc::new(flat),
            patch: None,
            nsec3: None,
            info: ZoneInfo {
                records,
                ..ZoneInfo::default()
            },
        };

        if zone.base.nodes.is_empty() || zone.name(0) != &zone.apex[..] {
            self.error(
                first_pos,
                format!("no SOA record at the apex {}", name::to_text(&self.apex)),
            );
            return Err(self.errors);
        }
        index_and_flag(&mut zone);
        self.validate(&mut zone, &rr_pos, first_pos);
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        zone.nsec3 = nsec3::Chain::build(&zone).map(std::sync::Arc::new);
        Ok(Built {
            zone,
            warnings: self.warnings,
        })
    }

    fn find_empty_non_terminals(&self, order: &[u32], owners: &[(u32, u32)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut present: HashSet<&[u8]> = HashSet::with_capacity(owners.len());
        for &(first, _) in owners {
            present.insert(self.rec_name(&self.recs[order[first as usize] as usize]));
        }
        let mut missing: HashSet<Vec<u8>> = HashSet::new();
        for &(first, _) in owners {
            let mut n = self.rec_name(&self.recs[order[first as usize] as usize]);
            while n.len() > self.apex.len() {
                n = parent(n);
                if present.contains(n) || missing.contains(n) {
                    break;
                }
                missing.insert(n.to_vec());
            }
        }
        let mut ents: Vec<(Vec<u8>, Vec<u8>)> = missing
            .into_iter()
            .map(|n| {
                let mut key = Vec::new();
                name::push_sort_key_below(&n, self.apex_labels, &mut key);
                (key, n)
            })
            .collect();
        ents.sort_unstable();
        ents
    }

    fn validate(&mut self, zone: &mut Zone, rr_pos: &[SourcePos], pos: SourcePos) {
        let apex_text = name::to_text(&self.apex);
        match zone.get(0, rtype::SOA) {
            None => self.error(pos, format!("no SOA record at the apex {apex_text}")),
            Some(soa) if soa.count != 1 => {
                self.error(pos, format!("{} SOA records at the apex {apex_text}", soa.count))
            }
            Some(_) => {}
        }
        if zone.get(0, rtype::NS).is_none() {
            self.error(pos, format!("no NS records at the apex {apex_text}"));
        }
        for id in 0..zone.node_count() as u32 {
            let sets = zone.rrsets(id);
            let owner = || name::to_text(zone.name(id));
            let start = zone.node(id).rr_start as usize;
            let pos_of = |t: u16| {
                sets.iter()
                    .position(|s| s.rtype == t && s.covered == t)
                    .and_then(|i| rr_pos.get(start + i).copied())
                    .unwrap_or(pos)
            };
            if id != 0 && zone.get(id, rtype::SOA).is_some() {
                self.error(
                    pos_of(rtype::SOA),
                    format!("SOA record at {}, which is not the apex", owner()),
                );
            }
            if let Some(cname) = zone.get(id, rtype::CNAME) {
                let pos = pos_of(rtype::CNAME);
                if cname.count > 1 {
                    self.error(
                        pos,
                        format!("{} has {} CNAME records; only one is allowed", owner(), cname.count),
                    );
                }
                let others: Vec<_> = sets
                    .iter()
                    .filter(|s| !matches!(s.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC))
                    .map(|s| type_name(s.rtype))
                    .collect();
                if !others.is_empty() {
                    self.error(
                        pos,
                        format!("{} has a CNAME beside other data ({})", owner(), others.join(", ")),
                    );
                }
            }
            let node = *zone.node(id);
            if node.flags & flag::CUT != 0 && node.flags & flag::OCCLUDED == 0 {
                let ns_pos = pos_of(rtype::NS);
                self.check_glue(zone, id, ns_pos);
            }
        }
        if zone.get(0, rtype::SOA).is_some_and(|s| s.count == 1) {
            match apex_info(zone) {
                Some(info) => zone.info = info,
                None => self.error(pos, "malformed SOA rdata at the apex".into()),
            }
        }
    }

    fn check_glue(&mut self, zone: &Zone, id: u32, pos: SourcePos) {
        let Some(ns) = zone.get(id, rtype::NS) else {
            return;
        };
        let cut = zone.name(id);
        let mut missing = Vec::new();
        for rd in zone.records(ns) {
            let target = rd;
            if is_subdomain(target, cut) {
                let has_addr = zone
                    .find(target)
                    .is_some_and(|t| zone.get(t, rtype::A).is_some() || zone.get(t, rtype::AAAA).is_some());
                if !has_addr {
                    missing.push(name::to_text(target));
                }
            }
        }
        for m in missing {
            self.warn(pos, format!("delegation {} has no glue for {m}", name::to_text(cut)));
        }
    }
}

/// Serial, timers and negative TTL from the apex SOA (two uncompressed
/// names, then five 32-bit fields); `None` if it is missing or malformed.
/// The record count is kept from `zone.info`.
pub(crate) fn apex_info(zone: &Zone) -> Option<ZoneInfo> {
    let soa = zone.get(0, rtype::SOA)?;
    let rd = zone.records(soa).next()?;
    let off = skip_name(rd).and_then(|a| skip_name(&rd[a..]).map(|b| a + b))?;
    let field = |i: usize| {
        rd.get(off + i..off + i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some(ZoneInfo {
        serial: field(0)?,
        refresh: field(4)?,
        retry: field(8)?,
        expire: field(12)?,
        neg_ttl: field(16)?.min(soa.ttl),
        signed: zone.get(0, rtype::DNSKEY).is_some(),
        records: zone.info.records,
    })
}

/// Lowercases the domain names in rdata of the types whose names are
/// case-insensitive data (RFC 4034 section 6.2 list), as Knot DNS stores them.
pub(crate) fn lowercase_rdata_names(t: u16, rd: &mut [u8]) {
    let lower_at = |rd: &mut [u8], off: usize| -> Option<usize> {
        let n = skip_name(rd.get(off..)?)?;
        name::lowercase_in_place(&mut rd[off..off + n]);
        Some(off + n)
    };
    match t {
        rtype::NS | rtype::MD | rtype::MF | rtype::CNAME | rtype::MB | rtype::MG | rtype::MR | rtype::PTR | rtype::DNAME => {
            lower_at(rd, 0);
        }
        rtype::SOA | rtype::MINFO | 17 /* RP */ => {
            if let Some(next) = lower_at(rd, 0) {
                lower_at(rd, next);
            }
        }
        rtype::MX | 18 /* AFSDB */ | 21 /* RT */ | 36 /* KX */ => {
            lower_at(rd, 2);
        }
        26 /* PX */ => {
            if let Some(next) = lower_at(rd, 2) {
                lower_at(rd, next);
            }
        }
        rtype::SRV => {
            lower_at(rd, 6);
        }
        _ => {}
    }
}

/// The first 8 octets of `key`, big-endian, zero-padded: comparing these
/// first orders keys exactly as comparing the keys (no key has two zero
/// octets in a row, so padding never ties with real octets).
fn prefix_u64(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Length of the uncompressed wire name at the start of `data`.
pub fn skip_name(data: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        let len = *data.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 1);
        }
        if len > 63 || pos + 1 + len >= super::name::MAX_NAME_LEN {
            return None;
        }
        pos += 1 + len;
    }
}

/// Fills the hash index, parent links and node flags.
fn index_and_flag(zone: &mut Zone) {
    let count = zone.base.nodes.len();
    let index = build_index(&zone.base);
    if let Some(flat) = std::sync::Arc::get_mut(&mut zone.base) {
        flat.index = index;
    }
    let mut nsec_nodes = Vec::new();
    // Canonical order is a pre-order walk: a cut's descendants follow it.
    let mut occluder: Option<u32> = None;
    // Ancestors of the current node, apex first: in canonical order a
    // node's parent is the nearest earlier node that is its ancestor, and
    // every ancestor exists (empty non-terminals were added).
    let mut ancestors: Vec<u32> = Vec::with_capacity(16);
    for id in 0..count as u32 {
        let node_name = zone.name(id);
        let mut flags = 0u8;
        let parent_id = if id == 0 {
            flags |= flag::APEX;
            0
        } else {
            let up = parent(node_name);
            while let Some(&top) = ancestors.last() {
                if top == 0 || zone.name(top).len() <= up.len() && is_subdomain(up, zone.name(top)) {
                    break;
                }
                ancestors.pop();
            }
            match ancestors.last() {
                Some(&top) if zone.name(top) == up => top,
                _ => zone.find(up).unwrap_or(0),
            }
        };
        ancestors.push(id);
        if let Some(o) = occluder {
            if is_subdomain(node_name, zone.name(o)) {
                flags |= flag::OCCLUDED;
            } else {
                occluder = None;
            }
        }
        if id != 0 && zone.get(id, rtype::NS).is_some() {
            flags |= flag::CUT;
        }
        if zone.get(id, rtype::DNAME).is_some() {
            flags |= flag::DNAME;
        }
        if flags & flag::OCCLUDED == 0 && flags & (flag::CUT | flag::DNAME) != 0 {
            occluder = Some(id);
        }
        if flags & flag::OCCLUDED == 0 && zone.get(id, rtype::NSEC).is_some() {
            nsec_nodes.push(id);
        }
        let is_wild = name::is_wildcard(node_name);
        let Some(flat) = std::sync::Arc::get_mut(&mut zone.base) else {
            return;
        };
        let node = &mut flat.nodes[id as usize];
        node.flags = flags;
        node.parent = parent_id;
        if is_wild && id != 0 {
            flat.nodes[parent_id as usize].flags |= flag::WILDCARD_CHILD;
        }
    }
    if let Some(flat) = std::sync::Arc::get_mut(&mut zone.base) {
        flat.nsec_nodes = nsec_nodes;
    }
}

/// The name index of an arena. NSEC3 records live beside the name tree,
/// not in it (RFC 5155 section 7.2.8): a query for their owner names gets
/// NXDOMAIN, so nodes holding only NSEC3 data are left out.
pub(crate) fn build_index(flat: &Flat) -> HashTable<u32> {
    let h = hasher();
    let count = flat.nodes.len() as u32;
    let mut index: HashTable<u32> = HashTable::with_capacity(count as usize);
    for id in 0..count {
        let sets = flat.rrsets(id);
        if !sets.is_empty() && sets.iter().all(|s| s.covered == rtype::NSEC3) {
            continue;
        }
        index.insert_unique(h.hash_one(flat.name(id)), id, |&other| h.hash_one(flat.name(other)));
    }
    index
}

/// Mnemonic of a record type, or `TYPEnnn`.
pub fn type_name(t: u16) -> std::borrow::Cow<'static, str> {
    let known = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        64 => "SVCB",
        65 => "HTTPS",
        250 => "TSIG",
        252 => "AXFR",
        251 => "IXFR",
        255 => "ANY",
        _ => return format!("TYPE{t}").into(),
    };
    known.into()
}
