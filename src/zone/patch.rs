//! Applying an IXFR difference to a zone without rebuilding it.
//!
//! A patched [`Zone`] shares its base arenas (built once, from a file or an
//! AXFR) with the version it came from and adds a small [`Patch`]: the nodes
//! the differences touched, copied with their new RRsets, plus the nodes
//! whose flags changed because of them (descendants of a new or removed
//! delegation or DNAME, the parent of a new or removed wildcard) and any new
//! empty non-terminals. Base nodes the patch replaces or removes are listed
//! in [`Patch::replaced`]; lookups consult the patch first.
//!
//! Each apply copies only the patch, so a one-record change costs
//! microseconds to milliseconds whatever the size of the zone. When the
//! patch grows past a limit, [`apply`] returns [`PatchError::TooLarge`] and
//! the caller rebuilds the zone in one go, which folds the patch back into a
//! new base.
//!
//! The new version is checked like a built zone for what a difference can
//! break: the apex SOA and NS, CNAME beside other data, SOA below the apex,
//! names outside the zone, record types that cannot appear in a zone.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use super::build::{SourcePos, ZoneBuilder, apex_info, build_index, lowercase_rdata_names, type_name};
use super::name::{self, is_subdomain, parent};
use super::{Flat, Node, RRset, Zone, flag, nsec3, rtype};

/// Marks a base node the patch removed.
pub(crate) const GONE: u32 = u32::MAX;

/// The nodes an IXFR changed, on top of a zone's base.
pub(crate) struct Patch {
    /// The patch's nodes in canonical order; zone-wide id = base length +
    /// local id, except the apex, which keeps id 0.
    pub(crate) flat: Flat,
    /// Local id of the apex when the patch holds it, else `u32::MAX`.
    pub(crate) apex_local: u32,
    /// Base node id -> zone-wide id of its replacement, or [`GONE`].
    pub(crate) replaced: HashMap<u32, u32>,
}

impl Patch {
    pub(crate) fn heap_size(&self) -> usize {
        self.flat.heap_size() + self.replaced.capacity() * 9
    }
}

/// One record of a difference: owner and rdata uncompressed, any case.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    pub owner: &'a [u8],
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The difference does not fit the version held (a removed record is
    /// missing): fetch the whole zone instead.
    #[error("{0}")]
    DoesNotApply(String),
    /// The new version would be broken.
    #[error("{0}")]
    Invalid(String),
    /// Too much changed (or a case the patch does not handle): rebuild the
    /// zone in one go.
    #[error("rebuild needed: {0}")]
    Rebuild(&'static str),
}

/// Patch size, in nodes, past which the zone is rebuilt instead.
pub fn patch_limit(base_nodes: usize) -> usize {
    (base_nodes / 16).clamp(1024, 65_536)
}

/// One RRset being edited: rdata kept in canonical order without duplicates.
struct EditSet {
    rtype: u16,
    covered: u16,
    ttl: u32,
    rdata: Vec<Vec<u8>>,
}

impl EditSet {
    /// Builder order: data types by type, then RRSIGs by covered type.
    fn order(&self) -> u32 {
        ((self.rtype == rtype::RRSIG) as u32) << 16 | self.covered as u32
    }
}

/// A node being edited.
#[derive(Default)]
struct EditNode {
    sets: Vec<EditSet>,
    /// Holds no data and has no children left: removed from the zone.
    deleted: bool,
}

/// The editing state of one apply.
struct Edit<'z> {
    zone: &'z Zone,
    nodes: HashMap<Vec<u8>, EditNode>,
    /// Records removed and added (net), for the record count.
    records_delta: isize,
}

impl<'z> Edit<'z> {
    /// A node's id in `zone`, NSEC3-only nodes included (they are not in
    /// the name index).
    fn existing(&self, owner: &[u8]) -> Option<u32> {
        self.zone.find(owner).or_else(|| {
            self.zone
                .nsec3
                .as_ref()
                .and_then(|c| c.node_of(owner, self.zone.apex()))
        })
    }

    fn node(&mut self, owner: &[u8]) -> &mut EditNode {
        let (zone, existing) = (self.zone, self.existing(owner));
        self.nodes.entry(owner.to_vec()).or_insert_with(|| EditNode {
            sets: existing
                .map(|id| {
                    zone.rrsets(id)
                        .iter()
                        .map(|set| EditSet {
                            rtype: set.rtype,
                            covered: set.covered,
                            ttl: set.ttl,
                            rdata: zone.records(set).map(<[u8]>::to_vec).collect(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            deleted: false,
        })
    }

    /// Data at `owner` after the edits so far.
    fn has_data(&self, owner: &[u8]) -> bool {
        match self.nodes.get(owner) {
            Some(n) => !n.deleted && !n.sets.is_empty(),
            None => self.existing(owner).is_some_and(|id| !self.zone.rrsets(id).is_empty()),
        }
    }

    /// The name exists (data or empty non-terminal) after the edits so far.
    fn exists(&self, owner: &[u8]) -> bool {
        match self.nodes.get(owner) {
            Some(n) => !n.deleted,
            None => self.existing(owner).is_some(),
        }
    }

    /// Live descendants of `owner`, as far as `limit` (`None`: more).
    fn descendants(&self, owner: &[u8], limit: usize) -> Option<Vec<Vec<u8>>> {
        let zone = self.zone;
        let mut out: hashbrown::HashSet<Vec<u8>> = hashbrown::HashSet::new();
        let push = |n: &[u8], out: &mut hashbrown::HashSet<Vec<u8>>| {
            if n != owner && is_subdomain(n, owner) && self.exists(n) && !out.contains(n) {
                out.insert(n.to_vec());
            }
        };
        // Base descendants follow their ancestor in canonical order.
        if let Some(b) = zone.base.find(owner) {
            let mut i = b + 1;
            while (i as usize) < zone.base.nodes.len() && is_subdomain(zone.base.name(i), owner) {
                let live = zone.patch.as_ref().is_none_or(|p| p.replaced.get(&i) != Some(&GONE));
                if live {
                    push(zone.base.name(i), &mut out);
                }
                if out.len() > limit {
                    return None;
                }
                i += 1;
            }
        }
        if let Some(p) = &zone.patch {
            for local in 0..p.flat.nodes.len() as u32 {
                push(p.flat.name(local), &mut out);
            }
        }
        for (n, e) in &self.nodes {
            if !e.deleted {
                push(n, &mut out);
            }
        }
        (out.len() <= limit).then(|| out.into_iter().collect())
    }

    fn has_children(&self, owner: &[u8]) -> bool {
        self.descendants(owner, 0).is_none()
    }

    fn remove(&mut self, c: &Change<'_>) -> Result<(), PatchError> {
        let (owner, rdata, covered) = normalize(self.zone.apex(), c)?;
        let node = self.node(&owner);
        let found = node
            .sets
            .iter_mut()
            .position(|s| s.rtype == c.rtype && s.covered == covered)
            .and_then(|i| {
                let set = &mut node.sets[i];
                let at = set.rdata.binary_search(&rdata).ok()?;
                set.rdata.remove(at);
                if set.rdata.is_empty() {
                    node.sets.remove(i);
                }
                Some(())
            });
        if found.is_none() {
            return Err(PatchError::DoesNotApply(format!(
                "removes {} {} which the zone does not have",
                name::to_text(&owner),
                type_name(c.rtype)
            )));
        }
        self.records_delta -= 1;
        Ok(())
    }

    fn add(&mut self, c: &Change<'_>) -> Result<(), PatchError> {
        let (owner, rdata, covered) = normalize(self.zone.apex(), c)?;
        if c.rtype == rtype::SOA && owner != self.zone.apex() {
            return Err(PatchError::Invalid(format!(
                "SOA record at {}, which is not the apex",
                name::to_text(&owner)
            )));
        }
        let node = self.node(&owner);
        node.deleted = false;
        let i = match node
            .sets
            .iter()
            .position(|s| s.rtype == c.rtype && s.covered == covered)
        {
            Some(i) => i,
            None => {
                node.sets.push(EditSet {
                    rtype: c.rtype,
                    covered,
                    ttl: c.ttl,
                    rdata: Vec::new(),
                });
                node.sets.len() - 1
            }
        };
        let set = &mut node.sets[i];
        // As Knot DNS: the TTL last given wins for the whole RRset.
        set.ttl = c.ttl;
        if let Err(at) = set.rdata.binary_search(&rdata) {
            set.rdata.insert(at, rdata);
            self.records_delta += 1;
        }
        Ok(())
    }
}

/// Lowercased owner and rdata of a change, checked as the builder checks
/// records, and the covered type.
fn normalize(apex: &[u8], c: &Change<'_>) -> Result<(Vec<u8>, Vec<u8>, u16), PatchError> {
    let mut owner = c.owner.to_vec();
    name::lowercase_in_place(&mut owner);
    if !is_subdomain(&owner, apex) {
        return Err(PatchError::Invalid(format!(
            "{} {} is outside the zone {}",
            name::to_text(&owner),
            type_name(c.rtype),
            name::to_text(apex)
        )));
    }
    if c.rdata.len() > u16::MAX as usize {
        return Err(PatchError::Invalid("rdata longer than 65535 octets".into()));
    }
    if matches!(c.rtype, rtype::OPT | rtype::TSIG | rtype::TKEY | 0 | 251..=255) {
        return Err(PatchError::Invalid(format!(
            "type {} cannot appear in a zone",
            type_name(c.rtype)
        )));
    }
    let covered = if c.rtype == rtype::RRSIG {
        if c.rdata.len() < 18 {
            return Err(PatchError::Invalid("RRSIG rdata too short".into()));
        }
        u16::from_be_bytes([c.rdata[0], c.rdata[1]])
    } else {
        c.rtype
    };
    let mut rdata = c.rdata.to_vec();
    lowercase_rdata_names(c.rtype, &mut rdata);
    Ok((owner, rdata, covered))
}

/// Applies removals, then additions, then the new apex SOA to `zone`.
/// `removed` and `added` must not contain the apex SOA.
pub fn apply(zone: &Zone, removed: &[Change<'_>], added: &[Change<'_>], soa: Change<'_>) -> Result<Zone, PatchError> {
    let limit = patch_limit(zone.base.nodes.len());
    let mut edit = Edit {
        zone,
        nodes: HashMap::new(),
        records_delta: 0,
    };
    for c in removed {
        edit.remove(c)?;
    }
    for c in added {
        edit.add(c)?;
    }
    let (apex_owner, soa_rdata, _) = normalize(zone.apex(), &soa)?;
    if apex_owner != zone.apex() || soa.rtype != rtype::SOA {
        return Err(PatchError::Invalid("the new SOA is not the apex SOA".into()));
    }
    let apex = edit.node(zone.apex());
    apex.sets.retain(|s| s.rtype != rtype::SOA);
    apex.sets.push(EditSet {
        rtype: rtype::SOA,
        covered: rtype::SOA,
        ttl: soa.ttl,
        rdata: vec![soa_rdata],
    });
    if edit.nodes.len() > limit {
        return Err(PatchError::Rebuild("too many names changed"));
    }
    let touched: Vec<Vec<u8>> = edit.nodes.keys().cloned().collect();
    check_nodes(&edit, &touched)?;
    let had_nsec3 = touched_nsec3(&edit, &touched);

    // New names need their ancestors; names left empty and childless go,
    // and so may their empty parents (deepest first).
    for owner in &touched {
        let mut up = owner.as_slice();
        while edit.has_data(owner) && up.len() > zone.apex().len() {
            up = parent(up);
            if edit.exists(up) {
                break;
            }
            edit.node(up);
        }
    }
    let mut empties: Vec<Vec<u8>> = edit
        .nodes
        .iter()
        .filter(|(n, e)| e.sets.is_empty() && n.as_slice() != zone.apex())
        .map(|(n, _)| n.clone())
        .collect();
    empties.sort_by_key(|n| std::cmp::Reverse(name::label_count(n)));
    while !empties.is_empty() {
        let owner = empties.remove(0);
        if edit.nodes.get(&owner).is_some_and(|e| e.deleted) || edit.has_data(&owner) || edit.has_children(&owner) {
            continue;
        }
        edit.node(&owner).deleted = true;
        let up = parent(&owner).to_vec();
        if up.as_slice() != zone.apex() && !edit.has_data(&up) {
            edit.node(&up);
            empties.push(up);
            empties.sort_by_key(|n| std::cmp::Reverse(name::label_count(n)));
        }
    }

    // Nodes whose flags the change affects come along unchanged.
    let mut reflag: Vec<Vec<u8>> = Vec::new();
    for (owner, e) in &edit.nodes {
        let before = edit
            .existing(owner)
            .map_or(0, |id| zone.node(id).flags & (flag::CUT | flag::DNAME));
        let has = |t: u16| e.sets.iter().any(|s| s.rtype == t && s.covered == t);
        let after = if e.deleted {
            0
        } else {
            (if has(rtype::NS) && owner.as_slice() != zone.apex() {
                flag::CUT
            } else {
                0
            }) | if has(rtype::DNAME) { flag::DNAME } else { 0 }
        };
        if before != after {
            match edit.descendants(owner, limit) {
                Some(d) => reflag.extend(d),
                None => return Err(PatchError::Rebuild("a delegation with too many names below it changed")),
            }
        }
        if name::is_wildcard(owner) {
            reflag.push(parent(owner).to_vec());
        }
    }
    for owner in reflag {
        edit.node(&owner);
    }
    freeze(edit, limit, had_nsec3)
}

/// CNAME and apex rules on the edited nodes.
fn check_nodes(edit: &Edit<'_>, touched: &[Vec<u8>]) -> Result<(), PatchError> {
    let apex = edit.zone.apex();
    for owner in touched {
        let Some(e) = edit.nodes.get(owner) else { continue };
        let text = || name::to_text(owner);
        if let Some(c) = e.sets.iter().find(|s| s.rtype == rtype::CNAME) {
            if c.rdata.len() > 1 {
                return Err(PatchError::Invalid(format!(
                    "{} has {} CNAME records; only one is allowed",
                    text(),
                    c.rdata.len()
                )));
            }
            let others: Vec<_> = e
                .sets
                .iter()
                .filter(|s| !matches!(s.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC))
                .map(|s| type_name(s.rtype))
                .collect();
            if !others.is_empty() {
                return Err(PatchError::Invalid(format!(
                    "{} has a CNAME beside other data ({})",
                    text(),
                    others.join(", ")
                )));
            }
        }
        if owner.as_slice() == apex {
            let soa = e
                .sets
                .iter()
                .find(|s| s.rtype == rtype::SOA)
                .map_or(0, |s| s.rdata.len());
            if soa != 1 {
                return Err(PatchError::Invalid(format!("{soa} SOA records at the apex {}", text())));
            }
            if !e.sets.iter().any(|s| s.rtype == rtype::NS) {
                return Err(PatchError::Invalid(format!("no NS records at the apex {}", text())));
            }
        }
    }
    Ok(())
}

/// Whether the change touches NSEC3 data (or NSEC3PARAM): then the chain is
/// rebuilt. NSEC3 owners in a zone without a chain cannot be found in the
/// index, so such zones are rebuilt instead.
fn touched_nsec3(edit: &Edit<'_>, touched: &[Vec<u8>]) -> bool {
    touched.iter().any(|owner| {
        let now = edit.nodes.get(owner).is_some_and(|e| {
            e.sets
                .iter()
                .any(|s| s.covered == rtype::NSEC3 || s.rtype == rtype::NSEC3PARAM)
        });
        let before = edit.existing(owner).is_some_and(|id| {
            edit.zone
                .rrsets(id)
                .iter()
                .any(|s| s.covered == rtype::NSEC3 || s.rtype == rtype::NSEC3PARAM)
        });
        now || before
    })
}

/// Turns the edits into the new zone: old patch nodes not edited, plus the
/// edited nodes that remain, in canonical order.
fn freeze(edit: Edit<'_>, limit: usize, nsec3_changed: bool) -> Result<Zone, PatchError> {
    let zone = edit.zone;
    let base_len = zone.base.nodes.len() as u32;
    // Canonical order by sort key.
    let mut all: BTreeMap<Vec<u8>, (Vec<u8>, Option<EditNode>)> = BTreeMap::new();
    let key = |n: &[u8]| {
        let mut k = Vec::with_capacity(n.len() + 2);
        name::push_sort_key(n, &mut k);
        k
    };
    if let Some(p) = &zone.patch {
        for local in 0..p.flat.nodes.len() as u32 {
            let n = p.flat.name(local);
            if !edit.nodes.contains_key(n) {
                all.insert(key(n), (n.to_vec(), None));
            }
        }
    }
    let mut deleted: Vec<Vec<u8>> = Vec::new();
    for (n, e) in edit.nodes {
        if e.deleted {
            deleted.push(n);
        } else {
            all.insert(key(&n), (n, Some(e)));
        }
    }
    if all.len() > limit {
        return Err(PatchError::Rebuild("the patch outgrew its limit"));
    }

    let mut flat = Flat::empty();
    let mut apex_local = u32::MAX;
    for (local, (owner, edited)) in all.values().enumerate() {
        if owner.as_slice() == zone.apex() {
            apex_local = local as u32;
        }
        let name_off = flat.names.len() as u32;
        flat.names.extend_from_slice(owner);
        let rr_start = flat.rrsets.len() as u32;
        let mut push = |rtype: u16, covered: u16, ttl: u32, rdata: &mut dyn Iterator<Item = &[u8]>| {
            let data_off = flat.rdata.len();
            let mut count = 0u16;
            for rd in rdata {
                flat.rdata.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                flat.rdata.extend_from_slice(rd);
                count = count.saturating_add(1);
            }
            flat.rrsets.push(RRset {
                rtype,
                covered,
                count,
                in_patch: true,
                ttl,
                data_off: data_off as u32,
                data_len: (flat.rdata.len() - data_off) as u32,
            });
        };
        match edited {
            Some(e) => {
                let mut sets: Vec<&EditSet> = e.sets.iter().collect();
                sets.sort_by_key(|s| s.order());
                for s in sets {
                    push(s.rtype, s.covered, s.ttl, &mut s.rdata.iter().map(Vec::as_slice));
                }
            }
            None => {
                let id = zone
                    .find(owner)
                    .or_else(|| zone.nsec3.as_ref().and_then(|c| c.node_of(owner, zone.apex())));
                let Some(id) = id else {
                    return Err(PatchError::Rebuild("a patch node vanished"));
                };
                for s in zone.rrsets(id) {
                    push(s.rtype, s.covered, s.ttl, &mut zone.records(s));
                }
            }
        }
        flat.nodes.push(Node {
            name_off,
            rr_start,
            parent: 0,
            name_len: owner.len() as u8,
            flags: 0,
            rr_count: (flat.rrsets.len() as u32 - rr_start).min(u16::MAX as u32) as u16,
        });
    }
    flat.index = build_index(&flat);

    // Base nodes replaced or removed.
    let global = |local: u32| if local == apex_local { 0 } else { base_len + local };
    let mut replaced: HashMap<u32, u32> = HashMap::new();
    if let Some(p) = &zone.patch {
        for (&b, &to) in &p.replaced {
            if to == GONE {
                replaced.insert(b, GONE);
            }
        }
    }
    let base_id = |n: &[u8]| {
        zone.base.find(n).or_else(|| {
            // NSEC3-only base nodes are reachable through the chain; the
            // chain names their replacement once they were patched.
            let id = zone.nsec3.as_ref()?.node_of(n, zone.apex())?;
            if id < base_len {
                return Some(id);
            }
            zone.patch
                .as_ref()?
                .replaced
                .iter()
                .find(|&(_, &to)| to == id)
                .map(|(&b, _)| b)
        })
    };
    for local in 0..flat.nodes.len() as u32 {
        if let Some(b) = base_id(flat.name(local)) {
            replaced.insert(b, global(local));
        }
    }
    for n in &deleted {
        if let Some(b) = base_id(n) {
            replaced.insert(b, GONE);
        }
    }
    let mut new = Zone {
        apex: zone.apex.clone(),
        base: zone.base.clone(),
        patch: Some(Arc::new(Patch {
            flat,
            apex_local,
            replaced,
        })),
        nsec3: None,
        info: zone.info,
    };
    link_and_flag(&mut new)?;
    new.info.records = (zone.info.records as isize + edit.records_delta).max(0) as usize;
    new.info = apex_info(&new).ok_or_else(|| PatchError::Invalid("malformed SOA rdata at the apex".into()))?;
    new.nsec3 = if nsec3_changed {
        nsec3::Chain::build(&new).map(Arc::new)
    } else {
        zone.nsec3.clone()
    };
    Ok(new)
}

/// Parents and flags of the patch nodes, and the patch's NSEC owners.
fn link_and_flag(zone: &mut Zone) -> Result<(), PatchError> {
    let Some(p) = zone.patch.clone() else { return Ok(()) };
    let base_len = zone.base.nodes.len() as u32;
    let count = p.flat.nodes.len() as u32;
    let global = |local: u32| if local == p.apex_local { 0 } else { base_len + local };
    let mut parents = Vec::with_capacity(count as usize);
    let mut flags = Vec::with_capacity(count as usize);
    // Pass 1: parents and the flags a node has by itself.
    for local in 0..count {
        let owner = p.flat.name(local);
        let id = global(local);
        let has = |t: u16| p.flat.rrsets(local).iter().any(|s| s.rtype == t && s.covered == t);
        let mut f = 0u8;
        let up = if id == 0 {
            f |= flag::APEX;
            0
        } else {
            if has(rtype::NS) {
                f |= flag::CUT;
            }
            match zone.find(parent(owner)) {
                Some(up) => up,
                None if parent(owner) == zone.apex() => 0,
                None => return Err(PatchError::Rebuild("a patch node lost its parent")),
            }
        };
        if has(rtype::DNAME) {
            f |= flag::DNAME;
        }
        parents.push(up);
        flags.push(f);
    }
    let intrinsic = |zone: &Zone, id: u32, flags: &[u8]| -> u8 {
        if id == 0 && p.apex_local != u32::MAX {
            flags[p.apex_local as usize]
        } else if id >= base_len {
            flags[(id - base_len) as usize]
        } else {
            zone.node(id).flags
        }
    };
    // Pass 2: occlusion (a strict ancestor is a cut or a DNAME) and
    // wildcard children.
    for local in 0..count as usize {
        let id = global(local as u32);
        let mut occluded = false;
        let mut a = id;
        let mut hops = 0;
        while a != 0 && hops < 128 {
            hops += 1;
            a = if a >= base_len {
                parents[(a - base_len) as usize]
            } else {
                zone.parent(a)
            };
            if intrinsic(zone, a, &flags) & (flag::CUT | flag::DNAME) != 0 {
                occluded = true;
                break;
            }
        }
        let owner = p.flat.name(local as u32);
        let mut wild = Vec::with_capacity(owner.len() + 2);
        wild.extend_from_slice(&[1, b'*']);
        wild.extend_from_slice(owner);
        let wild_child = wild.len() <= name::MAX_NAME_LEN && zone.find(&wild).is_some();
        let f = &mut flags[local];
        if occluded {
            *f |= flag::OCCLUDED;
        }
        if wild_child {
            *f |= flag::WILDCARD_CHILD;
        }
    }
    let mut nsec = Vec::new();
    for local in 0..count {
        let f = flags[local as usize];
        let has_nsec = p.flat.rrsets(local).iter().any(|s| s.rtype == rtype::NSEC);
        if has_nsec && f & flag::OCCLUDED == 0 {
            nsec.push(global(local));
        }
    }
    drop(p);
    let Some(patch) = zone.patch.as_mut().and_then(Arc::get_mut) else {
        return Err(PatchError::Rebuild("patch shared while being built"));
    };
    for (local, node) in patch.flat.nodes.iter_mut().enumerate() {
        node.parent = parents[local];
        node.flags = flags[local];
    }
    patch.flat.nsec_nodes = nsec;
    Ok(())
}

/// Applies the changes as a patch, or, when the patch says so, by
/// rebuilding the zone from its records with the changes applied.
pub fn apply_or_rebuild(
    zone: &Zone,
    removed: &[Change<'_>],
    added: &[Change<'_>],
    soa: Change<'_>,
) -> Result<Zone, PatchError> {
    match apply(zone, removed, added, soa) {
        Err(PatchError::Rebuild(why)) => {
            tracing::debug!(zone = %name::to_text(zone.apex()), "difference applied by rebuilding the zone: {why}");
            let built = rebuild(zone, removed, added, soa)?.build().map_err(|issues| {
                let text: Vec<String> = issues.iter().take(5).map(|i| i.to_string()).collect();
                PatchError::Invalid(text.join("; "))
            })?;
            for w in built.warnings.iter().take(10) {
                tracing::warn!("{w}");
            }
            Ok(built.zone)
        }
        other => other,
    }
}

/// The zone's records with the changes applied, in a [`ZoneBuilder`]: the
/// slow path, for changes a patch does not take.
pub fn rebuild(
    zone: &Zone,
    removed: &[Change<'_>],
    added: &[Change<'_>],
    soa: Change<'_>,
) -> Result<ZoneBuilder, PatchError> {
    let mut gone: std::collections::HashMap<(Vec<u8>, u16, Vec<u8>), usize> = std::collections::HashMap::new();
    for c in removed {
        let (owner, rdata, _) = normalize(zone.apex(), c)?;
        *gone.entry((owner, c.rtype, rdata)).or_default() += 1;
    }
    let mut b = ZoneBuilder::new(zone.apex());
    let pos = |line: u32| SourcePos { file: 0, line };
    let mut line = 0u32;
    for id in zone.node_ids() {
        let owner = zone.name(id);
        for set in zone.rrsets(id) {
            if set.rtype == rtype::SOA && id == super::APEX {
                continue;
            }
            for rd in zone.records(set) {
                let key = (owner.to_vec(), set.rtype, rd.to_vec());
                if let Some(n) = gone.get_mut(&key)
                    && *n > 0
                {
                    *n -= 1;
                    continue;
                }
                line += 1;
                b.add(owner, set.rtype, set.ttl, rd, pos(line));
            }
        }
    }
    if let Some(((owner, t, _), _)) = gone.iter().find(|(_, n)| **n > 0) {
        return Err(PatchError::DoesNotApply(format!(
            "removes {} {} which the zone does not have",
            name::to_text(owner),
            type_name(*t)
        )));
    }
    b.add(soa.owner, rtype::SOA, soa.ttl, soa.rdata, pos(0));
    for c in added {
        line += 1;
        b.add(c.owner, c.rtype, c.ttl, c.rdata, pos(line));
    }
    Ok(b)
}
