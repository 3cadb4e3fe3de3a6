//! `pharos soa-check` against real servers: two pharos nodes serving the same
//! zone at different serials, and Knot DNS as the primary.

mod common;

use common::{Knot, Pharos, PharosOpts, Zone, free_port, pharos_cmd};

fn zone_file(dir: &std::path::Path, serial: u32) -> Zone {
    let text = format!(
        "$ORIGIN check.test.\n@ 300 SOA ns1 host {serial} 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n"
    );
    let path = dir.join(format!("check-{serial}.zone"));
    std::fs::write(&path, text).unwrap();
    Zone::new("check.test", &path)
}

fn node(zone: Zone) -> Pharos {
    Pharos::start(PharosOpts {
        zones: vec![zone],
        ready_zone: Some("check.test".into()),
        ipv6: false,
        ..Default::default()
    })
}

fn soa_check(args: &[String]) -> (i32, String) {
    let mut all = vec!["soa-check".to_string(), "check.test".into()];
    all.extend_from_slice(args);
    let out = pharos_cmd(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn lagging_node_exits_1_and_shows_the_lag() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(zone_file(dir.path(), 2024010105));
    let b = node(zone_file(dir.path(), 2024010103));
    let (code, text) = soa_check(&["--server".into(), a.addr_str(), "--server".into(), b.addr_str()]);
    assert_eq!(code, 1, "serials differ: exit 1\n{text}");
    assert!(text.contains("reference serial 2024010105"), "{text}");
    let behind = text.lines().find(|l| l.starts_with(&b.addr_str())).unwrap_or_default();
    assert!(
        behind.contains("2024010103") && behind.contains("BEHIND by 2"),
        "the lagging node's line: {behind:?}\n{text}"
    );
    let current = text.lines().find(|l| l.starts_with(&a.addr_str())).unwrap_or_default();
    assert!(current.trim_end().ends_with("ok"), "{current:?}\n{text}");

    // Both at the same serial: exit 0.
    let c = node(zone_file(dir.path(), 2024010105));
    let (code, text) = soa_check(&["--server".into(), a.addr_str(), "-s".into(), c.addr_str()]);
    assert_eq!(code, 0, "same serial: exit 0\n{text}");
}

#[test]
fn primary_is_the_reference_and_failures_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let newer = zone_file(dir.path(), 7);
    let knot = Knot::start(&[newer], free_port(false));
    let node6 = node(zone_file(dir.path(), 6));
    let (code, text) = soa_check(&["--primary".into(), knot.addr_str(), "--server".into(), node6.addr_str()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("reference serial 7 (primary"), "{text}");
    assert!(text.contains("BEHIND by 1"), "{text}");

    // A server that does not answer, and one that does not serve the zone.
    let silent = format!("127.0.0.1:{}", free_port(false));
    let other = Pharos::start(PharosOpts {
        ipv6: false,
        ..Default::default()
    });
    let (code, text) = soa_check(&[
        "--server".into(),
        node6.addr_str(),
        "--server".into(),
        silent.clone(),
        "--server".into(),
        other.addr_str(),
        "--timeout".into(),
        "0.3".into(),
    ]);
    assert_eq!(code, 1, "{text}");
    let line = |who: &str| {
        text.lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(&silent).contains("ERROR"), "{text}");
    assert!(line(&other.addr_str()).contains("ERROR"), "{text}");
    assert!(line(&node6.addr_str()).trim_end().ends_with("ok"), "{text}");
}
