//! The catalog consumer's sans-IO core: a member set in, zone changes out.
//!
//! [`Consumer`] holds what one catalog has applied: per member zone its
//! label, group, coo, whether this catalog owns the zone (made it, or took
//! it over by `coo`) and whether the catalog still lists it (a member not
//! listed any more is kept while its removal is held). [`Consumer::apply`]
//! diffs a new member set against it and returns [`Action`]s for the
//! caller to carry out; it touches no socket, file or zone. The rules:
//!
//! - a new member becomes a zone (`AddZone`) with the template named by its
//!   group when that template exists, else `member-template`; an unknown
//!   group is reported (`UnknownGroup`) and the member still added;
//! - a member whose zone exists already and belongs to someone else (the
//!   config, the API, another catalog) is ignored and reported
//!   (`Conflict`), unless that other catalog carries a `coo` pointing at
//!   this one: then the zone migrates here, keeping its data (`Adopt`);
//!   the caller then calls [`Consumer::release`] on the old catalog;
//! - a removed member removes its zone only when this catalog owns it;
//! - a changed label resets the zone (`ResetZone`: removed, then
//!   transferred afresh); a changed group changes its template;
//! - removing more than [`MaxRemovals`] members at once is held: nothing is
//!   removed (`Hold`), while additions, resets and property changes still
//!   apply, so new customers keep coming while the operator looks. The held
//!   members stay, marked as no longer listed, until
//!   [`Consumer::accept_removals`] or a later version that lists them again
//!   or removes few enough;
//! - a broken catalog (`Err`) changes nothing (`Error`).
//!
//! Cost: `apply` is one pass over the new and the applied sets (hash
//! lookups; an unchanged member is compared, not touched) and asks
//! [`Context`] who owns a zone only for members new to it and members
//! whose zone belongs to someone else: adding one member to 10,000 yields
//! one action and one question, and touches no other zone's state.
//!
//! Wiring (for the caller): write the state file ([`super::state`]) after
//! `apply` and before carrying out its actions; after any catalog applies,
//! call [`Consumer::recheck`] on the others (a coo may now point at them);
//! on `Adopt { from }`, call [`Consumer::release`] on `from`'s consumer.

use std::collections::{HashMap, HashSet};

use super::parse::{CatalogError, Member, Members};
use crate::zone::name;

/// Who owns a zone on this node now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No such zone.
    Nobody,
    /// Configured otherwise (config file, API).
    Configured,
    /// Made by (or migrated to) the catalog of this name (wire format).
    Catalog(Box<[u8]>),
}

/// What the consumer asks about the rest of the node.
pub trait Context {
    /// A template of this name exists.
    fn has_template(&self, name: &str) -> bool;
    /// The owner of `zone` (lowercase wire name).
    fn owner(&self, zone: &[u8]) -> Owner;
    /// The `coo` property that `catalog` carries for `zone` now (see
    /// [`Consumer::coo_of`]), if it lists the zone with one.
    fn coo(&self, catalog: &[u8], zone: &[u8]) -> Option<Box<[u8]>>;
}

pub use crate::config::MaxRemovals;

/// The consumer's settings (from the catalog zone's config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The catalog zone's name, lowercase wire format.
    pub catalog: Box<[u8]>,
    /// `member-template`: for members without a (known) group.
    pub member_template: Option<String>,
    pub max_removals: MaxRemovals,
}

/// A zone change (or a report) for the caller to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the secondary zone `name` from `template`, transfer it now.
    AddZone { name: Box<[u8]>, template: Option<String> },
    /// Remove the zone and its files.
    RemoveZone { name: Box<[u8]> },
    /// Remove the zone and its data, then add it afresh (label changed).
    ResetZone { name: Box<[u8]>, template: Option<String> },
    /// The zone's template changed (group changed); data kept.
    ChangeTemplate { name: Box<[u8]>, template: Option<String> },
    /// Take over the zone from catalog `from` (its coo points here); data
    /// kept. The caller calls `release(name)` on `from`'s consumer.
    Adopt {
        name: Box<[u8]>,
        from: Box<[u8]>,
        template: Option<String>,
    },
    /// A member ignored: its zone belongs to `owner`.
    Conflict { name: Box<[u8]>, owner: Owner },
    /// A member's group names no template; `member-template` used.
    UnknownGroup { name: Box<[u8]>, group: String },
    /// Too many removals: none done until `accept_removals`.
    Hold { removals: usize, limit: usize },
    /// The catalog is broken: nothing changed.
    Error(CatalogError),
}

/// One applied member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub member: Member,
    /// This catalog made the zone (or took it over by coo).
    pub owned: bool,
    /// The catalog lists it now (false: its removal is held).
    pub listed: bool,
}

/// The applied state of one catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub settings: Settings,
    /// Serial of the catalog version applied last.
    pub serial: Option<u32>,
    entries: HashMap<Box<[u8]>, Entry>,
    /// Listed members whose zone belongs to someone else.
    pending: HashSet<Box<[u8]>>,
    /// Members whose removal is held.
    held: HashSet<Box<[u8]>>,
    /// The last broken version's error, cleared by a good one.
    pub error: Option<CatalogError>,
}

impl Consumer {
    pub fn new(settings: Settings) -> Consumer {
        Consumer {
            settings,
            serial: None,
            entries: HashMap::new(),
            pending: HashSet::new(),
            held: HashSet::new(),
            error: None,
        }
    }

    /// A consumer holding entries read back from its state file.
    pub fn from_entries(settings: Settings, serial: Option<u32>, entries: Vec<Entry>) -> Consumer {
        let mut c = Consumer::new(settings);
        c.serial = serial;
        for e in entries {
            c.insert(e);
        }
        c
    }

    fn insert(&mut self, e: Entry) {
        let key = e.member.zone.clone();
        if e.listed && !e.owned {
            self.pending.insert(key.clone());
        } else {
            self.pending.remove(&key);
        }
        if e.listed {
            self.held.remove(&key);
        } else {
            self.held.insert(key.clone());
        }
        self.entries.insert(key, e);
    }

    fn drop_entry(&mut self, zone: &[u8]) {
        self.entries.remove(zone);
        self.pending.remove(zone);
        self.held.remove(zone);
    }

    /// Every applied entry (for the state file and status views).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn get(&self, zone: &[u8]) -> Option<&Entry> {
        self.entries.get(zone)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of members whose removal is held (0: no hold).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The coo this catalog carries for `zone`, while it lists it.
    pub fn coo_of(&self, zone: &[u8]) -> Option<&[u8]> {
        self.entries
            .get(zone)
            .filter(|e| e.listed)
            .and_then(|e| e.member.coo.as_deref())
    }

    /// The zone migrated to another catalog: this one no longer owns it.
    pub fn release(&mut self, zone: &[u8]) {
        if let Some(mut e) = self.entries.get(zone).cloned() {
            e.owned = false;
            self.insert(e);
        }
    }

    /// The template for a member: its group's when known, else
    /// `member-template`; an unknown group is reported in `out`.
    fn template(&self, m: &Member, ctx: &dyn Context, out: &mut Vec<Action>) -> Option<String> {
        match &m.group {
            Some(g) if ctx.has_template(g) => Some(g.clone()),
            Some(g) => {
                out.push(Action::UnknownGroup {
                    name: m.zone.clone(),
                    group: g.clone(),
                });
                self.settings.member_template.clone()
            }
            None => self.settings.member_template.clone(),
        }
    }

    /// A member new to this catalog (or listed again): add, adopt or
    /// report a conflict.
    fn claim(&mut self, m: Member, ctx: &dyn Context, out: &mut Vec<Action>) {
        let owned = match ctx.owner(&m.zone) {
            Owner::Nobody => {
                let template = self.template(&m, ctx, out);
                out.push(Action::AddZone {
                    name: m.zone.clone(),
                    template,
                });
                true
            }
            Owner::Catalog(c) if c == self.settings.catalog => true,
            Owner::Catalog(c) if ctx.coo(&c, &m.zone).as_deref() == Some(&*self.settings.catalog) => {
                let template = self.template(&m, ctx, out);
                out.push(Action::Adopt {
                    name: m.zone.clone(),
                    from: c,
                    template,
                });
                true
            }
            owner => {
                out.push(Action::Conflict {
                    name: m.zone.clone(),
                    owner,
                });
                false
            }
        };
        self.insert(Entry {
            member: m,
            owned,
            listed: true,
        });
    }

    /// Applies a new version of the catalog (or its parse error).
    pub fn apply(&mut self, new: Result<Members, CatalogError>, ctx: &dyn Context) -> Vec<Action> {
        let new = match new {
            Ok(m) => m,
            Err(e) => {
                self.error = Some(e.clone());
                return vec![Action::Error(e)];
            }
        };
        self.error = None;
        self.serial = Some(new.serial);
        let mut out = Vec::new();
        // Removals first: count them against the limit before changing anything.
        let removed: Vec<Box<[u8]>> = self
            .entries
            .keys()
            .filter(|z| !new.by_zone.contains_key(*z))
            .cloned()
            .collect();
        let owned_removals = removed.iter().filter(|z| self.entries[*z].owned).count();
        let hold = self
            .settings
            .max_removals
            .limit(self.entries.len())
            .filter(|&limit| owned_removals > limit);
        for (zone, m) in new.by_zone {
            let Some(old) = self.entries.get(&zone) else {
                self.claim(m, ctx, &mut out);
                continue;
            };
            if old.owned && old.listed && old.member == m {
                continue; // unchanged: not touched
            }
            let owned = old.owned;
            let label_changed = old.member.label != m.label;
            let old_group = (old.member.group != m.group).then(|| old.member.group.clone());
            if !owned {
                // Someone else's zone: look again whether it is ours now
                // (its conflict was reported when it came).
                let mut reports = Vec::new();
                self.claim(m, ctx, &mut reports);
                out.extend(reports.into_iter().filter(|a| !matches!(a, Action::Conflict { .. })));
                continue;
            }
            if label_changed {
                let template = self.template(&m, ctx, &mut out);
                out.push(Action::ResetZone {
                    name: zone.clone(),
                    template,
                });
            } else if let Some(old_group) = old_group {
                let before = match &old_group {
                    Some(g) if ctx.has_template(g) => Some(g.clone()),
                    _ => self.settings.member_template.clone(),
                };
                let template = self.template(&m, ctx, &mut out);
                if template != before {
                    out.push(Action::ChangeTemplate {
                        name: zone.clone(),
                        template,
                    });
                }
            }
            self.insert(Entry {
                member: m,
                owned: true,
                listed: true,
            });
        }
        match hold {
            Some(limit) => {
                for zone in &removed {
                    if let Some(mut e) = self.entries.get(zone).cloned() {
                        e.listed = false;
                        self.insert(e);
                    }
                }
                out.push(Action::Hold {
                    removals: owned_removals,
                    limit,
                });
            }
            None => {
                for zone in removed {
                    self.remove(&zone, &mut out);
                }
            }
        }
        sort(&mut out);
        out
    }

    fn remove(&mut self, zone: &[u8], out: &mut Vec<Action>) {
        if self.entries.get(zone).is_some_and(|e| e.owned) {
            out.push(Action::RemoveZone { name: zone.into() });
        }
        self.drop_entry(zone);
    }

    /// Carries out a held removal: every member no longer listed goes.
    pub fn accept_removals(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        let held: Vec<Box<[u8]>> = self.held.iter().cloned().collect();
        for zone in held {
            self.remove(&zone, &mut out);
        }
        sort(&mut out);
        out
    }

    /// Looks again at listed members owned by someone else (after another
    /// catalog changed its coo or released them, or a configured zone
    /// went): costs O(such members).
    pub fn recheck(&mut self, ctx: &dyn Context) -> Vec<Action> {
        let mut out = Vec::new();
        let pending: Vec<Box<[u8]>> = self.pending.iter().cloned().collect();
        for zone in pending {
            let Some(e) = self.entries.get(&zone) else {
                continue;
            };
            let m = e.member.clone();
            let mut reports = Vec::new();
            self.claim(m, ctx, &mut reports);
            // A conflict already reported once is not news.
            out.extend(reports.into_iter().filter(|a| !matches!(a, Action::Conflict { .. })));
        }
        sort(&mut out);
        out
    }

    /// After a restart: the zones this catalog owns must exist, and zones
    /// the node holds for this catalog (`present`, from the data dir) that
    /// it no longer owns must go. A crash between writing the state file
    /// and carrying out its actions converges here to the state's set.
    pub fn restore<'a>(&self, present: impl IntoIterator<Item = &'a [u8]>, ctx: &dyn Context) -> Vec<Action> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for zone in present {
            seen.insert(zone);
            if !self.entries.get(zone).is_some_and(|e| e.owned) {
                out.push(Action::RemoveZone { name: zone.into() });
            }
        }
        for e in self.entries.values().filter(|e| e.owned) {
            if !seen.contains(&*e.member.zone) {
                let template = self.template(&e.member, ctx, &mut out);
                out.push(Action::AddZone {
                    name: e.member.zone.clone(),
                    template,
                });
            }
        }
        sort(&mut out);
        out
    }
}

/// Actions in a stable order: by zone name (canonical), reports first.
fn sort(out: &mut [Action]) {
    fn key(a: &Action) -> (&[u8], u8) {
        match a {
            Action::Error(_) => (&[], 0),
            Action::Hold { .. } => (&[], 1),
            Action::UnknownGroup { name, .. } => (name, 2),
            Action::Conflict { name, .. } => (name, 3),
            Action::RemoveZone { name } => (name, 4),
            Action::ResetZone { name, .. } => (name, 5),
            Action::ChangeTemplate { name, .. } => (name, 6),
            Action::Adopt { name, .. } => (name, 7),
            Action::AddZone { name, .. } => (name, 8),
        }
    }
    out.sort_by(|a, b| {
        let (na, ka) = key(a);
        let (nb, kb) = key(b);
        name::canonical_cmp(na, nb).then(ka.cmp(&kb))
    });
}
