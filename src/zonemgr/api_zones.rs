//! The zones added through the management API, kept across restarts in
//! `<data-dir>/api-zones.json`:
//!
//! ```json
//! {"version": 1, "zones": [{"name": "example.org", "primaries": ["192.0.2.1:53"], "tsig-key": "xfr-key"},
//!                          {"name": "customer.example", "primaries": [], "template": "customers"}]}
//! ```
//!
//! An entry keeps what was asked, not what it derived: a zone that names a
//! `[[template]]` takes the template's settings anew from the config at
//! each start and SIGHUP. (Files written before templates, without the
//! key, read as zones without a template.)
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

use crate::config::{Config, ZoneConfig, ZoneSource, ZoneSpec, normalize_dns_name, parse_socket_addr};

/// The file's name under `node.data-dir`.
pub const FILE_NAME: &str = "api-zones.json";
const FORMAT_VERSION: u32 = 1;
/// More primaries than this in one request is a mistake, not a zone.
const MAX_PRIMARIES: usize = 16;

/// One zone as the API takes it and the file keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiZone {
    pub name: String,
    /// May be empty when `template` sets them.
    #[serde(default)]
    pub primaries: Vec<String>,
    #[serde(rename = "tsig-key", default, skip_serializing_if = "Option::is_none")]
    pub tsig_key: Option<String>,
    /// A `[[template]]` of the config: its settings apply where the entry
    /// sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A producer catalog of the config this zone is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// The member's group property in that catalog.
    #[serde(rename = "catalog-group", default, skip_serializing_if = "Option::is_none")]
    pub catalog_group: Option<String>,
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

/// Checks an entry against the config (its TSIG key and its template must
/// be configured) and returns it in canonical form (name lowercase without
/// the trailing dot, primaries as `address:port`, key name normalized)
/// with the zone config it stands for (its template's settings applied, as
/// for a `[[zone]]`). The error says which field is wrong and why.
pub fn validate(zone: &ApiZone, config: &Config) -> Result<(ApiZone, Arc<ZoneConfig>), String> {
    let name = normalize_dns_name(zone.name.trim()).map_err(|e| format!("name: {e}"))?;
    let template = match zone.template.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => {
            if config.template(t).is_none() {
                let names: Vec<String> = config.templates.iter().map(|t| format!("{:?}", t.name)).collect();
                return Err(format!(
                    "template: no [[template]] named {t:?} in the config ({})",
                    if names.is_empty() {
                        "it has none".to_string()
                    } else {
                        format!("it has {}", names.join(", "))
                    }
                ));
            }
            Some(t.to_string())
        }
    };
    if zone.primaries.is_empty() && template.is_none() {
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
            if config.tsig_key(&n).is_none() {
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
        template: template.clone(),
        catalog: None,
        catalog_group: None,
    };
    let spec = ZoneSpec {
        name,
        primaries: (!canonical.primaries.is_empty()).then(|| canonical.primaries.clone()),
        tsig_key,
        template,
        catalog: nonempty(&zone.catalog),
        catalog_group: nonempty(&zone.catalog_group),
    };
    let derived = config.derive_zone(&spec).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        all.join("; ")
    })?;
    match &derived.source {
        ZoneSource::Secondary { primaries, .. } if !primaries.is_empty() => {}
        ZoneSource::Secondary { .. } => return Err("primaries: at least one primary is needed".into()),
        ZoneSource::File(_) => {
            return Err(format!(
                "template: {:?} sets `file`; zones added through the API are secondary zones",
                spec.template.as_deref().unwrap_or_default()
            ));
        }
    }
    // What was asked, normalized (a value from the template stays there).
    let canonical = ApiZone {
        catalog: spec.catalog.as_ref().and(match &derived.catalog {
            Some(crate::config::CatalogRole::Member(c)) => Some(c.clone()),
            _ => None,
        }),
        catalog_group: spec.catalog_group.as_ref().and(derived.catalog_group.clone()),
        ..canonical
    };
    Ok((canonical, Arc::new(derived)))
}

/// A string field of a request, trimmed; empty is as absent.
fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
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
        let mut out = ApiZones::default();
        // Sets of canonical names (lowercase, no trailing dot, as both
        // `validate` and the config give them): 10,000 API zones beside
        // 10,000 config zones must not be 10^8 comparisons at start-up.
        let configured: std::collections::HashSet<&str> = config.zones.iter().map(|z| z.name.as_str()).collect();
        let mut listed = std::collections::HashSet::new();
        for entry in entries {
            match validate(&entry, config) {
                Ok((canonical, zone)) => {
                    if configured.contains(zone.name.as_str()) {
                        tracing::warn!(
                            zone = %zone.name,
                            "zone added through the API is now in the config file: the config's settings apply"
                        );
                    } else if !listed.insert(zone.name.clone()) {
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
            template: None,
            ..Default::default()
        }
    }

    /// A config with the key `xfr-key` and two templates.
    fn config() -> Config {
        let text = "[node]\nid = \"t\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
                    [[tsig-key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                    [[template]]\nname = \"customers\"\nprimaries = [\"198.51.100.7\"]\nnotify = [\"10.8.0.11\"]\n\
                    allow-transfer = [\"10.8.0.0/24\"]\nrefresh-min = \"1m\"\n\
                    [[template]]\nname = \"files\"\nfile = \"x.zone\"\n";
        Config::from_str(text, Path::new("/etc/pharos"), Path::new("/etc/pharos/t.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn catalog_members() {
        let text = "[node]\nid = \"t\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
                    [[zone]]\nname = \"cat.example\"\ncatalog = \"producer\"\n";
        let c = Config::from_str(text, Path::new("/etc/pharos"), Path::new("/etc/pharos/t.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut z = zone("m.example", &["192.0.2.1"], None);
        z.catalog = Some(" Cat.Example. ".into());
        z.catalog_group = Some("gold".into());
        let (canonical, derived) = validate(&z, &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(canonical.catalog.as_deref(), Some("cat.example"));
        assert_eq!(canonical.catalog_group.as_deref(), Some("gold"));
        assert_eq!(
            derived.catalog,
            Some(crate::config::CatalogRole::Member("cat.example".into()))
        );
        // Kept in the file, read back as given.
        let json = serde_json::to_string(&canonical).unwrap_or_default();
        assert!(
            json.contains("\"catalog\":\"cat.example\",\"catalog-group\":\"gold\""),
            "{json}"
        );
        z.catalog = Some("other.example".into());
        let e = validate(&z, &c).unwrap_err();
        assert!(
            e.contains("catalog: \"other.example\" is not a producer catalog"),
            "{e}"
        );
    }

    #[test]
    fn templates_apply() {
        let c = config();
        let mut z = zone("t.example", &[], None);
        z.template = Some("customers".into());
        let (canonical, derived) = validate(&z, &c).unwrap_or_else(|e| panic!("{e}"));
        // The entry keeps what was asked; the zone has the template's settings.
        assert_eq!(canonical.primaries, Vec::<String>::new());
        assert_eq!(canonical.template.as_deref(), Some("customers"));
        assert_eq!(derived.template.as_deref(), Some("customers"));
        assert_eq!(derived.out.notify.len(), 1);
        assert_eq!(derived.out.allow_transfer.len(), 1);
        match &derived.source {
            ZoneSource::Secondary { primaries, timers, .. } => {
                assert_eq!(primaries.len(), 1);
                assert_eq!(timers.refresh_min, std::time::Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
        // Its own primaries win.
        let mut z = zone("t.example", &["192.0.2.1"], Some("xfr-key"));
        z.template = Some("customers".into());
        let (_, derived) = validate(&z, &c).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&derived.source, ZoneSource::Secondary { primaries, tsig_key: Some(_), .. } if primaries[0].port() == 53 && primaries[0].ip().to_string() == "192.0.2.1")
        );
        for (template, want) in [
            (
                "custom",
                "template: no [[template]] named \"custom\" in the config (it has \"customers\", \"files\")",
            ),
            ("files", "template: \"files\" sets `file`"),
        ] {
            let mut z = zone("t.example", &[], None);
            z.template = Some(template.into());
            match validate(&z, &c) {
                Ok(v) => panic!("{z:?} accepted: {v:?}"),
                Err(e) => assert!(e.starts_with(want), "{e} (want {want})"),
            }
        }
    }

    /// A zone now in the config file is left to it, a name listed twice
    /// (in any spelling) is read once: the first entry applies.
    #[test]
    fn load_skips_configured_and_repeated_names() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "[node]\nid = \"t\"\ndata-dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
             [[zone]]\nname = \"conf.example\"\nprimaries = [\"192.0.2.9\"]\n",
            dir.path().display()
        );
        let c = Config::from_str(&text, dir.path(), &dir.path().join("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        let entries = [
            zone("a.example", &["192.0.2.1"], None),
            zone("Conf.Example.", &["192.0.2.2"], None),
            zone("A.Example.", &["192.0.2.3"], None),
            zone("b.example", &["192.0.2.4"], None),
        ];
        write(&path(&c), &entries).unwrap_or_else(|e| panic!("{e}"));
        let loaded = ApiZones::load(&c);
        let names: Vec<(&str, Vec<String>)> = loaded
            .valid
            .iter()
            .map(|(entry, z)| (z.name.as_str(), entry.primaries.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a.example", vec!["192.0.2.1:53".to_string()]),
                ("b.example", vec!["192.0.2.4:53".to_string()])
            ]
        );
        assert!(loaded.broken.is_empty(), "{:?}", loaded.broken);
    }

    #[test]
    fn old_files_without_templates_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let old =
            r#"{"version": 1, "zones": [{"name": "a.example", "primaries": ["192.0.2.1:53"], "tsig-key": "xfr-key"}]}"#;
        fs::write(&path, old).unwrap_or_else(|e| panic!("{e}"));
        let read_back = read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_back, vec![zone("a.example", &["192.0.2.1:53"], Some("xfr-key"))]);
        // Written back without a template key: an older pharos reads it.
        write(&path, &read_back).unwrap_or_else(|e| panic!("{e}"));
        let text = fs::read_to_string(&path).unwrap_or_default();
        assert!(!text.contains("template"), "{text}");
    }

    #[test]
    fn validates_and_canonicalizes() {
        let (c, z) = validate(
            &zone("Example.ORG.", &["192.0.2.1", "[2001:db8::1]:5300"], Some("XFR-key.")),
            &config(),
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
        let config = config();
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
            match validate(&z, &config) {
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
