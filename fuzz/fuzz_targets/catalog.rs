//! Catalog zones: any records in a catalog zone (built from the input by
//! `pharos::catalog::replay`) are applied or refused as broken, never a
//! panic; a broken catalog changes no member, a good one is applied whole
//! and its state file reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pharos::catalog::replay::replay(data);
});
