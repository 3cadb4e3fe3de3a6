//! Tests of the transfers-out keys (`allow-transfer`, `notify`, ...), the
//! `[transfer]` limits and `[[template]]`.

use std::net::{IpAddr, SocketAddr};

use super::tests::{MINIMAL, assert_error, errors, ok, with};
use super::*;

const KEY: &str = "[[tsig-key]]\nname = \"fleet\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";

#[test]
fn transfer_out_defaults() {
    let c = ok(&with("[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n"));
    assert_eq!(c.zones[0].out, TransferOut::default());
    assert_eq!(c.zones[0].out.history_depth, DEFAULT_HISTORY_DEPTH);
    assert_eq!(c.zones[0].out.history_bytes, DEFAULT_HISTORY_BYTES);
    assert_eq!(c.transfer, TransferConfig::default());
    assert!(ok(MINIMAL).zones.is_empty());
}

#[test]
fn transfer_out_keys_are_parsed() {
    let c = ok(&with(&format!(
        "{KEY}[transfer]\nmax-out = 8\nmax-out-per-client = 2\nnotify-rate = 50\n\
         [[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n\
         allow-transfer = [\"10.8.0.0/24\", \"192.0.2.1\"]\ntransfer-tsig-key = \"Fleet.\"\n\
         notify = [\"10.8.0.11\", \"10.8.0.12:5353\"]\nnotify-source = \"10.8.0.1\"\n\
         ixfr-history-depth = 0\nixfr-history-bytes = \"1MiB\"\n\
         [[zone]]\nname = \"b.example\"\nprimaries = [\"10.9.0.1\"]\nallow-transfer = [\"::1\"]\n\
         ixfr-history-bytes = 4096\n"
    )));
    let o = &c.zones[0].out;
    let allow: Vec<String> = o.allow_transfer.iter().map(|p| p.to_string()).collect();
    assert_eq!(allow, ["10.8.0.0/24", "192.0.2.1/32"]);
    assert_eq!(o.tsig_key.as_deref(), Some("fleet"));
    let notify: Vec<SocketAddr> = vec![
        SocketAddr::from(([10, 8, 0, 11], 53)),
        SocketAddr::from(([10, 8, 0, 12], 5353)),
    ];
    assert_eq!(o.notify, notify);
    assert_eq!(o.notify_source, Some(IpAddr::from([10, 8, 0, 1])));
    assert_eq!((o.history_depth, o.history_bytes), (0, 1 << 20));
    let o = &c.zones[1].out;
    assert_eq!(o.allow_transfer.len(), 1);
    assert!(o.allow_transfer[0].contains(&IpAddr::from(std::net::Ipv6Addr::LOCALHOST)));
    assert_eq!(o.history_bytes, 4096);
    assert_eq!(
        c.transfer,
        TransferConfig {
            max_out: 8,
            max_out_per_client: 2,
            notify_rate: 50
        }
    );
}

#[test]
fn transfer_out_errors() {
    let errs = errors(&with(
        "[transfer]\nmax-out = 0\nnotify-rate = 0\nmax-ouut = 3\n\
         [[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n\
         allow-transfer = [\"10.8.0.0/33\"]\ntransfer-tsig-key = \"nokey\"\n\
         notify = [\"10.8.0.11:0\", \"bad\"]\nnotify-source = \"10.8.0.1/24\"\n\
         ixfr-history-depth = -1\nixfr-history-bytes = \"12\"\n",
    ));
    assert_error(&errs, "transfer.max-out", "out of range");
    assert_error(&errs, "transfer.notify-rate", "out of range");
    assert_error(&errs, "transfer.max-ouut", "did you mean `max-out`");
    assert_error(&errs, "zone[0].allow-transfer[0]", "");
    assert_error(&errs, "zone[0].transfer-tsig-key", "no [[tsig-key]] named \"nokey\"");
    assert_error(&errs, "zone[0].notify[0]", "port 0");
    assert_error(&errs, "zone[0].notify[1]", "");
    assert_error(&errs, "zone[0].notify-source", "not an IP address");
    assert_error(&errs, "zone[0].ixfr-history-depth", "out of range");
    assert_error(&errs, "zone[0].ixfr-history-bytes", "too small");

    let errs = errors(&with("[transfer]\nmax-out = 2\nmax-out-per-client = 3\n"));
    assert_error(
        &errs,
        "transfer.max-out-per-client",
        "greater than transfer.max-out (2)",
    );
}

#[test]
fn notify_source_family_must_reach_targets_and_primaries() {
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nprimaries = [\"10.9.0.1\", \"[2001:db8::1]:53\"]\n\
         notify = [\"10.8.0.11\", \"[2001:db8::11]:53\"]\nnotify-source = \"10.8.0.1\"\n",
    ));
    assert_error(
        &errs,
        "zone[0].notify[1]",
        "IPv6 address [2001:db8::11]:53 cannot be reached",
    );
    assert_error(
        &errs,
        "zone[0].primaries[1]",
        "cannot be reached from notify-source 10.8.0.1",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\nnotify = [\"10.8.0.11\"]\nnotify-source = \"::1\"\n",
    ));
    assert_error(
        &errs,
        "zone[0].notify[0]",
        "IPv4 address 10.8.0.11:53 cannot be reached",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\nnotify-source = \"0.0.0.0\"\n",
    ));
    assert_error(&errs, "zone[0].notify-source", "cannot be a source address");
}

/// A valid value for each zone key, to write it in a template.
fn sample(key: &str) -> Option<&'static str> {
    Some(match key {
        "file" => "\"z.zone\"",
        "primaries" => "[\"192.0.2.1\", \"192.0.2.2:5300\"]",
        "tsig-key" | "transfer-tsig-key" => "\"fleet\"",
        "allow-notify" => "[\"192.0.2.7\"]",
        "refresh-min" | "retry-min" => "\"3s\"",
        "refresh-max" | "retry-max" => "\"2h\"",
        "expire-min" => "\"1h\"",
        "expire-max" => "\"20d\"",
        "max-zone-records" => "1234",
        "max-zone-bytes" => "\"3MiB\"",
        "transfer-timeout" => "\"77s\"",
        "allow-transfer" => "[\"10.8.0.0/24\"]",
        "notify" => "[\"10.8.0.11\", \"10.8.0.12:5353\"]",
        "notify-source" => "\"10.8.0.1\"",
        "ixfr-history-depth" => "7",
        "ixfr-history-bytes" => "\"5MiB\"",
        "catalog" => "\"consumer\"",
        "catalog-group" => "\"g\"",
        "member-template" => "\"m\"",
        "catalog-max-removals" => "\"5%\"",
        _ => return None,
    })
}

/// Every key a `[[zone]]` takes can come from a template, with the same
/// effect as set in the zone. Adding a zone key without a sample here (or
/// without template support) fails this test.
#[test]
fn every_zone_key_can_come_from_a_template() {
    let fields = super::raw::struct_fields::<super::raw::RawZone>();
    assert!(fields.len() > 15, "{fields:?}");
    for key in fields.iter().filter(|k| !matches!(**k, "name" | "template")) {
        let value = sample(key).unwrap_or_else(|| panic!("no sample value for zone key `{key}`: add one to sample()"));
        // A source unless the key is one.
        // The catalog keys need their context (last: it may open tables).
        let base = match *key {
            "file" | "primaries" => "",
            "catalog-group" => {
                "primaries = [\"192.0.2.1\"]\ncatalog = \"cat.example\"\n\
                 [[zone]]\nname = \"cat.example\"\ncatalog = \"producer\"\n"
            }
            "member-template" => "primaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\n[[template]]\nname = \"m\"\n",
            "catalog-max-removals" => "primaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\n",
            _ => "primaries = [\"192.0.2.1\"]\n",
        };
        let direct = ok(&with(&format!(
            "{KEY}[[zone]]\nname = \"z.example\"\n{key} = {value}\n{base}"
        )));
        let templated = ok(&with(&format!(
            "{KEY}[[template]]\nname = \"t\"\n{key} = {value}\n\
             [[zone]]\nname = \"z.example\"\ntemplate = \"t\"\n{base}"
        )));
        let (d, t) = (&direct.zones[0], &templated.zones[0]);
        assert_eq!(t.template.as_deref(), Some("t"));
        assert_eq!(
            format!("{:?} {:?} {:?} {:?}", d.source, d.out, d.catalog, d.catalog_group),
            format!("{:?} {:?} {:?} {:?}", t.source, t.out, t.catalog, t.catalog_group),
            "`{key}` from a template differs from `{key}` in the zone"
        );
        // And the value matters (it is not the default).
        if !base.is_empty() {
            let plain = ok(&with(&format!("{KEY}[[zone]]\nname = \"z.example\"\n{base}")));
            let p = &plain.zones[0];
            assert_ne!(
                format!("{:?} {:?} {:?} {:?}", p.source, p.out, p.catalog, p.catalog_group),
                format!("{:?} {:?} {:?} {:?}", t.source, t.out, t.catalog, t.catalog_group),
                "the sample of `{key}` is its default: pick another"
            );
        }
    }
}

#[test]
fn zone_keys_win_over_the_template() {
    let c = ok(&with(&format!(
        "{KEY}[[template]]\nname = \"customers\"\nprimaries = [\"198.51.100.7\"]\n\
         allow-transfer = [\"10.8.0.0/24\"]\nnotify = [\"10.8.0.11\", \"10.8.0.12:53\"]\ntransfer-tsig-key = \"fleet\"\n\
         [[template]]\nname = \"hidden\"\nnotify = [\"10.8.0.11\"]\n\
         [[zone]]\nname = \"a.example\"\ntemplate = \"customers\"\n\
         [[zone]]\nname = \"b.example\"\ntemplate = \"customers\"\nnotify = [\"10.8.0.99\"]\nprimaries = [\"192.0.2.1\"]\n\
         [[zone]]\nname = \"c.example\"\ntemplate = \"hidden\"\nfile = \"c.zone\"\n\
         [[zone]]\nname = \"d.example\"\nfile = \"d.zone\"\n"
    )));
    let z = &c.zones;
    assert_eq!(c.templates.len(), 2);
    assert_eq!(c.template("hidden").map(|t| t.name.as_str()), Some("hidden"));
    let primaries = |i: usize| match &z[i].source {
        ZoneSource::Secondary { primaries, .. } => primaries.clone(),
        other => panic!("zone {i} is not secondary: {other:?}"),
    };
    assert_eq!(z[0].template.as_deref(), Some("customers"));
    assert_eq!(primaries(0), vec![SocketAddr::from(([198, 51, 100, 7], 53))]);
    assert_eq!(z[0].out.notify.len(), 2);
    assert_eq!(z[0].out.tsig_key.as_deref(), Some("fleet"));
    assert_eq!(primaries(1), vec![SocketAddr::from(([192, 0, 2, 1], 53))]);
    assert_eq!(z[1].out.notify, vec![SocketAddr::from(([10, 8, 0, 99], 53))]);
    assert_eq!(z[1].out.allow_transfer, z[0].out.allow_transfer);
    assert!(matches!(z[2].source, ZoneSource::File(_)));
    assert_eq!(z[2].out.notify.len(), 1);
    assert_eq!(z[3].template, None);
    assert_eq!(z[3].out, TransferOut::default());
}

#[test]
fn template_errors() {
    let errs = errors(&with(&format!(
        "{KEY}[[template]]\nname = \"customers\"\nprimaries = [\"198.51.100.7\", \"bad\"]\n\
         transfer-tsig-key = \"nokey\"\nnotify = [\"[2001:db8::11]:53\"]\ntsig-key = \"fleet\"\n\
         [[template]]\nname = \"customers\"\n\
         [[template]]\nname = \"nested\"\ntemplate = \"customers\"\n\
         [[template]]\nfile = \"x\"\n\
         [[zone]]\nname = \"a.example\"\ntemplate = \"custmers\"\n\
         [[zone]]\nname = \"b.example\"\ntemplate = \"customers\"\nfile = \"b.zone\"\n\
         [[zone]]\nname = \"c.example\"\ntemplate = \"customers\"\nnotify-source = \"10.8.0.1\"\n\
         [[zone]]\nname = \"d.example\"\ntemplate = \"zzzzzzzz\"\n"
    )));
    // The template's own bad values: once, at its key path, however many
    // zones take them.
    assert_error(&errs, "template[0].primaries[1]", "");
    assert_error(
        &errs,
        "template[0].transfer-tsig-key",
        "no [[tsig-key]] named \"nokey\"",
    );
    let at = |key: &str| errs.iter().filter(|e| e.key == key).count();
    assert_eq!(at("template[0].primaries[1]"), 1, "{errs:#?}");
    assert_eq!(at("template[0].transfer-tsig-key"), 1, "{errs:#?}");
    assert_error(
        &errs,
        "template[1].name",
        "duplicate template name \"customers\" (also template[0])",
    );
    assert_error(&errs, "template[2].template", "cannot name another template");
    assert_error(&errs, "template[3].name", "required");
    assert_error(
        &errs,
        "zone[0].template",
        "no [[template]] named \"custmers\" (did you mean \"customers\"?)",
    );
    assert_error(
        &errs,
        "zone[3].template",
        "no [[template]] named \"zzzzzzzz\" (templates: \"customers\", \"nested\")",
    );
    // Both sources, one from the template: said so.
    assert_error(
        &errs,
        "zone[1]",
        "it has `file` and `primaries` from template \"customers\"",
    );
    // A notify target of the template out of the zone's notify-source's
    // family: at the template's key, naming the zone.
    assert_error(
        &errs,
        "template[0].notify[0]",
        "cannot be reached from notify-source 10.8.0.1 (IPv4) (in zone[2]",
    );
    // Nothing else about the zones naming unknown templates.
    assert!(
        !errs.iter().any(|e| e.key == "zone[0]" || e.key == "zone[3]"),
        "{errs:#?}"
    );
}

#[test]
fn api_zones_derive_from_templates() {
    let c = ok(&with(&format!(
        "{KEY}[[template]]\nname = \"customers\"\nprimaries = [\"198.51.100.7\"]\nnotify = [\"10.8.0.11\"]\n\
         max-zone-records = 77\n[[template]]\nname = \"files\"\nfile = \"x.zone\"\n"
    )));
    let spec = |template: Option<&str>, primaries: Option<Vec<&str>>| ZoneSpec {
        name: "API.example.".into(),
        template: template.map(String::from),
        primaries: primaries.map(|p| p.into_iter().map(String::from).collect()),
        tsig_key: None,
        ..ZoneSpec::default()
    };
    let z = c
        .derive_zone(&spec(Some("customers"), None))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z.name, "api.example");
    assert_eq!(z.template.as_deref(), Some("customers"));
    assert_eq!(z.out.notify.len(), 1);
    match &z.source {
        ZoneSource::Secondary { primaries, timers, .. } => {
            assert_eq!(primaries.len(), 1);
            assert_eq!(timers.max_zone_records, 77);
        }
        other => panic!("{other:?}"),
    }
    let z = c
        .derive_zone(&spec(Some("customers"), Some(vec!["192.0.2.1", "192.0.2.2"])))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(matches!(&z.source, ZoneSource::Secondary { primaries, .. } if primaries.len() == 2));
    let e = c.derive_zone(&spec(Some("custom"), None)).unwrap_err();
    assert_eq!(e[0].key, "template");
    assert!(e[0].message.contains("no [[template]] named \"custom\""), "{e:?}");
    let e = c.derive_zone(&spec(None, Some(vec!["nope"]))).unwrap_err();
    assert_eq!(e[0].key, "primaries[0]");
    let z = c
        .derive_zone(&spec(Some("files"), None))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        matches!(&z.source, ZoneSource::File(p) if p.ends_with("x.zone")),
        "{z:?}"
    );
}

#[test]
fn fleet_section() {
    let c = ok(&with(
        "[fleet]\nnodes = [\"127.0.0.1\", \"[::1]:5300\"]\npoll = \"5s\"\nrate = 50\n",
    ));
    assert_eq!(
        c.fleet.nodes,
        vec![
            std::net::SocketAddr::from(([127, 0, 0, 1], 53)),
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 5300))
        ]
    );
    assert_eq!(c.fleet.poll, std::time::Duration::from_secs(5));
    assert_eq!(c.fleet.rate, 50);
    assert_error(
        &errors(&with("[fleet]\npoll = \"0s\"\n")),
        "fleet.poll",
        "greater than 0",
    );
    let c = ok(MINIMAL);
    assert_eq!(c.fleet, crate::config::FleetConfig::default());
}
