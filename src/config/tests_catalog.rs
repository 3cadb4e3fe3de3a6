//! Tests of the catalog keys (`catalog`, `catalog-group`, `member-template`,
//! `catalog-max-removals`).

use super::tests::{assert_error, errors, ok, with};
use super::*;

/// The zone `name` of `c`; the test fails when there is none.
fn zone<'a>(c: &'a Config, name: &str) -> &'a ZoneConfig {
    c.zone(name).unwrap_or_else(|| panic!("no zone {name} in the config"))
}

const PRODUCER: &str = "[[zone]]\nname = \"cat.example\"\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.1\"]\n";

#[test]
fn producer_members_and_consumer() {
    let c = ok(&with(&format!(
        "{PRODUCER}[[template]]\nname = \"members\"\ncatalog = \"Cat.Example.\"\n\
         [[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\ncatalog = \"cat.example\"\ncatalog-group = \"gold\"\n\
         [[zone]]\nname = \"b.example\"\nprimaries = [\"192.0.2.1\"]\ntemplate = \"members\"\n\
         [[zone]]\nname = \"cons.example\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\n\
         member-template = \"members\"\ncatalog-max-removals = 3\n"
    )));
    let p = zone(&c, "cat.example");
    assert_eq!(p.catalog, Some(CatalogRole::Producer));
    assert!(matches!(&p.source, ZoneSource::File(f) if *f == producer_file(&c.node.data_dir, "cat.example")));
    let a = zone(&c, "a.example");
    assert_eq!(a.catalog, Some(CatalogRole::Member("cat.example".into())));
    assert_eq!(a.catalog_group.as_deref(), Some("gold"));
    let b = zone(&c, "b.example");
    assert_eq!(
        b.catalog,
        Some(CatalogRole::Member("cat.example".into())),
        "from the template"
    );
    match &zone(&c, "cons.example").catalog {
        Some(CatalogRole::Consumer(k)) => {
            assert_eq!(k.member_template.as_deref(), Some("members"));
            assert_eq!(k.max_removals, MaxRemovals::Count(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn catalog_mistakes_are_reported() {
    let e = errors(&with(&format!(
        "{PRODUCER}[[zone]]\nname = \"p2.example\"\ncatalog = \"producer\"\nfile = \"x.zone\"\n\
         [[zone]]\nname = \"m.example\"\nfile = \"m.zone\"\ncatalog = \"nope.example\"\n\
         [[zone]]\nname = \"c.example\"\nfile = \"c.zone\"\ncatalog = \"consumer\"\nmember-template = \"missing\"\n\
         catalog-max-removals = \"120%\"\n\
         [[zone]]\nname = \"g.example\"\nfile = \"g.zone\"\ncatalog-group = \"x\"\n\
         [[zone]]\nname = \"t.example\"\nfile = \"t.zone\"\nmember-template = \"x\"\n\
         [[zone]]\nname = \"s.example\"\nfile = \"s.zone\"\ncatalog = \"s.example\"\n\
         [[zone]]\nname = \"bad.example\"\nfile = \"b.zone\"\ncatalog = \"not a name..\"\n"
    )));
    assert_error(&e, "zone[1].file", "neither `file` nor `primaries`");
    assert_error(&e, "zone[2].catalog", "\"nope.example\" is not a producer catalog");
    assert_error(&e, "zone[2].catalog", "producers: \"cat.example\", \"p2.example\"");
    assert_error(&e, "zone[3].catalog", "needs `primaries`");
    assert_error(&e, "zone[3].member-template", "no [[template]] named \"missing\"");
    assert_error(&e, "zone[3].catalog-max-removals", "not a percentage");
    assert_error(&e, "zone[4].catalog-group", "only a member zone");
    assert_error(&e, "zone[5].member-template", "only a consumer catalog");
    assert_error(&e, "zone[6].catalog", "member of itself");
    assert_error(&e, "zone[7].catalog", "expected \"producer\", \"consumer\"");
}

#[test]
fn api_zones_can_only_be_members_of_a_producer() {
    let c = ok(&with(PRODUCER));
    let spec = |catalog: &str| ZoneSpec {
        name: "api.example".into(),
        primaries: Some(vec!["192.0.2.1".into()]),
        catalog: Some(catalog.into()),
        catalog_group: Some("gold".into()),
        ..ZoneSpec::default()
    };
    let z = c.derive_zone(&spec("cat.example")).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z.catalog, Some(CatalogRole::Member("cat.example".into())));
    assert_eq!(z.catalog_group.as_deref(), Some("gold"));
    let e = c.derive_zone(&spec("other.example")).unwrap_err();
    assert_error(&e, "catalog", "not a producer catalog");
    let e = c.derive_zone(&spec("producer")).unwrap_err();
    assert!(e.iter().any(|e| e.key == "catalog"), "{e:?}");
}

#[test]
fn members_may_name_a_standby_catalog_of_a_second_hub() {
    // Hub B: the catalog is a plain secondary of hub A; its members are
    // listed as on A, ready for B's promotion to producer.
    let c = ok(&with(
        "[[zone]]\nname = \"cat.example\"\nprimaries = [\"192.0.2.1\"]\n\
         [[zone]]\nname = \"a.example\"\nprimaries = [\"198.51.100.7\"]\ncatalog = \"cat.example\"\n",
    ));
    let a = zone(&c, "a.example");
    assert_eq!(a.catalog, Some(CatalogRole::Member("cat.example".into())));
    // A file zone or a consumer catalog is no standby producer.
    let e = errors(&with(
        "[[zone]]\nname = \"cat.example\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\n\
         [[zone]]\nname = \"a.example\"\nprimaries = [\"198.51.100.7\"]\ncatalog = \"cat.example\"\n",
    ));
    assert_error(&e, "zone[1].catalog", "is not a producer catalog");
}
