//! Memory during a re-transfer (issue 10, item 9): a secondary of a
//! 1,000,000-record zone, running in a 256 MiB memory cgroup, must survive
//! the first AXFR and every later full transfer, which builds the new
//! version beside the one it serves.
//!
//! Knot DNS is the primary (`journal-content: none`, so a change makes it
//! answer IXFR with the whole zone); pharos is started inside a child
//! memory cgroup of this test's own (cgroup v1, or v2 where
//! `/sys/fs/cgroup/cgroup.controllers` exists) through a `sh` wrapper that
//! writes its PID into `cgroup.procs` and then execs pharos, so every page
//! pharos touches is charged there. The test changes the zone twice and
//! NOTIFYs pharos; each transfer must be served (the new serial answered)
//! with the process still running and no OOM kill counted by the cgroup.
//! It prints the cgroup's peak usage and the process's VmHWM for each
//! transfer. Where no memory cgroup can be created it prints
//! "skipped: ..." and returns.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Seek as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, KnotPrimaryOpts, PharosOpts, pharos_bin, pharos_config, send_notify, soa_serial, tail, toml_str, wire,
};

const ZONE: &str = "big.test";
const RECORDS: usize = 1_000_000;
const LIMIT: u64 = 256 << 20;
/// A transfer of the big zone takes a few seconds in release; a debug
/// build is much slower.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(240);

/// The zone: SOA, NS, glue and `RECORDS - 4` A records `h<i>`.
fn zone_text() -> String {
    let mut t = String::with_capacity(RECORDS * 24);
    t.push_str("$ORIGIN big.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 86400 3600 1209600 300\n");
    t.push_str("@ NS ns1\nns1 A 192.0.2.2\ntick TXT \"0\"\n");
    for i in 0..RECORDS - 4 {
        let _ = writeln!(t, "h{i} A 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    }
    t
}

// ------------------------------------------------------------ the cgroup

/// A memory cgroup made for this test, removed on drop (once empty).
struct Cgroup {
    dir: PathBuf,
    v2: bool,
    /// v2: an open `memory.peak` that was reset, read for the peak since.
    peak_fd: Option<fs::File>,
}

/// This process's cgroup path for the v1 `memory` controller, or the v2 one.
fn own_cgroup(v2: bool) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if v2 {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == "memory")
        };
        hit.then(|| path.trim_start_matches('/').to_string())
    })
}

impl Cgroup {
    /// A child cgroup limited to `limit` bytes: under this process's own
    /// cgroup if possible, else under the hierarchy's root.
    fn create(limit: u64) -> Result<Cgroup, String> {
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mount = PathBuf::from(if v2 { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/memory" });
        if !v2 && !mount.join("memory.limit_in_bytes").exists() {
            return Err("no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory and no cgroup v2".into());
        }
        let mut bases = Vec::new();
        if let Some(own) = own_cgroup(v2).filter(|p| !p.is_empty()) {
            bases.push(mount.join(own));
        }
        bases.push(mount.clone());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("pharos-memtest-{}-{nanos}", std::process::id());
        let mut why = Vec::new();
        for base in bases {
            match Cgroup::create_in(&base, &name, v2, limit) {
                Ok(cg) => return Ok(cg),
                Err(e) => why.push(format!("{}: {e}", base.display())),
            }
        }
        Err(why.join("; "))
    }

    fn create_in(base: &Path, name: &str, v2: bool, limit: u64) -> Result<Cgroup, String> {
        if v2 {
            let has =
                |f: &str| fs::read_to_string(base.join(f)).is_ok_and(|t| t.split_whitespace().any(|c| c == "memory"));
            if !has("cgroup.controllers") {
                return Err("memory controller not available".into());
            }
            if !has("cgroup.subtree_control") {
                fs::write(base.join("cgroup.subtree_control"), "+memory")
                    .map_err(|e| format!("cannot enable the memory controller: {e}"))?;
            }
        }
        let dir = base.join(name);
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cg = Cgroup { dir, v2, peak_fd: None };
        let (max, swap) = if v2 {
            ("memory.max", "memory.swap.max")
        } else {
            ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
        };
        fs::write(cg.dir.join(max), limit.to_string()).map_err(|e| format!("cannot set {max}: {e}"))?;
        // No swap to escape to, where the kernel accounts it.
        let _ = fs::write(cg.dir.join(swap), if v2 { "0".to_string() } else { limit.to_string() });
        Ok(cg)
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn read_u64(&self, file: &str) -> Option<u64> {
        fs::read_to_string(self.dir.join(file)).ok()?.trim().parse().ok()
    }

    /// `key N` from a flat-keyed file (memory.events, memory.oom_control).
    fn keyed(&self, file: &str, key: &str) -> Option<u64> {
        let text = fs::read_to_string(self.dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Peak usage (bytes, page cache included) since creation or the last
    /// [`Cgroup::reset_peak`] that worked.
    fn peak(&mut self) -> Option<u64> {
        if !self.v2 {
            return self.read_u64("memory.max_usage_in_bytes");
        }
        if let Some(f) = self.peak_fd.as_mut() {
            let mut s = String::new();
            if f.rewind().is_ok() && f.read_to_string(&mut s).is_ok() {
                return s.trim().parse().ok();
            }
        }
        self.read_u64("memory.peak")
    }

    /// Starts a new peak measurement; false if the kernel cannot.
    fn reset_peak(&mut self) -> bool {
        if !self.v2 {
            return fs::write(self.dir.join("memory.max_usage_in_bytes"), "0").is_ok();
        }
        // Linux 6.12+: writing to an open memory.peak resets it for that fd.
        let Ok(mut f) = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join("memory.peak"))
        else {
            return false;
        };
        let ok = f.write_all(b"reset\n").is_ok();
        self.peak_fd = ok.then_some(f);
        ok
    }

    fn oom_kills(&self) -> Option<u64> {
        if self.v2 {
            self.keyed("memory.events", "oom_kill")
        } else {
            self.keyed("memory.oom_control", "oom_kill")
        }
    }

    /// How often usage hit the limit (reclaim included, not only OOM).
    fn failcnt(&self) -> Option<u64> {
        if self.v2 {
            self.keyed("memory.events", "max")
        } else {
            self.read_u64("memory.failcnt")
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.peak_fd = None;
        // The processes are gone (see `Node::drop`), but the kernel may take
        // a moment to let go of the cgroup.
        for _ in 0..100 {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not remove the cgroup {}", self.dir.display());
    }
}

// ------------------------------------------------------- pharos inside it

/// pharos, started inside `cg`. Killed (by PID) and reaped on drop, before
/// the cgroup is removed.
struct Node {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    cg: Cgroup,
}

impl Node {
    fn start(cg: Cgroup, primary: &str) -> Node {
        let dir = tempfile::Builder::new().prefix("pharos-memtest.").tempdir().unwrap();
        let port = common::free_port(false);
        let opts = PharosOpts {
            extra_toml: format!(
                "[[zone]]\nname = {}\nprimaries = [{}]\n",
                toml_str(ZONE),
                toml_str(primary)
            ),
            ipv6: false,
            ..Default::default()
        };
        let config = dir.path().join("pharos.toml");
        fs::write(&config, pharos_config(&opts, port, &dir.path().join("var"))).unwrap();
        let log = dir.path().join("pharos.log");
        let out = fs::File::create(&log).unwrap();
        // The shell moves itself into the cgroup, then becomes pharos: not
        // one page of pharos is charged elsewhere.
        let child = Command::new("sh")
            .arg("-c")
            .arg("echo $$ > \"$1\" || exit 111; shift; exec \"$@\"")
            .arg("sh")
            .arg(cg.procs())
            .arg(pharos_bin())
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot spawn sh");
        Node {
            child: Some(child),
            port,
            log,
            _dir: dir,
            cg,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log_tail(&self) -> String {
        tail(&String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()), 30)
    }

    /// `VmHWM` (peak resident set) of the process, in bytes.
    fn vm_hwm(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Starts a new VmHWM measurement (`clear_refs` 5).
    fn reset_hwm(&self) -> bool {
        fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// Waits until pharos serves `serial` (NOERROR, AA). Panics if the
    /// process dies meanwhile (saying whether the cgroup counted an OOM
    /// kill) or after [`TRANSFER_TIMEOUT`].
    fn wait_serial(&mut self, serial: u32, what: &str) -> Duration {
        let started = Instant::now();
        let mut last = String::from("nothing yet");
        while started.elapsed() < TRANSFER_TIMEOUT {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                assert_ne!(
                    status.code(),
                    Some(111),
                    "the wrapper could not put pharos into {}",
                    self.cg.procs().display()
                );
                panic!(
                    "pharos died during the {what} ({status}); cgroup oom_kill = {:?}, failcnt = {:?} \
                     (limit {} MiB)\n--- log\n{}",
                    self.cg.oom_kills(),
                    self.cg.failcnt(),
                    LIMIT >> 20,
                    self.log_tail()
                );
            }
            match wire::udp_query(
                self.addr(),
                ZONE,
                wire::TYPE_SOA,
                wire::CLASS_IN,
                Duration::from_millis(500),
            ) {
                Ok(r) if r.rcode == 0 && r.aa() && soa_serial(&r) == Some(serial) => return started.elapsed(),
                Ok(r) => last = format!("rcode {} aa {} serial {:?}", r.rcode, r.aa(), soa_serial(&r)),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "pharos did not serve serial {serial} within {TRANSFER_TIMEOUT:?} ({what}; last: {last})\n--- log\n{}",
            self.log_tail()
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- pharos (pid {}) log tail:\n{}\n----", self.pid(), self.log_tail());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("?".into(), |b| format!("{:.1}", b as f64 / (1 << 20) as f64))
}

/// Serves `name A` from pharos (NOERROR, AA, one answer).
fn answers_a(node: &Node, name: &str) -> bool {
    wire::udp_query(node.addr(), name, wire::TYPE_A, wire::CLASS_IN, Duration::from_secs(2))
        .is_ok_and(|r| r.rcode == 0 && r.aa() && r.answers.iter().any(|a| a.rtype == wire::TYPE_A))
}

/// Prints the peaks of one transfer.
fn report(what: &str, serial: u32, took: Duration, node: &mut Node) {
    println!(
        "  {what:6} transfer: serial {serial} served after {:.2} s; cgroup peak {} MiB, VmHWM {} MiB",
        took.as_secs_f64(),
        mib(node.cg.peak()),
        mib(node.vm_hwm())
    );
}

#[test]
fn million_record_zone_retransfers_in_256_mib() {
    if std::env::var("PHAROS_TEST_AGAINST").is_ok_and(|v| v == "knot") {
        eprintln!("skipped: this test measures pharos' secondary engine (PHAROS_TEST_AGAINST=knot is set)");
        return;
    }
    let cg = match Cgroup::create(LIMIT) {
        Ok(cg) => cg,
        Err(e) => {
            eprintln!("skipped: no writable memory cgroup (v1 or v2) to run pharos in: {e}");
            return;
        }
    };
    let cg_dir = cg.dir.clone();
    let mut opts = KnotPrimaryOpts::new(ZONE, &zone_text());
    opts.journal = false; // IXFR is answered with the whole zone
    let knot = KnotPrimary::start_with(opts);

    let mut node = Node::start(cg, &knot.addr_str());
    println!(
        "{RECORDS} records, pharos in {} (limit {} MiB, {}):",
        cg_dir.display(),
        LIMIT >> 20,
        if node.cg.v2 { "cgroup v2" } else { "cgroup v1" }
    );
    let serial = knot.serial();
    let took = node.wait_serial(serial, "first transfer (AXFR)");
    report("first", serial, took, &mut node);
    assert!(
        answers_a(&node, "h999995.big.test"),
        "the last record of the zone is not served"
    );

    let notify_from = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for (i, what) in ["second", "third"].into_iter().enumerate() {
        let reset = node.cg.reset_peak() & node.reset_hwm();
        knot.add_record(&format!("new{i}"), 300, "A", "192.0.2.77");
        let serial = knot.serial();
        send_notify(notify_from, node.addr(), ZONE, Duration::from_secs(2)).expect("NOTIFY to pharos");
        let took = node.wait_serial(serial, &format!("{what} transfer (full zone)"));
        report(what, serial, took, &mut node);
        if !reset {
            eprintln!("note: the peaks of the {what} transfer could not be reset; they cover every transfer so far");
        }
        assert!(
            answers_a(&node, &format!("new{i}.big.test")),
            "the {what} version is not served"
        );
    }
    assert!(
        node.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))),
        "pharos is not running"
    );
    let oom = node.cg.oom_kills();
    println!("  cgroup oom_kill {oom:?}, failcnt {:?}", node.cg.failcnt());
    assert_eq!(oom.unwrap_or(0), 0, "the cgroup counted an OOM kill");
}
