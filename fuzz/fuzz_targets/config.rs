//! Config-file text in: `Config::from_str` returns a config or the errors
//! with their key paths, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = pharos::config::Config::from_str(&text, Path::new("/nonexistent-pharos-fuzz"), Path::new("fuzz.toml"));
});
