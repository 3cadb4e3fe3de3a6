//! Real secondaries for the hub tests (tests/hub_chain.rs): [`Secondary`]
//! runs Knot DNS (`knotd`), BIND 9 (`named -g -d 3`) or NSD (`nsd -d`) as
//! a secondary of one or more zones, each zone with its primary
//! (address:port) and optionally a TSIG key that its transfers, SOA queries
//! and the NOTIFYs it accepts are signed with.  Each runs on a free
//! loopback port (or one the test chose before, so that a hub can be told
//! to NOTIFY it), in its own temp dir, as the test's user; it is killed
//! (by PID) on drop.
//!
//! What a test asks of it: the serial it serves ([`Secondary::serial`],
//! [`Secondary::wait_serial`]), its contents as canonical records
//! ([`Secondary::records`], an AXFR from 127.0.0.1, which every kind
//! allows unsigned), and from its own log how many transfers in were IXFR
//! and how many AXFR ([`Secondary::xfr_counts`]):
//!
//! * Knot: `[zone.] IXFR, incoming, ... finished` / `AXFR, incoming, ...
//!   finished` (an IXFR answered with the whole zone is logged as AXFR);
//! * BIND (`-d 3`): `transfer of 'zone/IN' from ...: got incremental
//!   response` / `got nonincremental response` (an IXFR answered with the
//!   whole zone, or an AXFR);
//! * NSD 4.6 does not log the kind: `zone zone. received update to serial
//!   S ... of N bytes`; a transfer is counted as IXFR when N is below
//!   [`SecondaryOpts::nsd_axfr_min_bytes`], so a test gives its zone enough
//!   records that the whole zone is far bigger than one change.
//!
//! A Knot secondary keeps its zone in its journal (`journal-content:
//! all`, no zone file), so after [`Secondary::stop`] and
//! [`Secondary::start_again`] it has its old version and asks for IXFR.
//! A Knot secondary can also feed others ([`SecondaryOpts::notify`],
//! [`SecondaryOpts::out_key`]): a Knot "hub", to validate the rig itself.
//! [`canonical_axfr`] and [`assert_same_records`] compare two servers'
//! contents with a readable diff.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::primary::TsigKeyConf;
use super::server::{free_port, read_lossy, tail, wait_ready};
use super::tools::{kdig, require_program};
use super::wire;

/// Which software runs the secondary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondaryKind {
    Knot,
    Bind,
    Nsd,
}

impl SecondaryKind {
    pub fn name(self) -> &'static str {
        match self {
            SecondaryKind::Knot => "knot",
            SecondaryKind::Bind => "bind",
            SecondaryKind::Nsd => "nsd",
        }
    }
}

/// One secondary zone: its name, its primary and the key for that hop.
#[derive(Clone, Debug)]
pub struct SecondaryZone {
    pub name: String,
    pub primary: SocketAddr,
    pub key: Option<TsigKeyConf>,
}

impl SecondaryZone {
    pub fn new(name: &str, primary: SocketAddr, key: Option<&TsigKeyConf>) -> Self {
        SecondaryZone {
            name: name.trim_end_matches('.').to_string(),
            primary,
            key: key.cloned(),
        }
    }
}

/// Settings for [`Secondary::start`].
#[derive(Clone, Debug)]
pub struct SecondaryOpts {
    pub kind: SecondaryKind,
    pub zones: Vec<SecondaryZone>,
    /// The port to listen on; 0: a free one.
    pub port: u16,
    /// Knot only: send NOTIFY for every zone to these after each change
    /// (signed with `out_key` when set).
    pub notify: Vec<SocketAddr>,
    /// Knot only: also allow transfers from 127.0.0.1 signed with this key.
    pub out_key: Option<TsigKeyConf>,
    /// NSD only: a transfer of at least this many bytes counts as AXFR.
    pub nsd_axfr_min_bytes: u64,
    /// Knot and BIND: catalog zones (RFC 9432) to consume, each from its
    /// primary; their members become secondary zones of the same primary
    /// (Knot: `catalog-role: interpret` with a `catalog-template`; BIND:
    /// `catalog-zones` with `default-primaries`).
    pub catalogs: Vec<SecondaryZone>,
}

impl SecondaryOpts {
    pub fn new(kind: SecondaryKind, zones: Vec<SecondaryZone>) -> Self {
        SecondaryOpts {
            kind,
            zones,
            port: 0,
            notify: Vec::new(),
            out_key: None,
            nsd_axfr_min_bytes: 2048,
            catalogs: Vec::new(),
        }
    }
}

/// Transfers in, by kind, as the secondary's log tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XfrCounts {
    pub ixfr: usize,
    pub axfr: usize,
}

/// A running Knot, BIND or NSD secondary.  Killed on drop.
pub struct Secondary {
    child: Option<Child>,
    pub opts: SecondaryOpts,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log_path: PathBuf,
}

impl Secondary {
    /// Starts the secondary and waits until it answers queries (not until
    /// it has its zones: see [`Secondary::wait_serial`]).
    pub fn start(mut opts: SecondaryOpts) -> Secondary {
        if opts.port == 0 {
            opts.port = free_port(false);
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-secondary.", opts.kind.name()))
            .tempdir()
            .expect("cannot create temp dir");
        let (config, log_path) = match opts.kind {
            SecondaryKind::Knot => (dir.path().join("knot.conf"), dir.path().join("knot.log")),
            SecondaryKind::Bind => (dir.path().join("named.conf"), dir.path().join("named.log")),
            SecondaryKind::Nsd => (dir.path().join("nsd.conf"), dir.path().join("nsd.log")),
        };
        File::create(&log_path).expect("cannot create log file");
        let port = opts.port;
        let mut s = Secondary {
            child: None,
            opts,
            port,
            dir,
            config,
            log_path,
        };
        fs::write(&s.config, s.config_text()).expect("cannot write the secondary's config");
        s.start_again();
        s
    }

    fn d(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// The config file for the current settings.
    pub fn config_text(&self) -> String {
        match self.opts.kind {
            SecondaryKind::Knot => self.knot_config(),
            SecondaryKind::Bind => self.bind_config(),
            SecondaryKind::Nsd => self.nsd_config(),
        }
    }

    /// Every distinct key of the zones (and the out key).
    fn keys(&self) -> Vec<TsigKeyConf> {
        let mut keys: Vec<TsigKeyConf> = Vec::new();
        let all = self.opts.zones.iter().filter_map(|z| z.key.clone());
        for k in all.chain(self.opts.out_key.clone()) {
            if !keys.iter().any(|x| x.name == k.name) {
                keys.push(k);
            }
        }
        keys
    }

    fn knot_config(&self) -> String {
        let d = self.d();
        let mut c = String::from("# written by tests/common/secondaries.rs\nserver:\n");
        let _ = writeln!(c, "    rundir: {d}/run\n    pidfile: {d}/run/knot.pid");
        let _ = writeln!(c, "    listen: 127.0.0.1@{}", self.port);
        let _ = writeln!(
            c,
            "database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
             log:\n  - target: {d}/knot.log\n    any: info"
        );
        let keys = self.keys();
        if !keys.is_empty() {
            c.push_str("key:\n");
            for k in &keys {
                let _ = writeln!(
                    c,
                    "  - id: {}\n    algorithm: {}\n    secret: {}",
                    k.name, k.algorithm, k.secret
                );
            }
        }
        c.push_str("remote:\n");
        for (i, z) in self.opts.zones.iter().enumerate() {
            let _ = writeln!(c, "  - id: primary{i}\n    address: {}", knot_addr(z.primary));
            if let Some(k) = &z.key {
                let _ = writeln!(c, "    key: {}", k.name);
            }
        }
        for (i, z) in self.opts.catalogs.iter().enumerate() {
            let _ = writeln!(c, "  - id: catprimary{i}\n    address: {}", knot_addr(z.primary));
        }
        for (i, a) in self.opts.notify.iter().enumerate() {
            let _ = writeln!(c, "  - id: downstream{i}\n    address: {}", knot_addr(*a));
            if let Some(k) = &self.opts.out_key {
                let _ = writeln!(c, "    key: {}", k.name);
            }
        }
        c.push_str("acl:\n  - id: local_transfer\n    address: 127.0.0.1\n    action: transfer\n");
        if let Some(k) = &self.opts.out_key {
            let _ = writeln!(
                c,
                "  - id: keyed_transfer\n    address: 127.0.0.1\n    key: {}\n    action: transfer",
                k.name
            );
        }
        for (i, z) in self.opts.zones.iter().enumerate() {
            let _ = writeln!(
                c,
                "  - id: notify{i}\n    address: {}\n    action: notify",
                z.primary.ip()
            );
            if let Some(k) = &z.key {
                let _ = writeln!(c, "    key: {}", k.name);
            }
        }
        for (i, z) in self.opts.catalogs.iter().enumerate() {
            let _ = writeln!(
                c,
                "  - id: catnotify{i}\n    address: {}\n    action: notify",
                z.primary.ip()
            );
        }
        c.push_str(
            "template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n\
             \x20   semantic-checks: off\n",
        );
        for i in 0..self.opts.catalogs.len() {
            let _ = writeln!(
                c,
                "  - id: catmember{i}\n    master: catprimary{i}\n    acl: [local_transfer, catnotify{i}]\n\
                 \x20   file: \"{d}/%s.zone\"\n    zonefile-sync: -1\n    zonefile-load: none\n\
                 \x20   journal-content: all\n    semantic-checks: off"
            );
        }
        c.push_str("zone:\n");
        for (i, z) in self.opts.catalogs.iter().enumerate() {
            let _ = writeln!(
                c,
                "  - domain: \"{}.\"\n    file: \"{d}/{}.zone\"\n    master: catprimary{i}\n\
                 \x20   acl: [local_transfer, catnotify{i}]\n    catalog-role: interpret\n\
                 \x20   catalog-template: catmember{i}",
                z.name, z.name
            );
        }
        for (i, z) in self.opts.zones.iter().enumerate() {
            let _ = writeln!(c, "  - domain: \"{}.\"", z.name);
            let _ = writeln!(c, "    file: \"{d}/{}.zone\"", z.name);
            let _ = writeln!(c, "    master: primary{i}");
            let mut acl = vec!["local_transfer".to_string(), format!("notify{i}")];
            if self.opts.out_key.is_some() {
                acl.push("keyed_transfer".into());
            }
            let _ = writeln!(c, "    acl: [{}]", acl.join(", "));
            if !self.opts.notify.is_empty() {
                let ids: Vec<String> = (0..self.opts.notify.len()).map(|i| format!("downstream{i}")).collect();
                let _ = writeln!(c, "    notify: [{}]", ids.join(", "));
            }
        }
        c
    }

    fn bind_config(&self) -> String {
        let d = self.d();
        let mut c = String::from("# written by tests/common/secondaries.rs\noptions {\n");
        let _ = writeln!(c, "    directory \"{d}\";\n    pid-file \"{d}/named.pid\";");
        let _ = writeln!(
            c,
            "    session-keyfile \"{d}/session.key\";\n    managed-keys-directory \"{d}\";"
        );
        let _ = writeln!(c, "    listen-on port {} {{ 127.0.0.1; }};", self.port);
        // short retry so a secondary whose primary went away tries again soon
        c.push_str(
            "    listen-on-v6 { none; };\n    recursion no;\n    dnssec-validation no;\n\
             \x20   notify no;\n    allow-transfer { 127.0.0.1; };\n\
             \x20   min-refresh-time 1;\n    min-retry-time 1;\n    max-retry-time 2;\n\
             \x20   max-records-per-type 0;\n    max-types-per-name 0;\n",
        );
        if !self.opts.catalogs.is_empty() {
            c.push_str("    allow-new-zones yes;\n    catalog-zones {\n");
            for z in &self.opts.catalogs {
                let _ = writeln!(
                    c,
                    "        zone \"{}\" default-primaries port {} {{ {}; }} zone-directory \"{d}\" \
                     in-memory no min-update-interval 1;",
                    z.name,
                    z.primary.port(),
                    z.primary.ip()
                );
            }
            c.push_str("    };\n");
        }
        c.push_str("};\ncontrols { };\n");
        for k in self.keys() {
            let _ = writeln!(
                c,
                "key \"{}\" {{ algorithm {}; secret \"{}\"; }};",
                k.name, k.algorithm, k.secret
            );
        }
        for z in self.opts.zones.iter().chain(&self.opts.catalogs) {
            let key = z
                .key
                .as_ref()
                .map(|k| format!(" key \"{}\"", k.name))
                .unwrap_or_default();
            let _ = writeln!(
                c,
                "zone \"{}\" {{ type secondary; file \"{d}/{}.db\"; masterfile-format text;\n\
                 \x20   primaries port {} {{ {}{key}; }};\n    allow-notify {{ {}; }}; }};",
                z.name,
                z.name,
                z.primary.port(),
                z.primary.ip(),
                z.primary.ip()
            );
        }
        c
    }

    fn nsd_config(&self) -> String {
        let d = self.d();
        let mut c = String::from("# written by tests/common/secondaries.rs\nserver:\n");
        let _ = writeln!(c, "    ip-address: 127.0.0.1@{}\n    port: {}", self.port, self.port);
        let _ = writeln!(
            c,
            "    username: \"\"\n    chroot: \"\"\n    zonesdir: \"{d}\"\n    database: \"\"\n\
             \x20   zonelistfile: \"{d}/zone.list\"\n    xfrdfile: \"{d}/xfrd.state\"\n\
             \x20   xfrdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    logfile: \"{d}/nsd.log\"\n\
             \x20   verbosity: 2\n    server-count: 1\n    xfrd-reload-timeout: 0\n\
             remote-control:\n    control-enable: no"
        );
        for k in self.keys() {
            let _ = writeln!(
                c,
                "key:\n    name: \"{}\"\n    algorithm: {}\n    secret: \"{}\"",
                k.name, k.algorithm, k.secret
            );
        }
        for z in &self.opts.zones {
            let key = z.key.as_ref().map(|k| k.name.clone()).unwrap_or_else(|| "NOKEY".into());
            let _ = writeln!(
                c,
                "zone:\n    name: \"{}\"\n    zonefile: \"{d}/{}.zone\"\n\
                 \x20   request-xfr: {}@{} {key}\n    allow-notify: {} {key}\n\
                 \x20   provide-xfr: 127.0.0.1 NOKEY",
                z.name,
                z.name,
                z.primary.ip(),
                z.primary.port(),
                z.primary.ip()
            );
        }
        c
    }

    /// Starts the process again (after [`Secondary::stop`] or
    /// [`Secondary::kill9`]) with the same config, port and state, and
    /// waits until it answers.
    pub fn start_again(&mut self) {
        self.stop();
        let out = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path().join("stdout.log"))
            .expect("cannot open stdout.log");
        let mut cmd = match self.opts.kind {
            SecondaryKind::Knot => {
                for sub in ["run", "db"] {
                    fs::create_dir_all(self.dir.path().join(sub)).expect("cannot create knot dirs");
                }
                let mut c = Command::new(require_program("knotd", "knot"));
                c.arg("-c").arg(&self.config);
                c
            }
            SecondaryKind::Bind => {
                // named -g logs to stderr: that is its log file here
                let mut c = Command::new(require_program("named", "bind9"));
                c.args(["-g", "-4", "-d", "3", "-c"]).arg(&self.config);
                c
            }
            SecondaryKind::Nsd => {
                let mut c = Command::new(require_program("nsd", "nsd"));
                c.arg("-d").arg("-c").arg(&self.config);
                c
            }
        };
        let (stdout, stderr) = if self.opts.kind == SecondaryKind::Bind {
            let log = fs::OpenOptions::new()
                .append(true)
                .open(&self.log_path)
                .expect("cannot open named.log");
            (Stdio::from(log.try_clone().expect("dup")), Stdio::from(log))
        } else {
            (Stdio::from(out.try_clone().expect("dup")), Stdio::from(out))
        };
        let child = cmd
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn the {} secondary: {e}", self.opts.kind.name()));
        self.child = Some(child);
        if let Err(e) = wait_ready(self.child.as_mut().expect("child"), self.port, None) {
            let msg = format!(
                "{} secondary did not answer on 127.0.0.1:{}: {e}\n--- {}\n{}\n--- log\n{}\n--- stdout\n{}",
                self.opts.kind.name(),
                self.port,
                self.config.display(),
                self.config_text(),
                tail(&self.log(), 40),
                tail(&read_lossy(&self.dir.path().join("stdout.log")), 20)
            );
            self.stop();
            panic!("{msg}");
        }
    }

    /// Stops the process: SIGTERM by PID (NSD's main process stops its
    /// children), SIGKILL after 5 s, and reaps it.
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

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Its log so far (knot.log, named's stderr, nsd.log).
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// The serial it serves for `zone` (SOA over UDP, authoritative), if any.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let r = wire::udp_query(
            self.addr(),
            zone,
            wire::TYPE_SOA,
            wire::CLASS_IN,
            Duration::from_millis(500),
        )
        .ok()?;
        if r.rcode != 0 || !r.aa() {
            return None;
        }
        super::primary::soa_serial(&r)
    }

    /// Waits up to `limit` until it serves `serial` (or a later one, in
    /// serial arithmetic) for `zone`; panics with its log if not.
    pub fn wait_serial(&self, zone: &str, serial: u32, limit: Duration) -> Duration {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < limit {
            last = self.serial(zone);
            if last.is_some_and(|s| s == serial || (s.wrapping_sub(serial) as i32) > 0) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} secondary on 127.0.0.1:{}: {zone} not at serial {serial} within {limit:?} (serves {last:?})\n--- log\n{}",
            self.opts.kind.name(),
            self.port,
            tail(&self.log(), 30)
        );
    }

    /// Its contents of `zone` as canonical records ([`canonical_axfr`]).
    pub fn records(&self, zone: &str) -> Vec<String> {
        canonical_axfr(self.addr(), zone, None)
    }

    /// Transfers in of `zone` so far, by kind, from its log (see the
    /// module docs for the lines read).
    pub fn xfr_counts(&self, zone: &str) -> XfrCounts {
        let zone = zone.trim_end_matches('.');
        let log = self.log();
        let mut n = XfrCounts::default();
        match self.opts.kind {
            SecondaryKind::Knot => {
                let tag = format!("[{zone}.] ");
                for l in log.lines().filter(|l| l.contains(&tag) && l.contains(", finished,")) {
                    if l.contains("IXFR, incoming") {
                        n.ixfr += 1;
                    } else if l.contains("AXFR, incoming") {
                        n.axfr += 1;
                    }
                }
            }
            SecondaryKind::Bind => {
                let tag = format!("transfer of '{zone}/IN'");
                for l in log.lines().filter(|l| l.contains(&tag)) {
                    if l.contains("got incremental response") {
                        n.ixfr += 1;
                    } else if l.contains("got nonincremental response") {
                        n.axfr += 1;
                    }
                }
            }
            SecondaryKind::Nsd => {
                let tag = format!("zone {zone}. received update to serial");
                for l in log.lines().filter(|l| l.contains(&tag)) {
                    let bytes = l
                        .rsplit_once(" of ")
                        .and_then(|(_, r)| r.split_whitespace().next())
                        .and_then(|b| b.parse::<u64>().ok());
                    match bytes {
                        Some(b) if b < self.opts.nsd_axfr_min_bytes => n.ixfr += 1,
                        _ => n.axfr += 1,
                    }
                }
            }
        }
        n
    }

    /// Knot only: `knotc ARGS` on its control socket; panics unless it
    /// succeeds.
    pub fn knotc(&self, args: &[&str]) -> String {
        assert_eq!(self.opts.kind, SecondaryKind::Knot, "knotc on a non-Knot secondary");
        let out = Command::new(require_program("knotc", "knot"))
            .arg("-s")
            .arg(self.dir.path().join("run/knot.sock"))
            .args(["-t", "10"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run knotc: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "knotc {} failed:\n{text}", args.join(" "));
        text
    }
}

impl Drop for Secondary {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} secondary on 127.0.0.1:{} (pid {:?}), config {}, last log lines:\n{}\n----",
                self.opts.kind.name(),
                self.port,
                self.pid(),
                self.config.display(),
                tail(&self.log(), 25)
            );
        }
        self.stop();
    }
}

/// `ADDR@PORT`, as Knot writes a remote.
fn knot_addr(a: SocketAddr) -> String {
    format!("{}@{}", a.ip(), a.port())
}

/// `-y ALG:NAME:SECRET` for kdig.
pub fn kdig_key(k: &TsigKeyConf) -> String {
    format!("{}:{}:{}", k.algorithm, k.name, k.secret)
}

/// Which rdata fields (0-based, after the type) hold domain names, for the
/// types whose names the comparison lowercases.
fn name_fields(rtype: &str) -> &'static [usize] {
    match rtype {
        "NS" | "CNAME" | "DNAME" | "PTR" | "NSEC" => &[0],
        "SOA" | "RP" => &[0, 1],
        "MX" | "AFSDB" | "KX" => &[1],
        "SRV" => &[3],
        "RRSIG" => &[7],
        "NAPTR" => &[5],
        _ => &[],
    }
}

/// One record line of `kdig +noall +answer` in canonical text: owner
/// lowercased, TTL, class, type, the rdata fields separated by one space
/// with the names in them lowercased.
pub fn canonical_record(line: &str) -> Option<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 4 || f[0].starts_with(';') {
        return None;
    }
    let rtype = f[3].to_ascii_uppercase();
    let names = name_fields(&rtype);
    let rdata: Vec<String> = f[4..]
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if names.contains(&i) {
                x.to_ascii_lowercase()
            } else {
                x.to_string()
            }
        })
        .collect();
    Some(format!(
        "{} {} {} {rtype} {}",
        f[0].to_ascii_lowercase(),
        f[1],
        f[2].to_ascii_uppercase(),
        rdata.join(" ")
    ))
}

/// The AXFR of `zone` from `server` (signed with `key` if given) as sorted
/// canonical records ([`canonical_record`]), the closing SOA left out.
/// Panics with kdig's output if the transfer fails.
pub fn canonical_axfr(server: SocketAddr, zone: &str, key: Option<&TsigKeyConf>) -> Vec<String> {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "+noall".into(),
        "+answer".into(),
        "+tcp".into(),
        "+timeout=20".into(),
        "+retry=0".into(),
    ];
    if let Some(k) = key {
        args.push("-y".into());
        args.push(kdig_key(k));
    }
    args.push(zone.into());
    args.push("AXFR".into());
    let out = kdig(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && !text.contains("Transfer failed") && !err.contains("Transfer failed"),
        "AXFR of {zone} from {server} failed (exit {:?})\n--- stdout\n{}\n--- stderr\n{err}",
        out.status.code(),
        tail(&text, 20)
    );
    let mut recs: Vec<String> = text.lines().filter_map(canonical_record).collect();
    assert!(
        recs.len() >= 2,
        "AXFR of {zone} from {server}: fewer than two records\n{}\n{err}",
        tail(&text, 20)
    );
    // the stream ends with the SOA it starts with
    if recs.first() == recs.last() {
        recs.pop();
    }
    recs.sort();
    recs
}

/// Asserts that two sorted record lists are equal; otherwise panics with
/// the records only in one of them (at most 30 of each).
pub fn assert_same_records(what: &str, expected_from: &str, expected: &[String], got_from: &str, got: &[String]) {
    if expected == got {
        return;
    }
    let only_expected: Vec<&String> = expected.iter().filter(|r| got.binary_search(r).is_err()).collect();
    let only_got: Vec<&String> = got.iter().filter(|r| expected.binary_search(r).is_err()).collect();
    let mut msg = format!(
        "{what}: {got_from} ({} records) differs from {expected_from} ({} records)\n",
        got.len(),
        expected.len()
    );
    let _ = writeln!(msg, "--- only in {expected_from} ({}):", only_expected.len());
    for r in only_expected.iter().take(30) {
        let _ = writeln!(msg, "- {r}");
    }
    let _ = writeln!(msg, "+++ only in {got_from} ({}):", only_got.len());
    for r in only_got.iter().take(30) {
        let _ = writeln!(msg, "+ {r}");
    }
    panic!("{msg}");
}
