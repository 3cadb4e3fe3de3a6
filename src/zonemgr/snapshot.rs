//! What the zone manager reads back of a secondary zone: the version
//! served now, and its persisted snapshot with the timers kept beside it.

use tracing::warn;

use super::HeldVersion;
use crate::axfr::engine;
use crate::zone::persist;

pub(super) fn served_version(store: &crate::zone::Store, apex: &[u8]) -> Option<u32> {
    store
        .load()
        .get(apex)
        .and_then(|s| s.zone.as_ref())
        .map(|z| z.info.serial)
}

/// A persisted copy of a secondary zone, if one is there and valid.
pub(super) fn read_snapshot(dir: &std::path::Path, apex: &[u8]) -> Option<(crate::zone::Zone, HeldVersion)> {
    let path = dir.join(persist::file_name(apex));
    if !path.exists() {
        return None;
    }
    match persist::read_zone(&path) {
        Ok((zone, meta)) => {
            let serial = zone.info.serial;
            let expire_at_unix = engine::read_timers(&engine::timers_path(dir, apex), serial).or(meta.expire_at_unix);
            Some((
                zone,
                HeldVersion {
                    serial,
                    expire_at_unix,
                    primary: meta.primary,
                },
            ))
        }
        Err(e) => {
            warn!("persisted copy not usable, transferring anew: {e}");
            None
        }
    }
}
