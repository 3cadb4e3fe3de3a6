//! Many API zones added or removed in one step (`POST /zones` with a JSON
//! array, `DELETE /zones` with a JSON array of names): the hub's answer to
//! "add this customer's 1,000 zones".
//!
//! A batch is all or nothing. Every entry is checked first (its fields
//! against the config, as [`super::api_zones::validate`] checks one zone;
//! a name listed twice in the batch; a zone already served, or for a
//! removal one that is unknown or comes from the config file); when any
//! entry is refused nothing changes and the error lists each refused entry
//! by its index in the array and its name. Then, holding the manager's
//! change lock once for the whole batch:
//!
//! * `api-zones.json` is written once (one temporary file, one fsync, one
//!   rename), before any zone is served or removed: one write for 1,000
//!   zones instead of 1,000 rewrites of a growing file;
//! * the zones are served (or removed) inside
//!   [`ZoneManager::defer_installs`], so the NOTIFY, NOTIFY-out, fleet and
//!   transfer-out tables are installed once, not once per zone;
//! * the producer catalogs are rebuilt once: one serial bump, one IXFR
//!   history entry and one NOTIFY round for the whole batch.
//!
//! An added zone that cannot be served (its old files cannot be removed)
//! undoes the whole batch: the zones served so far are removed again and
//! the list is written back. A removal whose files cannot all be deleted
//! still removes the zone (it is REFUSED at once), as a single `DELETE`
//! does, and the error names it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::api_zones::{self, ApiZone};
use super::{Managed, Origin, ZoneError, ZoneManager, ZoneView, canonical_name};
use crate::axfr::engine::Stop;
use crate::config::ZoneConfig;
use crate::zone::{name, persist};

/// Most entries in one batch; more are refused whole (the API answers 413).
pub const MAX_BATCH: usize = 10_000;

/// Refused entries listed in the error's text; [`BatchError::refused`]
/// lists them all.
const LISTED: usize = 20;

/// One refused entry of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// Its index in the array (from 0).
    pub index: usize,
    /// Its name, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub error: String,
    /// How bad: an invalid entry (422) > a conflict (409) > an unknown
    /// zone (404).
    #[serde(skip)]
    rank: Rank,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    NotFound,
    Conflict,
    Invalid,
}

/// Why a batch was not carried out: `error` says what kind (the API's
/// status) and sums it up; `refused` lists each refused entry. Nothing
/// changed unless `error` is [`ZoneError::Failed`] (and it says so).
#[derive(Clone, Debug)]
pub struct BatchError {
    pub error: ZoneError,
    pub refused: Vec<Refused>,
}

impl From<ZoneError> for BatchError {
    fn from(error: ZoneError) -> Self {
        BatchError {
            error,
            refused: Vec::new(),
        }
    }
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Refused {
    fn new(rank: Rank, index: usize, name: Option<String>, error: impl Into<String>) -> Refused {
        Refused {
            index,
            name,
            error: error.into(),
            rank,
        }
    }
}

/// The count limit, checked before anything else.
pub fn check_count(n: usize) -> Result<(), ZoneError> {
    if n > MAX_BATCH {
        return Err(ZoneError::Invalid(format!(
            "{n} zones in one call; at most {MAX_BATCH} per call (split the list)"
        )));
    }
    Ok(())
}

/// The error for refused entries (sorted by index): the worst kind sets
/// the status, the text names each (the first [`LISTED`]).
fn refused_error(mut refused: Vec<Refused>, total: usize, done: &str) -> BatchError {
    refused.sort_by_key(|r| r.index);
    let worst = refused.iter().map(|r| r.rank).max().unwrap_or(Rank::Invalid);
    let mut text = format!(
        "{} of {total} {} refused, nothing {done}: ",
        refused.len(),
        if total == 1 { "entry" } else { "entries" }
    );
    let shown: Vec<String> = refused
        .iter()
        .take(LISTED)
        .map(|r| match &r.name {
            Some(n) => format!("[{}] {n}: {}", r.index, r.error),
            None => format!("[{}]: {}", r.index, r.error),
        })
        .collect();
    text.push_str(&shown.join("; "));
    if refused.len() > LISTED {
        text.push_str(&format!("; and {} more (see \"refused\")", refused.len() - LISTED));
    }
    let error = match worst {
        Rank::Invalid => ZoneError::Invalid(text),
        Rank::Conflict => ZoneError::Conflict(text),
        Rank::NotFound => ZoneError::NotFound(text),
    };
    BatchError { error, refused }
}

/// The `name` of an entry, when it has a string one (for the error).
fn entry_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("name").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// A zone of a removal batch as served: its apex and whether it is a
/// secondary zone; None for an API entry that did not validate (only in
/// the file).
type Served = Option<(Vec<u8>, bool)>;

/// Where a served zone came from, as an error says it.
fn served_from(origin: Origin) -> &'static str {
    // (Not a match: the catalog consumer adds an origin.)
    if origin == Origin::Config {
        "from the config file"
    } else if origin == Origin::Api {
        "added through the API"
    } else {
        "a member of a catalog"
    }
}

/// Why a zone not added through the API cannot be removed through it.
fn not_removable(key: &str, origin: Origin) -> String {
    if origin == Origin::Config {
        format!("zone {key} comes from the config file: remove its [[zone]] entry there and reload (SIGHUP)")
    } else {
        format!("zone {key} is a member of a catalog: remove it from the catalog")
    }
}

/// One zone of an add batch, checked.
struct Checked {
    index: usize,
    entry: ApiZone,
    zone: Arc<ZoneConfig>,
    apex: Vec<u8>,
}

impl ZoneManager {
    /// Adds the zones of `entries` (each a `POST /zones` object) in one
    /// step, or none of them; see the module doc. Returns their views in
    /// the order given.
    pub async fn add_api_batch(&self, entries: &[Value]) -> Result<Vec<ZoneView>, BatchError> {
        check_count(entries.len())?;
        let config = self.config();
        let mut refused = Vec::new();
        let mut checked: Vec<Checked> = Vec::with_capacity(entries.len());
        let mut first_at: HashMap<String, usize> = HashMap::new();
        for (index, v) in entries.iter().enumerate() {
            let invalid = |e: String| Refused::new(Rank::Invalid, index, entry_name(v), e);
            let request = match ApiZone::deserialize(v) {
                Ok(r) => r,
                Err(e) => {
                    refused.push(invalid(format!("not a zone object: {e}")));
                    continue;
                }
            };
            let (entry, zone) = match api_zones::validate(&request, &config) {
                Ok(ok) => ok,
                Err(e) => {
                    refused.push(invalid(e));
                    continue;
                }
            };
            let apex = match name::from_text(&zone.name) {
                Ok(a) => a,
                Err(e) => {
                    refused.push(invalid(format!("name: {e}")));
                    continue;
                }
            };
            if let Some(first) = first_at.get(&zone.name) {
                refused.push(invalid(format!("listed twice in this batch (first at index {first})")));
                continue;
            }
            first_at.insert(zone.name.clone(), index);
            checked.push(Checked {
                index,
                entry,
                zone,
                apex,
            });
        }
        let change = self.inner.changes.lock().await;
        {
            let reg = self.lock();
            for c in &checked {
                let why = match reg.zones.get(&c.zone.name) {
                    Some(m) => Some(format!(
                        "zone {} is already served ({})",
                        c.zone.name,
                        served_from(m.origin)
                    )),
                    None if reg.broken.contains_key(&c.zone.name) => Some(format!(
                        "zone {} is listed already (with an error); delete it first",
                        c.zone.name
                    )),
                    None => None,
                };
                if let Some(why) = why {
                    refused.push(Refused::new(Rank::Conflict, c.index, Some(c.zone.name.clone()), why));
                }
            }
        }
        if !refused.is_empty() {
            return Err(refused_error(refused, entries.len(), "added"));
        }
        if checked.is_empty() {
            return Ok(Vec::new());
        }
        // Durable first: a crash from here on serves them all after a restart.
        let mut list = self.api_list();
        list.extend(checked.iter().map(|c| c.entry.clone()));
        list.sort_by(|a, b| a.name.cmp(&b.name));
        self.write_api_list(list).await?;

        let defer = self.defer_installs();
        for (i, c) in checked.iter().enumerate() {
            match self.serve_checked(c).await {
                Ok(()) => {}
                Err(e) => {
                    warn!(zone = %c.zone.name, "batch of {} zones not added: {e}", checked.len());
                    self.undo_adds(&checked[..i]).await;
                    let _ = self.write_api_list(self.api_list()).await;
                    drop(defer);
                    return Err(ZoneError::Failed(format!(
                        "[{}] {}: {e}; nothing added (the zones of this batch served meanwhile were removed again)",
                        c.index, c.zone.name
                    ))
                    .into());
                }
            }
        }
        drop(defer);
        drop(change);
        info!(zones = checked.len(), "zones added through the API in one batch");
        if checked.iter().any(|c| c.zone.catalog.is_some()) {
            let _ = self.rebuild_catalogs().await;
        }
        Ok(checked.iter().filter_map(|c| self.get(&c.zone.name)).collect())
    }

    /// Serves one checked API zone and registers it (its file entry is
    /// written already). Call it holding the change lock.
    async fn serve_checked(&self, c: &Checked) -> Result<(), ZoneError> {
        let acl = self.serve_new(&c.zone, &c.apex, Origin::Api).await?;
        let mut reg = self.lock();
        if let Some(acl) = acl {
            reg.acls.insert(c.apex.clone().into(), acl);
        }
        if let Some(t) = self.notify_targets(&c.zone) {
            reg.notify_out.insert(c.apex.clone().into(), t);
        }
        reg.zones.insert(
            c.zone.name.clone(),
            Managed {
                config: c.zone.clone(),
                origin: Origin::Api,
                apex: c.apex.clone(),
                api: Some(c.entry.clone()),
                load_error: None,
                member_of: None,
            },
        );
        self.install_notify(&reg);
        info!(zone = %c.zone.name, origin = ?Origin::Api, "zone added");
        Ok(())
    }

    /// Adds zones that came as separate calls (see [`AddQueue`]): each
    /// succeeds or fails on its own, with the error a lone
    /// [`ZoneManager::add_api`] would give, but the round writes
    /// `api-zones.json` once, installs the tables once and rebuilds the
    /// producer catalogs once. Results in the order given.
    pub async fn add_api_each(&self, requests: &[ApiZone]) -> Vec<Result<ZoneView, ZoneError>> {
        let config = self.config();
        let mut results: Vec<Option<Result<ZoneView, ZoneError>>> = vec![None; requests.len()];
        let mut checked: Vec<Checked> = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let checked_one = api_zones::validate(request, &config).and_then(|(entry, zone)| {
                let apex = name::from_text(&zone.name).map_err(|e| format!("name: {e}"))?;
                Ok(Checked {
                    index,
                    entry,
                    zone,
                    apex,
                })
            });
            match checked_one {
                Ok(c) => checked.push(c),
                Err(e) => results[index] = Some(Err(ZoneError::Invalid(e))),
            }
        }
        let change = self.inner.changes.lock().await;
        {
            // Already served, or earlier in this round: refused as the
            // later of two calls one after the other would be.
            let reg = self.lock();
            let mut names = BTreeSet::new();
            checked.retain(|c| {
                let why = match reg.zones.get(&c.zone.name) {
                    Some(m) => Some(format!(
                        "zone {} is already served ({})",
                        c.zone.name,
                        served_from(m.origin)
                    )),
                    None if reg.broken.contains_key(&c.zone.name) => Some(format!(
                        "zone {} is listed already (with an error); delete it first",
                        c.zone.name
                    )),
                    None if !names.insert(c.zone.name.clone()) => Some(format!(
                        "zone {} is already served (added through the API)",
                        c.zone.name
                    )),
                    None => None,
                };
                if let Some(why) = &why {
                    results[c.index] = Some(Err(ZoneError::Exists(why.clone())));
                }
                why.is_none()
            });
        }
        if !checked.is_empty() {
            let mut list = self.api_list();
            list.extend(checked.iter().map(|c| c.entry.clone()));
            list.sort_by(|a, b| a.name.cmp(&b.name));
            match self.write_api_list(list).await {
                Ok(()) => {
                    let defer = self.defer_installs();
                    let mut undone = false;
                    for c in &checked {
                        if let Err(e) = self.serve_checked(c).await {
                            results[c.index] = Some(Err(e));
                            undone = true;
                        }
                    }
                    if undone {
                        // Not served: out of the file again.
                        let _ = self.write_api_list(self.api_list()).await;
                    }
                    drop(defer);
                }
                Err(e) => {
                    for c in &checked {
                        results[c.index] = Some(Err(e.clone()));
                    }
                }
            }
        }
        drop(change);
        let added: Vec<&Checked> = checked.iter().filter(|c| results[c.index].is_none()).collect();
        if added.iter().any(|c| c.zone.catalog.is_some()) {
            let _ = self.rebuild_catalogs().await;
        }
        for c in added {
            results[c.index] = Some(
                self.get(&c.zone.name)
                    .ok_or_else(|| ZoneError::Failed(format!("zone {} vanished while it was added", c.zone.name))),
            );
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ZoneError::Failed("no result for this zone".into()))))
            .collect()
    }

    /// Removes again the zones of a batch that were served.
    async fn undo_adds(&self, served: &[Checked]) {
        for c in served {
            if let Err(e) = self.inner.engine.remove(&c.apex, Stop::Forget).await {
                warn!(zone = %c.zone.name, "added then removed again, but its files were not all deleted: {e}");
            }
            let mut reg = self.lock();
            reg.zones.remove(&c.zone.name);
            reg.acls.remove(c.apex.as_slice());
            reg.notify_out.remove(c.apex.as_slice());
            self.install_notify(&reg);
        }
    }

    /// Removes the API zones named by `entries` (each a name, or an object
    /// with a `name`, so that the array given to `POST /zones` removes what
    /// it added) in one step, or none of them; see the module doc. Returns
    /// the names removed (canonical), in the order given.
    pub async fn remove_api_batch(&self, entries: &[Value]) -> Result<Vec<String>, BatchError> {
        check_count(entries.len())?;
        let mut refused = Vec::new();
        let mut names: Vec<(usize, String)> = Vec::with_capacity(entries.len());
        let mut first_at: HashMap<String, usize> = HashMap::new();
        for (index, v) in entries.iter().enumerate() {
            let given = entry_name(v);
            let Some(key) = given.as_deref().map(canonical_name).filter(|k| !k.is_empty()) else {
                refused.push(Refused::new(
                    Rank::Invalid,
                    index,
                    given,
                    "not a zone name (a string, or an object with a \"name\")",
                ));
                continue;
            };
            if let Some(first) = first_at.get(&key) {
                refused.push(Refused::new(
                    Rank::Invalid,
                    index,
                    given,
                    format!("listed twice in this batch (first at index {first})"),
                ));
                continue;
            }
            first_at.insert(key.clone(), index);
            names.push((index, key));
        }
        let change = self.inner.changes.lock().await;
        let mut found: Vec<(String, Served)> = Vec::with_capacity(names.len());
        {
            let reg = self.lock();
            for (index, key) in &names {
                match reg.zones.get(key) {
                    Some(m) if m.origin == Origin::Api => {
                        found.push((key.clone(), Some((m.apex.clone(), m.config.source.is_secondary()))))
                    }
                    Some(m) => refused.push(Refused::new(
                        Rank::Conflict,
                        *index,
                        Some(key.clone()),
                        not_removable(key, m.origin),
                    )),
                    None if reg.broken.contains_key(key) => found.push((key.clone(), None)),
                    None => refused.push(Refused::new(
                        Rank::NotFound,
                        *index,
                        Some(key.clone()),
                        format!("no zone named {key:?} is served here"),
                    )),
                }
            }
        }
        if !refused.is_empty() {
            return Err(refused_error(refused, entries.len(), "removed"));
        }
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let gone: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        let list: Vec<ApiZone> = self
            .api_list()
            .into_iter()
            .filter(|z| !gone.contains(canonical_name(&z.name).as_str()))
            .collect();
        self.write_api_list(list).await?;

        let defer = self.defer_installs();
        let mut failures = Vec::new();
        for (key, what) in &found {
            let Some((apex, is_secondary)) = what else {
                self.lock().broken.remove(key);
                info!(zone = %key, "zone removed (it was not served: its entry did not validate)");
                continue;
            };
            let removed = if *is_secondary {
                self.inner.engine.remove(apex, Stop::Forget).await.map(|_| ())
            } else {
                self.inner.server.store().update(|set| set.without(apex));
                let (dir, apex_v) = (self.inner.engine.data_dir().to_path_buf(), apex.clone());
                tokio::task::spawn_blocking(move || persist::remove(&dir, &apex_v))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r)
            };
            if let Err(e) = removed {
                let f = format!("zone {key} is no longer served, but its files were not all deleted: {e}");
                warn!("{f}");
                failures.push(f);
            }
            let mut reg = self.lock();
            reg.zones.remove(key);
            reg.acls.remove(apex.as_slice());
            reg.notify_out.remove(apex.as_slice());
            self.install_notify(&reg);
            info!(zone = %key, "zone removed");
        }
        drop(defer);
        drop(change);
        info!(zones = found.len(), "zones removed through the API in one batch");
        let _ = self.rebuild_catalogs().await;
        if !failures.is_empty() {
            return Err(ZoneError::Failed(format!(
                "{} zones removed; {} of them left files behind: {}",
                found.len(),
                failures.len(),
                failures.join("; ")
            ))
            .into());
        }
        Ok(found.into_iter().map(|(n, _)| n).collect())
    }
}

/// Single `POST /zones` calls that arrive while others are being carried
/// out are added together in the next round ([`ZoneManager::add_api_each`]):
/// one write of `api-zones.json` for all of them instead of one each. A
/// caller queues its zone, then the first caller to get the round lock
/// takes every zone queued and runs the round in a task of its own (so a
/// client that hangs up does not cut a round short); each caller is
/// answered when its own zone is written and served, or refused. A call
/// that comes alone runs a round of one, as before.
pub struct AddQueue {
    zones: ZoneManager,
    pending: std::sync::Mutex<Vec<Queued>>,
    round: Arc<tokio::sync::Mutex<()>>,
    /// Rounds run (for tests).
    rounds: std::sync::atomic::AtomicU64,
}

type Queued = (ApiZone, tokio::sync::oneshot::Sender<Result<ZoneView, ZoneError>>);

impl AddQueue {
    pub fn new(zones: ZoneManager) -> Arc<AddQueue> {
        Arc::new(AddQueue {
            zones,
            pending: Default::default(),
            round: Default::default(),
            rounds: Default::default(),
        })
    }

    /// Adds one zone, as [`ZoneManager::add_api`] does.
    pub async fn add(self: &Arc<Self>, request: ApiZone) -> Result<ZoneView, ZoneError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock_pending().push((request, tx));
        let turn = self.round.clone().lock_owned().await;
        let round = std::mem::take(&mut *self.lock_pending());
        if round.is_empty() {
            // An earlier round took this zone.
            drop(turn);
        } else {
            let me = self.clone();
            tokio::spawn(async move {
                let (requests, answers): (Vec<ApiZone>, Vec<_>) = round.into_iter().unzip();
                me.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(zones = requests.len(), "a round of single API adds");
                let results = me.zones.add_api_each(&requests).await;
                drop(turn);
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            });
        }
        rx.await
            .unwrap_or_else(|_| Err(ZoneError::Failed("the round adding this zone failed".into())))
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_kind_sets_the_status_and_every_entry_is_named() {
        let refused = vec![
            Refused::new(Rank::NotFound, 7, Some("b.example".into()), "no zone"),
            Refused::new(Rank::Invalid, 2, None, "not a zone object"),
            Refused::new(Rank::Conflict, 4, Some("a.example".into()), "served"),
        ];
        let e = refused_error(refused, 10, "added");
        let ZoneError::Invalid(text) = &e.error else {
            panic!("{:?}", e.error)
        };
        assert_eq!(
            text,
            "3 of 10 entries refused, nothing added: [2]: not a zone object; [4] a.example: served; [7] b.example: no zone"
        );
        assert_eq!(e.refused.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 4, 7]);
        let e = refused_error(
            vec![Refused::new(Rank::NotFound, 0, Some("x".into()), "no zone")],
            1,
            "removed",
        );
        assert!(matches!(e.error, ZoneError::NotFound(_)), "{e}");
    }

    #[test]
    fn long_lists_are_cut_in_the_text_only() {
        let refused: Vec<Refused> = (0..50).map(|i| Refused::new(Rank::Conflict, i, None, "x")).collect();
        let e = refused_error(refused, 50, "added");
        assert!(e.to_string().ends_with("; and 30 more (see \"refused\")"), "{e}");
        assert_eq!(e.refused.len(), 50);
        assert!(matches!(e.error, ZoneError::Conflict(_)));
    }

    fn manager(dir: &std::path::Path) -> ZoneManager {
        let text = format!(
            "[node]\nid = \"t\"\ndata-dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\n\
             [[zone]]\nname = \"conf.example\"\nprimaries = [\"127.0.0.1:1\"]\n",
            dir.display()
        );
        let config = crate::config::Config::from_str(&text, dir, std::path::Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let server = Arc::new(crate::dns::Server::new(
            crate::zone::Store::default(),
            crate::dns::ServerOptions {
                node_id: "t".into(),
                nsid: false,
                version: None,
                udp_payload: 1232,
            },
        ));
        ZoneManager::start(&config, Default::default(), Default::default(), server, HashMap::new())
    }

    fn zone(name: &str) -> ApiZone {
        ApiZone {
            name: name.into(),
            primaries: vec!["127.0.0.1:1".into()],
            ..Default::default()
        }
    }

    fn file_names(dir: &std::path::Path) -> Vec<String> {
        let list = api_zones::read(&dir.join(api_zones::FILE_NAME)).unwrap_or_else(|e| panic!("{e}"));
        list.into_iter().map(|z| z.name).collect()
    }

    /// Calls queued while a round runs go into the next round, all of
    /// them; each gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_calls_are_one_round_each_answered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let zones = manager(dir.path());
        let queue = AddQueue::new(zones.clone());
        // A round is running: every call below queues.
        let running = queue.round.clone().lock_owned().await;
        let mut calls = Vec::new();
        let mut names: Vec<String> = (0..40).map(|i| format!("q{i}.example")).collect();
        names.extend(["q3.example".into(), "conf.example".into(), "bad..example".into()]);
        for n in &names {
            let (q, z) = (queue.clone(), zone(n));
            calls.push(tokio::spawn(async move { q.add(z).await }));
        }
        while queue.lock_pending().len() < names.len() {
            tokio::task::yield_now().await;
        }
        drop(running);
        let mut results = Vec::new();
        for c in calls {
            results.push(c.await.unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(queue.rounds.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Index 3 is checked with its twin below.
        for (i, (n, r)) in names.iter().zip(&results).enumerate().take(40) {
            if i != 3 {
                assert_eq!(r.as_ref().map(|v| v.name.as_str()), Ok(n.as_str()));
            }
        }
        // Spawned tasks queue in any order: one of the two q3 calls won.
        let q3: Vec<_> = [&results[3], &results[40]].into_iter().filter(|r| r.is_err()).collect();
        assert!(
            matches!(q3.as_slice(), [Err(ZoneError::Exists(m))] if m.contains("q3.example is already served")),
            "{q3:?}"
        );
        let won: Vec<_> = [&results[3], &results[40]].into_iter().filter(|r| r.is_ok()).collect();
        assert!(matches!(won.as_slice(), [Ok(v)] if v.name == "q3.example"), "{won:?}");
        assert!(matches!(&results[41], Err(ZoneError::Exists(m)) if m.contains("from the config file")));
        assert!(matches!(&results[42], Err(ZoneError::Invalid(m)) if m.starts_with("name:")));
        let mut want: Vec<String> = names[..40].to_vec();
        want.sort();
        assert_eq!(file_names(dir.path()), want);
        // A lone call: a round of one.
        let v = queue.add(zone("alone.example")).await;
        assert_eq!(v.map(|v| v.name), Ok("alone.example".to_string()));
        assert_eq!(queue.rounds.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(file_names(dir.path()).contains(&"alone.example".to_string()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let zones = manager(dir.path());
        let entries: Vec<Value> = ["a.example", "b.example", "conf.example"]
            .iter()
            .map(|n| serde_json::to_value(zone(n)).unwrap_or_default())
            .collect();
        let e = zones.add_api_batch(&entries).await.unwrap_err();
        assert!(matches!(e.error, ZoneError::Conflict(_)), "{e}");
        assert_eq!(e.refused.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2]);
        assert!(zones.get("a.example").is_none());
        let views = zones
            .add_api_batch(&entries[..2])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(views.len(), 2);
        assert_eq!(file_names(dir.path()), vec!["a.example", "b.example"]);
        let names = [serde_json::json!("A.example."), serde_json::json!("nope.example")];
        let e = zones.remove_api_batch(&names).await.unwrap_err();
        assert!(matches!(e.error, ZoneError::NotFound(_)), "{e}");
        assert!(zones.get("a.example").is_some());
        let removed = zones
            .remove_api_batch(&names[..1])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(removed, vec!["a.example"]);
        assert!(zones.get("a.example").is_none());
        assert_eq!(file_names(dir.path()), vec!["b.example"]);
    }

    #[test]
    fn count_limit() {
        assert!(check_count(MAX_BATCH).is_ok());
        let e = check_count(MAX_BATCH + 1).unwrap_err().to_string();
        assert!(e.contains("at most 10000 per call"), "{e}");
    }

    #[test]
    fn names_of_entries() {
        assert_eq!(entry_name(&serde_json::json!("a.example")), Some("a.example".into()));
        assert_eq!(
            entry_name(&serde_json::json!({"name": "b.example", "primaries": []})),
            Some("b.example".into())
        );
        assert_eq!(entry_name(&serde_json::json!(3)), None);
        assert_eq!(entry_name(&serde_json::json!({"name": 3})), None);
    }
}
