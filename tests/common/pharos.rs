//! The server under test: [`PharosOpts`], the config written from them,
//! [`Pharos::start`] (spawn `pharos serve` and wait until it answers, or
//! Knot DNS in its place with `PHAROS_TEST_AGAINST=knot`), and one-shot runs
//! of the binary ([`pharos_cmd`], [`pharos_check_config`]).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::knot::{KnotOpts, spawn_knot};
use super::server::{free_port, have_ipv6_loopback, read_lossy, tail, wait_ready};
use super::wire;
use super::zone::{Zone, repo_root};

/// What [`Pharos::start`] puts into the config.
#[derive(Clone, Debug)]
pub struct PharosOpts {
    pub zones: Vec<Zone>,
    /// Listen on this port (chosen by the test beforehand, e.g. with
    /// [`free_port`], so that another server can be told about it before
    /// pharos starts); default: a free port.
    pub port: Option<u16>,
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
    /// `[node] data-dir`; default `<the test's temp dir>/var`.
    pub data_dir: Option<PathBuf>,
    /// Connect pharos' stderr to a pipe that the harness reads at most this
    /// many lines a second (a stalled log reader: journald or a terminal
    /// that cannot keep up), copying each line it reads into the log file.
    /// None (the default): stderr goes straight into the log file. See
    /// [`Pharos::stderr_lines`] and [`Pharos::unthrottle_stderr`].
    pub stderr_lines_per_sec: Option<u32>,
    /// Allow AXFR/IXFR from 127.0.0.1 for zones whose file has the line
    /// `; dnsdiff: allow-axfr` (as `KnotOpts::axfr_marker`).
    pub axfr_marker: bool,
}

impl Default for PharosOpts {
    fn default() -> Self {
        PharosOpts {
            zones: Vec::new(),
            port: None,
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
            data_dir: None,
            stderr_lines_per_sec: None,
            axfr_marker: false,
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
    let mut c = String::from("# written by tests/common/pharos.rs\n[node]\n");
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
        if opts.axfr_marker && z.allows_axfr() {
            c.push_str("allow-transfer = [\"127.0.0.1\"]\n");
        }
    }
    if !opts.extra_toml.is_empty() {
        c.push('\n');
        c.push_str(&opts.extra_toml);
        c.push('\n');
    }
    c
}

/// False (after saying "skipped: ...") when the harness runs Knot DNS in
/// pharos' place (`PHAROS_TEST_AGAINST=knot`): for tests of what only
/// pharos has (its secondary engine, management API, health).
pub fn pharos_only(test: &str) -> bool {
    let against_knot = std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot");
    if against_knot {
        eprintln!("skipped: {test} runs against pharos only (PHAROS_TEST_AGAINST=knot is set)");
    }
    !against_knot
}

/// Polls `f` every 20 ms until it is true and returns how long that took;
/// panics with `what` and the tail of `p`'s log after `limit`.
pub fn wait_until(p: &Pharos, limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if f() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not within {limit:?}\n--- pharos log\n{}", p.log_tail(30));
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
    /// The slow reader of stderr, with `stderr_lines_per_sec`.
    slow_stderr: Option<Arc<SlowReader>>,
}

/// The reading end of a paced stderr pipe (see
/// `PharosOpts::stderr_lines_per_sec`).
struct SlowReader {
    /// Lines read so far.
    lines: AtomicU64,
    /// Read as fast as the pipe gives (to drain what is left).
    unthrottled: AtomicBool,
    /// The pipe reached end of file (every writer closed it).
    closed: AtomicBool,
}

impl SlowReader {
    /// Reads `pipe` line by line, at most `per_sec` lines a second until
    /// unthrottled, appending each line to `log`; ends at end of file (the
    /// process exited and closed stderr).
    fn spawn(pipe: ChildStderr, per_sec: u32, mut log: File) -> Arc<SlowReader> {
        let reader = Arc::new(SlowReader {
            lines: AtomicU64::new(0),
            unthrottled: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let r = reader.clone();
        let pace = Duration::from_secs(1) / per_sec.max(1);
        std::thread::spawn(move || {
            // A small buffer: the pipe, not the reader, holds what waits.
            let mut pipe = io::BufReader::with_capacity(256, pipe);
            let mut line = Vec::new();
            let mut next = Instant::now();
            loop {
                if !r.unthrottled.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next = next.max(now) + pace;
                }
                line.clear();
                match io::BufRead::read_until(&mut pipe, b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        r.closed.store(true, Ordering::Relaxed);
                        return;
                    }
                    Ok(_) => {
                        let _ = io::Write::write_all(&mut log, &line);
                        r.lines.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        reader
    }
}

impl Pharos {
    /// Starts the server with `opts` and waits (up to [`START_TIMEOUT`](super::START_TIMEOUT))
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
            let port = opts.port.unwrap_or_else(|| free_port(opts.ipv6));
            let dir = tempfile::Builder::new()
                .prefix("pharos-test.")
                .tempdir()
                .expect("cannot create temp dir");
            let (child, config, log_path, kind) = if against_knot {
                let kopts = KnotOpts::like_pharos(&opts);
                let (child, config, log_path) = spawn_knot(&kopts, port, dir.path());
                (child, config, log_path, "knot")
            } else {
                let data_dir = opts.data_dir.clone().unwrap_or_else(|| dir.path().join("var"));
                let config = dir.path().join("pharos.toml");
                fs::write(&config, pharos_config(&opts, port, &data_dir)).expect("cannot write config");
                let log_path = dir.path().join("pharos.log");
                let log = File::create(&log_path).expect("cannot create log file");
                let stderr = match opts.stderr_lines_per_sec {
                    Some(_) => Stdio::piped(),
                    None => Stdio::from(log.try_clone().unwrap()),
                };
                let child = Command::new(pharos_bin())
                    .arg("serve")
                    .arg("--config")
                    .arg(&config)
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(stderr)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", pharos_bin().display()));
                (child, config, log_path, "pharos")
            };
            let mut child = child;
            let slow_stderr = match (opts.stderr_lines_per_sec, child.stderr.take()) {
                (Some(per_sec), Some(pipe)) => {
                    let log = fs::OpenOptions::new()
                        .append(true)
                        .open(&log_path)
                        .expect("cannot open log file");
                    Some(SlowReader::spawn(pipe, per_sec, log))
                }
                _ => None,
            };
            let mut server = Pharos {
                child: Some(child),
                port,
                opts: opts.clone(),
                dir,
                config,
                log_path,
                kind,
                slow_stderr,
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

    /// Lines read so far from a paced stderr pipe
    /// (`PharosOpts::stderr_lines_per_sec`); None without one.
    pub fn stderr_lines(&self) -> Option<u64> {
        self.slow_stderr.as_ref().map(|r| r.lines.load(Ordering::Relaxed))
    }

    /// Lets the reader of a paced stderr pipe read at full speed from now
    /// on (to drain what pharos wrote).
    pub fn unthrottle_stderr(&self) {
        if let Some(r) = &self.slow_stderr {
            r.unthrottled.store(true, Ordering::Relaxed);
        }
    }

    /// Waits up to `timeout` until the paced stderr pipe is read to its end
    /// (the process exited); true if it was (or there is no such pipe).
    pub fn wait_stderr_closed(&self, timeout: Duration) -> bool {
        let Some(r) = &self.slow_stderr else { return true };
        let deadline = Instant::now() + timeout;
        while !r.closed.load(Ordering::Relaxed) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
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

    /// `kill -9`: SIGKILL by PID, no warning, then reaps it.  The temp dir,
    /// config, log and data dir stay, so [`Pharos::restart`] can bring the
    /// same node back.  (The same as [`Pharos::stop`]; named for what a
    /// crash test means.)
    pub fn kill9(&mut self) {
        self.stop();
    }

    /// The node's data dir (`[node] data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.opts
            .data_dir
            .clone()
            .unwrap_or_else(|| self.dir.path().join("var"))
    }

    /// Starts `pharos serve` again with the same config, port and data dir
    /// (after [`Pharos::stop`] / [`Pharos::kill9`]; kills a running one
    /// first), appending to the same log, and waits until it answers the SOA
    /// of `ready_zone` with NOERROR and AA, or, with None, until it answers
    /// anything at all (any RCODE for `.` SOA).  Panics with the log if it
    /// does not.  (stderr then goes straight into the log, unpaced.)
    pub fn restart(&mut self, ready_zone: Option<&str>) {
        assert_eq!(self.kind, "pharos", "restart is only implemented for pharos");
        self.stop();
        self.slow_stderr = None;
        let mut log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log_path)
            .expect("cannot open log file");
        let _ = io::Write::write_all(&mut log, b"---- restarted by the test harness ----\n");
        let child = Command::new(pharos_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", pharos_bin().display()));
        self.child = Some(child);
        if let Err(e) = wait_ready(self.child.as_mut().unwrap(), self.port, ready_zone) {
            panic!(
                "pharos did not become ready again on 127.0.0.1:{}: {e}\n--- log {}\n{}",
                self.port,
                self.log_path.display(),
                self.log_tail(60)
            );
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process, by PID; the
    /// process is not reaped (see [`Pharos::wait_exit`]).
    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    }

    /// Waits up to `timeout` for the process to exit and reaps it; None if
    /// it still runs (it is left running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = status {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
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
