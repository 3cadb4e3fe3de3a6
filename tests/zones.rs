//! Zone loading by the real binary: errors in zone files are reported with
//! file and line (by `pharos check-config` and in the `serve` log), a broken
//! zone answers SERVFAIL while the others are served, the master-file directives
//! (`$ORIGIN`, `$TTL`, `$INCLUDE`) and RFC 3597 generic syntax load as
//! written, and missing glue is only a warning.
//!
//! Every zone file is written into a temp dir by the test.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::wire::{self, Reply};
use common::{Pharos, PharosOpts, Zone, answer_section, client_text, kdig, pharos_check_config};

const NOERROR: u8 = 0;
const SERVFAIL: u8 = 2;
const TYPE_UNKNOWN: u16 = 65000;

/// A valid zone for `origin`; the broken zones below are this plus or minus
/// a few lines, so each failure is caused by the lines the test changes.
/// The SOA spans lines 4-6.
fn base_zone(origin: &str) -> String {
    format!(
        "; written by tests/zones.rs\n\
         $ORIGIN {origin}.\n\
         $TTL 300\n\
         @       IN SOA  ns1 hostmaster (\n\
         \x20               2024070101 ; serial\n\
         \x20               7200 3600 1209600 300 )\n\
         @       NS      ns1\n\
         @       NS      ns2\n\
         ns1     A       192.0.2.53\n\
         ns2     A       192.0.2.54\n\
         www     A       192.0.2.80\n"
    )
}

/// Writes `text` to `dir/rel` (creating directories) and returns the path.
fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// 1-based number of the only line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} must be on exactly one line of:\n{text}");
    hits[0] as u32
}

/// The text without ANSI colour sequences (the log may be coloured).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn check(zones: &[Zone]) -> Output {
    pharos_check_config(&PharosOpts::with_zones(zones.to_vec()))
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that check-config failed with exit status 1.
fn assert_rejected(out: &Output, what: &str) -> String {
    let stderr = stderr_of(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "check-config on {what}: exit status\n--- stdout\n{}--- stderr\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The first line of `text` naming `path:line:`; panics (showing `text`) if
/// there is none.
fn line_naming<'a>(text: &'a str, path: &Path, line: u32) -> &'a str {
    let at = format!("{}:{line}:", path.display());
    text.lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("no message names {at}\n--- output\n{text}"))
}

/// Every line number N that `text` names as `path:N:`.
fn lines_named(text: &str, path: &Path) -> Vec<u32> {
    let prefix = format!("{}:", path.display());
    let mut out = Vec::new();
    for (i, _) in text.match_indices(&prefix) {
        let rest = &text[i + prefix.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<u32>()
            && rest[digits.len()..].starts_with(':')
        {
            out.push(n);
        }
    }
    out
}

/// Asserts that `text` names `path` with the number of a line of `file_text`
/// that holds a record (not blank, not only a comment).
fn assert_names_a_record_line(text: &str, path: &Path, file_text: &str) -> u32 {
    let named = lines_named(text, path);
    let lines: Vec<&str> = file_text.lines().collect();
    named
        .iter()
        .copied()
        .find(|&n| {
            n >= 1
                && lines.get(n as usize - 1).is_some_and(|l| {
                    let l = l.split(';').next().unwrap().trim();
                    !l.is_empty() && !l.starts_with('$')
                })
        })
        .unwrap_or_else(|| {
            panic!(
                "no message names {} with the line of a record (named lines: {named:?})\n--- output\n{text}",
                path.display()
            )
        })
}

fn query(p: &Pharos, name: &str, qtype: u16) -> Reply {
    p.query(name, qtype)
        .unwrap_or_else(|e| panic!("{name} type {qtype}: no answer over UDP: {e}"))
}

fn assert_soa_served(p: &Pharos, zone: &str) {
    let r = query(p, zone, wire::TYPE_SOA);
    assert!(
        r.rcode == NOERROR && r.aa() && r.answers.iter().any(|rr| rr.rtype == wire::TYPE_SOA),
        "{zone} SOA must be answered authoritatively: {r}"
    );
}

/// A zone whose file does not load is a zone-level failure: SERVFAIL, as
/// Knot answers for it (not REFUSED, which says "not my zone").
fn assert_servfail(p: &Pharos, name: &str, qtype: u16) {
    let r = query(p, name, qtype);
    assert_eq!(
        r.rcode, SERVFAIL,
        "{name} type {qtype} must be SERVFAIL (zone not loaded): {r}"
    );
    assert_eq!(r.ancount, 0, "{name}: answers on SERVFAIL: {r}");
}

/// The one A record of `name`, as (address, TTL).
fn one_a(p: &Pharos, name: &str) -> ([u8; 4], u32) {
    let r = query(p, name, wire::TYPE_A);
    assert_eq!(r.rcode, NOERROR, "{name} A: {r}");
    assert!(r.aa(), "{name} A: AA clear: {r}");
    let a: Vec<_> = r.answers.iter().filter(|rr| rr.rtype == wire::TYPE_A).collect();
    assert_eq!(a.len(), 1, "{name} A: one A record expected: {:?}", r.answers);
    assert!(
        a[0].name.eq_ignore_ascii_case(&format!("{name}.")),
        "{name} A: owner {}",
        a[0].name
    );
    (a[0].rdata.clone().try_into().expect("A rdata of 4 octets"), a[0].ttl)
}

// ---------------------------------------------------------------- check-config

/// The base zone is valid: check-config exits 0 on it (so the failures below
/// come from the lines each test adds or removes).
#[test]
fn check_config_accepts_the_base_zone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "base.test.zone", &base_zone("base.test"));
    let out = check(&[Zone::new("base.test", &path)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "check-config on a valid zone\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
}

/// A CNAME beside other data: exit 1, and the message names the zone file
/// and the line of the CNAME.
#[test]
fn check_config_names_file_and_line_of_cname_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}alias   CNAME   www\nalias   A       192.0.2.1\n",
        base_zone("cname.test")
    );
    let path = write(dir.path(), "cname.test.zone", &text);
    let stderr = assert_rejected(&check(&[Zone::new("cname.test", &path)]), "a CNAME beside an A");
    let line = line_naming(&stderr, &path, line_of(&text, "CNAME"));
    assert!(line.contains("CNAME"), "the message should say what is wrong: {line}");
    assert!(stderr.contains("cname.test"), "zone name missing:\n{stderr}");
}

/// A syntax error (an IPv4 address with 300 in it) after a multi-line SOA
/// and directives: exit 1, and the message names the file and that line.
#[test]
fn check_config_names_file_and_line_of_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}$TTL 60\n\n; a comment line\nmail    A       192.0.2.25\nx       A       300.1.1.1\nafter   A       192.0.2.26\n",
        base_zone("syntax.test")
    );
    let path = write(dir.path(), "syntax.test.zone", &text);
    let stderr = assert_rejected(&check(&[Zone::new("syntax.test", &path)]), "A 300.1.1.1");
    line_naming(&stderr, &path, line_of(&text, "300.1.1.1"));
}

/// An error inside a relative `$INCLUDE`: the message names the included
/// file and the line inside it.
#[test]
fn check_config_names_included_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let inc_text =
        "; hosts\nhost1   A       192.0.2.101\nhost2   AAAA    not-an-address\nhost3   A       192.0.2.103\n";
    let inc = write(dir.path(), "inc/hosts.inc", inc_text);
    let text = format!("{}$INCLUDE inc/hosts.inc\n", base_zone("incl.test"));
    let path = write(dir.path(), "incl.test.zone", &text);
    let stderr = assert_rejected(
        &check(&[Zone::new("incl.test", &path)]),
        "a bad record in an $INCLUDEd file",
    );
    line_naming(&stderr, &inc, line_of(inc_text, "not-an-address"));
}

// ---------------------------------------------------------------- serve

/// Two zones, one broken: the good one is served, the broken one's names
/// get SERVFAIL, and the log names the broken zone with file:line.
#[test]
fn serve_leaves_out_only_the_broken_zone() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.test.zone", &base_zone("good.test"));
    let bad_text = format!("{}www     CNAME   ns1\n", base_zone("broken.test"));
    let bad = write(dir.path(), "broken.test.zone", &bad_text);
    let p = Pharos::start(PharosOpts {
        zones: vec![Zone::new("good.test", &good), Zone::new("broken.test", &bad)],
        ready_zone: Some("good.test".into()),
        ..Default::default()
    });
    assert_soa_served(&p, "good.test");
    assert_eq!(one_a(&p, "www.good.test").0, [192, 0, 2, 80]);
    assert_servfail(&p, "broken.test", wire::TYPE_SOA);
    assert_servfail(&p, "www.broken.test", wire::TYPE_A);
    assert_servfail(&p, "ns1.broken.test", wire::TYPE_A);

    let log = strip_ansi(&p.log());
    let line = line_naming(&log, &bad, line_of(&bad_text, "CNAME"));
    assert!(line.contains("broken.test"), "log line does not name the zone: {line}");
    assert!(
        !log.lines().any(|l| l.contains("ERROR") && l.contains("good.test")),
        "an error logged for the good zone:\n{log}"
    );
}

/// `$ORIGIN`, `$TTL`, relative `$INCLUDE` with and without an origin, and
/// RFC 3597 generic syntax for an unknown and a known type.
#[test]
fn directives_and_generic_syntax() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "parts/hosts.inc",
        "$TTL 400\nhost1   A   192.0.2.101\n$ORIGIN elsewhere.gen.test.\nhost2   A   192.0.2.102\n",
    );
    write(
        dir.path(),
        "parts/other.inc",
        "$TTL 500\n@       A   192.0.2.110\nx       A   192.0.2.111\n",
    );
    let text = "\
$ORIGIN gen.test.
$TTL 1234
@       SOA     ns1 hostmaster 7 7200 3600 1209600 300
@       NS      ns1
ns1     A       192.0.2.53
$TTL 600
ttl600  A       192.0.2.60
ttl77   77 A    192.0.2.77
$ORIGIN sub.gen.test.
www     A       192.0.2.10
$ORIGIN gen.test.
$INCLUDE parts/hosts.inc
$INCLUDE parts/other.inc other.gen.test.
after   A       192.0.2.99
unknown TYPE65000 \\# 4 0A000001
generic TYPE1   \\# 4 C0000202
";
    let path = write(dir.path(), "gen.test.zone", text);
    let p = Pharos::start(PharosOpts::with_zones(vec![Zone::new("gen.test", &path)]));

    // $TTL, and an explicit TTL beside it
    assert_eq!(one_a(&p, "ns1.gen.test"), ([192, 0, 2, 53], 1234), "ns1: $TTL 1234");
    assert_eq!(one_a(&p, "ttl600.gen.test"), ([192, 0, 2, 60], 600), "ttl600: $TTL 600");
    assert_eq!(
        one_a(&p, "ttl77.gen.test"),
        ([192, 0, 2, 77], 77),
        "ttl77: explicit TTL"
    );
    // $ORIGIN
    assert_eq!(
        one_a(&p, "www.sub.gen.test").0,
        [192, 0, 2, 10],
        "www after $ORIGIN sub.gen.test."
    );
    // $INCLUDE without an origin: the including file's origin
    assert_eq!(
        one_a(&p, "host1.gen.test"),
        ([192, 0, 2, 101], 400),
        "host1 from parts/hosts.inc"
    );
    // ... where an $ORIGIN applies to the rest of the included file
    assert_eq!(one_a(&p, "host2.elsewhere.gen.test").0, [192, 0, 2, 102]);
    // $INCLUDE with an origin
    assert_eq!(
        one_a(&p, "other.gen.test"),
        ([192, 0, 2, 110], 500),
        "@ in parts/other.inc"
    );
    assert_eq!(
        one_a(&p, "x.other.gen.test").0,
        [192, 0, 2, 111],
        "x in parts/other.inc"
    );
    // RFC 1035 5.1: an $INCLUDE does not change the including file's origin
    assert_eq!(
        one_a(&p, "after.gen.test"),
        ([192, 0, 2, 99], 600),
        "the record after the $INCLUDEs"
    );
    for name in ["after.other.gen.test", "after.elsewhere.gen.test"] {
        let r = query(&p, name, wire::TYPE_A);
        assert_eq!(
            r.rcode, 3,
            "{name} must not exist (origin leaked out of an $INCLUDE): {r}"
        );
    }

    // RFC 3597: an unknown type and a known type in generic syntax
    let r = query(&p, "unknown.gen.test", TYPE_UNKNOWN);
    assert_eq!((r.rcode, r.ancount), (NOERROR, 1), "unknown TYPE65000: {r}");
    assert_eq!(r.answers[0].rtype, TYPE_UNKNOWN);
    assert_eq!(r.answers[0].rdata, vec![0x0a, 0, 0, 1]);
    assert_eq!(
        one_a(&p, "generic.gen.test"),
        ([192, 0, 2, 2], 600),
        "TYPE1 \\# 4 C0000202"
    );

    // and as a client shows them
    let mut args = p.at();
    args.extend(["+norec", "unknown.gen.test", "TYPE65000"].map(String::from));
    let (text, h) = client_text(&kdig(&args));
    assert_eq!(h.status, "NOERROR", "{text}");
    assert_eq!(
        answer_section(&text),
        vec!["unknown.gen.test. 600 IN TYPE65000 \\# 4 0A000001"],
        "{text}"
    );
    let mut args = p.at();
    args.extend(["+norec", "generic.gen.test", "A"].map(String::from));
    let (text, _) = client_text(&kdig(&args));
    assert_eq!(
        answer_section(&text),
        vec!["generic.gen.test. 600 IN A 192.0.2.2"],
        "{text}"
    );
}

// ---------------------------------------------------------------- structural errors

/// A broken variant of the base zone for one structural test.
struct Broken {
    zone: &'static str,
    text: String,
    path: PathBuf,
}

fn broken_zones(dir: &Path) -> Vec<Broken> {
    let no_ns: String = base_zone("nons.test")
        .lines()
        .filter(|l| !l.contains(" NS "))
        .map(|l| format!("{l}\n"))
        .collect();
    let outside = format!("{}other.example.org.  A   192.0.2.9\n", base_zone("outside.test"));
    let base = base_zone("nosoa.test");
    let no_soa: String = base
        .lines()
        .enumerate()
        .filter(|(i, _)| !(3..=5).contains(i)) // the three lines of the SOA
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    assert!(!no_soa.contains("SOA") && !no_soa.contains("7200"), "{no_soa}");
    assert!(!no_ns.contains(" NS ") && no_ns.contains("SOA"), "{no_ns}");
    [("nons.test", no_ns), ("outside.test", outside), ("nosoa.test", no_soa)]
        .into_iter()
        .map(|(zone, text)| Broken {
            zone,
            path: write(dir, &format!("{zone}.zone"), &text),
            text,
        })
        .collect()
}

/// A zone without NS at the apex: rejected, the message names file and line.
#[test]
fn zone_without_apex_ns_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let b = broken_zones(dir.path())
        .into_iter()
        .find(|b| b.zone == "nons.test")
        .unwrap();
    let stderr = assert_rejected(&check(&[Zone::new(b.zone, &b.path)]), "a zone without apex NS");
    let n = assert_names_a_record_line(&stderr, &b.path, &b.text);
    let line = line_naming(&stderr, &b.path, n);
    assert!(line.contains("NS"), "the message should say NS is missing: {line}");
}

/// A record outside the zone: rejected, the message names file and line.
#[test]
fn record_outside_the_zone_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let b = broken_zones(dir.path())
        .into_iter()
        .find(|b| b.zone == "outside.test")
        .unwrap();
    let stderr = assert_rejected(&check(&[Zone::new(b.zone, &b.path)]), "a record outside the zone");
    let line = line_naming(&stderr, &b.path, line_of(&b.text, "other.example.org."));
    assert!(
        line.contains("other.example.org") && line.contains("outside"),
        "the message should name the record and say it is outside the zone: {line}"
    );
}

/// A zone without SOA: rejected, the message names file and line.
#[test]
fn zone_without_soa_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let b = broken_zones(dir.path())
        .into_iter()
        .find(|b| b.zone == "nosoa.test")
        .unwrap();
    let stderr = assert_rejected(&check(&[Zone::new(b.zone, &b.path)]), "a zone without SOA");
    let n = assert_names_a_record_line(&stderr, &b.path, &b.text);
    let line = line_naming(&stderr, &b.path, n);
    assert!(line.contains("SOA"), "the message should say SOA is missing: {line}");
}

/// `serve` with the three structurally broken zones and a good one: only the
/// good one is answered (the others SERVFAIL), and the log names each broken
/// zone's file with a line.
#[test]
fn serve_answers_servfail_for_structurally_broken_zones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "fine.test.zone", &base_zone("fine.test"));
    let broken = broken_zones(dir.path());
    let mut zones = vec![Zone::new("fine.test", &good)];
    zones.extend(broken.iter().map(|b| Zone::new(b.zone, &b.path)));
    let p = Pharos::start(PharosOpts {
        zones,
        ready_zone: Some("fine.test".into()),
        ..Default::default()
    });
    assert_soa_served(&p, "fine.test");
    let log = strip_ansi(&p.log());
    for b in &broken {
        assert_servfail(&p, b.zone, wire::TYPE_SOA);
        assert_servfail(&p, &format!("www.{}", b.zone), wire::TYPE_A);
        let n = assert_names_a_record_line(&log, &b.path, &b.text);
        let line = line_naming(&log, &b.path, n);
        assert!(
            line.contains(b.zone),
            "log line does not name the zone {}: {line}",
            b.zone
        );
    }
}

// ---------------------------------------------------------------- warnings

/// A delegation whose in-bailiwick name server has no address (missing
/// glue) is a warning: check-config passes and says so, the zone is served
/// (with the referral), and the log warns about the delegation.
#[test]
fn missing_glue_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}sub     NS      ns.sub\n", base_zone("glue.test"));
    let path = write(dir.path(), "glue.test.zone", &text);
    let zone = Zone::new("glue.test", &path);

    let out = check(std::slice::from_ref(&zone));
    let stderr = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "check-config must accept missing glue (a warning)\n--- stdout\n{}--- stderr\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.to_ascii_lowercase().contains("warn") && l.contains("sub.glue.test")),
        "check-config gave no warning about the delegation sub.glue.test:\n{stderr}"
    );

    let p = Pharos::start(PharosOpts::with_zones(vec![zone]));
    assert_soa_served(&p, "glue.test");
    assert_eq!(one_a(&p, "www.glue.test").0, [192, 0, 2, 80]);
    // the referral
    let r = query(&p, "host.sub.glue.test", wire::TYPE_A);
    assert_eq!(
        (r.rcode, r.ancount),
        (NOERROR, 0),
        "referral for host.sub.glue.test: {r}"
    );
    assert!(!r.aa(), "a referral is not authoritative: {r}");
    assert!(
        r.authority
            .iter()
            .any(|rr| rr.rtype == wire::TYPE_NS && rr.name.eq_ignore_ascii_case("sub.glue.test.")),
        "no NS sub.glue.test in the referral: {:?}",
        r.authority
    );

    let log = strip_ansi(&p.log());
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("sub.glue.test") && l.contains("ns.sub.glue.test"))
        .unwrap_or_else(|| panic!("no warning about the delegation sub.glue.test in the log:\n{log}"));
    assert!(
        warning.contains("delegation") || warning.contains("glue"),
        "the warning should say what is wrong: {warning}"
    );
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "missing glue logged as an error:\n{log}"
    );
}
