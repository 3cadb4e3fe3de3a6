//! The static binary (scripts/build-static.sh) runs in an empty chroot: no
//! shared libraries, no toolchain, nothing but itself, a config and a zone.
//!
//! `PHAROS_STATIC_BIN=/path/to/pharos` skips the build and checks that
//! binary instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo_root;

fn static_binary() -> PathBuf {
    if let Ok(p) = std::env::var("PHAROS_STATIC_BIN") {
        return PathBuf::from(p);
    }
    let out = Command::new(repo_root().join("scripts/build-static.sh"))
        .args(["--target-dir", &repo_root().join("target/static").to_string_lossy()])
        .output()
        .expect("run scripts/build-static.sh");
    assert!(
        out.status.success(),
        "scripts/build-static.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs `args` inside `root` as its `/` (chroot as root; else in a user
/// namespace).
fn in_chroot(root: &Path, args: &[&str]) -> std::process::Output {
    let is_root = unsafe_free_uid() == 0;
    let mut cmd = if is_root {
        Command::new("chroot")
    } else {
        let mut c = Command::new("unshare");
        c.args(["--user", "--map-root-user", "chroot"]);
        c
    };
    // The program is found through our PATH; the chrooted one gets none.
    cmd.arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd.output().expect("run chroot")
}

fn unsafe_free_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

#[test]
fn static_binary_runs_in_an_empty_chroot() {
    let bin = static_binary();
    let ldd = Command::new("ldd").arg(&bin).output().expect("run ldd");
    let ldd_text = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        !ldd.status.success() || ldd_text.contains("statically linked"),
        "ldd lists shared libraries for {}:\n{ldd_text}",
        bin.display()
    );

    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&bin, root.path().join("pharos")).unwrap();
    std::fs::create_dir(root.path().join("zones")).unwrap();
    std::fs::write(
        root.path().join("zones/example.com.zone"),
        "$ORIGIN example.com.\n@ 300 SOA ns1 host 1 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("pharos.toml"),
        "[node]\nid = \"chroot\"\ndata-dir = \"/var\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
         [[zone]]\nname = \"example.com\"\nfile = \"/zones/example.com.zone\"\n",
    )
    .unwrap();
    // Nothing else in the root: no /lib, no /usr, no /etc.
    let entries: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");

    let v = in_chroot(root.path(), &["/pharos", "--version"]);
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success() && text.starts_with("pharos "),
        "--version in the chroot: {:?}\n{text}{}",
        v.status,
        String::from_utf8_lossy(&v.stderr)
    );

    let c = in_chroot(root.path(), &["/pharos", "check-config", "/pharos.toml"]);
    assert!(
        c.status.success() && String::from_utf8_lossy(&c.stdout).contains("ok (1 zones)"),
        "check-config in the chroot: {:?}\n{}{}",
        c.status,
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );

    // A broken config is still reported with its key path.
    std::fs::write(root.path().join("bad.toml"), "[node]\nid = 5\n").unwrap();
    let bad = in_chroot(root.path(), &["/pharos", "check-config", "/bad.toml"]);
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("node.id"));
}
