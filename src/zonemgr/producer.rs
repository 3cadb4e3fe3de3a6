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

    /// Loads a config file zone again (the old version serves meanwhile).
    async fn reload_file_zone(&self, zone: Arc<ZoneConfig>) -> Result<(), ZoneError> {
        self.remove(&zone.name, Origin::Config, Stop::KeepServing).await?;
        self.add(zone, Origin::Config).await
    }
}
