//! The transfer-out rules the zone manager installs in the server: who may
//! AXFR/IXFR each zone (`allow-transfer`, `transfer-tsig-key`), for config
//! and API zones, file and secondary zones alike.

use std::collections::HashMap;

use tracing::error;

use super::{Registry, ZoneManager};

impl ZoneManager {
    /// Installs who may transfer each zone out (config and API zones, file
    /// and secondary zones alike), from each zone's `allow-transfer` and
    /// `transfer-tsig-key`.
    pub(super) fn install_transfer_out(&self, reg: &Registry) {
        let mut zones = HashMap::new();
        for m in reg.zones.values() {
            let out = &m.config.out;
            if out.allow_transfer.is_empty() {
                continue;
            }
            let key = match &out.tsig_key {
                Some(k) => match self.inner.keys.get(k) {
                    Some(key) => Some(key.clone()),
                    None => {
                        // check-config refuses this; refuse every transfer
                        // rather than send the zone unsigned.
                        error!(zone = %m.config.name, key = %k, "transfer-tsig-key names no usable key: transfers out refused");
                        continue;
                    }
                },
                None => None,
            };
            zones.insert(
                m.apex.clone().into_boxed_slice(),
                crate::axfr::out::OutAcl {
                    allow: out.allow_transfer.clone(),
                    key,
                },
            );
        }
        self.inner.server.xfr_out.set_table(crate::axfr::out::OutTable {
            zones,
            keys: self.inner.wire_keys.clone(),
            history_dir: Some(self.inner.engine.data_dir().to_path_buf()),
        });
    }
}
