//! The difference between two versions of a zone, for the IXFR history of
//! versions that did not arrive as an IXFR (an AXFR in, a zone file that
//! changed).
//!
//! Both versions list their names in canonical order, so one merge walk
//! over the two name lists finds the names only one side has; at a name
//! both have, the RRsets are matched by type and their rdata compared. The
//! cost is O(records) with no sort of the zone; only an RRset whose
//! contents differ is sorted (its own records). The apex SOA is left out:
//! it is the journal entry's `from_soa` and `soa`.

use std::cmp::Ordering;

use super::journal::{Record, record_size};
use super::name::canonical_cmp;
use super::{APEX, RRset, Zone, rtype};

/// Records removed and added from `old` to `new` (apex SOA excepted), or
/// `None` when they take more than `max_bytes` (as journal records): the
/// history then starts afresh. Blocking: O(records) of both versions.
pub fn diff(old: &Zone, new: &Zone, max_bytes: u64) -> Option<(Vec<Record>, Vec<Record>)> {
    let mut d = Diff {
        removed: Vec::new(),
        added: Vec::new(),
        bytes: 0,
        max: max_bytes,
    };
    let (a, b) = (old.canonical_ids(), new.canonical_ids());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => canonical_cmp(old.name(x), new.name(y)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                for set in old.rrsets(a[i]) {
                    d.all(old, a[i], set, false)?;
                }
                i += 1;
            }
            Ordering::Greater => {
                for set in new.rrsets(b[j]) {
                    d.all(new, b[j], set, true)?;
                }
                j += 1;
            }
            Ordering::Equal => {
                d.node(old, a[i], new, b[j])?;
                i += 1;
                j += 1;
            }
        }
    }
    Some((d.removed, d.added))
}

struct Diff {
    removed: Vec<Record>,
    added: Vec<Record>,
    bytes: u64,
    max: u64,
}

fn same_kind(x: &RRset, y: &RRset) -> bool {
    x.rtype == y.rtype && x.covered == y.covered
}

fn is_apex_soa(id: u32, set: &RRset) -> bool {
    id == APEX && set.rtype == rtype::SOA
}

impl Diff {
    fn push(&mut self, zone: &Zone, id: u32, set: &RRset, rdata: &[u8], add: bool) -> Option<()> {
        let r = Record {
            owner: zone.name(id).to_vec(),
            rtype: set.rtype,
            ttl: set.ttl,
            rdata: rdata.to_vec(),
        };
        self.bytes += record_size(&r);
        if self.bytes > self.max {
            return None;
        }
        if add { &mut self.added } else { &mut self.removed }.push(r);
        Some(())
    }

    /// Every record of an RRset, removed or added.
    fn all(&mut self, zone: &Zone, id: u32, set: &RRset, add: bool) -> Option<()> {
        if is_apex_soa(id, set) {
            return Some(());
        }
        for rd in zone.records(set) {
            self.push(zone, id, set, rd, add)?;
        }
        Some(())
    }

    /// A name both versions have.
    fn node(&mut self, old: &Zone, x: u32, new: &Zone, y: u32) -> Option<()> {
        let (sa, sb) = (old.rrsets(x), new.rrsets(y));
        for s in sa {
            match sb.iter().find(|t| same_kind(s, t)) {
                None => self.all(old, x, s, false)?,
                Some(t) => self.set(old, x, s, new, y, t)?,
            }
        }
        for t in sb.iter().filter(|t| !sa.iter().any(|s| same_kind(s, t))) {
            self.all(new, y, t, true)?;
        }
        Some(())
    }

    /// An RRset both versions have: a TTL change replaces every record
    /// (IXFR carries the TTL with each record); else the records only one
    /// side has.
    fn set(&mut self, old: &Zone, x: u32, s: &RRset, new: &Zone, y: u32, t: &RRset) -> Option<()> {
        if is_apex_soa(x, s) {
            return Some(());
        }
        if s.ttl != t.ttl {
            self.all(old, x, s, false)?;
            return self.all(new, y, t, true);
        }
        if old.records(s).eq(new.records(t)) {
            return Some(());
        }
        let mut ra: Vec<&[u8]> = old.records(s).collect();
        let mut rb: Vec<&[u8]> = new.records(t).collect();
        ra.sort_unstable();
        rb.sort_unstable();
        let (mut i, mut j) = (0, 0);
        while i < ra.len() || j < rb.len() {
            let ord = match (ra.get(i), rb.get(j)) {
                (Some(p), Some(q)) => p.cmp(q),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    self.push(old, x, s, ra[i], false)?;
                    i += 1;
                }
                Ordering::Greater => {
                    self.push(new, y, t, rb[j], true)?;
                    j += 1;
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::name::{from_text, to_text};
    use crate::zone::patch::{self, Change};

    const HEAD: &str =
        "$ORIGIN d.test.\n@ 300 SOA ns1 host SERIAL 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n";

    fn zone(serial: u32, body: &str) -> Zone {
        let text = HEAD.replace("SERIAL", &serial.to_string()) + body;
        load_zone_text("d.test", &text).unwrap_or_else(|e| panic!("{e:?}")).zone
    }

    fn show(list: &[Record]) -> Vec<String> {
        let mut v: Vec<String> = list
            .iter()
            .map(|r| format!("{} {} {} {:?}", to_text(&r.owner), r.rtype, r.ttl, r.rdata))
            .collect();
        v.sort();
        v
    }

    /// Applying the diff to `old` gives `new`'s records.
    fn check_applies(old: &Zone, new: &Zone, removed: &[Record], added: &[Record]) {
        fn ch(r: &Record) -> Change<'_> {
            Change {
                owner: &r.owner,
                rtype: r.rtype,
                ttl: r.ttl,
                rdata: &r.rdata,
            }
        }
        let rm: Vec<Change<'_>> = removed.iter().map(ch).collect();
        let ad: Vec<Change<'_>> = added.iter().map(ch).collect();
        let soa = Record::soa_of(new).unwrap_or_else(|| panic!("no SOA"));
        let got = patch::apply_or_rebuild(old, &rm, &ad, ch(&soa)).unwrap_or_else(|e| panic!("{e}"));
        let (r2, a2) = diff(&got, new, u64::MAX).unwrap_or_else(|| panic!("bounded"));
        assert!(r2.is_empty() && a2.is_empty(), "{:?} {:?}", show(&r2), show(&a2));
    }

    #[test]
    fn adds_removes_ttl_and_replaced_sets() {
        let old = zone(
            1,
            "a 300 A 192.0.2.10\na 300 A 192.0.2.11\nb 300 TXT \"gone\"\nc 300 A 192.0.2.3\nc 60 MX 10 mail\nx.y 300 A 192.0.2.9\n",
        );
        let new = zone(
            2,
            "a 300 A 192.0.2.11\na 300 A 192.0.2.12\nc 600 A 192.0.2.3\nc 60 MX 20 mail\nd 300 AAAA 2001:db8::1\nx.y 300 A 192.0.2.9\n",
        );
        let (removed, added) = diff(&old, &new, u64::MAX).unwrap_or_else(|| panic!("bounded"));
        let a = from_text("a.d.test").unwrap_or_default();
        assert!(removed.iter().any(|r| r.owner == a && r.rdata == [192, 0, 2, 10]));
        assert!(added.iter().any(|r| r.owner == a && r.rdata == [192, 0, 2, 12]));
        assert!(
            !removed.iter().chain(&added).any(|r| r.rdata == [192, 0, 2, 11]),
            "unchanged"
        );
        assert!(
            !removed.iter().chain(&added).any(|r| r.rdata == [192, 0, 2, 9]),
            "unchanged"
        );
        // The TTL change replaces the record.
        let c = from_text("c.d.test").unwrap_or_default();
        assert!(removed.iter().any(|r| r.owner == c && r.rtype == 1 && r.ttl == 300));
        assert!(added.iter().any(|r| r.owner == c && r.rtype == 1 && r.ttl == 600));
        // Names removed and added; no SOA in either list.
        assert!(
            removed
                .iter()
                .any(|r| r.owner == from_text("b.d.test").unwrap_or_default())
        );
        assert!(
            added
                .iter()
                .any(|r| r.owner == from_text("d.d.test").unwrap_or_default())
        );
        assert!(!removed.iter().chain(&added).any(|r| r.rtype == rtype::SOA));
        assert_eq!(removed.len(), 4, "{:?}", show(&removed));
        assert_eq!(added.len(), 4, "{:?}", show(&added));
        check_applies(&old, &new, &removed, &added);
    }

    #[test]
    fn same_contents_and_apex_changes() {
        let old = zone(1, "a 300 A 192.0.2.10\n");
        let (r, a) = diff(&old, &zone(2, "a 300 A 192.0.2.10\n"), u64::MAX).unwrap_or_else(|| panic!("bounded"));
        assert!(r.is_empty() && a.is_empty(), "only the SOA changed");
        // An apex RRset replaced, a new apex type.
        let new = zone(3, "a 300 A 192.0.2.10\n@ 300 TXT \"hello\"\n");
        let (r, a) = diff(&old, &new, u64::MAX).unwrap_or_else(|| panic!("bounded"));
        assert!(r.is_empty());
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].rtype, rtype::TXT);
        check_applies(&old, &new, &r, &a);
    }

    #[test]
    fn bounded() {
        let old = zone(1, "");
        let body: String = (0..100).map(|i| format!("h{i} 300 A 192.0.2.{i}\n")).collect();
        let new = zone(2, &body);
        let (_, a) = diff(&old, &new, u64::MAX).unwrap_or_else(|| panic!("bounded"));
        assert_eq!(a.len(), 100);
        let size: u64 = a.iter().map(record_size).sum();
        assert!(diff(&old, &new, size).is_some());
        assert!(diff(&old, &new, size - 1).is_none(), "past the bound: no diff");
    }
}
