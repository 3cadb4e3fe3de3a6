//! A management API body for `POST /zones` (and an `api-zones.json` entry):
//! JSON in, a validated zone or an error out, never a panic. The first
//! byte picks the config (TSIG keys, templates) the body is checked against.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pharos::config::Config;
use pharos::zonemgr::api_zones::{ApiZone, validate};

/// No keys; key `k1` and template `t` (primaries); both keys and a
/// template `f` that sets `file`.
fn configs() -> &'static [Config; 3] {
    static CONFIGS: OnceLock<[Config; 3]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let base = "[node]\nid = \"f\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n";
        let key =
            |n: &str| format!("[[tsig-key]]\nname = \"{n}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n");
        let t = "[[template]]\nname = \"t\"\nprimaries = [\"192.0.2.1\"]\nnotify = [\"192.0.2.9\"]\n";
        let f = "[[template]]\nname = \"f\"\nfile = \"f.zone\"\n";
        let texts = [
            base.to_string(),
            format!("{base}{}{t}", key("k1")),
            format!("{base}{}{}{t}{f}", key("k1"), key("transfer.key")),
        ];
        texts.map(
            |text| match Config::from_str(&text, Path::new("/"), Path::new("fuzz.toml")) {
                Ok(c) => c,
                Err(e) => panic!("the fuzz target's config does not load: {e}"),
            },
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let config = &configs()[usize::from(pick % 3)];
    if let Ok(zone) = serde_json::from_slice::<ApiZone>(body)
        && let Ok((canonical, derived)) = validate(&zone, config)
    {
        // What validated, validates again unchanged (the file round trip).
        let again = validate(&canonical, config);
        assert!(again.is_ok(), "canonical entry {canonical:?} no longer validates");
        assert_eq!(again.map(|(c, _)| c).ok().as_ref(), Some(&canonical));
        assert!(derived.source.is_secondary());
    }
});
