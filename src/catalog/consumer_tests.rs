//! Unit tests of the consumer's rules: add, remove, reset, group ->
//! template, unknown group, conflicts, coo migration, the removal hold and
//! its acceptance, broken versions, restore after a restart, and the cost
//! of adding one member to 10,000.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use super::consumer::{Action, Consumer, Context, Entry, MaxRemovals, Owner, Settings};
use super::parse::{CatalogError, Member, Members, parse};
use super::state;
use super::tests::{v2, wire};

type Pair = (Box<[u8]>, Box<[u8]>);

/// The rest of the node, as the consumer sees it: templates, who owns
/// which zone, and the other catalogs' coo properties. Counts questions.
#[derive(Default)]
struct Node {
    templates: HashSet<String>,
    owners: HashMap<Box<[u8]>, Owner>,
    /// (catalog, zone) -> the coo that catalog carries for the zone.
    coo: HashMap<Pair, Box<[u8]>>,
    questions: Cell<usize>,
}

impl Context for Node {
    fn has_template(&self, name: &str) -> bool {
        self.templates.contains(name)
    }
    fn owner(&self, zone: &[u8]) -> Owner {
        self.questions.set(self.questions.get() + 1);
        self.owners.get(zone).cloned().unwrap_or(Owner::Nobody)
    }
    fn coo(&self, catalog: &[u8], zone: &[u8]) -> Option<Box<[u8]>> {
        self.coo.get(&(catalog.into(), zone.into())).cloned()
    }
}

impl Node {
    fn new() -> Node {
        let mut n = Node::default();
        n.templates.insert("customers".into());
        n.templates.insert("from-hub".into());
        n
    }

    /// Carries out actions as the zone owner would, for the next apply.
    fn run(&mut self, catalog: &[u8], actions: &[Action]) {
        for a in actions {
            match a {
                Action::AddZone { name, .. } | Action::Adopt { name, .. } => {
                    self.owners.insert(name.clone(), Owner::Catalog(catalog.into()));
                }
                Action::RemoveZone { name } => {
                    self.owners.remove(name);
                }
                _ => {}
            }
        }
    }
}

fn settings(max: MaxRemovals) -> Settings {
    Settings {
        catalog: wire("cat.example"),
        member_template: Some("from-hub".into()),
        max_removals: max,
    }
}

fn add(zone: &str, template: &str) -> Action {
    Action::AddZone {
        name: wire(zone),
        template: Some(template.into()),
    }
}

fn remove(zone: &str) -> Action {
    Action::RemoveZone { name: wire(zone) }
}

/// A catalog of `n` members `m<i>.example` with labels `l<i>`.
fn members(n: usize, serial: u32) -> Members {
    let mut m = Members {
        serial,
        ..Members::default()
    };
    for i in 0..n {
        let zone = wire(&format!("m{i}.example"));
        m.by_zone.insert(
            zone.clone(),
            Member {
                label: format!("l{i}").into_bytes().into(),
                zone,
                group: None,
                coo: None,
            },
        );
    }
    m
}

#[test]
fn members_added_with_group_templates_and_removed() {
    let mut node = Node::new();
    let cat = wire("cat.example");
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    let z = v2("a.zones PTR one.example.\n\
         b.zones PTR two.example.\ngroup.b.zones TXT \"customers\"\n\
         c.zones PTR three.example.\ngroup.c.zones TXT \"nosuch\"");
    let acts = c.apply(parse(&z), &node);
    assert_eq!(
        acts,
        vec![
            add("one.example", "from-hub"),
            Action::UnknownGroup {
                name: wire("three.example"),
                group: "nosuch".into()
            },
            add("three.example", "from-hub"),
            add("two.example", "customers"),
        ]
    );
    node.run(&cat, &acts);
    assert_eq!(c.len(), 3);
    assert!(c.entries().all(|e| e.owned && e.listed));
    // The same version again: nothing to do.
    assert_eq!(c.apply(parse(&z), &node), vec![]);
    // one.example removed; two.example's group gone: back to member-template.
    let z = v2("b.zones PTR two.example.\nc.zones PTR three.example.\ngroup.c.zones TXT \"nosuch\"");
    let acts = c.apply(parse(&z), &node);
    assert_eq!(
        acts,
        vec![
            remove("one.example"),
            Action::ChangeTemplate {
                name: wire("two.example"),
                template: Some("from-hub".into())
            },
        ],
        "an unknown group is reported when it comes, not on every version"
    );
}

#[test]
fn a_changed_label_resets_the_zone() {
    let node = Node::new();
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    c.apply(parse(&v2("a.zones PTR one.example.")), &node);
    let acts = c.apply(parse(&v2("z.zones PTR one.example.")), &node);
    assert_eq!(
        acts,
        vec![Action::ResetZone {
            name: wire("one.example"),
            template: Some("from-hub".into())
        }]
    );
    assert_eq!(&*c.get(&wire("one.example")).expect("member").member.label, b"z");
}

#[test]
fn a_broken_version_changes_nothing() {
    let node = Node::new();
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    c.apply(parse(&v2("a.zones PTR one.example.")), &node);
    let before = c.clone();
    let broken = v2("a.zones PTR one.example.\nb.zones PTR one.example.");
    let acts = c.apply(parse(&broken), &node);
    assert!(matches!(
        acts.as_slice(),
        [Action::Error(CatalogError::DuplicateMember { .. })]
    ));
    assert!(c.error.is_some(), "the catalog shows the error");
    assert_eq!(c.get(&wire("one.example")), before.get(&wire("one.example")));
    assert_eq!((c.len(), c.serial), (before.len(), before.serial));
    // A good version clears the error.
    c.apply(parse(&v2("a.zones PTR one.example.")), &node);
    assert!(c.error.is_none());
}

#[test]
fn a_clash_with_a_configured_zone_is_ignored_and_never_removed() {
    let mut node = Node::new();
    node.owners.insert(wire("mine.example"), Owner::Configured);
    node.owners
        .insert(wire("theirs.example"), Owner::Catalog(wire("other.cat")));
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    let acts = c.apply(
        parse(&v2("a.zones PTR mine.example.\nb.zones PTR theirs.example.")),
        &node,
    );
    assert_eq!(
        acts,
        vec![
            Action::Conflict {
                name: wire("mine.example"),
                owner: Owner::Configured
            },
            Action::Conflict {
                name: wire("theirs.example"),
                owner: Owner::Catalog(wire("other.cat"))
            },
        ]
    );
    assert!(c.entries().all(|e| !e.owned));
    // Listed again: not reported again. Removed: not removed from the node.
    let acts = c.apply(parse(&v2("a.zones PTR mine.example.")), &node);
    assert_eq!(acts, vec![]);
    assert_eq!(c.recheck(&node), vec![], "still configured: nothing to do");
    // The operator removes the configured zone: the member becomes ours.
    node.owners.remove(&wire("mine.example"));
    assert_eq!(c.recheck(&node), vec![add("mine.example", "from-hub")]);
    node.owners
        .insert(wire("mine.example"), Owner::Catalog(wire("cat.example")));
    assert_eq!(c.apply(parse(&v2("")), &node), vec![remove("mine.example")]);
    // And once more, configured again: a removal leaves it alone.
    node.owners.insert(wire("mine.example"), Owner::Configured);
    c.apply(parse(&v2("a.zones PTR mine.example.")), &node);
    assert_eq!(c.apply(parse(&v2("")), &node), vec![]);
    assert!(c.is_empty());
}

#[test]
fn coo_migrates_only_once_the_new_catalog_lists_the_zone() {
    let mut node = Node::new();
    let old = wire("old.cat");
    let new = wire("cat.example");
    node.owners.insert(wire("mig.example"), Owner::Catalog(old.clone()));
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    // The old catalog has no coo yet: a conflict, nothing taken over.
    let z = v2("n.zones PTR mig.example.\ngroup.n.zones TXT \"customers\"");
    let acts = c.apply(parse(&z), &node);
    assert!(matches!(acts.as_slice(), [Action::Conflict { .. }]), "{acts:?}");
    assert!(!c.get(&wire("mig.example")).expect("listed").owned);
    // The old catalog now points here: recheck adopts, keeping the data.
    node.coo.insert((old.clone(), wire("mig.example")), new.clone());
    let acts = c.recheck(&node);
    assert_eq!(
        acts,
        vec![Action::Adopt {
            name: wire("mig.example"),
            from: old.clone(),
            template: Some("customers".into())
        }]
    );
    assert!(c.get(&wire("mig.example")).expect("member").owned);
    assert_eq!(c.recheck(&node), vec![], "nothing pending any more");

    // The old catalog's side: it carries the coo while it lists the zone,
    // and after `release` its removal leaves the zone alone.
    let mut o = Consumer::new(Settings {
        catalog: old.clone(),
        ..settings(MaxRemovals::default())
    });
    node.owners.remove(&wire("mig.example"));
    let acts = o.apply(
        parse(&v2("a.zones PTR mig.example.\ncoo.a.zones PTR cat.example.")),
        &node,
    );
    assert_eq!(acts, vec![add("mig.example", "from-hub")]);
    assert_eq!(o.coo_of(&wire("mig.example")), Some(&*new));
    o.release(&wire("mig.example"));
    assert_eq!(o.apply(parse(&v2("")), &node), vec![], "a released zone is not removed");

    // A zone listed by a new catalog whose owner points elsewhere stays put.
    node.owners.insert(wire("mig2.example"), Owner::Catalog(old.clone()));
    node.coo.insert((old, wire("mig2.example")), wire("third.cat"));
    let acts = c.apply(parse(&v2("n.zones PTR mig.example.\nm.zones PTR mig2.example.")), &node);
    assert!(
        acts.iter().all(|a| !matches!(a, Action::Adopt { .. })),
        "coo to another catalog: no migration here: {acts:?}"
    );
}

#[test]
fn a_mass_removal_is_held_until_accepted() {
    let node = Node::new();
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    c.apply(Ok(members(20, 1)), &node);
    // 4 of 20 (20 %) pass.
    let acts = c.apply(Ok(members(16, 2)), &node);
    assert_eq!(
        acts.iter().filter(|a| matches!(a, Action::RemoveZone { .. })).count(),
        4
    );
    // 5 of 16 (limit 3) are held; the addition in the same version goes on.
    let mut next = members(11, 3);
    let extra = Member {
        label: b"new".as_slice().into(),
        zone: wire("new.example"),
        group: None,
        coo: None,
    };
    next.by_zone.insert(extra.zone.clone(), extra);
    let acts = c.apply(Ok(next.clone()), &node);
    assert_eq!(
        acts,
        vec![Action::Hold { removals: 5, limit: 3 }, add("new.example", "from-hub")]
    );
    assert_eq!((c.len(), c.held()), (17, 5), "nothing removed, the hold shown");
    // The same version again: still held.
    let acts = c.apply(Ok(next), &node);
    assert_eq!(acts, vec![Action::Hold { removals: 5, limit: 3 }]);
    let acts = c.accept_removals();
    assert_eq!(acts.len(), 5);
    assert!(acts.iter().all(|a| matches!(a, Action::RemoveZone { .. })));
    assert_eq!((c.len(), c.held()), (12, 0));
    assert_eq!(c.accept_removals(), vec![], "nothing left to accept");
}

#[test]
fn a_hold_lifts_when_the_catalog_lists_the_members_again() {
    let node = Node::new();
    let mut c = Consumer::new(settings(MaxRemovals::Count(2)));
    c.apply(Ok(members(5, 1)), &node);
    let acts = c.apply(Ok(members(0, 2)), &node);
    assert_eq!(acts, vec![Action::Hold { removals: 5, limit: 2 }]);
    assert_eq!(c.apply(Ok(members(5, 3)), &node), vec![], "the hub fixed its mistake");
    assert_eq!(c.held(), 0);
    assert!(c.entries().all(|e| e.listed && e.owned));
    // Small catalogs and the default: 10 members may all go at once.
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    c.apply(Ok(members(10, 1)), &node);
    assert_eq!(c.apply(Ok(members(0, 2)), &node).len(), 10);
}

#[test]
fn max_removals_limits() {
    assert_eq!(MaxRemovals::default().limit(10), None);
    assert_eq!(MaxRemovals::default().limit(11), Some(2));
    assert_eq!(MaxRemovals::default().limit(10_000), Some(2000));
    assert_eq!(MaxRemovals::Percent(50).limit(100), Some(50));
    assert_eq!(MaxRemovals::Count(0).limit(3), Some(0));
}

#[test]
fn one_member_added_to_ten_thousand_costs_one_action_and_one_question() {
    let node = Node::new();
    let mut c = Consumer::new(settings(MaxRemovals::default()));
    let base = members(10_000, 1);
    assert_eq!(c.apply(Ok(base.clone()), &node).len(), 10_000);
    node.questions.set(0);
    let mut next = base;
    next.serial = 2;
    let m = Member {
        label: b"one-more".as_slice().into(),
        zone: wire("one-more.example"),
        group: None,
        coo: None,
    };
    next.by_zone.insert(m.zone.clone(), m);
    let acts = c.apply(Ok(next), &node);
    assert_eq!(acts, vec![add("one-more.example", "from-hub")]);
    assert_eq!(node.questions.get(), 1, "only the new member is looked up on the node");
    assert_eq!(c.len(), 10_001);
}

#[test]
fn restore_converges_to_the_state_after_a_crash() {
    let node = Node::new();
    let e = |zone: &str, owned| Entry {
        member: Member {
            label: b"l".as_slice().into(),
            zone: wire(zone),
            group: None,
            coo: None,
        },
        owned,
        listed: true,
    };
    // The state (new version) was written; the crash came before all of
    // its actions ran: new.example is missing, gone.example still on disk.
    let c = Consumer::from_entries(
        settings(MaxRemovals::default()),
        Some(5),
        vec![
            e("kept.example", true),
            e("new.example", true),
            e("other.example", false),
        ],
    );
    // Through the state file, as a restart reads it.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut entries: Vec<Entry> = c.entries().cloned().collect();
    entries.sort_by(|a, b| a.member.zone.cmp(&b.member.zone));
    let st = state::State {
        catalog: c.settings.catalog.clone(),
        serial: c.serial,
        entries,
    };
    state::write(dir.path(), &st).expect("state written");
    let back = state::read(dir.path(), &st.catalog)
        .expect("state read")
        .expect("state present");
    let c = Consumer::from_entries(c.settings.clone(), back.serial, back.entries);
    assert_eq!(c.serial, Some(5));
    let present = [wire("kept.example"), wire("gone.example")];
    let acts = c.restore(present.iter().map(|z| &**z), &node);
    assert_eq!(acts, vec![remove("gone.example"), add("new.example", "from-hub")]);
    // Once they ran, a second restore has nothing to do.
    let present = [wire("kept.example"), wire("new.example")];
    assert_eq!(c.restore(present.iter().map(|z| &**z), &node), vec![]);
}
