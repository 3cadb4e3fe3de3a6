//! Files the config points at are bounded (issue 10, item 6): a zone file,
//! an `$INCLUDE`d file, the config file itself and the token file that is
//! a device, a FIFO or a directory is refused at once with an error naming
//! it, instead of being read until memory runs out (`/dev/zero`) or
//! blocking forever (a FIFO nobody writes to). The same in
//! `pharos check-config`, at `serve` start-up, on SIGHUP, and for the token
//! file read on every mutating API call.
//!
//! Every child process runs under a deadline and is killed (by PID) if it
//! passes it, so a regression fails the test instead of hanging it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{MgmtNode, Pharos, PharosOpts, Zone, pharos_bin, toml_str, wire};

/// Far more than a refusal takes; far less than reading 10 GB of zeros.
const DEADLINE: Duration = Duration::from_secs(10);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path in a temp dir we own.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// Runs `pharos check-config FILE`, killing it after [`DEADLINE`].
fn check_config(file: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(pharos_bin())
        .arg("check-config")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the pharos binary");
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "check-config {} still running after {DEADLINE:?}; killed\n--- stderr\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("wait");
    (out, started.elapsed())
}

/// A config in `dir` with one file zone `name` read from `zone_file`.
fn config_with_zone(dir: &Path, name: &str, zone_file: &Path) -> PathBuf {
    let path = dir.join("pharos.toml");
    std::fs::write(
        &path,
        format!(
            "[node]\nid = \"bounded\"\ndata-dir = \"var\"\n\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\n\
             [[zone]]\nname = {}\nfile = {}\n",
            toml_str(name),
            toml_str(&zone_file.to_string_lossy())
        ),
    )
    .unwrap();
    path
}

/// check-config exits 1 within the deadline, and stderr has every needle.
fn assert_refused(file: &Path, needles: &[&str]) {
    let (out, took) = check_config(file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("check-config refused in {took:?}:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} missing from:\n{stderr}");
    }
}

#[test]
fn check_config_refuses_a_device_as_zone_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_zone(dir.path(), "zero.test", Path::new("/dev/zero"));
    assert_refused(&config, &["zone zero.test", "/dev/zero", "character device"]);
}

#[test]
fn check_config_refuses_a_fifo_as_zone_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.test.zone");
    mkfifo(&fifo);
    let config = config_with_zone(dir.path(), "fifo.test", &fifo);
    assert_refused(&config, &["zone fifo.test", &fifo.to_string_lossy(), "FIFO"]);
}

#[test]
fn check_config_refuses_an_include_of_a_device_or_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("included.fifo");
    mkfifo(&fifo);
    for target in [PathBuf::from("/dev/zero"), fifo] {
        let zone = dir.path().join("inc.test.zone");
        std::fs::write(
            &zone,
            format!(
                "$ORIGIN inc.test.\n$TTL 300\n@ SOA ns1 host 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n\
                 $INCLUDE {}\n",
                target.display()
            ),
        )
        .unwrap();
        let config = config_with_zone(dir.path(), "inc.test", &zone);
        assert_refused(
            &config,
            &["zone inc.test", &target.to_string_lossy(), "not a regular file"],
        );
    }
}

#[test]
fn check_config_refuses_a_config_that_is_a_fifo_or_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pharos.toml");
    mkfifo(&fifo);
    assert_refused(&fifo, &[&fifo.to_string_lossy(), "FIFO"]);
    assert_refused(Path::new("/dev/zero"), &["/dev/zero", "character device"]);
}

/// `serve` with a FIFO as one zone's file starts, serves the other zone,
/// and answers SERVFAIL for that one; SIGHUP adding a zone whose file is
/// `/dev/zero` is applied at once, the node answering throughout.
#[test]
fn serve_and_sighup_refuse_special_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.test.zone");
    mkfifo(&fifo);
    let p = Pharos::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        extra_toml: format!(
            "[[zone]]\nname = \"fifo.test\"\nfile = {}\n",
            toml_str(&fifo.to_string_lossy())
        ),
        ipv6: false,
        ..Default::default()
    });
    let r = p.query("fifo.test", wire::TYPE_SOA).expect("an answer for fifo.test");
    assert_eq!(r.rcode, 2, "fifo.test: {r}");
    assert!(p.log().contains("FIFO"), "{}", p.log_tail(20));

    let mut config = std::fs::read_to_string(&p.config).unwrap();
    config.push_str("\n[[zone]]\nname = \"zero.test\"\nfile = \"/dev/zero\"\n");
    std::fs::write(&p.config, config).unwrap();
    let from = p.log().len();
    p.signal(libc::SIGHUP);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let log = p.log();
        let new = log.get(from..).unwrap_or("");
        if new.contains("SIGHUP: configuration applied") {
            assert!(new.contains("/dev/zero") && new.contains("character device"), "{new}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP not applied within {DEADLINE:?}\n{new}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = p.query("example.com", wire::TYPE_SOA).expect("an answer after SIGHUP");
    assert_eq!(r.rcode, 0, "{r}");
    let r = p.query("zero.test", wire::TYPE_SOA).expect("an answer for zero.test");
    assert_eq!(r.rcode, 2, "zero.test: {r}");
}

/// The token file is a FIFO: a mutating call gets 503 naming it at once
/// (not a handler stuck in `open`), again and again, and read-only calls
/// keep working; a regular token file again: the call is authorized.
#[test]
fn a_fifo_token_file_answers_503_without_hanging() {
    let node = MgmtNode::start(PharosOpts {
        zones: vec![Zone::new("example.com", Path::new("zones/example.com.zone"))],
        ipv6: false,
        ..Default::default()
    });
    let token = node.token_file();
    std::fs::remove_file(&token).unwrap();
    mkfifo(&token);
    for _ in 0..8 {
        let started = Instant::now();
        let r = node.call("POST", "/maintenance", Some(r#"{"enabled": false}"#));
        assert!(started.elapsed() < DEADLINE, "the call took {:?}", started.elapsed());
        assert_eq!(r.status, 503, "{}", r.body);
        let e = r.error();
        assert!(
            e.contains(&token.to_string_lossy().to_string()) && e.contains("FIFO"),
            "{e}"
        );
    }
    assert_eq!(node.get("/status").status, 200);
    std::fs::remove_file(&token).unwrap();
    node.write_token(common::TOKEN);
    let r = node.call("POST", "/maintenance", Some(r#"{"enabled": false}"#));
    assert_eq!(r.status, 200, "{}", r.body);
}
