//! Differential test: pharos and Knot DNS serve the same zones
//! (tests/dnsdiff/zones/*.zone) and get the same queries
//! (tests/dnsdiff/queries.txt); tests/dnsdiff/dnsdiff.py reports every
//! difference that tests/dnsdiff/pharos.ignore does not tolerate.
//!
//! Needs knotd (Debian `knot`) and python3 with dnspython; scripts/test.sh
//! installs both.  To look at one difference by hand:
//!
//! ```sh
//! cd tests/dnsdiff && TEST_SERVER=pharos ./run-pair.sh zones \
//!     --ignore-file pharos.ignore --show LINE
//! ```

mod common;

use std::path::Path;
use std::process::Command;

use common::{Knot, KnotOpts, Pharos, PharosOpts, dnsdiff_dir, dnsdiff_zones, require_dnspython, tail};

/// Runs dnsdiff.py between `reference` and `test` and returns (exit code, stdout, stderr).
fn run_dnsdiff(reference: &str, test: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    require_dnspython();
    let dir = dnsdiff_dir();
    let out = Command::new("python3")
        .arg(dir.join("dnsdiff.py"))
        .arg(reference)
        .arg(test)
        .arg(dir.join("queries.txt"))
        .args(extra)
        .output()
        .expect("cannot run python3 tests/dnsdiff/dnsdiff.py");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The difference lines ("L<line> <query> :: <category>: ...") of a run.
fn difference_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with('L') && l.contains(" :: "))
        .collect()
}

fn summary(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or("(no output)")
}

#[test]
fn pharos_answers_like_knot() {
    let zones = dnsdiff_zones();
    // Transfers out: both servers allow them from 127.0.0.1 for the zones
    // marked `; dnsdiff: allow-axfr` (the allowed-transfer case) and
    // refuse them for the others.
    let knot_opts = KnotOpts::dnsdiff(zones.clone());
    let knot = Knot::start_with(knot_opts, 0);
    let pharos = Pharos::start(PharosOpts {
        zones: zones.clone(),
        node_id: "dnsdiff".into(),
        nsid: true,
        version: Some("pharos".into()),
        udp_payload: 1232,
        ipv6: false,
        axfr_marker: true,
        ..Default::default()
    });
    let ignore = dnsdiff_dir().join("pharos.ignore");
    let (code, stdout, stderr) = run_dnsdiff(
        &knot.addr_str(),
        &pharos.addr_str(),
        &["--ignore-file", ignore.to_str().unwrap()],
    );
    if code != Some(0) {
        let diffs = difference_lines(&stdout);
        let per_category: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("differences by category") || l.starts_with("ignored differences"))
            .collect();
        panic!(
            "dnsdiff: pharos (127.0.0.1:{}) differs from Knot (127.0.0.1:{}) -- exit {code:?}\n\
             {summary}\n{cats}\n\n{n} difference lines:\n{lines}\n\n--- dnsdiff stderr\n{err}\n\
             Reproduce one: cd tests/dnsdiff && TEST_SERVER=pharos ./run-pair.sh zones \
             --ignore-file pharos.ignore --show LINE",
            pharos.port,
            knot.port,
            summary = summary(&stdout),
            cats = per_category.join("\n"),
            n = diffs.len(),
            lines = diffs.join("\n"),
            err = tail(&stderr, 20),
        );
    }
    println!("{}", summary(&stdout));
    assert!(pharos.log().len() < 50_000_000, "pharos log is growing without bound");
}

/// The reference setup itself is sound: two Knots with the same settings
/// give 0 differences over the whole query file.  If this fails, the
/// harness (or Knot) is broken, not pharos.
#[test]
fn knot_against_knot_has_no_differences() {
    let zones = dnsdiff_zones();
    let a = Knot::start(&zones, 0);
    let b = Knot::start_with(KnotOpts::dnsdiff(zones.clone()), 0);
    let (code, stdout, stderr) = run_dnsdiff(&a.addr_str(), &b.addr_str(), &[]);
    assert_eq!(
        code,
        Some(0),
        "Knot vs Knot must be identical:\n{}\n{}\n{}",
        difference_lines(&stdout).join("\n"),
        summary(&stdout),
        tail(&stderr, 20)
    );
    let last = summary(&stdout);
    assert!(last.ends_with(" 0 differ"), "unexpected summary: {last}");
}

/// The harness's own unit tests (query parsing, comparison, ignore rules,
/// pharos.ignore hygiene).
#[test]
fn dnsdiff_harness_unit_tests() {
    require_dnspython();
    let dir = dnsdiff_dir();
    let out = Command::new("python3")
        .args(["-m", "unittest", "-v", "test_dnsdiff"])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("cannot run python3 -m unittest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/dnsdiff/test_dnsdiff.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr
    );
    assert!(stderr.contains("OK"), "unexpected unittest output:\n{stderr}");
}

/// The shell scripts of the harness parse.
#[test]
fn dnsdiff_scripts_parse() {
    let dir = dnsdiff_dir();
    for script in ["run-pair.sh", "selftest.sh"] {
        let path = dir.join(script);
        assert!(is_executable(&path), "{} is not executable", path.display());
        let out = Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("cannot run bash");
        assert!(
            out.status.success(),
            "bash -n {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}
