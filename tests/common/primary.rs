//! Primaries for the secondary-zone tests (tests/secondary.rs):
//!
//! * [`KnotPrimary`]: a real knotd serving one zone (or more:
//!   [`KnotPrimaryOpts::more_zones`]) for transfer to
//!   127.0.0.1, changed at run time through `knotc zone-begin/zone-set/
//!   zone-commit` on its control socket.  Knot bumps the SOA serial on each
//!   commit (serial-policy increment) and, with [`KnotPrimaryOpts::journal`],
//!   keeps the changes in its journal so it answers IXFR with differences;
//!   without it, it answers IXFR with the whole zone ("fallback to AXFR").
//!   [`KnotPrimary::notify_to`] makes it send NOTIFY to a port (pharos'
//!   port is only known after pharos started, so it is set afterwards with
//!   `knotc reload`).  It can be stopped and started again on the same
//!   port with its state (zone file, journal) kept.
//! * [`BindPrimary`]: BIND 9 (`named`, Debian package `bind9`) serving one
//!   zone from a file, optionally with a TSIG key that transfers and its
//!   NOTIFYs must be signed with; changed by rewriting the zone file and
//!   SIGHUP (`ixfr-from-differences`, so it answers IXFR with differences);
//!   [`BindPrimary::notify_to`] sets the port it sends NOTIFY to.
//! * [`ScriptedPrimary`]: a tiny DNS primary in std threads (UDP and TCP on
//!   one loopback port) serving a generated zone: SOA over UDP, AXFR over
//!   TCP split into several messages, IXFR answered NOTIMP.  It can be told
//!   to [`Misbehave`] on AXFR, and records every request it sees.
//! * [`soa_serial`], [`send_notify`]: small wire helpers the tests share.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::server::{free_port, read_lossy, tail, wait_ready};
use super::tools::require_program;
use super::wire;

/// The serial of the first SOA in the answer section, if any.  Works on
/// compressed SOA rdata too (the names are skipped, not read).
pub fn soa_serial(r: &wire::Reply) -> Option<u32> {
    let rr = r.answers.iter().find(|rr| rr.rtype == wire::TYPE_SOA)?;
    let d = &rr.rdata;
    let mut p = 0usize;
    for _ in 0..2 {
        loop {
            let len = *d.get(p)? as usize;
            if len == 0 {
                p += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                p += 2;
                break;
            }
            p += 1 + len;
        }
    }
    Some(u32::from_be_bytes(d.get(p..p + 4)?.try_into().ok()?))
}

/// Sends a NOTIFY (opcode 4, AA, question `zone` SOA IN) from `from`
/// (port chosen by the system) to `to` and waits for the reply with the
/// same ID.
pub fn send_notify(from: IpAddr, to: SocketAddr, zone: &str, timeout: Duration) -> io::Result<wire::Reply> {
    let sock = UdpSocket::bind(SocketAddr::new(from, 0))?;
    sock.connect(to)?;
    let id = 0x4e00 | (std::process::id() as u16 & 0xff);
    let mut msg = wire::encode_query(id, zone, wire::TYPE_SOA, wire::CLASS_IN, None);
    msg[2] = (4 << 3) | 0x04; // opcode NOTIFY, AA
    sock.send(&msg)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply to NOTIFY"));
        }
        sock.set_read_timeout(Some(left))?;
        let n = sock.recv(&mut buf)?;
        if let Some(r) = wire::parse(&buf[..n])
            && r.id == id
            && r.qr()
        {
            return Ok(r);
        }
    }
}

// ------------------------------------------------------------------ Knot

/// Settings for [`KnotPrimary::start_with`].
#[derive(Clone, Debug)]
pub struct KnotPrimaryOpts {
    /// The zone's name (no trailing dot needed).
    pub zone: String,
    /// The zone file's text (written into the temp dir).
    pub zone_text: String,
    /// `journal-content: changes` (IXFR with differences) when true,
    /// `journal-content: none` (IXFR answered with the whole zone) when false.
    pub journal: bool,
    /// Send NOTIFY to `127.0.0.1@PORT` after every change.
    pub notify_port: Option<u16>,
    /// The only address allowed to transfer the zone (Knot's `acl`):
    /// default `127.0.0.1`.
    pub transfer_from: String,
    /// With a key: transfers are allowed only signed with it and its
    /// NOTIFYs are signed with it.
    pub key: Option<TsigKeyConf>,
    /// More zones served the same way (name, zone file text): the same
    /// transfer ACL, key, journal and NOTIFY target; changed with
    /// [`KnotPrimary::add_record_in`].
    pub more_zones: Vec<(String, String)>,
}

impl KnotPrimaryOpts {
    pub fn new(zone: &str, zone_text: &str) -> Self {
        KnotPrimaryOpts {
            zone: zone.trim_end_matches('.').to_string(),
            zone_text: zone_text.to_string(),
            journal: true,
            notify_port: None,
            transfer_from: "127.0.0.1".into(),
            key: None,
            more_zones: Vec::new(),
        }
    }
}

/// When a [`KnotPrimary::add_record`] commit ran.
#[derive(Clone, Copy, Debug)]
pub struct Commit {
    /// Just before `knotc zone-commit` was started.
    pub before: Instant,
    /// When `knotc zone-commit` had returned OK.
    pub after: Instant,
}

/// A running knotd serving one zone as a primary.  Killed on drop.
pub struct KnotPrimary {
    child: Option<Child>,
    pub port: u16,
    pub opts: KnotPrimaryOpts,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub zone_file: PathBuf,
    pub log_path: PathBuf,
    knotd: PathBuf,
    knotc: PathBuf,
}

impl KnotPrimary {
    /// knotd serving `zone` from `zone_text`, with a journal of changes.
    pub fn start(zone: &str, zone_text: &str) -> KnotPrimary {
        KnotPrimary::start_with(KnotPrimaryOpts::new(zone, zone_text))
    }

    /// Starts knotd on a free loopback port and waits (up to
    /// [`START_TIMEOUT`](super::START_TIMEOUT)) until it answers the zone's SOA.
    pub fn start_with(opts: KnotPrimaryOpts) -> KnotPrimary {
        let knotd = require_program("knotd", "knot");
        let knotc = require_program("knotc", "knot");
        let dir = tempfile::Builder::new()
            .prefix("knot-primary.")
            .tempdir()
            .expect("cannot create temp dir");
        for sub in ["run", "db"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let zone_file = dir.path().join(format!("{}.zone", opts.zone));
        fs::write(&zone_file, &opts.zone_text).expect("cannot write zone file");
        for (name, text) in &opts.more_zones {
            let file = dir.path().join(format!("{}.zone", name.trim_end_matches('.')));
            fs::write(&file, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        }
        let log_path = dir.path().join("knot.log");
        File::create(&log_path).unwrap();
        let mut k = KnotPrimary {
            child: None,
            port: free_port(false),
            opts,
            config: dir.path().join("knot.conf"),
            dir,
            zone_file,
            log_path,
            knotd,
            knotc,
        };
        k.write_config();
        k.start_again();
        k
    }

    /// The knot.conf for the current settings.
    pub fn config_text(&self) -> String {
        let d = self.dir.path().display();
        let mut c = String::from("# written by tests/common/primary.rs\nserver:\n");
        let _ = writeln!(c, "    rundir: {d}/run\n    pidfile: {d}/run/knot.pid");
        let _ = writeln!(c, "    listen: 127.0.0.1@{}", self.port);
        let _ = writeln!(
            c,
            "database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
             log:\n  - target: {d}/knot.log\n    any: info"
        );
        let key_line = match &self.opts.key {
            Some(k) => {
                let _ = writeln!(
                    c,
                    "key:\n  - id: {}\n    algorithm: {}\n    secret: {}",
                    k.name, k.algorithm, k.secret
                );
                format!("    key: {}\n", k.name)
            }
            None => String::new(),
        };
        if let Some(p) = self.opts.notify_port {
            let _ = writeln!(c, "remote:\n  - id: secondary\n    address: 127.0.0.1@{p}\n{key_line}");
        }
        let _ = writeln!(
            c,
            "acl:\n  - id: local_transfer\n    address: {}\n{key_line}    action: transfer\n\
             template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n\
             \x20   journal-content: {}\n    serial-policy: increment\n    semantic-checks: off\nzone:",
            self.opts.transfer_from,
            if self.opts.journal { "changes" } else { "none" }
        );
        let more = self.opts.more_zones.iter().map(|(name, _)| {
            let name = name.trim_end_matches('.');
            (name.to_string(), self.dir.path().join(format!("{name}.zone")))
        });
        for (name, file) in std::iter::once((self.opts.zone.clone(), self.zone_file.clone())).chain(more) {
            let _ = writeln!(c, "  - domain: \"{name}.\"");
            let _ = writeln!(c, "    file: \"{}\"", file.display());
            let _ = writeln!(c, "    acl: local_transfer");
            if self.opts.notify_port.is_some() {
                let _ = writeln!(c, "    notify: secondary");
            }
        }
        c
    }

    fn write_config(&self) {
        fs::write(&self.config, self.config_text()).expect("cannot write knot.conf");
    }

    /// Starts knotd again (after [`KnotPrimary::stop`]) with the same config,
    /// port, zone file and journal, and waits until it serves the zone.
    pub fn start_again(&mut self) {
        self.stop();
        let out = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path().join("stdout.log"))
            .unwrap();
        let child = Command::new(&self.knotd)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot spawn knotd");
        self.child = Some(child);
        if let Err(e) = wait_ready(self.child.as_mut().unwrap(), self.port, Some(&self.opts.zone)) {
            let msg = format!(
                "knotd (primary) did not serve {} on 127.0.0.1:{}: {e}\n--- {}\n{}\n--- knot.log\n{}\n--- stdout.log\n{}",
                self.opts.zone,
                self.port,
                self.config.display(),
                fs::read_to_string(&self.config).unwrap_or_default(),
                tail(&self.log(), 40),
                tail(&read_lossy(&self.dir.path().join("stdout.log")), 20)
            );
            self.stop();
            panic!("{msg}");
        }
    }

    /// Stops knotd (SIGTERM by PID, SIGKILL after 5 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops knotd, replaces the zone file with `text` and wipes the journal
    /// (a primary rebuilt from a new file), then starts it again.
    pub fn replace_zone_and_forget_history(&mut self, text: &str) {
        self.stop();
        fs::write(&self.zone_file, text).expect("cannot write zone file");
        let db = self.dir.path().join("db");
        let _ = fs::remove_dir_all(&db);
        fs::create_dir_all(&db).unwrap();
        self.start_again();
    }

    /// Makes knotd send NOTIFY to 127.0.0.1@`port` after each change
    /// (rewrites knot.conf and runs `knotc reload`).
    pub fn notify_to(&mut self, port: u16) {
        self.opts.notify_port = Some(port);
        self.write_config();
        self.knotc(&["reload"]);
    }

    /// Runs `knotc -s SOCKET ARGS`; panics with its output unless it succeeds.
    pub fn knotc(&self, args: &[&str]) -> String {
        let sock = self.dir.path().join("run/knot.sock");
        let out = Command::new(&self.knotc)
            .arg("-s")
            .arg(&sock)
            .arg("-t")
            .arg("10")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.knotc.display()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "knotc {} failed ({}):\n{text}\n--- knot.log\n{}",
            args.join(" "),
            out.status,
            tail(&self.log(), 20)
        );
        text
    }

    /// Adds one record in a transaction (`zone-begin`, `zone-set OWNER TTL
    /// TYPE RDATA`, `zone-commit`); Knot bumps the serial and, with
    /// [`KnotPrimary::notify_to`], sends NOTIFY.  Owner names are absolute
    /// (a trailing dot is added) or relative to the zone.
    pub fn add_record(&self, owner: &str, ttl: u32, rtype: &str, rdata: &str) -> Commit {
        self.add_record_in(&self.opts.zone, owner, ttl, rtype, rdata)
    }

    /// [`KnotPrimary::add_record`] in `zone`: the main zone or one of
    /// [`KnotPrimaryOpts::more_zones`].
    pub fn add_record_in(&self, zone: &str, owner: &str, ttl: u32, rtype: &str, rdata: &str) -> Commit {
        let zone = format!("{}.", zone.trim_end_matches('.'));
        self.knotc(&["zone-begin", &zone]);
        let ttl = ttl.to_string();
        let mut args = vec!["zone-set", zone.as_str(), owner, ttl.as_str(), rtype];
        args.extend(rdata.split_whitespace());
        self.knotc(&args);
        let before = Instant::now();
        self.knotc(&["zone-commit", &zone]);
        Commit {
            before,
            after: Instant::now(),
        }
    }

    /// The serial knotd serves now (SOA over UDP).
    /// Removes every `rtype` record at `owner` (one commit: NOTIFY + IXFR).
    pub fn unset_record(&self, owner: &str, rtype: &str) {
        let zone = format!("{}.", self.opts.zone);
        self.knotc(&["zone-begin", &zone]);
        self.knotc(&["zone-unset", &zone, owner, rtype]);
        self.knotc(&["zone-commit", &zone]);
    }

    /// Flaps `owner` A (192.0.2.9) eight times: removed, then added back,
    /// 100 ms after `wait_for(rcode)` saw each change reach the server
    /// (NXDOMAIN 3, then NOERROR 0; it returns when it saw it). Returns the
    /// longest phase, present or absent, as the server answered it.
    pub fn flap_a(&self, owner: &str, wait_for: impl Fn(u8) -> Instant) -> Duration {
        let mut longest = Duration::ZERO;
        let mut seen_since = Instant::now();
        for _ in 0..8 {
            self.unset_record(owner, "A");
            let gone = wait_for(3);
            longest = longest.max(gone - seen_since);
            std::thread::sleep(Duration::from_millis(100));
            self.add_record(owner, 300, "A", "192.0.2.9");
            seen_since = wait_for(0);
            longest = longest.max(seen_since - gone);
            std::thread::sleep(Duration::from_millis(100));
        }
        longest
    }

    pub fn serial(&self) -> u32 {
        serial_at(self.addr(), &self.opts.zone, "knotd")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT`, as a pharos `primaries` entry.
    pub fn addr_str(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for KnotPrimary {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- knotd primary on 127.0.0.1:{} (pid {:?}), config {}, last log lines:\n{}\n----",
                self.port,
                self.pid(),
                self.config.display(),
                tail(&self.log(), 25)
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ------------------------------------------------------------------ BIND

/// A TSIG key as BIND's `key` statement and pharos' `[[tsig-key]]` take it.
#[derive(Clone, Debug)]
pub struct TsigKeyConf {
    /// e.g. "xfr-key"
    pub name: String,
    /// e.g. "hmac-sha256"
    pub algorithm: String,
    /// The secret in base64.
    pub secret: String,
}

impl TsigKeyConf {
    pub fn new(name: &str, algorithm: &str, secret: &str) -> Self {
        TsigKeyConf {
            name: name.into(),
            algorithm: algorithm.into(),
            secret: secret.into(),
        }
    }

    /// The `[[tsig-key]]` table for pharos.
    pub fn pharos_toml(&self) -> String {
        format!(
            "[[tsig-key]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
            self.name, self.algorithm, self.secret
        )
    }
}

/// Settings for [`BindPrimary::start_with`].
#[derive(Clone, Debug)]
pub struct BindPrimaryOpts {
    /// The zone's name (no trailing dot needed).
    pub zone: String,
    /// The zone file's text (written into the temp dir).
    pub zone_text: String,
    /// With a key: transfers are allowed only signed with it and NOTIFYs are
    /// signed with it.  Without: transfers are allowed from 127.0.0.1.
    pub key: Option<TsigKeyConf>,
    /// Send NOTIFY to `127.0.0.1 port PORT` (`notify explicit`, `also-notify`,
    /// `notify-delay 0`) after every change.
    pub notify_port: Option<u16>,
}

impl BindPrimaryOpts {
    pub fn new(zone: &str, zone_text: &str) -> Self {
        BindPrimaryOpts {
            zone: zone.trim_end_matches('.').to_string(),
            zone_text: zone_text.to_string(),
            key: None,
            notify_port: None,
        }
    }
}

/// A running `named` (BIND 9) serving one zone as a primary on a free
/// loopback port, in the foreground (`-g`: its PID is the child's, its log
/// goes to `named.log` in its temp dir; `-d 3` so that the responses to its
/// NOTIFYs are logged).  Killed (by PID) on drop.
pub struct BindPrimary {
    child: Option<Child>,
    pub port: u16,
    pub opts: BindPrimaryOpts,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub zone_file: PathBuf,
    pub log_path: PathBuf,
    named: PathBuf,
}

impl BindPrimary {
    /// Starts named with `opts` and waits (up to
    /// [`START_TIMEOUT`](super::START_TIMEOUT)) until it answers the zone's SOA.
    /// Fails naming the Debian package `bind9` when named is missing.
    pub fn start_with(opts: BindPrimaryOpts) -> BindPrimary {
        let named = require_program("named", "bind9");
        let dir = tempfile::Builder::new()
            .prefix("bind-primary.")
            .tempdir()
            .expect("cannot create temp dir");
        let zone_file = dir.path().join(format!("{}.zone", opts.zone));
        fs::write(&zone_file, &opts.zone_text).expect("cannot write zone file");
        let log_path = dir.path().join("named.log");
        File::create(&log_path).unwrap();
        let mut b = BindPrimary {
            child: None,
            port: free_port(false),
            opts,
            config: dir.path().join("named.conf"),
            dir,
            zone_file,
            log_path,
            named,
        };
        b.write_config();
        b.spawn();
        b
    }

    /// The named.conf for the current settings.
    pub fn config_text(&self) -> String {
        let d = self.dir.path().display();
        let mut c = String::from("# written by tests/common/primary.rs\noptions {\n");
        let _ = writeln!(c, "    directory \"{d}\";");
        let _ = writeln!(c, "    pid-file \"{d}/named.pid\";");
        let _ = writeln!(c, "    session-keyfile \"{d}/session.key\";");
        let _ = writeln!(c, "    managed-keys-directory \"{d}\";");
        let _ = writeln!(c, "    listen-on port {} {{ 127.0.0.1; }};", self.port);
        c.push_str(
            "    listen-on-v6 { none; };\n    recursion no;\n    dnssec-validation no;\n\
             \x20   ixfr-from-differences yes;\n    notify-delay 0;\n",
        );
        let key = self.opts.key.as_ref().map(|k| k.name.clone());
        match &key {
            Some(k) => {
                let _ = writeln!(c, "    allow-transfer {{ key \"{k}\"; }};");
            }
            None => c.push_str("    allow-transfer { 127.0.0.1; };\n"),
        }
        match self.opts.notify_port {
            Some(p) => {
                let with_key = key.as_ref().map(|k| format!(" key \"{k}\"")).unwrap_or_default();
                let _ = writeln!(
                    c,
                    "    notify explicit;\n    also-notify {{ 127.0.0.1 port {p}{with_key}; }};"
                );
            }
            None => c.push_str("    notify no;\n"),
        }
        // no control channel (no rndc port, no /etc/bind/rndc.key): SIGHUP reloads
        c.push_str("};\ncontrols { };\n");
        if let Some(k) = &self.opts.key {
            let _ = writeln!(
                c,
                "key \"{}\" {{ algorithm {}; secret \"{}\"; }};",
                k.name, k.algorithm, k.secret
            );
        }
        let _ = writeln!(
            c,
            "zone \"{}\" {{ type primary; file \"{}\"; }};",
            self.opts.zone,
            self.zone_file.display()
        );
        c
    }

    fn write_config(&self) {
        fs::write(&self.config, self.config_text()).expect("cannot write named.conf");
        if let Some(check) = [
            Path::new("/usr/sbin/named-checkconf"),
            Path::new("/usr/bin/named-checkconf"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        {
            let out = Command::new(check)
                .arg(&self.config)
                .stdin(Stdio::null())
                .output()
                .expect("cannot run named-checkconf");
            assert!(
                out.status.success(),
                "named-checkconf rejects {}:\n{}{}\n--- named.conf\n{}",
                self.config.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.config_text()
            );
        }
    }

    fn spawn(&mut self) {
        self.stop();
        let log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log_path)
            .unwrap();
        // -g: foreground, log to stderr, no setuid (so no -u: it runs as the
        // test's user); -4: IPv4 only; -d 3: NOTIFY responses are logged.
        let child = Command::new(&self.named)
            .args(["-g", "-4", "-d", "3", "-c"])
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.named.display()));
        self.child = Some(child);
        if let Err(e) = wait_ready(self.child.as_mut().unwrap(), self.port, Some(&self.opts.zone)) {
            let msg = format!(
                "named (primary) did not serve {} on 127.0.0.1:{}: {e}\n--- {}\n{}\n--- named.log\n{}",
                self.opts.zone,
                self.port,
                self.config.display(),
                fs::read_to_string(&self.config).unwrap_or_default(),
                tail(&self.log(), 40),
            );
            self.stop();
            panic!("{msg}");
        }
    }

    /// Sends SIGHUP (by PID): named re-reads named.conf and reloads changed
    /// zone files, then sends NOTIFY for a zone whose serial went up.
    pub fn sighup(&self) {
        let pid = self.pid().expect("named is not running");
        // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill -HUP {pid}: {}", io::Error::last_os_error());
    }

    /// Waits up to 5 s for a line of named's log after byte `from`
    /// containing `needle`; panics with the log tail if none appears.
    pub fn wait_log(&self, from: usize, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if let Some(l) = log.get(from..).unwrap_or("").lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "named (primary): no `{needle}` in its log within 5 s\n{}",
                tail(&log, 30)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Makes named send NOTIFY to 127.0.0.1 port `port` after each change
    /// (signed with the key, if any): rewrites named.conf and reloads it.
    pub fn notify_to(&mut self, port: u16) {
        self.opts.notify_port = Some(port);
        self.write_config();
        let from = self.log().len();
        self.sighup();
        self.wait_log(from, "reloading configuration succeeded");
    }

    /// Replaces the zone file with `text` (whose SOA serial is `serial`),
    /// reloads (SIGHUP) and waits until named serves `serial`.  Returns
    /// when the SIGHUP was sent.  The file's mtime is set a second ahead
    /// so named never takes it for the file it already loaded.
    pub fn replace_zone(&mut self, text: &str, serial: u32) -> Instant {
        self.opts.zone_text = text.to_string();
        fs::write(&self.zone_file, text).expect("cannot write zone file");
        let f = File::options().write(true).open(&self.zone_file).unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
            .expect("cannot set the zone file's mtime");
        drop(f);
        let sent = Instant::now();
        self.sighup();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = wire::udp_query(
                self.addr(),
                &self.opts.zone,
                wire::TYPE_SOA,
                wire::CLASS_IN,
                Duration::from_millis(500),
            )
            .ok()
            .and_then(|r| soa_serial(&r));
            if now == Some(serial) {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "named (primary) did not load serial {serial} within 5 s of SIGHUP (serves {now:?})\n{}",
                tail(&self.log(), 30)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The serial named serves now (SOA over UDP).
    pub fn serial(&self) -> u32 {
        serial_at(self.addr(), &self.opts.zone, "named")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT`, as a pharos `primaries` entry.
    pub fn addr_str(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// named's log (stderr with `-g`) so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops named (SIGTERM by PID, SIGKILL after 5 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BindPrimary {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- named primary on 127.0.0.1:{} (pid {:?}), config {}, last log lines:\n{}\n----",
                self.port,
                self.pid(),
                self.config.display(),
                tail(&self.log(), 25)
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ------------------------------------------------------ scripted primary

/// How [`ScriptedPrimary`] answers AXFR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehave {
    /// A correct transfer.
    Nothing,
    /// Sends the first half of the messages and part of the next one, then
    /// closes the connection.
    CutOff,
    /// The final SOA carries serial + 1 instead of the first SOA's serial.
    FinalSoaDiffers,
    /// A record owned by a name outside the zone (`intruder.example.org.`)
    /// in the middle of the stream.
    OutsideZone,
    /// The second message carries the query's ID + 1.
    WrongId,
    /// Never ends: after the SOA, messages of new A records as fast as the
    /// secondary reads them (for at most [`HOSTILE_FOR`] or until the
    /// secondary closes the connection).
    Endless,
    /// Never ends either: one small message every 4 s.
    Trickle,
    /// The zone as it was one serial earlier, although the SOA query gets
    /// the current serial.
    Stale,
}

/// How long an endless or trickling transfer goes on at most.
pub const HOSTILE_FOR: Duration = Duration::from_secs(120);

/// What the scripted primary serves right now.
#[derive(Debug)]
struct Script {
    serial: u32,
    axfr: Misbehave,
    /// Answer IXFR with only the current SOA (as PowerDNS, which has no
    /// IXFR, does) instead of NOTIMP.
    ixfr_soa_only: bool,
    /// Each request seen: "udp SOA zone", "tcp AXFR zone", ...
    requests: Vec<String>,
}

/// Records per AXFR message.
const PER_MESSAGE: usize = 50;

/// A scripted primary for one zone on 127.0.0.1:`port` (UDP and TCP).  Its
/// zone for serial S: SOA (refresh 3600, retry 2, expire 3600), NS ns1,
/// `ns1` A 192.0.2.1, `version` TXT "vS", and `hosts` A records
/// `h0`..`h{hosts-1}`.  Stopped (threads joined) on drop.
pub struct ScriptedPrimary {
    pub ip: std::net::Ipv4Addr,
    pub port: u16,
    pub zone: String,
    pub hosts: usize,
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ScriptedPrimary {
    pub fn start(zone: &str, serial: u32, hosts: usize) -> ScriptedPrimary {
        Self::start_on([127, 0, 0, 1].into(), zone, serial, hosts)
    }

    /// The same, on another loopback address (`127.0.0.2`, ...): a primary
    /// of its own as far as the secondary can tell.
    pub fn start_on(ip: std::net::Ipv4Addr, zone: &str, serial: u32, hosts: usize) -> ScriptedPrimary {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let script = Arc::new(Mutex::new(Script {
            serial,
            axfr: Misbehave::Nothing,
            ixfr_soa_only: false,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (udp, tcp, port) = {
            let mut tries = 0;
            loop {
                let port = free_port(false);
                match (UdpSocket::bind((ip, port)), TcpListener::bind((ip, port))) {
                    (Ok(u), Ok(t)) => break (u, t, port),
                    (u, t) => {
                        tries += 1;
                        assert!(tries < 20, "scripted primary: cannot bind a port: {u:?} {t:?}");
                    }
                }
            }
        };
        udp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let ctx = Ctx {
            apex: encode_name(&zone),
            zone: zone.clone(),
            hosts,
            script: script.clone(),
        };
        let mut threads = Vec::new();
        {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            threads.push(std::thread::spawn(move || udp_loop(udp, ctx, stop)));
        }
        {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || tcp_loop(tcp, ctx, stop)));
        }
        ScriptedPrimary {
            ip,
            port,
            zone,
            hosts,
            script,
            stop,
            threads,
        }
    }

    /// From now on, serve the zone with this serial (its `version` TXT is
    /// "v<serial>").
    pub fn set_serial(&self, serial: u32) {
        self.script.lock().unwrap().serial = serial;
    }

    /// From now on, answer IXFR with only the current SOA (true) or with
    /// NOTIMP (false, the default).
    pub fn set_ixfr_soa_only(&self, soa_only: bool) {
        self.script.lock().unwrap().ixfr_soa_only = soa_only;
    }

    /// From now on, answer AXFR like this.
    pub fn set_axfr(&self, how: Misbehave) {
        self.script.lock().unwrap().axfr = how;
    }

    /// Every request seen so far, in order ("udp SOA z", "tcp IXFR z",
    /// "tcp AXFR z").
    pub fn requests(&self) -> Vec<String> {
        self.script.lock().unwrap().requests.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }

    /// `IP:PORT`, as a pharos `primaries` entry.
    pub fn addr_str(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

impl Drop for ScriptedPrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Ctx {
    apex: Vec<u8>,
    zone: String,
    hosts: usize,
    script: Arc<Mutex<Script>>,
}

/// One record in wire form (owner uncompressed).
struct Rec {
    owner: Vec<u8>,
    rtype: u16,
    rdata: Vec<u8>,
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.to_ascii_lowercase().as_bytes());
    }
    m.push(0);
    m
}

fn soa_rdata(zone: &str, serial: u32) -> Vec<u8> {
    let mut rd = encode_name(&format!("ns1.{zone}"));
    rd.extend(encode_name(&format!("host.{zone}")));
    for v in [serial, 3600, 2, 3600, 60] {
        rd.extend_from_slice(&v.to_be_bytes());
    }
    rd
}

impl Ctx {
    fn soa(&self, serial: u32) -> Rec {
        Rec {
            owner: self.apex.clone(),
            rtype: wire::TYPE_SOA,
            rdata: soa_rdata(&self.zone, serial),
        }
    }

    /// The zone's records for `serial` without the closing SOA.
    fn records(&self, serial: u32) -> Vec<Rec> {
        let z = &self.zone;
        let mut v = vec![
            self.soa(serial),
            Rec {
                owner: self.apex.clone(),
                rtype: wire::TYPE_NS,
                rdata: encode_name(&format!("ns1.{z}")),
            },
            Rec {
                owner: encode_name(&format!("ns1.{z}")),
                rtype: wire::TYPE_A,
                rdata: vec![192, 0, 2, 1],
            },
        ];
        let txt = format!("v{serial}");
        let mut rd = vec![txt.len() as u8];
        rd.extend_from_slice(txt.as_bytes());
        v.push(Rec {
            owner: encode_name(&format!("version.{z}")),
            rtype: wire::TYPE_TXT,
            rdata: rd,
        });
        for i in 0..self.hosts {
            v.push(Rec {
                owner: encode_name(&format!("h{i}.{z}")),
                rtype: wire::TYPE_A,
                rdata: vec![10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
            });
        }
        v
    }
}

/// A response: QR, AA, `rcode`, the question echoed, then `answers`.
fn response(id: u16, rcode: u8, question: &[u8], answers: &[Rec]) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(&id.to_be_bytes());
    m.push(0x84); // QR, opcode 0, AA
    m.push(rcode & 0x0f);
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(question);
    for r in answers {
        m.extend_from_slice(&r.owner);
        m.extend_from_slice(&r.rtype.to_be_bytes());
        m.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
        m.extend_from_slice(&300u32.to_be_bytes());
        m.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&r.rdata);
    }
    m
}

/// A parsed query: ID, the question as it appeared (name + type + class),
/// the lowercase name in wire form, and the type.
struct Question {
    id: u16,
    opcode: u8,
    raw: Vec<u8>,
    name: Vec<u8>,
    qtype: u16,
}

fn parse_question(m: &[u8]) -> Option<Question> {
    if m.len() < 12 || u16::from_be_bytes([m[4], m[5]]) != 1 {
        return None;
    }
    let mut p = 12;
    let mut name = Vec::new();
    loop {
        let len = *m.get(p)? as usize;
        if len & 0xc0 != 0 {
            return None;
        }
        name.push(len as u8);
        if len == 0 {
            p += 1;
            break;
        }
        name.extend(m.get(p + 1..p + 1 + len)?.iter().map(|b| b.to_ascii_lowercase()));
        p += 1 + len;
    }
    let qtype = u16::from_be_bytes([*m.get(p)?, *m.get(p + 1)?]);
    m.get(p + 2..p + 4)?;
    Some(Question {
        id: u16::from_be_bytes([m[0], m[1]]),
        opcode: (m[2] >> 3) & 0x0f,
        raw: m[12..p + 4].to_vec(),
        name,
        qtype,
    })
}

fn type_name(t: u16) -> String {
    match t {
        6 => "SOA".into(),
        251 => "IXFR".into(),
        252 => "AXFR".into(),
        t => format!("TYPE{t}"),
    }
}

fn udp_loop(sock: UdpSocket, ctx: Ctx, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65535];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some(q) = parse_question(&buf[..n]) else {
            continue;
        };
        let serial = {
            let mut s = ctx.script.lock().unwrap();
            s.requests.push(format!("udp {} {}", type_name(q.qtype), ctx.zone));
            s.serial
        };
        let reply = if q.opcode != 0 {
            response(q.id, 4, &q.raw, &[])
        } else if q.name != ctx.apex {
            response(q.id, 5, &q.raw, &[])
        } else if q.qtype == wire::TYPE_SOA {
            response(q.id, 0, &q.raw, &[ctx.soa(serial)])
        } else {
            response(q.id, 0, &q.raw, &[])
        };
        let _ = sock.send_to(&reply, peer);
    }
}

fn tcp_loop(listener: TcpListener, ctx: Ctx, stop: Arc<AtomicBool>) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                let ctx = ctx.clone();
                conns.push(std::thread::spawn(move || {
                    let _ = serve_tcp(s, &ctx);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

fn serve_tcp(mut s: TcpStream, ctx: &Ctx) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    loop {
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut q)?;
        let Some(q) = parse_question(&q) else {
            return Ok(());
        };
        let (serial, how, soa_only) = {
            let mut sc = ctx.script.lock().unwrap();
            sc.requests.push(format!("tcp {} {}", type_name(q.qtype), ctx.zone));
            (sc.serial, sc.axfr, sc.ixfr_soa_only)
        };
        if q.name != ctx.apex {
            s.write_all(&wire::frame(&response(q.id, 5, &q.raw, &[])))?;
            continue;
        }
        match q.qtype {
            wire::TYPE_SOA => s.write_all(&wire::frame(&response(q.id, 0, &q.raw, &[ctx.soa(serial)])))?,
            // IXFR: not implemented here, so the secondary must fall back to AXFR.
            251 if soa_only => s.write_all(&wire::frame(&response(q.id, 0, &q.raw, &[ctx.soa(serial)])))?,
            251 => s.write_all(&wire::frame(&response(q.id, 4, &q.raw, &[])))?,
            252 => {
                send_axfr(&mut s, ctx, &q, serial, how)?;
                if matches!(how, Misbehave::CutOff | Misbehave::Endless | Misbehave::Trickle) {
                    return Ok(());
                }
            }
            _ => s.write_all(&wire::frame(&response(q.id, 4, &q.raw, &[])))?,
        }
    }
}

/// An AXFR that never ends: the SOA, then A records `e<n>` in messages of
/// [`PER_MESSAGE`], fast (`Endless`) or one message every 4 s (`Trickle`).
fn send_hostile_axfr(s: &mut TcpStream, ctx: &Ctx, q: &Question, serial: u32, how: Misbehave) -> io::Result<()> {
    let started = std::time::Instant::now();
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(&wire::frame(&response(q.id, 0, &q.raw, &[ctx.soa(serial)])))?;
    let mut n: u64 = 0;
    while started.elapsed() < HOSTILE_FOR {
        let per = if how == Misbehave::Trickle { 2 } else { PER_MESSAGE };
        let recs: Vec<Rec> = (0..per)
            .map(|_| {
                n += 1;
                Rec {
                    owner: encode_name(&format!("e{n}.{}", ctx.zone)),
                    rtype: wire::TYPE_A,
                    rdata: (n as u32).to_be_bytes().to_vec(),
                }
            })
            .collect();
        s.write_all(&wire::frame(&response(q.id, 0, &q.raw, &recs)))?;
        if how == Misbehave::Trickle {
            std::thread::sleep(Duration::from_secs(4));
        }
    }
    s.shutdown(Shutdown::Both)
}

fn send_axfr(s: &mut TcpStream, ctx: &Ctx, q: &Question, serial: u32, how: Misbehave) -> io::Result<()> {
    if matches!(how, Misbehave::Endless | Misbehave::Trickle) {
        return send_hostile_axfr(s, ctx, q, serial, how);
    }
    let serial = if how == Misbehave::Stale {
        serial.wrapping_sub(1)
    } else {
        serial
    };
    let mut recs = ctx.records(serial);
    if how == Misbehave::OutsideZone {
        let mid = recs.len() / 2;
        recs.insert(
            mid,
            Rec {
                owner: encode_name("intruder.example.org"),
                rtype: wire::TYPE_A,
                rdata: vec![198, 51, 100, 66],
            },
        );
    }
    recs.push(ctx.soa(if how == Misbehave::FinalSoaDiffers {
        serial + 1
    } else {
        serial
    }));
    let messages: Vec<Vec<u8>> = recs
        .chunks(PER_MESSAGE)
        .enumerate()
        .map(|(i, chunk)| {
            let id = if how == Misbehave::WrongId && i == 1 {
                q.id.wrapping_add(1)
            } else {
                q.id
            };
            wire::frame(&response(id, 0, &q.raw, chunk))
        })
        .collect();
    if how == Misbehave::CutOff {
        assert!(messages.len() >= 3, "CutOff needs a zone of at least 3 messages");
        let half = messages.len() / 2;
        for m in &messages[..half] {
            s.write_all(m)?;
        }
        let next = &messages[half];
        s.write_all(&next[..next.len() / 2])?;
        s.flush()?;
        std::thread::sleep(Duration::from_millis(50));
        return s.shutdown(Shutdown::Both);
    }
    for m in &messages {
        s.write_all(m)?;
    }
    s.flush()
}

/// The serial `who` (a primary) serves for `zone` now (SOA over UDP).
fn serial_at(addr: SocketAddr, zone: &str, who: &str) -> u32 {
    let r = wire::udp_query(addr, zone, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{who} (primary) does not answer SOA: {e}"));
    soa_serial(&r).unwrap_or_else(|| panic!("{who} (primary) answered SOA without a serial: {r}"))
}
