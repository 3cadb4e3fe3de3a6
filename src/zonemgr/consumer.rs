//! Consumer catalogs (`catalog = "consumer"`, RFC 9432) driven by the zone
//! manager: each new version of a catalog zone becomes member zones added,
//! removed and reset here, through the same [`ZoneManager`] calls the API
//! and reload use.
//!
//! The decisions are made by the sans-IO core ([`crate::catalog::Consumer`]);
//! this module feeds it and carries out its actions:
//!
//! - **Trigger.** A task watches the zone store; when a consumer catalog
//!   serves a serial other than the one last applied, the version is
//!   parsed (off the reactor) and applied. A catalog that expired or has
//!   no version changes nothing: its members keep serving until their own
//!   expire.
//! - **Crash safety.** The engine has the catalog's snapshot on disk before
//!   it serves it; the state file (member set, origins) is written and
//!   synced next; only then are zones added or removed. A crash between
//!   the two leaves the state's member set, which the next start serves
//!   from disk ([`Restored::load`]) before any primary answers; a crash
//!   before the state file leaves the old set, and the version is applied
//!   again after the restart. Either way the node holds a set the catalog
//!   had, never a mix.
//! - **Many at once.** Every change of one version runs inside
//!   [`ZoneManager::defer_installs`]: 1,000 new members are 1,000 engine
//!   additions (each transferred at once) and one install of the NOTIFY
//!   and transfer tables. Members not named by the new version are not
//!   touched.
//! - **SIGHUP** ([`ZoneManager::reconfigure_catalogs`]). A catalog zone
//!   that stays keeps its members untouched (no reset, no transfer); one
//!   removed from the config takes the members it made with it, files and
//!   state file included (as Knot does; zones it ignored because they are
//!   configured otherwise stay); one added is applied once it serves a
//!   version. Members whose settings changed (the catalog zone's
//!   primaries, their template) get them, their versions kept.
//! - **Held removals.** A version removing more than
//!   `catalog-max-removals` members removes none of them until
//!   [`ZoneManager::accept_removals`] (`POST /zones/{catalog}/accept-removals`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tracing::{error, info, warn};

use super::{Managed, Origin, ZoneError, ZoneManager, canonical_name};
use crate::axfr::engine::Stop;
use crate::catalog::{self, Action, CatalogError, Consumer, Context, Owner, Settings, state};
use crate::config::{CatalogRole, Config, ZoneConfig, ZoneSource, ZoneSpec};
use crate::zone::name;

/// Every consumer catalog's applied state, by catalog apex (wire).
pub type Consumers = HashMap<Box<[u8]>, Consumer>;

/// Counters of the catalog consumers (for `/metrics`).
#[derive(Default)]
pub struct Stats {
    /// Versions applied.
    pub applied: AtomicU64,
    /// Broken versions (nothing changed).
    pub broken: AtomicU64,
    /// Versions whose removals were held.
    pub holds: AtomicU64,
    /// Members ignored because their zone belongs to someone else.
    pub conflicts: AtomicU64,
    /// Member zones added, removed, reset.
    pub added: AtomicU64,
    pub removed: AtomicU64,
    pub reset: AtomicU64,
    /// Zone changes that failed (logged with the zone).
    pub failed: AtomicU64,
    /// Each catalog's view as of its last change (readable while a
    /// version is being applied).
    views: std::sync::Mutex<HashMap<Box<[u8]>, CatalogView>>,
    /// The serial of each catalog's version looked at last, applied or
    /// found broken: a broken version is not parsed again, and the core's
    /// serial stays the one applied.
    seen: std::sync::Mutex<HashMap<Box<[u8]>, u32>>,
}

impl Stats {
    fn seen(&self, catalog: &[u8]) -> Option<u32> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(catalog)
            .copied()
    }

    fn set_seen(&self, catalog: &[u8], serial: u32) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(catalog.into(), serial);
    }

    pub(super) fn publish(&self, c: &Consumer) {
        let v = CatalogView {
            role: "consumer",
            applied_serial: c.serial,
            members: c.len(),
            owned: c.entries().filter(|e| e.owned).count(),
            held_removals: c.held(),
            error: c.error.as_ref().map(CatalogError::to_string),
        };
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views.insert(c.settings.catalog.clone(), v);
    }
}

/// One consumer catalog as the API shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CatalogView {
    /// "consumer".
    pub role: &'static str,
    /// Serial of the catalog version applied last.
    pub applied_serial: Option<u32>,
    /// Member zones this catalog lists (or held), and those it made here.
    pub members: usize,
    pub owned: usize,
    /// Members no longer listed whose removal waits for accept-removals.
    pub held_removals: usize,
    /// Why the last version was not applied (a broken catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the data dir holds of the consumer catalogs at start-up.
#[derive(Default)]
pub struct Restored {
    pub consumers: Consumers,
    /// The member zones to serve (from their snapshots) and their catalog.
    pub zones: Vec<(Arc<ZoneConfig>, Box<[u8]>)>,
}

impl Restored {
    /// Reads the state file of every consumer catalog of `config` and
    /// derives each owned member's zone. A member that clashes with a zone
    /// of the config or of `taken` (API zones) is left out, and logged.
    pub fn load(config: &Config, taken: &[Arc<ZoneConfig>]) -> Restored {
        let mut out = Restored::default();
        let dir = config.node.data_dir.join("zones");
        let mut names: std::collections::HashSet<String> = config.zones.iter().map(|z| z.name.clone()).collect();
        names.extend(taken.iter().map(|z| z.name.clone()));
        for cat in config.zones.iter() {
            let Some(settings) = settings_of(cat) else { continue };
            let apex = settings.catalog.clone();
            let consumer = match state::read(&dir, &apex) {
                Ok(Some(s)) => Consumer::from_entries(settings, s.serial, s.entries),
                Ok(None) => Consumer::new(settings),
                Err(e) => {
                    error!(zone = %cat.name, "catalog state not usable, the catalog is applied afresh: {e}");
                    Consumer::new(settings)
                }
            };
            for e in consumer.entries().filter(|e| e.owned) {
                let zone_name = canonical_name(&name::to_text(&e.member.zone));
                if names.contains(&zone_name) {
                    warn!(zone = %zone_name, catalog = %cat.name, "catalog member not restored: a zone of that name is configured otherwise");
                    continue;
                }
                let template = template_for(config, &consumer.settings, e.member.group.as_deref());
                match member_config(config, cat, &zone_name, template.as_deref()) {
                    Ok(z) => {
                        names.insert(zone_name);
                        out.zones.push((z, apex.clone()));
                    }
                    Err(why) => error!(zone = %zone_name, catalog = %cat.name, "catalog member not restored: {why}"),
                }
            }
            out.consumers.insert(apex, consumer);
        }
        reload::forget_removed_catalogs(&dir, &out.consumers, &names);
        if !out.zones.is_empty() {
            info!(zones = out.zones.len(), "catalog members restored from the data dir");
        }
        out
    }
}

/// The consumer settings of a `catalog = "consumer"` zone.
fn settings_of(z: &ZoneConfig) -> Option<Settings> {
    let Some(CatalogRole::Consumer(c)) = &z.catalog else {
        return None;
    };
    let apex = name::from_text(&z.name).ok()?;
    Some(Settings {
        catalog: apex.into(),
        member_template: c.member_template.clone(),
        max_removals: c.max_removals,
    })
}

/// The template of a member with `group` (as the core decides it).
pub(super) fn template_for(config: &Config, s: &Settings, group: Option<&str>) -> Option<String> {
    match group {
        Some(g) if config.template(g).is_some() => Some(g.to_string()),
        _ => s.member_template.clone(),
    }
}

/// A member zone's config: its template's keys; the catalog zone's
/// primaries and TSIG key when the template names no primaries.
pub(super) fn member_config(
    config: &Config,
    catalog: &ZoneConfig,
    zone: &str,
    template: Option<&str>,
) -> Result<Arc<ZoneConfig>, String> {
    let mut spec = ZoneSpec {
        name: zone.to_string(),
        template: template.map(str::to_string),
        ..ZoneSpec::default()
    };
    let template_sets = template
        .and_then(|t| config.template(t))
        .is_some_and(|t| t.sets_source());
    if !template_sets {
        let ZoneSource::Secondary {
            primaries, tsig_key, ..
        } = &catalog.source
        else {
            return Err(format!(
                "the catalog zone {} has no primaries to lend and the template names none",
                catalog.name
            ));
        };
        spec.primaries = Some(primaries.iter().map(|p| p.to_string()).collect());
        spec.tsig_key = tsig_key.clone();
    }
    let z = config
        .derive_zone(&spec)
        .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))?;
    if !z.source.is_secondary() {
        return Err(format!(
            "template {:?} makes it a file zone; catalog members are secondary zones",
            template.unwrap_or_default()
        ));
    }
    Ok(Arc::new(z))
}

/// What the core asks about the node, answered from the registry.
struct View<'a> {
    config: &'a Config,
    zones: &'a std::collections::BTreeMap<String, Managed>,
    others: &'a Consumers,
}

impl Context for View<'_> {
    fn has_template(&self, name: &str) -> bool {
        self.config.template(name).is_some()
    }

    fn owner(&self, zone: &[u8]) -> Owner {
        match self.zones.get(&canonical_name(&name::to_text(zone))) {
            None => Owner::Nobody,
            Some(m) => match (&m.origin, &m.member_of) {
                (Origin::Catalog, Some(c)) => Owner::Catalog(c.clone()),
                _ => Owner::Configured,
            },
        }
    }

    fn coo(&self, catalog: &[u8], zone: &[u8]) -> Option<Box<[u8]>> {
        self.others.get(catalog).and_then(|c| c.coo_of(zone)).map(Into::into)
    }
}

impl ZoneManager {
    /// Starts the task that applies each new version of the consumer
    /// catalogs. Call it once, inside the runtime, after [`ZoneManager::start`].
    pub fn spawn_catalog_consumers(&self) {
        let me = self.clone();
        let mut rx = self.inner.server.store().subscribe();
        tokio::spawn(async move {
            loop {
                me.apply_catalogs().await;
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Applies the catalogs whose served serial is not the one applied.
    async fn apply_catalogs(&self) {
        let due: Vec<(Box<[u8]>, Arc<crate::zone::Zone>)> = {
            let consumers = self.inner.consumers.lock().await;
            if consumers.is_empty() {
                return;
            }
            let set = self.inner.server.store().load();
            let stats = &self.inner.catalog_stats;
            consumers
                .iter()
                .filter_map(|(apex, c)| {
                    let served = set.get(apex)?;
                    let zone = served.zone.as_ref().filter(|_| !served.expired)?;
                    let serial = Some(zone.info.serial);
                    (c.serial != serial && stats.seen(apex) != serial).then(|| (apex.clone(), zone.clone()))
                })
                .collect()
        };
        for (apex, zone) in due {
            self.apply_catalog(&apex, zone).await;
        }
    }

    async fn apply_catalog(&self, apex: &[u8], zone: Arc<crate::zone::Zone>) {
        let serial = zone.info.serial;
        let started = std::time::Instant::now();
        let parsed = match tokio::task::spawn_blocking(move || catalog::parse(&zone)).await {
            Ok(p) => p,
            Err(e) => {
                error!(zone = %name::to_text(apex), "catalog parse task failed: {e}");
                return;
            }
        };
        let mut consumers = self.inner.consumers.lock().await;
        let Some(mut consumer) = consumers.remove(apex) else {
            return;
        };
        let before = consumer.clone();
        let config = self.config();
        let actions = {
            let reg = self.lock();
            let view = View {
                config: &config,
                zones: &reg.zones,
                others: &consumers,
            };
            consumer.apply(parsed, &view)
        };
        let applied = started.elapsed();
        if matches!(actions.first(), Some(Action::Error(_))) {
            // Broken: nothing changed but the error shown; the serial is
            // remembered so the same version is not parsed again.
            if let Some(Action::Error(e)) = actions.first() {
                self.inner.catalog_stats.broken.fetch_add(1, Ordering::Relaxed);
                error!(zone = %name::to_text(apex), serial, "catalog version not applied, the members stay as they are: {e}");
            }
            self.inner.catalog_stats.set_seen(apex, serial);
            self.inner.catalog_stats.publish(&consumer);
            consumers.insert(apex.into(), consumer);
            return;
        }
        let parse_ms = applied.as_millis() as u64;
        let state_started = std::time::Instant::now();
        if let Err(e) = self.write_state(&consumer).await {
            error!(zone = %name::to_text(apex), serial, "catalog state not written, version not applied (retried at the next change): {e}");
            consumers.insert(apex.into(), before);
            return;
        }
        self.inner.catalog_stats.applied.fetch_add(1, Ordering::Relaxed);
        self.inner.catalog_stats.set_seen(apex, serial);
        let n = actions.len();
        self.inner.catalog_stats.publish(&consumer);
        consumers.insert(apex.into(), consumer);
        let state_ms = state_started.elapsed().as_millis() as u64;
        let changes_started = std::time::Instant::now();
        self.carry_out(apex, actions, &mut consumers).await;
        let changes_ms = changes_started.elapsed().as_millis() as u64;
        // A coo or a released zone may let other catalogs claim members.
        let others: Vec<Box<[u8]>> = consumers.keys().filter(|k| ***k != *apex).cloned().collect();
        for other in others {
            let Some(mut c) = consumers.remove(&other) else {
                continue;
            };
            let actions = {
                let reg = self.lock();
                let view = View {
                    config: &config,
                    zones: &reg.zones,
                    others: &consumers,
                };
                c.recheck(&view)
            };
            let changed = !actions.is_empty();
            if changed && let Err(e) = self.write_state(&c).await {
                error!(zone = %name::to_text(&other), "catalog state not written: {e}");
            }
            self.inner.catalog_stats.publish(&c);
            consumers.insert(other.clone(), c);
            if changed {
                self.carry_out(&other, actions, &mut consumers).await;
            }
        }
        info!(zone = %name::to_text(apex), serial, changes = n, parse_ms, state_ms, changes_ms, "catalog version applied");
    }

    async fn write_state(&self, c: &Consumer) -> Result<(), String> {
        let dir = self.inner.engine.data_dir().to_path_buf();
        let st = state::State {
            catalog: c.settings.catalog.clone(),
            serial: c.serial,
            entries: c.entries().cloned().collect(),
        };
        tokio::task::spawn_blocking(move || state::write(&dir, &st))
            .await
            .map_err(|e| format!("write task failed: {e}"))?
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Carries out the core's actions for catalog `apex`.
    async fn carry_out(&self, apex: &[u8], actions: Vec<Action>, consumers: &mut Consumers) {
        let cat_name = canonical_name(&name::to_text(apex));
        let Some(cat) = self.config().zone(&cat_name).map(|z| Arc::new(z.clone())) else {
            return;
        };
        let config = self.config();
        let _batch = self.defer_installs();
        let stats = &self.inner.catalog_stats;
        for action in actions {
            let result = match action {
                Action::AddZone { name: z, template } => {
                    let zn = canonical_name(&name::to_text(&z));
                    stats.added.fetch_add(1, Ordering::Relaxed);
                    self.add_member(&config, &cat, &zn, template.as_deref(), apex).await
                }
                Action::RemoveZone { name: z } => {
                    let zn = canonical_name(&name::to_text(&z));
                    stats.removed.fetch_add(1, Ordering::Relaxed);
                    self.remove(&zn, Origin::Catalog, Stop::Forget)
                        .await
                        .map_err(|e| (zn, e))
                }
                Action::ResetZone { name: z, template } => {
                    let zn = canonical_name(&name::to_text(&z));
                    stats.reset.fetch_add(1, Ordering::Relaxed);
                    info!(zone = %zn, catalog = %cat_name, "catalog member reset (its label changed): transferred afresh");
                    match self.remove(&zn, Origin::Catalog, Stop::Forget).await {
                        Ok(()) | Err(ZoneError::NotFound(_)) => {
                            self.add_member(&config, &cat, &zn, template.as_deref(), apex).await
                        }
                        Err(e) => Err((zn, e)),
                    }
                }
                Action::ChangeTemplate { name: z, template } => {
                    let zn = canonical_name(&name::to_text(&z));
                    self.replace_member(&config, &cat, &zn, template.as_deref(), apex).await
                }
                Action::Adopt {
                    name: z,
                    from,
                    template,
                } => {
                    let zn = canonical_name(&name::to_text(&z));
                    info!(zone = %zn, from = %name::to_text(&from), to = %cat_name, "catalog member migrates (coo)");
                    if let Some(old) = consumers.get_mut(&from) {
                        old.release(&z);
                        self.inner.catalog_stats.publish(old);
                        if let Err(e) = self.write_state(old).await {
                            error!(zone = %name::to_text(&from), "catalog state not written: {e}");
                        }
                    }
                    self.replace_member(&config, &cat, &zn, template.as_deref(), apex).await
                }
                Action::Conflict { name: z, owner } => {
                    stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    warn!(zone = %name::to_text(&z), catalog = %cat_name, ?owner, "catalog member ignored: the zone is served here already and belongs to someone else");
                    Ok(())
                }
                Action::UnknownGroup { name: z, group } => {
                    warn!(zone = %name::to_text(&z), catalog = %cat_name, group = %group, "catalog member's group names no template; member-template used");
                    Ok(())
                }
                Action::Hold { removals, limit } => {
                    stats.holds.fetch_add(1, Ordering::Relaxed);
                    warn!(catalog = %cat_name, removals, limit, "catalog removals held (more than catalog-max-removals): nothing removed until POST /zones/{cat_name}/accept-removals");
                    Ok(())
                }
                Action::Error(e) => {
                    warn!(catalog = %cat_name, "catalog not applied: {e}");
                    Ok(())
                }
            };
            if let Err((zone, e)) = result {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                error!(zone = %zone, catalog = %cat_name, "catalog member change failed: {e}");
            }
        }
    }

    async fn add_member(
        &self,
        config: &Config,
        cat: &ZoneConfig,
        zone: &str,
        template: Option<&str>,
        apex: &[u8],
    ) -> Result<(), (String, ZoneError)> {
        let z = member_config(config, cat, zone, template).map_err(|e| (zone.to_string(), ZoneError::Invalid(e)))?;
        self.add_inner(z, Origin::Catalog, None, Some(apex.into()))
            .await
            .map_err(|e| (zone.to_string(), e))
    }

    /// A member's settings changed (group, migration): served on, from the
    /// version it has.
    async fn replace_member(
        &self,
        config: &Config,
        cat: &ZoneConfig,
        zone: &str,
        template: Option<&str>,
        apex: &[u8],
    ) -> Result<(), (String, ZoneError)> {
        let z = member_config(config, cat, zone, template).map_err(|e| (zone.to_string(), ZoneError::Invalid(e)))?;
        let origin = {
            let mut reg = self.lock();
            let m = reg.zones.get_mut(zone);
            let origin = m.as_ref().map(|m| m.origin);
            if let Some(m) = m.filter(|m| m.origin == Origin::Catalog) {
                m.member_of = Some(apex.into());
            }
            origin
        };
        if origin == Some(Origin::Catalog) {
            // Its engine state and view stay: new settings in place, or a
            // new source while the version keeps answering.
            if self.update_settings(z.clone()) {
                return Ok(());
            }
            return self.replace_source(z).await.map_err(|e| (zone.to_string(), e));
        }
        if let Some(origin) = origin {
            self.remove(zone, origin, Stop::KeepServing)
                .await
                .map_err(|e| (zone.to_string(), e))?;
        }
        self.add_inner(z, Origin::Catalog, None, Some(apex.into()))
            .await
            .map_err(|e| (zone.to_string(), e))
    }

    /// Carries out a held removal of consumer catalog `zone_name`.
    pub async fn accept_removals(&self, zone_name: &str) -> Result<usize, ZoneError> {
        let key = canonical_name(zone_name);
        let apex: Box<[u8]> = name::from_text(&key)
            .map_err(|e| ZoneError::Invalid(format!("name: {e}")))?
            .into();
        let mut consumers = self.inner.consumers.lock().await;
        let Some(consumer) = consumers.get_mut(&apex) else {
            return Err(ZoneError::NotFound(format!(
                "no consumer catalog named {zone_name:?} here"
            )));
        };
        let held = consumer.held();
        if held == 0 {
            return Ok(0);
        }
        let before = consumer.clone();
        let actions = consumer.accept_removals();
        let snapshot = consumer.clone();
        if let Err(e) = self.write_state(&snapshot).await {
            consumers.insert(apex, before);
            return Err(ZoneError::Failed(format!(
                "catalog {key}: state not written, nothing removed: {e}"
            )));
        }
        self.inner.catalog_stats.publish(&snapshot);
        info!(catalog = %key, removals = held, "held catalog removals accepted");
        self.carry_out(&apex, actions, &mut consumers).await;
        Ok(held)
    }

    /// The consumer view of catalog `apex`, if it is one.
    pub(super) fn catalog_view(&self, apex: &[u8]) -> Option<CatalogView> {
        let views = self.inner.catalog_stats.views.lock().unwrap_or_else(|e| e.into_inner());
        views.get(apex).cloned()
    }

    /// The catalog counters (for `/metrics`).
    pub fn catalog_stats(&self) -> &Stats {
        &self.inner.catalog_stats
    }

    /// Every consumer catalog's view, by name.
    pub fn catalog_views(&self) -> Vec<(String, CatalogView)> {
        let views = self.inner.catalog_stats.views.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = views
            .iter()
            .map(|(apex, v)| (canonical_name(&name::to_text(apex)), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[path = "consumer_reload.rs"]
mod reload;
#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
