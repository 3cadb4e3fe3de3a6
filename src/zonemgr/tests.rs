//! The zone manager without the network: adds, removes, conflicts, the API
//! zone list on disk, and entries that no longer validate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::dns::ServerOptions;
use crate::zone::Store;

fn config(dir: &Path) -> Config {
    let text = format!(
        "[node]\nid = \"t\"\ndata-dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
         [[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0c2VjcmV0c2VjcmV0\"\n\
         [[zone]]\nname = \"conf.example\"\nprimaries = [\"127.0.0.1:1\"]\n",
        dir.display()
    );
    Config::from_str(&text, dir, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn server() -> Arc<Server> {
    Arc::new(Server::new(
        Store::default(),
        ServerOptions {
            node_id: "t".into(),
            nsid: false,
            version: None,
            udp_payload: 1232,
        },
    ))
}

fn api(name: &str, key: Option<&str>) -> ApiZone {
    ApiZone {
        name: name.into(),
        primaries: vec!["127.0.0.1:1".into()],
        tsig_key: key.map(Into::into),
        template: None,
        ..Default::default()
    }
}

fn apex(name: &str) -> Vec<u8> {
    name::from_text(name).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_and_conflicts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config(dir.path());
    let server = server();
    let zones = ZoneManager::start(
        &config,
        ApiZones::default(),
        Default::default(),
        server.clone(),
        HashMap::new(),
    );
    let list_file = api_zones::path(&config);

    let v = zones.add_api(&api("API.Example.", Some("K"))).await;
    let v = v.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((v.name.as_str(), v.origin), ("api.example", Origin::Api));
    // Its primary (port 1) refuses at once: "failed" as soon as the first
    // SOA query came back, "loading" until then.
    assert!(matches!(v.state, "loading" | "failed"), "{}", v.state);
    assert_eq!(v.tsig_key.as_deref(), Some("k"));
    assert!(server.store().load().get(&apex("api.example")).is_some());
    assert!(zones.engine().is_secondary(&apex("api.example")));
    let listed = api_zones::read(&list_file).unwrap_or_default();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "api.example");

    assert!(matches!(
        zones.add_api(&api("api.example", None)).await,
        Err(ZoneError::Exists(_))
    ));
    assert!(
        matches!(zones.add_api(&api("conf.example", None)).await, Err(ZoneError::Exists(m)) if m.contains("config"))
    );
    assert!(
        matches!(zones.add_api(&api("x.example", Some("nokey"))).await, Err(ZoneError::Invalid(m)) if m.contains("tsig-key"))
    );
    assert!(matches!(
        zones.remove("conf.example", Origin::Api, Stop::Forget).await,
        Err(ZoneError::Conflict(m)) if m.contains("config file")
    ));
    assert!(zones.refresh("api.example").is_ok());
    assert!(matches!(zones.refresh("nothing.example"), Err(ZoneError::NotFound(_))));

    zones
        .remove("api.example.", Origin::Api, Stop::Forget)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(server.store().load().get(&apex("api.example")).is_none());
    assert!(!zones.engine().is_secondary(&apex("api.example")));
    assert!(zones.get("api.example").is_none());
    assert_eq!(api_zones::read(&list_file), Ok(Vec::new()));
    assert!(matches!(
        zones.remove("api.example", Origin::Api, Stop::Forget).await,
        Err(ZoneError::NotFound(_))
    ));
    // The config zone is untouched.
    assert_eq!(
        zones.list().iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
        vec!["conf.example"]
    );
    assert!(zones.engine().is_secondary(&apex("conf.example")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_no_longer_validate_are_kept_until_deleted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config(dir.path());
    let list_file = api_zones::path(&config);
    let entries = vec![api("good.example", None), api("Broken.Example", Some("gone-key"))];
    api_zones::write(&list_file, &entries).unwrap_or_else(|e| panic!("{e}"));
    let loaded = ApiZones::load(&config);
    assert_eq!(loaded.valid.len(), 1);
    assert_eq!(loaded.broken.len(), 1);
    let zones = ZoneManager::start(&config, loaded, Default::default(), server(), HashMap::new());
    let broken = zones
        .get("broken.example")
        .unwrap_or_else(|| panic!("broken entry not listed"));
    assert_eq!(broken.state, "error");
    assert!(broken.last_error.is_some_and(|e| e.contains("gone-key")));
    // Another change keeps the broken entry in the file.
    zones
        .add_api(&api("third.example", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = api_zones::read(&list_file)
        .unwrap_or_default()
        .into_iter()
        .map(|z| z.name)
        .collect();
    assert_eq!(names, vec!["Broken.Example", "good.example", "third.example"]);
    zones
        .remove("broken.example", Origin::Api, Stop::Forget)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(zones.get("broken.example").is_none());
    let names: Vec<String> = api_zones::read(&list_file)
        .unwrap_or_default()
        .into_iter()
        .map(|z| z.name)
        .collect();
    assert_eq!(names, vec!["good.example", "third.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_list_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config(dir.path());
    let list_file = api_zones::path(&config);
    std::fs::write(&list_file, "{\"version\": 1, \"zones\": [").unwrap_or_else(|e| panic!("{e}"));
    let loaded = ApiZones::load(&config);
    assert!(loaded.valid.is_empty() && loaded.broken.is_empty());
    assert!(!list_file.exists());
    let aside = std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("api-zones.json.bad-"));
    assert!(aside, "the unreadable list was not kept aside");
}

/// `config(dir)` plus `extra` (templates).
fn config_with(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "[node]\nid = \"t\"\ndata-dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n{extra}",
        dir.display()
    );
    Config::from_str(&text, dir, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfigure_derives_api_zones_from_new_templates() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hub = |primary: &str, notify: &str| {
        format!("[[template]]\nname = \"hub\"\nprimaries = [\"{primary}\"]\nnotify = [\"{notify}\"]\n")
    };
    let config = config_with(dir.path(), &hub("127.0.0.1:1", "127.0.0.1:7"));
    let list_file = api_zones::path(&config);
    let templated = |name: &str, template: &str| ApiZone {
        name: name.into(),
        primaries: Vec::new(),
        tsig_key: None,
        template: Some(template.into()),
        ..Default::default()
    };
    let entries = vec![templated("a.example", "hub"), templated("b.example", "later")];
    api_zones::write(&list_file, &entries).unwrap_or_else(|e| panic!("{e}"));
    let loaded = ApiZones::load(&config);
    assert_eq!((loaded.valid.len(), loaded.broken.len()), (1, 1));
    let zones = ZoneManager::start(&config, loaded, Default::default(), server(), HashMap::new());
    let primaries = |name: &str| zones.get(name).map(|v| v.primaries).unwrap_or_default();
    assert_eq!(primaries("a.example"), ["127.0.0.1:1"]);
    assert_eq!(zones.get("b.example").map(|v| v.state), Some("error"));

    // Only the NOTIFY target changes: in place.
    let config = config_with(dir.path(), &hub("127.0.0.1:1", "127.0.0.1:8"));
    zones.reconfigure(&config).await;
    let out = |name: &str| zones.lock().zones.get(name).map(|m| m.config.out.clone());
    assert_eq!(out("a.example").map(|o| o.notify[0].port()), Some(8));
    // The template's primaries change, and template "later" appears.
    let later = "[[template]]\nname = \"later\"\nprimaries = [\"127.0.0.1:3\"]\n";
    let config = config_with(dir.path(), &format!("{}{later}", hub("127.0.0.1:2", "127.0.0.1:8")));
    zones.reconfigure(&config).await;
    assert_eq!(primaries("a.example"), ["127.0.0.1:2"]);
    assert_eq!(primaries("b.example"), ["127.0.0.1:3"]);
    assert!(zones.engine().is_secondary(&apex("b.example")));
    // The list file keeps the entries as they were asked.
    assert_eq!(api_zones::read(&list_file), Ok(entries));
}
