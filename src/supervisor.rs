//! Start-up and shutdown: loads the zones, binds every socket, starts the
//! listeners and the health checks, then waits for a signal or for a
//! listener to die.
//!
//! Shutdown order:
//!
//! - SIGTERM/SIGINT: health publishes `Stopping` (BGP withdraws), the node
//!   keeps answering for `health.drain` while routes converge, then BGP
//!   sessions close and DNS stops; exit 0. The wait is skipped when BGP is
//!   disabled or nothing was announced (starting, unhealthy, drained): there
//!   is nothing to drain. A second signal, or a listener dying, ends the
//!   wait early.
//! - A listener dies: health publishes `Unhealthy` at once (BGP withdraws),
//!   BGP sessions close, then the process stops with an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::{error, info, warn};

use crate::config::{Config, ZoneSource};
use crate::dns::tcp::{self, TcpOptions};
use crate::dns::{Server, ServerOptions, udp};
use crate::error::Error;
use crate::health;
use crate::zone::{Store, Zone, ZoneSet, file};

/// Runs the node until SIGTERM/SIGINT or a fatal listener error.
pub fn serve(config: Config, path: &std::path::Path) -> Result<(), Error> {
    let started = std::time::SystemTime::now();
    // The open-file limit raised to the hard limit, and refused if what the
    // node may hold open cannot fit: before any file or socket is opened.
    crate::rlimit::prepare(&config)?;
    // Zones added through the management API are loaded like config zones.
    let api_zones = crate::zonemgr::api_zones::ApiZones::load(&config);
    // Producer catalogs are written from the zones before they load.
    crate::catalog::producer::rebuild(
        &config.node.data_dir,
        config
            .zones
            .iter()
            .chain(api_zones.valid.iter().map(|(_, z)| z))
            .map(|z| &**z),
        crate::tsig::unix_now(),
    );
    // Members of consumer catalogs, as their state files list them: served
    // from their snapshots like the others.
    let api_list: Vec<_> = api_zones.valid.iter().map(|(_, z)| z.clone()).collect();
    let members = crate::zonemgr::consumer::Restored::load(&config, &api_list);
    let loaded = {
        let mut all = config.clone();
        all.zones.extend(api_list);
        all.zones.extend(members.zones.iter().map(|(z, _)| z.clone()));
        load_zones(&all)
    };
    // Secondary zones with nothing on disk answer SERVFAIL (not REFUSED)
    // from the first query on, before the engine takes them; so do file
    // zones whose file failed to load (a zone-level failure, reported).
    let served: std::collections::HashSet<&[u8]> = loaded.zones.iter().map(|z| z.apex()).collect();
    let placeholders: Vec<crate::zone::store::Served> = config
        .zones
        .iter()
        .chain(api_zones.valid.iter().map(|(_, z)| z))
        .chain(members.zones.iter().map(|(z, _)| z))
        .filter_map(|z| crate::zone::name::from_text(&z.name).ok())
        .filter(|apex| !served.contains(apex.as_slice()))
        .map(|apex| crate::zone::store::Served {
            apex: apex.into(),
            zone: None,
            expired: false,
        })
        .collect();
    drop(served);
    let store = Store::new(ZoneSet::from_zones(loaded.zones).with_entries(placeholders));
    let persisted = loaded.persisted;
    let load_errors = loaded.failed;
    let server = Arc::new(Server::new(
        store,
        ServerOptions {
            node_id: config.node.id.clone(),
            nsid: config.dns.nsid,
            version: config.dns.version.clone(),
            udp_payload: config.dns.udp_payload,
        },
    ));
    server.set_rrl(crate::dns::rrl::Limiter::new(&config.dns.rrl));
    match &config.dns.cookie_secrets {
        Some(secrets) => server.set_cookie_secrets(secrets.clone()),
        None => warn!(
            "dns.cookie-secret is not set: DNS cookies use a random secret for this run; every node of a fleet needs the same dns.cookie-secret so that a client's cookie stays valid when anycast moves it to another node"
        ),
    }

    // Bind everything before serving anything.
    let workers = match config.dns.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut udp_sockets = Vec::new();
    let mut tcp_listeners = Vec::new();
    // Where each listener ended up (port 0 resolved): what health probes.
    let mut bound = Vec::new();
    for addr in &config.dns.listen {
        let socks = udp::bind(*addr, workers).map_err(|e| Error::Startup(format!("UDP {addr}: {e}")))?;
        #[cfg(target_os = "linux")]
        if config.dns.socket_affinity {
            if let Some(first) = socks.first() {
                crate::dns::affinity::steer_by_cpu(first, socks.len())
                    .map_err(|e| Error::Startup(format!("dns.socket-affinity: UDP {addr}: {e}")))?;
            }
        }
        bound.push(socks.first().and_then(|s| s.local_addr().ok()).unwrap_or(*addr));
        udp_sockets.extend(socks);
        let l = tcp::bind(*addr).map_err(|e| Error::Startup(format!("TCP {addr}: {e}")))?;
        tcp_listeners.push((*addr, l));
    }
    // Management API and identity endpoints: bound now, served once running.
    let mgmt_listeners = crate::mgmt::bind(&config)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.clamp(1, 4))
        .enable_all()
        .thread_name("pharos-rt")
        .build()
        .map_err(|e| Error::Startup(format!("tokio runtime: {e}")))?;

    // Transfers out stream on threads of their own, at a lower priority
    // than the query path.
    let xfr_runtime = crate::axfr::out::runtime::build(workers.clamp(1, 2))
        .map_err(|e| Error::Startup(format!("transfer-out runtime: {e}")))?;
    server.xfr_out.set_runtime(xfr_runtime.handle().clone());

    let stop = Arc::new(AtomicBool::new(false));
    let (died_tx, mut died_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Each UDP worker and TCP accept loop counts its progress; health
    // withdraws the node when one stops moving with work waiting.
    let watched = Arc::new(health::Workers::default());
    let udp_progress = watched
        .udp(&udp_sockets)
        .map_err(|e| Error::Startup(format!("UDP workers: {e}")))?;
    let tcp_progress = watched
        .tcp(tcp_listeners.iter().map(|(_, l)| l))
        .map_err(|e| Error::Startup(format!("TCP listeners: {e}")))?;
    // The zone manager installs the NOTIFY rules before any listener
    // answers: a NOTIFY answered in between got NOTAUTH ("not a secondary
    // zone here"), which a primary does not send again, and the zone
    // waited for its resumed refresh timer (hours) for that change.
    let zones = {
        let _runtime = runtime.enter();
        crate::zonemgr::ZoneManager::start(&config, api_zones, members, server.clone(), persisted)
    };
    // BGP: the passive peers' listening sockets and BFD's (UDP 3784/4784).
    let bgp_sockets = {
        let _runtime = runtime.enter();
        crate::bgp::Sockets::bind(&config.bgp).map_err(Error::Startup)?
    };
    let udp_threads = udp::spawn(
        udp_sockets,
        server.clone(),
        stop.clone(),
        died_tx.clone(),
        udp_progress,
        config.dns.socket_affinity.then_some(workers),
    )
    .map_err(|e| Error::Startup(format!("UDP workers: {e}")))?;

    let result = runtime.block_on(async {
        let opts = TcpOptions {
            max_connections: config.dns.tcp_max_connections,
            idle_timeout: config.dns.tcp_idle_timeout,
            lifetime: config.dns.tcp_max_lifetime,
        };
        // One connection table for every TCP listener.
        let table = opts.table();
        for ((addr, listener), progress) in tcp_listeners.into_iter().zip(tcp_progress) {
            let server = server.clone();
            let table = table.clone();
            let died = died_tx.clone();
            tokio::spawn(async move {
                let err = tcp::serve(listener, server, opts, table, progress).await;
                let _ = died.send(format!("TCP listener {addr} failed: {err}"));
            });
        }
        zones.spawn_catalog_consumers();
        // Freed memory back to the system after each burst of zone changes.
        tokio::spawn(crate::zone::trim::after_changes(server.store().subscribe()));
        for (name, why) in load_errors {
            zones.set_load_error(&name, Some(why));
        }
        // Which zones without a version are still waiting for their first
        // transfer (they hold back a fresh node), and which have failed.
        let pending: health::Pending = {
            let zones = zones.clone();
            Arc::new(move |apex: &[u8]| zones.first_attempt_pending(apex))
        };
        // Which failed zones failed upstream (their primaries answered, with
        // an error): not counted towards "cut off".
        let answering: health::Answering = {
            let zones = zones.clone();
            Arc::new(move |apex: &[u8]| {
                zones
                    .engine()
                    .status(apex)
                    .is_some_and(|s| s.round_failed && !s.primaries_silent)
            })
        };
        let health = health::Monitor::start(
            health::Options::new(&config, bound)
                .with_pending(pending)
                .with_answering(answering)
                .with_cookies(server.cookie_secrets()),
            server.store().clone(),
        );
        health.watch_workers(watched.clone());
        // BGP: announces bgp.announce while health says so (src/bgp).
        let mut speaker = config
            .bgp
            .enabled
            .then(|| crate::bgp::Speaker::spawn(&config.bgp, health.subscribe(), bgp_sockets));
        let bgp_view = speaker.as_ref().map(|s| s.status() as Arc<dyn crate::mgmt::BgpView>);
        crate::mgmt::spawn(
            mgmt_listeners,
            crate::mgmt::Context::new(&config, server.clone(), zones.clone())
                .with_health(Some(health.subscribe()))
                .with_bgp(bgp_view)
                .with_workers(Some(watched)),
        );
        info!(
            listen = ?config.dns.listen,
            zones = server.store().load().len(),
            udp_workers = workers,
            "serving"
        );
        let mut reloader = crate::reload::Reloader::new(path.to_path_buf(), config.clone(), started);
        let mut hup = hangups();
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                why = died_rx.recv() => {
                    let why = why.unwrap_or_else(|| "listener channel closed".into());
                    error!("{why}; stopping");
                    // Unhealthy at once: the speaker withdraws, then the Cease.
                    health.listener_died(&why);
                    break Err(Error::Runtime(why));
                }
                sig = &mut shutdown => {
                    info!("{sig}: stopping");
                    let before = health.stopping(sig);
                    drain(reloader.config(), &before, &mut died_rx).await;
                    break Ok(());
                }
                Some(()) = next_hangup(&mut hup) => {
                    reloader.reload(&zones, &mut speaker, health.subscribe()).await;
                }
            }
        };
        if let Some(speaker) = speaker {
            // Cease / Administrative Shutdown to every peer (routes are
            // already withdrawn), then close; at most about a second.
            speaker
                .shutdown(&format!("pharos node {} shutting down", config.node.id))
                .await;
        }
        info!("stopping DNS");
        result
    });
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    xfr_runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    for t in udp_threads {
        let _ = t.join();
    }
    result
}

/// After `Stopping` was published: keeps DNS answering for `health.drain`
/// while the withdrawal spreads, if there is anything to drain (BGP enabled
/// and the prefixes were announced in the state `before`). A second signal
/// or a dying listener ends the wait.
async fn drain(config: &Config, before: &health::Health, died_rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) {
    let wait = config.health.drain;
    if !config.bgp.enabled {
        info!("BGP disabled: nothing to drain");
        return;
    }
    if before.announce() == health::Announce::Withdraw {
        info!(state = %before.state, "prefixes were not announced: nothing to drain");
        return;
    }
    if wait.is_zero() {
        return;
    }
    info!(
        drain = %crate::config::format_duration(wait),
        "prefixes withdrawn; still answering while the withdrawal spreads"
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        sig = shutdown_signal() => info!("{sig} again: not waiting for the drain to end"),
        Some(why) = died_rx.recv() => error!("{why}; not waiting for the drain to end"),
    }
}

/// SIGHUP (reload), registered once: the handler replaces SIGHUP's
/// default action (ending the process) for the node's whole life.
#[cfg(unix)]
fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Option<()> {
    None
}

#[cfg(unix)]
async fn next_hangup(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup.as_mut() {
        Some(h) => h.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Option<()>) -> Option<()> {
    std::future::pending().await
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// What start-up found on disk for a secondary zone.
pub type Persisted = crate::axfr::engine::HeldVersion;

/// Zones loaded at start-up.
#[derive(Default)]
pub struct Loaded {
    pub zones: Vec<Arc<Zone>>,
    /// Secondary zones served from their persisted copy, by apex.
    pub persisted: std::collections::HashMap<Vec<u8>, Persisted>,
    /// File zones that failed to load: (name, why in one line).
    pub failed: Vec<(String, String)>,
}

/// Loads every file zone and the persisted copy of every secondary zone,
/// in parallel, before anything is served. A zone that fails is logged and
/// listed in [`Loaded::failed`] (file zones); the others are served.
pub fn load_zones(config: &Config) -> Loaded {
    enum Job<'a> {
        File(&'a str, &'a std::path::Path, crate::zone::journal::Bounds),
        Persisted(&'a str, std::path::PathBuf),
    }
    let snapshots = config.node.data_dir.join("zones");
    let jobs: Vec<Job<'_>> = config
        .zones
        .iter()
        .filter_map(|z| match &z.source {
            ZoneSource::File(path) => {
                let bounds = crate::zone::journal::Bounds::new(z.out.history_depth, z.out.history_bytes);
                Some(Job::File(z.name.as_str(), path.as_path(), bounds))
            }
            ZoneSource::Secondary { .. } => {
                let apex = crate::zone::name::from_text(&z.name).ok()?;
                let path = snapshots.join(crate::zone::persist::file_name(&apex));
                path.exists().then_some(Job::Persisted(z.name.as_str(), path))
            }
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Loaded::default());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let started = Instant::now();
                    match job {
                        Job::File(name, path, bounds) => match file::load_zone_file(name, path) {
                            Ok(loaded) => {
                                // The IXFR history goes on only if it ends
                                // at the file's serial.
                                let kept = crate::zone::history::file_version(&snapshots, None, &loaded.zone, *bounds);
                                if let Err(e) = kept {
                                    warn!(zone = name, "IXFR history not checked: {e}");
                                }
                                for w in &loaded.warnings {
                                    warn!(zone = name, "{w}");
                                }
                                info!(
                                    zone = name,
                                    serial = loaded.zone.info.serial,
                                    records = loaded.zone.info.records,
                                    ms = started.elapsed().as_millis() as u64,
                                    "zone loaded"
                                );
                                if let Ok(mut r) = results.lock() {
                                    r.zones.push(Arc::new(loaded.zone));
                                }
                            }
                            Err(errs) => {
                                for e in &errs.0 {
                                    error!(zone = name, "{e}");
                                }
                                error!(zone = name, "zone not loaded; it answers SERVFAIL");
                                if let Ok(mut r) = results.lock() {
                                    r.failed.push((name.to_string(), errs.summary()));
                                }
                            }
                        },
                        Job::Persisted(name, path) => match crate::zone::persist::read_zone(path) {
                            Ok((zone, meta)) => {
                                info!(
                                    zone = name,
                                    serial = zone.info.serial,
                                    records = zone.info.records,
                                    ms = started.elapsed().as_millis() as u64,
                                    "secondary zone served from its persisted copy"
                                );
                                let timers = path
                                    .with_file_name(format!("{}.timers", crate::zone::persist::file_name(zone.apex())));
                                let expire_at_unix =
                                    crate::axfr::engine::read_timers(&timers, zone.info.serial).or(meta.expire_at_unix);
                                let p = Persisted {
                                    serial: zone.info.serial,
                                    expire_at_unix,
                                    primary: meta.primary.clone(),
                                };
                                if let Ok(mut r) = results.lock() {
                                    r.persisted.insert(zone.apex().to_vec(), p);
                                    r.zones.push(Arc::new(zone));
                                }
                            }
                            Err(e) => warn!(zone = name, "persisted copy not usable, transferring anew: {e}"),
                        },
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}
