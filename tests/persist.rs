//! Zone snapshots on disk (`pharos::zone::persist`): round trips of the
//! repository's test zones, torn and corrupted files, a million-record zone
//! against the text loader, and `kill -9` of a writer at random moments.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos::zone::Zone;
use pharos::zone::file::{load_zone_file, load_zone_text};
use pharos::zone::persist::{self, PersistError, ZoneMeta};

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dnsdiff/zones")
}

/// The repository's test zones: (apex, zone).
fn test_zones() -> Vec<(String, Zone)> {
    let mut files: Vec<PathBuf> = fs::read_dir(zones_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .iter()
        .map(|p| {
            let apex = p.file_stem().unwrap().to_string_lossy().into_owned();
            let zone = load_zone_file(&apex, p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .zone;
            (apex, zone)
        })
        .collect()
}

fn meta(source: &str) -> ZoneMeta {
    ZoneMeta {
        primary: Some("[2001:db8::53]:53".into()),
        last_refresh_unix: 1_732_000_000,
        last_success_unix: 1_732_000_060,
        expire_at_unix: Some(1_733_209_600),
        source: source.into(),
    }
}

/// Asserts two snapshots hold the same names, RRsets and facts.
fn assert_same(a: &Zone, b: &Zone) {
    assert_eq!(a.apex(), b.apex());
    assert_eq!(a.node_count(), b.node_count());
    let (ia, ib) = (&a.info, &b.info);
    assert_eq!(
        (
            ia.serial, ia.refresh, ia.retry, ia.expire, ia.neg_ttl, ia.signed, ia.records
        ),
        (
            ib.serial, ib.refresh, ib.retry, ib.expire, ib.neg_ttl, ib.signed, ib.records
        )
    );
    for id in 0..a.node_count() as u32 {
        assert_eq!(a.name(id), b.name(id), "node {id}");
        assert_eq!(a.node(id).flags, b.node(id).flags, "node {id}");
        assert_eq!(a.parent(id), b.parent(id), "node {id}");
        let (sa, sb) = (a.rrsets(id), b.rrsets(id));
        assert_eq!(sa.len(), sb.len(), "node {id}");
        for (x, y) in sa.iter().zip(sb) {
            assert_eq!(
                (x.rtype, x.covered, x.ttl, x.count),
                (y.rtype, y.covered, y.ttl, y.count),
                "node {id}"
            );
            let rx: Vec<&[u8]> = a.records(x).collect();
            let ry: Vec<&[u8]> = b.records(y).collect();
            assert_eq!(rx, ry, "node {id} type {}", x.rtype);
        }
    }
    for id in 0..a.node_count() as u32 {
        assert_eq!(
            a.nsec_covering(a.name(id)),
            b.nsec_covering(b.name(id)),
            "NSEC covering node {id}"
        );
    }
    assert_eq!(
        a.nsec3().map(|c| (c.iterations, c.salt.clone())),
        b.nsec3().map(|c| (c.iterations, c.salt.clone()))
    );
}

#[test]
fn test_zones_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let zones = test_zones();
    let mut written = Vec::new();
    for (apex, zone) in &zones {
        let m = meta("axfr");
        let path = persist::write_zone(dir.path(), zone, &m).unwrap();
        assert_eq!(path.file_name().unwrap().to_string_lossy(), format!("{apex}.zone.bin"));
        let (back, back_meta) = persist::read_zone(&path).unwrap();
        assert_same(zone, &back);
        assert_eq!(back.info.serial, zone.info.serial);
        assert_eq!(back_meta, m);
        written.push(path);
    }
    written.sort();
    assert_eq!(persist::list(dir.path()), written);
    // Writing again replaces the file in place and leaves no temporary file.
    for (_, zone) in &zones {
        persist::write_zone(dir.path(), zone, &meta("ixfr")).unwrap();
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), zones.len());
    for path in &written {
        assert_eq!(persist::read_zone(path).unwrap().1.source, "ixfr");
    }
}

#[test]
fn torn_and_corrupted_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, zone) = test_zones()
        .into_iter()
        .find(|(apex, _)| apex == "child.example.test")
        .unwrap();
    let path = persist::write_zone(dir.path(), &zone, &meta("axfr")).unwrap();
    let good = fs::read(&path).unwrap();
    let probe = dir.path().join("probe.zone.bin");
    let mut cuts: Vec<usize> = (0..good.len()).step_by(7).collect();
    cuts.extend([1, 3, 4, 5, 6, 9, 10, good.len() - 8, good.len() - 4, good.len() - 1]);
    for cut in cuts {
        fs::write(&probe, &good[..cut]).unwrap();
        match persist::read_zone(&probe) {
            Err(PersistError::Format { offset, .. }) => assert!(offset <= cut as u64),
            Err(other) => panic!("cut at {cut}: unexpected error {other}"),
            Ok(_) => panic!("a file cut at {cut} of {} bytes was accepted", good.len()),
        }
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        fs::write(&probe, &bad).unwrap();
        let err = persist::read_zone(&probe)
            .err()
            .unwrap_or_else(|| panic!("flip at {i} accepted"));
        assert_eq!(err.path(), probe.as_path());
    }
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    fs::write(&probe, &bad).unwrap();
    let msg = persist::read_zone(&probe).err().unwrap().to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("probe.zone.bin"),
        "{msg}"
    );
    println!("a flipped byte: {msg}");
    fs::write(&probe, &good[..good.len() / 2]).unwrap();
    let msg = persist::read_zone(&probe).err().unwrap().to_string();
    assert!(msg.contains("truncated"), "{msg}");
    println!("a torn file: {msg}");
    // The good file is untouched by all this.
    assert_same(&zone, &persist::read_zone(&path).unwrap().0);
}

#[test]
fn stale_temp_file_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let zones = test_zones();
    let (_, zone) = &zones[0];
    let path = persist::write_zone(dir.path(), zone, &meta("axfr")).unwrap();
    // A crash mid-write leaves the start of a newer version under a temp name.
    let bytes = fs::read(&path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let stale = dir.path().join(format!("{name}.4242-0.tmp"));
    fs::write(&stale, &bytes[..bytes.len() / 3]).unwrap();
    assert_eq!(persist::list(dir.path()), vec![path.clone()]);
    assert_same(zone, &persist::read_zone(&path).unwrap().0);
    assert_eq!(persist::clean_temp(dir.path()).unwrap(), 1);
    assert!(!stale.exists());
    assert_eq!(persist::list(dir.path()), vec![path.clone()]);
    persist::remove(dir.path(), zone.apex()).unwrap();
    assert!(persist::list(dir.path()).is_empty());
}

/// Keeps the timed test and the kill test (whose writer keeps a core busy)
/// from running at the same time, so the timings mean something.
static HEAVY: Mutex<()> = Mutex::new(());

/// CPU time of the calling thread so far (zero where /proc does not say),
/// which other processes on a busy machine do not inflate.
fn thread_cpu() -> Duration {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn big_zone_text(records: usize) -> String {
    let mut text = String::with_capacity(records * 24);
    text.push_str("$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 2024010101 3600 600 86400 300\n@ NS ns1\n");
    text.push_str("ns1 A 192.0.2.1\n");
    for i in 0..records - 3 {
        text.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    text
}

#[test]
fn million_records_load_faster_than_text() {
    const RECORDS: usize = 1_000_000;
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let text = big_zone_text(RECORDS);
    let (t, c) = (Instant::now(), thread_cpu());
    let zone = load_zone_text("big.test", &text).unwrap().zone;
    let (text_load, text_cpu) = (t.elapsed(), thread_cpu() - c);
    drop(text);
    assert_eq!(zone.info.records, RECORDS);

    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let path = persist::write_zone(dir.path(), &zone, &meta("axfr")).unwrap();
    let write = t.elapsed();
    let size = fs::metadata(&path).unwrap().len();

    let (t, c) = (Instant::now(), thread_cpu());
    let (back, _) = persist::read_zone(&path).unwrap();
    let (read, read_cpu) = (t.elapsed(), thread_cpu() - c);
    println!(
        "1M records: text load {:.3} s (cpu {:.3} s), snapshot write {:.3} s, read {:.3} s (cpu {:.3} s), \
         file {:.1} MB ({:.1} bytes/record)",
        text_load.as_secs_f64(),
        text_cpu.as_secs_f64(),
        write.as_secs_f64(),
        read.as_secs_f64(),
        read_cpu.as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / RECORDS as f64
    );
    assert_eq!(back.info.records, RECORDS);
    assert_eq!(back.info.serial, zone.info.serial);
    assert_same(&zone, &back);
    assert!(
        read < text_load,
        "snapshot read {read:?} not faster than text load {text_load:?}"
    );
}

/// A small zone of `serial`: the serial also shows in every record, so a
/// file that mixed two versions would not validate as either.
fn versioned_zone(serial: u32, hosts: usize) -> Zone {
    let mut text =
        format!("$ORIGIN kill.test.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\n");
    text.push_str("ns1 A 192.0.2.1\n");
    for i in 0..hosts {
        text.push_str(&format!("h{i} TXT \"version {serial} host {i}\"\n"));
    }
    load_zone_text("kill.test", &text).unwrap().zone
}

const WRITER_ENV: &str = "PHAROS_PERSIST_WRITER_DIR";

/// Not a test by itself: the child process of `kill_9_while_writing`, which
/// writes two versions in turn until it is killed (or for 60 s at most).
#[test]
#[ignore = "helper process for kill_9_while_writing"]
fn writer_child() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let versions = [versioned_zone(1, 20_000), versioned_zone(2, 30_000)];
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(60) {
        let zone = &versions[i % 2];
        let m = ZoneMeta {
            source: format!("serial {}", zone.info.serial),
            last_success_unix: zone.info.serial as u64,
            ..meta("axfr")
        };
        persist::write_zone(&dir, zone, &m).unwrap();
        i += 1;
    }
}

/// Kills the writer if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_while_writing() {
    let _serial = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kill.test.zone.bin");
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut serials = [0usize; 3];
    let mut torn_temps = 0;
    for round in 0..10 {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["writer_child", "--exact", "--ignored", "--test-threads=1", "--quiet"])
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        // Let the writer get going, then kill it at a random moment.
        let deadline = Instant::now() + Duration::from_secs(30);
        while round == 0 && !file.exists() {
            assert!(Instant::now() < deadline, "the writer never wrote");
            std::thread::sleep(Duration::from_millis(5));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(250 + seed % 100));
        child.0.kill().unwrap(); // SIGKILL
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer ended by itself: {status}");

        assert_eq!(persist::list(dir.path()), vec![file.clone()], "round {round}");
        let (zone, m) = persist::read_zone(&file).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let serial = zone.info.serial;
        assert!(serial == 1 || serial == 2, "round {round}: serial {serial}");
        assert_eq!(zone.info.records, 3 + if serial == 1 { 20_000 } else { 30_000 });
        // Zone and timers come from the same write.
        assert_eq!(m.source, format!("serial {serial}"));
        assert_eq!(m.last_success_unix, serial as u64);
        serials[serial as usize] += 1;
        torn_temps += persist::clean_temp(dir.path()).unwrap();
    }
    println!(
        "10 kills: serial 1 found {} times, serial 2 {} times; {torn_temps} torn temporary files cleaned",
        serials[1], serials[2]
    );
}
