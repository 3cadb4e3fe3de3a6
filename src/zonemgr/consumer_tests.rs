//! The consumer catalogs at a SIGHUP, without the network: a catalog zone
//! removed from the config takes the members it made (and its state file)
//! with it, a configured zone it listed stays; one added back is a
//! consumer again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::catalog::{Entry, Member};
use crate::dns::ServerOptions;
use crate::zonemgr::api_zones::ApiZones;

fn config(dir: &Path, with_catalog: bool) -> Config {
    let mut text = format!(
        "[node]\nid = \"t\"\ndata-dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
         [[zone]]\nname = \"conf.example\"\nprimaries = [\"127.0.0.1:1\"]\n",
        dir.display()
    );
    if with_catalog {
        text.push_str("[[zone]]\nname = \"cat.example\"\nprimaries = [\"127.0.0.1:1\"]\ncatalog = \"consumer\"\n");
    }
    Config::from_str(&text, dir, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn wire(n: &str) -> Box<[u8]> {
    name::from_text(n).unwrap_or_default().into()
}

fn entry(zone: &str, owned: bool) -> Entry {
    Entry {
        member: Member {
            label: wire(&format!("{}.zones.cat.example", zone.replace('.', "-"))),
            zone: wire(zone),
            group: None,
            coo: None,
        },
        owned,
        listed: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_removed_from_the_config_takes_its_members() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let with = config(dir.path(), true);
    let zones_dir = dir.path().join("zones");
    std::fs::create_dir_all(&zones_dir).unwrap_or_else(|e| panic!("{e}"));
    // The catalog made m1 and m2; it lists conf.example too, which the
    // config owns.
    let st = state::State {
        catalog: wire("cat.example"),
        serial: Some(7),
        entries: vec![
            entry("m1.example", true),
            entry("m2.example", true),
            entry("conf.example", false),
        ],
    };
    let file = state::write(&zones_dir, &st).unwrap_or_else(|e| panic!("{e}"));
    let server = Arc::new(crate::dns::Server::new(
        crate::zone::Store::default(),
        ServerOptions {
            node_id: "t".into(),
            nsid: false,
            version: None,
            udp_payload: 1232,
        },
    ));
    let restored = Restored::load(&with, &[]);
    assert_eq!(restored.zones.len(), 2);
    let zones = ZoneManager::start(&with, ApiZones::default(), restored, server, HashMap::new());
    let names = |z: &ZoneManager| z.list().into_iter().map(|v| v.name).collect::<Vec<_>>();
    assert_eq!(
        names(&zones),
        ["cat.example", "conf.example", "m1.example", "m2.example"]
    );

    // Unchanged: every member stays.
    zones.reconfigure_catalogs(&with).await;
    assert_eq!(
        names(&zones),
        ["cat.example", "conf.example", "m1.example", "m2.example"]
    );

    // The catalog zone removed (reload removes the zone itself first).
    let without = config(dir.path(), false);
    let removed = zones.remove("cat.example", Origin::Config, Stop::Forget).await;
    assert!(removed.is_ok(), "{removed:?}");
    zones.reconfigure(&without).await;
    zones.reconfigure_catalogs(&without).await;
    assert_eq!(names(&zones), ["conf.example"]);
    assert!(!file.exists(), "the state file of the removed catalog is left");
    assert!(zones.catalog_views().is_empty());
    assert_eq!(zones.catalog_stats().removed.load(Ordering::Relaxed), 2);

    // Added back: a consumer again (applied once it serves a version).
    let added = zones
        .add(
            Arc::new(with.zone("cat.example").cloned().unwrap_or_else(|| panic!("cat"))),
            Origin::Config,
        )
        .await;
    assert!(added.is_ok(), "{added:?}");
    zones.reconfigure(&with).await;
    zones.reconfigure_catalogs(&with).await;
    let views = zones.catalog_views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].0, "cat.example");
    assert_eq!(views[0].1.members, 0);
}
