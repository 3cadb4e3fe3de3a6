//! Transfer responses from a primary: any bytes, split into messages by the
//! input's own 2-octet length prefixes (as on a TCP stream), go through the
//! AXFR/IXFR interpreter, its result through zone validation and IXFR
//! application. Errors are fine; panics are not.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pharos::axfr::refresh::TransferKind;
use pharos::axfr::transfer::{self, Interpreter, Outcome};
use pharos::zone::Zone;
use pharos::zone::file::load_zone_text;

const APEX: &[u8] = b"\x07example\x04test\x00";

fn held() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let text = "$ORIGIN example.test.\n@ 300 SOA ns1 host 5 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n";
        load_zone_text("example.test", text).expect("seed zone").zone
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // First byte: request ID low bits and the kind of transfer.
    let id = 0x4200 | data[0] as u16;
    let kind = if data[0] & 1 == 0 {
        TransferKind::Axfr
    } else {
        TransferKind::Ixfr { from: 5 }
    };
    let mut it = Interpreter::new(APEX, id, kind);
    let mut rest = &data[1..];
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let end = (2 + len).min(rest.len());
        let msg = &rest[2..end];
        rest = &rest[end..];
        match it.message(msg) {
            Ok(true) | Err(_) => break,
            Ok(false) => {}
        }
    }
    match it.finish() {
        Ok(Outcome::Full(builder, _)) => {
            let _ = builder.build();
        }
        Ok(Outcome::Incremental(diffs, _)) => {
            let patched = transfer::apply(held(), &diffs);
            if let Ok(b) = transfer::rebuild(held(), &diffs) {
                // The patch and the rebuild must agree on what they accept
                // and on the result.
                let rebuilt = b.build();
                if let (Ok(p), Ok(r)) = (&patched, &rebuilt) {
                    assert_eq!(p.info.serial, r.zone.info.serial);
                    assert_eq!(p.node_count(), r.zone.node_count());
                }
            }
        }
        Ok(Outcome::UpToDate(_)) | Err(_) => {}
    }
});
