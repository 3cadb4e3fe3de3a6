//! What the API and the status page show of a zone: [`ZoneView`], built
//! from the zone manager's registry, the served version and the engine's
//! state.

use serde::Serialize;

use super::api_zones::ApiZone;
use super::{Managed, Origin, ZoneManager};
use crate::config::ZoneSource;

/// One zone as the API and the status page show it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ZoneView {
    pub name: String,
    /// "file" or "secondary".
    pub kind: &'static str,
    pub origin: Origin,
    /// "ok"; "loading" (a secondary zone with no version whose first SOA
    /// query or transfer has not finished); "failed" (a file zone that
    /// failed to load, or a secondary zone with no version whose first
    /// attempt failed: `last-error` says why); "expired"; or "error" (an
    /// API zone that no longer validates). "failed" and "expired" zones
    /// answer SERVFAIL; see the health rule in `src/health/mod.rs`.
    pub state: &'static str,
    pub serial: Option<u32>,
    pub records: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primaries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsig_key: Option<String>,
    /// The primary that gave the version served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// How that version came: "axfr", "ixfr" or "disk".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The last transfer that gave a new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transfer: Option<LastTransfer>,
    /// Unix seconds of the last time a primary confirmed the version.
    pub last_success: Option<u64>,
    pub last_error: Option<String>,
    pub expired: bool,
    /// A newer version came but could not be written to disk, so the
    /// older one is still served; retried with backoff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persist_error: Option<String>,
    /// SOA refresh, retry and expire of the version served, in seconds,
    /// after the config's clamps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// The last NOTIFY round to the zone's `notify` targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_out: Option<crate::axfr::notify_out::RoundView>,
    /// The last transfers out of this zone (at most 16), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transfers_out: Vec<crate::axfr::out::stats::Recent>,
    /// A consumer catalog: what it applied, its members, held removals,
    /// why its last version was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<super::consumer::CatalogView>,
    /// A catalog member: the consumer catalog that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_of: Option<String>,
}

/// A zone's last transfer that gave a new version.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LastTransfer {
    /// Unix seconds.
    pub at: u64,
    /// "axfr" or "ixfr": what was delivered.
    pub kind: Option<String>,
    /// Bytes of DNS messages received.
    pub bytes: Option<u64>,
    /// From the request to the new version served.
    pub duration_ms: Option<u64>,
    pub primary: Option<String>,
}

/// The SOA timers a secondary zone runs on.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timers {
    pub refresh: u64,
    pub retry: u64,
    pub expire: u64,
}

impl ZoneManager {
    pub(super) fn view(&self, m: &Managed) -> ZoneView {
        let set = self.inner.server.store().load();
        let served = set.get(&m.apex);
        let zone = served.and_then(|s| s.zone.as_ref());
        let status = self.inner.engine.status(&m.apex).unwrap_or_default();
        let expired = served.is_some_and(|s| s.expired);
        let last_transfer = status.last_transfer_unix.map(|at| LastTransfer {
            at,
            kind: status.source.filter(|s| *s != "disk").map(str::to_string),
            bytes: status.last_transfer_bytes,
            duration_ms: status.last_transfer_ms,
            primary: status.primary.clone(),
        });
        let mut v = ZoneView {
            name: m.config.name.clone(),
            kind: "file",
            origin: m.origin,
            state: match zone {
                Some(_) if expired => "expired",
                Some(_) => "ok",
                None if served.is_some() && self.first_attempt_pending(&m.apex) => "loading",
                None => "failed",
            },
            serial: zone.map(|z| z.info.serial),
            records: zone.map(|z| z.info.records),
            file: None,
            primaries: Vec::new(),
            tsig_key: None,
            primary: status.primary,
            source: status.source.map(str::to_string),
            last_transfer,
            last_success: status.last_success_unix,
            last_error: status.last_error.or_else(|| m.load_error.clone()),
            expired,
            persist_error: status.persist_error,
            timers: None,
            notify_out: self.inner.notify_out.last_round(&m.apex),
            transfers_out: self.inner.server.xfr_out.stats.recent(&m.apex),
            catalog: self.catalog_view(&m.apex),
            member_of: m
                .member_of
                .as_ref()
                .map(|c| super::canonical_name(&crate::zone::name::to_text(c))),
        };
        match &m.config.source {
            ZoneSource::File(path) => v.file = Some(path.display().to_string()),
            ZoneSource::Secondary {
                primaries,
                tsig_key,
                timers,
                ..
            } => {
                v.kind = "secondary";
                v.primaries = primaries.iter().map(|p| p.to_string()).collect();
                v.tsig_key = tsig_key.clone();
                v.timers = zone.map(|z| Timers {
                    refresh: timers.refresh(z.info.refresh).as_secs(),
                    retry: timers.retry(z.info.retry).as_secs(),
                    expire: timers.expire(z.info.expire).as_secs(),
                });
            }
        }
        v
    }
}

pub(super) fn broken_view(name: &str, entry: &ApiZone, why: &str) -> ZoneView {
    ZoneView {
        name: name.to_string(),
        kind: "secondary",
        origin: Origin::Api,
        state: "error",
        serial: None,
        records: None,
        file: None,
        primaries: entry.primaries.clone(),
        tsig_key: entry.tsig_key.clone(),
        primary: None,
        source: None,
        last_transfer: None,
        last_success: None,
        last_error: Some(why.to_string()),
        expired: false,
        persist_error: None,
        timers: None,
        notify_out: None,
        transfers_out: Vec::new(),
        catalog: None,
        member_of: None,
    }
}
