//! Leftovers of a crash are removed at start (issue 10, item 8): the
//! temporary files an atomic writer leaves when the node is killed with
//! `kill -9` between writing and renaming (`api-zones.json.<pid>.tmp` in
//! the data dir; snapshot and timers temporaries in `<data-dir>/zones`)
//! are gone after a restart, while the real files beside them, and `.tmp`
//! files that are not pharos's, stay.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{MgmtNode, PharosOpts, Zone};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn temporary_files_left_by_kill_9_are_removed_at_start() {
    let mut node = MgmtNode::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        ipv6: false,
        ..Default::default()
    });
    // A zone added through the API: api-zones.json is written (atomically).
    let closed = common::free_port(false);
    let body = format!(r#"{{"name": "api.test", "primaries": ["127.0.0.1:{closed}"]}}"#);
    assert_eq!(node.call("POST", "/zones", Some(&body)).status, 201);
    node.pharos.kill9();

    let data = node.pharos.data_dir();
    let zones = data.join("zones");
    let api_list = std::fs::read_to_string(data.join("api-zones.json")).unwrap();
    // What writers killed mid-write leave (pids of earlier runs).
    let leftovers = [
        data.join("api-zones.json.4242.tmp"),
        data.join("api-zones.json.77.tmp"),
        zones.join("api.test.zone.bin.4242-0.tmp"),
        zones.join("api.test.zone.bin.timers.tmp"),
    ];
    for f in &leftovers {
        std::fs::write(f, "{\"version\": 1, \"zones\": [").unwrap();
    }
    // Not pharos's: kept.
    let foreign = [data.join("token.tmp"), zones.join("notes.tmp")];
    for f in &foreign {
        std::fs::write(f, "operator's").unwrap();
    }
    let before = (names_in(&data), names_in(&zones));

    node.pharos.restart(Some("example.com"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while leftovers.iter().any(|f| f.exists()) {
        assert!(
            Instant::now() < deadline,
            "leftovers still there after the restart: {:?} {:?} (before: {before:?})\n{}",
            names_in(&data),
            names_in(&zones),
            node.pharos.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for f in &foreign {
        assert!(f.exists(), "{} was removed", f.display());
    }
    assert_eq!(
        std::fs::read_to_string(data.join("api-zones.json")).unwrap(),
        api_list,
        "the real list changed"
    );
    assert!(data.join("token").exists());
    let z = node.get("/zones/api.test");
    assert_eq!(z.status, 200, "the API zone is gone after the restart: {}", z.body);
    assert!(
        node.pharos
            .log()
            .contains("removed temporary files left by an interrupted write"),
        "{}",
        node.pharos.log_tail(20)
    );
}
