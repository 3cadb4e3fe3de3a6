//! The Debian package, built by `scripts/build-deb.sh` from this checkout
//! and installed on the test machine with the real `dpkg`:
//!
//! * `dpkg-deb -c` lists the binary, the unit, the conffile, the state
//!   directory, the man pages, the completions, the changelog;
//! * `lintian` reports nothing but the overrides the package explains;
//! * after `dpkg -i`: the `pharos` user owns `/var/lib/pharos`, the conffile
//!   is readable by its group only, `pharos check-config` passes on it (as
//!   the service user too), `systemd-analyze verify` is quiet on the unit,
//!   `man` finds both pages, and the installed binary answers on the
//!   example config (the time from `dpkg -i` to that answer is printed);
//! * an edited conffile survives a reinstall;
//! * `dpkg -r` removes the binary and keeps the config and the state;
//!   `dpkg -P` removes both.
//!
//! Needs root (dpkg). Refuses to run where a `pharos` package is already
//! installed: it would be removed.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Spawned, free_port, output_text as text, repo_root, require_program, wire};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {:?}\n{}",
        args.join(" "),
        out.status,
        text(&out)
    );
    text(&out)
}

fn installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${Status}", "pharos"]);
    String::from_utf8_lossy(&out.stdout).contains("install ok installed")
}

/// Purges the package at the end of the test, whatever happened.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = run("dpkg", &["-P", "pharos"]);
    }
}

fn build_deb(out: &Path) -> PathBuf {
    let build = Command::new(repo_root().join("scripts/build-deb.sh"))
        .arg("--out")
        .arg(out)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/build-deb.sh");
    assert!(build.status.success(), "scripts/build-deb.sh failed:\n{}", text(&build));
    let path = PathBuf::from(String::from_utf8_lossy(&build.stdout).trim());
    assert!(path.is_file(), "build-deb.sh printed {}", path.display());
    path
}

#[test]
fn the_debian_package_installs_serves_and_removes_cleanly() {
    assert_eq!(unsafe_euid(), 0, "this test installs a package: run it as root");
    require_program("dpkg-deb", "dpkg");
    require_program("lintian", "lintian");
    require_program("systemd-analyze", "systemd");
    require_program("man", "man-db");
    require_program("adduser", "adduser");
    assert!(
        !installed(),
        "a pharos package is installed on this machine; the test would remove it (dpkg -P pharos first)"
    );

    let work = tempfile::tempdir().unwrap();
    let deb = build_deb(work.path());
    let deb_str = deb.display().to_string();
    let size = fs::metadata(&deb).unwrap().len();

    // The files operators expect, where Debian puts them.
    let listing = run_ok("dpkg-deb", &["-c", &deb_str]);
    for want in [
        "./usr/bin/pharos",
        "./lib/systemd/system/pharos.service",
        "./etc/pharos/pharos.toml",
        "./var/lib/pharos/",
        "./usr/share/man/man8/pharos.8.gz",
        "./usr/share/man/man5/pharos.toml.5.gz",
        "./usr/share/bash-completion/completions/pharos",
        "./usr/share/zsh/vendor-completions/_pharos",
        "./usr/share/doc/pharos/changelog.gz",
        "./usr/share/doc/pharos/copyright",
        "./usr/share/pharos/prometheus/pharos-rules.yml",
        "./usr/share/pharos/grafana/pharos.json",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(want)),
            "dpkg-deb -c has no {want}:\n{listing}"
        );
    }
    let info = run_ok(
        "dpkg-deb",
        &["-f", &deb_str, "Installed-Size", "Version", "Architecture"],
    );
    let control = work.path().join("control");
    run_ok("dpkg-deb", &["-e", &deb_str, &control.display().to_string()]);
    assert_eq!(
        fs::read_to_string(control.join("conffiles")).unwrap().trim(),
        "/etc/pharos/pharos.toml"
    );

    // Lintian: every tag it still reports is overridden, with the reason
    // in the package's override file.
    let lint = run("lintian", &["-I", "-E", "--pedantic", "--fail-on", "none", &deb_str]);
    let tags: Vec<String> = String::from_utf8_lossy(&lint.stdout)
        .lines()
        .filter(|l| l.len() > 3 && l.as_bytes()[1] == b':' && !l.starts_with("N:") && !l.starts_with("O:"))
        .map(str::to_owned)
        .collect();
    assert!(tags.is_empty(), "lintian:\n{}", tags.join("\n"));

    let _purge = Purge;
    let t0 = Instant::now();
    run_ok("dpkg", &["-i", &deb_str]);
    let install_time = t0.elapsed();

    // The user, the state directory, the conffile's mode.
    let id = run_ok("id", &["-u", "pharos"]);
    let uid: u32 = id.trim().parse().expect("the pharos user's uid");
    let gid: u32 = run_ok("id", &["-g", "pharos"]).trim().parse().unwrap();
    let state = fs::metadata("/var/lib/pharos").expect("/var/lib/pharos");
    assert_eq!((state.uid(), state.gid()), (uid, gid), "owner of /var/lib/pharos");
    assert_eq!(state.permissions().mode() & 0o7777, 0o750);
    let conf = fs::metadata("/etc/pharos/pharos.toml").expect("/etc/pharos/pharos.toml");
    assert_eq!(
        (conf.uid(), conf.gid()),
        (0, gid),
        "owner of the conffile (root:pharos)"
    );
    assert_eq!(conf.permissions().mode() & 0o7777, 0o640, "the conffile holds secrets");

    // The installed default passes check-config, as root and as the
    // service user (the unit's ExecStartPre), and serves no zone.
    let check = run_ok("/usr/bin/pharos", &["check-config", "/etc/pharos/pharos.toml"]);
    assert!(check.contains("ok (0 zones)"), "{check}");
    run_ok(
        "runuser",
        &[
            "-u",
            "pharos",
            "--",
            "/usr/bin/pharos",
            "check-config",
            "/etc/pharos/pharos.toml",
        ],
    );

    // The unit: systemd-analyze verify says nothing.
    let verify = run("systemd-analyze", &["verify", "/lib/systemd/system/pharos.service"]);
    assert!(
        verify.status.success() && text(&verify).trim().is_empty(),
        "systemd-analyze verify: {:?}\n{}",
        verify.status,
        text(&verify)
    );

    // man renders both pages from the package (`man -l`), and finds the
    // installed ones, unless dpkg is told to leave man pages out (Docker's
    // Debian images are).
    let unpacked = work.path().join("unpacked");
    run_ok("dpkg-deb", &["-x", &deb_str, &unpacked.display().to_string()]);
    let man_excluded = fs::read_dir("/etc/dpkg/dpkg.cfg.d")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| fs::read_to_string(e.path()).is_ok_and(|t| t.contains("path-exclude=/usr/share/man")));
    for (section, page) in [("8", "pharos"), ("5", "pharos.toml")] {
        let file = unpacked.join(format!("usr/share/man/man{section}/{page}.{section}.gz"));
        let mut ways = vec![vec!["-l".to_string(), file.display().to_string()]];
        if !man_excluded {
            ways.push(vec![section.to_string(), page.to_string()]);
        }
        for args in ways {
            let out = Command::new("man")
                .args(&args)
                .env("MANWIDTH", "80")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .output()
                .expect("run man");
            let page_text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && page_text.contains("NAME") && page_text.contains(page),
                "man {}: {:?}\n{}",
                args.join(" "),
                out.status,
                text(&out)
            );
        }
    }

    // From `dpkg -i` to an answer: the installed binary, as the service
    // user, on the example config (loopback, a free port).
    let example = work.path().join("example");
    fs::create_dir_all(example.join("zones")).unwrap();
    fs::copy(
        repo_root().join("zones/example.com.zone"),
        example.join("zones/example.com.zone"),
    )
    .unwrap();
    let port = free_port(false);
    let mgmt_port = free_port(false);
    let config = fs::read_to_string(repo_root().join("config.example.toml"))
        .unwrap()
        .replace("\"127.0.0.1:5353\", \"[::1]:5353\"", &format!("\"127.0.0.1:{port}\""))
        .replace("127.0.0.1:8053", &format!("127.0.0.1:{mgmt_port}"));
    fs::write(example.join("pharos.toml"), config).unwrap();
    run_ok("chown", &["-R", "pharos:pharos", &example.display().to_string()]);
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let t1 = Instant::now();
    // Started as the service user directly (not through runuser, which
    // would fork): the PID killed on drop is pharos's own.
    let child = Command::new("/usr/bin/pharos")
        .args(["serve", "--config"])
        .arg(example.join("pharos.toml"))
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(work.path().join("serve.log")).unwrap())
        .spawn()
        .expect("start the installed pharos");
    let serving = Spawned(child);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let answered = loop {
        if let Ok(r) = wire::udp_query(addr, "example.com", 6, 1, Duration::from_millis(200))
            && r.rcode == 0
            && r.aa()
            && r.ancount > 0
        {
            break t1.elapsed();
        }
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "the installed pharos did not answer in 10 s:\n{}",
            fs::read_to_string(work.path().join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(serving);
    eprintln!(
        "package: {size} bytes; {}; dpkg -i took {:.2} s; the installed binary answered {:.3} s after it \
         started: {:.2} s from dpkg -i",
        info.split_whitespace().collect::<Vec<_>>().join(" "),
        install_time.as_secs_f64(),
        answered.as_secs_f64(),
        (install_time + answered).as_secs_f64()
    );

    // An operator's edit of the conffile survives a reinstall.
    let edited = fs::read_to_string("/etc/pharos/pharos.toml").unwrap() + "\n# edited by the operator\n";
    fs::write("/etc/pharos/pharos.toml", &edited).unwrap();
    let reinstall = run_ok("dpkg", &["--force-confold", "-i", &deb_str]);
    assert_eq!(
        fs::read_to_string("/etc/pharos/pharos.toml").unwrap(),
        edited,
        "{reinstall}"
    );

    // Remove: the binary goes, the config and the state stay.
    fs::write("/var/lib/pharos/state-marker", "zones live here").unwrap();
    run_ok("dpkg", &["-r", "pharos"]);
    assert!(!Path::new("/usr/bin/pharos").exists(), "dpkg -r left /usr/bin/pharos");
    assert!(!Path::new("/lib/systemd/system/pharos.service").exists());
    assert!(
        Path::new("/etc/pharos/pharos.toml").exists(),
        "dpkg -r removed the config"
    );
    assert!(
        Path::new("/var/lib/pharos/state-marker").exists(),
        "dpkg -r removed the state"
    );

    // Purge: both go.
    run_ok("dpkg", &["-P", "pharos"]);
    assert!(!Path::new("/etc/pharos").exists(), "dpkg -P left /etc/pharos");
    assert!(!Path::new("/var/lib/pharos").exists(), "dpkg -P left /var/lib/pharos");
    assert!(!installed());
}

fn unsafe_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
