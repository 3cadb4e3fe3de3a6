//! The validation layer: raw TOML values to the typed [`Config`]. Every
//! check reports through [`Check::err`] with the key path of the offending
//! value, and validation always runs to the end so that all problems are
//! reported together.

mod bgp;
mod catalog;
mod dns;
mod secondary;
mod template;
pub(in crate::config) use template::derive;
mod fleet;
mod transfer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::raw::{Failed, RawConfig, RawCountOrShare, RawSize, RawZone};
use super::values::{decode_base64, normalize_dns_name, parse_socket_addr, qtype_from_name};
use super::{
    CatalogRole, Config, ConfigError, DnsConfig, HealthConfig, HealthProbe, IdentityConfig, MaxFailed, MgmtConfig,
    NodeConfig, NodeLocation, Template, TimerLimits, TsigAlgorithm, TsigKey, ZoneConfig, ZoneSource, format_duration,
    format_size, parse_duration, parse_size,
};

/// Validates the raw layer; problems are appended to `errors`. The returned
/// `Config` is meaningful only when no errors were added.
pub(super) fn validate(raw: &RawConfig, failed: &Failed, base: &Path, errors: &mut Vec<ConfigError>) -> Config {
    let mut c = Check {
        failed,
        errors,
        base,
        redirect: None,
    };
    let node = c.node(raw);
    let dns = c.dns(raw);
    let (tsig_keys, key_names) = c.tsig_keys(raw);
    let secondary = c.timers(
        "secondary",
        raw.secondary_fields(),
        raw.secondary_transfer_fields(),
        &TimerLimits::default(),
        false,
    );
    let mut zones = c.zones(raw, &key_names, &secondary);
    c.catalog_members(&mut zones, &raw.zone, &node.data_dir);
    let templates = raw
        .template
        .iter()
        .filter_map(|t| {
            Some(Template {
                name: t.name.as_deref()?.trim().to_string(),
                raw: t.clone(),
                base: base.to_path_buf(),
            })
        })
        .collect();
    let transfer = c.transfer_config(raw);
    let bgp = c.bgp(&raw.bgp);
    let health = c.health(raw, &node.data_dir);
    let mgmt = MgmtConfig {
        listen: raw
            .mgmt
            .listen
            .as_ref()
            .and_then(|s| c.socket_addr("mgmt.listen", s, None)),
        token_file: c.path_or("mgmt.token-file", &raw.mgmt.token_file, &node.data_dir, "token"),
        max_connections: c.int("mgmt.max-connections", raw.mgmt.max_connections, 64, 1..=100_000),
    };
    let identity = IdentityConfig {
        listen: c.socket_addrs("identity.listen", raw.identity.listen.as_deref(), None),
    };
    c.address_conflicts(&dns, &mgmt, &identity);
    let fleet = c.fleet_config(raw);
    Config {
        node,
        dns,
        tsig_keys,
        zones,
        templates,
        secondary,
        transfer,
        bgp,
        health,
        mgmt,
        identity,
        fleet,
    }
}

const TIMER_KEYS: [&str; 6] = [
    "refresh-min",
    "refresh-max",
    "retry-min",
    "retry-max",
    "expire-min",
    "expire-max",
];

type TimerFields<'r> = [&'r Option<String>; 6];

/// `max-zone-records`, `max-zone-bytes`, `transfer-timeout`.
type TransferFields<'r> = (&'r Option<i64>, &'r Option<RawSize>, &'r Option<String>);

const TRANSFER_KEYS: [&str; 3] = ["max-zone-records", "max-zone-bytes", "transfer-timeout"];

impl RawConfig {
    fn secondary_fields(&self) -> TimerFields<'_> {
        let s = &self.secondary;
        [
            &s.refresh_min,
            &s.refresh_max,
            &s.retry_min,
            &s.retry_max,
            &s.expire_min,
            &s.expire_max,
        ]
    }

    fn secondary_transfer_fields(&self) -> TransferFields<'_> {
        let s = &self.secondary;
        (&s.max_zone_records, &s.max_zone_bytes, &s.transfer_timeout)
    }
}

impl RawZone {
    fn timer_fields(&self) -> TimerFields<'_> {
        [
            &self.refresh_min,
            &self.refresh_max,
            &self.retry_min,
            &self.retry_max,
            &self.expire_min,
            &self.expire_max,
        ]
    }

    fn transfer_fields(&self) -> TransferFields<'_> {
        (&self.max_zone_records, &self.max_zone_bytes, &self.transfer_timeout)
    }
}

struct Check<'a> {
    failed: &'a Failed,
    errors: &'a mut Vec<ConfigError>,
    base: &'a Path,
    /// While a zone that takes keys from a template is checked.
    redirect: Option<Redirect>,
}

/// Problems with the keys a zone took from its template are the
/// template's: reported at its key path, once.
struct Redirect {
    /// `zone[3]`.
    zone: String,
    /// `template[1]`.
    template: String,
    /// Keys taken from the template (kebab-case).
    keys: Vec<String>,
}

impl Check<'_> {
    /// Records a problem, unless the value already failed to parse.
    fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let mut key = key.into();
        let mut message = message.into();
        if let Some(r) = &self.redirect {
            let rest = key.strip_prefix(r.zone.as_str()).and_then(|s| s.strip_prefix('.'));
            if let Some(rest) = rest.filter(|rest| r.keys.iter().any(|k| rest.split('[').next() == Some(k))) {
                key = format!("{}.{rest}", r.template);
                if self
                    .errors
                    .iter()
                    .any(|e| e.key == key && e.message.starts_with(&message))
                {
                    return;
                }
                message = format!("{message} (in {}, which takes it from {})", r.zone, r.template);
            }
        }
        if !self.failed.covers(&key) {
            self.errors.push(ConfigError::new(key, message));
        }
    }

    fn node(&mut self, raw: &RawConfig) -> NodeConfig {
        let n = &raw.node;
        let id = match &n.id {
            Some(id) => {
                self.text("node.id", id);
                id.clone()
            }
            None => {
                self.err(
                    "node.id",
                    "required: the node's name (NSID, CHAOS id.server, identity JSON)",
                );
                String::new()
            }
        };
        let data_dir = match n.data_dir.as_deref() {
            Some("") => {
                self.err("node.data-dir", "must not be empty");
                PathBuf::new()
            }
            Some(dir) => self.base.join(dir),
            None => self.base.join("var/pharos"),
        };
        let l = &n.location;
        let country_iso = l.country_iso.as_ref().map(|code| {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                self.err(
                    "node.location.country-iso",
                    format!("{code:?} is not a two-letter ISO 3166 code"),
                );
            }
            code.to_ascii_lowercase()
        });
        NodeConfig {
            id,
            data_dir,
            location: NodeLocation {
                city: l.city.clone(),
                country: l.country.clone(),
                country_iso,
                display: l.display.clone(),
            },
        }
    }

    /// A string sent in DNS TXT data: 1..=255 octets, no control characters.
    fn text(&mut self, key: &str, s: &str) {
        if s.is_empty() {
            self.err(key, "must not be empty");
        } else if s.len() > 255 {
            self.err(key, format!("is {} octets long (at most 255)", s.len()));
        } else if s.chars().any(char::is_control) {
            self.err(key, "contains control characters");
        }
    }

    /// The valid keys, and the normalized names of all keys (valid or not,
    /// so that a bad secret does not also produce "no such key" errors).
    fn tsig_keys(&mut self, raw: &RawConfig) -> (Vec<TsigKey>, Vec<String>) {
        let mut keys = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, k) in raw.tsig_key.iter().enumerate() {
            let p = format!("tsig-key[{i}]");
            let name = match &k.name {
                None => {
                    self.err(format!("{p}.name"), "required");
                    None
                }
                Some(n) => match normalize_dns_name(n) {
                    Err(e) => {
                        self.err(format!("{p}.name"), e);
                        None
                    }
                    Ok(n) => {
                        if let Some(j) = names.iter().position(|m| *m == n) {
                            self.err(
                                format!("{p}.name"),
                                format!("duplicate key name {n:?} (also tsig-key[{j}])"),
                            );
                        }
                        Some(n)
                    }
                },
            };
            let algorithm = match k.algorithm.as_deref() {
                None => {
                    self.err(format!("{p}.algorithm"), "required, e.g. \"hmac-sha256\"");
                    None
                }
                Some(a) => {
                    let alg = TsigAlgorithm::from_name(a);
                    if alg.is_none() {
                        let known: Vec<&str> = TsigAlgorithm::ALL.iter().map(|a| a.name()).collect();
                        self.err(
                            format!("{p}.algorithm"),
                            format!("unknown algorithm {a:?} (expected {})", known.join(", ")),
                        );
                    }
                    alg
                }
            };
            let secret = match k.secret.as_deref() {
                None => {
                    self.err(format!("{p}.secret"), "required (base64)");
                    None
                }
                Some(s) => match decode_base64(s) {
                    Ok(b) if b.is_empty() => {
                        self.err(format!("{p}.secret"), "must not be empty");
                        None
                    }
                    Ok(b) => Some(b),
                    Err(e) => {
                        self.err(format!("{p}.secret"), e);
                        None
                    }
                },
            };
            if let Some(n) = &name {
                names.push(n.clone());
            }
            if let (Some(name), Some(algorithm), Some(secret)) = (name, algorithm, secret) {
                keys.push(TsigKey {
                    name,
                    algorithm,
                    secret,
                });
            }
        }
        (keys, names)
    }

    /// SOA timer clamps at `prefix` (`secondary` or `zone[i]`): values set
    /// there, else `inherited`. With `nested`, a min > max that involves
    /// only inherited values is not reported again.
    fn timers(
        &mut self,
        prefix: &str,
        fields: TimerFields<'_>,
        transfer: TransferFields<'_>,
        inherited: &TimerLimits,
        nested: bool,
    ) -> TimerLimits {
        let i = inherited;
        let defaults = [
            i.refresh_min,
            i.refresh_max,
            i.retry_min,
            i.retry_max,
            i.expire_min,
            i.expire_max,
        ];
        let v: [Duration; 6] =
            std::array::from_fn(|n| self.duration(&format!("{prefix}.{}", TIMER_KEYS[n]), fields[n], defaults[n]));
        for pair in [0, 2, 4] {
            let (min, max) = (v[pair], v[pair + 1]);
            if min <= max {
                continue;
            }
            let set_here = fields[pair].is_some() || fields[pair + 1].is_some();
            if nested && !set_here {
                continue;
            }
            let which = if fields[pair].is_some() || !set_here {
                pair
            } else {
                pair + 1
            };
            self.err(
                format!("{prefix}.{}", TIMER_KEYS[which]),
                format!(
                    "{} ({}) is greater than {} ({})",
                    TIMER_KEYS[pair],
                    format_duration(min),
                    TIMER_KEYS[pair + 1],
                    format_duration(max),
                ),
            );
        }
        TimerLimits {
            refresh_min: v[0],
            refresh_max: v[1],
            retry_min: v[2],
            retry_max: v[3],
            expire_min: v[4],
            expire_max: v[5],
            max_zone_records: self.int(
                &format!("{prefix}.max-zone-records"),
                *transfer.0,
                i.max_zone_records,
                1..=i64::MAX,
            ),
            max_zone_bytes: self.size(&format!("{prefix}.max-zone-bytes"), transfer.1, i.max_zone_bytes),
            transfer_timeout: self.positive_duration(
                &format!("{prefix}.transfer-timeout"),
                transfer.2,
                i.transfer_timeout,
            ),
        }
    }

    /// A size in bytes (a number, or a string with a unit) of at least 1 KiB.
    fn size(&mut self, key: &str, raw: &Option<RawSize>, default: u64) -> u64 {
        let parsed = match raw {
            None => return default,
            Some(RawSize::Bytes(n)) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
            Some(RawSize::Text(t)) => parse_size(t),
        };
        match parsed {
            Ok(n) if n >= 1024 => n,
            Ok(n) => {
                self.err(key, format!("{n} bytes is too small (at least {})", format_size(1024)));
                default
            }
            Err(e) => {
                self.err(key, e);
                default
            }
        }
    }

    fn zones(&mut self, raw: &RawConfig, key_names: &[String], secondary: &TimerLimits) -> Vec<Arc<ZoneConfig>> {
        let templates = self.templates(raw, key_names, secondary);
        let mut zones = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, z) in raw.zone.iter().enumerate() {
            let p = format!("zone[{i}]");
            if let Some(zone) = self.zone(&p, z, &templates, key_names, secondary, Some((&mut seen, i))) {
                zones.push(Arc::new(zone));
            }
        }
        zones
    }

    /// One zone at `p`, merged with its template. `seen` (names so far,
    /// and this zone's index) reports duplicate names.
    fn zone(
        &mut self,
        p: &str,
        z: &RawZone,
        templates: &[template::Named<'_>],
        key_names: &[String],
        secondary: &TimerLimits,
        seen: Option<(&mut HashMap<String, usize>, usize)>,
    ) -> Option<ZoneConfig> {
        let name = match &z.name {
            None => {
                self.err(format!("{p}.name"), "required");
                None
            }
            Some(n) => match normalize_dns_name(n) {
                Err(e) => {
                    self.err(format!("{p}.name"), e);
                    None
                }
                Ok(n) => {
                    if let Some((seen, i)) = seen {
                        if let Some(j) = seen.get(&n) {
                            self.err(format!("{p}.name"), format!("duplicate zone {n:?} (also zone[{j}])"));
                        } else {
                            seen.insert(n.clone(), i);
                        }
                    }
                    Some(n)
                }
            },
        };
        let merged = self.apply_template(p, z, templates);
        let (z, from) = match &merged {
            Ok(Some(m)) => (&m.zone, Some((m.template.as_str(), m.taken.as_slice()))),
            _ => (z, None),
        };
        // A zone naming an unknown template has no source to speak of.
        let (catalog, catalog_group) = self.catalog(p, z, templates);
        let source = if catalog == Some(CatalogRole::Producer) {
            self.producer_source(p, z)
        } else {
            self.zone_body(p, z, key_names, secondary, from, merged.is_ok())
        };
        let out = self.transfer_out(p, z, key_names);
        self.end_template();
        Some(ZoneConfig {
            name: name?,
            source: source?,
            template: merged.ok().flatten().map(|m| m.template),
            out,
            catalog,
            catalog_group,
        })
    }

    /// The source of the zone (or template, without `need_source`) at `p`;
    /// `from` names its template and the keys taken from it.
    fn zone_body(
        &mut self,
        p: &str,
        z: &RawZone,
        key_names: &[String],
        secondary: &TimerLimits,
        from: Option<(&str, &[String])>,
        need_source: bool,
    ) -> Option<ZoneSource> {
        match (&z.file, &z.primaries) {
            (Some(file), None) => {
                self.file_zone_extras(p, z);
                if file.is_empty() {
                    self.err(format!("{p}.file"), "must not be empty");
                }
                Some(ZoneSource::File(self.base.join(file)))
            }
            (None, Some(primaries)) => Some(self.secondary_zone(p, z, primaries, key_names, secondary)),
            (Some(_), Some(_)) => {
                let origin = |key: &str| match from {
                    Some((t, taken)) if taken.iter().any(|k| k == key) => format!("`{key}` from template {t:?}"),
                    _ => format!("`{key}`"),
                };
                self.err(
                    p,
                    format!(
                        "set either `file` or `primaries`, not both (it has {} and {})",
                        origin("file"),
                        origin("primaries")
                    ),
                );
                None
            }
            (None, None) => {
                let failed = self.failed.covers(&format!("{p}.file")) || self.failed.covers(&format!("{p}.primaries"));
                if !failed && need_source {
                    self.err(
                        p,
                        "needs `file` (a zone loaded from disk) or `primaries` (a secondary zone), or a `template` that sets one",
                    );
                }
                None
            }
        }
    }

    fn health(&mut self, raw: &RawConfig, data_dir: &Path) -> HealthConfig {
        let h = &raw.health;
        let probe = h.probe.as_deref().and_then(|s| {
            let parts: Vec<&str> = s.split_whitespace().collect();
            let (name, qtype) = match parts.as_slice() {
                [name] => (*name, "SOA"),
                [name, qtype] => (*name, *qtype),
                _ => {
                    self.err(
                        "health.probe",
                        format!("{s:?}: expected \"NAME TYPE\", e.g. \"example.com SOA\""),
                    );
                    return None;
                }
            };
            let name = normalize_dns_name(name).map_err(|e| self.err("health.probe", e)).ok()?;
            let Some(qtype) = qtype_from_name(qtype) else {
                self.err("health.probe", format!("unknown record type {qtype:?}"));
                return None;
            };
            Some(HealthProbe { name, qtype })
        });
        HealthConfig {
            interval: self.positive_duration("health.interval", &h.interval, Duration::from_secs(1)),
            rise: self.int("health.rise", h.rise, 2, 1..=1000),
            fall: self.int("health.fall", h.fall, 2, 1..=1000),
            probe,
            maintenance_file: self.path_or("health.maintenance-file", &h.maintenance_file, data_dir, "maintenance"),
            drain: self.duration("health.drain", &h.drain, Duration::from_secs(5)),
            critical_zones: self.critical_zones(&h.critical_zones),
            max_failed_zones: self.max_failed(&h.max_failed_zones),
        }
    }

    /// `health.critical-zones`: each a valid name, once. Not checked
    /// against the `[[zone]]` list: zones added through the API (or later a
    /// catalog) can be critical too; a critical zone that is not served at
    /// all counts as failed at run time, so a typo shows at once.
    fn critical_zones(&mut self, raw: &Option<Vec<String>>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, s) in raw.iter().flatten().enumerate() {
            let key = format!("health.critical-zones[{i}]");
            match normalize_dns_name(s.trim()) {
                Ok(name) if out.contains(&name) => self.err(key, format!("{name:?} is listed twice")),
                Ok(name) => out.push(name),
                Err(e) => self.err(key, e),
            }
        }
        out
    }

    /// `health.max-failed-zones`: `"50%"` (0..=100 %) or a count (>= 0).
    fn max_failed(&mut self, raw: &Option<RawCountOrShare>) -> MaxFailed {
        const KEY: &str = "health.max-failed-zones";
        match raw {
            None => MaxFailed::default(),
            Some(RawCountOrShare::Count(n)) => match u64::try_from(*n) {
                Ok(n) => MaxFailed::Count(n),
                Err(_) => {
                    self.err(
                        KEY,
                        format!("{n} is negative: give a count of zones (100) or a percentage (\"50%\")"),
                    );
                    MaxFailed::default()
                }
            },
            Some(RawCountOrShare::Text(s)) => {
                let parsed = s.trim().strip_suffix('%').map(|n| n.trim().parse::<u8>());
                match parsed {
                    Some(Ok(p)) if p <= 100 => MaxFailed::Percent(p),
                    _ => {
                        self.err(
                            KEY,
                            format!("{s:?} is not a percentage from \"0%\" to \"100%\" (or give a count: 100)"),
                        );
                        MaxFailed::default()
                    }
                }
            }
        }
    }

    /// DNS listeners also take TCP, so no address may serve two roles.
    fn address_conflicts(&mut self, dns: &DnsConfig, mgmt: &MgmtConfig, id: &IdentityConfig) {
        let mut all: Vec<(String, SocketAddr)> = Vec::new();
        all.extend(
            dns.listen
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("dns.listen[{i}]"), *a)),
        );
        all.extend(mgmt.listen.map(|a| ("mgmt.listen".to_string(), a)));
        all.extend(
            id.listen
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("identity.listen[{i}]"), *a)),
        );
        let section = |k: &str| k.split('[').next().unwrap_or(k).to_string();
        for (n, (key, addr)) in all.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if let Some((other, _)) = all[..n].iter().find(|(k, a)| a == addr && section(k) != section(key)) {
                self.err(key, format!("{addr} is already used by {other}"));
            }
        }
    }

    fn path_or(&mut self, key: &str, raw: &Option<String>, dir: &Path, name: &str) -> PathBuf {
        match raw.as_deref() {
            Some("") => {
                self.err(key, "must not be empty");
                PathBuf::new()
            }
            Some(p) => self.base.join(p),
            None => dir.join(name),
        }
    }

    fn duration(&mut self, key: &str, raw: &Option<String>, default: Duration) -> Duration {
        match raw.as_deref().map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.err(key, e);
                default
            }
        }
    }

    fn positive_duration(&mut self, key: &str, raw: &Option<String>, default: Duration) -> Duration {
        let d = self.duration(key, raw, default);
        if d.is_zero() {
            self.err(key, "must be greater than 0");
            return default;
        }
        d
    }

    fn int<T: TryFrom<i64>>(&mut self, key: &str, raw: Option<i64>, default: T, range: RangeInclusive<i64>) -> T {
        match raw {
            None => default,
            Some(v) if range.contains(&v) => T::try_from(v).unwrap_or(default),
            Some(v) => {
                self.err(
                    key,
                    format!("{v} is out of range ({}..={})", range.start(), range.end()),
                );
                default
            }
        }
    }

    fn socket_addr(&mut self, key: &str, s: &str, default_port: Option<u16>) -> Option<SocketAddr> {
        parse_socket_addr(s, default_port).map_err(|e| self.err(key, e)).ok()
    }

    /// Parses each address of a list at `key[i]`, reporting duplicates.
    fn socket_addrs(&mut self, key: &str, list: Option<&[String]>, default_port: Option<u16>) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        let mut index_of: Vec<usize> = Vec::new();
        for (i, s) in list.unwrap_or_default().iter().enumerate() {
            let k = format!("{key}[{i}]");
            let Some(sa) = self.socket_addr(&k, s, default_port) else {
                continue;
            };
            if let Some(j) = out.iter().position(|a| *a == sa) {
                self.err(k, format!("duplicate of {key}[{}] ({sa})", index_of[j]));
                continue;
            }
            out.push(sa);
            index_of.push(i);
        }
        // Kept for the process's life, per zone: no spare capacity.
        out.shrink_to_fit();
        out
    }

    /// Parses each element of an optional list at `key[i]`.
    fn each<T>(&mut self, key: &str, list: &Option<Vec<String>>, parse: fn(&str) -> Result<T, String>) -> Vec<T> {
        let mut out = Vec::new();
        for (i, s) in list.iter().flatten().enumerate() {
            match parse(s) {
                Ok(v) => out.push(v),
                Err(e) => self.err(format!("{key}[{i}]"), e),
            }
        }
        out
    }
}
