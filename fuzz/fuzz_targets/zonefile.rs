//! Zone-file text in: `load_zone_text` returns Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = pharos::zone::file::load_zone_text("example.test", &text);
});
