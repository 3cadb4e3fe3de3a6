//! Many new zones at once (issue 12 item 9): the real `pharos` binary, the
//! secondary of a Knot DNS primary serving 40 zones, gets them all in one
//! SIGHUP, with its data dir on a small tmpfs that the test fills and then
//! frees. Their first versions are written together (one group commit of
//! many snapshots, `axfr::commit`), and the rule of issue 10 holds for the
//! batch: no zone of it is served before its version is on disk; once
//! space returns, every one is written and served without anyone asking,
//! and after `kill -9` a restart with the primary down serves them all.
//!
//! Needs root (to mount the tmpfs): prints "skipped: ..." otherwise.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Knot, MgmtNode, PharosOpts, Zone, parse_metrics, pharos_only, sample, soa_serial, toml_str, wire};

const ZONES: usize = 40;
const SERIAL: u32 = 2024010101;

struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new().prefix("pharos-tmpfs.").tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "pharos-test"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0x5au8; 16 << 10];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
}

fn name(i: usize) -> String {
    format!("b{i:03}.batch.test")
}

fn zone_files(dir: &Path) -> Vec<Zone> {
    (0..ZONES)
        .map(|i| {
            let n = name(i);
            let mut t = format!(
                "; dnsdiff: allow-axfr\n$ORIGIN {n}.\n$TTL 300\n@ SOA ns1 host {SERIAL} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n"
            );
            for h in 0..50 {
                t.push_str(&format!("h{h} A 10.1.{i}.{h}\n"));
            }
            let path = dir.join(format!("{n}.zone"));
            std::fs::write(&path, t).expect("zone file");
            Zone::new(&n, &path)
        })
        .collect()
}

/// How many of the batch answer their SOA with AA and the primary's serial.
fn served(node: &MgmtNode) -> usize {
    (0..ZONES)
        .filter(|&i| {
            node.pharos
                .query(&name(i), wire::TYPE_SOA)
                .ok()
                .is_some_and(|r| r.aa() && soa_serial(&r) == Some(SERIAL))
        })
        .count()
}

fn wait_all_served(node: &MgmtNode, within: Duration, what: &str) {
    let until = std::time::Instant::now() + within;
    loop {
        let n = served(node);
        if n == ZONES {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "{what}: {n} of {ZONES} served after {within:?}\n{}",
            node.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-s", "HUP", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -s HUP {pid} failed");
}

#[test]
fn a_batch_of_new_zones_is_served_only_once_written() {
    if !pharos_only("a_batch_of_new_zones_is_served_only_once_written") {
        return;
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tmpfs = if is_root { Tmpfs::mount("4m") } else { None };
    let Some(tmpfs) = tmpfs else {
        eprintln!("skipped: a_batch_of_new_zones_is_served_only_once_written needs root to mount a tmpfs");
        return;
    };
    let files = tempfile::tempdir().expect("temp dir");
    let zones = zone_files(files.path());
    let mut knot = Knot::start(&zones, 0);
    let data_dir: PathBuf = tmpfs.dir.path().join("var");
    let mut node = MgmtNode::start(PharosOpts {
        ready_zone: None,
        ipv6: false,
        data_dir: Some(data_dir.clone()),
        ..Default::default()
    });
    let pid = node.pharos.pid().expect("pharos runs");

    // The disk fills up; then the whole batch arrives in one reload.
    let filler = tmpfs.dir.path().join("filler");
    fill(&filler);
    let mut config = std::fs::read_to_string(&node.pharos.config).expect("config");
    for i in 0..ZONES {
        config.push_str(&format!(
            "\n[[zone]]\nname = {}\nprimaries = [{}]\n",
            toml_str(&name(i)),
            toml_str(&knot.addr_str())
        ));
    }
    std::fs::write(&node.pharos.config, config).expect("rewrite config");
    hup(pid);

    // Every zone of the batch is transferred, and none can be written:
    // none is served, however long it is asked.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let failures = sample(
            &parse_metrics(&node.get("/metrics").body, false),
            "pharos_zone_persist_failures_total",
            &[],
        );
        if failures >= ZONES as f64 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "only {failures} persist failures for {ZONES} zones\n{}",
            node.pharos.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..10 {
        assert_eq!(served(&node), 0, "a zone of the batch is served that was never written");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Space returns: all written and served, nobody asking.
    std::fs::remove_file(&filler).expect("remove filler");
    wait_all_served(&node, Duration::from_secs(60), "after space returned");
    for i in 0..ZONES {
        let z = node.get(&format!("/zones/{}", name(i))).json();
        assert!(z["persist-error"].is_null(), "{z}");
    }

    // And all on disk: kill -9, restart with the primary down.
    node.pharos.kill9();
    knot.stop();
    node.pharos.restart(None);
    wait_all_served(&node, Duration::from_secs(20), "after kill -9 and a restart from disk");
}
