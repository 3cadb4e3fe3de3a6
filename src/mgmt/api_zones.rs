//! The zones added through the management API, kept across restarts in
//! `<data-dir>/api-zones.json`:
//!
//! ```json
//! {"version": 1, "zones": [{"name": "example.org", "primaries": ["192.0.2.1:53"], "tsig-key": "xfr-key"}]}
//! ```
//!
//! The file is written whole and atomically (temporary file, fsync, rename,
//! fsync of the directory) every time the list changes, before the change
//! is acknowledged; a reader sees the old list or the new one. The same
//! validation ([`validate`]) applies to a `POST /zones` body and to each
//! entry read back at start-up.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::config::{Config, TimerLimits, ZoneConfig, ZoneSource, normalize_dns_name, parse_socket_addr};

/// The file's name under `node.data-dir`.
pub const FILE_NAME: &str = "api-zones.json";
const FORMAT_VERSION: u32 = 1;
/// More primaries than this in one request is a mistake, not a zone.
const MAX_PRIMARIES: usize = 16;

/// One zone as the API takes it and the file keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiZone {
    pub name: String,
    pub primaries: Vec<String>,
    #[serde(rename = "tsig-key", default, skip_serializing_if = "Option::is_none")]
    pub tsig_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    zones: Vec<ApiZone>,
}

/// Where the list lives for this config.
pub fn path(config: &Config) -> PathBuf {
    config.node.data_dir.join(FILE_NAME)
}

/// Checks an entry against the config (its TSIG key must be configured)
/// and returns it in canonical form (name lowercase without the trailing
/// dot, primaries as `address:port`, key name normalized) with the zone
/// config it stands for. The error says which field is wrong and why.
pub fn validate(
    zone: &ApiZone,
    config_keys: &[String],
    limits: TimerLimits,
) -> Result<(ApiZone, Arc<ZoneConfig>), String> {
    let name = normalize_dns_name(zone.name.trim()).map_err(|e| format!("name: {e}"))?;
    if zone.primaries.is_empty() {
        return Err("primaries: at least one primary is needed".into());
    }
    if zone.primaries.len() > MAX_PRIMARIES {
        return Err(format!(
            "primaries: {} given, at most {MAX_PRIMARIES}",
            zone.primaries.len()
        ));
    }
    let mut primaries = Vec::with_capacity(zone.primaries.len());
    for (i, p) in zone.primaries.iter().enumerate() {
        let addr = parse_socket_addr(p.trim(), Some(53)).map_err(|e| format!("primaries[{i}]: {e}"))?;
        if addr.port() == 0 {
            return Err(format!("primaries[{i}]: port 0 is not a valid primary port"));
        }
        if addr.ip().is_unspecified() || addr.ip().is_multicast() {
            return Err(format!("primaries[{i}]: {} cannot be a primary", addr.ip()));
        }
        if primaries.contains(&addr) {
            return Err(format!("primaries[{i}]: {addr} is listed twice"));
        }
        primaries.push(addr);
    }
    let tsig_key = match zone.tsig_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(k) => {
            let n = normalize_dns_name(k).map_err(|e| format!("tsig-key: {e}"))?;
            if !config_keys.contains(&n) {
                return Err(format!(
                    "tsig-key: no [[tsig-key]] named {k:?} in the config (keys are configured in the file, not through the API)"
                ));
            }
            Some(n)
        }
    };
    let canonical = ApiZone {
        name: name.clone(),
        primaries: primaries.iter().map(|p| p.to_string()).collect(),
        tsig_key: tsig_key.clone(),
    };
    let config = ZoneConfig {
        name,
        source: ZoneSource::Secondary {
            primaries,
            tsig_key,
            allow_notify: Vec::new(),
            timers: limits,
        },
        template: None,
        out: Default::default(),
    };
    Ok((canonical, Arc::new(config)))
}

/// Reads the list; a missing file is an empty list.
pub fn read(path: &Path) -> Result<Vec<ApiZone>, String> {
    let text = match crate::files::read_to_string(path, crate::files::STATE_MAX) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let file: FileFormat = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "{}: format version {} (this pharos reads {FORMAT_VERSION})",
            path.display(),
            file.version
        ));
    }
    Ok(file.zones)
}

/// The temporary file [`write`] renames over `path`; one left by a crash is
/// removed at start ([`crate::zone::persist::clean_temp`] knows its name).
fn temp_path(path: &Path) -> PathBuf {
    path.with_extension(format!("json.{}.tmp", std::process::id()))
}

/// Replaces the list atomically.
pub fn write(path: &Path, zones: &[ApiZone]) -> io::Result<()> {
    let named = |e: io::Error, what: &Path| io::Error::new(e.kind(), format!("{}: {e}", what.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| named(e, dir))?;
    let file = FileFormat {
        version: FORMAT_VERSION,
        zones: zones.to_vec(),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(io::Error::other)?;
    text.push('\n');
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(named(e, path));
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(e, dir))
}

/// The API zones read at start-up, split into the ones that can be served
/// and the ones that no longer validate (kept, and shown with their error,
/// until deleted).
#[derive(Default, Debug)]
pub struct ApiZones {
    pub valid: Vec<(ApiZone, Arc<ZoneConfig>)>,
    pub broken: Vec<(ApiZone, String)>,
}

impl ApiZones {
    /// Reads `<data-dir>/api-zones.json` and checks each entry against the
    /// config. A zone now also in the config file is left to the config
    /// (and dropped from the list at its next write). An unreadable file is
    /// moved aside (`.bad-<unix time>`) so that the next write does not
    /// overwrite what an operator may want to recover; the error is logged.
    pub fn load(config: &Config) -> ApiZones {
        let path = path(config);
        let entries = match read(&path) {
            Ok(e) => e,
            Err(e) => {
                let aside = path.with_extension(format!("json.bad-{}", crate::tsig::unix_now()));
                let moved = fs::rename(&path, &aside);
                tracing::error!(
                    "zones added through the API are not loaded: {e}; the file was {}",
                    match moved {
                        Ok(()) => format!("moved to {}", aside.display()),
                        Err(m) => format!("not moved aside ({m})"),
                    }
                );
                return ApiZones::default();
            }
        };
        let keys: Vec<String> = config.tsig_keys.iter().map(|k| k.name.clone()).collect();
        let mut out = ApiZones::default();
        for entry in entries {
            match validate(&entry, &keys, config.secondary) {
                Ok((canonical, zone)) => {
                    if config.zone(&zone.name).is_some() {
                        tracing::warn!(
                            zone = %zone.name,
                            "zone added through the API is now in the config file: the config's settings apply"
                        );
                    } else if out.valid.iter().any(|(_, z)| z.name == zone.name) {
                        tracing::warn!(zone = %zone.name, "listed twice in {}; the first entry applies", path.display());
                    } else {
                        out.valid.push((canonical, zone));
                    }
                }
                Err(e) => {
                    tracing::error!(zone = %entry.name, "zone added through the API cannot be served: {e}");
                    out.broken.push((entry, e));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, primaries: &[&str], key: Option<&str>) -> ApiZone {
        ApiZone {
            name: name.into(),
            primaries: primaries.iter().map(|s| s.to_string()).collect(),
            tsig_key: key.map(Into::into),
        }
    }

    #[test]
    fn validates_and_canonicalizes() {
        let keys = vec!["xfr-key".to_string()];
        let (c, z) = validate(
            &zone("Example.ORG.", &["192.0.2.1", "[2001:db8::1]:5300"], Some("XFR-key.")),
            &keys,
            TimerLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.name, "example.org");
        assert_eq!(c.primaries, vec!["192.0.2.1:53", "[2001:db8::1]:5300"]);
        assert_eq!(c.tsig_key.as_deref(), Some("xfr-key"));
        assert_eq!(z.name, "example.org");
        assert!(z.source.is_secondary());
    }

    #[test]
    fn errors_name_the_field() {
        let keys = vec!["xfr-key".to_string()];
        let lim = TimerLimits::default();
        let cases = [
            (zone("bad..name", &["192.0.2.1"], None), "name:"),
            (zone("ok.example", &[], None), "primaries:"),
            (zone("ok.example", &["nonsense"], None), "primaries[0]:"),
            (zone("ok.example", &["192.0.2.1:0"], None), "primaries[0]: port 0"),
            (
                zone("ok.example", &["192.0.2.1", "192.0.2.1:53"], None),
                "primaries[1]:",
            ),
            (zone("ok.example", &["0.0.0.0"], None), "primaries[0]:"),
            (
                zone("ok.example", &["192.0.2.1"], Some("other")),
                "tsig-key: no [[tsig-key]]",
            ),
        ];
        for (z, want) in cases {
            match validate(&z, &keys, lim) {
                Ok(_) => panic!("{z:?} accepted"),
                Err(e) => assert!(e.starts_with(want), "{z:?}: {e} (want {want})"),
            }
        }
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub").join(FILE_NAME);
        assert_eq!(read(&path), Ok(Vec::new()));
        let zones = vec![
            zone("a.example", &["192.0.2.1:53"], None),
            zone("b.example", &["192.0.2.2:53"], Some("k")),
        ];
        write(&path, &zones).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&path), Ok(zones));
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap_or(dir.path()))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // A temporary file left by a crash is one the start-up cleanup removes.
        let tmp = temp_path(&path);
        let tmp_name = tmp.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            tmp_name.is_some_and(|n| crate::zone::persist::is_temp(&n)),
            "{}",
            tmp.display()
        );
        fs::write(&path, "{not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(read(&path).is_err_and(|e| e.contains(FILE_NAME)));
    }
}
