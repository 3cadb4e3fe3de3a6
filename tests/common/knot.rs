//! Knot DNS as the reference server: [`KnotOpts`], the knot.conf written
//! from them, and [`Knot`], a running knotd (also what [`super::Pharos`]
//! spawns in place of pharos with `PHAROS_TEST_AGAINST=knot`).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::pharos::PharosOpts;
use super::server::{free_port, read_lossy, tail, wait_ready};
use super::tools::require_program;
use super::zone::Zone;

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
    let mut c = String::from("# written by tests/common/knot.rs\nserver:\n");
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
         template:\n  - id: default\n    global-module: mod-cookies\n    zonefile-sync: -1\n    zonefile-load: whole\n\
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

pub(super) fn spawn_knot(opts: &KnotOpts, port: u16, dir: &Path) -> (Child, PathBuf, PathBuf) {
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
