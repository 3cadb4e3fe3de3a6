use super::*;
use crate::zone::file::load_zone_text;
use crate::zone::history::changes;
use crate::zone::name::from_text;

const BASE: &str = "$ORIGIN j.test.\n@ 300 SOA ns1 host 1 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n";

fn name(s: &str) -> Vec<u8> {
    from_text(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn soa(serial: u32) -> Record {
    let mut rd = name("ns1.j.test");
    rd.extend(name("host.j.test"));
    for v in [serial, 3600, 600, 86400, 300] {
        rd.extend_from_slice(&v.to_be_bytes());
    }
    Record {
        owner: name("j.test"),
        rtype: 6,
        ttl: 300,
        rdata: rd,
    }
}

fn entry(from: u32, host: &str) -> Entry {
    Entry {
        from,
        to: from + 1,
        meta: ZoneMeta {
            primary: Some("192.0.2.53:53".into()),
            source: "ixfr".into(),
            ..ZoneMeta::default()
        },
        from_soa: soa(from),
        soa: soa(from + 1),
        removed: Vec::new(),
        added: vec![Record {
            owner: name(&format!("{host}.j.test")),
            rtype: 1,
            ttl: 60,
            rdata: vec![192, 0, 2, 7],
        }],
    }
}

fn base() -> Zone {
    load_zone_text("j.test", BASE).unwrap_or_else(|e| panic!("{e:?}")).zone
}

const DEEP: Bounds = Bounds {
    depth: 100,
    bytes: 64 << 20,
};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn entries_on_disk(path: &Path) -> Vec<Hdr> {
    let data = ok(fs::read(path));
    let ix = index(&data).unwrap_or_else(|| panic!("not a version-2 journal"));
    assert!(ix.problem.is_none(), "{:?}", ix.problem);
    ix.entries
}

#[test]
fn append_replay_and_torn_tail() {
    let dir = ok(tempfile::tempdir());
    let zone = base();
    let apex = zone.apex().to_vec();
    // No snapshot yet, no history: the caller must write one.
    assert_eq!(
        ok(append(dir.path(), &apex, &entry(1, "a"), Bounds::NONE)),
        Appended::NeedsSnapshot
    );
    let snap = ok(persist::write_zone(dir.path(), &zone, &ZoneMeta::default()));
    for (from, host) in [(1, "a"), (2, "b")] {
        let a = ok(append(dir.path(), &apex, &entry(from, host), DEEP));
        assert!(
            matches!(a, Appended::Yes { replay_entries, .. } if replay_entries == from),
            "{a:?}"
        );
    }
    let (z, meta) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 3);
    assert_eq!(meta.source, "ixfr");
    assert!(z.find(&name("b.j.test")).is_some());

    // A torn last entry: replay stops before it; the next append cuts it.
    let jp = path_for(&snap);
    let mut data = ok(fs::read(&jp));
    let full = data.len();
    data.extend_from_slice(&[0, 0, 0, 50, 1, 2]);
    ok(fs::write(&jp, &data));
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 3);
    assert_eq!(ok(changes(dir.path(), &apex, 1, 3)).map(|v| v.len()), Some(2));
    assert!(matches!(
        ok(append(dir.path(), &apex, &entry(3, "c"), DEEP)),
        Appended::Yes { .. }
    ));
    assert!(ok(fs::metadata(&jp)).len() > full as u64);
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 4);

    // A new snapshot keeps the history, which now ends at it; replay
    // starts after it.
    ok(persist::write_zone(dir.path(), &z, &ZoneMeta::default()));
    ok(after_snapshot(dir.path(), &apex, 4, DEEP));
    assert_eq!(entries_on_disk(&jp).len(), 3);
    let (z2, _) = ok(persist::read_zone(&snap));
    assert_eq!(z2.info.serial, 4);
    let a = ok(append(dir.path(), &apex, &entry(4, "d"), DEEP));
    assert!(matches!(a, Appended::Yes { replay_entries: 1, .. }), "{a:?}");
    let (z3, _) = ok(persist::read_zone(&snap));
    assert_eq!(z3.info.serial, 5);
    assert!(z3.find(&name("d.j.test")).is_some());
    let chain = ok(changes(dir.path(), &apex, 1, 5)).unwrap_or_else(|| panic!("whole history"));
    assert_eq!(chain.iter().map(|e| e.from).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(chain[0].from_soa, soa(1));
    assert_eq!(chain[3], entry(4, "d"));

    // Out of sequence (the snapshot is not at its `from`): the journal
    // stays as it is (a replay needs it), the caller writes a snapshot, and
    // the history restarts after it.
    assert_eq!(
        ok(append(dir.path(), &apex, &entry(7, "x"), DEEP)),
        Appended::NeedsSnapshot
    );
    assert_eq!(entries_on_disk(&jp).len(), 4);
    assert_eq!(ok(persist::read_zone(&snap)).0.info.serial, 5);
    let z8 = load_zone_text("j.test", &BASE.replace(" 1 3600", " 8 3600"))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .zone;
    ok(persist::write_zone(dir.path(), &z8, &ZoneMeta::default()));
    ok(after_snapshot(dir.path(), &apex, 8, DEEP));
    assert!(!jp.exists(), "a history that does not end at the snapshot is dropped");
    assert_eq!(ok(changes(dir.path(), &apex, 1, 5)), None);
    let a = ok(append(dir.path(), &apex, &entry(8, "y"), DEEP));
    assert!(matches!(a, Appended::Yes { replay_entries: 1, .. }), "{a:?}");
    assert_eq!(ok(changes(dir.path(), &apex, 8, 9)).map(|c| c.len()), Some(1));
    // Without history, a snapshot removes the journal.
    ok(after_snapshot(dir.path(), &apex, 9, Bounds::NONE));
    assert!(!jp.exists());
}

#[test]
fn depth_bound_and_changes() {
    let dir = ok(tempfile::tempdir());
    let zone = base();
    let apex = zone.apex().to_vec();
    let snap = ok(persist::write_zone(dir.path(), &zone, &ZoneMeta::default()));
    let jp = path_for(&snap);
    let mut current = zone;
    for i in 1..=200u32 {
        let a = ok(append(dir.path(), &apex, &entry(i, &format!("h{i}")), DEEP));
        if a.wants_snapshot(DEEP) {
            // What the engine does: fold the journal into a snapshot.
            current = ok(persist::read_zone(&snap)).0;
            ok(persist::write_zone(dir.path(), &current, &ZoneMeta::default()));
            ok(after_snapshot(dir.path(), &apex, current.info.serial, DEEP));
        }
        assert!(entries_on_disk(&jp).len() <= 100, "after {i} changes");
    }
    let on_disk = entries_on_disk(&jp);
    assert_eq!(on_disk.len(), 100);
    assert_eq!(on_disk[0].from, 101);
    assert_eq!(on_disk[99].to, 201);
    // The snapshot was rewritten along the way and replay still reaches
    // the last version.
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 201);
    assert!(z.find(&name("h200.j.test")).is_some() && z.find(&name("h1.j.test")).is_some());
    assert!(current.info.serial > 1);

    assert_eq!(ok(changes(dir.path(), &apex, 201, 201)), Some(Vec::new()), "current");
    let one = ok(changes(dir.path(), &apex, 200, 201)).unwrap_or_else(|| panic!("one behind"));
    assert_eq!(one, vec![entry(200, "h200")]);
    let all = ok(changes(dir.path(), &apex, 101, 201)).unwrap_or_else(|| panic!("oldest kept"));
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|w| w[0].to == w[1].from));
    let mid = ok(changes(dir.path(), &apex, 150, 160)).unwrap_or_else(|| panic!("middle"));
    assert_eq!((mid.len(), mid[0].from, mid[9].to), (10, 150, 160));
    assert_eq!(ok(changes(dir.path(), &apex, 100, 201)), None, "older than the history");
    assert_eq!(ok(changes(dir.path(), &apex, 5000, 201)), None, "unknown serial");
    assert_eq!(ok(changes(dir.path(), &apex, 150, 300)), None, "not our version");
    assert_eq!(ok(changes(dir.path(), &apex, 202, 201)), None, "newer than ours");
    assert_eq!(ok(changes(dir.path(), b"\x05other\x00", 150, 201)), None, "no history");
}

#[test]
fn bytes_bound() {
    let dir = ok(tempfile::tempdir());
    let zone = base();
    let apex = zone.apex().to_vec();
    ok(persist::write_zone(dir.path(), &zone, &ZoneMeta::default()));
    let jp = path_in(dir.path(), &apex);
    let one = frame(&entry(1, "h1")).map(|f| f.len() as u64).unwrap_or(0);
    let bounds = Bounds {
        depth: 1000,
        bytes: HEADER + 10 * one + one / 2,
    };
    for i in 1..=30u32 {
        let a = ok(append(dir.path(), &apex, &entry(i, &format!("h{i}")), bounds));
        if a.wants_snapshot(bounds) {
            let z = ok(persist::read_zone(&dir.path().join(persist::file_name(&apex)))).0;
            ok(persist::write_zone(dir.path(), &z, &ZoneMeta::default()));
            ok(after_snapshot(dir.path(), &apex, z.info.serial, bounds));
        }
        assert!(ok(fs::metadata(&jp)).len() <= bounds.bytes, "after {i} changes");
    }
    // Entries of equal size (two-digit names): 10 fit.
    assert_eq!(entries_on_disk(&jp).len(), 10);
    let (z, _) = ok(persist::read_zone(&dir.path().join(persist::file_name(&apex))));
    assert_eq!(z.info.serial, 31);
}

#[test]
fn trim_keeps_what_replay_needs() {
    let dir = ok(tempfile::tempdir());
    let zone = base();
    let apex = zone.apex().to_vec();
    let snap = ok(persist::write_zone(dir.path(), &zone, &ZoneMeta::default()));
    let tiny = Bounds {
        depth: 2,
        bytes: 1 << 20,
    };
    // The snapshot is never rewritten here: every entry is needed.
    for i in 1..=5u32 {
        ok(append(dir.path(), &apex, &entry(i, &format!("h{i}")), tiny));
    }
    assert_eq!(entries_on_disk(&path_for(&snap)).len(), 5);
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 6);
    // Once the snapshot is at 6, the next append trims to the bound, and a
    // restart replays from the snapshot.
    ok(persist::write_zone(dir.path(), &z, &ZoneMeta::default()));
    ok(append(dir.path(), &apex, &entry(6, "h6"), tiny));
    let left = entries_on_disk(&path_for(&snap));
    assert_eq!(left.iter().map(|h| h.from).collect::<Vec<_>>(), [5, 6]);
    // Forget the cached index: as after a restart.
    tails(|t| t.clear());
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 7);
    assert!(z.find(&name("h6.j.test")).is_some());
    ok(append(dir.path(), &apex, &entry(7, "h7"), tiny));
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 8);
}

#[test]
fn version_1_journal_still_replays() {
    let dir = ok(tempfile::tempdir());
    let zone = base();
    let snap = ok(persist::write_zone(dir.path(), &zone, &ZoneMeta::default()));
    // A version-1 journal: base serial, entries without the old SOA.
    let mut data = MAGIC_V1.to_vec();
    data.extend_from_slice(&1u32.to_be_bytes());
    for (from, host) in [(1u32, "a"), (2, "b")] {
        let e = entry(from, host);
        let mut p = Vec::new();
        p.extend_from_slice(&e.from.to_be_bytes());
        p.extend_from_slice(&e.to.to_be_bytes());
        let meta = ok(persist::encode_meta(&e.meta));
        p.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        p.extend_from_slice(&meta);
        ok(put_record(&mut p, &e.soa));
        for list in [&e.removed, &e.added] {
            p.extend_from_slice(&(list.len() as u32).to_be_bytes());
            for r in list {
                ok(put_record(&mut p, r));
            }
        }
        data.extend_from_slice(&(p.len() as u32).to_be_bytes());
        data.extend_from_slice(&crc32fast::hash(&p).to_be_bytes());
        data.extend_from_slice(&p);
    }
    ok(fs::write(path_for(&snap), &data));
    let (z, _) = ok(persist::read_zone(&snap));
    assert_eq!(z.info.serial, 3);
    assert!(z.find(&name("b.j.test")).is_some());
    // Not a history: IXFR out finds nothing; the next append starts one.
    assert_eq!(ok(changes(dir.path(), zone.apex(), 1, 3)), None);
    let a = ok(append(dir.path(), zone.apex(), &entry(3, "c"), DEEP));
    assert_eq!(a, Appended::NeedsSnapshot, "the snapshot is not at serial 3");
    // Left alone until the snapshot is written: a crash now still serves 3.
    assert_eq!(ok(persist::read_zone(&snap)).0.info.serial, 3);
}

#[test]
fn garbage_never_panics() {
    for data in [
        &b""[..],
        b"PHJ2",
        b"PHJ2\0\0\0\x05xxxxxxxxx",
        b"PHJ2\xff\xff\xff\xff\0\0\0\0",
        b"PHJ2\0\0\0\x02\0\0\0\0ab",
        b"PHJ1\0\0\0\x01\0\0\0\x05xxxxxxxxx",
    ] {
        let n = index(data).map_or(0, |ix| ix.entries.len());
        assert_eq!(n, 0);
        assert!(scan_v1(data, 1).0.is_empty());
        let dir = ok(tempfile::tempdir());
        let path = dir.path().join("g");
        ok(fs::write(&path, data));
        let file = ok(File::open(&path));
        assert!(ok(crate::zone::history::headers(&file)).unwrap_or_default().is_empty());
    }
}

#[test]
fn large_history_trimmed_with_slack() {
    // No snapshot (a file zone's history): nothing is kept for replay.
    let dir = ok(tempfile::tempdir());
    let apex = name("j.test");
    let jp = path_in(dir.path(), &apex);
    let bounds = Bounds {
        depth: 16,
        bytes: 64 << 20,
    };
    let mut counts = Vec::new();
    for i in 1..=40u32 {
        let mut e = entry(i, &format!("h{i}"));
        e.added[0].rtype = 16;
        e.added[0].rdata = vec![b'x'; 65_000];
        assert_eq!(ok(append(dir.path(), &apex, &e, bounds)), Appended::NeedsSnapshot);
        counts.push(entries_on_disk(&jp).len());
    }
    // Past 1 MiB a trim goes down to 7/8 of the depth (14), so the file is
    // rewritten once every three appends here, not at each.
    assert!(counts.iter().all(|&n| n <= 16), "{counts:?}");
    assert_eq!(counts[16..].iter().filter(|&&n| n == 14).count(), 8, "{counts:?}");
    let chain = ok(changes(dir.path(), &apex, 27, 41)).unwrap_or_else(|| panic!("the last 14"));
    assert_eq!(chain.len(), 14);
}
