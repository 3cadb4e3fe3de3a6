//! The zone manager: the one place that adds and removes served zones while
//! the node runs. It keeps, in step, the zone store (what queries see), the
//! secondary engine's zones, the NOTIFY rules of the DNS listeners, the
//! list of zones added through the API (`api-zones.json`), and each zone's
//! files under `<data-dir>/zones`.
//!
//! Its callers sit above it: the management API (`mgmt`), the config
//! reload (`reload`) and the catalog consumers it drives itself
//! (`consumer`: each new version of a `catalog = "consumer"` zone becomes
//! member zones, [`Origin::Catalog`]). `producer` rewrites the hub's
//! producer catalogs after zones come and go; `api_zones` persists the API
//! zones; `settings` applies a SIGHUP's new settings in place; `view` is
//! what the API shows of a zone.
//!
//! At start-up [`ZoneManager::start`] takes over the zones the supervisor
//! loaded (config zones and API zones, their persisted copies already
//! published). After that, [`ZoneManager::add`] and [`ZoneManager::remove`]
//! change one zone at a time; changes are serialized, and a change that
//! fails leaves everything as it was. The management API adds with
//! [`Origin::Api`]; a config reload can call the same functions with
//! [`Origin::Config`] (a changed secondary zone: `remove(name,
//! Origin::Config, Stop::KeepServing)` then `add(zone, Origin::Config)`,
//! which picks up the version still served).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::{error, info, warn};

use crate::axfr::engine::{self, Engine, HeldVersion, SecondaryZone, Stop};
use crate::axfr::notify_out::{NotifySender, Targets};
use crate::config::{Config, Prefix, ZoneConfig, ZoneSource};
use crate::dns::Server;
use crate::dns::notify::{NotifyAcl, NotifyTable};
use crate::tsig::Key;
use crate::zone::journal::Bounds;
use crate::zone::{history, name, persist};
use api_zones::{ApiZone, ApiZones};

/// Who asks for a change, and where a zone came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The config file (start-up, reload).
    Config,
    /// The management API; such zones are listed in `api-zones.json`.
    Api,
    /// A member of a consumer catalog (`catalog = "consumer"`); listed in
    /// that catalog's state file.
    Catalog,
}

/// Why a change was not made. Nothing changed in any of these cases,
/// except where [`ZoneError::Failed`] says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// The zone given is not valid (a field is wrong).
    Invalid(String),
    /// A zone with that name is already served.
    Exists(String),
    /// No zone with that name.
    NotFound(String),
    /// Not allowed for this zone (a config zone removed through the API).
    Conflict(String),
    /// The node failed to carry it out (a file could not be written).
    Failed(String),
}

impl std::fmt::Display for ZoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZoneError::Invalid(m)
            | ZoneError::Exists(m)
            | ZoneError::NotFound(m)
            | ZoneError::Conflict(m)
            | ZoneError::Failed(m) => f.write_str(m),
        }
    }
}

struct Managed {
    config: Arc<ZoneConfig>,
    origin: Origin,
    apex: Vec<u8>,
    /// The canonical entry of an API zone, as written to the file.
    api: Option<ApiZone>,
    /// Why a file zone's file did not load (the zone answers SERVFAIL).
    load_error: Option<String>,
    /// The consumer catalog (wire name) that made this zone, for
    /// [`Origin::Catalog`] zones.
    member_of: Option<Box<[u8]>>,
}

#[derive(Default)]
struct Registry {
    zones: BTreeMap<String, Managed>,
    acls: HashMap<Box<[u8]>, NotifyAcl>,
    /// NOTIFY-out targets of the zones that have any.
    notify_out: HashMap<Box<[u8]>, Targets>,
    /// API zones read at start-up that no longer validate, by name.
    broken: BTreeMap<String, (ApiZone, String)>,
}

/// Handle to the zone manager; cheap to clone.
#[derive(Clone)]
pub struct ZoneManager {
    inner: Arc<Inner>,
}

struct Inner {
    server: Arc<Server>,
    engine: Engine,
    notify_out: NotifySender,
    /// The fleet view: SOA polls of each zone's nodes.
    fleet: crate::fleet::Fleet,
    /// By config name (normalized).
    keys: HashMap<String, Arc<Key>>,
    /// By lowercase wire name, for the NOTIFY table.
    wire_keys: HashMap<Vec<u8>, Arc<Key>>,
    /// What zones added through the API derive from (`[[template]]`,
    /// `[[tsig-key]]`, `[secondary]`): the running config, replaced on
    /// SIGHUP ([`ZoneManager::reconfigure`]).
    config: Mutex<Arc<Config>>,
    api_file: PathBuf,
    /// Serializes changes (held across their I/O).
    changes: tokio::sync::Mutex<()>,
    /// Serializes rewrites of the producer catalogs.
    catalogs: tokio::sync::Mutex<()>,
    state: Mutex<Registry>,
    /// [`ZoneManager::defer_installs`] guards alive: the NOTIFY, NOTIFY-out
    /// and transfer-out tables are installed once when the last ends, not
    /// after each zone (each install copies every zone's entry: 10,000
    /// zones added one by one would copy 10^8 entries).
    deferred: std::sync::atomic::AtomicUsize,
    /// A change came while installs were deferred.
    install_pending: std::sync::atomic::AtomicBool,
    /// The consumer catalogs' applied state, by catalog (wire name); held
    /// while a catalog version is applied.
    consumers: tokio::sync::Mutex<consumer::Consumers>,
    catalog_stats: consumer::Stats,
}

/// Installs the tables once, when dropped (see
/// [`ZoneManager::defer_installs`]).
pub struct DeferredInstalls(ZoneManager);

impl Drop for DeferredInstalls {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        // Under the registry's lock, as every install: a change cannot
        // slip between the count and the flag.
        let reg = self.0.lock();
        let inner = &self.0.inner;
        if inner.deferred.fetch_sub(1, Ordering::SeqCst) == 1 && inner.install_pending.swap(false, Ordering::SeqCst) {
            self.0.install_notify(&reg);
        }
    }
}

impl ZoneManager {
    /// Takes over the zones loaded at start-up: every config zone and every
    /// valid API zone (the supervisor loaded both; `held` is what it found
    /// on disk for secondary zones), hands every secondary zone to the
    /// secondary engine and installs the NOTIFY rules. Call it inside the
    /// runtime.
    pub fn start(
        config: &Config,
        api: ApiZones,
        members: consumer::Restored,
        server: Arc<Server>,
        mut held: HashMap<Vec<u8>, HeldVersion>,
    ) -> Self {
        let mut keys = HashMap::new();
        let mut wire_keys = HashMap::new();
        for k in &config.tsig_keys {
            match Key::try_from(k) {
                Ok(key) => {
                    let key = Arc::new(key);
                    wire_keys.insert(key.name.clone(), key.clone());
                    keys.insert(k.name.clone(), key);
                }
                Err(e) => error!(key = %k.name, "TSIG key not usable: {e}"),
            }
        }
        let dir = config.node.data_dir.join("zones");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!("cannot create {}: {e}", dir.display());
        }
        // Temporary files left by a crash mid-write are never read; remove
        // them (snapshots and timers in zones/, the API zone list beside it).
        for d in [&config.node.data_dir, &dir] {
            match persist::clean_temp(d) {
                Ok(0) => {}
                Ok(n) => info!(files = n, dir = %d.display(), "removed temporary files left by an interrupted write"),
                Err(e) => warn!("cannot clean {}: {e}", d.display()),
            }
        }
        let engine = Engine::new(server.store().clone(), dir, Default::default());
        let notify_out = NotifySender::spawn(server.store().clone(), config.transfer.notify_rate);
        let fleet = crate::fleet::Fleet::spawn(server.store().clone(), &config.fleet);
        server.xfr_out.set_limits(crate::axfr::out::Limits {
            max_out: config.transfer.max_out,
            max_out_per_client: config.transfer.max_out_per_client,
        });
        let manager = ZoneManager {
            inner: Arc::new(Inner {
                server,
                engine,
                notify_out,
                fleet,
                keys,
                wire_keys,
                config: Mutex::new(Arc::new(config.clone())),
                api_file: api_zones::path(config),
                changes: tokio::sync::Mutex::new(()),
                catalogs: tokio::sync::Mutex::new(()),
                state: Mutex::new(Registry::default()),
                deferred: Default::default(),
                install_pending: Default::default(),
                consumers: tokio::sync::Mutex::new(members.consumers),
                catalog_stats: Default::default(),
            }),
        };
        let mut secondaries = 0;
        let mut reg = Registry::default();
        let config_zones = config.zones.iter().map(|z| (z.clone(), Origin::Config, None, None));
        let api_list = api.valid.into_iter().map(|(a, z)| (z, Origin::Api, Some(a), None));
        let member_list = members
            .zones
            .into_iter()
            .map(|(z, catalog)| (z, Origin::Catalog, None, Some(catalog)));
        for (zone, origin, api, member_of) in config_zones.chain(api_list).chain(member_list) {
            let apex = match name::from_text(&zone.name) {
                Ok(a) => a,
                Err(e) => {
                    error!(zone = %zone.name, "invalid zone name: {e}");
                    continue;
                }
            };
            if let ZoneSource::Secondary { .. } = &zone.source {
                let held = held.remove(&apex);
                let acl = manager.start_secondary(&zone, &apex, held);
                reg.acls.insert(apex.clone().into(), acl);
                secondaries += 1;
            }
            if let Some(t) = manager.notify_targets(&zone) {
                reg.notify_out.insert(apex.clone().into(), t);
            }
            reg.zones.insert(
                zone.name.clone(),
                Managed {
                    config: zone,
                    origin,
                    apex,
                    api,
                    load_error: None,
                    member_of,
                },
            );
        }
        for (entry, why) in api.broken {
            reg.broken.insert(canonical_name(&entry.name), (entry, why));
        }
        manager.install_notify(&reg);
        *manager.lock() = reg;
        if let Ok(consumers) = manager.inner.consumers.try_lock() {
            for c in consumers.values() {
                manager.inner.catalog_stats.publish(c);
            }
        }
        if secondaries > 0 {
            info!(zones = secondaries, "secondary engine started");
        }
        manager
    }

    /// The secondary engine (for its counters and status).
    /// The query handler (reload sets its rate limiting and cookies).
    pub fn server(&self) -> &Arc<Server> {
        &self.inner.server
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Records why a file zone did not load (`None`: it loaded); shown in
    /// its view. The supervisor calls it for the zones that failed at
    /// start-up.
    pub fn set_load_error(&self, zone_name: &str, error: Option<String>) {
        if let Some(m) = self.lock().zones.get_mut(&canonical_name(zone_name)) {
            m.load_error = error;
        }
    }

    /// Whether the secondary zone at `apex` (lowercase wire), which has no
    /// version, still waits for its first round (every primary asked in
    /// turn) to end. False once a round failed, and for any zone that is
    /// not a secondary zone here: either way the zone has failed.
    pub fn first_attempt_pending(&self, apex: &[u8]) -> bool {
        self.inner
            .engine
            .status(apex)
            .is_some_and(|s| s.serial.is_none() && !s.round_failed)
    }

    /// Adds a zone added through the API: validated against the config,
    /// written to `api-zones.json`, then served (transferred at once).
    pub async fn add_api(&self, request: &ApiZone) -> Result<ZoneView, ZoneError> {
        let config = self.config();
        let (canonical, zone) = api_zones::validate(request, &config).map_err(ZoneError::Invalid)?;
        let name = zone.name.clone();
        let member = zone.catalog.is_some();
        self.add_inner(zone, Origin::Api, Some(canonical), None).await?;
        if member {
            let _ = self.rebuild_catalogs().await;
        }
        self.get(&name)
            .ok_or_else(|| ZoneError::Failed(format!("zone {name} vanished while it was added")))
    }

    /// Adds and serves a zone. A file zone is loaded from its file; a
    /// secondary zone from its snapshot under the data dir if it has one
    /// (config zones only: an API zone starts afresh), then refreshed.
    pub async fn add(&self, zone: Arc<ZoneConfig>, origin: Origin) -> Result<(), ZoneError> {
        let api = match (&zone.source, origin) {
            (
                ZoneSource::Secondary {
                    primaries, tsig_key, ..
                },
                Origin::Api,
            ) => Some(ApiZone {
                name: zone.name.clone(),
                primaries: primaries.iter().map(|p| p.to_string()).collect(),
                tsig_key: tsig_key.clone(),
                template: zone.template.clone(),
                catalog: match &zone.catalog {
                    Some(crate::config::CatalogRole::Member(c)) => Some(c.clone()),
                    _ => None,
                },
                catalog_group: zone.catalog_group.clone(),
            }),
            (ZoneSource::File(_), Origin::Api) => {
                return Err(ZoneError::Invalid(
                    "zones added through the API are secondary zones".into(),
                ));
            }
            _ => None,
        };
        self.add_inner(zone, origin, api, None).await
    }

    async fn add_inner(
        &self,
        zone: Arc<ZoneConfig>,
        origin: Origin,
        api: Option<ApiZone>,
        member_of: Option<Box<[u8]>>,
    ) -> Result<(), ZoneError> {
        let _change = self.inner.changes.lock().await;
        let apex = name::from_text(&zone.name).map_err(|e| ZoneError::Invalid(format!("name: {e}")))?;
        {
            let reg = self.lock();
            if let Some(m) = reg.zones.get(&zone.name) {
                return Err(ZoneError::Exists(format!(
                    "zone {} is already served ({})",
                    zone.name,
                    match m.origin {
                        Origin::Config => "from the config file",
                        Origin::Api => "added through the API",
                        Origin::Catalog => "a member of a catalog",
                    }
                )));
            }
            if origin == Origin::Api && reg.broken.contains_key(&zone.name) {
                return Err(ZoneError::Exists(format!(
                    "zone {} is listed already (with an error); delete it first",
                    zone.name
                )));
            }
        }
        if let Some(entry) = &api {
            let mut list = self.api_list();
            list.push(entry.clone());
            self.write_api_list(list).await?;
        }
        let result = self.serve_new(&zone, &apex, origin).await;
        let acl = match result {
            Ok(acl) => acl,
            Err(ZoneError::Invalid(why)) if origin == Origin::Config && !zone.source.is_secondary() => {
                // A config file zone whose file does not load: like at
                // start-up it answers SERVFAIL and is reported, with why.
                self.inner.server.store().update(|set| match set.get(&apex) {
                    Some(_) => set.clone(),
                    None => set.with_entry(crate::zone::store::Served {
                        apex: apex.clone().into(),
                        zone: None,
                        expired: false,
                    }),
                });
                let prefix = format!("zone {}: ", zone.name);
                let summary = why.strip_prefix(&prefix).unwrap_or(&why).to_string();
                self.lock().zones.insert(
                    zone.name.clone(),
                    Managed {
                        config: zone.clone(),
                        origin,
                        apex,
                        api: None,
                        load_error: Some(summary),
                        member_of: None,
                    },
                );
                return Err(ZoneError::Invalid(why));
            }
            Err(e) => {
                if api.is_some() {
                    // Undo the file change: the zone was never served.
                    let _ = self.write_api_list(self.api_list()).await;
                }
                return Err(e);
            }
        };
        let mut reg = self.lock();
        if let Some(acl) = acl {
            reg.acls.insert(apex.clone().into(), acl);
        }
        if let Some(t) = self.notify_targets(&zone) {
            reg.notify_out.insert(apex.clone().into(), t);
        }
        reg.zones.insert(
            zone.name.clone(),
            Managed {
                config: zone.clone(),
                origin,
                apex,
                api,
                load_error: None,
                member_of,
            },
        );
        self.install_notify(&reg);
        info!(zone = %zone.name, origin = ?origin, "zone added");
        Ok(())
    }

    /// Publishes a new zone; for a secondary zone, adds it to the engine and
    /// returns its NOTIFY rule.
    async fn serve_new(&self, zone: &ZoneConfig, apex: &[u8], origin: Origin) -> Result<Option<NotifyAcl>, ZoneError> {
        let store = self.inner.server.store().clone();
        match &zone.source {
            ZoneSource::File(path) => {
                let (name, path) = (zone.name.clone(), path.clone());
                // Into the IXFR history before it is served, diffed against
                // the version served until now (a reload), if any. Every
                // zone keeps one within its bounds (depth 0: none).
                let old = store.load().get(apex).and_then(|s| s.zone.clone());
                let dir = self.inner.engine.data_dir().to_path_buf();
                let bounds = Bounds::new(zone.out.history_depth, zone.out.history_bytes);
                let loaded = tokio::task::spawn_blocking(move || {
                    let loaded = crate::zone::file::load_zone_file(&name, &path)?;
                    if let Err(e) = history::file_version(&dir, old.as_deref(), &loaded.zone, bounds) {
                        warn!(zone = %name, "IXFR history not updated (IXFR out sends the whole zone): {e}");
                    }
                    Ok(loaded)
                })
                .await
                .map_err(|e| ZoneError::Failed(format!("zone load task failed: {e}")))?
                .map_err(|e: crate::zone::file::ZoneFileErrors| {
                    for issue in &e.0 {
                        error!(zone = %zone.name, "{issue}");
                    }
                    ZoneError::Invalid(format!("zone {}: {}", zone.name, e.summary()))
                })?;
                let z = Arc::new(loaded.zone);
                store.update(|set| set.with(z.clone(), false));
                Ok(None)
            }
            ZoneSource::Secondary { .. } => {
                let dir = self.inner.engine.data_dir().to_path_buf();
                let apex_v = apex.to_vec();
                let held = if let Some(v) = served_version(&store, apex) {
                    // Still served (a reload that changed the zone): go on
                    // from that version.
                    let timers = engine::timers_path(&dir, apex);
                    // No timers file: a first version, whose expiry is
                    // in its snapshot.
                    let expire_at_unix = engine::read_timers(&timers, v).or_else(|| {
                        persist::snapshot_meta(&dir.join(persist::file_name(apex)))
                            .ok()
                            .flatten()
                            .filter(|(_, serial)| *serial == v)
                            .and_then(|(meta, _)| meta.expire_at_unix)
                    });
                    Some(HeldVersion {
                        serial: v,
                        expire_at_unix,
                        primary: None,
                    })
                } else if origin == Origin::Config {
                    tokio::task::spawn_blocking(move || read_snapshot(&dir, &apex_v))
                        .await
                        .map_err(|e| ZoneError::Failed(format!("snapshot read task failed: {e}")))?
                        .map(|(zone, held)| {
                            let zone = Arc::new(zone);
                            store.update(|set| set.with(zone.clone(), false));
                            held
                        })
                } else {
                    // A new zone: files left from an earlier zone of that
                    // name could hold a serial the primary is behind.
                    tokio::task::spawn_blocking(move || {
                        let _ = std::fs::remove_file(engine::timers_path(&dir, &apex_v));
                        persist::remove(&dir, &apex_v)
                    })
                    .await
                    .map_err(|e| ZoneError::Failed(format!("cleanup task failed: {e}")))?
                    .map_err(|e| ZoneError::Failed(format!("cannot remove old files of {}: {e}", zone.name)))?;
                    None
                };
                Ok(Some(self.start_secondary(zone, apex, held)))
            }
        }
    }

    /// Adds a secondary zone to the engine; returns its NOTIFY rule.
    fn start_secondary(&self, zone: &ZoneConfig, apex: &[u8], held: Option<HeldVersion>) -> NotifyAcl {
        let ZoneSource::Secondary {
            primaries,
            tsig_key,
            allow_notify,
            timers,
        } = &zone.source
        else {
            return NotifyAcl {
                sources: Vec::new(),
                key: None,
            };
        };
        let key = tsig_key.as_ref().and_then(|k| self.inner.keys.get(k)).cloned();
        let mut sources: Vec<Prefix> = primaries.iter().map(|p| Prefix::host(p.ip())).collect();
        sources.extend(allow_notify.iter().cloned());
        self.inner.engine.add(SecondaryZone {
            apex: apex.to_vec(),
            primaries: primaries.clone(),
            limits: *timers,
            held: held.as_ref().map(|h| (h.serial, h.expire_at_unix)),
            key: key.clone(),
            held_primary: held.and_then(|h| h.primary),
            history: Bounds::new(zone.out.history_depth, zone.out.history_bytes),
            source: zone.out.notify_source,
        });
        NotifyAcl { sources, key }
    }

    /// Removes a zone: it is no longer served (queries get REFUSED) and,
    /// with [`Stop::Forget`], its snapshot, journal and timers are deleted.
    /// The API (`by` = [`Origin::Api`]) may remove only API zones.
    pub async fn remove(&self, zone_name: &str, by: Origin, how: Stop) -> Result<(), ZoneError> {
        let _change = self.inner.changes.lock().await;
        let key = canonical_name(zone_name);
        let found = {
            let reg = self.lock();
            match reg.zones.get(&key) {
                Some(m) => Some((m.apex.clone(), m.config.source.is_secondary(), m.origin)),
                None if by == Origin::Api && reg.broken.contains_key(&key) => None,
                None => {
                    return Err(ZoneError::NotFound(format!(
                        "no zone named {zone_name:?} is served here"
                    )));
                }
            }
        };
        let Some((apex, is_secondary, origin)) = found else {
            // An API entry that did not validate: only the file changes.
            let list: Vec<ApiZone> = self
                .api_list()
                .into_iter()
                .filter(|z| canonical_name(&z.name) != key)
                .collect();
            self.write_api_list(list).await?;
            self.lock().broken.remove(&key);
            info!(zone = %key, "zone removed (it was not served: its entry did not validate)");
            return Ok(());
        };
        if origin != by {
            return Err(ZoneError::Conflict(match origin {
                Origin::Config => format!(
                    "zone {key} comes from the config file: remove its [[zone]] entry there and reload (SIGHUP)"
                ),
                Origin::Api => format!("zone {key} was added through the API: remove it through the API"),
                Origin::Catalog => format!("zone {key} is a member of a catalog: remove it from the catalog"),
            }));
        }
        if origin == Origin::Api {
            let list: Vec<ApiZone> = self.api_list().into_iter().filter(|z| z.name != key).collect();
            self.write_api_list(list).await?;
        }
        let mut failure = None;
        if is_secondary {
            match self.inner.engine.remove(&apex, how).await {
                Ok(_) => {}
                Err(e) => {
                    failure = Some(format!(
                        "zone {key} is no longer served, but its files were not all deleted: {e}"
                    ))
                }
            }
        } else if how == Stop::Forget {
            self.inner.server.store().update(|set| set.without(&apex));
            // A file zone's files under the data dir: its IXFR history.
            let (dir, apex_v) = (self.inner.engine.data_dir().to_path_buf(), apex.clone());
            let removed = tokio::task::spawn_blocking(move || persist::remove(&dir, &apex_v)).await;
            if let Ok(Err(e)) = removed {
                failure = Some(format!(
                    "zone {key} is no longer served, but its IXFR history was not deleted: {e}"
                ));
            }
        }
        {
            let mut reg = self.lock();
            reg.zones.remove(&key);
            reg.acls.remove(apex.as_slice());
            reg.notify_out.remove(apex.as_slice());
            self.install_notify(&reg);
        }
        info!(zone = %key, "zone removed");
        match failure {
            Some(f) => {
                warn!("{f}");
                Err(ZoneError::Failed(f))
            }
            None => Ok(()),
        }
    }

    /// Asks a secondary zone's primaries for a new version now.
    pub fn refresh(&self, zone_name: &str) -> Result<(), ZoneError> {
        let key = canonical_name(zone_name);
        let reg = self.lock();
        let Some(m) = reg.zones.get(&key) else {
            return Err(ZoneError::NotFound(format!(
                "no zone named {zone_name:?} is served here"
            )));
        };
        if !m.config.source.is_secondary() {
            return Err(ZoneError::Conflict(format!(
                "zone {key} is loaded from a file: it has no primaries to ask"
            )));
        }
        if self.inner.engine.refresh(&m.apex) {
            Ok(())
        } else {
            Err(ZoneError::Failed(format!(
                "zone {key}: its refresh task is not running"
            )))
        }
    }

    /// Every zone, sorted by name.
    pub fn list(&self) -> Vec<ZoneView> {
        let reg = self.lock();
        let mut out: Vec<ZoneView> = reg.zones.values().map(|m| self.view(m)).collect();
        out.extend(reg.broken.iter().map(|(n, (entry, why))| broken_view(n, entry, why)));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One zone (name case-insensitive, trailing dot ignored).
    pub fn get(&self, zone_name: &str) -> Option<ZoneView> {
        let key = canonical_name(zone_name);
        let reg = self.lock();
        if let Some(m) = reg.zones.get(&key) {
            return Some(self.view(m));
        }
        reg.broken.get(&key).map(|(entry, why)| broken_view(&key, entry, why))
    }

    /// The API entries as the file must list them: the served ones and the
    /// ones that did not validate, in name order.
    fn api_list(&self) -> Vec<ApiZone> {
        let reg = self.lock();
        let mut list: Vec<ApiZone> = reg.zones.values().filter_map(|m| m.api.clone()).collect();
        list.extend(reg.broken.values().map(|(e, _)| e.clone()));
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    async fn write_api_list(&self, list: Vec<ApiZone>) -> Result<(), ZoneError> {
        let path = self.inner.api_file.clone();
        tokio::task::spawn_blocking(move || api_zones::write(&path, &list))
            .await
            .map_err(|e| ZoneError::Failed(format!("write task failed: {e}")))?
            .map_err(|e| {
                error!("cannot write the list of API zones: {e}");
                ZoneError::Failed(format!("cannot write the list of API zones: {e}"))
            })
    }

    /// Many zones about to change at once (a reload, a catalog update):
    /// until the guard is dropped, each change skips installing the NOTIFY
    /// and transfer-out tables, and the guard installs them once. Zones
    /// added meanwhile are served and transferred at once; their NOTIFYs
    /// in and transfers out wait for the install.
    pub fn defer_installs(&self) -> DeferredInstalls {
        self.inner.deferred.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DeferredInstalls(self.clone())
    }

    /// Call it holding the registry's lock (`reg`).
    fn install_notify(&self, reg: &Registry) {
        use std::sync::atomic::Ordering;
        if self.inner.deferred.load(Ordering::SeqCst) > 0 {
            self.inner.install_pending.store(true, Ordering::SeqCst);
            return;
        }
        self.inner.server.set_notify_table(NotifyTable {
            zones: reg.acls.clone(),
            keys: self.inner.wire_keys.clone(),
            engine: Some(self.inner.engine.clone()),
        });
        self.inner.notify_out.set_targets(reg.notify_out.clone());
        self.inner.fleet.set_targets(reg.notify_out.clone());
        self.install_transfer_out(reg);
    }

    /// Applies `[transfer]`: the caps on transfers out and the NOTIFY rate
    /// (start-up and SIGHUP).
    pub fn set_transfer_limits(&self, transfer: &crate::config::TransferConfig) {
        self.inner.server.xfr_out.set_limits(crate::axfr::out::Limits {
            max_out: transfer.max_out,
            max_out_per_client: transfer.max_out_per_client,
        });
        self.inner.notify_out.set_rate(transfer.notify_rate);
    }

    /// The NOTIFY-out task (for its counters).
    pub fn notify_out(&self) -> &NotifySender {
        &self.inner.notify_out
    }

    /// The fleet view (the nodes of each zone and the serial they serve).
    pub fn fleet(&self) -> &crate::fleet::Fleet {
        &self.inner.fleet
    }

    fn notify_targets(&self, zone: &ZoneConfig) -> Option<Targets> {
        Targets::of_zone(zone, &self.inner.keys)
    }

    /// The config API zones derive from.
    fn config(&self) -> Arc<Config> {
        self.inner.config.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lowercase, without the trailing dot (the root stays ".").
fn canonical_name(s: &str) -> String {
    let s = s.trim();
    match s.strip_suffix('.') {
        Some("") | None => s.to_ascii_lowercase(),
        Some(n) => n.to_ascii_lowercase(),
    }
}

pub mod api_zones;
mod batch;
pub mod consumer;
mod producer;
mod settings;
mod snapshot;
mod transfer_out;
mod view;

pub use batch::{AddQueue, BatchError, MAX_BATCH, Refused};
use snapshot::{read_snapshot, served_version};
use view::broken_view;
pub use view::{LastTransfer, Timers, ZoneView};

#[cfg(test)]
mod tests;
