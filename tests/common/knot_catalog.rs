//! Knot DNS as a catalog producer (RFC 9432): [`KnotCatalog`], one knotd
//! serving member zones and catalogs, NOTIFY to one node.
//!
//! * A generated catalog: Knot writes it (`catalog-role: generate`) from
//!   its member zones (`catalog-role: member`, `catalog-zone`,
//!   `catalog-group`); members are added and removed at run time by knotc
//!   config transactions ([`KnotCatalog::add_members`],
//!   [`KnotCatalog::remove_member`]).
//! * Plain zones: anything else, e.g. a catalog written by hand (version 1,
//!   or a broken version 2 Knot itself would never write) and its members;
//!   changed by knotc zone transactions ([`KnotCatalog::edit`]), after
//!   which Knot bumps the serial, keeps the difference for IXFR and sends
//!   NOTIFY.
//!
//! knotd listens on 127.0.0.1 and 127.0.0.2 (same port), so that a node can
//! name it twice, in two orders. Transfers are allowed from 127.0.0.0/8;
//! a member marked `keyed` only signed with [`KnotCatalog::key`].

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::primary::{TsigKeyConf, soa_serial};
use super::server::{START_TIMEOUT, free_port, read_lossy, tail, wait_ready};
use super::tools::{kdig, require_program};
use super::wire;

/// A member zone of the generated catalog.
#[derive(Clone, Debug)]
pub struct KnotMember {
    pub zone: String,
    /// `catalog-group`.
    pub group: Option<String>,
    /// Transfers of this zone only signed with the key (Knot's `acl`).
    pub keyed: bool,
}

impl KnotMember {
    pub fn new(zone: &str, group: Option<&str>) -> Self {
        KnotMember {
            zone: zone.to_string(),
            group: group.map(str::to_string),
            keyed: false,
        }
    }

    pub fn keyed(mut self) -> Self {
        self.keyed = true;
        self
    }
}

/// A zone Knot serves as it is (no catalog role).
#[derive(Clone, Debug)]
pub struct PlainZone {
    pub zone: String,
    pub text: String,
    /// Send NOTIFY to the node after each change (for catalogs).
    pub notify: bool,
}

/// Settings for [`KnotCatalog::start`].
#[derive(Clone, Debug, Default)]
pub struct KnotCatalogOpts {
    /// The catalog Knot generates, if any, and its members.
    pub generated: Option<String>,
    pub members: Vec<KnotMember>,
    pub plain: Vec<PlainZone>,
    /// NOTIFY of the catalogs goes to 127.0.0.1@this port.
    pub notify_port: u16,
}

/// One record change of a zone transaction ([`KnotCatalog::edit`]).
#[derive(Clone, Debug)]
pub enum Edit<'a> {
    /// `zone-set OWNER 0 TYPE RDATA` (owner relative to the zone or absolute).
    Set(&'a str, &'a str, &'a str),
    /// `zone-unset OWNER TYPE RDATA`: one record.
    Unset(&'a str, &'a str, &'a str),
}

/// Sleeps until the wall clock's second changes (Knot labels a member of
/// a generated catalog by a hash of its name and the second it became a
/// member).
pub fn next_second() {
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let now = secs();
    while secs() == now {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A zone file: SOA serial 1, NS, one A record.
pub fn member_text(zone: &str) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host 1 3600 600 86400 60\n@ NS ns1\n\
         ns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// A running knotd.  Killed (by PID) on drop.
pub struct KnotCatalog {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log_path: PathBuf,
    /// The key of `keyed` members.
    pub key: TsigKeyConf,
    knotc: PathBuf,
}

impl KnotCatalog {
    /// Writes the zone files and knot.conf, starts knotd on a free port and
    /// waits until it serves every zone (the generated catalog too).
    pub fn start(opts: KnotCatalogOpts) -> KnotCatalog {
        let knotd = require_program("knotd", "knot");
        let knotc = require_program("knotc", "knot");
        let dir = tempfile::Builder::new()
            .prefix("knot-catalog.")
            .tempdir()
            .expect("cannot create temp dir");
        for sub in ["run", "db", "zones"] {
            fs::create_dir_all(dir.path().join(sub)).expect("cannot create knot dirs");
        }
        let mut k = KnotCatalog {
            child: None,
            port: free_port(false),
            config: dir.path().join("knot.conf"),
            log_path: dir.path().join("knot.log"),
            dir,
            key: TsigKeyConf::new(
                "gold-key",
                "hmac-sha256",
                "Z29sZC1rZXktZm9yLWNhdGFsb2ctaW50ZXJvcC10ZXN0cw==",
            ),
            knotc,
        };
        for m in &opts.members {
            k.write_zone(&m.zone, &member_text(&m.zone));
        }
        for p in &opts.plain {
            k.write_zone(&p.zone, &p.text);
        }
        fs::write(&k.config, k.config_text(&opts)).expect("cannot write knot.conf");
        File::create(&k.log_path).expect("cannot create knot.log");
        let out = File::create(k.dir.path().join("stdout.log")).expect("cannot create stdout.log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&k.config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("stdout.log"))
            .stderr(out)
            .spawn()
            .expect("cannot spawn knotd");
        k.child = Some(child);
        // Knot 3.2 answers queries for a generated catalog over TCP only
        // (REFUSED over UDP): its readiness is an AXFR.
        let names = opts
            .members
            .iter()
            .map(|m| &m.zone)
            .chain(opts.plain.iter().map(|p| &p.zone));
        for z in names {
            let child = k.child.as_mut().expect("knotd child");
            if let Err(e) = wait_ready(child, k.port, Some(z)) {
                panic!(
                    "knotd did not serve {z} on 127.0.0.1:{}: {e}\n--- {}\n{}\n--- knot.log\n{}\n--- stdout.log\n{}",
                    k.port,
                    k.config.display(),
                    fs::read_to_string(&k.config).unwrap_or_default(),
                    tail(&k.log(), 40),
                    tail(&read_lossy(&k.dir.path().join("stdout.log")), 20)
                );
            }
        }
        if let Some(cat) = &opts.generated {
            let deadline = Instant::now() + START_TIMEOUT;
            while k.axfr(cat).is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "knotd did not serve its catalog {cat} by AXFR\n--- knot.log\n{}",
                    tail(&k.log(), 40)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        k
    }

    fn zone_file(&self, zone: &str) -> PathBuf {
        self.dir.path().join("zones").join(format!("{zone}.zone"))
    }

    fn write_zone(&self, zone: &str, text: &str) {
        fs::write(self.zone_file(zone), text).expect("cannot write zone file");
    }

    fn config_text(&self, opts: &KnotCatalogOpts) -> String {
        let d = self.dir.path().display();
        let p = self.port;
        let k = &self.key;
        let mut c = String::from("# written by tests/common/knot_catalog.rs\nserver:\n");
        let _ = writeln!(c, "    rundir: {d}/run\n    pidfile: {d}/run/knot.pid");
        let _ = writeln!(c, "    listen: [ 127.0.0.1@{p}, 127.0.0.2@{p} ]");
        let _ = writeln!(
            c,
            "database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n\
             remote:\n  - id: node\n    address: 127.0.0.1@{}\n\
             acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n\
             \x20 - id: xfr_keyed\n    address: 127.0.0.0/8\n    key: {}\n    action: transfer\n\
             template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n\
             \x20   journal-content: changes\n    serial-policy: increment\n    semantic-checks: off\n\
             \x20   acl: [ xfr, xfr_keyed ]\nzone:",
            k.name, k.algorithm, k.secret, opts.notify_port, k.name
        );
        if let Some(cat) = &opts.generated {
            let _ = writeln!(
                c,
                "  - domain: {cat}\n    catalog-role: generate\n    serial-policy: unixtime\n    notify: node\n    acl: xfr"
            );
            for m in &opts.members {
                c.push_str(&self.member_yaml(m, cat));
            }
        }
        for z in &opts.plain {
            let _ = writeln!(
                c,
                "  - domain: {}\n    file: {}",
                z.zone,
                self.zone_file(&z.zone).display()
            );
            if z.notify {
                let _ = writeln!(c, "    notify: node");
            }
        }
        c
    }

    fn member_yaml(&self, m: &KnotMember, cat: &str) -> String {
        let mut c = String::new();
        for (key, value) in self.member_items(m, cat) {
            if key.is_empty() {
                let _ = writeln!(c, "  - domain: {value}");
            } else {
                let _ = writeln!(c, "    {key}: {value}");
            }
        }
        c
    }

    /// The config items of member `m` of `cat` ("" first: the domain).
    fn member_items(&self, m: &KnotMember, cat: &str) -> Vec<(&'static str, String)> {
        let mut items = vec![
            ("", m.zone.clone()),
            ("file", self.zone_file(&m.zone).display().to_string()),
            ("catalog-role", "member".into()),
            ("catalog-zone", cat.to_string()),
        ];
        if let Some(g) = &m.group {
            items.push(("catalog-group", g.clone()));
        }
        if m.keyed {
            items.push(("acl", "xfr_keyed".into()));
        }
        items
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
            out.status.success() && !text.contains("error:"),
            "knotc {} failed ({}):\n{text}\n--- knot.log\n{}",
            args.join(" "),
            out.status,
            tail(&self.log(), 20)
        );
        text
    }

    /// One config transaction: `conf-begin`, each command, `conf-commit`.
    pub fn conf(&self, commands: &[Vec<String>]) {
        self.knotc(&["conf-begin"]);
        for cmd in commands {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            self.knotc(&args);
        }
        self.knotc(&["conf-commit"]);
    }

    /// Adds members `ms` to the generated catalog `cat` in one config
    /// transaction (zone files written first): Knot serves them and lists
    /// them in a new catalog version.
    pub fn add_members(&self, ms: &[KnotMember], cat: &str) {
        let mut cmds: Vec<Vec<String>> = Vec::new();
        for m in ms {
            self.write_zone(&m.zone, &member_text(&m.zone));
            let z = &m.zone;
            cmds.extend(self.member_items(m, cat).into_iter().map(|(key, value)| match key {
                "" => vec!["conf-set".into(), format!("zone[{z}]")],
                key => vec!["conf-set".into(), format!("zone[{z}].{key}"), value],
            }));
        }
        self.conf(&cmds);
    }

    /// Removes zone `zone` from Knot's config (and so from its catalog).
    pub fn remove_member(&self, zone: &str) {
        self.conf(&[vec!["conf-unset".into(), format!("zone[{zone}]")]]);
    }

    /// Stops (false) or resumes (true) NOTIFY of `zone` to the node.
    pub fn set_notify(&self, zone: &str, on: bool) {
        let item = format!("zone[{zone}].notify");
        let cmd = if on {
            vec!["conf-set".into(), item, "node".into()]
        } else {
            vec!["conf-unset".into(), item]
        };
        self.conf(&[cmd]);
    }

    /// One zone transaction: `zone-begin`, the edits, `zone-commit` (Knot
    /// bumps the serial and sends NOTIFY where configured).
    pub fn edit(&self, zone: &str, edits: &[Edit]) {
        self.knotc(&["zone-begin", zone]);
        for e in edits {
            let mut args = match e {
                Edit::Set(owner, rtype, _) => vec!["zone-set", zone, owner, "0", rtype],
                Edit::Unset(owner, rtype, _) => vec!["zone-unset", zone, owner, rtype],
            };
            let (Edit::Set(_, _, rdata) | Edit::Unset(_, _, rdata)) = e;
            args.extend(rdata.split_whitespace());
            let out = Command::new(&self.knotc)
                .arg("-s")
                .arg(self.dir.path().join("run/knot.sock"))
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .expect("cannot run knotc");
            if !out.status.success() {
                let _ = self.knotc(&["zone-abort", zone]);
                panic!(
                    "knotc {} failed: {}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        self.knotc(&["zone-commit", zone]);
    }

    /// The records of `zone` by AXFR (kdig), one presentation line each.
    pub fn axfr(&self, zone: &str) -> Vec<String> {
        let port = self.port.to_string();
        let out = kdig(&["@127.0.0.1", "-p", &port, zone, "AXFR", "+nocomments", "+nostats"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The members catalog `cat` lists now: (label, member zone), as AXFR
    /// gives them.
    pub fn members(&self, cat: &str) -> Vec<(String, String)> {
        let suffix = format!(".zones.{}.", cat.trim_end_matches('.'));
        self.axfr(cat)
            .iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let label = f.first()?.strip_suffix(&suffix)?;
                (f.get(3) == Some(&"PTR") && !label.contains('.'))
                    .then(|| (label.to_string(), f.get(4).unwrap_or(&"").to_string()))
            })
            .collect()
    }

    /// Waits up to 10 s until catalog `cat` lists `zone` (true) or does not
    /// (false), and returns its label then.
    pub fn wait_listed(&self, cat: &str, zone: &str, listed: bool) -> Option<String> {
        let fqdn = format!("{}.", zone.trim_end_matches('.'));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let label = self.members(cat).into_iter().find(|(_, z)| *z == fqdn).map(|(l, _)| l);
            if label.is_some() == listed {
                return label;
            }
            assert!(
                Instant::now() < deadline,
                "Knot's catalog {cat}: {zone} {} within 10 s\n--- knot.log\n{}",
                if listed { "not listed" } else { "still listed" },
                tail(&self.log(), 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Transfers (AXFR or IXFR) of `zone` Knot has started serving so far,
    /// from its log.
    pub fn transfers_out(&self, zone: &str) -> usize {
        let tag = format!("[{}.] ", zone.trim_end_matches('.'));
        self.log()
            .lines()
            .filter(|l| l.contains(&tag) && l.contains("XFR, outgoing") && l.contains("started"))
            .count()
    }

    /// The SOA serial knotd serves for `zone` now (None: no answer).
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        wire::udp_query(addr, zone, 6, wire::CLASS_IN, Duration::from_secs(2))
            .ok()
            .and_then(|r| soa_serial(&r))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr_str(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.2:PORT`: the same knotd by its second address.
    pub fn addr2_str(&self) -> String {
        format!("127.0.0.2:{}", self.port)
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for KnotCatalog {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- knotd (catalog) on 127.0.0.1:{} (pid {:?}), config {}, last log lines:\n{}\n----",
                self.port,
                self.pid(),
                self.config.display(),
                tail(&self.log(), 30)
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
