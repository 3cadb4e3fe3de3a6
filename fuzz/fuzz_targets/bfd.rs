//! BFD: any bytes as a sequence of peer packets (synthesised or raw) and
//! timer, admin and parameter events, driving one session with a
//! simulated clock (`pharos::bfd::replay`). Never a panic; accepted packets
//! encode back to their octets; every sent packet decodes; slow transmit
//! while not Up; a detection timer whenever Init or Up; only legal
//! transitions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = pharos::bfd::replay::replay(data) {
        panic!("{e}");
    }
});
