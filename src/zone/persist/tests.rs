//! Tests of the snapshot format and its files.
use super::*;
use crate::zone::file::load_zone_text;

const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host 7 3600 600 86400 300\n@ NS ns1\n@ NS ns2\n\
    ns1 A 192.0.2.1\nns2 A 192.0.2.2\nwww A 192.0.2.3\nwww AAAA 2001:db8::1\nmail MX 10 www\n\
    a.b.c TXT \"empty non-terminals above\"\nsub NS ns.sub\nns.sub A 192.0.2.9\n*.w CNAME www\n";

fn zone() -> Zone {
    load_zone_text("example.test", ZONE).unwrap().zone
}

fn meta() -> ZoneMeta {
    ZoneMeta {
        primary: Some("192.0.2.53:53".into()),
        last_refresh_unix: 1_700_000_000,
        last_success_unix: 1_700_000_100,
        expire_at_unix: Some(1_701_209_600),
        source: "axfr".into(),
    }
}

fn same(a: &Zone, b: &Zone) {
    assert_eq!(a.apex(), b.apex());
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(a.info.serial, b.info.serial);
    assert_eq!(a.info.records, b.info.records);
    for id in 0..a.node_count() as u32 {
        assert_eq!(a.name(id), b.name(id));
        assert_eq!(a.node(id).flags, b.node(id).flags);
        let (sa, sb) = (a.rrsets(id), b.rrsets(id));
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(sb) {
            assert_eq!(
                (x.rtype, x.covered, x.ttl, x.count),
                (y.rtype, y.covered, y.ttl, y.count)
            );
            assert!(a.records(x).eq(b.records(y)));
        }
    }
}

#[test]
fn round_trip_in_memory() {
    let z = zone();
    let bytes = encode(&z, &meta()).unwrap();
    let (back, m) = decode(&bytes, Path::new("mem")).unwrap();
    same(&z, &back);
    assert_eq!(m, meta());
    // Encoding is deterministic.
    assert_eq!(encode(&back, &m).unwrap(), bytes);
}

#[test]
fn meta_without_options() {
    let z = zone();
    let m = ZoneMeta {
        source: "file".into(),
        ..ZoneMeta::default()
    };
    let bytes = encode(&z, &m).unwrap();
    assert_eq!(decode(&bytes, Path::new("mem")).unwrap().1, m);
}

#[test]
fn every_truncation_and_flip_is_an_error() {
    let bytes = encode(&zone(), &meta()).unwrap();
    let path = Path::new("t");
    for cut in 0..bytes.len() {
        let err = decode(&bytes[..cut], path).err().expect("truncated file accepted");
        assert!(matches!(err, PersistError::Format { .. }), "{err}");
    }
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            assert!(decode(&b, path).is_err(), "flip at {i} accepted");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode(&longer, path).is_err());
}

/// Re-frames a body with a valid end marker and checksum, so that the
/// checks past the checksum are reached.
fn reframe(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&END_MARKER);
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

#[test]
fn garbage_with_a_valid_checksum_is_an_error() {
    let bytes = encode(&zone(), &meta()).unwrap();
    let body = &bytes[..bytes.len() - TRAILER];
    let path = Path::new("g");
    // Every cut of the body, re-framed: a clean error each time.
    for cut in 0..body.len() {
        let framed = reframe(body[..cut].to_vec());
        assert!(decode(&framed, path).is_err(), "cut at {cut} accepted");
    }
    // Pseudo-random bodies after a valid header prefix.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        let keep = (x % body.len() as u64) as usize;
        let mut b = body[..keep].to_vec();
        for _ in 0..(x % 300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.push(x as u8);
        }
        let _ = decode(&reframe(b), path);
    }
}

/// Well-framed records of random types and rdata after a valid zone, as
/// a crafted file could hold: the builder answers Ok or Err, never panics.
#[test]
fn random_records_with_valid_framing() {
    let z = zone();
    let bytes = encode(&z, &meta()).unwrap();
    let meta_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let count_at = FIXED_HEADER + meta_len + 1 + z.apex().len() + 4;
    let base = &bytes[..bytes.len() - TRAILER];
    let types = [
        1u16, 2, 5, 6, 12, 15, 16, 28, 33, 39, 43, 46, 47, 48, 50, 51, 64, 65, 29, 99, 65535,
    ];
    let owners: Vec<Vec<u8>> = ["@", "a", "*", "*.a", "b.a", "x.y.z", "sub", "ns.sub", "c.ns.sub", "www"]
        .iter()
        .map(|t| {
            let text = if *t == "@" {
                "example.test".to_string()
            } else {
                format!("{t}.example.test")
            };
            name::from_text(&text).unwrap()
        })
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..3000 {
        let n = rnd() % 6 + 1;
        let mut body = base.to_vec();
        body[count_at..count_at + 8].copy_from_slice(&(z.info.records as u64 + n).to_be_bytes());
        for _ in 0..n {
            let owner = &owners[(rnd() % owners.len() as u64) as usize];
            // Reuse nothing from the previous owner: the whole name is the prefix.
            body.push(0);
            body.push(owner.len() as u8);
            body.extend_from_slice(owner);
            body.extend_from_slice(&types[(rnd() % types.len() as u64) as usize].to_be_bytes());
            body.extend_from_slice(&300u32.to_be_bytes());
            let len = (rnd() % 40) as usize;
            body.extend_from_slice(&(len as u16).to_be_bytes());
            for _ in 0..len {
                // Mostly small bytes, so names and lengths inside rdata parse.
                let r = rnd();
                body.push(if r % 3 == 0 { r as u8 } else { (r % 8) as u8 });
            }
        }
        match decode(&reframe(body), Path::new("r")) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
    }
    // Both paths are exercised: zones built (NSEC3 chains, cuts,
    // DNAMEs...) and zones refused.
    assert!(
        accepted > 100 && rejected > 100,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn clear_errors() {
    let path = Path::new("/data/example.test.zone.bin");
    let err = decode(b"hello world, not a zone", path).err().unwrap().to_string();
    assert!(
        err.contains("bad magic") && err.contains("/data/example.test.zone.bin"),
        "{err}"
    );
    let mut bytes = encode(&zone(), &meta()).unwrap();
    bytes[5] = 9;
    let err = decode(&bytes, path).err().unwrap().to_string();
    assert!(err.contains("unsupported format version 9"), "{err}");
    let bytes = encode(&zone(), &meta()).unwrap();
    let err = decode(&bytes[..bytes.len() - 3], path).err().unwrap().to_string();
    assert!(err.contains("truncated"), "{err}");
    let mut b = bytes.clone();
    b[40] ^= 4;
    let err = decode(&b, path).err().unwrap().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn later_meta_fields_are_skipped() {
    let z = zone();
    let bytes = encode(&z, &meta()).unwrap();
    let meta_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let mut body = bytes[..FIXED_HEADER + meta_len].to_vec();
    body[6..10].copy_from_slice(&((meta_len + 5) as u32).to_be_bytes());
    body.extend_from_slice(b"extra");
    body.extend_from_slice(&bytes[FIXED_HEADER + meta_len..bytes.len() - TRAILER]);
    let (back, m) = decode(&reframe(body), Path::new("x")).unwrap();
    same(&z, &back);
    assert_eq!(m, meta());
}

#[test]
fn invalid_zone_is_rejected_by_the_builder() {
    // A CNAME beside other data, written by hand in the format.
    let z = zone();
    let bytes = encode(&z, &meta()).unwrap();
    let body = bytes[..bytes.len() - TRAILER].to_vec();
    // Append one record (owner "www", CNAME) and bump the record count.
    let meta_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let count_at = FIXED_HEADER + meta_len + 1 + z.apex().len() + 4;
    let count = u64::from_be_bytes(body[count_at..count_at + 8].try_into().unwrap());
    let mut body = body;
    body[count_at..count_at + 8].copy_from_slice(&(count + 1).to_be_bytes());
    let www = name::from_text("www.example.test").unwrap();
    body.push(0);
    body.push(www.len() as u8);
    body.extend_from_slice(&www);
    body.extend_from_slice(&5u16.to_be_bytes());
    body.extend_from_slice(&300u32.to_be_bytes());
    let target = name::from_text("ns1.example.test").unwrap();
    body.extend_from_slice(&(target.len() as u16).to_be_bytes());
    body.extend_from_slice(&target);
    let err = decode(&reframe(body), Path::new("z")).err().unwrap();
    assert!(matches!(err, PersistError::Zone { .. }), "{err}");
    assert!(err.to_string().contains("CNAME beside other data"), "{err}");
}

#[test]
fn file_names() {
    let f = |t: &str| file_name(&name::from_text(t).unwrap());
    assert_eq!(f("."), "root.zone.bin");
    assert_eq!(f("Example.TEST."), "example.test.zone.bin");
    assert_eq!(f("root"), "%72oot.zone.bin");
    assert_eq!(f("a\\/b.test"), "a%2fb.test.zone.bin");
    assert_eq!(f("a\\.b.test"), "a%2eb.test.zone.bin");
    assert_eq!(f("\\000x.test"), "%00x.test.zone.bin");
    assert_eq!(f("_dmarc.x-y.test"), "_dmarc.x-y.test.zone.bin");
    let long = vec!["\\255\\254\\253\\252\\251\\250\\249\\248\\247\\246"; 20].join(".");
    let long = f(&long);
    assert!(
        long.len() <= MAX_FILE_NAME + SUFFIX.len() && long.ends_with(SUFFIX),
        "{long}"
    );
    assert!(!long.contains('/'));
    // Malformed wire input does not panic.
    assert_eq!(file_name(&[5, b'a']), "a.zone.bin");
    assert_eq!(file_name(&[]), "root.zone.bin");
}

#[test]
fn stale_temp_names_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone();
    // A crashed process with this pid left temporaries for the next counters.
    let next = TMP_COUNTER.load(Ordering::Relaxed);
    for n in next..next + 20 {
        let stale = format!("example.test.zone.bin.{}-{n}.tmp", std::process::id());
        fs::write(dir.path().join(stale), b"torn").unwrap();
    }
    let path = write_zone(dir.path(), &z, &meta()).unwrap();
    same(&z, &read_zone(&path).unwrap().0);
    assert!(clean_temp(dir.path()).unwrap() >= 1);
}

#[test]
fn failed_write_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone();
    let path = write_zone(dir.path(), &z, &meta()).unwrap();
    let before = fs::read(&path).unwrap();
    let bad = ZoneMeta {
        source: "x".repeat(70_000),
        ..meta()
    };
    let err = write_zone(dir.path(), &z, &bad).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(fs::read(&path).unwrap(), before);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // A directory that does not exist: an error, not a panic.
    assert!(write_zone(&dir.path().join("missing"), &z, &meta()).is_err());
}

#[test]
fn write_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone();
    let path = write_zone(dir.path(), &z, &meta()).unwrap();
    assert_eq!(path, dir.path().join("example.test.zone.bin"));
    fs::write(dir.path().join("example.test.zone.bin.1-0.tmp"), b"partial").unwrap();
    fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    assert_eq!(list(dir.path()), vec![path.clone()]);
    let (back, m) = read_zone(&path).unwrap();
    same(&z, &back);
    assert_eq!(m, meta());
    assert_eq!(clean_temp(dir.path()).unwrap(), 1);
    assert!(dir.path().join("notes.txt").exists());
    remove(dir.path(), z.apex()).unwrap();
    remove(dir.path(), z.apex()).unwrap();
    assert!(list(dir.path()).is_empty());
    let err = read_zone(&path).err().unwrap();
    assert!(matches!(err, PersistError::Io { .. }), "{err}");
}
