//! Settings changes that need no new version (SIGHUP): a zone whose
//! source is unchanged gets its new transfers-out settings (who may
//! transfer, NOTIFY targets, `notify-source`, history bounds) in place,
//! without a reload or a transfer; zones added through the API are derived
//! anew from the new config (their `[[template]]` may have changed). The
//! members of consumer catalogs follow in `consumer_reload`.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::api_zones;
use super::{Managed, Origin, ZoneError, ZoneManager, canonical_name};
use crate::axfr::engine::Stop;
use crate::config::{Config, ZoneConfig};

/// Whether two settings of one zone differ in anything beyond what
/// [`ZoneManager::update_settings`] applies in place.
pub fn same_source(a: &ZoneConfig, b: &ZoneConfig) -> bool {
    a.name == b.name && format!("{:?}", a.source) == format!("{:?}", b.source)
}

impl ZoneManager {
    /// Applies new settings to a served zone whose source (file, or
    /// primaries, key and timers) did not change: the version served, the
    /// secondary engine's state and the zone's files stay; the tables read
    /// by the transfers out and NOTIFY out are installed again. False (and
    /// nothing changed) when the zone is not served here or its source
    /// differs: then it must be replaced.
    pub fn update_settings(&self, zone: Arc<ZoneConfig>) -> bool {
        let mut reg = self.lock();
        let Some(m) = reg.zones.get_mut(&zone.name) else {
            return false;
        };
        if !same_source(&m.config, &zone) {
            return false;
        }
        if m.config.out.notify_source != zone.out.notify_source && zone.source.is_secondary() {
            self.inner.engine.set_source(&m.apex, zone.out.notify_source);
        }
        if zone.source.is_secondary() {
            // A file zone's bounds apply at its next reload.
            let history = crate::zone::journal::Bounds::new(zone.out.history_depth, zone.out.history_bytes);
            self.inner.engine.set_history(&m.apex, history);
        }
        m.config = zone;
        self.install_notify(&reg);
        true
    }

    /// SIGHUP: zones added through the API derive from `config` from now
    /// on. Each is validated again; one whose settings changed gets them
    /// (in place, or replaced while its version keeps answering when its
    /// source changed); one that no longer validates keeps running as it
    /// was (logged); an entry that did not validate before and does now is
    /// served. The list file is not rewritten for any of this: its entries
    /// did not change.
    pub async fn reconfigure(&self, config: &Config) {
        *self.inner.config.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(config.clone());
        for entry in self.api_list() {
            let derived = api_zones::validate(&entry, config);
            let key = canonical_name(&entry.name);
            let (running, broken) = {
                let reg = self.lock();
                let running = reg.zones.get(&key).map(|m| m.config.clone());
                (running, reg.broken.contains_key(&key))
            };
            match (derived, running) {
                (Err(e), Some(_)) => {
                    error!(zone = %entry.name, "SIGHUP: zone added through the API no longer validates ({e}); it keeps its settings until this is fixed");
                }
                (Err(_), None) => {}
                (Ok((_, zone)), Some(old)) => {
                    if format!("{old:?}") == format!("{zone:?}") {
                        continue;
                    }
                    if self.update_settings(zone.clone()) {
                        info!(zone = %zone.name, "SIGHUP: settings of zone added through the API applied");
                        continue;
                    }
                    match self.replace_source(zone.clone()).await {
                        Ok(()) => info!(zone = %zone.name, "SIGHUP: zone added through the API updated"),
                        Err(e) => error!(zone = %zone.name, "SIGHUP: updating zone added through the API failed: {e}"),
                    }
                }
                (Ok((canonical, zone)), None) if broken => {
                    self.lock().broken.remove(&key);
                    match self.add_inner(zone.clone(), Origin::Api, Some(canonical), None).await {
                        Ok(()) => info!(zone = %zone.name, "SIGHUP: zone added through the API validates now; served"),
                        Err(e) => {
                            warn!(zone = %zone.name, "SIGHUP: zone added through the API validates now, but serving it failed: {e}");
                            self.lock().broken.insert(key, (entry, e.to_string()));
                        }
                    }
                }
                (Ok(_), None) => {}
            }
        }
    }

    /// Replaces an API zone's or a catalog member's settings when its
    /// source changed: its version keeps answering while the engine starts
    /// over with the new primaries. The list file keeps the entry as it was.
    pub(super) async fn replace_source(&self, zone: Arc<ZoneConfig>) -> Result<(), ZoneError> {
        let _change = self.inner.changes.lock().await;
        let (apex, was_secondary, origin) = {
            let reg = self.lock();
            let Some(m) = reg.zones.get(&zone.name) else {
                return Err(ZoneError::NotFound(format!("zone {} is not served here", zone.name)));
            };
            (m.apex.clone(), m.config.source.is_secondary(), m.origin)
        };
        if was_secondary && let Err(e) = self.inner.engine.remove(&apex, Stop::KeepServing).await {
            warn!(zone = %zone.name, "SIGHUP: {e}");
        }
        let acl = self.serve_new(&zone, &apex, origin).await?;
        let mut reg = self.lock();
        match acl {
            Some(acl) => reg.acls.insert(apex.clone().into(), acl),
            None => reg.acls.remove(apex.as_slice()),
        };
        if let Some(m) = reg.zones.get_mut(&zone.name) {
            *m = Managed {
                config: zone,
                origin,
                apex,
                api: m.api.take(),
                load_error: None,
                member_of: m.member_of.take(),
            };
        }
        self.install_notify(&reg);
        Ok(())
    }
}
