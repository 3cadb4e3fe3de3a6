//! Files under the data dir: a zone snapshot (`.zone.bin`) and the IXFR
//! journal beside it. Either may be torn or corrupted on disk: decoding
//! returns a zone or an error, the replay stops at what does not apply,
//! and nothing panics. The first two bytes give the snapshot's length; the
//! rest after it is the journal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = (usize::from(u16::from_be_bytes([data[0], data[1]]))).min(data.len() - 2);
    let (snapshot, journal) = data[2..].split_at(split);
    let path = Path::new("fuzz.zone.bin");
    let Ok((zone, meta)) = pharos::zone::persist::decode(snapshot, path) else {
        return;
    };
    let serial = zone.info.serial;
    let (zone, _, applied, problem) = pharos::zone::journal::replay_bytes(journal, path, zone, meta);
    if applied == 0 {
        assert_eq!(zone.info.serial, serial);
    }
    let _ = problem;
});
