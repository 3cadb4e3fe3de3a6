//! The integration-test harness: start the real `pharos` binary (and, as a
//! reference, Knot DNS) on free loopback ports, query them, and clean up.
//!
//! * [`Pharos::start`] writes a config into a temp dir, spawns
//!   `pharos serve --config ...` with its stderr in `pharos.log` in that dir,
//!   and waits until it answers an authoritative SOA over UDP.  Dropping the
//!   handle kills the process (by PID); if the test is panicking, the tail of
//!   the log is printed first.
//! * [`Knot::start`] does the same for `knotd` with the same zone files.
//! * [`kdig`] / [`dig`] run the real clients; [`wire`] is a tiny DNS
//!   encoder/parser for the harness's own queries.
//!
//! Setting `PHAROS_TEST_AGAINST=knot` in the environment makes
//! [`Pharos::start`] start Knot DNS with the equivalent settings instead of
//! pharos, so a test can be checked against a known-good server.
//!
//! A test that needs an external program that is missing FAILS with a
//! message naming the Debian package: `scripts/test.sh` installs them all.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server gets to answer its first SOA query.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/dnsdiff` in the repository.
pub fn dnsdiff_dir() -> PathBuf {
    repo_root().join("tests/dnsdiff")
}

/// Every `tests/dnsdiff/zones/*.zone` as (origin, absolute path), sorted.
pub fn dnsdiff_zones() -> Vec<Zone> {
    zones_in(&dnsdiff_dir().join("zones"))
}

/// Every `DIR/*.zone` as a [`Zone`] (origin = file name without `.zone`), sorted.
pub fn zones_in(dir: &Path) -> Vec<Zone> {
    let mut zones: Vec<Zone> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read zone dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zone"))
        .map(|p| Zone::new(p.file_stem().unwrap().to_str().unwrap(), &p))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!zones.is_empty(), "no *.zone files in {}", dir.display());
    zones
}

/// A zone served from a file.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub file: PathBuf,
}

impl Zone {
    pub fn new(name: &str, file: &Path) -> Zone {
        let file = if file.is_absolute() {
            file.to_path_buf()
        } else {
            repo_root().join(file)
        };
        assert!(file.is_file(), "zone file {} does not exist", file.display());
        Zone {
            name: name.trim_end_matches('.').to_string(),
            file,
        }
    }

    /// True if the zone file carries the dnsdiff marker `; dnsdiff: allow-axfr`.
    pub fn allows_axfr(&self) -> bool {
        fs::read_to_string(&self.file)
            .map(|t| {
                t.lines().any(|l| {
                    let l = l.trim_start_matches(';').trim();
                    l.starts_with("dnsdiff:") && l.contains("allow-axfr")
                })
            })
            .unwrap_or(false)
    }
}

// ---------------------------------------------------------------- external programs

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

// ---------------------------------------------------------------- ports

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// True if the IPv6 loopback address can be bound here.
pub fn have_ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// A port that is free for both UDP and TCP on 127.0.0.1 (and on ::1 when
/// `ipv6`), and that this process has not handed out before.
pub fn free_port(ipv6: bool) -> u16 {
    for _ in 0..500 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = tcp.local_addr().unwrap().port();
        if handed_out().lock().unwrap().contains(&port) {
            continue;
        }
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        if ipv6 && (TcpListener::bind(("::1", port)).is_err() || UdpSocket::bind(("::1", port)).is_err()) {
            continue;
        }
        handed_out().lock().unwrap().insert(port);
        return port;
    }
    panic!("could not find a free port for UDP+TCP on loopback");
}

// ---------------------------------------------------------------- pharos

/// What [`Pharos::start`] puts into the config.
#[derive(Clone, Debug)]
pub struct PharosOpts {
    pub zones: Vec<Zone>,
    /// `[node] id`: NSID and CHAOS id.server / hostname.bind.
    pub node_id: String,
    /// `[dns] nsid`.
    pub nsid: bool,
    /// `[dns] version`; None leaves the key out (CHAOS version.bind REFUSED).
    pub version: Option<String>,
    /// `[dns] udp-payload`.
    pub udp_payload: u16,
    /// Also listen on `[::1]:PORT` (default: if the machine has an IPv6 loopback).
    pub ipv6: bool,
    /// TOML appended verbatim after the generated config (extra sections such
    /// as `[health]`, or more `[[zone]]` tables).  Keys inside `[node]` or
    /// `[dns]` go into `node_extra` / `dns_extra` instead.
    pub extra_toml: String,
    /// Lines added inside the generated `[node]` table.
    pub node_extra: String,
    /// Lines added inside the generated `[dns]` table.
    pub dns_extra: String,
    /// The zone whose SOA must be answered before `start` returns; default:
    /// the first zone.  None with no zones: wait only for the process to
    /// answer anything (any rcode) for `.` SOA.
    pub ready_zone: Option<String>,
}

impl Default for PharosOpts {
    fn default() -> Self {
        PharosOpts {
            zones: Vec::new(),
            node_id: "pharos-test".into(),
            nsid: true,
            version: Some("pharos".into()),
            udp_payload: 1232,
            // listen on [::1] too where the machine has an IPv6 loopback
            ipv6: have_ipv6_loopback(),
            extra_toml: String::new(),
            node_extra: String::new(),
            dns_extra: String::new(),
            ready_zone: None,
        }
    }
}

impl PharosOpts {
    pub fn with_zones(zones: Vec<Zone>) -> Self {
        PharosOpts {
            zones,
            ..Default::default()
        }
    }
}

/// A TOML basic string with `"` and `\` escaped.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The pharos config [`Pharos::start`] writes for `opts` on `port`.
pub fn pharos_config(opts: &PharosOpts, port: u16, data_dir: &Path) -> String {
    let mut c = String::from("# written by tests/common/mod.rs\n[node]\n");
    let _ = writeln!(c, "id = {}", toml_str(&opts.node_id));
    let _ = writeln!(c, "data-dir = {}", toml_str(&data_dir.to_string_lossy()));
    c.push_str(&opts.node_extra);
    if !c.ends_with('\n') {
        c.push('\n');
    }
    let mut listen = vec![format!("127.0.0.1:{port}")];
    if opts.ipv6 {
        listen.push(format!("[::1]:{port}"));
    }
    let _ = writeln!(
        c,
        "\n[dns]\nlisten = [{}]",
        listen.iter().map(|a| toml_str(a)).collect::<Vec<_>>().join(", ")
    );
    if let Some(v) = &opts.version {
        let _ = writeln!(c, "version = {}", toml_str(v));
    }
    let _ = writeln!(c, "nsid = {}", opts.nsid);
    let _ = writeln!(c, "udp-payload = {}", opts.udp_payload);
    c.push_str(&opts.dns_extra);
    if !c.ends_with('\n') {
        c.push('\n');
    }
    for z in &opts.zones {
        let _ = writeln!(
            c,
            "\n[[zone]]\nname = {}\nfile = {}",
            toml_str(&z.name),
            toml_str(&z.file.to_string_lossy())
        );
    }
    if !opts.extra_toml.is_empty() {
        c.push('\n');
        c.push_str(&opts.extra_toml);
        c.push('\n');
    }
    c
}

/// Path of the binary under test.
pub fn pharos_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pharos"))
}

/// Runs `pharos ARGS` to completion (e.g. `check-config FILE`).
pub fn pharos_cmd<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(pharos_bin())
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the pharos binary")
}

/// Writes the config [`Pharos::start`] would write for `opts` into a temp
/// dir and runs `pharos check-config` on it (nothing is started or bound).
pub fn pharos_check_config(opts: &PharosOpts) -> Output {
    let dir = tempfile::Builder::new()
        .prefix("pharos-check.")
        .tempdir()
        .expect("cannot create temp dir");
    let config = dir.path().join("pharos.toml");
    let text = pharos_config(opts, free_port(opts.ipv6), &dir.path().join("var"));
    fs::write(&config, text).expect("cannot write config");
    let out = Command::new(pharos_bin())
        .arg("check-config")
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the pharos binary");
    drop(dir);
    out
}

/// A running `pharos serve` (or, with `PHAROS_TEST_AGAINST=knot`, a knotd
/// configured the same way).  Killed on drop.
pub struct Pharos {
    child: Option<Child>,
    pub port: u16,
    pub opts: PharosOpts,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log_path: PathBuf,
    /// "pharos" or "knot": what actually runs.
    pub kind: &'static str,
}

impl Pharos {
    /// Starts the server with `opts` and waits (up to [`START_TIMEOUT`])
    /// until it answers the SOA of `opts.ready_zone` (default: the first
    /// zone) with NOERROR, AA=1 and an answer.  Panics with the log if it
    /// does not.
    pub fn start(opts: PharosOpts) -> Pharos {
        let against_knot = std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot");
        assert!(
            !opts.ipv6 || have_ipv6_loopback(),
            "PharosOpts.ipv6 is set but this machine has no IPv6 loopback (::1)"
        );
        let mut last_err = String::new();
        // A port can be taken between our probe and the server's bind: retry
        // with a fresh port when the server dies with "address in use".
        for _attempt in 0..3 {
            let port = free_port(opts.ipv6);
            let dir = tempfile::Builder::new()
                .prefix("pharos-test.")
                .tempdir()
                .expect("cannot create temp dir");
            let (child, config, log_path, kind) = if against_knot {
                let kopts = KnotOpts::like_pharos(&opts);
                let (child, config, log_path) = spawn_knot(&kopts, port, dir.path());
                (child, config, log_path, "knot")
            } else {
                let data_dir = dir.path().join("var");
                let config = dir.path().join("pharos.toml");
                fs::write(&config, pharos_config(&opts, port, &data_dir)).expect("cannot write config");
                let log_path = dir.path().join("pharos.log");
                let log = File::create(&log_path).expect("cannot create log file");
                let child = Command::new(pharos_bin())
                    .arg("serve")
                    .arg("--config")
                    .arg(&config)
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", pharos_bin().display()));
                (child, config, log_path, "pharos")
            };
            let mut server = Pharos {
                child: Some(child),
                port,
                opts: opts.clone(),
                dir,
                config,
                log_path,
                kind,
            };
            let zone = opts
                .ready_zone
                .clone()
                .or_else(|| opts.zones.first().map(|z| z.name.clone()));
            match wait_ready(server.child.as_mut().unwrap(), port, zone.as_deref()) {
                Ok(()) => return server,
                Err(e) => {
                    let log = server.log();
                    let in_use = log.contains("in use") || log.contains("AddrInUse");
                    last_err = format!(
                        "{kind} did not become ready on 127.0.0.1:{port}: {e}\n\
                         --- config {}\n{}\n--- log {}\n{}",
                        server.config.display(),
                        fs::read_to_string(&server.config).unwrap_or_default(),
                        server.log_path.display(),
                        tail(&log, 60)
                    );
                    server.stop();
                    if !in_use {
                        break;
                    }
                }
            }
        }
        panic!("{last_err}");
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT` as text (for dnsdiff.py).
    pub fn addr_str(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Client arguments `@127.0.0.1 -p PORT` for dig/kdig.
    pub fn at(&self) -> Vec<String> {
        vec!["@127.0.0.1".into(), "-p".into(), self.port.to_string()]
    }

    /// Client arguments `@::1 -p PORT` for dig/kdig.
    pub fn at6(&self) -> Vec<String> {
        vec!["@::1".into(), "-p".into(), self.port.to_string()]
    }

    /// PID of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The whole log so far (stderr and stdout of the server).
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log(), n)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends one query over UDP to the server and parses the reply.
    pub fn query(&self, name: &str, qtype: u16) -> io::Result<wire::Reply> {
        wire::udp_query(self.addr(), name, qtype, wire::CLASS_IN, Duration::from_secs(2))
    }

    /// Kills the process (SIGKILL, by PID) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pharos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} on 127.0.0.1:{} (pid {:?}), config {}, last log lines:\n{}\n----",
                self.kind,
                self.port,
                self.pid(),
                self.config.display(),
                self.log_tail(40)
            );
        }
        self.stop();
    }
}

fn wait_ready(child: &mut Child, port: u16, zone: Option<&str>) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no response");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited early with {status}"));
        }
        let name = zone.unwrap_or(".");
        match wire::udp_query(addr, name, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_millis(250)) {
            Ok(r) => {
                if zone.is_none() {
                    return Ok(());
                }
                if r.rcode == 0 && r.aa() && r.answers.iter().any(|rr| rr.rtype == wire::TYPE_SOA) {
                    return Ok(());
                }
                last = format!("SOA {name}: {r}");
            }
            Err(e) => last = format!("SOA {name}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "no authoritative SOA answer within {START_TIMEOUT:?} (last: {last})"
    ))
}

fn read_lossy(p: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------- knot

/// Settings for [`Knot::start_with`].
#[derive(Clone, Debug)]
pub struct KnotOpts {
    pub zones: Vec<Zone>,
    /// `server.identity` (CHAOS id.server / hostname.bind).
    pub identity: String,
    /// `server.nsid`; None: no NSID.
    pub nsid: Option<String>,
    /// `server.version`; None: an empty value (version queries REFUSED).
    pub version: Option<String>,
    /// `server.udp-max-payload`.
    pub udp_payload: u16,
    /// Also listen on `::1`.
    pub ipv6: bool,
    /// Allow AXFR from 127.0.0.1 for zones whose file has the line
    /// `; dnsdiff: allow-axfr` (as tests/dnsdiff/run-pair.sh does).
    pub axfr_marker: bool,
}

impl KnotOpts {
    /// The settings dnsdiff uses: identity and NSID "dnsdiff", version "pharos".
    pub fn dnsdiff(zones: Vec<Zone>) -> Self {
        KnotOpts {
            zones,
            identity: "dnsdiff".into(),
            nsid: Some("dnsdiff".into()),
            version: Some("pharos".into()),
            udp_payload: 1232,
            ipv6: false,
            axfr_marker: true,
        }
    }

    /// The Knot equivalent of a pharos config.
    pub fn like_pharos(o: &PharosOpts) -> Self {
        KnotOpts {
            zones: o.zones.clone(),
            identity: o.node_id.clone(),
            nsid: o.nsid.then(|| o.node_id.clone()),
            version: o.version.clone(),
            udp_payload: o.udp_payload,
            ipv6: o.ipv6,
            // the stand-in models pharos as specified: it serves AXFR of the
            // zones marked for it, like the reference does
            axfr_marker: true,
        }
    }
}

/// A running knotd loaded with the given zones.  Killed on drop.
pub struct Knot {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log_path: PathBuf,
}

fn yaml_str(s: &str) -> String {
    // Knot's config is YAML-like; a double-quoted string with escapes.
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The knot.conf for `opts` on `port` with its state under `dir`.
pub fn knot_config(opts: &KnotOpts, port: u16, dir: &Path) -> String {
    let d = dir.display();
    let mut c = String::from("# written by tests/common/mod.rs\nserver:\n");
    let _ = writeln!(c, "    identity: {}", yaml_str(&opts.identity));
    if let Some(n) = &opts.nsid {
        let _ = writeln!(c, "    nsid: {}", yaml_str(n));
    }
    let _ = writeln!(c, "    version: {}", yaml_str(opts.version.as_deref().unwrap_or("")));
    let _ = writeln!(c, "    udp-max-payload: {}", opts.udp_payload);
    let _ = writeln!(c, "    rundir: {d}/run\n    pidfile: {d}/run/knot.pid");
    let _ = writeln!(c, "    listen: 127.0.0.1@{port}");
    if opts.ipv6 {
        let _ = writeln!(c, "    listen: ::1@{port}");
    }
    let _ = writeln!(
        c,
        "database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
         log:\n  - target: {d}/knot.log\n    any: info\n\
         acl:\n  - id: local_transfer\n    address: 127.0.0.1\n    action: transfer\n\
         template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n\
         \x20   journal-content: none\n    semantic-checks: off\nzone:"
    );
    for z in &opts.zones {
        let _ = writeln!(c, "  - domain: {}", yaml_str(&z.name));
        let _ = writeln!(c, "    file: {}", yaml_str(&z.file.to_string_lossy()));
        if opts.axfr_marker && z.allows_axfr() {
            let _ = writeln!(c, "    acl: local_transfer");
        }
    }
    c
}

fn spawn_knot(opts: &KnotOpts, port: u16, dir: &Path) -> (Child, PathBuf, PathBuf) {
    let knotd = require_program("knotd", "knot");
    for sub in ["run", "db"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let config = dir.join("knot.conf");
    fs::write(&config, knot_config(opts, port, dir)).expect("cannot write knot.conf");
    // knotd logs to knot.log (per config); its own stdout/stderr go to stdout.log.
    let log_path = dir.join("knot.log");
    File::create(&log_path).unwrap();
    let out = File::create(dir.join("stdout.log")).unwrap();
    let child = Command::new(knotd)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("cannot spawn knotd");
    (child, config, log_path)
}

impl Knot {
    /// Starts knotd with the dnsdiff settings ([`KnotOpts::dnsdiff`]: identity
    /// and NSID "dnsdiff", version "pharos") on `port` (0: a free port), and
    /// waits until it answers the SOA of every zone.
    pub fn start(zones: &[Zone], port: u16) -> Knot {
        Knot::start_with(KnotOpts::dnsdiff(zones.to_vec()), port)
    }

    pub fn start_with(opts: KnotOpts, port: u16) -> Knot {
        let port = if port == 0 { free_port(opts.ipv6) } else { port };
        let dir = tempfile::Builder::new()
            .prefix("knot-test.")
            .tempdir()
            .expect("cannot create temp dir");
        let (child, config, log_path) = spawn_knot(&opts, port, dir.path());
        let mut knot = Knot {
            child: Some(child),
            port,
            dir,
            config,
            log_path,
        };
        for z in &opts.zones {
            if let Err(e) = wait_ready(knot.child.as_mut().unwrap(), port, Some(&z.name)) {
                let msg = format!(
                    "knotd did not serve {} on 127.0.0.1:{port}: {e}\n--- {}\n{}\n--- knot.log\n{}\n--- stdout.log\n{}",
                    z.name,
                    knot.config.display(),
                    fs::read_to_string(&knot.config).unwrap_or_default(),
                    tail(&knot.log(), 40),
                    tail(&read_lossy(&knot.dir.path().join("stdout.log")), 20)
                );
                knot.stop();
                panic!("{msg}");
            }
        }
        knot
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn addr_str(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn at(&self) -> Vec<String> {
        vec!["@127.0.0.1".into(), "-p".into(), self.port.to_string()]
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- knotd on 127.0.0.1:{} (pid {:?}), last log lines:\n{}\n----",
                self.port,
                self.pid(),
                tail(&self.log(), 20)
            );
        }
        self.stop();
    }
}

// ---------------------------------------------------------------- wire

/// A minimal DNS message encoder/parser, enough for the harness's own
/// readiness probes and simple assertions.
pub mod wire {
    use super::*;

    pub const TYPE_A: u16 = 1;
    pub const TYPE_NS: u16 = 2;
    pub const TYPE_CNAME: u16 = 5;
    pub const TYPE_SOA: u16 = 6;
    pub const TYPE_MX: u16 = 15;
    pub const TYPE_TXT: u16 = 16;
    pub const TYPE_AAAA: u16 = 28;
    pub const TYPE_OPT: u16 = 41;
    pub const CLASS_IN: u16 = 1;
    pub const CLASS_CH: u16 = 3;

    /// Encodes a query: RD=0, one question, and an OPT record with
    /// `edns_payload` when given.
    pub fn encode_query(id: u16, name: &str, qtype: u16, qclass: u16, edns_payload: Option<u16>) -> Vec<u8> {
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0, 0]); // QR=0 opcode=0 RD=0
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&(edns_payload.is_some() as u16).to_be_bytes());
        encode_name(&mut m, name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&qclass.to_be_bytes());
        if let Some(p) = edns_payload {
            m.push(0); // root owner
            m.extend_from_slice(&TYPE_OPT.to_be_bytes());
            m.extend_from_slice(&p.to_be_bytes());
            m.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ext-rcode, version, flags, rdlen
        }
        m
    }

    fn encode_name(m: &mut Vec<u8>, name: &str) {
        for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            assert!(label.len() < 64, "label too long: {label}");
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
    }

    /// One resource record.
    #[derive(Clone, Debug)]
    pub struct Rr {
        pub name: String,
        pub rtype: u16,
        pub class: u16,
        pub ttl: u32,
        pub rdata: Vec<u8>,
    }

    /// A parsed response.
    #[derive(Clone, Debug)]
    pub struct Reply {
        pub id: u16,
        pub flags: u16,
        /// The header rcode (4 bits; extended bits are not folded in).
        pub rcode: u8,
        pub qdcount: u16,
        pub ancount: u16,
        pub nscount: u16,
        pub arcount: u16,
        pub answers: Vec<Rr>,
        pub authority: Vec<Rr>,
        pub additional: Vec<Rr>,
        pub size: usize,
    }

    impl Reply {
        pub fn qr(&self) -> bool {
            self.flags & 0x8000 != 0
        }
        pub fn aa(&self) -> bool {
            self.flags & 0x0400 != 0
        }
        pub fn tc(&self) -> bool {
            self.flags & 0x0200 != 0
        }
    }

    impl std::fmt::Display for Reply {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "rcode={} aa={} tc={} an={} ns={} ar={}",
                self.rcode,
                self.aa() as u8,
                self.tc() as u8,
                self.ancount,
                self.nscount,
                self.arcount
            )
        }
    }

    fn read_name(m: &[u8], mut pos: usize) -> Option<(String, usize)> {
        let mut name = String::new();
        let mut end = None;
        let mut jumps = 0;
        loop {
            let len = *m.get(pos)? as usize;
            if len == 0 {
                pos += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                let ptr = ((len & 0x3f) << 8) | *m.get(pos + 1)? as usize;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > 64 {
                    return None;
                }
                pos = ptr;
                continue;
            }
            if len & 0xc0 != 0 {
                return None;
            }
            let label = m.get(pos + 1..pos + 1 + len)?;
            name.push_str(&String::from_utf8_lossy(label));
            name.push('.');
            pos += 1 + len;
        }
        if name.is_empty() {
            name.push('.');
        }
        Some((name, end.unwrap_or(pos)))
    }

    fn read_rr(m: &[u8], pos: usize) -> Option<(Rr, usize)> {
        let (name, p) = read_name(m, pos)?;
        let f = m.get(p..p + 10)?;
        let rtype = u16::from_be_bytes([f[0], f[1]]);
        let class = u16::from_be_bytes([f[2], f[3]]);
        let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
        let rdata = m.get(p + 10..p + 10 + rdlen)?.to_vec();
        Some((
            Rr {
                name,
                rtype,
                class,
                ttl,
                rdata,
            },
            p + 10 + rdlen,
        ))
    }

    /// Parses a response; None if it is malformed.
    pub fn parse(m: &[u8]) -> Option<Reply> {
        let h = m.get(..12)?;
        let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let mut r = Reply {
            id: w(0),
            flags: w(2),
            rcode: (w(2) & 0xf) as u8,
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            size: m.len(),
        };
        let mut pos = 12;
        for _ in 0..r.qdcount {
            let (_, p) = read_name(m, pos)?;
            pos = p + 4;
        }
        for (count, which) in [(r.ancount, 0), (r.nscount, 1), (r.arcount, 2)] {
            for _ in 0..count {
                let (rr, p) = read_rr(m, pos)?;
                pos = p;
                match which {
                    0 => r.answers.push(rr),
                    1 => r.authority.push(rr),
                    _ => r.additional.push(rr),
                }
            }
        }
        Some(r)
    }

    fn next_id() -> u16 {
        use std::sync::atomic::{AtomicU16, Ordering};
        static ID: AtomicU16 = AtomicU16::new(0x5a5a);
        ID.fetch_add(1, Ordering::Relaxed)
    }

    /// One query over UDP (EDNS payload 1232); waits for the reply with the
    /// same ID.
    pub fn udp_query(addr: SocketAddr, name: &str, qtype: u16, qclass: u16, timeout: Duration) -> io::Result<Reply> {
        let bind = if addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
        let sock = UdpSocket::bind(bind)?;
        sock.connect(addr)?;
        let id = next_id();
        sock.send(&encode_query(id, name, qtype, qclass, Some(1232)))?;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no UDP response"));
            }
            sock.set_read_timeout(Some(left))?;
            let n = sock.recv(&mut buf)?;
            if let Some(r) = parse(&buf[..n])
                && r.id == id
                && r.qr()
            {
                return Ok(r);
            }
        }
    }

    /// One query over TCP (EDNS payload 1232).
    pub fn tcp_query(addr: SocketAddr, name: &str, qtype: u16, qclass: u16, timeout: Duration) -> io::Result<Reply> {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        let id = next_id();
        let q = encode_query(id, name, qtype, qclass, Some(1232));
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        s.write_all(&framed)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf)?;
        parse(&buf).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparseable response"))
    }

    /// `msg` with its two-octet length prefix (RFC 1035 section 4.2.2), as
    /// sent over TCP.
    pub fn frame(msg: &[u8]) -> Vec<u8> {
        assert!(msg.len() <= u16::MAX as usize, "message too long for TCP framing");
        let mut framed = Vec::with_capacity(msg.len() + 2);
        framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        framed.extend_from_slice(msg);
        framed
    }

    /// What [`tcp_read`] found on a connection.
    #[derive(Debug)]
    pub enum TcpRead {
        /// One whole length-prefixed message (without its prefix).
        Message(Vec<u8>),
        /// The peer closed (EOF: `error` None) or reset the connection;
        /// `partial` octets of an unfinished message had arrived.
        Closed {
            error: Option<io::ErrorKind>,
            partial: usize,
        },
        /// No whole message before the deadline; the connection is still open.
        TimedOut { partial: usize },
    }

    /// Reads one length-prefixed message from `s`, waiting at most `timeout`.
    /// Reads exactly one message, so pipelined responses can be read one by
    /// one.
    pub fn tcp_read(s: &mut TcpStream, timeout: Duration) -> TcpRead {
        let deadline = Instant::now() + timeout;
        let mut buf: Vec<u8> = Vec::with_capacity(512);
        let mut need = 2usize;
        let mut have_len = false;
        loop {
            while buf.len() < need {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return TcpRead::TimedOut { partial: buf.len() };
                }
                let _ = s.set_read_timeout(Some(left));
                let mut chunk = vec![0u8; need - buf.len()];
                match s.read(&mut chunk) {
                    Ok(0) => {
                        return TcpRead::Closed {
                            error: None,
                            partial: buf.len(),
                        };
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        return TcpRead::Closed {
                            error: Some(e.kind()),
                            partial: buf.len(),
                        };
                    }
                }
            }
            if have_len {
                return TcpRead::Message(buf.split_off(2));
            }
            have_len = true;
            need = 2 + u16::from_be_bytes([buf[0], buf[1]]) as usize;
        }
    }
}
