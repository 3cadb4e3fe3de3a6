//! SIGHUP: re-reads the config file and applies what changed without
//! stopping the node.
//!
//! An invalid file is refused with every error logged, and the running
//! configuration stays. Otherwise:
//! - zones removed from the file stop being served (their files on disk
//!   are deleted); zones added are loaded and served; zones whose settings
//!   changed are replaced while the version held keeps answering; file
//!   zones whose file changed since they were loaded are loaded again (a
//!   broken file leaves the old version serving; a new zone whose file does
//!   not load answers SERVFAIL and is reported, as at start-up). The file
//!   and its zone files are read within their bounds (`crate::files`): a
//!   FIFO or a device is refused at once, never read or waited on;
//! - a zone whose source did not change (same file, not newer; same
//!   primaries, key and timers) but whose other settings did
//!   (`allow-transfer`, `notify`, `notify-source`, ...) gets them in place:
//!   no reload, no transfer;
//! - zones added through the API are derived again from the new config
//!   (their `[[template]]` may have changed), see
//!   [`ZoneManager::reconfigure`];
//! - `[transfer]`: the caps on transfers out and `notify-rate` apply
//!   from then on (running transfers finish);
//! - consumer catalogs follow the config: one removed takes the members it
//!   made with it (and their files), one added is applied as soon as it
//!   serves a version, one kept keeps its members (their settings follow
//!   the catalog zone's primaries and their templates, versions kept)
//!   ([`ZoneManager::reconfigure_catalogs`]);
//! - producer catalogs are written again from the zones served, and served
//!   anew when their members changed (`crate::catalog::producer`);
//! - `[bgp]`: sessions whose peer settings did not change stay up and get
//!   the new announcements; peers removed get a Cease, new or changed ones
//!   start (see [`crate::bgp::Speaker::reconfigure`]);
//! - what cannot change while running (listen addresses, workers, the data
//!   dir, the management and identity listeners, `[health]`, TSIG keys) is
//!   reported as needing a restart.
//!
//! Queries never stop: every change is a new snapshot published through the
//! zone store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::axfr::engine::Stop;
use crate::bgp::Speaker;
use crate::config::{Config, ZoneConfig, ZoneSource};
use crate::health::HealthRx;
use crate::zonemgr::{Origin, ZoneManager};

/// What a reload needs besides the new file.
pub struct Reloader {
    path: PathBuf,
    running: Config,
    /// What each file zone's file looked like when it was last loaded.
    loaded: HashMap<String, FileStamp>,
}

/// A zone file's identity as of a load: a later reload reads the file again
/// when any of it differs, not only when the mtime moved forward (`cp -p`
/// and `rsync -t` put older times on new contents).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    mtime: Option<SystemTime>,
    ctime: (i64, i64),
    len: u64,
    inode: (u64, u64),
    /// The file changed so close to the load that an edit in the same clock
    /// tick would leave every field above as it is: the kernel stamps files
    /// from a coarse clock (a few ms), so a write just after a load can carry
    /// the same times and, for a same-size edit, the same everything. Such
    /// a file is read again at the next reload whatever its stamp says.
    racy: bool,
}

/// How close to the load a change makes the stamp unreliable: well above the
/// coarse clock's tick and the 1 s / 2 s granularity of some filesystems.
const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);

/// Notes the file of zone `z` as loaded by a load that began at `started`.
fn stamp(loaded: &mut HashMap<String, FileStamp>, z: &ZoneConfig, started: SystemTime) {
    let stamp = match &z.source {
        ZoneSource::File(p) => FileStamp::take(p, started),
        ZoneSource::Secondary { .. } => None,
    };
    match stamp {
        Some(s) => loaded.insert(z.name.clone(), s),
        None => loaded.remove(&z.name),
    };
}

impl FileStamp {
    /// The stamp of `path` for a load that began at `load_started`.
    fn take(path: &Path, load_started: SystemTime) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let mtime = m.modified().ok();
        let racy = match mtime {
            Some(t) => t + RACY_WINDOW >= load_started,
            None => true,
        };
        Some(FileStamp {
            mtime,
            ctime: (m.ctime(), m.ctime_nsec()),
            len: m.len(),
            inode: (m.dev(), m.ino()),
            racy,
        })
    }

    /// True when the file at `path` may differ from what was loaded.
    fn changed(loaded: Option<&FileStamp>, path: &Path) -> bool {
        let Some(before) = loaded else { return true };
        if before.racy {
            return true;
        }
        match FileStamp::take(path, SystemTime::UNIX_EPOCH) {
            Some(now) => {
                (now.mtime, now.ctime, now.len, now.inode) != (before.mtime, before.ctime, before.len, before.inode)
            }
            None => true,
        }
    }
}

impl Reloader {
    /// `running` was read from `path` and loaded at `started`.
    pub fn new(path: PathBuf, running: Config, started: SystemTime) -> Reloader {
        let loaded = running
            .zones
            .iter()
            .filter_map(|z| match &z.source {
                ZoneSource::File(p) => Some((z.name.clone(), FileStamp::take(p, started)?)),
                ZoneSource::Secondary { .. } => None,
            })
            .collect();
        Reloader { path, running, loaded }
    }

    pub fn config(&self) -> &Config {
        &self.running
    }

    /// Re-reads the file and applies it. Returns false if it was refused.
    pub async fn reload(&mut self, zones: &ZoneManager, speaker: &mut Option<Speaker>, health: HealthRx) -> bool {
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path)).await;
        let new = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(errors)) => {
                error!("SIGHUP: the new configuration is invalid; keeping the running one:\n{errors}");
                return false;
            }
            Err(e) => {
                error!("SIGHUP: reading the configuration failed ({e}); keeping the running one");
                return false;
            }
        };
        info!(file = %self.path.display(), "SIGHUP: applying the configuration");
        self.needs_restart(&new);
        edge(&self.running, &new, zones.server());
        zones.set_transfer_limits(&new.transfer);
        zones.fleet().set_config(&new.fleet);
        zones.prepare_catalogs(&new).await;
        self.zones(&new, zones).await;
        zones.reconfigure(&new).await;
        zones.reconfigure_catalogs(&new).await;
        // Producer catalogs list the zones served now: members added above
        // are served before a catalog names them.
        let rebuilt = SystemTime::now();
        for name in zones.rebuild_catalogs().await {
            // Loaded from the file just written: not newer at the next SIGHUP.
            if let Some(z) = new.zones.iter().find(|z| z.name == name) {
                stamp(&mut self.loaded, z, rebuilt);
            }
        }
        bgp(&self.running, &new, speaker, health).await;
        self.running = new;
        info!("SIGHUP: configuration applied");
        true
    }

    /// Logs the keys that changed but only take effect at a restart.
    fn needs_restart(&self, new: &Config) {
        let old = &self.running;
        let mut keys = Vec::new();
        // Rate limiting and cookie secrets apply at once (`edge`).
        let rest = |d: &crate::config::DnsConfig| {
            let mut d = d.clone();
            d.rrl = Default::default();
            d.cookie_secrets = None;
            format!("{d:?}")
        };
        if rest(&old.dns) != rest(&new.dns) {
            keys.push("[dns]");
        }
        if old.node.data_dir != new.node.data_dir || old.node.id != new.node.id {
            keys.push("node.id / node.data-dir");
        }
        if format!("{:?}", old.health) != format!("{:?}", new.health) {
            keys.push("[health]");
        }
        if format!("{:?}", old.mgmt) != format!("{:?}", new.mgmt) {
            keys.push("[mgmt]");
        }
        if format!("{:?}", old.identity) != format!("{:?}", new.identity) {
            keys.push("[identity]");
        }
        if old.tsig_keys != new.tsig_keys {
            keys.push("[[tsig-key]]");
        }
        if !keys.is_empty() {
            warn!(
                "SIGHUP: {} changed; that takes effect at the next restart (the running values stay)",
                keys.join(", ")
            );
        }
    }

    async fn zones(&mut self, new: &Config, zones: &ZoneManager) {
        // Thousands of zones may come or go: the NOTIFY and transfer-out
        // tables are installed once, at the end.
        let _installs = zones.defer_installs();
        let old: HashMap<&str, &ZoneConfig> = self.running.zones.iter().map(|z| (z.name.as_str(), &**z)).collect();
        let next: HashMap<&str, &ZoneConfig> = new.zones.iter().map(|z| (z.name.as_str(), &**z)).collect();
        for name in old.keys().filter(|n| !next.contains_key(*n)) {
            match zones.remove(name, Origin::Config, Stop::Forget).await {
                Ok(()) => info!(zone = %name, "SIGHUP: zone removed"),
                Err(e) => warn!(zone = %name, "SIGHUP: removing the zone failed: {e}"),
            }
            self.loaded.remove(*name);
        }
        for z in &new.zones {
            let started = SystemTime::now();
            match old.get(z.name.as_str()) {
                None => match zones.add(z.clone(), Origin::Config).await {
                    Ok(()) => {
                        info!(zone = %z.name, "SIGHUP: zone added");
                        stamp(&mut self.loaded, z, started);
                    }
                    Err(e) => error!(zone = %z.name, "SIGHUP: adding the zone failed: {e}"),
                },
                Some(before) => {
                    let changed = format!("{before:?}") != format!("{z:?}");
                    let file_newer = match &z.source {
                        // pharos writes a producer catalog's file itself
                        // and serves each new version as it writes it.
                        ZoneSource::File(_) if z.catalog == Some(crate::config::CatalogRole::Producer) => false,
                        ZoneSource::File(p) => FileStamp::changed(self.loaded.get(&z.name), p),
                        ZoneSource::Secondary { .. } => false,
                    };
                    if !changed && !file_newer {
                        continue;
                    }
                    if !file_newer && zones.update_settings(z.clone()) {
                        info!(zone = %z.name, "SIGHUP: zone settings applied (no reload, no transfer)");
                        continue;
                    }
                    if let ZoneSource::File(p) = &z.source {
                        // Check the file first: a broken one leaves the
                        // old version serving.
                        let (n, p) = (z.name.clone(), p.clone());
                        let check =
                            tokio::task::spawn_blocking(move || crate::zone::file::load_zone_file(&n, &p)).await;
                        match check {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => {
                                error!(zone = %z.name, "SIGHUP: the zone file does not load; the old version stays:\n{e}");
                                continue;
                            }
                            Err(e) => {
                                error!(zone = %z.name, "SIGHUP: zone load task failed ({e}); the old version stays");
                                continue;
                            }
                        }
                    }
                    if let Err(e) = zones.remove(&z.name, Origin::Config, Stop::KeepServing).await {
                        warn!(zone = %z.name, "SIGHUP: {e}");
                    }
                    match zones.add(z.clone(), Origin::Config).await {
                        Ok(()) => {
                            info!(zone = %z.name, reloaded = !changed, "SIGHUP: zone updated");
                            stamp(&mut self.loaded, z, started);
                        }
                        Err(e) => error!(zone = %z.name, "SIGHUP: updating the zone failed: {e}"),
                    }
                }
            }
        }
    }
}

async fn bgp(old: &Config, new: &Config, speaker: &mut Option<Speaker>, health: HealthRx) {
    match (speaker.take(), new.bgp.enabled) {
        (Some(mut s), true) => {
            // Unchanged sessions stay up (their routes are compared there;
            // a changed password counts as a changed peer).
            s.reconfigure(&new.bgp, health).await;
            if format!("{:?}", old.bgp) != format!("{:?}", new.bgp) {
                info!("SIGHUP: BGP configuration applied");
            }
            *speaker = Some(s);
        }
        (Some(s), false) => {
            s.shutdown("BGP disabled in the configuration").await;
            info!("SIGHUP: BGP disabled; sessions closed");
        }
        (None, true) => {
            let sockets = crate::bgp::Sockets::bind(&new.bgp).unwrap_or_else(|e| {
                error!("SIGHUP: {e}");
                crate::bgp::Sockets::empty()
            });
            *speaker = Some(Speaker::spawn(&new.bgp, health, sockets));
            info!("SIGHUP: BGP enabled");
        }
        (None, false) => {}
    }
}

/// `[dns.rrl]` and the cookie secrets: applied at once. A new rate limiter
/// starts with empty buckets.
fn edge(old: &Config, new: &Config, server: &crate::dns::Server) {
    if old.dns.rrl != new.dns.rrl {
        server.set_rrl(crate::dns::rrl::Limiter::new(&new.dns.rrl));
        info!(
            responses_per_second = new.dns.rrl.responses_per_second,
            "SIGHUP: response rate limiting reconfigured"
        );
    }
    if old.dns.cookie_secrets != new.dns.cookie_secrets {
        match &new.dns.cookie_secrets {
            Some(s) => {
                server.set_cookie_secrets(s.clone());
                info!(
                    previous = s.previous.is_some(),
                    "SIGHUP: DNS cookie secret changed; cookies made with the old one are accepted only if it is cookie-secret-previous"
                );
            }
            None => warn!(
                "SIGHUP: dns.cookie-secret removed; the running secret stays until the next restart, which picks a random one"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(path: &Path, text: &str, mtime: SystemTime) {
        std::fs::write(path, text).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(mtime).unwrap();
    }

    #[test]
    fn an_edit_in_the_same_clock_tick_as_the_load_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.zone");
        // The kernel's coarse clock stamps a file a few ms behind the
        // precise clock the load started by.
        let load_started = SystemTime::now();
        let coarse = load_started - Duration::from_millis(4);
        write(&p, "serial 2", coarse);
        let stamp = FileStamp::take(&p, load_started).unwrap();
        assert!(stamp.racy);
        // Same size, same mtime: nothing in the metadata moved.
        write(&p, "serial 3", coarse);
        assert!(FileStamp::changed(Some(&stamp), &p));
    }

    #[test]
    fn an_old_untouched_file_is_not_read_again_and_an_older_mtime_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.zone");
        let old = SystemTime::now() - Duration::from_secs(3600);
        write(&p, "serial 2", old);
        let stamp = FileStamp::take(&p, SystemTime::now()).unwrap();
        assert!(!stamp.racy);
        assert!(!FileStamp::changed(Some(&stamp), &p));
        // `rsync -t` of new contents with an even older time.
        write(&p, "serial 3", old - Duration::from_secs(3600));
        assert!(FileStamp::changed(Some(&stamp), &p));
        assert!(FileStamp::changed(None, &p));
        std::fs::remove_file(&p).unwrap();
        assert!(FileStamp::changed(Some(&stamp), &p));
    }
}
