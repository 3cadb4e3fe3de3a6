//! External programs: [`require_program`] / [`require_dnspython`] checks
//! that name the Debian package to install, the [`kdig`] / [`dig`] clients,
//! and parsers for what those clients print ([`DigHeader`], the answer and
//! authority sections).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Absolute path of an external program, or a test failure that names the
/// Debian package to install.
pub fn require_program(name: &str, package: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    candidates.push(Path::new("/usr/sbin").join(name));
    candidates.push(Path::new("/usr/bin").join(name));
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "required program `{name}` not found (Debian package `{package}`): \
                 run scripts/test.sh, which installs it, or `apt-get install {package}`"
        )
    })
}

/// Fails the test unless `python3` on PATH can import dnspython.
pub fn require_dnspython() {
    let out = Command::new("python3")
        .args(["-c", "import dns.message, dns.version; print(dns.version.version)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install python3 (scripts/test.sh)"));
    assert!(
        out.status.success(),
        "python3 cannot import dnspython: `python3 -m pip install dnspython` \
         (scripts/test.sh does it)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `kdig ARGS` and returns its output (whatever the exit status).
pub fn kdig<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    run_client("kdig", "knot-dnsutils", args)
}

/// Runs `dig ARGS` and returns its output (whatever the exit status).
pub fn dig<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    run_client("dig", "dnsutils", args)
}

fn run_client<S: AsRef<std::ffi::OsStr>>(prog: &str, package: &str, args: &[S]) -> Output {
    let path = require_program(prog, package);
    let out = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    if std::env::var_os("PHAROS_TEST_VERBOSE").is_some() {
        eprintln!(
            "$ {prog} {}\n{}{}",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// The header fields a `dig` or `kdig` run printed (the LAST header in the
/// output, i.e. the final answer after a TCP retry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigHeader {
    pub status: String,
    pub flags: Vec<String>,
    pub query: u32,
    pub answer: u32,
    pub authority: u32,
    pub additional: u32,
}

impl DigHeader {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Parses the last `->>HEADER<<-` block of dig or kdig output; None if the
/// output has none (no answer).
pub fn parse_dig_header(text: &str) -> Option<DigHeader> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = lines.iter().rposition(|l| l.contains("->>HEADER<<-"))?;
    let mut h = DigHeader::default();
    // dig:  ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1"
    // kdig: ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 1"
    let status = lines[idx].split("status:").nth(1)?;
    h.status = status.trim().split([',', ';', ' ']).next().unwrap_or("").to_string();
    // dig:  ";; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1"
    // kdig: ";; Flags: qr aa rd; QUERY: 1; ANSWER: 1; AUTHORITY: 0; ADDITIONAL: 1"
    let flags_line = lines.get(idx + 1)?;
    let lower = flags_line.to_ascii_lowercase();
    let rest = lower.split("flags:").nth(1)?;
    let (flags, counts) = rest.split_once(';')?;
    h.flags = flags.split_whitespace().map(String::from).collect();
    for part in counts.split([',', ';']) {
        let Some((k, v)) = part.split_once(':') else {
            continue;
        };
        let v: u32 = v.trim().parse().ok()?;
        match k.trim() {
            "query" => h.query = v,
            "answer" => h.answer = v,
            "authority" => h.authority = v,
            "additional" => h.additional = v,
            _ => {}
        }
    }
    Some(h)
}

/// stdout of a client run as text, after asserting that it printed a header;
/// on failure the whole output is shown.
pub fn client_text(out: &Output) -> (String, DigHeader) {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let header = parse_dig_header(&text).unwrap_or_else(|| {
        panic!(
            "no DNS response in client output (exit {:?})\n--- stdout\n{text}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (text, header)
}

/// The records of the ANSWER SECTION in dig/kdig output (one line each,
/// whitespace collapsed), from the last response in the output.
pub fn answer_section(text: &str) -> Vec<String> {
    section_lines(text, "ANSWER SECTION:")
}

/// The records of the AUTHORITY SECTION (dig) / AUTHORITY SECTION (kdig).
pub fn authority_section(text: &str) -> Vec<String> {
    section_lines(text, "AUTHORITY SECTION:")
}

fn section_lines(text: &str, title: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = match lines.iter().rposition(|l| l.contains("->>HEADER<<-")) {
        Some(i) => i,
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut inside = false;
    for l in &lines[start..] {
        if l.contains(title) {
            inside = true;
            continue;
        }
        if inside {
            if l.trim().is_empty() || l.starts_with(";;") {
                break;
            }
            out.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}
