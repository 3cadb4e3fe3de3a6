//! The zone rule of health (sans-IO): which zone states withdraw the node.
//!
//! A zone that cannot be answered from is either **failed** (a zone-level
//! failure: it answers SERVFAIL and is reported, but the node stays) or
//! **pending** (a zone with no version whose first SOA query or transfer
//! has not finished yet). Which of the two a zone without a version is,
//! the caller says through a [`Pending`] test (the supervisor builds it
//! from the secondary engine's status; this module does not know the
//! engine). The node withdraws for its zones only when:
//!
//! - a zone is pending before the node was ever healthy (a fresh node must
//!   not announce SERVFAILs it is about to stop giving);
//! - a zone of `health.critical-zones` fails, is pending or is not served
//!   at all;
//! - more than `health.max-failed-zones` of its zones failed at once, and
//!   failed on the node's side: it is cut off (from its primaries, its
//!   disk), not one customer's zone.
//!
//! Which side a failure is on, the caller says through an [`Answering`]
//! test (the supervisor asks the secondary engine): a secondary zone that
//! failed although its primaries answered its last round (with SERVFAIL,
//! because the hub's own copy expired; with REFUSED) failed **upstream**,
//! and so it does on every node of the fleet: it is reported and answers
//! SERVFAIL, but never counts towards "cut off". A zone whose primaries
//! were silent (no answer, no connection), a file zone that did not load,
//! and a version our disk could not take count. So a customer whose
//! primaries disappear cannot withdraw a fleet, however many of its zones
//! that customer has; a node that loses its hub (every primary silent)
//! withdraws alone. (A hub cannot tell a customer's silent primaries from
//! its own loss of the network: for it, every silent failure counts.)

use std::sync::Arc;

use super::probe::display_name;
use crate::config::MaxFailed;
use crate::zone::store::ZoneSet;

/// "Is this zone (lowercase wire apex), which has no version, still waiting
/// for its first attempt?" False once that attempt failed, or for a zone
/// that is not a secondary zone (a file zone without a version failed to
/// load).
pub type Pending = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// "Did the primaries of this failed zone (lowercase wire apex) answer its
/// last round, if only with an error?" Such a failure is upstream's and
/// does not count towards "cut off". False for zones that are not
/// secondary zones.
pub type Answering = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What the zones say, for one check round.
#[derive(Debug, Default)]
pub struct ZoneCheck {
    /// Zones looked at: every zone in the store, and before start-up the
    /// configured zones not in it yet.
    pub total: usize,
    /// Zone-level failures, by name, with why ("expired", "not loaded").
    pub failed: Vec<(String, &'static str)>,
    /// Zones waiting for their first attempt.
    pub pending: usize,
    /// What withdraws the node (empty: the zones allow it to announce).
    pub problems: Vec<String>,
}

/// Applies the zone rule to `set`. `configured` are the apexes of the
/// configured zones, `critical` those of `health.critical-zones`;
/// `started_up`: the node has been healthy once; `answering`: see
/// [`Answering`].
pub fn check_zones(
    set: &ZoneSet,
    configured: &[Box<[u8]>],
    critical: &[Box<[u8]>],
    max_failed: MaxFailed,
    pending: &dyn Fn(&[u8]) -> bool,
    started_up: bool,
    answering: &dyn Fn(&[u8]) -> bool,
) -> ZoneCheck {
    let mut failed: Vec<(&[u8], &'static str)> = Vec::new();
    let mut waiting: Vec<&[u8]> = Vec::new();
    let mut total = 0;
    for s in set.iter() {
        total += 1;
        match (&s.zone, s.expired) {
            (Some(_), false) => {}
            (Some(_), true) => failed.push((&s.apex, "expired")),
            (None, _) if pending(&s.apex) => waiting.push(&s.apex),
            (None, _) => failed.push((&s.apex, "not loaded")),
        }
    }
    if !started_up {
        // Before the first healthy round, a configured zone the supervisor
        // has not published yet counts as pending.
        for apex in configured {
            if set.get(apex).is_none() {
                total += 1;
                waiting.push(apex);
            }
        }
    }
    failed.sort_unstable();
    waiting.sort_unstable();

    let mut problems = Vec::new();
    for apex in critical {
        let name = display_name(apex);
        if let Ok(i) = failed.binary_search_by(|(a, _)| (*a).cmp(apex)) {
            problems.push(format!("critical zone {name} {}", failed[i].1));
        } else if waiting.binary_search(&&**apex).is_ok() {
            problems.push(format!("critical zone {name} not loaded yet (first transfer pending)"));
        } else if set.get(apex).is_none() {
            problems.push(format!("critical zone {name} is not served"));
        }
    }
    // Only failures on the node's side count: a zone whose primaries
    // answered failed upstream (and so on every node).
    let ours = failed.iter().filter(|(a, _)| !answering(a)).count();
    if ours > 0 && max_failed.exceeded(ours, total) {
        problems.push(format!(
            "{} of {} zones failed (max-failed-zones {max_failed}): cut off",
            thousands(ours),
            thousands(total)
        ));
    }
    if !started_up {
        let mut names: Vec<String> = waiting.iter().map(|a| display_name(a)).collect();
        names.sort_unstable();
        problems.extend(
            names
                .into_iter()
                .map(|n| format!("zone {n} not loaded yet (first transfer pending)")),
        );
    }
    let mut failed: Vec<(String, &'static str)> = failed.into_iter().map(|(a, why)| (display_name(a), why)).collect();
    failed.sort_unstable();
    ZoneCheck {
        total,
        failed,
        pending: waiting.len(),
        problems,
    }
}

/// `5001` as "5,001".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::name;
    use crate::zone::store::Served;

    fn zone(apex: &str) -> Arc<crate::zone::Zone> {
        let text = format!("$ORIGIN {apex}.\n@ 300 SOA ns host 1 2 3 4 5\n@ 300 NS ns\nns 300 A 192.0.2.1\n");
        Arc::new(load_zone_text(apex, &text).unwrap().zone)
    }

    fn wire(s: &str) -> Box<[u8]> {
        name::from_text(s).unwrap().into()
    }

    fn empty(apex: &str) -> Served {
        Served {
            apex: wire(apex),
            zone: None,
            expired: false,
        }
    }

    fn never(_: &[u8]) -> bool {
        false
    }

    const HALF: MaxFailed = MaxFailed::Percent(50);

    #[test]
    fn one_failed_zone_out_of_many_does_not_withdraw() {
        let set = ZoneSet::from_zones(["a.test", "b.test", "c.test"].map(zone))
            .with(zone("d.test"), true)
            .with_entry(empty("e.test"));
        let c = check_zones(&set, &[], &[], HALF, &never, true, &never);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.total, 5);
        assert_eq!(
            c.failed,
            [("d.test".to_string(), "expired"), ("e.test".to_string(), "not loaded")]
        );
        // Not even before start-up: a failed zone is not a pending one.
        assert!(
            check_zones(&set, &[], &[], HALF, &never, false, &never)
                .problems
                .is_empty()
        );
    }

    #[test]
    fn more_than_max_failed_zones_is_cut_off() {
        let mut set = ZoneSet::from_zones(["a.test", "b.test"].map(zone));
        set = set.with(zone("c.test"), true);
        // 1 of 3 failed: 33 % is not more than 50 %.
        assert!(
            check_zones(&set, &[], &[], HALF, &never, true, &never)
                .problems
                .is_empty()
        );
        set = set.with(zone("b.test"), true);
        let c = check_zones(&set, &[], &[], HALF, &never, true, &never);
        assert_eq!(c.problems, ["2 of 3 zones failed (max-failed-zones 50%): cut off"]);
        // Exactly half is not more than half.
        let half = ZoneSet::from_zones([zone("a.test")]).with(zone("b.test"), true);
        assert!(
            check_zones(&half, &[], &[], HALF, &never, true, &never)
                .problems
                .is_empty()
        );
        // A count: more than 1 failed.
        assert!(
            check_zones(&set, &[], &[], MaxFailed::Count(2), &never, true, &never)
                .problems
                .is_empty()
        );
        assert_eq!(
            check_zones(&set, &[], &[], MaxFailed::Count(1), &never, true, &never)
                .problems
                .len(),
            1
        );
        // "0%": any failure cuts off; "100%": none does.
        assert_eq!(
            check_zones(&set, &[], &[], MaxFailed::Percent(0), &never, true, &never)
                .problems
                .len(),
            1
        );
        let all = ZoneSet::default().with(zone("a.test"), true);
        assert!(
            check_zones(&all, &[], &[], MaxFailed::Percent(100), &never, true, &never)
                .problems
                .is_empty()
        );
        // One zone alone, failed: 100 % > 50 %.
        assert_eq!(
            check_zones(&all, &[], &[], HALF, &never, true, &never).problems.len(),
            1
        );
    }

    #[test]
    fn zones_failed_upstream_do_not_cut_off() {
        // One customer's zones, 2 of 3, expired on every node: the hub
        // answers them with SERVFAIL.
        let set = ZoneSet::from_zones([zone("beta.test")])
            .with(zone("alpha.test"), true)
            .with_entry(empty("alpha-shop.test"));
        let alphas = |a: &[u8]| a != &*wire("beta.test");
        let c = check_zones(&set, &[], &[], HALF, &never, true, &alphas);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.failed.len(), 2, "still reported");
        // The same zones with silent primaries (the node lost its hub).
        let c = check_zones(&set, &[], &[], HALF, &never, true, &never);
        assert_eq!(c.problems, ["2 of 3 zones failed (max-failed-zones 50%): cut off"]);
        // Only the silent failures are counted: 1 of 3 is not more than half.
        let shop_only = |a: &[u8]| a == &*wire("alpha-shop.test");
        assert!(
            check_zones(&set, &[], &[], HALF, &never, true, &shop_only)
                .problems
                .is_empty()
        );
        // Every zone failed, every primary silent: cut off; a critical zone
        // withdraws whichever side it failed on.
        let all = set.with(zone("beta.test"), true);
        let c = check_zones(&all, &[], &[], HALF, &never, true, &never);
        assert_eq!(c.problems, ["3 of 3 zones failed (max-failed-zones 50%): cut off"]);
        let c = check_zones(&all, &[], &[wire("alpha.test")], HALF, &never, true, &alphas);
        assert_eq!(c.problems, ["critical zone alpha.test expired"]);
    }

    #[test]
    fn critical_zones_withdraw_alone() {
        let set = ZoneSet::from_zones(["a.test", "b.test", "c.test"].map(zone))
            .with(zone("d.test"), true)
            .with_entry(empty("e.test"));
        let c = check_zones(&set, &[], &[wire("d.test")], HALF, &never, true, &never);
        assert_eq!(c.problems, ["critical zone d.test expired"]);
        let c = check_zones(&set, &[], &[wire("e.test")], HALF, &never, true, &never);
        assert_eq!(c.problems, ["critical zone e.test not loaded"]);
        let c = check_zones(&set, &[], &[wire("nothere.test")], HALF, &never, true, &never);
        assert_eq!(c.problems, ["critical zone nothere.test is not served"]);
        let c = check_zones(&set, &[], &[wire("a.test")], HALF, &never, true, &never);
        assert!(c.problems.is_empty());
        let waiting = |a: &[u8]| a == &*wire("e.test");
        let c = check_zones(&set, &[], &[wire("e.test")], HALF, &waiting, true, &never);
        assert_eq!(
            c.problems,
            ["critical zone e.test not loaded yet (first transfer pending)"]
        );
    }

    #[test]
    fn pending_zones_hold_back_only_a_fresh_node() {
        let set = ZoneSet::from_zones([zone("a.test")]).with_entry(empty("new.test"));
        let waiting = |a: &[u8]| a == &*wire("new.test");
        let c = check_zones(
            &set,
            &[wire("a.test"), wire("later.test")],
            &[],
            HALF,
            &waiting,
            false,
            &never,
        );
        assert_eq!(
            c.problems,
            [
                "zone later.test not loaded yet (first transfer pending)",
                "zone new.test not loaded yet (first transfer pending)"
            ]
        );
        assert_eq!((c.total, c.pending, c.failed.len()), (3, 2, 0));
        let c = check_zones(&set, &[wire("later.test")], &[], HALF, &waiting, true, &never);
        assert!(c.problems.is_empty());
        assert_eq!((c.total, c.pending), (2, 1));
        // Once its first attempt failed, it is failed: no longer holding
        // back a fresh node (1 of 2 is not more than half).
        let c = check_zones(&set, &[], &[], HALF, &never, false, &never);
        assert!(c.problems.is_empty());
        assert_eq!(c.failed, [("new.test".to_string(), "not loaded")]);
    }

    #[test]
    fn big_numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(5001), "5,001");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let mut set = ZoneSet::default();
        for i in 0..10_000 {
            let z = zone(&format!("z{i}.test"));
            set = set.with(z, i <= 5000);
        }
        let c = check_zones(&set, &[], &[], HALF, &never, true, &never);
        assert_eq!(
            c.problems,
            ["5,001 of 10,000 zones failed (max-failed-zones 50%): cut off"]
        );
    }
}
