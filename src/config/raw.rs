//! The raw layer: serde structs that mirror the TOML file key for key
//! (kebab-case, unknown keys rejected), and the [`Document`] that reads a
//! file into them.
//!
//! Values stay close to their TOML form (strings for durations and
//! addresses, `i64` for integers) so that the validation layer can report
//! every bad value with its key path, not just the first one serde meets.
//! [`Document::sections`] deserializes key by key and table by table: an
//! unknown key or a wrong type in one place does not hide the others.

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::ConfigError;

/// The whole file. Every section is optional at this layer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub node: RawNode,
    #[serde(default)]
    pub dns: RawDns,
    #[serde(default)]
    pub tsig_key: Vec<RawTsigKey>,
    #[serde(default)]
    pub zone: Vec<RawZone>,
    /// `[[template]]`: a `name` and any key of a `[[zone]]`.
    #[serde(default)]
    pub template: Vec<RawZone>,
    #[serde(default)]
    pub secondary: RawTimerLimits,
    #[serde(default)]
    pub transfer: RawTransfer,
    #[serde(default)]
    pub bgp: RawBgp,
    #[serde(default)]
    pub health: RawHealth,
    #[serde(default)]
    pub mgmt: RawMgmt,
    #[serde(default)]
    pub identity: RawIdentity,
    #[serde(default)]
    pub fleet: RawFleet,
}

/// `[fleet]`: the hub's view of which serial each node serves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawFleet {
    pub nodes: Option<Vec<String>>,
    pub poll: Option<String>,
    pub rate: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawNode {
    pub id: Option<String>,
    pub data_dir: Option<String>,
    #[serde(default)]
    pub location: RawLocation,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawLocation {
    pub city: Option<String>,
    pub country: Option<String>,
    pub country_iso: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawDns {
    pub listen: Option<Vec<String>>,
    pub version: Option<String>,
    pub nsid: Option<bool>,
    pub udp_payload: Option<i64>,
    pub tcp_max_connections: Option<i64>,
    pub tcp_idle_timeout: Option<String>,
    pub tcp_max_lifetime: Option<String>,
    pub udp_workers: Option<i64>,
    pub socket_affinity: Option<bool>,
    pub rrl: Option<RawRrl>,
    pub cookie_secret: Option<String>,
    pub cookie_secret_previous: Option<String>,
}

/// `[dns.rrl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawRrl {
    pub responses_per_second: Option<i64>,
    pub window: Option<String>,
    pub slip: Option<i64>,
    pub ipv4_prefix: Option<i64>,
    pub ipv6_prefix: Option<i64>,
    pub exempt: Option<Vec<String>>,
    pub table_size: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawTsigKey {
    pub name: Option<String>,
    pub algorithm: Option<String>,
    pub secret: Option<String>,
}

/// SOA timer clamps: the `[secondary]` defaults (the same six keys are
/// accepted per zone, see [`RawZone`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawTimerLimits {
    pub refresh_min: Option<String>,
    pub refresh_max: Option<String>,
    pub retry_min: Option<String>,
    pub retry_max: Option<String>,
    pub expire_min: Option<String>,
    pub expire_max: Option<String>,
    pub max_zone_records: Option<i64>,
    pub max_zone_bytes: Option<RawSize>,
    pub transfer_timeout: Option<String>,
}

/// A size: a number of bytes, or a string with a unit (`"64MiB"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a size: a number of bytes, or a string such as \"64MiB\"")]
pub(crate) enum RawSize {
    Bytes(i64),
    Text(String),
}

/// A `[[zone]]`, and a `[[template]]` (whose `name` names the template):
/// one struct, so every key a zone takes is a template key too. A key
/// added here must be added to `RawZone::inherit` (validate/template.rs),
/// which the compiler enforces.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawZone {
    pub name: Option<String>,
    /// The `[[template]]` whose keys this zone takes where it sets none.
    pub template: Option<String>,
    pub file: Option<String>,
    pub primaries: Option<Vec<String>>,
    pub tsig_key: Option<String>,
    pub allow_notify: Option<Vec<String>>,
    // `#[serde(flatten)]` does not work with `deny_unknown_fields`, so the
    // timer clamps are spelled out here.
    pub refresh_min: Option<String>,
    pub refresh_max: Option<String>,
    pub retry_min: Option<String>,
    pub retry_max: Option<String>,
    pub expire_min: Option<String>,
    pub expire_max: Option<String>,
    pub max_zone_records: Option<i64>,
    pub max_zone_bytes: Option<RawSize>,
    pub transfer_timeout: Option<String>,
    // Transfers out ("Transfers out" in CONFIG.md).
    pub allow_transfer: Option<Vec<String>>,
    pub transfer_tsig_key: Option<String>,
    pub notify: Option<Vec<String>>,
    pub notify_source: Option<String>,
    pub ixfr_history_depth: Option<i64>,
    pub ixfr_history_bytes: Option<RawSize>,
    // Catalog zones ("Catalog zones" in CONFIG.md).
    /// `"producer"`, `"consumer"`, or the name of a producer catalog this
    /// zone is a member of.
    pub catalog: Option<String>,
    /// The member's `group` property in its producer catalog.
    pub catalog_group: Option<String>,
    /// Consumer: the template of members without a (known) group.
    pub member_template: Option<String>,
    /// Consumer: removals held past this many members at once.
    pub catalog_max_removals: Option<RawCountOrShare>,
}

/// `[transfer]`: node-wide limits of transfers out and NOTIFY out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawTransfer {
    pub max_out: Option<i64>,
    pub max_out_per_client: Option<i64>,
    pub notify_rate: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawBgp {
    pub enabled: Option<bool>,
    pub asn: Option<i64>,
    pub router_id: Option<String>,
    pub announce: Option<Vec<String>>,
    pub communities: Option<Vec<String>>,
    pub large_communities: Option<Vec<String>>,
    pub prepend: Option<i64>,
    pub med: Option<i64>,
    #[serde(default)]
    pub peer: Vec<RawPeer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawPeer {
    pub address: Option<String>,
    pub port: Option<i64>,
    pub asn: Option<i64>,
    pub local_address: Option<String>,
    pub password: Option<String>,
    pub multihop: Option<i64>,
    pub hold_time: Option<i64>,
    pub families: Option<Vec<String>>,
    pub ipv4_next_hop: Option<String>,
    pub ipv6_next_hop: Option<String>,
    pub prepend: Option<i64>,
    pub med: Option<i64>,
    pub announce: Option<Vec<String>>,
    pub communities: Option<Vec<String>>,
    pub large_communities: Option<Vec<String>>,
    pub bfd: Option<bool>,
    pub bfd_interval: Option<String>,
    pub bfd_multiplier: Option<i64>,
    pub ttl_security: Option<bool>,
    pub passive: Option<bool>,
    pub listen_port: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawHealth {
    pub interval: Option<String>,
    pub rise: Option<i64>,
    pub fall: Option<i64>,
    pub probe: Option<String>,
    pub maintenance_file: Option<String>,
    pub drain: Option<String>,
    pub critical_zones: Option<Vec<String>>,
    pub max_failed_zones: Option<RawCountOrShare>,
}

/// A count (`100`) or a share of a whole (`"50%"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a count (100) or a percentage (\"50%\")")]
pub(crate) enum RawCountOrShare {
    Count(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawMgmt {
    pub listen: Option<String>,
    pub token_file: Option<String>,
    pub max_connections: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct RawIdentity {
    pub listen: Option<Vec<String>>,
}

/// Key paths (`dns.listen`, `zone[1]`) whose value could not be read; the
/// validation layer stays quiet about them (their error is already
/// reported).
#[derive(Debug, Default)]
pub(crate) struct Failed(HashSet<String>);

impl Failed {
    /// Whether `key` is, or lies under, a path that failed to parse.
    pub fn covers(&self, key: &str) -> bool {
        self.0.iter().any(|f| {
            key == f
                || key
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }

    /// Whether any path starting with `prefix` failed.
    pub fn any_under(&self, prefix: &str) -> bool {
        self.0.iter().any(|f| f.starts_with(prefix))
    }
}

/// A parsed TOML document with the source spans of every key and value.
pub(crate) struct Document<'a> {
    text: &'a str,
    root: DeTable<'a>,
}

const TOP_LEVEL: &[&str] = &[
    "node",
    "dns",
    "tsig-key",
    "zone",
    "template",
    "secondary",
    "transfer",
    "bgp",
    "health",
    "mgmt",
    "identity",
    "fleet",
];

impl<'a> Document<'a> {
    /// Parses TOML syntax. On a syntax error, returns the first one (the
    /// parser's recovery after the first error produces mostly noise).
    pub fn parse(text: &'a str) -> Result<Document<'a>, ConfigError> {
        let (root, errors) = DeTable::parse_recoverable(text);
        let doc = Document {
            text,
            root: root.into_inner(),
        };
        match errors.first() {
            None => Ok(doc),
            Some(e) => {
                let mut err = ConfigError::new("", format!("TOML syntax: {}", e.message()));
                if let Some(span) = e.span() {
                    (err.line, err.column) = doc.line_col(span.start);
                }
                Err(err)
            }
        }
    }

    /// Deserializes every section, collecting all errors.
    pub fn sections(&self) -> (RawConfig, Failed, Vec<ConfigError>) {
        let mut cx = Collect {
            doc: self,
            failed: Failed::default(),
            errors: Vec::new(),
        };
        let mut raw = RawConfig::default();
        for (key, value) in self.root.iter() {
            let name: &str = key.get_ref();
            match name {
                "node" => {
                    raw.node = cx.table(value, "node", &["location"]);
                    if let Some(location) = sub_table(value, "location") {
                        raw.node.location = cx.table(location, "node.location", &[]);
                    }
                }
                "dns" => raw.dns = cx.table(value, "dns", &[]),
                "secondary" => raw.secondary = cx.table(value, "secondary", &[]),
                "transfer" => raw.transfer = cx.table(value, "transfer", &[]),
                "health" => raw.health = cx.table(value, "health", &[]),
                "mgmt" => raw.mgmt = cx.table(value, "mgmt", &[]),
                "identity" => raw.identity = cx.table(value, "identity", &[]),
                "fleet" => raw.fleet = cx.table(value, "fleet", &[]),
                "tsig-key" => raw.tsig_key = cx.array(value, "tsig-key"),
                "zone" => raw.zone = cx.array(value, "zone"),
                "template" => raw.template = cx.array(value, "template"),
                "bgp" => {
                    raw.bgp = cx.table(value, "bgp", &["peer"]);
                    if let Some(peers) = sub_table(value, "peer") {
                        raw.bgp.peer = cx.array(peers, "bgp.peer");
                    }
                }
                other => cx.error(key.span(), other.to_string(), unknown_key_message(other, TOP_LEVEL)),
            }
        }
        (raw, cx.failed, cx.errors)
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, offset: usize) -> (Option<usize>, Option<usize>) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (Some(line), Some(column))
    }

    /// Fills in the line and column of an error from its key path: the
    /// value of the key if present, else its closest present ancestor.
    pub fn locate(&self, err: &mut ConfigError) {
        if err.line.is_some() || err.key.is_empty() {
            return;
        }
        let mut span: Option<Range<usize>> = None;
        let mut table = Some(&self.root);
        for segment in err.key.split('.') {
            let (name, index) = match segment.split_once('[') {
                Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
                None => (segment, None),
            };
            let Some(mut value) = table.and_then(|t| t.get(name)) else {
                break;
            };
            if let Some(i) = index {
                let item = match value.get_ref() {
                    DeValue::Array(a) => a.get(i),
                    _ => None,
                };
                let Some(item) = item else {
                    span = Some(value.span());
                    break;
                };
                value = item;
            }
            span = Some(value.span());
            table = match value.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        if let Some(span) = span {
            (err.line, err.column) = self.line_col(span.start);
        }
    }

    /// The key path (`zone[2].primaries[0]`) of the deepest key or value
    /// whose source text contains `offset`.
    fn path_at(&self, offset: usize) -> String {
        let mut path = String::new();
        let mut table = &self.root;
        loop {
            let Some((key, value)) = table
                .iter()
                .find(|(k, v)| k.span().contains(&offset) || contains(v, offset))
            else {
                return path;
            };
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            let mut value = value;
            while let DeValue::Array(items) = value.get_ref() {
                let Some((i, item)) = items.iter().enumerate().find(|(_, v)| contains(v, offset)) else {
                    return path;
                };
                path.push_str(&format!("[{i}]"));
                value = item;
            }
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                _ => return path,
            }
        }
    }
}

/// The value of `key` inside a table value.
fn sub_table<'v, 'a>(value: &'v Spanned<DeValue<'a>>, key: &str) -> Option<&'v Spanned<DeValue<'a>>> {
    match value.get_ref() {
        DeValue::Table(t) => t.get(key),
        _ => None,
    }
}

/// Whether a value's text, or the text of anything inside it, contains
/// `offset` (an `[[array]]` element's span covers only its header).
fn contains(v: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    v.span().contains(&offset)
        || match v.get_ref() {
            DeValue::Table(t) => t.iter().any(|(k, v)| k.span().contains(&offset) || contains(v, offset)),
            DeValue::Array(a) => a.iter().any(|v| contains(v, offset)),
            _ => false,
        }
}

struct Collect<'d, 'a> {
    doc: &'d Document<'a>,
    failed: Failed,
    errors: Vec<ConfigError>,
}

impl Collect<'_, '_> {
    fn error(&mut self, span: Range<usize>, key: String, message: String) {
        let mut err = ConfigError::new(key.clone(), message);
        (err.line, err.column) = self.doc.line_col(span.start);
        self.errors.push(err);
        self.failed.0.insert(key);
    }

    /// Records a serde error, naming the key path at its source position.
    fn serde_error(&mut self, e: &toml::de::Error, fallback: Range<usize>, prefix: &str) {
        let span = e.span().unwrap_or(fallback);
        let mut key = self.doc.path_at(span.start);
        if !(key == prefix || key.starts_with(&format!("{prefix}.")) || key.starts_with(&format!("{prefix}["))) {
            key = prefix.to_string();
        }
        self.error(span, key, tidy_message(e.message()));
    }

    /// Deserializes a table into `T` key by key: every unknown key and
    /// every badly typed value is reported, and the keys that were fine
    /// still reach `T`. Keys in `skip` are left for the caller.
    fn table<T: DeserializeOwned + Default>(&mut self, value: &Spanned<DeValue<'_>>, prefix: &str, skip: &[&str]) -> T {
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                prefix.to_string(),
                format!("expected a table, found {}", value.get_ref().type_str()),
            );
            return T::default();
        };
        let fields = struct_fields::<T>();
        let mut good = DeTable::new();
        for (key, v) in table.iter() {
            let name: &str = key.get_ref();
            if skip.contains(&name) {
                continue;
            }
            let path = format!("{prefix}.{name}");
            if !fields.contains(&name) {
                // A likely typo of a known key: that key is as good as
                // failed, so "required" errors about it stay quiet.
                if let Some(meant) = suggestion(name, fields).filter(|m| !table.contains_key(*m)) {
                    self.failed.0.insert(format!("{prefix}.{meant}"));
                }
                self.error(key.span(), path, unknown_key_message(name, fields));
                continue;
            }
            let mut single = DeTable::new();
            single.insert(key.clone(), v.clone());
            let de = ValueDeserializer::from(Spanned::new(value.span(), DeValue::Table(single)));
            match T::deserialize(de) {
                Ok(_) => {
                    good.insert(key.clone(), v.clone());
                }
                Err(e) => {
                    self.serde_error(&e, v.span(), &path);
                    self.failed.0.insert(path);
                }
            }
        }
        let de = ValueDeserializer::from(Spanned::new(value.span(), DeValue::Table(good)));
        T::deserialize(de).unwrap_or_else(|e| {
            // Unreachable in practice: every key was checked on its own.
            self.serde_error(&e, value.span(), prefix);
            T::default()
        })
    }

    /// Deserializes an array of tables (`[[zone]]`) element by element;
    /// an element that fails becomes `T::default()` and is marked failed.
    fn array<T: DeserializeOwned + Default>(&mut self, value: &Spanned<DeValue<'_>>, prefix: &str) -> Vec<T> {
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                value.span(),
                prefix.to_string(),
                format!(
                    "expected an array of tables ([[{prefix}]]), found {}",
                    value.get_ref().type_str()
                ),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.table(item, &format!("{prefix}[{i}]"), &[]))
            .collect()
    }
}

/// serde says "field"; the config speaks of keys.
fn tidy_message(message: &str) -> String {
    message.trim_end().replacen("unknown field", "unknown key", 1)
}

/// The known key `name` is probably a typo of.
pub(super) fn suggestion<'f>(name: &str, expected: &[&'f str]) -> Option<&'f str> {
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    expected
        .iter()
        .map(|f| (edit_distance(name, f), *f))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, f)| f)
}

fn unknown_key_message(name: &str, expected: &[&str]) -> String {
    match suggestion(name, expected) {
        Some(close) => format!("unknown key `{name}` (did you mean `{close}`?)"),
        None => {
            let list: Vec<String> = expected.iter().map(|f| format!("`{f}`")).collect();
            format!("unknown key `{name}`, expected one of {}", list.join(", "))
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Every table of the file with its keys (kebab-case, as serde reads
/// them), from the serde structs themselves: the list the documentation
/// is checked against (a key added to a struct is a key to document). A
/// key that is a table of its own (`node.location`) is listed as a table.
pub fn schema() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("node", struct_fields::<RawNode>()),
        ("node.location", struct_fields::<RawLocation>()),
        ("dns", struct_fields::<RawDns>()),
        ("dns.rrl", struct_fields::<RawRrl>()),
        ("tsig-key", struct_fields::<RawTsigKey>()),
        ("zone", struct_fields::<RawZone>()),
        ("template", struct_fields::<RawZone>()),
        ("secondary", struct_fields::<RawTimerLimits>()),
        ("transfer", struct_fields::<RawTransfer>()),
        ("bgp", struct_fields::<RawBgp>()),
        ("bgp.peer", struct_fields::<RawPeer>()),
        ("health", struct_fields::<RawHealth>()),
        ("mgmt", struct_fields::<RawMgmt>()),
        ("identity", struct_fields::<RawIdentity>()),
        ("fleet", struct_fields::<RawFleet>()),
    ]
}

/// The field names serde derived for `T`, captured by a deserializer that
/// only records what `deserialize_struct` is told.
pub(super) fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'f>(&'f mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("probe"))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("probe"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_probe_sees_kebab_names() {
        let f = struct_fields::<RawDns>();
        assert!(f.contains(&"tcp-idle-timeout"));
        assert!(f.contains(&"udp-workers"));
        assert_eq!(struct_fields::<RawConfig>(), TOP_LEVEL);
    }

    #[test]
    fn schema_has_every_table() {
        let schema = schema();
        let tables: Vec<&str> = schema.iter().map(|(t, _)| *t).collect();
        for top in TOP_LEVEL {
            assert!(tables.contains(top), "[{top}] missing from schema()");
        }
        // Every key of a table that is a table itself is listed as one.
        for (sub, parent) in [("location", "node"), ("rrl", "dns"), ("peer", "bgp")] {
            assert!(tables.contains(&format!("{parent}.{sub}").as_str()));
        }
        assert_eq!(tables.len(), TOP_LEVEL.len() + 3, "{tables:?}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("fil", "file"), 1);
        assert_eq!(edit_distance("listen", "listen"), 0);
        assert!(unknown_key_message("lisen", &["listen", "version"]).contains("did you mean `listen`"));
        assert!(unknown_key_message("zzz", &["listen"]).contains("expected one of `listen`"));
    }

    #[test]
    fn paths_from_offsets() {
        let text = "[dns]\nlisten = [\"a\", \"b\"]\n\n[[zone]]\nname = \"x\"\n\n[[zone]]\nname = \"y\"\nprimaries = [\"1\", \"2\"]\n";
        let doc = Document::parse(text).unwrap();
        let at = |needle: &str| doc.path_at(text.find(needle).unwrap());
        assert_eq!(at("\"b\""), "dns.listen[1]");
        assert_eq!(at("\"x\""), "zone[0].name");
        assert_eq!(at("\"2\""), "zone[1].primaries[1]");
        let mut e = ConfigError::new("zone[1].primaries[1]", "m");
        doc.locate(&mut e);
        assert_eq!((e.line, e.column), (Some(9), Some(19)));
        let mut e = ConfigError::new("zone[1].tsig-key", "m");
        doc.locate(&mut e);
        assert_eq!(e.line, Some(7));
    }
}
