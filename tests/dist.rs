//! What `dist/` and `docs/` ship to operators is checked against the real
//! thing, so that none of it rots:
//!
//! * the Prometheus alert rules pass `promtool check rules`, and their unit
//!   tests pass `promtool test rules` (Debian's `prometheus` package);
//! * every metric name the rules and the Grafana dashboard use is in the
//!   `/metrics` of a running hub and node (`dist/prometheus/metrics-*.toml`,
//!   on free ports), and the rules' test series have the labels pharos
//!   really exports (`scripts/check-metric-names.py`);
//! * the fleet guide's configs (`docs/fleet/*.toml`) pass `check-config`.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Spawned, free_port, http, output_text as text, pharos_bin, pharos_cmd, repo_root, require_program};

fn promtool() -> PathBuf {
    require_program("promtool", "prometheus")
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let promtool = promtool();
    let root = repo_root();
    let check = Command::new(&promtool)
        .args(["check", "rules", "dist/prometheus/pharos-rules.yml"])
        .current_dir(&root)
        .output()
        .expect("run promtool check rules");
    assert!(check.status.success(), "promtool check rules:\n{}", text(&check));
    // promtool counts the rules it read ("SUCCESS: 21 rules found"): the
    // file is not silently empty.
    let rules = text(&check);
    let count: usize = rules
        .split("SUCCESS: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 15, "promtool found only {count} rules:\n{rules}");

    let test = Command::new(&promtool)
        .args(["test", "rules", "dist/prometheus/pharos-rules.test.yml"])
        .current_dir(&root)
        .output()
        .expect("run promtool test rules");
    assert!(test.status.success(), "promtool test rules:\n{}", text(&test));
    assert!(text(&test).contains("SUCCESS"), "{}", text(&test));
}

/// `pharos serve` on a config the test wrote, stderr into `log`.
fn serve(config: &Path, log: &Path) -> Spawned {
    let child = Command::new(pharos_bin())
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).expect("create the log"))
        .spawn()
        .expect("spawn pharos");
    Spawned(child)
}

fn read_log(log: &Path) -> String {
    fs::read_to_string(log).unwrap_or_default()
}

/// `dist/prometheus/metrics-NAME.toml` with its fixed ports and relative
/// paths replaced: free ports, state in `dir`, zone files of the checkout.
fn metrics_config(name: &str, ports: &[(u16, u16)], dir: &Path) -> PathBuf {
    let root = repo_root();
    let mut config =
        fs::read_to_string(root.join(format!("dist/prometheus/metrics-{name}.toml"))).expect("read the metrics config");
    for (from, to) in ports {
        config = config.replace(&from.to_string(), &to.to_string());
    }
    for node in ["hub", "node"] {
        config = config.replace(
            &format!("../../var/metrics-{node}"),
            &dir.join(node).display().to_string(),
        );
    }
    config = config.replace("../../zones/", &format!("{}/", root.join("zones").display()));
    assert!(
        !config.contains("../"),
        "a relative path is left in metrics-{name}.toml"
    );
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, config).expect("write the config");
    path
}

fn metrics(mgmt: SocketAddr) -> String {
    let r = http(mgmt, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 200, "GET /metrics from {mgmt}");
    r.body
}

#[test]
fn every_metric_the_rules_and_dashboard_use_is_exported_by_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_dns, hub_mgmt, node_dns, node_mgmt) =
        (free_port(false), free_port(false), free_port(false), free_port(false));
    let ports = [
        (15353, hub_dns),
        (18053, hub_mgmt),
        (25353, node_dns),
        (28053, node_mgmt),
    ];
    let hub_config = metrics_config("hub", &ports, dir.path());
    let node_config = metrics_config("node", &ports, dir.path());
    let (hub_log, node_log) = (dir.path().join("hub.log"), dir.path().join("node.log"));
    let _hub = serve(&hub_config, &hub_log);
    let _node = serve(&node_config, &node_log);
    let hub_at = SocketAddr::from(([127, 0, 0, 1], hub_mgmt));
    let node_at = SocketAddr::from(([127, 0, 0, 1], node_mgmt));

    // Ready when the node has taken the hub's catalog and its member
    // (the member zone's refresh series) and the hub has polled the node.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (hub_text, node_text) = loop {
        let h = common::try_http(hub_at, "GET", "/metrics", &[], None);
        let n = common::try_http(node_at, "GET", "/metrics", &[], None);
        if let (Ok(h), Ok(n)) = (h, n) {
            let ready = n.body.contains("pharos_zone_last_refresh_timestamp_seconds{")
                && n.body.contains("pharos_catalog_members{")
                && h.body.contains("pharos_fleet_node_lag_seconds{");
            if ready {
                break (metrics(hub_at), metrics(node_at));
            }
        }
        assert!(
            Instant::now() < deadline,
            "hub and node not ready in 30 s\n--- hub\n{}\n--- node\n{}",
            common::tail(&read_log(&hub_log), 20),
            common::tail(&read_log(&node_log), 20)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let hub_file = dir.path().join("hub.txt");
    let node_file = dir.path().join("node.txt");
    fs::write(&hub_file, &hub_text).unwrap();
    fs::write(&node_file, &node_text).unwrap();

    let check = |extra: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("scripts/check-metric-names.py"))
            .arg("--metrics")
            .arg(&hub_file)
            .arg("--metrics")
            .arg(&node_file)
            // Needs a BFD session in Init or Up: tests/bgp_bfd.rs checks
            // this series against BIRD.
            .args(["--declared-ok", "pharos_bfd_detection_time_seconds"])
            .args(extra)
            .current_dir(repo_root());
        cmd.output().expect("run scripts/check-metric-names.py")
    };
    let out = check(&[
        "--series-of",
        "dist/prometheus/pharos-rules.test.yml",
        "dist/prometheus/pharos-rules.yml",
        "dist/grafana/pharos.json",
    ]);
    let said = text(&out);
    assert!(out.status.success(), "check-metric-names:\n{said}");
    assert!(said.contains("metric names used are in the /metrics text"), "{said}");
    assert!(said.contains("input series of"), "{said}");

    // The check can fail: a rule on a name pharos does not export, and a
    // test series with a label pharos does not put on that metric.
    let bad_rules = dir.path().join("bad-rules.yml");
    fs::write(
        &bad_rules,
        "groups:\n- name: bad\n  rules:\n  - alert: Bad\n    expr: pharos_no_such_metric_total > 0\n",
    )
    .unwrap();
    let bad_tests = dir.path().join("bad-tests.yml");
    fs::write(
        &bad_tests,
        "tests:\n- interval: 1m\n  input_series:\n  - series: pharos_health_state{job=\"pharos\",instance=\"n\",colour=\"red\"}\n    values: 1\n",
    )
    .unwrap();
    let out = check(&[
        "--series-of",
        &bad_tests.display().to_string(),
        &bad_rules.display().to_string(),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("pharos_no_such_metric_total"), "{said}");
    assert!(said.contains("no label colour"), "{said}");
}

#[test]
fn the_fleet_guides_configs_pass_check_config() {
    let root = repo_root();
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("docs/fleet"))
        .expect("docs/fleet")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // The guide's hub and its three nodes.
    for want in ["hub.toml", "node1.toml", "node2.toml", "node3.toml"] {
        assert!(names.iter().any(|n| n == want), "docs/fleet has no {want}: {names:?}");
    }
    let guide = fs::read_to_string(root.join("docs/fleet.md")).expect("docs/fleet.md");
    assert!(
        guide.contains("docs/fleet/hub.toml"),
        "docs/fleet.md does not walk through docs/fleet/hub.toml"
    );
    assert!(
        guide.contains("docs/fleet/node1.toml"),
        "docs/fleet.md does not walk through docs/fleet/node1.toml"
    );
    for path in &files {
        let out = pharos_cmd(&[std::ffi::OsStr::new("check-config"), path.as_os_str()]);
        assert!(out.status.success(), "check-config {}:\n{}", path.display(), text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(": ok ("),
            "{}",
            text(&out)
        );
    }
}
