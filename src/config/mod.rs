//! Configuration: this module owns the TOML schema, its validation, and the
//! validated runtime [`Config`] that every other module reads.
//!
//! Two layers:
//!
//! - `raw`: serde structs that mirror the file key for key (kebab-case,
//!   `deny_unknown_fields`), filled table by table and key by key so that
//!   one bad value does not hide the next.
//! - `validate`: turns the raw layer into [`Config`] with typed values
//!   (socket addresses, durations, prefixes, decoded TSIG secrets, paths
//!   resolved against the config file's directory), checking everything
//!   and collecting every problem as a [`ConfigError`] with its key path
//!   (`dns.listen[1]`, `zone[2].name`, `bgp.peer[0].asn`) and line.
//!
//! [`Config::load`] returns either a whole valid `Config` or
//! [`ConfigErrors`] listing all problems at once; nothing is half-applied.
//! The user-facing contract for the keys is `CONFIG.md`; the file
//! `config.example.toml` at the repository root documents every key.

mod bgp;
mod catalog;
mod duration;
mod raw;
mod validate;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bgp;
#[cfg(test)]
mod tests_catalog;
#[cfg(test)]
mod tests_out;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use bgp::{AddressFamily, BfdSettings, BgpConfig, BgpPeer};
pub use catalog::{CatalogConsumer, CatalogRole, MaxRemovals, producer_file};
pub use duration::{format_duration, format_size, parse_duration, parse_size};
pub use raw::schema;
pub use values::{
    Community, LargeCommunity, Prefix, decode_base64, normalize_dns_name, parse_socket_addr, qtype_from_name,
};

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub node: NodeConfig,
    pub dns: DnsConfig,
    /// `[[tsig-key]]`, in file order; names are unique.
    pub tsig_keys: Vec<TsigKey>,
    /// `[[zone]]`, in file order; names are unique.
    pub zones: Vec<Arc<ZoneConfig>>,
    /// `[[template]]`, in file order; names are unique. Config zones are
    /// already merged with theirs; zones added through the API take theirs
    /// through [`Config::derive_zone`].
    pub templates: Vec<Template>,
    /// `[secondary]`: the SOA timer clamps for secondary zones that do not
    /// set their own (also used for zones added at runtime).
    pub secondary: TimerLimits,
    /// `[transfer]`.
    pub transfer: TransferConfig,
    pub bgp: BgpConfig,
    pub health: HealthConfig,
    pub mgmt: MgmtConfig,
    pub identity: IdentityConfig,
    /// `[fleet]`.
    pub fleet: FleetConfig,
}

/// `[fleet]`: which nodes the hub asks for each zone's serial, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// `nodes`; empty: each zone's `notify` targets.
    pub nodes: Vec<SocketAddr>,
    /// `poll`: the SOA poll of every node and zone, besides the one after
    /// each new version.
    pub poll: Duration,
    /// `rate`: SOA queries sent per second at most.
    pub rate: u32,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            nodes: Vec::new(),
            poll: Duration::from_secs(30),
            rate: 1000,
        }
    }
}

/// `[node]`.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// NSID, CHAOS `id.server` / `hostname.bind`, identity JSON.
    pub id: String,
    /// Persisted zones and timers; resolved against the config file's
    /// directory (default `var/pharos`).
    pub data_dir: PathBuf,
    pub location: NodeLocation,
}

/// `[node.location]`: free text shown by the identity endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeLocation {
    pub city: Option<String>,
    pub country: Option<String>,
    /// Lowercase ISO 3166-1 alpha-2 code.
    pub country_iso: Option<String>,
    pub display: Option<String>,
}

/// `[dns]`.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// UDP and TCP on each; at least one, no duplicates.
    pub listen: Vec<SocketAddr>,
    /// CHAOS `version.bind`; `None` answers REFUSED.
    pub version: Option<String>,
    /// Answer the EDNS NSID option with `node.id`.
    pub nsid: bool,
    /// Largest UDP response with EDNS, 512..=4096 (default 1232).
    pub udp_payload: u16,
    /// TCP connections open at once; at the cap a new client takes the
    /// slot of the connection idle longest.
    pub tcp_max_connections: usize,
    /// Idle time allowed between queries (shortened as the table fills).
    pub tcp_idle_timeout: Duration,
    /// Whole life of a TCP connection, zone transfers excepted (default 6 ×
    /// `tcp_idle_timeout`; shortened as the table fills).
    pub tcp_max_lifetime: Duration,
    /// UDP worker threads per listen address (0 = one per CPU).
    pub udp_workers: usize,
    /// Steer each UDP datagram to the worker pinned to the CPU that
    /// received it (`dns::affinity`), as Knot's `socket-affinity`.
    pub socket_affinity: bool,
    /// `[dns.rrl]`: response rate limiting over UDP.
    pub rrl: RrlConfig,
    /// `cookie-secret` and `cookie-secret-previous` (RFC 7873/9018);
    /// `None`: a random secret per start.
    pub cookie_secrets: Option<crate::cookie::Secrets>,
}

/// `[dns.rrl]`: response rate limiting (see `dns::rrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlConfig {
    /// Per netblock, class and name; 0 turns rate limiting off.
    pub responses_per_second: u32,
    /// A limited netblock is logged once per window.
    pub window: Duration,
    /// Every `slip`-th limited response goes out truncated; 0: none.
    pub slip: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Never limited.
    pub exempt: Vec<Prefix>,
    /// Buckets kept (8 octets each).
    pub table_size: usize,
}

impl RrlConfig {
    /// The largest `responses-per-second` (what a bucket can count).
    pub const MAX_RATE: u32 = (1 << 20) - 1;
}

impl Default for RrlConfig {
    fn default() -> Self {
        RrlConfig {
            responses_per_second: 200,
            window: Duration::from_secs(15),
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            table_size: 1 << 18,
        }
    }
}

/// `[[tsig-key]]`. `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// Key name, lowercase, without the trailing dot.
    pub name: String,
    pub algorithm: TsigAlgorithm,
    /// The decoded secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

/// The TSIG HMAC algorithms (RFC 8945).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsigAlgorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    pub const ALL: [TsigAlgorithm; 6] = [
        TsigAlgorithm::HmacMd5,
        TsigAlgorithm::HmacSha1,
        TsigAlgorithm::HmacSha224,
        TsigAlgorithm::HmacSha256,
        TsigAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512,
    ];

    /// The name used in the config file (`hmac-sha256`).
    pub fn name(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacMd5 => "hmac-md5",
            TsigAlgorithm::HmacSha1 => "hmac-sha1",
            TsigAlgorithm::HmacSha224 => "hmac-sha224",
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm name as it appears in a TSIG record, without the
    /// trailing dot (`hmac-md5.sig-alg.reg.int` for MD5).
    pub fn wire_name(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacMd5 => "hmac-md5.sig-alg.reg.int",
            other => other.name(),
        }
    }

    /// Length of the full MAC in octets.
    pub fn mac_len(self) -> usize {
        match self {
            TsigAlgorithm::HmacMd5 => 16,
            TsigAlgorithm::HmacSha1 => 20,
            TsigAlgorithm::HmacSha224 => 28,
            TsigAlgorithm::HmacSha256 => 32,
            TsigAlgorithm::HmacSha384 => 48,
            TsigAlgorithm::HmacSha512 => 64,
        }
    }

    /// Accepts the config name or the wire name, any case, with or without
    /// a trailing dot.
    pub fn from_name(s: &str) -> Option<TsigAlgorithm> {
        let s = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        TsigAlgorithm::ALL
            .into_iter()
            .find(|a| a.name() == s || a.wire_name() == s)
    }
}

impl fmt::Display for TsigAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TsigAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TsigAlgorithm::from_name(s).ok_or_else(|| format!("unknown TSIG algorithm {s:?}"))
    }
}

/// `[[zone]]`.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    /// Zone apex in presentation form, lowercase, without the trailing dot
    /// (the root zone is ".").
    pub name: String,
    pub source: ZoneSource,
    /// The `[[template]]` the zone's settings came from, if any.
    pub template: Option<String>,
    /// Transfers out, NOTIFY out and the IXFR history (file and secondary
    /// zones alike).
    pub out: TransferOut,
    /// `catalog`: its part in a catalog (RFC 9432), if any.
    pub catalog: Option<CatalogRole>,
    /// `catalog-group`: the group property of this member in its producer
    /// catalog (only with [`CatalogRole::Member`]).
    pub catalog_group: Option<String>,
}

/// `[[template]]`: settings zones share (any key of a `[[zone]]`).
#[derive(Debug, Clone)]
pub struct Template {
    /// Its `name`, as zones give it in `template`.
    pub name: String,
    /// Its keys, merged into each zone that names it.
    raw: raw::RawZone,
    /// The config file's directory (resolves a `file` it sets).
    base: PathBuf,
}

impl Template {
    /// Whether the template gives its zones a source (`primaries` or `file`).
    pub fn sets_source(&self) -> bool {
        self.raw.primaries.is_some() || self.raw.file.is_some()
    }
}

/// The keys of a zone defined outside the file (`POST /zones`): checked
/// by [`Config::derive_zone`] as a `[[zone]]` with these keys would be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneSpec {
    pub name: String,
    pub template: Option<String>,
    pub primaries: Option<Vec<String>>,
    pub tsig_key: Option<String>,
    /// `catalog`: the producer catalog the zone is a member of.
    pub catalog: Option<String>,
    /// `catalog-group`: its group property there.
    pub catalog_group: Option<String>,
}

/// Transfers out of one zone (`[[zone]]` keys, or its template's): who may
/// AXFR/IXFR it, the TSIG key those transfers and NOTIFYs out use, whom a
/// new version is announced to, and how much IXFR history is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOut {
    /// `allow-transfer`: who may AXFR/IXFR; empty: nobody.
    pub allow_transfer: Vec<Prefix>,
    /// `transfer-tsig-key`: name of a key in [`Config::tsig_keys`]
    /// (normalized like [`TsigKey::name`]). When set, transfers out and
    /// NOTIFY out are signed with it, and requests without it are refused.
    pub tsig_key: Option<String>,
    /// `notify`: NOTIFY targets (port 53 when the config omits it).
    pub notify: Vec<SocketAddr>,
    /// `notify-source`: source address of NOTIFY out and of SOA queries
    /// and transfers in.
    pub notify_source: Option<IpAddr>,
    /// `ixfr-history-depth`: versions of differences kept for IXFR out.
    pub history_depth: u32,
    /// `ixfr-history-bytes`: and at most this many octets of them.
    pub history_bytes: u64,
}

/// `ixfr-history-depth` default.
pub const DEFAULT_HISTORY_DEPTH: u32 = 100;
/// `ixfr-history-bytes` default.
pub const DEFAULT_HISTORY_BYTES: u64 = 64 << 20;

impl Default for TransferOut {
    fn default() -> Self {
        TransferOut {
            allow_transfer: Vec::new(),
            tsig_key: None,
            notify: Vec::new(),
            notify_source: None,
            history_depth: DEFAULT_HISTORY_DEPTH,
            history_bytes: DEFAULT_HISTORY_BYTES,
        }
    }
}

/// `[transfer]`: node-wide limits of the primary side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferConfig {
    /// `max-out`: transfers out at once, node-wide; more are REFUSED.
    pub max_out: usize,
    /// `max-out-per-client`: transfers out at once to one client address.
    pub max_out_per_client: usize,
    /// `notify-rate`: NOTIFY messages sent per second at most (start-up,
    /// reloads): never a burst of thousands.
    pub notify_rate: u32,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            max_out: 32,
            max_out_per_client: 4,
            notify_rate: 100,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ZoneSource {
    /// A zone file, path resolved against the config file's directory.
    File(PathBuf),
    /// A secondary zone transferred from its primaries.
    Secondary {
        /// Tried in order; port 53 when the config omits it.
        primaries: Vec<SocketAddr>,
        /// Name of a key in [`Config::tsig_keys`] (normalized like
        /// [`TsigKey::name`]); signs SOA/IXFR/AXFR, required on NOTIFY.
        tsig_key: Option<String>,
        /// NOTIFY sources accepted beside the primaries.
        allow_notify: Vec<Prefix>,
        /// SOA timer clamps (zone keys, else `[secondary]`, else defaults).
        timers: TimerLimits,
    },
}

impl ZoneSource {
    pub fn is_secondary(&self) -> bool {
        matches!(self, ZoneSource::Secondary { .. })
    }
}

/// Bounds on a secondary zone: its SOA refresh, retry and expire are
/// clamped to these, and one transfer may bring at most `max_zone_records`
/// records and `max_zone_bytes` octets and take at most `transfer_timeout`
/// (`[secondary]` defaults, overridden per zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerLimits {
    pub refresh_min: Duration,
    pub refresh_max: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub expire_min: Duration,
    pub expire_max: Duration,
    /// Records in one AXFR or IXFR stream, and in the version it builds.
    pub max_zone_records: u64,
    /// Wire octets of one transfer.
    pub max_zone_bytes: u64,
    /// A whole transfer, from connect to the last message.
    pub transfer_timeout: Duration,
}

/// `max-zone-records` default: a 2,000,000-record zone built from a
/// transfer peaks near 200 MiB, which a 512 MB node still holds beside the
/// version it serves.
pub const DEFAULT_MAX_ZONE_RECORDS: u64 = 2_000_000;
/// `max-zone-bytes` default: 2,000,000 typical records are 60-80 MiB on
/// the wire; signed zones with large records still fit.
pub const DEFAULT_MAX_ZONE_BYTES: u64 = 256 << 20;
/// `transfer-timeout` default: a 1,000,000-record AXFR takes seconds on a
/// sound link; a primary that trickles is cut off after this.
pub const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for TimerLimits {
    /// refresh and retry 2s..=1d, expire 10s..=8w; transfers of at most
    /// 2,000,000 records, 256 MiB and 5 minutes.
    fn default() -> Self {
        const DAY: u64 = 86_400;
        TimerLimits {
            refresh_min: Duration::from_secs(2),
            refresh_max: Duration::from_secs(DAY),
            retry_min: Duration::from_secs(2),
            retry_max: Duration::from_secs(DAY),
            expire_min: Duration::from_secs(10),
            expire_max: Duration::from_secs(56 * DAY),
            max_zone_records: DEFAULT_MAX_ZONE_RECORDS,
            max_zone_bytes: DEFAULT_MAX_ZONE_BYTES,
            transfer_timeout: DEFAULT_TRANSFER_TIMEOUT,
        }
    }
}

impl TimerLimits {
    /// The SOA refresh (seconds) clamped to the limits.
    pub fn refresh(&self, soa_secs: u32) -> Duration {
        clamp_secs(soa_secs, self.refresh_min, self.refresh_max)
    }
    /// The SOA retry (seconds) clamped to the limits.
    pub fn retry(&self, soa_secs: u32) -> Duration {
        clamp_secs(soa_secs, self.retry_min, self.retry_max)
    }
    /// The SOA expire (seconds) clamped to the limits.
    pub fn expire(&self, soa_secs: u32) -> Duration {
        clamp_secs(soa_secs, self.expire_min, self.expire_max)
    }
}

fn clamp_secs(secs: u32, min: Duration, max: Duration) -> Duration {
    Duration::from_secs(u64::from(secs)).clamp(min, max.max(min))
}

/// `[health]`.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub interval: Duration,
    /// Consecutive good probes to become healthy (>= 1).
    pub rise: u32,
    /// Consecutive bad probes to become unhealthy (>= 1).
    pub fall: u32,
    /// `None`: probe the SOA of every zone.
    pub probe: Option<HealthProbe>,
    /// Present = drained. Default `<data-dir>/maintenance`.
    pub maintenance_file: PathBuf,
    /// Between BGP withdraw and stop on SIGTERM.
    pub drain: Duration,
    /// `health.critical-zones`: names (normalized like
    /// [`ZoneConfig::name`]) whose failure always withdraws the node.
    pub critical_zones: Vec<String>,
    /// `health.max-failed-zones`: more zones failed at once than this and
    /// the node counts itself cut off (withdraws). Default 50 %.
    pub max_failed_zones: MaxFailed,
}

/// `health.max-failed-zones`: a share of the node's zones or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFailed {
    /// Percent of the zones, 0..=100.
    Percent(u8),
    Count(u64),
}

impl Default for MaxFailed {
    fn default() -> Self {
        MaxFailed::Percent(50)
    }
}

impl MaxFailed {
    /// Whether `failed` zones out of `total` are more than allowed.
    pub fn exceeded(self, failed: usize, total: usize) -> bool {
        match self {
            MaxFailed::Percent(p) => (failed as u128) * 100 > u128::from(p) * (total as u128),
            MaxFailed::Count(n) => failed as u64 > n,
        }
    }
}

impl fmt::Display for MaxFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxFailed::Percent(p) => write!(f, "{p}%"),
            MaxFailed::Count(n) => write!(f, "{n}"),
        }
    }
}

/// `health.probe = "example.com SOA"`: a query sent to the node's own
/// listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProbe {
    /// Normalized like [`ZoneConfig::name`].
    pub name: String,
    pub qtype: u16,
}

/// `[mgmt]`.
#[derive(Debug, Clone)]
pub struct MgmtConfig {
    /// `None` (no `mgmt.listen`): no management API.
    pub listen: Option<SocketAddr>,
    /// Bearer token for mutating calls. Default `<data-dir>/token`.
    pub token_file: PathBuf,
    /// HTTP connections open at once (default 64); at the cap a new client
    /// takes the slot of the connection idle longest.
    pub max_connections: usize,
}

/// `[identity]`.
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    /// Empty: no identity endpoint.
    pub listen: Vec<SocketAddr>,
}

/// Every problem found in a config file, each with its key path.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

/// One problem: where (key path, and line/column when known) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path such as `dns.listen[1]` or `zone[2].file`; empty for
    /// problems with the file as a whole (unreadable, TOML syntax).
    pub key: String,
    pub message: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column in the file, when known.
    pub column: Option<usize>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl fmt::Display for ConfigErrors {
    /// ```text
    /// pharos.toml: 2 errors
    ///   pharos.toml:14:29: dns.listen[1]: "127.0.0.1:99999" is not an address (expected ...)
    ///   pharos.toml:20:1: zone[0].fil: unknown key `fil` (did you mean `file`?)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        let n = self.errors.len();
        write!(f, "{file}: {n} error{}", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            match (e.line, e.column) {
                (Some(l), Some(c)) => write!(f, "\n  {file}:{l}:{c}: {e}")?,
                (Some(l), None) => write!(f, "\n  {file}:{l}: {e}")?,
                _ => write!(f, "\n  {file}: {e}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads, parses and validates a config file (a regular file of at most
    /// [`crate::files::CONFIG_MAX`]). Relative paths in it are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = crate::files::read_to_string(path, crate::files::CONFIG_MAX).map_err(|e| ConfigErrors {
            file: path.to_path_buf(),
            errors: vec![ConfigError::new("", format!("cannot read the file: {e}"))],
        })?;
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Config::from_str(&text, base, path)
    }

    /// Parses and validates config text. `base_dir` resolves relative
    /// paths; `file` names the file in errors.
    pub fn from_str(text: &str, base_dir: &Path, file: &Path) -> Result<Config, ConfigErrors> {
        let fail = |errors| ConfigErrors {
            file: file.to_path_buf(),
            errors,
        };
        let doc = raw::Document::parse(text).map_err(|e| fail(vec![e]))?;
        let (raw, failed, mut errors) = doc.sections();
        let config = validate::validate(&raw, &failed, base_dir, &mut errors);
        if errors.is_empty() {
            return Ok(config);
        }
        for e in &mut errors {
            doc.locate(e);
        }
        // File order; errors without a position (missing sections) last.
        errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
        Err(fail(errors))
    }

    /// The `[[tsig-key]]` with this name (case-insensitive, trailing dot
    /// ignored).
    pub fn tsig_key(&self, name: &str) -> Option<&TsigKey> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.tsig_keys.iter().find(|k| k.name.eq_ignore_ascii_case(name))
    }

    /// The settings of a zone defined outside the file (the management
    /// API): its own keys over those of the template it names, validated
    /// as a `[[zone]]` is. Errors name the key (`primaries[0]`) or the
    /// template's key (`template "customers".notify[1]`).
    pub fn derive_zone(&self, spec: &ZoneSpec) -> Result<ZoneConfig, Vec<ConfigError>> {
        validate::derive(self, spec)
    }

    /// The `[[template]]` with this name.
    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// The configured zone with this name (case-insensitive, trailing dot
    /// ignored).
    pub fn zone(&self, name: &str) -> Option<&ZoneConfig> {
        let name = match name.strip_suffix('.') {
            Some("") | None => name,
            Some(n) => n,
        };
        self.zones
            .iter()
            .find(|z| z.name.eq_ignore_ascii_case(name))
            .map(|z| &**z)
    }
}
