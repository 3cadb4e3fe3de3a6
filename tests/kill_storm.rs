//! Edge defence (issue 13): a `kill -9` storm. pharos is killed 100 times
//! at random moments while it is busy, and after every restart it must
//! serve what it served before, and keep what it acknowledged.
//!
//! The set-up: one Knot primary (knotd, [`KnotPrimary`]) serves
//! [`CONFIG_ZONES`] zones that pharos has as secondaries in its config, and
//! [`API_POOL`] more zones that a thread adds to pharos and removes again
//! through the management API (`POST /zones`, `DELETE /zones/{name}`). A
//! second thread changes one config zone every 50 ms, round robin, with
//! `knotc zone-begin/zone-set/zone-commit`; Knot bumps the serial and
//! NOTIFYs pharos, which transfers (IXFR) and persists the new version.
//!
//! Each round: wait a random 50–600 ms; note the serial pharos serves for
//! every config zone (SOA over UDP); `kill -9`; let the API thread finish
//! the call it was in and hold it; then check
//!
//! * `<data-dir>/api-zones.json` (`zonemgr::api_zones::FILE_NAME`) parses
//!   and lists every API zone whose add was answered with success and not
//!   later deleted with success, and none whose delete was (a call cut off
//!   by the kill may go either way: what the file says then decides);
//! * after the restart (same config, same data dir; timed until it
//!   answers), every config zone answers NOERROR with a serial at least the
//!   one noted before the kill (RFC 1982) and not ahead of the primary;
//!   every API zone of the file answers (not REFUSED), every other name of
//!   the pool is REFUSED; the file still parses.
//!
//! At the end pharos must catch up with the primary on every zone (what
//! it missed, when it did not, is narrowed down in tests/notify_restart.rs).
//! The
//! random moments come from a seed printed at the start:
//! `PHAROS_STORM_SEED=N` replays a run, `PHAROS_STORM_KILLS=N` changes the
//! number of kills (default 100). Prints the kills, changes, API calls and
//! the slowest restart (spawn to the first authoritative answer).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{
    KnotPrimary, KnotPrimaryOpts, MgmtNode, PharosOpts, TOKEN, free_port, pharos_only, require_program, soa_serial,
    toml_str, try_http, wire,
};

/// Secondary zones in the config, changed on the primary round robin.
const CONFIG_ZONES: usize = 20;
/// Names the API thread adds and removes.
const API_POOL: usize = 8;
/// One change on the primary every this often.
const CHANGE_EVERY: Duration = Duration::from_millis(50);
const RCODE_NOERROR: u8 = 0;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_REFUSED: u8 = 5;
/// The tests count every answer to their own queries and NOTIFYs from
/// 127.0.0.1: response rate limiting (tests/rrl.rs) off.
const NO_RRL: &str = "\n[dns.rrl]\nresponses-per-second = 0\n";

fn config_zone(i: usize) -> String {
    format!("z{i:02}.storm.test")
}

fn api_zone(i: usize) -> String {
    format!("api{i}.storm.test")
}

fn zone_text(zone: &str) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n@ SOA ns1 host 1 3600 2 1209600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
    )
}

/// `a >= b` in serial number arithmetic (RFC 1982).
fn serial_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// splitmix64: small, seedable, good enough for picking moments and names.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
    )
}

/// What one SOA query to pharos got.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Soa {
    /// NOERROR, AA, with this serial.
    Serial(u32),
    /// Any other answer (RCODE, AA).
    Other { rcode: u8, aa: bool },
    /// No answer.
    Nothing(String),
}

fn soa(addr: SocketAddr, zone: &str) -> Soa {
    let mut last = String::new();
    // Two tries: a lost datagram on a busy loopback is not a finding.
    for _ in 0..2 {
        match wire::udp_query(addr, zone, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_secs(1)) {
            Ok(r) => {
                return match soa_serial(&r) {
                    Some(s) if r.rcode == RCODE_NOERROR && r.aa() => Soa::Serial(s),
                    _ => Soa::Other {
                        rcode: r.rcode,
                        aa: r.aa(),
                    },
                };
            }
            Err(e) => last = e.to_string(),
        }
    }
    Soa::Nothing(last)
}

/// What the test knows of an API zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// Its delete (or nothing yet) was answered with success: not listed.
    Absent,
    /// Its add was answered with success: listed.
    Present,
    /// A call was cut off (the node was killed during it): either.
    Either,
}

/// Lets the API thread call only while the main thread allows it, and
/// tells the main thread when no call is under way.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    in_call: bool,
    stop: bool,
    /// Calls ended so far.
    ended: u64,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// API thread: waits until calls are allowed and marks one under way;
    /// false when the test ends.
    fn enter(&self) -> bool {
        let mut s = self.lock();
        while !s.open && !s.stop {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.stop {
            return false;
        }
        s.in_call = true;
        true
    }

    fn leave(&self) {
        let mut s = self.lock();
        s.in_call = false;
        s.ended += 1;
        drop(s);
        self.changed.notify_all();
    }

    /// Main thread: waits (at most `limit`) until the next call ends; true
    /// if one did.
    fn next_call_ended(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut s = self.lock();
        let seen = s.ended;
        while s.ended == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self.changed.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Main thread: no call starts from now on; returns once the one under
    /// way (if any) has ended.
    fn close(&self) {
        let mut s = self.lock();
        s.open = false;
        while s.in_call {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        self.lock().open = true;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// Ends the helper threads when dropped, also when the main thread
/// panics inside `thread::scope` (which joins them before it unwinds).
struct EndThreads<'a> {
    done: &'a AtomicBool,
    gate: &'a Gate,
}

impl Drop for EndThreads<'_> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        self.gate.stop();
    }
}

/// The API thread's bookkeeping, read by the main thread while the gate
/// is closed.
struct ApiBook {
    known: Vec<Known>,
    calls: u64,
    /// Calls cut off by a kill.
    cut: u64,
    /// Answers no call should get (the test fails with them).
    unexpected: Vec<String>,
}

/// One API call for pool entry `i`: add it if it is not there, remove it
/// if it is (either, at random, when unknown).
fn api_call(api: SocketAddr, primary: &str, i: usize, rng: &mut Rng, book: &Mutex<ApiBook>) {
    let name = api_zone(i);
    let known = book.lock().unwrap_or_else(|e| e.into_inner()).known[i];
    let add = match known {
        Known::Absent => true,
        Known::Present => false,
        Known::Either => rng.next() % 2 == 0,
    };
    let auth = format!("Bearer {TOKEN}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let (result, what) = if add {
        let body = format!(
            "{{\"name\": {}, \"primaries\": [{}]}}",
            toml_str(&name),
            toml_str(primary)
        );
        (try_http(api, "POST", "/zones", &headers, Some(&body)), "POST /zones")
    } else {
        let path = format!("/zones/{name}");
        (try_http(api, "DELETE", &path, &headers, None), "DELETE /zones/NAME")
    };
    let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
    b.calls += 1;
    match result {
        Err(_) => {
            b.cut += 1;
            b.known[i] = Known::Either;
        }
        // Added; or (after a cut add) it was there already.
        Ok(r) if add && (r.status == 201 || (r.status == 409 && known == Known::Either)) => b.known[i] = Known::Present,
        // Removed; or (after a cut delete) it was gone already.
        Ok(r) if !add && (r.status == 200 || r.status == 204 || (r.status == 404 && known == Known::Either)) => {
            b.known[i] = Known::Absent
        }
        Ok(r) => {
            let line = format!(
                "{what} for {name} (known {known:?}): HTTP {} {}",
                r.status,
                r.body.trim()
            );
            b.unexpected.push(line);
            // Whatever it did, the file decides at the next kill.
            b.known[i] = Known::Either;
        }
    }
}

/// The last `n` lines of `log` that mention `zone` or a restart.
fn lines_about(log: &str, zone: &str, n: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(zone) || l.contains("restarted by the test harness"))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `api-zones.json` parsed: the names it lists.
fn api_file_names(path: &Path) -> Result<BTreeSet<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text:?}"))?;
    if v["version"] != 1 {
        return Err(format!("no \"version\": 1 in {text:?}"));
    }
    let zones = v["zones"]
        .as_array()
        .ok_or_else(|| format!("no \"zones\" array in {text:?}"))?;
    let mut names = BTreeSet::new();
    for z in zones {
        let name = z["name"]
            .as_str()
            .ok_or_else(|| format!("an entry without a name in {text:?}"))?;
        if !names.insert(name.to_string()) {
            return Err(format!("{name} listed twice in {text:?}"));
        }
    }
    Ok(names)
}

#[test]
fn kill9_storm() {
    if !pharos_only("kill9_storm") {
        return;
    }
    require_program("knotc", "knot");
    let seed = env_u64("PHAROS_STORM_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let kills = env_u64("PHAROS_STORM_KILLS").unwrap_or(100);
    eprintln!("kill9_storm: seed {seed} (replay with PHAROS_STORM_SEED={seed}), {kills} kills");
    let mut rng = Rng(seed);
    let mut api_rng = Rng(seed ^ 0x05ee_d000_0a91);

    // The primary: every zone, NOTIFY to pharos' port (chosen now).
    let port = free_port(false);
    let configured: Vec<String> = (0..CONFIG_ZONES).map(config_zone).collect();
    let pool: Vec<String> = (0..API_POOL).map(api_zone).collect();
    let mut ko = KnotPrimaryOpts::new(&configured[0], &zone_text(&configured[0]));
    ko.more_zones = configured[1..]
        .iter()
        .chain(&pool)
        .map(|z| (z.clone(), zone_text(z)))
        .collect();
    ko.notify_port = Some(port);
    let knot = KnotPrimary::start_with(ko);
    let primary = knot.addr_str();

    let mut toml = String::new();
    for z in &configured {
        toml.push_str(&format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n\n",
            toml_str(z),
            toml_str(&primary)
        ));
    }
    toml.push_str(NO_RRL);
    let mut node = MgmtNode::start(PharosOpts {
        port: Some(port),
        extra_toml: toml,
        ready_zone: Some(configured[0].clone()),
        ipv6: false,
        ..Default::default()
    });
    let addr = node.pharos.addr();
    let api = node.api;
    let api_file = node.pharos.data_dir().join("api-zones.json");
    let started = Instant::now();
    let mut served = vec![0u32; CONFIG_ZONES];
    while let Some(i) = (0..CONFIG_ZONES).find(|&i| served[i] == 0) {
        match soa(addr, &configured[i]) {
            Soa::Serial(s) => served[i] = s,
            _ if started.elapsed() < Duration::from_secs(30) => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("{} not transferred within 30 s: {other:?}", configured[i]),
        }
    }
    let first = served.clone();

    let gate = Gate::default();
    let book = Mutex::new(ApiBook {
        known: vec![Known::Absent; API_POOL],
        calls: 0,
        cut: 0,
        unexpected: Vec::new(),
    });
    let done = AtomicBool::new(false);
    let changes = AtomicU64::new(0);
    let mut worst_restart = Duration::ZERO;
    let mut total_restart = Duration::ZERO;
    let mut kills_with_api_zones = 0u64;
    // Rounds that waited for a new serial, and those that saw one.
    let (mut chased, mut caught) = (0u64, 0u64);
    // Rounds that waited for an API answer, and those that saw one.
    let (mut api_chased, mut api_caught) = (0u64, 0u64);
    let storm_started = Instant::now();

    std::thread::scope(|s| {
        // The primary changes one zone every 50 ms, round robin.
        let changer = s.spawn(|| {
            let t0 = Instant::now();
            let mut n: u64 = 0;
            while !done.load(Ordering::Relaxed) {
                let zone = &configured[(n % CONFIG_ZONES as u64) as usize];
                knot.add_record_in(zone, &format!("c{n}"), 300, "TXT", &format!("change-{n}"));
                n += 1;
                changes.store(n, Ordering::Relaxed);
                let next = t0 + CHANGE_EVERY * n as u32;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        // API zones come and go while the gate is open.
        let api_thread = s.spawn(|| {
            while gate.enter() {
                let i = api_rng.range(0, API_POOL as u64 - 1) as usize;
                api_call(api, &primary, i, &mut api_rng, &book);
                gate.leave();
                std::thread::sleep(Duration::from_millis(api_rng.range(10, 80)));
            }
        });
        let end_threads = EndThreads {
            done: &done,
            gate: &gate,
        };
        gate.open();

        for k in 1..=kills {
            std::thread::sleep(Duration::from_millis(rng.range(50, 600)));
            assert!(
                !changer.is_finished(),
                "the primary's change thread ended (knotc failed?)"
            );
            assert!(!api_thread.is_finished(), "the API thread ended");
            // What pharos serves now: acknowledged, so kept.
            let mut before: Vec<Soa> = configured.iter().map(|z| soa(addr, z)).collect();
            // The moment: in half the rounds, the first answer with a new
            // serial, right after pharos took a new version in (where a
            // version served but not yet on disk would show); in a
            // quarter, right after an API call was answered (where a
            // change acknowledged but not yet in the file would show);
            // else just now.
            let moment = rng.next() % 4;
            if moment == 2 {
                api_chased += 1;
                if gate.next_call_ended(Duration::from_millis(300)) {
                    api_caught += 1;
                }
            } else if moment < 2 {
                chased += 1;
                let target = (changes.load(Ordering::Relaxed) % CONFIG_ZONES as u64) as usize;
                let chase_until = Instant::now() + Duration::from_millis(300);
                while Instant::now() < chase_until {
                    let now = soa(addr, &configured[target]);
                    if now != before[target] {
                        before[target] = now;
                        caught += 1;
                        break;
                    }
                }
            }
            node.pharos.kill9();
            gate.close();
            let before: Vec<u32> = configured
                .iter()
                .zip(before)
                .map(|(z, seen)| match seen {
                    Soa::Serial(s) => s,
                    other => panic!("kill {k}: just before it, {z} was not served: {other:?}"),
                })
                .collect();

            // The API zone list as the kill left it.
            let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
            assert!(
                b.unexpected.is_empty(),
                "kill {k}: unexpected API answers:\n{}",
                b.unexpected.join("\n")
            );
            let listed = match api_file_names(&api_file) {
                Ok(names) => names,
                Err(e) if e == "missing" && b.known.iter().all(|&k| k != Known::Present) => BTreeSet::new(),
                Err(e) => panic!(
                    "kill {k} (seed {seed}): {} is broken: {e}\nknown: {:?}",
                    api_file.display(),
                    b.known
                ),
            };
            for (i, name) in pool.iter().enumerate() {
                let there = listed.contains(name);
                match b.known[i] {
                    Known::Present => assert!(
                        there,
                        "kill {k} (seed {seed}): {name} was added (201) and not deleted, but {} lists {listed:?}",
                        api_file.display()
                    ),
                    Known::Absent => assert!(
                        !there,
                        "kill {k} (seed {seed}): {name} was deleted (or never added), but {} lists it: {listed:?}",
                        api_file.display()
                    ),
                    Known::Either => {}
                }
                // From now on the file is what the node has.
                b.known[i] = if there { Known::Present } else { Known::Absent };
            }
            for name in &listed {
                assert!(
                    pool.contains(name),
                    "kill {k}: {} lists {name}, never added",
                    api_file.display()
                );
            }
            if !listed.is_empty() {
                kills_with_api_zones += 1;
            }
            drop(b);

            let t = Instant::now();
            node.pharos.restart(Some(&configured[0]));
            let took = t.elapsed();
            worst_restart = worst_restart.max(took);
            total_restart += took;

            // Every config zone, at least as new as before the kill.
            for (i, z) in configured.iter().enumerate() {
                let old = before[i];
                let after = soa(addr, z);
                let Soa::Serial(new) = after else {
                    panic!(
                        "kill {k} (seed {seed}): after the restart {z} answers {after:?} (rcode {RCODE_SERVFAIL} = \
                         SERVFAIL, {RCODE_REFUSED} = REFUSED); before the kill it served {old}\n--- log\n{}",
                        node.pharos.log_tail(40)
                    );
                };
                assert!(
                    serial_ge(new, old),
                    "kill {k} (seed {seed}): {z} serves serial {new} after the restart, older than {old} served \
                     before the kill\n--- log\n{}",
                    node.pharos.log_tail(40)
                );
                let upstream = soa(knot.addr(), z);
                if let Soa::Serial(up) = upstream {
                    assert!(
                        serial_ge(up, new),
                        "kill {k}: {z} serves serial {new}, ahead of the primary's {up}"
                    );
                }
                served[i] = new;
            }
            // API zones: the listed ones answer, the others are REFUSED.
            for name in &pool {
                let got = soa(addr, name);
                let refused = matches!(
                    got,
                    Soa::Other {
                        rcode: RCODE_REFUSED,
                        ..
                    }
                );
                if listed.contains(name) {
                    assert!(
                        !refused && !matches!(got, Soa::Nothing(_)),
                        "kill {k} (seed {seed}): {name} is in {} but answers {got:?} after the restart\n--- log\n{}",
                        api_file.display(),
                        node.pharos.log_tail(40)
                    );
                } else {
                    assert!(
                        refused,
                        "kill {k} (seed {seed}): {name} is not in {} but answers {got:?} after the restart",
                        api_file.display()
                    );
                }
            }
            // The restart did not break the file.
            match api_file_names(&api_file) {
                Ok(again) => assert_eq!(again, listed, "kill {k}: the restart changed {}", api_file.display()),
                Err(e) if e == "missing" && listed.is_empty() => {}
                Err(e) => panic!("kill {k}: after the restart {} is broken: {e}", api_file.display()),
            }
            gate.open();
        }
        drop(end_threads);
        if changer.join().is_err() {
            panic!("the primary's change thread panicked");
        }
        if api_thread.join().is_err() {
            panic!("the API thread panicked");
        }
    });
    let storm = storm_started.elapsed();

    // Quiet now: pharos catches up with the primary on every zone.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, z) in configured.iter().enumerate() {
        let Soa::Serial(want) = soa(knot.addr(), z) else {
            panic!("the primary does not serve {z}")
        };
        loop {
            match soa(addr, z) {
                Soa::Serial(s) if s == want => {
                    served[i] = s;
                    break;
                }
                got if Instant::now() > deadline => panic!(
                    "{z}: pharos serves {got:?}, the primary {want}, 60 s after the storm\n--- pharos log about \
                     {z}\n{}\n--- knotd log about {z}\n{}",
                    lines_about(&node.pharos.log(), z, 40),
                    lines_about(&knot.log(), z, 20)
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let book = book.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(
        book.unexpected.is_empty(),
        "unexpected API answers:\n{}",
        book.unexpected.join("\n")
    );
    let changes = changes.load(Ordering::Relaxed);
    let moved: u64 = served
        .iter()
        .zip(&first)
        .map(|(s, f)| u64::from(s.wrapping_sub(*f)))
        .sum();
    assert!(
        moved >= changes,
        "pharos moved {moved} serials over {CONFIG_ZONES} zones for {changes} changes"
    );
    assert!(book.calls > kills, "only {} API calls in {kills} rounds", book.calls);
    assert!(
        kills == 0 || kills_with_api_zones > 0,
        "no kill found an API zone listed"
    );
    assert!(
        caught * 4 >= chased,
        "only {caught} of {chased} rounds saw a new serial within 300 ms"
    );
    assert!(
        api_caught * 4 >= api_chased,
        "only {api_caught} of {api_chased} rounds saw an API answer within 300 ms"
    );
    eprintln!(
        "kill9_storm: seed {seed}: {kills} kills in {:.1} s; {changes} changes sent to {CONFIG_ZONES} zones; \
         {} API calls ({} cut off by a kill), {kills_with_api_zones} kills with API zones listed, \
         {caught} of {chased} right after a new serial, {api_caught} of {api_chased} right after an API \
         answer; restart to answering: worst {} ms, mean {} ms",
        storm.as_secs_f64(),
        book.calls,
        book.cut,
        worst_restart.as_millis(),
        total_restart.as_millis() / u128::from(kills.max(1)),
    );
}
