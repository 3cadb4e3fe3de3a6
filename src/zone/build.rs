//! Building a [`Zone`] snapshot from records, and validating it.
//!
//! Records arrive in any order (zone file, AXFR, snapshot); [`ZoneBuilder`]
//! checks each one and streams it into the zone's final arenas
//! ([`super::layout`]), which put the nodes in canonical order and insert
//! the empty non-terminals. `build` then marks cuts, DNAMEs and occluded
//! names, fills the hash index and checks the zone: SOA and NS at the apex,
//! CNAME beside other data, data outside the zone (errors), missing glue and
//! mismatched TTLs (warnings). Every issue names file and line.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::HashTable;

// `skip_name` lives with the wire names (name.rs); re-exported for code
// written before it moved.
use super::layout::Layout;
pub use super::name::skip_name;
use super::name::{self, is_subdomain, parent};
use super::{Flat, Zone, ZoneInfo, flag, hasher, nsec3, rtype};

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

/// Collects the records of one zone and turns them into a [`Zone`].
pub struct ZoneBuilder {
    apex: Vec<u8>,
    files: Vec<String>,
    /// The zone's arenas, filled as records come (boxed: a builder is
    /// moved around inside transfer results).
    layout: Box<Layout>,
    /// The owner of the record being added, lowercased.
    owner: Vec<u8>,
    added: usize,
    first_pos: Option<SourcePos>,
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
            layout: Box::new(Layout::new(name::label_count(&apex))),
            apex,
            files: Vec::new(),
            owner: Vec::with_capacity(name::MAX_NAME_LEN),
            added: 0,
            first_pos: None,
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
        self.added
    }

    pub fn is_empty(&self) -> bool {
        self.added == 0
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
        self.owner.clear();
        self.owner.extend_from_slice(owner);
        name::lowercase_in_place(&mut self.owner);
        if !is_subdomain(&self.owner, &self.apex) {
            let msg = format!(
                "{} {} is outside the zone {}",
                name::to_text(&self.owner),
                type_name(rtype),
                name::to_text(&self.apex)
            );
            self.error(pos, msg);
            return;
        }
        if rdata.len() > u16::MAX as usize {
            self.error(pos, "rdata longer than 65535 octets".into());
            return;
        }
        if self.owner.len() > name::MAX_NAME_LEN {
            self.error(pos, "owner name longer than 255 octets".into());
            return;
        }
        if matches!(rtype, rtype::OPT | rtype::TSIG | rtype::TKEY | 0 | 251..=255) {
            self.error(pos, format!("type {} cannot appear in a zone", type_name(rtype)));
            return;
        }
        let covered = if rtype == rtype::RRSIG {
            if rdata.len() < 18 {
                self.error(pos, "RRSIG rdata too short".into());
                return;
            }
            u16::from_be_bytes([rdata[0], rdata[1]])
        } else {
            rtype
        };
        self.added += 1;
        self.first_pos.get_or_insert(pos);
        // A zone with errors is rejected: its records need not be kept.
        if self.errors.is_empty() {
            self.layout.push(&self.owner, rtype, covered, ttl, rdata, pos);
        }
    }

    /// Orders, indexes and validates the zone.
    pub fn build(mut self) -> Result<Built, Vec<ZoneIssue>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut layout = std::mem::replace(&mut self.layout, Box::new(Layout::new(0)));
        layout.finish(&self.apex);
        for (pos, message) in std::mem::take(&mut layout.warnings) {
            self.warn(pos, message);
        }
        for (pos, message) in std::mem::take(&mut layout.errors) {
            self.error(pos, message);
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let first_pos = self.first_pos.unwrap_or_default();
        let Layout {
            names,
            nodes,
            rrsets,
            rr_pos,
            rdata,
            records,
            ..
        } = *layout;
        let flat = Flat {
            names,
            nodes,
            rrsets,
            rdata,
            index: HashTable::new(),
            nsec_nodes: Vec::new(),
        };
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
        drop(rr_pos);
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        zone.nsec3 = nsec3::Chain::build(&zone).map(std::sync::Arc::new);
        Ok(Built {
            zone,
            warnings: self.warnings,
        })
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
pub(super) fn prefix_u64(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
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
        nsec_nodes.shrink_to_fit();
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
