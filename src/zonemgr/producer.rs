//! Producer catalogs of the zone manager: after a zone added or removed
//! through the API, each producer catalog (`crate::catalog::producer`) is
//! written again from the zones served, and one that changed is loaded
//! again as the file zone it is (IXFR history, NOTIFY out as for any file
//! zone). Reload (SIGHUP) calls the same once it has applied the zones.

use std::sync::Arc;

use tracing::warn;

use super::{Origin, ZoneError, ZoneManager};
use crate::axfr::engine::Stop;
use crate::config::{CatalogRole, ZoneConfig};

impl ZoneManager {
    /// Rewrites the producer catalogs from the zones served now and serves
    /// the new version of each that changed; returns the ones served anew.
    pub async fn rebuild_catalogs(&self) -> Vec<String> {
        let _one = self.inner.catalogs.lock().await;
        let zones: Vec<Arc<ZoneConfig>> = self.lock().zones.values().map(|m| m.config.clone()).collect();
        if !zones.iter().any(|z| z.catalog == Some(CatalogRole::Producer)) {
            return Vec::new();
        }
        let dir = self.config().node.data_dir.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::catalog::producer::rebuild(&dir, zones.iter().map(|z| &**z), crate::tsig::unix_now())
        })
        .await;
        let changed = match written {
            Ok(c) => c,
            Err(e) => {
                warn!("producer catalogs not rebuilt: task failed: {e}");
                return Vec::new();
            }
        };
        let mut served = Vec::new();
        for name in changed {
            let producer = self.lock().zones.get(&name).map(|m| m.config.clone());
            let Some(producer) = producer else { continue };
            match self.reload_file_zone(producer).await {
                Ok(()) => served.push(name),
                Err(e) => warn!(zone = %name, "producer catalog written but not served anew: {e}"),
            }
        }
        served
    }

    /// Before a reload applies `new`: writes the file of each producer
    /// catalog of `new` that has none yet (a new producer, or a standby
    /// hub promoted to producer), so that it loads like any file zone; its
    /// serial continues above the version served now (the other hub's).
    /// Producers that have a file are rewritten after the zones changed
    /// ([`ZoneManager::rebuild_catalogs`]): their new members are served
    /// before the catalog names them.
    pub async fn prepare_catalogs(&self, new: &crate::config::Config) {
        let missing: Vec<Arc<ZoneConfig>> = new
            .zones
            .iter()
            .filter(|z| z.catalog == Some(CatalogRole::Producer))
            .filter(|z| !crate::config::producer_file(&new.node.data_dir, &z.name).exists())
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut zones: Vec<Arc<ZoneConfig>> = new.zones.clone();
        zones.extend(
            self.lock()
                .zones
                .values()
                .filter(|m| m.origin == Origin::Api)
                .map(|m| m.config.clone()),
        );
        let set = self.inner.server.store().load();
        let floors: Vec<(String, Option<u32>)> = missing
            .iter()
            .map(|z| {
                let served = crate::zone::name::from_text(&z.name)
                    .ok()
                    .and_then(|apex| set.get(&apex).and_then(|s| s.zone.as_ref()).map(|z| z.info.serial));
                (z.name.clone(), served)
            })
            .collect();
        let dir = new.node.data_dir.clone();
        let task = tokio::task::spawn_blocking(move || {
            let all = crate::catalog::producer::members(zones.iter().map(|z| &**z));
            for (name, floor) in floors {
                let Some(members) = all.get(&name) else { continue };
                let path = crate::config::producer_file(&dir, &name);
                match crate::catalog::producer::write_above(&path, &name, members, crate::tsig::unix_now(), floor) {
                    Ok(w) => {
                        tracing::info!(zone = %name, serial = w.serial, members = members.len(), "producer catalog written (new producer)")
                    }
                    Err(e) => warn!(zone = %name, "producer catalog not written: {e}"),
                }
            }
        });
        if let Err(e) = task.await {
            warn!("producer catalogs not written: task failed: {e}");
        }
    }

    /// Loads a config file zone again (the old version serves meanwhile).
    async fn reload_file_zone(&self, zone: Arc<ZoneConfig>) -> Result<(), ZoneError> {
        self.remove(&zone.name, Origin::Config, Stop::KeepServing).await?;
        self.add(zone, Origin::Config).await
    }
}
