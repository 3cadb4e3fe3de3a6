//! Unit tests of catalog parsing (v1, v2, every broken case) and the state
//! file. The consumer's rules are tested in `consumer_tests.rs`.

use super::parse::{CatalogError, Version, parse};
use super::state::{self, State};
use super::{Entry, Member, Members};
use crate::zone::Zone;
use crate::zone::file::load_zone_text;
use crate::zone::name::from_text;

pub(super) fn catalog(version: &str, body: &str) -> Zone {
    let text = format!(
        "$ORIGIN cat.example.\n$TTL 0\n@ SOA invalid. hostmaster 7 60 60 600 60\n@ NS invalid.\n{version}\n{body}\n"
    );
    load_zone_text("cat.example", &text)
        .unwrap_or_else(|e| panic!("test catalog does not load: {e}"))
        .zone
}

pub(super) fn v2(body: &str) -> Zone {
    catalog("version TXT \"2\"", body)
}

pub(super) fn wire(text: &str) -> Box<[u8]> {
    from_text(text).expect("test name").into()
}

fn member<'a>(m: &'a Members, zone: &str) -> &'a Member {
    m.by_zone
        .get(&wire(zone))
        .unwrap_or_else(|| panic!("{zone} not a member"))
}

#[test]
fn v2_members_and_properties() {
    let z = v2("a.zones PTR One.Example.\n\
         b.zones PTR two.example.\n\
         group.b.zones TXT \"customers\"\n\
         coo.b.zones PTR other.cat.\n\
         c.zones PTR three.example.\n\
         unknown.c.zones TXT \"ignored\"\n\
         group.orphan.zones TXT \"no member\"\n\
         x.y.z.zones PTR deep.example.\n\
         ext.cat.example. TXT \"ignored too\"");
    let m = parse(&z).expect("valid catalog");
    assert_eq!(m.version, Some(Version::V2));
    assert_eq!(m.serial, 7);
    assert_eq!(m.len(), 3);
    let one = member(&m, "one.example");
    assert_eq!(&*one.label, b"a");
    assert_eq!(&*one.zone, &*wire("one.example"), "member names are lowercased");
    assert_eq!((one.group.as_deref(), one.coo.as_deref()), (None, None));
    let two = member(&m, "two.example");
    assert_eq!(two.group.as_deref(), Some("customers"));
    assert_eq!(two.coo.as_deref(), Some(&*wire("other.cat")));
    assert!(member(&m, "three.example").group.is_none());
}

#[test]
fn v1_reads_members_without_properties() {
    let z = catalog(
        "version TXT \"1\"",
        "5960775ba382e7a4e09263fc06e7c00569b6a05c.zones PTR one.example.\n\
         group.5960775ba382e7a4e09263fc06e7c00569b6a05c.zones TXT \"g\"",
    );
    let m = parse(&z).expect("v1 catalog");
    assert_eq!(m.version, Some(Version::V1));
    assert_eq!(m.len(), 1);
    assert_eq!(member(&m, "one.example").group, None, "v1 has no properties");
}

#[test]
fn empty_catalog_has_no_members() {
    let m = parse(&v2("")).expect("no members is fine");
    assert!(m.is_empty());
}

#[test]
fn broken_catalogs_are_errors() {
    let cases: &[(Zone, CatalogError)] = &[
        (catalog("", "a.zones PTR one.example."), CatalogError::NoVersion),
        (
            catalog("version TXT \"2\"\nversion TXT \"1\"", ""),
            CatalogError::SeveralVersions(2),
        ),
        (
            catalog("version TXT \"3\"", ""),
            CatalogError::UnknownVersion("\u{1}3".into()),
        ),
        (
            catalog("version TXT \"2\" \"2\"", ""),
            CatalogError::UnknownVersion("\u{1}2\u{1}2".into()),
        ),
        (catalog("version A 192.0.2.1", ""), CatalogError::NoVersion),
        (
            v2("a.zones PTR one.example.\na.zones PTR two.example."),
            CatalogError::SeveralPtr {
                label: "a".into(),
                count: 2,
            },
        ),
        (
            v2("a.zones PTR one.example.\nb.zones PTR ONE.example."),
            CatalogError::DuplicateMember {
                zone: "one.example.".into(),
                labels: ["a".into(), "b".into()],
            },
        ),
        (
            v2("a.zones PTR one.example.\ncoo.a.zones PTR x.\ncoo.a.zones PTR y."),
            CatalogError::BadCoo {
                label: "a".into(),
                count: 2,
            },
        ),
        (
            v2("a.zones PTR one.example.\ngroup.a.zones TXT \"x\"\ngroup.a.zones TXT \"y\""),
            CatalogError::BadGroup {
                label: "a".into(),
                count: 2,
            },
        ),
        (
            v2("a.zones PTR one.example.\ngroup.a.zones TXT \"x\" \"y\""),
            CatalogError::BadGroup {
                label: "a".into(),
                count: 1,
            },
        ),
        (
            v2("a.zones TYPE12 \\# 3 c00c00"),
            CatalogError::BadPtr { label: "a".into() },
        ),
    ];
    for (zone, want) in cases {
        let got = parse(zone);
        assert_eq!(got.as_ref().err(), Some(want), "{got:?}");
        // Every error reads as a sentence naming what is wrong.
        assert!(!want.to_string().is_empty());
    }
}

fn sample_state() -> State {
    let e = |label: &str, zone: &str, group: Option<&str>, coo: Option<&str>, owned, listed| Entry {
        member: Member {
            label: label.as_bytes().into(),
            zone: wire(zone),
            group: group.map(String::from),
            coo: coo.map(wire),
        },
        owned,
        listed,
    };
    State {
        catalog: wire("cat.example"),
        serial: Some(42),
        entries: vec![
            e("a", "one.example", None, None, true, true),
            e("b", "two.example", Some("customers"), Some("new.cat"), true, false),
            e("c", "three.example", None, None, false, true),
        ],
    }
}

#[test]
fn state_round_trips_through_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = sample_state();
    assert_eq!(state::read(dir.path(), &s.catalog), Ok(None), "no file: a new catalog");
    let path = state::write(dir.path(), &s).expect("state written");
    assert!(path.ends_with("cat.example.zone.bin.catalog"), "{}", path.display());
    // A temporary file of this writer is one the start-up cleaner removes.
    assert!(crate::zone::persist::is_temp("cat.example.zone.bin.catalog.12-3.tmp"));
    assert_eq!(state::read(dir.path(), &s.catalog), Ok(Some(s.clone())));
    // Only the state file is left: no temporary.
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(files.len(), 1);
    // Another catalog's file under this name is refused.
    let other = wire("other.example");
    std::fs::copy(&path, state::path(dir.path(), &other)).expect("copy");
    let err = state::read(dir.path(), &other).expect_err("wrong catalog");
    assert!(err.contains("holds the state of catalog cat.example."), "{err}");
}

#[test]
fn any_damage_to_the_state_file_is_an_error_not_a_panic() {
    let s = sample_state();
    let good = state::encode(&s);
    let path = std::path::Path::new("x.catalog");
    assert_eq!(state::decode(&good, path).as_ref(), Ok(&s));
    for cut in 0..good.len() {
        let err = state::decode(&good[..cut], path).expect_err("torn file");
        assert!(err.starts_with("x.catalog: "), "{err}");
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            assert!(
                state::decode(&bad, path).is_err(),
                "flip of bit {bit} in octet {i} accepted"
            );
        }
    }
    // Well-formed checksums over nonsense: still errors, never panics.
    for body in [
        &b"PHCAT\x01\x00"[..],
        b"PHCAT\x02",
        b"PHCAT\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",
    ] {
        let mut data = body.to_vec();
        data.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
        assert!(state::decode(&data, path).is_err());
    }
}

#[test]
fn the_fuzz_harness_applies_and_refuses() {
    use super::replay::replay;
    let txt = |o: u8, s: &[u8]| [&[o, 0, s.len() as u8 + 1, s.len() as u8][..], s].concat();
    let ptr = |o: u8, x: u8| vec![o, 1 | 4, x];
    let good = [txt(1, b"2"), ptr(3, 0), ptr(4, 1), txt(6, b"customers")].concat();
    assert_eq!(replay(&good), Ok(2));
    let v1 = [txt(1, b"1"), ptr(3, 0)].concat();
    assert_eq!(replay(&v1), Ok(1));
    let dup = [txt(1, b"2"), ptr(3, 0), ptr(4, 0x80)].concat();
    let err = replay(&dup).expect_err("duplicate member");
    assert!(err.contains("listed twice"), "{err}");
    assert!(replay(&[]).is_err(), "no version");
    // A removal of 4 of 5 with a limit of 1: held, the harness's checks hold.
    let held = [vec![0x81, 0, 2, 1, b'2'], ptr(3, 0)].concat();
    assert_eq!(replay(&held), Ok(1));
}

/// The catalog Knot 3.2.6 generates (`catalog-role: generate`, two
/// members, one with `catalog-group: customers`), as `kdig AXFR` printed it.
const KNOT_GENERATED: &str = "\
cat.example.        	0	IN	SOA	invalid. invalid. 1796618448 3600 600 2147483646 0
cat.example.        	0	IN	NS	invalid.
version.cat.example.	0	IN	TXT	\"2\"
0cd29f7bc744c66c.zones.cat.example. 0	IN	PTR	one.example.
25e86915bbeabfbe.zones.cat.example. 0	IN	PTR	two.example.
group.25e86915bbeabfbe.zones.cat.example. 0	IN	TXT	\"customers\"
";

#[test]
fn reads_the_catalog_knot_generates() {
    let zone = load_zone_text("cat.example", KNOT_GENERATED)
        .expect("Knot's catalog loads")
        .zone;
    let m = parse(&zone).expect("Knot's catalog is valid");
    assert_eq!((m.version, m.serial, m.len()), (Some(Version::V2), 1796618448, 2));
    assert_eq!(&*member(&m, "one.example").label, b"0cd29f7bc744c66c");
    assert_eq!(member(&m, "one.example").group, None);
    assert_eq!(member(&m, "two.example").group.as_deref(), Some("customers"));
}
