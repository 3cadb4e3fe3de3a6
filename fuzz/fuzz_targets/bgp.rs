//! BGP from a peer: any bytes, as a TCP stream, through our message
//! decoding and the session state machine (`pharos::bgp::replay`). Never a
//! panic; every message the session sends encodes and decodes back; only
//! configured prefixes are ever announced or withdrawn.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = pharos::bgp::replay::replay(data) {
        panic!("{e}");
    }
});
