//! The management API, metrics, status page, identity endpoint and the CLI
//! against the real `pharos` binary, with Knot DNS as the primary of the
//! zones added at run time, the Python Prometheus client's parser reading
//! `/metrics`, and headless Chromium loading the status page (its
//! screenshot is kept in `target/test-artifacts/status-page.png`).
//!
//! Needs: knot (knotd, knotc), python3 with prometheus-client, chromium —
//! scripts/test.sh installs them.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, MgmtNode, PharosOpts, Sample, Zone, http, parse_metrics, pharos_cmd, require_program, sample,
    soa_serial, wire,
};

const RCODE_NOERROR: u8 = 0;
const RCODE_REFUSED: u8 = 5;

fn example() -> Zone {
    Zone::new("example.com", Path::new("zones/example.com.zone"))
}

/// A node serving example.com from its file, with a location whose display
/// text needs escaping.
fn node_opts() -> PharosOpts {
    PharosOpts {
        zones: vec![example()],
        ipv6: false,
        node_id: "mgmt-test".into(),
        node_extra: "location = { city = \"Testville\", country = \"Testland\", country-iso = \"tl\", \
                     display = \"Testland, <Test> & Co\" }\n"
            .into(),
        ..Default::default()
    }
}

/// A small zone for Knot.
fn zone_text(zone: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host {serial} 3600 600 86400 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

fn soa(node: &MgmtNode, zone: &str) -> Result<wire::Reply, String> {
    wire::udp_query(
        node.pharos.addr(),
        zone,
        wire::TYPE_SOA,
        wire::CLASS_IN,
        Duration::from_millis(500),
    )
    .map_err(|e| e.to_string())
}

/// Polls (every 5 ms) until the node serves `serial` for `zone`
/// authoritatively; returns how long that took. Panics after `limit`.
fn wait_served(node: &MgmtNode, zone: &str, serial: u32, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        match soa(node, zone) {
            Ok(r) if r.rcode == RCODE_NOERROR && r.aa() && soa_serial(&r) == Some(serial) => return start.elapsed(),
            Ok(r) => last = r.to_string(),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "{zone} serial {serial} not served within {limit:?} (last: {last})\n{}",
        node.pharos.log_tail(40)
    );
}

fn zone_names(node: &MgmtNode) -> Vec<String> {
    let list = node.get("/zones");
    assert_eq!(list.status, 200, "{}", list.body);
    list.json()["zones"]
        .as_array()
        .expect("zones array")
        .iter()
        .map(|z| z["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn api_zones_file(node: &MgmtNode) -> PathBuf {
    node.pharos.data_dir().join("api-zones.json")
}

/// Every file of `zone` under the data dir's `zones/`.
fn zone_files(node: &MgmtNode, zone: &str) -> Vec<String> {
    std::fs::read_dir(node.pharos.data_dir().join("zones"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{zone}.")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn endpoints_with_and_without_the_token_and_with_bad_bodies() {
    let mut node = MgmtNode::start(node_opts());

    // Reads need no token.
    let status = node.get("/status");
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.header("content-type"), Some("application/json"));
    let s = status.json();
    assert_eq!(s["node"]["id"], "mgmt-test");
    assert_eq!(s["node"]["country-iso"], "tl");
    // Health runs (rise 2, interval 1 s): starting, or healthy already.
    let state = s["health"]["state"].as_str().unwrap_or_default().to_string();
    assert!(
        ["starting", "healthy"].contains(&state.as_str()),
        "health state {state:?}"
    );
    assert_eq!(s["maintenance"]["enabled"], false);
    assert_eq!(s["bgp"]["enabled"], false);
    assert_eq!(s["zones"]["total"], 1);
    assert_eq!(s["zones"]["ok"], 1);
    assert_eq!(zone_names(&node), vec!["example.com"]);
    let one = node.get("/zones/Example.COM.");
    assert_eq!(one.status, 200, "{}", one.body);
    let z = one.json();
    assert_eq!(
        (z["kind"].as_str(), z["origin"].as_str(), z["state"].as_str()),
        (Some("file"), Some("config"), Some("ok"))
    );
    assert_eq!(z["serial"], 2024060101);
    let missing = node.get("/zones/nowhere.example");
    assert_eq!(missing.status, 404);
    assert!(missing.error().contains("nowhere.example"), "{}", missing.body);
    assert_eq!(node.get("/maintenance").json()["maintenance"]["enabled"], false);
    let metrics = node.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    let page = node.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert!(
        page.body.contains("Testland, &lt;Test&gt; &amp; Co"),
        "display text not escaped"
    );
    assert!(node.get("/qps").json()["samples"].is_array());
    let nothing = node.get("/no/such/thing");
    assert_eq!(nothing.status, 404);
    assert!(!nothing.error().is_empty());
    let wrong_method = http(node.api, "PUT", "/zones", &[], Some("{}"));
    assert_eq!(wrong_method.status, 405);
    assert!(!wrong_method.error().is_empty());

    // The identity endpoint.
    let id = http(node.identity, "GET", "/", &[], None);
    assert_eq!(id.status, 200);
    let j = id.json();
    assert_eq!(j["id"], "mgmt-test");
    assert_eq!(j["city"], "Testville");
    assert_eq!(j["country"], "Testland");
    assert_eq!(j["country-iso"], "tl");
    assert_eq!(j["display"], "Testland, <Test> & Co");

    // Mutating calls without the right token: 401, nothing changes.
    let body = r#"{"name": "new.example", "primaries": ["127.0.0.1:53"]}"#;
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some(&*format!("Basic {}", common::TOKEN)),
        Some("Bearer"),
    ] {
        for (method, path, b) in [
            ("POST", "/zones", Some(body)),
            ("DELETE", "/zones/example.com", None),
            ("POST", "/zones/example.com/refresh", None),
            ("POST", "/maintenance", Some(r#"{"enabled": true}"#)),
        ] {
            let r = node.call_as(auth, method, path, b);
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.body);
            assert!(r.error().contains("Bearer"), "{}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert_eq!(zone_names(&node), vec!["example.com"]);
    assert!(!api_zones_file(&node).exists());
    assert!(!node.pharos.data_dir().join("maintenance").exists());

    // Bad bodies and invalid zones: a JSON error saying what is wrong.
    let cases: &[(&str, u16, &str)] = &[
        ("", 400, "empty body"),
        ("{not json", 400, "invalid JSON"),
        // An array is a batch: each entry must be a zone object.
        ("[1, 2]", 422, "[0]: not a zone object"),
        (r#"{"primaries": ["127.0.0.1"]}"#, 400, "missing field `name`"),
        (
            r#"{"name": "a.example", "primaries": ["127.0.0.1"], "colour": "red"}"#,
            400,
            "unknown field `colour`",
        ),
        (
            r#"{"name": "a.example", "primaries": "127.0.0.1"}"#,
            400,
            "invalid JSON",
        ),
        (r#"{"name": "bad..name", "primaries": ["127.0.0.1"]}"#, 422, "name:"),
        (
            r#"{"name": "a.example", "primaries": []}"#,
            422,
            "primaries: at least one",
        ),
        (
            r#"{"name": "a.example", "primaries": ["not-an-address"]}"#,
            422,
            "primaries[0]",
        ),
        (r#"{"name": "a.example", "primaries": ["127.0.0.1:0"]}"#, 422, "port 0"),
        (
            r#"{"name": "a.example", "primaries": ["127.0.0.1"], "tsig-key": "nokey"}"#,
            422,
            "tsig-key",
        ),
        (
            r#"{"name": "example.com", "primaries": ["127.0.0.1"]}"#,
            409,
            "config file",
        ),
    ];
    for (b, want_status, want_text) in cases {
        let r = node.call("POST", "/zones", Some(b));
        assert_eq!(r.status, *want_status, "POST /zones {b}: {}", r.body);
        assert!(
            r.error().contains(want_text),
            "POST /zones {b}: want {want_text:?} in {}",
            r.body
        );
    }
    assert_eq!(zone_names(&node), vec!["example.com"]);
    assert!(
        !api_zones_file(&node).exists(),
        "a refused zone was written to the API zone list"
    );

    // Zone calls that cannot apply.
    let r = node.call("DELETE", "/zones/example.com", None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.error().contains("config"), "{}", r.body);
    assert_eq!(node.call("DELETE", "/zones/nowhere.example", None).status, 404);
    assert_eq!(node.call("POST", "/zones/nowhere.example/refresh", None).status, 404);
    let r = node.call("POST", "/zones/example.com/refresh", None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.error().contains("file"), "{}", r.body);
    assert_eq!(
        soa(&node, "example.com").map(|r| r.rcode),
        Ok(RCODE_NOERROR),
        "example.com must still be served"
    );

    // Maintenance: the file appears and goes; bad bodies change nothing.
    let mfile = node.pharos.data_dir().join("maintenance");
    for b in ["", r#"{"enabled": "yes"}"#, r#"{"on": true}"#] {
        let r = node.call("POST", "/maintenance", Some(b));
        assert_eq!(r.status, 400, "{b}: {}", r.body);
        assert!(!mfile.exists());
    }
    let r = node.call("POST", "/maintenance", Some(r#"{"enabled": true}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["maintenance"]["enabled"], true);
    assert!(mfile.exists());
    assert_eq!(node.get("/status").json()["maintenance"]["enabled"], true);
    let r = node.call("POST", "/maintenance", Some(r#"{"enabled": false}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!mfile.exists());

    // No usable token file: mutating calls refused with 503 naming the
    // file; reads still work. A new token is picked up without a restart.
    std::fs::remove_file(node.token_file()).unwrap();
    let r = node.call("POST", "/zones", Some(body));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.error().contains("token"), "{}", r.body);
    assert_eq!(node.get("/status").status, 200);
    node.write_token("rotated-token");
    let r = node.call_as(
        Some("Bearer rotated-token"),
        "POST",
        "/maintenance",
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        node.call("POST", "/maintenance", Some(r#"{"enabled": false}"#)).status,
        401
    );
    assert!(node.pharos.is_running());
}

#[test]
fn zone_added_through_the_api_is_served_kept_and_removed_for_good() {
    const ZONE: &str = "api-added.test";
    let mut knot = KnotPrimary::start(ZONE, &zone_text(ZONE, 1));
    let mut node = MgmtNode::start(node_opts());
    assert_eq!(soa(&node, ZONE).map(|r| r.rcode), Ok(RCODE_REFUSED));

    let body = format!(r#"{{"name": "{ZONE}", "primaries": ["{}"]}}"#, knot.addr_str());
    let r = node.call("POST", "/zones", Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["origin"], "api");
    let took = wait_served(&node, ZONE, 1, Duration::from_secs(5));
    eprintln!("zone added through the API served after {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "served after {took:?}, not within a second"
    );
    let again = node.call("POST", "/zones", Some(&body));
    assert_eq!(again.status, 409, "{}", again.body);
    let z = node.get(&format!("/zones/{ZONE}")).json();
    assert_eq!(z["state"], "ok");
    assert_eq!(z["serial"], 1);
    assert_eq!(z["primary"].as_str(), Some(knot.addr_str().as_str()));
    assert_eq!(z["source"], "axfr");
    let last = &z["last-transfer"];
    assert!(last["at"].is_u64(), "{z}");
    assert_eq!(last["kind"], "axfr");
    assert!(last["bytes"].as_u64().is_some_and(|b| b > 100), "{z}");
    assert!(last["duration-ms"].is_u64(), "{z}");
    assert!(z["timers"]["refresh"].is_u64(), "{z}");
    let listed = std::fs::read_to_string(api_zones_file(&node)).unwrap();
    assert!(listed.contains(ZONE), "{listed}");

    // The NOTIFY rules follow: Knot's NOTIFY brings the next serial.
    knot.notify_to(node.pharos.port);
    knot.add_record("new", 300, "A", "192.0.2.9");
    let serial = knot.serial();
    wait_served(&node, ZONE, serial, Duration::from_secs(5));
    let refresh = node.call("POST", &format!("/zones/{ZONE}/refresh"), None);
    assert_eq!(refresh.status, 202, "{}", refresh.body);

    // Restart with the primary down: served from the persisted copy.
    knot.stop();
    node.pharos.kill9();
    node.pharos.restart(Some(ZONE));
    let r = soa(&node, ZONE).unwrap();
    assert_eq!(soa_serial(&r), Some(serial));
    let z = node.get(&format!("/zones/{ZONE}")).json();
    assert_eq!(z["origin"], "api", "{z}");
    assert_eq!(z["source"], "disk", "{z}");
    knot.start_again();

    // Deleted: REFUSED at once, files gone, and still gone after a restart.
    let r = node.call("DELETE", &format!("/zones/{ZONE}"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(soa(&node, ZONE).map(|r| r.rcode), Ok(RCODE_REFUSED));
    assert_eq!(node.get(&format!("/zones/{ZONE}")).status, 404);
    assert!(
        zone_files(&node, ZONE).is_empty(),
        "left behind: {:?}",
        zone_files(&node, ZONE)
    );
    let listed = std::fs::read_to_string(api_zones_file(&node)).unwrap();
    assert!(!listed.contains(ZONE), "{listed}");
    node.pharos.kill9();
    node.pharos.restart(Some("example.com"));
    assert_eq!(soa(&node, ZONE).map(|r| r.rcode), Ok(RCODE_REFUSED));
    assert_eq!(node.get(&format!("/zones/{ZONE}")).status, 404);
    assert_eq!(zone_names(&node), vec!["example.com"]);

    // Added again later: transferred afresh.
    let r = node.call("POST", "/zones", Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    wait_served(&node, ZONE, knot.serial(), Duration::from_secs(5));
}

fn scrape(node: &MgmtNode) -> Vec<Sample> {
    let m = node.get("/metrics");
    assert_eq!(m.status, 200);
    // The OpenMetrics form must parse too.
    let om = http(
        node.api,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        None,
    );
    assert!(
        om.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    parse_metrics(&om.body, true);
    parse_metrics(&m.body, false)
}

#[test]
fn metrics_parse_and_move_with_queries() {
    let mut opts = node_opts();
    opts.dns_extra = "tcp-max-connections = 1\n".into();
    // The health checks' own SOA probes count as queries too: none during
    // the measurement (the first round runs after one interval).
    opts.extra_toml = "[health]\ninterval = \"1h\"\n".into();
    let node = MgmtNode::start(opts);
    // Let the first health round (at start) finish before counting.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = scrape(&node);
    let udp_a = [("transport", "udp"), ("qtype", "A"), ("rcode", "NOERROR")];
    let udp_nx = [("transport", "udp"), ("qtype", "TXT"), ("rcode", "NXDOMAIN")];
    let tcp_soa = [("transport", "tcp"), ("qtype", "SOA"), ("rcode", "NOERROR")];
    let refused = [("transport", "udp"), ("qtype", "A"), ("rcode", "REFUSED")];
    for _ in 0..20 {
        let r = node.pharos.query("ns1.example.com", wire::TYPE_A).unwrap();
        assert_eq!(r.rcode, RCODE_NOERROR);
    }
    for _ in 0..3 {
        node.pharos.query("nope.example.com", wire::TYPE_TXT).unwrap();
    }
    for _ in 0..2 {
        node.pharos.query("outside.test", wire::TYPE_A).unwrap();
    }
    for _ in 0..5 {
        // With a cap of one connection, the next one can arrive before the
        // server has seen the last one close: it is closed then, and retried.
        let mut tries = 0;
        while let Err(e) = wire::tcp_query(
            node.pharos.addr(),
            "example.com",
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Duration::from_secs(2),
        ) {
            tries += 1;
            assert!(tries < 20, "TCP query keeps failing: {e}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Over the TCP connection cap (1): the second connection takes the
    // place of the first, which is idle.
    let held = TcpStream::connect(node.pharos.addr()).unwrap();
    let over = TcpStream::connect(node.pharos.addr()).unwrap();
    let mut after = scrape(&node);
    let evicted = [("reason", "evicted")];
    let deadline = Instant::now() + Duration::from_secs(3);
    while sample(&after, "pharos_dns_tcp_closed_total", &evicted) < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = scrape(&node);
    }
    drop((held, over));
    let d = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) - sample(&before, name, labels);
    assert_eq!(d("pharos_dns_responses_total", &udp_a), 20.0);
    assert_eq!(d("pharos_dns_responses_total", &udp_nx), 3.0);
    assert_eq!(d("pharos_dns_responses_total", &refused), 2.0);
    assert_eq!(d("pharos_dns_responses_total", &tcp_soa), 5.0);
    assert_eq!(d("pharos_dns_queries_total", &[("transport", "udp")]), 25.0);
    assert_eq!(d("pharos_dns_queries_total", &[("transport", "tcp")]), 5.0);
    assert!(d("pharos_dns_response_duration_seconds_count", &[]) >= 30.0);
    assert_eq!(
        sample(&after, "pharos_dns_response_duration_seconds_bucket", &[("le", "+Inf")]),
        sample(&after, "pharos_dns_response_duration_seconds_count", &[])
    );
    assert!(sample(&after, "pharos_dns_response_duration_seconds_sum", &[]) > 0.0);
    assert!(
        d("pharos_dns_tcp_closed_total", &evicted) >= 1.0,
        "TCP connection evicted at the cap not counted"
    );
    // Every connection busy is the only refusal left: none here.
    assert_eq!(
        d("pharos_dns_dropped_total", &[("reason", "tcp-connection-limit")]),
        0.0
    );
    assert!(sample(&after, "pharos_http_connections", &[("listener", "mgmt")]) >= 1.0);
    assert_eq!(
        sample(&after, "pharos_zone_serial", &[("zone", "example.com")]),
        2024060101.0
    );
    assert_eq!(
        sample(&after, "pharos_zone_state", &[("zone", "example.com"), ("state", "ok")]),
        1.0
    );
    assert_eq!(sample(&after, "pharos_zones", &[("state", "ok")]), 1.0);
    // One state series is 1: with a 1 h interval and rise 2, still starting.
    assert_eq!(sample(&after, "pharos_health_state", &[("state", "starting")]), 1.0);
    assert_eq!(sample(&after, "pharos_health_state", &[("state", "healthy")]), 0.0);
    assert_eq!(sample(&after, "pharos_maintenance", &[]), 0.0);
    assert_eq!(sample(&after, "pharos_build_info", &[]), 1.0);
    for family in [
        "pharos_dns_truncated_total",
        "pharos_dns_notify_total",
        "pharos_xfr_transfers_total",
        "pharos_xfr_transfer_duration_seconds_count",
        "pharos_xfr_received_bytes_total",
        "pharos_health_transitions_total",
    ] {
        assert!(
            after.iter().any(|(n, _, _)| n == family),
            "{family} missing from /metrics"
        );
    }
}

#[test]
fn transfers_and_notify_show_in_metrics() {
    const ZONE: &str = "metrics-xfr.test";
    let mut knot = KnotPrimary::start(ZONE, &zone_text(ZONE, 10));
    let node = MgmtNode::start(node_opts());
    let body = format!(r#"{{"name": "{ZONE}", "primaries": ["{}"]}}"#, knot.addr_str());
    assert_eq!(node.call("POST", "/zones", Some(&body)).status, 201);
    wait_served(&node, ZONE, 10, Duration::from_secs(5));
    knot.notify_to(node.pharos.port);
    knot.add_record("more", 300, "A", "192.0.2.10");
    wait_served(&node, ZONE, knot.serial(), Duration::from_secs(5));
    let m = scrape(&node);
    let ok = |kind| sample(&m, "pharos_xfr_transfers_total", &[("kind", kind), ("result", "ok")]);
    assert_eq!(ok("axfr"), 1.0);
    assert_eq!(ok("ixfr"), 1.0);
    assert!(sample(&m, "pharos_xfr_received_bytes_total", &[("kind", "axfr")]) > 0.0);
    assert_eq!(
        sample(
            &m,
            "pharos_xfr_transfer_duration_seconds_count",
            &[("kind", "ixfr"), ("result", "ok")]
        ),
        1.0
    );
    assert!(sample(&m, "pharos_dns_notify_total", &[("result", "accepted")]) >= 1.0);
    assert_eq!(
        sample(&m, "pharos_zone_serial", &[("zone", ZONE)]),
        f64::from(knot.serial())
    );
    assert!(sample(&m, "pharos_zone_last_refresh_timestamp_seconds", &[("zone", ZONE)]) > 1.6e9);
    // The SOA timers it runs on (3600 600 86400 in zone_text, inside the
    // default clamps), for the alert on a zone behind its primary.
    assert_eq!(sample(&m, "pharos_zone_refresh_seconds", &[("zone", ZONE)]), 3600.0);
    assert_eq!(sample(&m, "pharos_zone_retry_seconds", &[("zone", ZONE)]), 600.0);
    assert_eq!(sample(&m, "pharos_zone_expire_seconds", &[("zone", ZONE)]), 86400.0);
    // A NOTIFY from elsewhere is refused and counted.
    let r = common::send_notify(
        "127.0.0.2".parse().unwrap(),
        node.pharos.addr(),
        ZONE,
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(r.rcode, RCODE_REFUSED);
    let m = scrape(&node);
    assert!(sample(&m, "pharos_dns_notify_total", &[("result", "refused")]) >= 1.0);
}

/// `target/test-artifacts`, created.
fn artifacts_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium(args: &[String]) -> std::process::Output {
    let chromium = require_program("chromium", "chromium");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("90")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("cannot run chromium");
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn status_page_in_headless_chromium() {
    let node = MgmtNode::start(node_opts());
    // A runtime zone whose primary does not answer: its first SOA query
    // fails at once (port 9 is closed), so it is shown as failed.
    let body = r#"{"name": "waiting.test", "primaries": ["127.0.0.1:9"]}"#;
    assert_eq!(node.call("POST", "/zones", Some(body)).status, 201);
    // Some queries for the graph (sampled once a second).
    for _ in 0..3 {
        for _ in 0..40 {
            node.pharos.query("www.example.com", wire::TYPE_AAAA).unwrap();
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    let url = format!("{}/", node.url());
    let dom = chromium(&["--dump-dom".into(), url.clone()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for needle in [
        "id=\"zones-table\"",
        "id=\"bgp\"",
        "BGP is disabled",
        "id=\"health-state\"",
        "id=\"qps-graph\"",
        "example.com",
        "2024060101",
        "waiting.test",
        "<span class=\"badge bad\">failed</span>",
        "Testland, &lt;Test&gt; &amp; Co",
    ] {
        assert!(
            dom.contains(needle),
            "{needle:?} missing from the rendered page:\n{dom}"
        );
    }
    let rows = dom.matches("<tr class=\"zone\">").count();
    assert_eq!(rows, 2, "zone rows in the table:\n{dom}");
    let points = dom
        .split("id=\"qps-line\"")
        .nth(1)
        .and_then(|s| s.split("points=\"").nth(1))
        .map(|s| s.split('"').next().unwrap_or("").split_whitespace().count())
        .unwrap_or(0);
    assert!(points >= 2, "the qps graph has {points} points");
    let shot = artifacts_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,900".into(),
        url,
    ]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a real screenshot"
    );
    eprintln!("status page screenshot: {}", shot.display());
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = pharos_cmd(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_zone_add_list_remove_and_status() {
    const ZONE: &str = "cli-added.test";
    let knot = KnotPrimary::start(ZONE, &zone_text(ZONE, 3));
    let node = MgmtNode::start(node_opts());
    let config = node.pharos.config.to_string_lossy().into_owned();
    let url = node.url();
    let token = node.token_file().to_string_lossy().into_owned();

    let (rc, out, err) = cli(&["zone", "add", ZONE, "--primary", &knot.addr_str(), "--config", &config]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains(&format!("added {ZONE}")), "{out}");
    wait_served(&node, ZONE, 3, Duration::from_secs(5));

    let (rc, out, err) = cli(&["zone", "list", "--config", &config]);
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains(ZONE) && out.contains("example.com") && out.contains("2024060101"),
        "{out}"
    );
    let (rc, out, err) = cli(&["zone", "list", "--json", "--mgmt", &url]);
    assert_eq!(rc, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["zones"].as_array().map(Vec::len), Some(2));

    let (rc, out, err) = cli(&["status", "--config", &config]);
    assert_eq!(rc, 0, "{err}");
    for needle in ["mgmt-test", "health", "bgp", "disabled", "zones", ZONE, "queries"] {
        assert!(out.contains(needle), "{needle:?} missing from `pharos status`:\n{out}");
    }
    let (rc, out, _) = cli(&["status", "--json", "--api", &url]);
    assert_eq!(rc, 0);
    assert!(out.contains("\"node\""), "{out}");

    let (rc, out, err) = cli(&["zone", "refresh", ZONE, "--mgmt", &url, "--token-file", &token]);
    assert_eq!(rc, 0, "{out}{err}");

    // Failures: non-zero exit and a message saying what failed.
    let (rc, _, err) = cli(&["zone", "add", ZONE, "--primary", &knot.addr_str(), "--config", &config]);
    assert_eq!(rc, 1);
    assert!(err.contains("already served") && err.contains("409"), "{err}");
    let (rc, _, err) = cli(&["zone", "remove", "example.com", "--config", &config]);
    assert_eq!(rc, 1);
    assert!(err.contains("config file"), "{err}");
    let (rc, _, err) = cli(&["zone", "add", "x.test", "--primary", "127.0.0.1", "--mgmt", &url]);
    assert_eq!(rc, 1);
    assert!(err.contains("token"), "{err}");
    let wrong = node.pharos.dir.path().join("wrong-token");
    std::fs::write(&wrong, "nope\n").unwrap();
    let (rc, _, err) = cli(&[
        "zone",
        "remove",
        ZONE,
        "--mgmt",
        &url,
        "--token-file",
        &wrong.to_string_lossy(),
    ]);
    assert_eq!(rc, 1);
    assert!(err.contains("401"), "{err}");
    let (rc, _, err) = cli(&[
        "zone",
        "add",
        "bad..name",
        "--primary",
        "127.0.0.1",
        "--config",
        &config,
    ]);
    assert_eq!(rc, 1);
    assert!(err.contains("name"), "{err}");
    let dead = SocketAddr::from(([127, 0, 0, 1], common::free_port(false)));
    let (rc, _, err) = cli(&["status", "--mgmt", &format!("http://{dead}")]);
    assert_ne!(rc, 0);
    assert!(err.contains("cannot connect"), "{err}");
    assert_eq!(
        soa(&node, ZONE).map(|r| r.rcode),
        Ok(RCODE_NOERROR),
        "the zone must still be served"
    );

    let (rc, out, err) = cli(&["zone", "remove", ZONE, "--config", &config]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(soa(&node, ZONE).map(|r| r.rcode), Ok(RCODE_REFUSED));
    let (rc, _, err) = cli(&["zone", "remove", ZONE, "--config", &config]);
    assert_eq!(rc, 1);
    assert!(err.contains("no zone") && err.contains("404"), "{err}");
}
