//! Inputs the fuzz targets (fuzz/) found or that were written against them,
//! replayed on every test run: zone files must load or fail cleanly, query
//! responses must fit the negotiated UDP size and parse to their end, and
//! BGP peer streams must drive a session without a panic or a broken
//! invariant.

use std::sync::Arc;

use pharos::dns::query;
use pharos::dns::{Server, ServerOptions, Transport};
use pharos::zone::file::load_zone_text;
use pharos::zone::{Store, ZoneSet};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/fuzz/regressions/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| {
            let p = e.expect("directory entry").path();
            (p.display().to_string(), std::fs::read(&p).expect("regression input"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no regression inputs in {dir}");
    out
}

fn server() -> Server {
    let dir = format!("{}/tests/dnsdiff/zones", env!("CARGO_MANIFEST_DIR"));
    let zones = ["example.test", "child.example.test", "signed.test", "nsec3.test"].map(|apex| {
        let text = std::fs::read_to_string(format!("{dir}/{apex}.zone")).expect("test zone");
        Arc::new(load_zone_text(apex, &text).expect("test zone loads").zone)
    });
    let opts = ServerOptions {
        node_id: "fuzz".into(),
        nsid: true,
        version: Some("pharos".into()),
        udp_payload: 1232,
    };
    Server::new(Store::new(ZoneSet::from_zones(zones)), opts)
}

/// Walks a message: every name's pointers point backwards, every record
/// fits, and the message ends exactly after its last record.
fn walk(msg: &[u8]) -> Result<(), String> {
    let count = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]) as usize;
    let mut pos = 12;
    let name = |mut p: usize| -> Result<usize, String> {
        loop {
            let len = *msg.get(p).ok_or("name runs past the end")? as usize;
            if len & 0xc0 == 0xc0 {
                let target = ((len & 0x3f) << 8) | *msg.get(p + 1).ok_or("cut pointer")? as usize;
                if target >= p || target < 12 {
                    return Err(format!("pointer at {p} to {target}"));
                }
                return Ok(p + 2);
            }
            if len == 0 {
                return Ok(p + 1);
            }
            p += 1 + len;
        }
    };
    for _ in 0..count(0) {
        pos = name(pos)? + 4;
    }
    for _ in 0..count(1) + count(2) + count(3) {
        pos = name(pos)?;
        let rdlen = u16::from_be_bytes([*msg.get(pos + 8).ok_or("cut")?, *msg.get(pos + 9).ok_or("cut")?]) as usize;
        pos += 10 + rdlen;
    }
    if pos != msg.len() {
        Err(format!("message ends at {} but records end at {pos}", msg.len()))
    } else {
        Ok(())
    }
}

#[test]
fn query_regressions_fit_and_parse() {
    let server = server();
    let mut out = vec![0u8; 65535];
    for (path, req) in inputs("query") {
        let n = server.handle(&req, Transport::Udp, &mut out);
        if n == 0 {
            continue;
        }
        let limit = match query::parse(&req) {
            Ok(q) => q.edns.map_or(512, |e| e.payload.clamp(512, 1232) as usize),
            Err(_) => 512,
        };
        assert!(n <= limit, "{path}: {n}-octet UDP response over the {limit} negotiated");
        walk(&out[..n]).unwrap_or_else(|e| panic!("{path}: response does not parse: {e}"));
    }
}

#[test]
fn zonefile_regressions_fail_cleanly() {
    for (path, data) in inputs("zonefile") {
        let text = String::from_utf8_lossy(&data);
        let r = std::panic::catch_unwind(|| load_zone_text("example.test", &text).is_ok());
        assert!(r.is_ok(), "{path}: the zone loader panicked");
    }
}

#[test]
fn bgp_regressions_replay_cleanly() {
    for (path, data) in inputs("bgp") {
        match std::panic::catch_unwind(|| pharos::bgp::replay::replay(&data)) {
            Ok(Ok(r)) => {
                // Inputs named "established" must get that far (the harness
                // itself works).
                assert!(r.reached_established || !path.contains("established"), "{path}: {r:?}");
            }
            Ok(Err(e)) => panic!("{path}: {e}"),
            Err(_) => panic!("{path}: the BGP session replay panicked"),
        }
    }
}

#[test]
fn config_regressions_fail_cleanly() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, data) in inputs("config") {
        let text = String::from_utf8_lossy(&data);
        let r = std::panic::catch_unwind(|| {
            pharos::config::Config::from_str(&text, base, std::path::Path::new("fuzz.toml")).is_ok()
        });
        match r {
            // The example config must still load (the harness works).
            Ok(ok) => assert!(ok || !path.ends_with("example.toml"), "{path}: does not load"),
            Err(_) => panic!("{path}: the config loader panicked"),
        }
    }
}

#[test]
fn api_zone_regressions_validate_or_fail_cleanly() {
    use pharos::zonemgr::api_zones::{ApiZone, validate};
    // The fuzz target's second config: key `k1`, template `t`.
    let text = "[node]\nid = \"f\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
                [[tsig-key]]\nname = \"k1\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                [[template]]\nname = \"t\"\nprimaries = [\"192.0.2.1\"]\nnotify = [\"192.0.2.9\"]\n";
    let config = pharos::config::Config::from_str(text, std::path::Path::new("/"), std::path::Path::new("fuzz.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    for (path, data) in inputs("api_zone") {
        let Some((_, body)) = data.split_first() else { continue };
        let r = std::panic::catch_unwind(|| match serde_json::from_slice::<ApiZone>(body) {
            Ok(z) => validate(&z, &config).is_ok(),
            Err(_) => false,
        });
        match r {
            Ok(ok) => assert_eq!(ok, !path.contains("bad"), "{path}: validated {ok}"),
            Err(_) => panic!("{path}: API zone validation panicked"),
        }
    }
}

#[test]
fn snapshot_regressions_decode_or_fail_cleanly() {
    use pharos::zone::{journal, persist};
    for (path, data) in inputs("snapshot") {
        if data.len() < 2 {
            continue;
        }
        let split = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        let (snapshot, bytes) = data[2..].split_at(split);
        let name = std::path::Path::new("fuzz.zone.bin");
        let r = std::panic::catch_unwind(|| {
            persist::decode(snapshot, name)
                .ok()
                .map(|(zone, meta)| journal::replay_bytes(bytes, name, zone, meta))
                .map(|(zone, _, applied, _)| (zone.info.serial, applied))
        });
        match r {
            Ok(v) if path.contains("valid") => {
                // The seed: a snapshot at serial 1 and two IXFR entries.
                assert_eq!(v, Some((3, 2)), "{path}");
            }
            Ok(_) => {}
            Err(_) => panic!("{path}: snapshot decode or journal replay panicked"),
        }
    }
}

#[test]
fn xfr_request_regressions_are_decided_without_zone_data_in_refusals() {
    use pharos::axfr::out::request::{self, Refusal};
    use pharos::axfr::out::{OutAcl, OutTable};
    use pharos::tsig::{Algorithm, Key};
    let xfr = Arc::new(Key::new("xfr", Algorithm::HmacSha256, b"secret-key-for-dnsdiff-tests").unwrap());
    let other = Arc::new(Key::new("other", Algorithm::HmacSha1, b"other-secret").unwrap());
    let text = "$ORIGIN example.test.\n@ 300 SOA ns1 host 5 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n";
    let set = ZoneSet::from_zones([Arc::new(load_zone_text("example.test", text).unwrap().zone)]);
    for (path, data) in inputs("xfr_request") {
        let Some((&setting, msg)) = data.split_first() else {
            continue;
        };
        let Ok(req) = request::parse(msg) else {
            continue;
        };
        let table = OutTable {
            zones: [(
                b"\x07example\x04test\x00".to_vec().into_boxed_slice(),
                OutAcl {
                    allow: vec!["127.0.0.0/8".parse().unwrap()],
                    key: (setting & 2 == 2).then(|| xfr.clone()),
                },
            )]
            .into(),
            keys: [(xfr.name.clone(), xfr.clone()), (other.name.clone(), other.clone())].into(),
            history_dir: None,
        };
        let peer = if setting & 1 == 1 {
            [127, 0, 0, 1]
        } else {
            [192, 0, 2, 1]
        };
        let now = req
            .tsig_time
            .unwrap_or(1_700_000_000)
            .saturating_add_signed(i64::from(setting >> 2) * 20 - 300);
        match request::decide(&req, Some(peer.into()), &table, &set, now) {
            Ok(a) => {
                assert_eq!(peer, [127, 0, 0, 1], "{path}");
                assert!(setting & 2 == 0 || a.signer.is_some(), "{path}");
            }
            Err(r) => {
                let m = request::refusal_message(&req, &r, &table, 1232, now);
                assert_eq!(&m[6..10], &[0, 0, 0, 0], "{path}: no zone data");
                if path.ends_with("axfr-signed-skewed") {
                    assert_eq!(r.reason, Refusal::BadTime, "{path}");
                }
            }
        }
        if path.ends_with("/axfr-signed") || path.ends_with("/ixfr-current") {
            assert!(
                request::decide(&req, Some(peer.into()), &table, &set, now).is_ok(),
                "{path}"
            );
        }
    }
}

#[test]
fn catalog_regressions_apply_or_refuse_cleanly() {
    use pharos::catalog::replay::replay;
    for (path, data) in inputs("catalog") {
        let r = std::panic::catch_unwind(|| replay(&data));
        let Ok(result) = r else {
            panic!("{path}: catalog replay panicked");
        };
        // The seeds say what they hold: valid-* apply, broken-* are refused.
        if path.contains("/valid-") {
            assert!(result.as_ref().is_ok_and(|&n| n > 0), "{path}: {result:?}");
        }
        if path.contains("/broken-") {
            assert!(result.is_err(), "{path}: {result:?}");
        }
    }
}
