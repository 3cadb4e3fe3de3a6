//! NOTIFY out (issue 11, item 4), against the real binary: file zones with
//! `notify` targets that are small UDP listeners run by the test (they
//! record every NOTIFY, verify its TSIG with the library and answer as told).
//!
//! - a SIGHUP after the zone file changed: one NOTIFY with the new serial
//!   per target;
//! - a target that never answers: exactly 5 tries over about 30 s, then a
//!   counted failure, while the other target is told at once;
//! - `transfer-tsig-key`: NOTIFYs are signed, and an unsigned answer does
//!   not end the tries;
//! - three versions in quick succession: the newest serial wins, replaced
//!   rounds stop retrying;
//! - 2,000 zones at start-up with `notify-rate = 500`: paced, none lost;
//! - a secondary zone (Knot primary): every version transferred in is
//!   announced, the first (AXFR) and one brought by IXFR;
//! - Knot DNS as the secondary: it takes the signed NOTIFY (its log says
//!   so, with the serial) and its signed answer ends the tries.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, MgmtNode, Pharos, PharosOpts, free_port, parse_metrics, pharos_only, require_program, sample,
    toml_str, wait_until,
};
use pharos::tsig::{self, Key};

const SECRET_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// One NOTIFY a listener received.
#[derive(Clone, Debug)]
struct Got {
    at: Instant,
    zone: String,
    serial: u32,
    id: u16,
    /// Carried a TSIG record that verified with the listener's key.
    verified: bool,
}

/// How a listener answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reply {
    Silent,
    Plain,
    Signed,
}

/// A NOTIFY target: records what it gets, answers per `policy`.
struct Listener {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(key: Option<Key>, policy: impl Fn(&Got) -> Reply + Send + 'static) -> Listener {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind listener");
        sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let msg = &buf[..n];
                let Some((zone, serial, qend)) = parse_notify(msg) else {
                    continue;
                };
                let now = tsig::unix_now();
                let req = key.as_ref().and_then(|k| {
                    let keys = |n: &[u8]| (n == k.name.as_slice()).then_some(k);
                    tsig::verify_request(msg, &keys, now).ok()
                });
                let rec = Got {
                    at: Instant::now(),
                    zone,
                    serial,
                    id: u16::from_be_bytes([msg[0], msg[1]]),
                    verified: req.is_some(),
                };
                let reply = policy(&rec);
                g.lock().unwrap().push(rec);
                let mut answer = msg[..qend].to_vec();
                answer[2] |= 0x80;
                answer[6..12].fill(0);
                match (reply, &key, &req) {
                    (Reply::Silent, _, _) => continue,
                    (Reply::Signed, Some(k), Some(r)) => {
                        tsig::sign_response(&mut answer, k, &r.mac, now, tsig::DEFAULT_FUDGE);
                    }
                    _ => {}
                }
                let _ = sock.send_to(&answer, from);
            }
        });
        Listener {
            addr,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn serials(&self, zone: &str) -> Vec<u32> {
        self.got().iter().filter(|g| g.zone == zone).map(|g| g.serial).collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Zone name (lowercase, no trailing dot), serial, and the end of the
/// question of a NOTIFY; None for anything else.
fn parse_notify(m: &[u8]) -> Option<(String, u32, usize)> {
    if m.len() < 12 || (m[2] >> 3) & 0x0f != 4 || m[2] & 0x80 != 0 {
        return None;
    }
    let (zone, mut p) = read_name(m, 12)?;
    p += 4;
    let qend = p;
    // The answer's owner, type, class, TTL, RDLENGTH, then the SOA rdata.
    let (_, after) = read_name(m, p)?;
    p = after + 10;
    let (_, after) = read_name(m, p)?;
    let (_, after) = read_name(m, after)?;
    let serial = u32::from_be_bytes(m.get(after..after + 4)?.try_into().ok()?);
    Some((zone, serial, qend))
}

/// A name at `p` (pointers followed); returns it and where it ends at `p`.
fn read_name(m: &[u8], mut p: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *m.get(p)? as usize;
        if len & 0xc0 == 0xc0 {
            end.get_or_insert(p + 2);
            p = ((len & 0x3f) << 8) | *m.get(p + 1)? as usize;
            continue;
        }
        if len == 0 {
            let name = String::from_utf8_lossy(&labels.join(&b"."[..])).to_lowercase();
            return Some((name, end.unwrap_or(p + 1)));
        }
        labels.push(m.get(p + 1..p + 1 + len)?.to_vec());
        p += 1 + len;
    }
    None
}

fn zone_text(name: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {name}.\n$TTL 300\n@ SOA ns.{name}. hostmaster.{name}. {serial} 60 10 600 30\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.{}\n",
        serial % 250 + 1
    )
}

fn write_zone(dir: &Path, name: &str, serial: u32) -> PathBuf {
    let path = dir.join(format!("{name}.zone"));
    // Written aside and renamed: the reload never sees half a file.
    let tmp = dir.join(format!("{name}.zone.tmp"));
    std::fs::write(&tmp, zone_text(name, serial)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A `[[zone]]` table with NOTIFY targets and extra lines.
fn zone_toml(name: &str, file: &Path, targets: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = targets.iter().map(|a| toml_str(&a.to_string())).collect();
    format!(
        "\n[[zone]]\nname = {}\nfile = {}\nnotify = [{}]\nnotify-source = \"127.0.0.1\"\n{extra}\n",
        toml_str(name),
        toml_str(&file.to_string_lossy()),
        list.join(", ")
    )
}

fn opts(ready: &str, extra_toml: String) -> PharosOpts {
    PharosOpts {
        ready_zone: Some(ready.into()),
        extra_toml,
        ipv6: false,
        ..Default::default()
    }
}

fn soa_serial(p: &Pharos, zone: &str) -> Option<u32> {
    let r = p.query(zone, 6).ok()?;
    common::soa_serial(&r)
}

fn metrics(node: &MgmtNode) -> Vec<common::Sample> {
    let r = node.get("/metrics");
    assert_eq!(r.status, 200, "/metrics: {}", r.body);
    parse_metrics(&r.body, false)
}

fn sighup(p: &Pharos) {
    p.signal(1);
}

/// Waits until `f` holds, up to `limit`; panics with the log and `what`.
fn wait(p: &Pharos, limit: Duration, what: &str, f: impl FnMut() -> bool) {
    wait_until(p, limit, what, f);
}

#[test]
fn sighup_after_a_file_edit_sends_one_notify_with_the_new_serial_per_target() {
    if !pharos_only("notify_out") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Listener::start(None, |_| Reply::Plain);
    let b = Listener::start(None, |_| Reply::Plain);
    let file = write_zone(dir.path(), "hup.test", 1);
    let p = Pharos::start(opts("hup.test", zone_toml("hup.test", &file, &[a.addr, b.addr], "")));
    wait(&p, Duration::from_secs(10), "the start-up NOTIFY", || {
        a.serials("hup.test") == [1] && b.serials("hup.test") == [1]
    });
    write_zone(dir.path(), "hup.test", 2);
    sighup(&p);
    wait(
        &p,
        Duration::from_secs(10),
        "a NOTIFY with serial 2 at each target",
        || a.serials("hup.test").contains(&2) && b.serials("hup.test").contains(&2),
    );
    assert_eq!(soa_serial(&p, "hup.test"), Some(2));
    // Answered at once: no retry, nothing more (a retry would come after 2 s).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.serials("hup.test"), [1, 2], "target a");
    assert_eq!(b.serials("hup.test"), [1, 2], "target b");
    // A SIGHUP with nothing changed announces nothing.
    sighup(&p);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.serials("hup.test"), [1, 2], "NOTIFY sent though nothing changed");
}

#[test]
fn a_silent_target_gets_five_tries_then_a_counted_failure_and_does_not_delay_the_other() {
    if !pharos_only("notify_out") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let silent = Listener::start(None, |_| Reply::Silent);
    let live = Listener::start(None, |_| Reply::Plain);
    let file = write_zone(dir.path(), "silent.test", 7);
    let started = Instant::now();
    let node = MgmtNode::start(opts(
        "silent.test",
        zone_toml("silent.test", &file, &[silent.addr, live.addr], ""),
    ));
    let p = &node.pharos;
    wait(p, Duration::from_secs(10), "the NOTIFY at the answering target", || {
        !live.got().is_empty()
    });
    let told = live.got()[0].at.duration_since(started);
    assert!(
        told < Duration::from_secs(5),
        "the answering target was told after {told:?}"
    );
    // Tries at 0, 2, 6, 14, 30 s; the failure once the last wait is over.
    wait(p, Duration::from_secs(45), "a counted failure", || {
        sample(
            &metrics(&node),
            "pharos_notify_out_targets_total",
            &[("result", "failed")],
        ) >= 1.0
    });
    std::thread::sleep(Duration::from_secs(3));
    let tries = silent.got();
    assert_eq!(tries.len(), 5, "tries at the silent target: {tries:?}");
    assert!(tries.iter().all(|g| g.serial == 7 && g.id == tries[0].id));
    let span = tries[4].at.duration_since(tries[0].at);
    assert!(
        (Duration::from_secs(27)..Duration::from_secs(34)).contains(&span),
        "5 tries over {span:?}, not about 30 s"
    );
    let gaps: Vec<f64> = tries
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_secs_f64())
        .collect();
    for (gap, want) in gaps.iter().zip([2.0, 4.0, 8.0, 16.0]) {
        assert!(
            (gap - want).abs() < 1.0,
            "gaps between tries {gaps:?}, want 2, 4, 8, 16 s"
        );
    }
    assert_eq!(live.got().len(), 1, "the answering target was retried");
    let m = metrics(&node);
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "failed")]),
        1.0
    );
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "answered")]),
        1.0
    );
    assert_eq!(sample(&m, "pharos_notify_out_sent_total", &[("try", "retry")]), 4.0);
    assert_eq!(sample(&m, "pharos_notify_out_sent_total", &[("try", "first")]), 2.0);
    // The zone's view shows the round.
    let view = node.get("/zones/silent.test").json();
    let round = &view["notify-out"];
    assert_eq!(round["serial"], 7, "{view}");
    let state = |addr: SocketAddr| {
        let t = round["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["target"] == addr.to_string()));
        t.map(|t| {
            (
                t["state"].as_str().unwrap_or("").to_string(),
                t["tries"].as_u64().unwrap_or(0),
            )
        })
    };
    assert_eq!(state(silent.addr), Some(("failed".into(), 5)), "{view}");
    assert_eq!(state(live.addr), Some(("answered".into(), 1)), "{view}");
    let log = p.log();
    assert!(
        log.contains("NOTIFY out failed") && log.contains(&silent.addr.to_string()),
        "no failure logged for {}:\n{}",
        silent.addr,
        common::tail(&log, 20)
    );
}

#[test]
fn notify_is_signed_with_the_transfer_key_and_needs_a_signed_answer() {
    if !pharos_only("notify_out") {
        return;
    }
    let key = Key::new("notify-key", tsig::Algorithm::HmacSha256, SECRET).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signs = Listener::start(Some(key.clone()), |_| Reply::Signed);
    let plain = Listener::start(Some(key.clone()), |_| Reply::Plain);
    let file = write_zone(dir.path(), "tsig.test", 3);
    let mut toml = format!(
        "\n[[tsig-key]]\nname = \"notify-key\"\nalgorithm = \"hmac-sha256\"\nsecret = {}\n",
        toml_str(SECRET_B64)
    );
    toml += &zone_toml(
        "tsig.test",
        &file,
        &[signs.addr, plain.addr],
        "transfer-tsig-key = \"notify-key\"",
    );
    let node = MgmtNode::start(opts("tsig.test", toml));
    let p = &node.pharos;
    // The unsigned answer does not count: the plain target gets a retry.
    wait(
        p,
        Duration::from_secs(10),
        "a retry at the target answering unsigned",
        || plain.got().len() >= 2,
    );
    let got = signs.got();
    assert_eq!(got.len(), 1, "the target answering signed was retried: {got:?}");
    assert!(got[0].verified, "NOTIFY not signed with notify-key");
    assert!(plain.got().iter().all(|g| g.verified), "a retry not signed");
    let m = metrics(&node);
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "answered")]),
        1.0
    );
    assert!(sample(&m, "pharos_notify_out_ignored_answers_total", &[]) >= 1.0);
}

#[test]
fn quick_versions_coalesce_and_the_newest_serial_wins() {
    if !pharos_only("notify_out") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Answers only the start-up version and the newest: the rounds of 2
    // and 3, unanswered, would retry if they were not replaced.
    let t = Listener::start(None, |g| {
        if g.serial == 1 || g.serial == 4 {
            Reply::Plain
        } else {
            Reply::Silent
        }
    });
    let file = write_zone(dir.path(), "quick.test", 1);
    let node = MgmtNode::start(opts("quick.test", zone_toml("quick.test", &file, &[t.addr], "")));
    let p = &node.pharos;
    wait(p, Duration::from_secs(10), "the start-up NOTIFY", || {
        t.serials("quick.test") == [1]
    });
    for serial in 2..=4 {
        write_zone(dir.path(), "quick.test", serial);
        sighup(p);
        wait(p, Duration::from_secs(10), "the new version served", || {
            soa_serial(p, "quick.test") == Some(serial)
        });
    }
    wait(p, Duration::from_secs(10), "a NOTIFY with serial 4", || {
        t.serials("quick.test").contains(&4)
    });
    let newest = t.got().iter().find(|g| g.serial == 4).map(|g| g.at).unwrap();
    // The first retry of a round not replaced would come 2 s after its try.
    std::thread::sleep(Duration::from_secs(5));
    let got = t.got();
    let serials: Vec<u32> = got.iter().map(|g| g.serial).collect();
    assert!(
        serials.windows(2).all(|w| w[0] <= w[1]),
        "serials out of order: {serials:?}"
    );
    assert_eq!(
        serials.iter().filter(|&&s| s == 4).count(),
        1,
        "serial 4 sent more than once: {serials:?}"
    );
    assert!(
        got.iter().all(|g| g.serial == 4 || g.at <= newest),
        "an older round went on after the newest began: {serials:?}"
    );
    for s in [2, 3] {
        assert!(
            serials.iter().filter(|&&x| x == s).count() <= 1,
            "serial {s} retried: {serials:?}"
        );
    }
    let m = metrics(&node);
    assert_eq!(
        sample(&m, "pharos_notify_out_replaced_rounds_total", &[]),
        2.0,
        "the unanswered rounds of 2 and 3 were not the ones replaced"
    );
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "answered")]),
        2.0
    );
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "failed")]),
        0.0
    );
}

#[test]
fn thousands_of_zones_at_start_up_are_paced_and_none_is_lost() {
    if !pharos_only("notify_out") {
        return;
    }
    const ZONES: usize = 2000;
    const RATE: f64 = 500.0;
    let dir = tempfile::tempdir().unwrap();
    let t = Listener::start(None, |_| Reply::Plain);
    let mut toml = "\n[transfer]\nnotify-rate = 500\n".to_string();
    for i in 0..ZONES {
        let name = format!("z{i}.pace.test");
        let file = write_zone(dir.path(), &name, 1);
        let _ = write!(toml, "{}", zone_toml(&name, &file, &[t.addr], ""));
    }
    let node = MgmtNode::start(opts("z0.pace.test", toml));
    let p = &node.pharos;
    wait(p, Duration::from_secs(60), "a NOTIFY for every zone", || {
        t.got().len() >= ZONES
    });
    std::thread::sleep(Duration::from_secs(1));
    let got = t.got();
    let mut per_zone: HashMap<&str, usize> = HashMap::new();
    for g in &got {
        *per_zone.entry(g.zone.as_str()).or_default() += 1;
    }
    assert_eq!(per_zone.len(), ZONES, "zones told");
    assert!(
        per_zone.values().all(|&n| n == 1),
        "a zone told more than once (lost answers?)"
    );
    // Any one-second window: at most the rate, plus the burst (rate / 20)
    // and a little slack for timing.
    let times: Vec<Instant> = got.iter().map(|g| g.at).collect();
    let mut most = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while times[i].duration_since(times[j]) >= Duration::from_secs(1) {
            j += 1;
        }
        most = most.max(i - j + 1);
    }
    assert!(
        (most as f64) <= RATE * 1.1,
        "{most} NOTIFYs arrived within one second (notify-rate = {RATE})"
    );
    let span = times[times.len() - 1].duration_since(times[0]).as_secs_f64();
    eprintln!(
        "{} NOTIFYs over {span:.2} s ({:.0}/s), at most {most} in any one second (notify-rate = {RATE})",
        times.len(),
        times.len() as f64 / span
    );
    let floor = (ZONES as f64 - RATE / 20.0) / RATE * 0.95;
    assert!(
        span >= floor,
        "{ZONES} NOTIFYs within {span:.2} s: not paced at {RATE}/s"
    );
    let m = metrics(&node);
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "answered")]),
        ZONES as f64
    );
    assert_eq!(sample(&m, "pharos_notify_out_queued", &[]), 0.0);
}

/// knotd as a secondary of `zone`, its primary `primary` (never reached
/// here: pharos does not serve AXFR in this test), taking NOTIFY signed
/// with `notify-key` from 127.0.0.1. Killed (by PID) on drop.
struct KnotSecondary {
    child: std::process::Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl KnotSecondary {
    fn start(zone: &str, primary: SocketAddr) -> KnotSecondary {
        let knotd = require_program("knotd", "knot");
        let dir = tempfile::Builder::new().prefix("knot-secondary.").tempdir().unwrap();
        let d = dir.path().display();
        for sub in ["run", "db"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let port = free_port(false);
        let conf = format!(
            "server:\n    rundir: {d}/run\n    pidfile: {d}/run/knot.pid\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: {d}/db\ncontrol:\n    listen: {d}/run/knot.sock\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             key:\n  - id: notify-key\n    algorithm: hmac-sha256\n    secret: {SECRET_B64}\n\
             remote:\n  - id: hub\n    address: {}@{}\n    key: notify-key\n\
             acl:\n  - id: from_hub\n    address: 127.0.0.1\n    key: notify-key\n    action: notify\n\
             zone:\n  - domain: \"{zone}.\"\n    master: hub\n    acl: from_hub\n",
            primary.ip(),
            primary.port()
        );
        let config = dir.path().join("knot.conf");
        std::fs::write(&config, conf).unwrap();
        std::fs::write(dir.path().join("knot.log"), "").unwrap();
        let out = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let child = std::process::Command::new(knotd)
            .arg("-c")
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot spawn knotd");
        let k = KnotSecondary {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !k.log().contains("server started") {
            assert!(Instant::now() < deadline, "knotd did not start:\n{}", k.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    /// The serials of the NOTIFYs Knot logged as received.
    fn notified(&self) -> Vec<u32> {
        self.log()
            .lines()
            .filter(|l| l.contains("notify, incoming"))
            .filter_map(|l| l.split("serial ").nth(1))
            .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect()
    }
}

impl Drop for KnotSecondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn knot_as_secondary_takes_the_signed_notify_and_its_answer_ends_the_tries() {
    if !pharos_only("notify_out") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Knot's primary: nothing listens there (its refresh fails; the NOTIFY
    // is what this test looks at).
    let knot = KnotSecondary::start("knot.test", SocketAddr::from(([127, 0, 0, 1], free_port(false))));
    let file = write_zone(dir.path(), "knot.test", 5);
    let mut toml = format!(
        "\n[[tsig-key]]\nname = \"notify-key\"\nalgorithm = \"hmac-sha256\"\nsecret = {}\n",
        toml_str(SECRET_B64)
    );
    toml += &zone_toml("knot.test", &file, &[knot.addr], "transfer-tsig-key = \"notify-key\"");
    let node = MgmtNode::start(opts("knot.test", toml));
    let p = &node.pharos;
    wait(p, Duration::from_secs(10), "Knot answered the NOTIFY", || {
        sample(
            &metrics(&node),
            "pharos_notify_out_targets_total",
            &[("result", "answered")],
        ) >= 1.0
    });
    assert_eq!(knot.notified(), [5], "Knot's log:\n{}", knot.log());
    write_zone(dir.path(), "knot.test", 6);
    sighup(p);
    wait(p, Duration::from_secs(10), "Knot got serial 6", || {
        knot.notified().contains(&6)
    });
    wait(p, Duration::from_secs(10), "Knot answered the second NOTIFY", || {
        sample(
            &metrics(&node),
            "pharos_notify_out_targets_total",
            &[("result", "answered")],
        ) >= 2.0
    });
    let m = metrics(&node);
    assert_eq!(
        sample(&m, "pharos_notify_out_sent_total", &[("try", "retry")]),
        0.0,
        "retried though Knot answered"
    );
    assert_eq!(
        sample(&m, "pharos_notify_out_targets_total", &[("result", "failed")]),
        0.0
    );
    assert_eq!(knot.notified(), [5, 6], "Knot's log:\n{}", knot.log());
}

#[test]
fn versions_transferred_in_are_announced() {
    if !pharos_only("notify_out") {
        return;
    }
    let mut primary = KnotPrimary::start("sec.test", &zone_text("sec.test", 10));
    let t = Listener::start(None, |_| Reply::Plain);
    let toml = format!(
        "\n[[zone]]\nname = \"sec.test\"\nprimaries = [{}]\nnotify = [{}]\n",
        toml_str(&primary.addr_str()),
        toml_str(&t.addr.to_string())
    );
    let p = Pharos::start(opts("sec.test", toml));
    wait(
        &p,
        Duration::from_secs(10),
        "the NOTIFY for the first version (AXFR)",
        || t.serials("sec.test") == [10],
    );
    primary.notify_to(p.port);
    primary.add_record("added", 300, "A", "192.0.2.77");
    let serial = primary.serial();
    assert!(serial > 10);
    wait(
        &p,
        Duration::from_secs(15),
        "the NOTIFY for the version brought by IXFR",
        || t.serials("sec.test").contains(&serial),
    );
    assert!(
        p.log().contains("IXFR") || p.log().contains("ixfr"),
        "no IXFR in pharos' log"
    );
    assert_eq!(t.serials("sec.test"), [10, serial]);
}
