//! The consumer catalogs at a SIGHUP and at a start after a config change:
//! a catalog zone kept keeps its members (their settings follow the
//! catalog zone's primaries and their templates, versions kept); one
//! removed takes the members it made with it, their files and its state
//! file included (as Knot does); one added is applied once it serves a
//! version.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tracing::{error, info, warn};

use super::{Consumer, Consumers, Settings, member_config, settings_of, state, template_for};
use crate::axfr::engine::Stop;
use crate::config::Config;
use crate::zone::{name, persist};
use crate::zonemgr::{Origin, ZoneManager, canonical_name};

impl ZoneManager {
    /// SIGHUP: the consumer catalogs follow the new config (call it after
    /// the zones changed and [`ZoneManager::reconfigure`]).
    ///
    /// - A catalog zone removed from the config takes its members with it,
    ///   as Knot does: every zone it made is removed with its files, and
    ///   its state file is deleted (otherwise the members would stay served
    ///   with nothing to follow, and vanish at the next restart). Zones it
    ///   ignored (configured otherwise) stay.
    /// - A catalog zone added starts afresh (an old state file, if any, is
    ///   not trusted: its zones are not served) and is applied as soon as
    ///   it serves a version.
    /// - A catalog zone kept keeps its members, untouched, and takes the
    ///   new `member-template` and `catalog-max-removals` for the versions
    ///   to come.
    pub async fn reconfigure_catalogs(&self, config: &Config) {
        let wanted: HashMap<Box<[u8]>, Settings> = config
            .zones
            .iter()
            .filter_map(|z| settings_of(z))
            .map(|s| (s.catalog.clone(), s))
            .collect();
        {
            let mut consumers = self.inner.consumers.lock().await;
            let kept: Vec<Box<[u8]>> = consumers.keys().filter(|k| wanted.contains_key(*k)).cloned().collect();
            let gone: Vec<Box<[u8]>> = consumers.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
            for apex in gone {
                consumers.remove(&apex);
                self.drop_catalog(&apex).await;
            }
            for (apex, settings) in wanted {
                match consumers.get_mut(&apex) {
                    Some(c) if c.settings == settings => {}
                    Some(c) => {
                        c.settings = settings;
                        info!(zone = %name::to_text(&apex), "SIGHUP: consumer catalog settings applied");
                    }
                    None => {
                        let c = Consumer::new(settings);
                        self.inner.catalog_stats.publish(&c);
                        consumers.insert(apex.clone(), c);
                        info!(zone = %name::to_text(&apex), "SIGHUP: consumer catalog added; applied once it serves a version");
                    }
                }
            }
            for apex in kept {
                if let Some(c) = consumers.get(&apex) {
                    self.rederive_members(config, c).await;
                }
            }
        }
        self.apply_catalogs().await;
    }

    /// SIGHUP: the members of catalog `c` derive from its catalog zone
    /// (primaries and key lent) and from their templates; those whose
    /// settings changed get them, their versions kept (in place when only
    /// transfer-out settings changed; else the engine starts over with the
    /// new primaries from the version served).
    async fn rederive_members(&self, config: &Config, c: &Consumer) {
        let cat_name = canonical_name(&name::to_text(&c.settings.catalog));
        let Some(cat) = config.zone(&cat_name).cloned() else {
            return;
        };
        let owned: Vec<(String, Option<String>)> = c
            .entries()
            .filter(|e| e.owned)
            .map(|e| {
                let zone = canonical_name(&name::to_text(&e.member.zone));
                (zone, template_for(config, &c.settings, e.member.group.as_deref()))
            })
            .collect();
        let _batch = self.defer_installs();
        for (zone, template) in owned {
            let running = {
                let reg = self.lock();
                reg.zones
                    .get(&zone)
                    .filter(|m| m.origin == Origin::Catalog)
                    .map(|m| m.config.clone())
            };
            let Some(running) = running else { continue };
            let z = match member_config(config, &cat, &zone, template.as_deref()) {
                Ok(z) => z,
                Err(why) => {
                    error!(zone = %zone, catalog = %cat_name, "SIGHUP: catalog member keeps its settings: {why}");
                    continue;
                }
            };
            if format!("{running:?}") == format!("{z:?}") {
                continue;
            }
            if self.update_settings(z) {
                info!(zone = %zone, catalog = %cat_name, "SIGHUP: catalog member settings applied (no reload, no transfer)");
                continue;
            }
            match self
                .replace_member(config, &cat, &zone, template.as_deref(), &c.settings.catalog)
                .await
            {
                Ok(()) => info!(zone = %zone, catalog = %cat_name, "SIGHUP: catalog member updated (its version kept)"),
                Err((zone, e)) => {
                    self.inner.catalog_stats.failed.fetch_add(1, Ordering::Relaxed);
                    error!(zone = %zone, catalog = %cat_name, "SIGHUP: updating the catalog member failed: {e}");
                }
            }
        }
    }

    /// Removes the members catalog `apex` made, and its state file; call
    /// it holding the consumers' lock, the catalog already out of it.
    async fn drop_catalog(&self, apex: &[u8]) {
        let cat_name = canonical_name(&name::to_text(apex));
        let made: Vec<String> = {
            let reg = self.lock();
            reg.zones
                .iter()
                .filter(|(_, m)| m.origin == Origin::Catalog && m.member_of.as_deref() == Some(apex))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let stats = &self.inner.catalog_stats;
        {
            let _batch = self.defer_installs();
            for zone in &made {
                match self.remove(zone, Origin::Catalog, Stop::Forget).await {
                    Ok(()) => {
                        stats.removed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        error!(zone = %zone, catalog = %cat_name, "SIGHUP: removing the member of a removed catalog failed: {e}");
                    }
                }
            }
        }
        let file = state::path(self.inner.engine.data_dir(), apex);
        let shown = file.display().to_string();
        match tokio::task::spawn_blocking(move || std::fs::remove_file(&file)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(Err(e)) => error!(catalog = %cat_name, "SIGHUP: cannot delete the catalog state file {shown}: {e}"),
            Err(e) => error!(catalog = %cat_name, "SIGHUP: catalog state file removal task failed: {e}"),
        }
        stats.views.lock().unwrap_or_else(|e| e.into_inner()).remove(apex);
        info!(catalog = %cat_name, members = made.len(), "SIGHUP: consumer catalog removed from the config: its members removed");
    }
}

/// A consumer catalog removed from the config while the node was stopped:
/// as at a SIGHUP ([`ZoneManager::reconfigure_catalogs`]), the members it
/// made go with it. Their files (snapshot, journal, timers) and its state
/// file are deleted, except the files of a zone now configured otherwise
/// (`taken`). A state file that cannot be read is left as it is (logged).
pub(super) fn forget_removed_catalogs(
    dir: &std::path::Path,
    kept: &Consumers,
    taken: &std::collections::HashSet<String>,
) {
    let Ok(listing) = std::fs::read_dir(dir) else { return };
    for file in listing.filter_map(Result::ok).map(|e| e.path()) {
        if file.extension().is_none_or(|e| e != "catalog") {
            continue;
        }
        let st = match crate::files::read(&file, crate::files::STATE_MAX)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|data| state::decode(&data, &file))
        {
            Ok(st) => st,
            Err(e) => {
                warn!("catalog state file left as it is: {e}");
                continue;
            }
        };
        if kept.contains_key(&st.catalog) || state::path(dir, &st.catalog) != file {
            continue;
        }
        let cat_name = canonical_name(&name::to_text(&st.catalog));
        let mut removed = 0;
        for e in st.entries.iter().filter(|e| e.owned) {
            let zone = canonical_name(&name::to_text(&e.member.zone));
            if taken.contains(&zone) {
                continue;
            }
            let timers = crate::axfr::engine::timers_path(dir, &e.member.zone);
            for path in [timers.with_extension("timers.tmp"), timers] {
                if let Err(err) = std::fs::remove_file(&path)
                    && err.kind() != std::io::ErrorKind::NotFound
                {
                    warn!(zone = %zone, catalog = %cat_name, "cannot delete {}: {err}", path.display());
                }
            }
            match persist::remove(dir, &e.member.zone) {
                Ok(()) => removed += 1,
                Err(err) => {
                    warn!(zone = %zone, catalog = %cat_name, "cannot delete the files of a member of a removed catalog: {err}")
                }
            }
        }
        if let Err(err) = std::fs::remove_file(&file) {
            warn!(catalog = %cat_name, "cannot delete {}: {err}", file.display());
        }
        info!(catalog = %cat_name, members = removed, "consumer catalog no longer in the config: the files of its members deleted");
    }
}
