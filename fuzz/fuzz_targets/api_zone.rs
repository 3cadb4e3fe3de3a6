//! A management API body for `POST /zones` (and an `api-zones.json` entry):
//! JSON in, a validated zone or an error out, never a panic. The first
//! byte picks the configured TSIG keys the body is checked against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos::config::TimerLimits;
use pharos::mgmt::api_zones::{ApiZone, validate};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let keys: Vec<String> = match pick % 3 {
        0 => Vec::new(),
        1 => vec!["k1".into()],
        _ => vec!["k1".into(), "transfer.key".into()],
    };
    if let Ok(zone) = serde_json::from_slice::<ApiZone>(body)
        && let Ok((canonical, config)) = validate(&zone, &keys, TimerLimits::default())
    {
        // What validated, validates again unchanged (the file round trip).
        let again = validate(&canonical, &keys, TimerLimits::default());
        assert!(again.is_ok(), "canonical entry {canonical:?} no longer validates");
        assert_eq!(again.map(|(c, _)| c).ok().as_ref(), Some(&canonical));
        assert!(config.source.is_secondary());
    }
});
