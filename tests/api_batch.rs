//! Many zones in one management call (issue 12 item 9, on the hub):
//! `POST /zones` with a JSON array and `DELETE /zones` with a JSON array of
//! names (src/mgmt/api_batch.rs, src/zonemgr/batch.rs).
//!
//! * `batch_of_1000_added_kept_and_removed`: 1,000 zones (one served by a
//!   Knot primary, the others pointing at a port where nothing answers:
//!   they are added either way), all members of a producer catalog, in one
//!   call: all listed by `GET /zones`, all in `api-zones.json`, all in the
//!   catalog, whose history gets exactly one new version for the batch
//!   (kdig IXFR from the serial before: one difference). After a restart
//!   with the primary stopped, all are listed again and the Knot zone is
//!   served from disk. Then 500 removed in one `DELETE /zones`: REFUSED at
//!   once, gone from the file and the catalog, again one catalog version.
//! * `refused_batches_change_nothing`: a batch with invalid entries (bad
//!   name, unknown template, a name twice, not an object) is refused with
//!   422 naming each by index and name, and adds nothing, not even its
//!   valid entry; a batch with a zone already served is refused with 409;
//!   over 10,000 entries is 413 naming the limit; a removal naming an
//!   unknown zone (404) or a config zone (409) removes nothing; a single
//!   object still adds one zone and answers with one view.
//! * `concurrent_single_calls`: 64 single `POST /zones` from 16 threads at
//!   once (coalesced into rounds by the node): each answered 201 with its
//!   own zone, or 409 for the one name posted twice; all listed and in
//!   `api-zones.json`.
//! * `cli_many_names`: `pharos zone add A B C` adds three zones in one call,
//!   `pharos zone add --file F` one refused name adds none of the file's,
//!   `pharos zone remove --file F` removes them in one call.
//!
//! Needs knotd (`knot`) and kdig (`knot-dnsutils`). Loopback only.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Http, KnotPrimary, MgmtNode, PharosOpts, free_port, kdig, pharos_cmd, pharos_only, toml_str, wait_until};
use serde_json::{Value, json};

const CAT: &str = "cat.test";
const REAL: &str = "real.batch.test";
const N: usize = 1000;

fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 2 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

fn opts(extra: String, ready: &str) -> PharosOpts {
    PharosOpts {
        ipv6: false,
        ready_zone: Some(ready.to_string()),
        extra_toml: extra,
        ..Default::default()
    }
}

/// The names in `GET /zones`.
fn listed(node: &MgmtNode) -> Vec<String> {
    let r = node.get("/zones");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["zones"]
        .as_array()
        .map(|a| a.iter().filter_map(|z| z["name"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The names in `<data-dir>/api-zones.json` (empty when there is none).
fn in_file(data_dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(data_dir.join("api-zones.json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("api-zones.json: {e}\n{text}"));
    v["zones"]
        .as_array()
        .map(|a| a.iter().filter_map(|z| z["name"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn kdig_at(port: u16, args: &[&str]) -> String {
    let mut all = vec!["@127.0.0.1".to_string(), "-p".into(), port.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["+time=10".to_string(), "+retry=0".to_string()]);
    let out = kdig(&all);
    assert!(
        out.status.success(),
        "kdig {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The catalog's serial, by kdig.
fn catalog_serial(port: u16) -> u32 {
    let text = kdig_at(port, &[CAT, "SOA", "+short"]);
    text.split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial for {CAT}: {text:?}"))
}

/// How many versions the catalog moved since `from`: kdig IXFR=from lists
/// the new SOA, then per difference the old and the new SOA, then the new
/// SOA again.
fn versions_since(port: u16, from: u32) -> usize {
    let text = kdig_at(port, &[CAT, &format!("IXFR={from}"), "+noall", "+answer"]);
    let soas = text
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("SOA"))
        .count();
    assert!(soas >= 4 && soas % 2 == 0, "not an incremental answer:\n{text}");
    (soas - 2) / 2
}

/// The member PTRs of the catalog.
fn catalog_members(port: u16) -> usize {
    kdig_at(port, &[CAT, "AXFR", "+noall", "+answer"])
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("PTR"))
        .count()
}

fn refused_indexes(r: &Http) -> Vec<u64> {
    r.json()["refused"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["index"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn batch_of_1000_added_kept_and_removed() {
    if !pharos_only("batch_of_1000_added_kept_and_removed") {
        return;
    }
    let mut primary = KnotPrimary::start(REAL, &zone_text(REAL, 7));
    let dead = format!("127.0.0.1:{}", free_port(false));
    let extra = format!(
        "[[zone]]\nname = {}\ncatalog = \"producer\"\nallow-transfer = [\"127.0.0.0/8\"]\n",
        toml_str(CAT)
    );
    let mut node = MgmtNode::start(opts(extra, CAT));
    let port = node.pharos.port;
    let before = catalog_serial(port);
    let names: Vec<String> = (0..N)
        .map(|i| {
            if i == 0 {
                REAL.to_string()
            } else {
                format!("z{i:04}.batch.test")
            }
        })
        .collect();
    let batch: Vec<Value> = names
        .iter()
        .map(|n| {
            let p = if n == REAL { primary.addr_str() } else { dead.clone() };
            json!({"name": n, "primaries": [p], "catalog": CAT})
        })
        .collect();
    let body = serde_json::to_string(&batch).unwrap();
    assert!(body.len() > 64 * 1024, "the batch is over the single-zone body limit");
    let r = node.call("POST", "/zones", Some(&body));
    assert_eq!(r.status, 201, "POST /zones with {N} zones: {}", r.body);
    let views = r.json();
    let got: Vec<&str> = views
        .as_array()
        .map(|a| a.iter().filter_map(|z| z["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        got,
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        "views in the order given"
    );

    let zones = listed(&node);
    for n in &names {
        assert!(zones.contains(n), "GET /zones does not list {n}");
    }
    let mut file = in_file(&node.pharos.data_dir());
    file.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(file, want, "api-zones.json lists the batch");
    assert_eq!(catalog_members(port), N, "the catalog lists every zone of the batch");
    assert_eq!(versions_since(port, before), 1, "one catalog version for the batch");
    wait_until(&node.pharos, Duration::from_secs(30), "real zone transferred", || {
        node.pharos.query(REAL, 6).ok().and_then(|r| common::soa_serial(&r)) == Some(7)
    });
    assert!(
        node.pharos.log().matches("producer catalog written").count() <= 2,
        "the catalog is written once at start and once for the batch"
    );

    // A restart serves them all again, the Knot zone from disk.
    primary.stop();
    node.pharos.restart(Some(CAT));
    let zones = listed(&node);
    let missing: Vec<&String> = names.iter().filter(|n| !zones.contains(n)).collect();
    assert!(missing.is_empty(), "not listed after a restart: {missing:?}");
    let r = node.pharos.query(REAL, 6).expect("SOA query");
    assert_eq!(
        common::soa_serial(&r),
        Some(7),
        "{REAL} served from disk after a restart"
    );
    let view = node.get(&format!("/zones/{REAL}")).json();
    assert_eq!(view["source"], "disk", "{view}");

    // 500 removed in one call (names, and objects as given to POST).
    let after_add = catalog_serial(port);
    let gone: Vec<Value> = (1..N)
        .step_by(2)
        .map(|i| if i % 4 == 1 { json!(names[i]) } else { batch[i].clone() })
        .collect();
    let r = node.call("DELETE", "/zones", Some(&serde_json::to_string(&gone).unwrap()));
    assert_eq!(r.status, 200, "DELETE /zones: {}", r.body);
    assert_eq!(r.json()["removed"].as_array().map(Vec::len), Some(gone.len()));
    let r = node.pharos.query("z0001.batch.test", 6).expect("query");
    assert_eq!(r.rcode, 5, "a removed zone is REFUSED at once");
    let zones = listed(&node);
    assert_eq!(
        zones.iter().filter(|z| z.ends_with(".batch.test")).count(),
        N - gone.len()
    );
    assert!(!zones.contains(&"z0001.batch.test".to_string()));
    assert!(zones.contains(&"z0002.batch.test".to_string()));
    assert_eq!(in_file(&node.pharos.data_dir()).len(), N - gone.len());
    assert_eq!(catalog_members(port), N - gone.len());
    assert_eq!(
        versions_since(port, after_add),
        1,
        "one catalog version for the removal"
    );
}

#[test]
fn refused_batches_change_nothing() {
    if !pharos_only("refused_batches_change_nothing") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("conf.test.zone");
    std::fs::write(&file, zone_text("conf.test", 1)).unwrap();
    let extra = format!(
        "[[template]]\nname = \"customers\"\nprimaries = [\"127.0.0.1:{}\"]\n\
         [[zone]]\nname = \"conf.test\"\nfile = {}\n",
        free_port(false),
        toml_str(&file.to_string_lossy())
    );
    let node = MgmtNode::start(opts(extra, "conf.test"));
    let data = node.pharos.data_dir();
    let p = format!("127.0.0.1:{}", free_port(false));
    let bad = json!([
        {"name": "ok.test", "primaries": [p]},
        {"name": "bad..test", "primaries": [p]},
        {"name": "tpl.test", "template": "nope"},
        {"name": "OK.test.", "template": "customers"},
        42,
        {"name": "x.test", "primary": [p]},
    ]);
    let r = node.call("POST", "/zones", Some(&bad.to_string()));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(refused_indexes(&r), vec![1, 2, 3, 4, 5], "{}", r.body);
    let e = r.error();
    for want in [
        "5 of 6 entries refused, nothing added",
        "[1] bad..test: name",
        "[2] tpl.test: template: no [[template]] named \"nope\"",
        "[3] OK.test.: listed twice in this batch (first at index 0)",
        "[4]: not a zone object",
        "[5] x.test: not a zone object: unknown field `primary`",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
    assert!(!listed(&node).contains(&"ok.test".to_string()), "nothing added");
    assert!(in_file(&data).is_empty(), "api-zones.json not written");

    // One object: one zone, one view (as before).
    let r = node.call(
        "POST",
        "/zones",
        Some(&json!({"name": "one.test", "template": "customers"}).to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["name"], "one.test");
    // A zone already served: 409, nothing added.
    let r = node.call(
        "POST",
        "/zones",
        Some(&json!([{"name": "two.test", "template": "customers"}, {"name": "One.Test", "template": "customers"}, {"name": "conf.test", "template": "customers"}]).to_string()),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(refused_indexes(&r), vec![1, 2], "{}", r.body);
    assert!(
        r.error()
            .contains("[1] one.test: zone one.test is already served (added through the API)"),
        "{}",
        r.body
    );
    assert!(!listed(&node).contains(&"two.test".to_string()));
    assert_eq!(in_file(&data), vec!["one.test"]);
    // Over the count limit.
    let many = format!("[{}]", vec!["{}"; 10_001].join(","));
    let r = node.call("POST", "/zones", Some(&many));
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.error().contains("at most 10000 per call"), "{}", r.body);
    // An empty batch adds nothing.
    let r = node.call("POST", "/zones", Some("[]"));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json(), json!([]));

    // Removals: an unknown zone, a config zone: nothing removed.
    let r = node.call("DELETE", "/zones", Some(r#"["one.test", "nowhere.test"]"#));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(refused_indexes(&r), vec![1]);
    let r = node.call("DELETE", "/zones", Some(r#"["one.test", "conf.test", 7, "one.test."]"#));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(refused_indexes(&r), vec![1, 2, 3], "{}", r.body);
    assert!(
        r.error()
            .contains("[1] conf.test: zone conf.test comes from the config file"),
        "{}",
        r.body
    );
    assert!(listed(&node).contains(&"one.test".to_string()), "nothing removed");
    assert_eq!(in_file(&data), vec!["one.test"]);
    let r = node.call_as(None, "DELETE", "/zones", Some(r#"["one.test"]"#));
    assert_eq!(r.status, 401, "{}", r.body);
    let r = node.call("DELETE", "/zones", Some(r#"[{"name": "ONE.test."}]"#));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], json!(["one.test"]));
    assert!(in_file(&data).is_empty());
    assert!(!listed(&node).contains(&"one.test".to_string()));
}

#[test]
fn concurrent_single_calls() {
    if !pharos_only("concurrent_single_calls") {
        return;
    }
    let node = MgmtNode::start(PharosOpts {
        ipv6: false,
        ..Default::default()
    });
    let p = format!("127.0.0.1:{}", free_port(false));
    // c0 .. c62, and c7 a second time.
    let mut names: Vec<String> = (0..63).map(|i| format!("c{i}.concurrent.test")).collect();
    names.push("c7.concurrent.test".into());
    let statuses: Vec<(String, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(4)
            .map(|chunk| {
                let (node, p) = (&node, &p);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|n| {
                            let r = node.call(
                                "POST",
                                "/zones",
                                Some(&json!({"name": n, "primaries": [p]}).to_string()),
                            );
                            (n.clone(), r.status, r.body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    for (n, status, body) in &statuses {
        if n != "c7.concurrent.test" {
            assert_eq!(*status, 201, "{n}: {body}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["name"].as_str(), Some(n.as_str()), "each call gets its own zone");
        }
    }
    let mut c7: Vec<u16> = statuses
        .iter()
        .filter(|(n, _, _)| n == "c7.concurrent.test")
        .map(|(_, s, _)| *s)
        .collect();
    c7.sort();
    assert_eq!(c7, vec![201, 409], "{statuses:?}");
    let zones = listed(&node);
    let mut file = in_file(&node.pharos.data_dir());
    file.sort();
    let mut want: Vec<String> = names[..63].to_vec();
    want.sort();
    assert_eq!(file, want);
    for n in &want {
        assert!(zones.contains(n), "{n} not listed");
    }
}

#[test]
fn cli_many_names() {
    if !pharos_only("cli_many_names") {
        return;
    }
    let node = MgmtNode::start(PharosOpts {
        ipv6: false,
        ..Default::default()
    });
    let (url, token) = (node.url(), node.token_file().to_string_lossy().into_owned());
    let p = format!("127.0.0.1:{}", free_port(false));
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--mgmt", &url, "--token-file", &token]);
        let out = pharos_cmd(&all);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (rc, out) = run(&["zone", "add", "a.cli.test", "b.cli.test", "c.cli.test", "--primary", &p]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(out.contains("added 3 zones"), "{out}");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("names.txt");
    std::fs::write(&file, "# customers\nd.cli.test\nbad..cli.test  # typo\n\ne.cli.test\n").unwrap();
    let f = file.to_string_lossy().into_owned();
    let (rc, out) = run(&["zone", "add", "--file", &f, "--primary", &p]);
    assert_eq!(rc, Some(1), "{out}");
    assert!(out.contains("[1] bad..cli.test: name"), "{out}");
    assert!(!listed(&node).contains(&"d.cli.test".to_string()), "nothing added");
    std::fs::write(&file, "a.cli.test\nb.cli.test\n").unwrap();
    let (rc, out) = run(&["zone", "remove", "--file", &f, "c.cli.test"]);
    assert_eq!(rc, Some(0), "{out}");
    assert!(out.contains("removed 3 zones"), "{out}");
    assert!(in_file(&node.pharos.data_dir()).is_empty());
}
