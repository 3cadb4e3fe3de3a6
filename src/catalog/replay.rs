//! A catalog zone built from arbitrary bytes, read and applied: the
//! harness of the `catalog` fuzz target (fuzz/fuzz_targets/catalog.rs) and
//! of its regression replay (tests/fuzz_regressions.rs).
//!
//! Input: a list of records, each `owner type rdata`: one octet picks the
//! owner among names that matter in a catalog (`version`, `zones`, member
//! labels, their `group` and `coo`, deeper and odd names), one octet the
//! type (TXT, PTR, A, or any type the next octet names), then the rdata
//! (a length octet and octets, or a well-formed member name). The zone
//! gets an SOA and an NS, then goes through [`parse`] and into a consumer
//! that already holds five members. Checked: a broken catalog changes
//! nothing; a good one leaves the consumer listing exactly its members,
//! each a valid lowercase name; applying it again changes nothing; the
//! state file of the result reads back equal. Any failed check panics.

use super::consumer::{Consumer, Context, MaxRemovals, Owner, Settings};
use super::parse::{CatalogError, Member, Members, parse};
use super::state;
use crate::zone::ZoneBuilder;
use crate::zone::build::SourcePos;
use crate::zone::name::{self, skip_name};
use crate::zone::rtype;

const OWNERS: [&str; 16] = [
    "",
    "version",
    "zones",
    "a.zones",
    "b.zones",
    "c.zones",
    "group.a.zones",
    "coo.a.zones",
    "group.b.zones",
    "coo.b.zones",
    "x.a.zones",
    "zones.zones",
    "A.ZONES",
    "l0.zones",
    "group.l0.zones",
    "version.zones",
];

struct Node;

impl Context for Node {
    fn has_template(&self, name: &str) -> bool {
        name == "customers"
    }
    fn owner(&self, zone: &[u8]) -> Owner {
        match zone.get(1) {
            Some(b'c') => Owner::Configured,
            Some(b'o') => Owner::Catalog(b"\x05other\x03cat\x00".as_slice().into()),
            _ => Owner::Nobody,
        }
    }
    fn coo(&self, _catalog: &[u8], zone: &[u8]) -> Option<Box<[u8]>> {
        (zone.get(2) == Some(&b'1')).then(|| b"\x03cat\x07example\x00".as_slice().into())
    }
}

/// Five members `m0.example` .. `m4.example`, labels `l0` .. `l4`.
fn base() -> Members {
    let mut m = Members::default();
    for i in 0..5u8 {
        let zone: Box<[u8]> = [b"\x02m".as_slice(), &[b'0' + i], b"\x07example\x00"].concat().into();
        let label: Box<[u8]> = [b'l', b'0' + i].as_slice().into();
        m.by_zone.insert(
            zone.clone(),
            Member {
                label,
                zone,
                group: None,
                coo: None,
            },
        );
    }
    m
}

/// Runs one input; returns the number of members applied, or why the
/// catalog (or the zone built from the input) was refused.
pub fn replay(data: &[u8]) -> Result<usize, String> {
    let apex = b"\x03cat\x07example\x00";
    let mut b = ZoneBuilder::new(apex);
    let pos = SourcePos::default();
    b.add(
        apex,
        rtype::SOA,
        0,
        b"\x00\x00\x00\x00\x00\x07\0\0\0\x3c\0\0\0\x3c\0\0\x02\x58\0\0\0\x3c",
        pos,
    );
    b.add(apex, rtype::NS, 0, b"\x07invalid\x00", pos);
    let mut rest = data;
    while let [o, t, tail @ ..] = rest {
        let mut owner = name::from_text(OWNERS[(o & 15) as usize]).unwrap_or_default();
        owner.pop();
        owner.extend_from_slice(apex);
        let (ty, tail) = match t & 3 {
            0 => (rtype::TXT, tail),
            1 => (rtype::PTR, tail),
            2 => (rtype::A, tail),
            _ => match tail {
                [x, tail @ ..] => (u16::from(*x), tail),
                [] => break,
            },
        };
        let (rdata, tail) = if t & 4 != 0 {
            // A member name m<x>.example, in a case the octet picks.
            let Some((x, tail)) = tail.split_first() else { break };
            let m = if x & 0x80 != 0 { b'M' } else { b'm' };
            (
                vec![2, m, b'0' + (x & 7), 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0],
                tail,
            )
        } else {
            let Some((&len, tail)) = tail.split_first() else { break };
            let len = (len as usize).min(tail.len());
            (tail[..len].to_vec(), &tail[len..])
        };
        b.add(&owner, ty, 0, &rdata, pos);
        rest = tail;
    }
    let zone = match b.build() {
        Ok(built) => built.zone,
        Err(issues) => return Err(format!("zone refused: {} issues", issues.len())),
    };
    let node = Node;
    let mut c = Consumer::new(Settings {
        catalog: apex.as_slice().into(),
        member_template: Some("from-hub".into()),
        max_removals: MaxRemovals::Count(if data.first().is_some_and(|o| o & 0x80 != 0) {
            1
        } else {
            9
        }),
    });
    c.apply(Ok(base()), &node);
    let before = c.clone();
    let parsed = parse(&zone);
    let result = parsed.clone().map(|m| m.len()).map_err(|e: CatalogError| e.to_string());
    c.apply(parsed.clone(), &node);
    match parsed {
        Err(_) => {
            assert_eq!(
                c.entries().count(),
                before.entries().count(),
                "a broken catalog changed the members"
            );
            assert!(c.entries().all(|e| before.get(&e.member.zone) == Some(e)));
        }
        Ok(members) => {
            for m in members.by_zone.values() {
                assert_eq!(skip_name(&m.zone), Some(m.zone.len()), "member zone is not a name");
                assert!(!m.label.is_empty() && m.label.len() <= 63);
                let mut lower = m.zone.to_vec();
                name::lowercase_in_place(&mut lower);
                assert_eq!(&*lower, &*m.zone, "member zone not lowercase");
                let Some(e) = c.get(&m.zone) else {
                    panic!("member {:?} of a good catalog is not applied", name::to_text(&m.zone));
                };
                assert!(e.listed && e.member == *m);
            }
            let unlisted = c.entries().filter(|e| !e.listed).count();
            assert_eq!(c.len() - unlisted, members.len());
            assert_eq!(unlisted, c.held());
            let again = c.apply(Ok(members.clone()), &node);
            assert!(
                again.iter().all(|a| matches!(a, super::Action::Hold { .. })),
                "the same version again changed something: {again:?}"
            );
        }
    }
    let st = state::State {
        catalog: apex.as_slice().into(),
        serial: c.serial,
        entries: c.entries().cloned().collect(),
    };
    let back = state::decode(&state::encode(&st), std::path::Path::new("replay"));
    assert_eq!(back.as_ref(), Ok(&st), "the state file does not read back");
    result
}
