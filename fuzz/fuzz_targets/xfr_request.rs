//! Transfer requests: octet 0 picks the setting (bit 0: the source is in
//! allow-transfer, bit 1: the zone requires the key "xfr", bits 2-7: our
//! clock's distance from the request's TSIG time), the rest is the request
//! as received. It goes through the transfer-request parser, the decision
//! (TSIG, zone, ACL, key), and then either the refusal message or the
//! encoding of the answer (AXFR walk, IXFR up-to-date or whole zone).
//! Property: nothing panics; a refusal carries no answer or authority
//! record and echoes the ID; every answer message fits 64 KiB and starts
//! with the request's ID.

#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pharos::axfr::out::encode::{self, Axfr, Encoder, MAX_MESSAGE};
use pharos::axfr::out::request::{self, Refusal};
use pharos::axfr::out::{OutAcl, OutTable};
use pharos::config::Prefix;
use pharos::tsig::{Algorithm, Key};
use pharos::zone::ZoneSet;
use pharos::zone::file::load_zone_text;

const APEX: &[u8] = b"\x07example\x04test\x00";

fn set() -> &'static ZoneSet {
    static SET: OnceLock<ZoneSet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut text = String::from(
            "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host 5 3600 600 86400 300\n@ NS ns1\n@ MX 10 mail\n\
             ns1 A 192.0.2.1\nmail A 192.0.2.2\nwww CNAME ns1\nsub NS ns.sub\nns.sub A 192.0.2.3\n",
        );
        for i in 0..400 {
            text.push_str(&format!("h{i} TXT \"{}\"\n", "x".repeat(200)));
        }
        let zone = load_zone_text("example.test", &text).expect("seed zone").zone;
        ZoneSet::from_zones([Arc::new(zone)])
    })
}

fn table(with_key: bool) -> OutTable {
    let xfr = Arc::new(Key::new("xfr", Algorithm::HmacSha256, b"secret-key-for-dnsdiff-tests").expect("key"));
    let other = Arc::new(Key::new("other", Algorithm::HmacSha1, b"other-secret").expect("key"));
    let mut keys = HashMap::new();
    keys.insert(xfr.name.clone(), xfr.clone());
    keys.insert(other.name.clone(), other);
    let mut zones = HashMap::new();
    zones.insert(
        APEX.into(),
        OutAcl {
            allow: vec![Prefix::parse("127.0.0.0/8").expect("prefix")],
            key: with_key.then_some(xfr),
        },
    );
    OutTable {
        zones,
        keys,
        history_dir: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setting, msg)) = data.split_first() else {
        return;
    };
    let Ok(req) = request::parse(msg) else {
        return;
    };
    let peer = if setting & 1 == 1 {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    };
    let table = table(setting & 2 == 2);
    let skew = i64::from(setting >> 2) * 20 - 300;
    let now = req.tsig_time.unwrap_or(1_700_000_000).saturating_add_signed(skew);
    match request::decide(&req, Some(peer), &table, set(), now) {
        Err(refused) => {
            let m = request::refusal_message(&req, &refused, &table, 1232, now);
            assert!(m.len() >= 12 && m.len() <= MAX_MESSAGE);
            assert_eq!(&m[..2], &msg[..2], "ID echoed");
            assert_eq!(&m[6..10], &[0, 0, 0, 0], "no zone data in a refusal");
            assert_eq!(m[3] & 0x0f, refused.reason.rcode());
            if refused.reason == Refusal::NotAllowed {
                assert_ne!(peer, IpAddr::V4(Ipv4Addr::LOCALHOST));
            }
        }
        Ok(accepted) => {
            assert_eq!(peer, IpAddr::V4(Ipv4Addr::LOCALHOST), "only allowed sources");
            if setting & 2 == 2 {
                assert!(accepted.signer.is_some(), "the key is required");
            }
            let zone = set().get(APEX).and_then(|s| s.answerable()).expect("zone");
            let mut enc = Encoder::new(&req, MAX_MESSAGE - 512);
            if let Some(client) = req.client_serial
                && encode::serial_ge(client, zone.info.serial)
            {
                let (ttl, rd) = encode::apex_soa(zone).expect("soa");
                enc.record(zone.apex(), 6, ttl, rd).expect("one SOA fits");
                enc.finish();
                return;
            }
            let mut walk = Axfr::new(zone);
            loop {
                let done = walk.fill(&mut enc).is_ok();
                assert!(done || enc.count() > 0, "every record fits a message");
                enc.finish();
                assert!(enc.msg.len() <= MAX_MESSAGE);
                assert_eq!(&enc.msg[..2], &msg[..2]);
                if done {
                    break;
                }
                enc.start();
            }
        }
    }
});
