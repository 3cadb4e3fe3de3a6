//! A full disk under the data dir: the real `pharos` binary, the secondary
//! of a Knot DNS primary, with its data dir on a small tmpfs that the test
//! fills and then frees.
//!
//! What is checked: a new version that cannot be written is not served
//! (the older one stays, the serial never goes back after `kill -9`); the
//! failure shows in `/zones/{name}`, `/metrics` (a counter and a per-zone
//! gauge) and `pharos status`, and is logged once; once space returns the
//! engine writes and serves the new version by itself, and a restart
//! serves it.
//!
//! Needs root (to mount the tmpfs): prints "skipped: ..." otherwise.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    KnotPrimary, MgmtNode, Pharos, PharosOpts, parse_metrics, pharos_cmd, pharos_only, sample, soa_serial, toml_str,
    wait_until, wire,
};

const ZONE: &str = "full.test";

/// A tmpfs mounted for the test; unmounted on drop.
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

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0x5au8; 16 << 10];
    let mut written = 0u64;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    // The last partial chunk: byte by byte.
    while f.write_all(&[0]).is_ok() {
        written += 1;
    }
    let _ = f.sync_all();
    written
}

fn zone_text(serial: u32) -> String {
    let mut t = format!("$ORIGIN {ZONE}.\n$TTL 300\n@ SOA ns1 host {serial} 30 2 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..200 {
        t.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    t
}

fn serial(p: &Pharos) -> Option<u32> {
    p.query(ZONE, wire::TYPE_SOA)
        .ok()
        .filter(|r| r.rcode == 0)
        .and_then(|r| soa_serial(&r))
}

fn persist_metrics(node: &MgmtNode) -> (f64, f64) {
    let r = node.get("/metrics");
    let m = parse_metrics(&r.body, false);
    (
        sample(&m, "pharos_zone_persist_failures_total", &[]),
        sample(&m, "pharos_zone_persist_failing", &[("zone", ZONE)]),
    )
}

#[test]
fn a_version_that_cannot_be_written_is_not_served_until_it_is() {
    if !pharos_only("a_version_that_cannot_be_written_is_not_served_until_it_is") {
        return;
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tmpfs = if is_root { Tmpfs::mount("2m") } else { None };
    let Some(tmpfs) = tmpfs else {
        eprintln!("skipped: a_version_that_cannot_be_written_is_not_served_until_it_is needs root to mount a tmpfs");
        return;
    };
    let data_dir: PathBuf = tmpfs.path().join("var");
    let mut knot = KnotPrimary::start(ZONE, &zone_text(1));
    let mut node = MgmtNode::start(PharosOpts {
        extra_toml: format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n",
            toml_str(ZONE),
            toml_str(&knot.addr_str())
        ),
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        data_dir: Some(data_dir.clone()),
        ..Default::default()
    });
    knot.notify_to(node.pharos.port);
    assert_eq!(serial(&node.pharos), Some(1));

    // The disk fills up; the primary gets a new serial.
    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    let from = node.pharos.log().len();
    knot.add_record("new", 300, "A", "192.0.2.99");
    let s2 = knot.serial();
    assert!(s2 > 1);
    wait_until(&node.pharos, Duration::from_secs(15), "persist error in /zones", || {
        node.get(&format!("/zones/{ZONE}")).json()["persist-error"].is_string()
    });
    // Not served, however often it is asked.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        serial(&node.pharos),
        Some(1),
        "a version that was never written is served"
    );
    let z = node.get(&format!("/zones/{ZONE}")).json();
    eprintln!(
        "disk full ({filled} bytes of filler): /zones says {}",
        z["persist-error"]
    );
    assert!(
        z["persist-error"].as_str().is_some_and(|e| e.contains(&s2.to_string())),
        "{z}"
    );
    let (failures, failing) = persist_metrics(&node);
    assert!(failures >= 1.0, "pharos_zone_persist_failures_total = {failures}");
    assert_eq!(failing, 1.0, "pharos_zone_persist_failing{{zone={ZONE}}}");
    let status = pharos_cmd(&["status", "--mgmt", &node.url()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("unwritten"), "pharos status does not show it:\n{text}");
    let log = node.pharos.log();
    let not_served = log[from..]
        .lines()
        .filter(|l| l.contains("new version not served"))
        .count();
    assert_eq!(
        not_served,
        1,
        "logged once per failure state\n{}",
        node.pharos.log_tail(30)
    );

    // Space returns: written and served without anyone asking.
    std::fs::remove_file(&filler).expect("remove filler");
    let took = wait_until(
        &node.pharos,
        Duration::from_secs(40),
        "new serial after space returned",
        || serial(&node.pharos) == Some(s2),
    );
    eprintln!("served {:.1} s after space returned", took.as_secs_f64());
    let z = node.get(&format!("/zones/{ZONE}")).json();
    assert!(z["persist-error"].is_null(), "{z}");
    assert_eq!(persist_metrics(&node).1, 0.0);

    // And it is on disk: kill -9, restart with the primary down.
    node.pharos.kill9();
    knot.stop();
    node.pharos.restart(Some(ZONE));
    assert_eq!(
        serial(&node.pharos),
        Some(s2),
        "the restart went back to an older serial"
    );
}
