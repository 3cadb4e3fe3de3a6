//! `GET /metrics`: every metric is collected at scrape time from the
//! counters and status the other modules keep (the query path's sharded
//! counters, the secondary engine's counters and zone status, the zone
//! store, the health channel, the BGP view), through one
//! `prometheus_client` collector. Served in the Prometheus text format
//! (0.0.4), or OpenMetrics when the scraper asks for it.
//!
//! Per-zone series (`pharos_zone_*`) carry a `zone` label; a zone's state
//! is one `pharos_zone_state{zone, state}` series of value 1 (not one per
//! possible state: a node holds thousands of zones).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::api::AppState;
use crate::axfr::stats::Kind;
use crate::health::{HealthRx, State};

#[path = "metrics_bgp.rs"]
mod bgp;

type Labels = Vec<(&'static str, String)>;

/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every health state, for the `pharos_health_state` series.
pub const HEALTH_STATES: [State; 6] = [
    State::Starting,
    State::Healthy,
    State::Unhealthy,
    State::Draining,
    State::Drained,
    State::Stopping,
];

/// The lowercase name of a health state.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Starting => "starting",
        State::Healthy => "healthy",
        State::Unhealthy => "unhealthy",
        State::Draining => "draining",
        State::Drained => "drained",
        State::Stopping => "stopping",
    }
}

/// Health transitions seen on the watch channel, by the state entered. A
/// watch channel keeps only the latest value: two changes between two
/// wake-ups count as one (health changes at most once per interval).
#[derive(Default)]
pub struct HealthLog {
    into: [AtomicU64; HEALTH_STATES.len()],
}

/// Counts the health transitions into `log`.
pub fn spawn_health_watch(log: &Arc<HealthLog>, health: Option<HealthRx>) {
    let Some(mut rx) = health else { return };
    let log = log.clone();
    tokio::spawn(async move {
        let mut last = rx.borrow_and_update().state;
        while rx.changed().await.is_ok() {
            let state = rx.borrow_and_update().state;
            if state != last {
                if let Some(i) = HEALTH_STATES.iter().position(|&s| s == state) {
                    log.into[i].fetch_add(1, Ordering::Relaxed);
                }
                last = state;
            }
        }
    });
}

/// Renders every metric; `openmetrics` picks the format.
pub fn render(state: &Arc<AppState>, openmetrics: bool) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix("pharos");
    registry.register_collector(Box::new(NodeCollector(state.clone())));
    let mut out = String::with_capacity(16 * 1024);
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    }
    Ok(out)
}

struct NodeCollector(Arc<AppState>);

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeCollector")
    }
}

/// Writes one metric family.
fn family<T: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, T)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        value.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    family(
        enc,
        name,
        help,
        MetricType::Counter,
        series.into_iter().map(|(l, v)| (l, ConstCounter::new(v))),
    )
}

fn gauges<N: prometheus_client::encoding::EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, N)>,
) -> fmt::Result {
    family(
        enc,
        name,
        help,
        MetricType::Gauge,
        series.into_iter().map(|(l, v)| (l, ConstGauge::new(v))),
    )
}

fn one(v: u64) -> Vec<(Labels, u64)> {
    vec![(Vec::new(), v)]
}

impl Collector for NodeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let st = &self.0;
        let ctx = &st.ctx;
        let c = &ctx.server.counters;
        let load = |x: &crate::dns::server::Counter| x.load(Ordering::Relaxed);

        // ---- node
        gauges(
            &mut enc,
            "build_info",
            "The pharos version running (value 1)",
            [(vec![("version", env!("CARGO_PKG_VERSION").to_string())], 1u64)],
        )?;
        gauges(
            &mut enc,
            "uptime_seconds",
            "Seconds since the management API started",
            one(ctx.started.elapsed().as_secs()),
        )?;

        // ---- DNS
        counters(
            &mut enc,
            "dns_queries",
            "DNS requests received, by transport",
            [
                (vec![("transport", "udp".to_string())], load(&c.queries_udp)),
                (vec![("transport", "tcp".to_string())], load(&c.queries_tcp)),
            ],
        )?;
        let answers = c.answers.snapshot();
        counters(
            &mut enc,
            "dns_responses",
            "DNS responses sent, by transport, query type and RCODE",
            answers.answers.iter().map(|a| {
                (
                    vec![
                        ("transport", a.transport.to_string()),
                        ("qtype", a.qtype.to_string()),
                        ("rcode", a.rcode.to_string()),
                    ],
                    a.count,
                )
            }),
        )?;
        {
            let mut m = enc.encode_descriptor(
                "dns_response_duration_seconds",
                "Time to build a DNS response, from the request read to the response ready",
                None,
                MetricType::Histogram,
            )?;
            m.encode_histogram::<NoLabelSet>(
                answers.latency_sum.as_secs_f64(),
                answers.latency_count(),
                &answers.latency_pairs(),
                None,
            )?;
        }
        counters(
            &mut enc,
            "dns_truncated",
            "Responses sent with TC set (too large for UDP)",
            one(load(&c.truncated)),
        )?;
        counters(
            &mut enc,
            "dns_dropped",
            "Requests or connections dropped without an answer, by reason",
            [
                (
                    vec![("reason", "tcp-connection-limit".to_string())],
                    load(&c.tcp_over_limit),
                ),
                (
                    vec![("reason", "malformed-or-unsendable".to_string())],
                    load(&c.dropped),
                ),
                (vec![("reason", "panic".to_string())], load(&c.panics)),
                (
                    vec![("reason", "tcp-accept-error".to_string())],
                    load(&c.tcp_accept_errors),
                ),
            ],
        )?;
        counters(
            &mut enc,
            "dns_cookies",
            "Requests with a DNS COOKIE option, by the server cookie they carried (valid: made with this node's secret or the previous one; client-only: none yet; invalid)",
            [
                ("valid", &c.cookie_valid),
                ("client-only", &c.cookie_client_only),
                ("invalid", &c.cookie_invalid),
            ]
            .map(|(r, n)| (vec![("result", r.to_string())], load(n))),
        )?;
        if let Some(rrl) = ctx.server.rrl() {
            counters(
                &mut enc,
                "dns_rrl_limited",
                "UDP responses over the rate limit ([dns.rrl]), by response class and action (slipped: sent truncated or as BADCOOKIE; dropped)",
                crate::dns::rrl::Class::ALL.iter().flat_map(|class| {
                    let c = &rrl.counters.limited[*class as usize];
                    [("slipped", &c[0]), ("dropped", &c[1])].map(|(action, n)| {
                        (
                            vec![("class", class.name().to_string()), ("action", action.to_string())],
                            load(n),
                        )
                    })
                }),
            )?;
        }
        let (unauthorized, unavailable) = super::auth::refused();
        counters(
            &mut enc,
            "mgmt_refused",
            "Mutating management calls refused, by reason (unauthorized: missing or wrong token, 401; unavailable: no usable token file, 503)",
            [
                (vec![("reason", "unauthorized".to_string())], unauthorized),
                (vec![("reason", "unavailable".to_string())], unavailable),
            ],
        )?;
        gauges(
            &mut enc,
            "dns_tcp_connections",
            "DNS TCP connections open",
            one(c.tcp_open.load(Ordering::Relaxed) as u64),
        )?;
        let reason = |r: &str| vec![("reason", r.to_string())];
        counters(
            &mut enc,
            "dns_tcp_closed",
            "DNS TCP connections closed by the server before the client did, by reason (evicted: the idle-longest, to make room at dns.tcp-max-connections; idle-timeout; lifetime)",
            [
                (reason("evicted"), load(&c.tcp_evicted)),
                (reason("idle-timeout"), load(&c.tcp_idle_timeouts)),
                (reason("lifetime"), load(&c.tcp_lifetime_ends)),
            ],
        )?;
        let http = &st.http;
        gauges(
            &mut enc,
            "http_connections",
            "HTTP connections open, by listener (mgmt, identity)",
            http.iter()
                .map(|(l, s)| (vec![("listener", l.to_string())], s.open.load(Ordering::Relaxed) as u64)),
        )?;
        counters(
            &mut enc,
            "http_connections_closed",
            "HTTP connections closed by the server early, by listener and reason (evicted: the idle-longest, to make room; idle-timeout: idle or a request too slow; lifetime; over-limit: refused, every connection busy)",
            http.iter().flat_map(|(l, s)| {
                let ld = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
                [
                    ("evicted", ld(&s.evicted)),
                    ("idle-timeout", ld(&s.idle_timeouts)),
                    ("lifetime", ld(&s.lifetime_ends)),
                    ("over-limit", ld(&s.over_limit)),
                ]
                .map(|(r, v)| (vec![("listener", l.to_string()), ("reason", r.to_string())], v))
            }),
        )?;
        let engine = ctx.zones.engine();
        counters(
            &mut enc,
            "dns_notify",
            "NOTIFY messages received, by result",
            [
                (
                    vec![("result", "accepted".to_string())],
                    engine.counters.notify_accepted.load(Ordering::Relaxed),
                ),
                (vec![("result", "refused".to_string())], load(&c.notify_refused)),
            ],
        )?;
        let no = &ctx.zones.notify_out().counters;
        let (sent, retries) = (no.sent.load(Ordering::Relaxed), no.retries.load(Ordering::Relaxed));
        counters(
            &mut enc,
            "notify_out_sent",
            "NOTIFY messages sent to notify targets, by try (first or retry)",
            [
                (vec![("try", "first".to_string())], sent.saturating_sub(retries)),
                (vec![("try", "retry".to_string())], retries),
            ],
        )?;
        counters(
            &mut enc,
            "notify_out_targets",
            "NOTIFY rounds per target, by result (answered; failed: no answer after every try, an error answer, or not sendable)",
            [
                (
                    vec![("result", "answered".to_string())],
                    no.answered.load(Ordering::Relaxed),
                ),
                (
                    vec![("result", "failed".to_string())],
                    no.failed.load(Ordering::Relaxed),
                ),
            ],
        )?;
        counters(
            &mut enc,
            "notify_out_ignored_answers",
            "Answers to NOTIFY out ignored (unmatched, late, or failing TSIG verification)",
            one(no.ignored.load(Ordering::Relaxed)),
        )?;
        counters(
            &mut enc,
            "notify_out_replaced_rounds",
            "NOTIFY rounds replaced by a newer version of the zone before they ended",
            one(no.replaced.load(Ordering::Relaxed)),
        )?;
        gauges(
            &mut enc,
            "notify_out_queued",
            "First NOTIFY tries waiting for their turn (paced by [transfer] notify-rate)",
            one(no.queued.load(Ordering::Relaxed)),
        )?;
        // Consumer catalogs: per catalog gauges, node-wide counters.
        let cs = ctx.zones.catalog_stats();
        let ld = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
        let views = ctx.zones.catalog_views();
        gauges(
            &mut enc,
            "catalog_members",
            "Member zones a consumer catalog made on this node",
            views
                .iter()
                .map(|(n, v)| (vec![("catalog", n.clone())], v.owned as u64)),
        )?;
        gauges(
            &mut enc,
            "catalog_held_removals",
            "Members whose removal a consumer catalog holds (more than catalog-max-removals at once) until POST /zones/{catalog}/accept-removals",
            views
                .iter()
                .map(|(n, v)| (vec![("catalog", n.clone())], v.held_removals as u64)),
        )?;
        gauges(
            &mut enc,
            "catalog_broken",
            "1 when the last version of a consumer catalog was broken and not applied (its members stay as they were)",
            views
                .iter()
                .map(|(n, v)| (vec![("catalog", n.clone())], u64::from(v.error.is_some()))),
        )?;
        counters(
            &mut enc,
            "catalog_versions",
            "Consumer catalog versions, by result (applied; broken: not applied; held: applied but its removals held)",
            [
                (vec![("result", "applied".to_string())], ld(&cs.applied)),
                (vec![("result", "broken".to_string())], ld(&cs.broken)),
                (vec![("result", "held".to_string())], ld(&cs.holds)),
            ],
        )?;
        counters(
            &mut enc,
            "catalog_member_changes",
            "Member zone changes made by consumer catalogs, by change (added, removed, reset, conflict: ignored because the zone is configured otherwise, failed)",
            [
                (vec![("change", "added".to_string())], ld(&cs.added)),
                (vec![("change", "removed".to_string())], ld(&cs.removed)),
                (vec![("change", "reset".to_string())], ld(&cs.reset)),
                (vec![("change", "conflict".to_string())], ld(&cs.conflicts)),
                (vec![("change", "failed".to_string())], ld(&cs.failed)),
            ],
        )?;
        // Fleet view: per node (not per zone x node), at most
        // MAX_METRIC_NODES nodes: the label set grows with the fleet, not
        // with its zones.
        let fleet = ctx.zones.fleet();
        let nodes = fleet.nodes();
        let shown = &nodes[..nodes.len().min(crate::fleet::MAX_METRIC_NODES)];
        gauges(
            &mut enc,
            "fleet_node_zones",
            "Zones per downstream node, by state (in-sync, behind, unreachable, failed: an error answer) at the last SOA poll",
            shown.iter().flat_map(|n| {
                [
                    ("in-sync", n.in_sync),
                    ("behind", n.behind),
                    ("unreachable", n.unreachable),
                    ("failed", n.failed),
                ]
                .map(|(state, v)| (vec![("node", n.node.clone()), ("state", state.to_string())], v as u64))
            }),
        )?;
        let (everywhere, some) = fleet.count_failed();
        gauges(
            &mut enc,
            "fleet_failed_zones",
            "Zones answered with an error (SERVFAIL, REFUSED) by every one of their downstream nodes (an outage upstream: \
             the customer's primaries, the hub's copy) or by some nodes only (look at those nodes)",
            [("everywhere", everywhere), ("some-nodes", some)].map(|(w, v)| (vec![("where", w.to_string())], v as u64)),
        )?;
        gauges(
            &mut enc,
            "fleet_node_lag_seconds",
            "Per downstream node: how long its zone longest behind the hub has been behind (0: none is)",
            shown.iter().map(|n| (vec![("node", n.node.clone())], n.max_behind_for)),
        )?;
        counters(
            &mut enc,
            "fleet_soa_queries",
            "SOA queries sent to downstream nodes by the fleet view, by result",
            [
                (
                    vec![("result", "answered".to_string())],
                    fleet.counters().answered.load(Ordering::Relaxed),
                ),
                (
                    vec![("result", "silent".to_string())],
                    fleet.counters().silent.load(Ordering::Relaxed),
                ),
            ],
        )?;
        counters(
            &mut enc,
            "log_lines_dropped",
            "Log lines dropped because stderr (or journald) could not keep up",
            one(crate::logging::dropped_lines()),
        )?;

        // ---- transfers
        let kinds = || {
            Kind::ALL
                .into_iter()
                .flat_map(|k| [(k, true), (k, false)])
                .map(|(k, ok)| (k, ok, engine.counters.stats(k, ok)))
        };
        let labels = |k: Kind, ok: bool| -> Labels {
            vec![
                ("kind", k.name().to_string()),
                ("result", if ok { "ok" } else { "failed" }.to_string()),
            ]
        };
        counters(
            &mut enc,
            "xfr_transfers",
            "Zone transfers in, by kind (what was delivered, or asked for when it failed) and result",
            kinds().map(|(k, ok, s)| (labels(k, ok), s.count())),
        )?;
        {
            let mut m = enc.encode_descriptor(
                "xfr_transfer_duration_seconds",
                "Duration of zone transfers in, from the request to the new version built",
                None,
                MetricType::Histogram,
            )?;
            for (k, ok, s) in kinds() {
                let l = labels(k, ok);
                m.encode_family(&l)?.encode_histogram::<NoLabelSet>(
                    s.duration_sum().as_secs_f64(),
                    s.count(),
                    &s.pairs(),
                    None,
                )?;
            }
        }
        counters(
            &mut enc,
            "xfr_received_bytes",
            "Bytes of DNS messages received by successful transfers, by kind",
            Kind::ALL.into_iter().map(|k| {
                (
                    vec![("kind", k.name().to_string())],
                    engine.counters.stats(k, true).bytes(),
                )
            }),
        )?;

        // ---- transfers out
        let out = &ctx.server.xfr_out;
        let out_kinds = || {
            crate::axfr::out::stats::Kind::ALL
                .into_iter()
                .flat_map(|k| [(k, true), (k, false)])
        };
        let out_labels = |k: crate::axfr::out::stats::Kind, ok: bool| -> Labels {
            vec![
                ("kind", k.name().to_string()),
                ("result", if ok { "ok" } else { "failed" }.to_string()),
            ]
        };
        counters(
            &mut enc,
            "xfr_out_transfers",
            "Zone transfers out, by kind (axfr, ixfr, ixfr-as-axfr: an IXFR answered with the whole zone, up-to-date: one SOA) and result",
            out_kinds().map(|(k, ok)| (out_labels(k, ok), out.stats.count(k, ok))),
        )?;
        {
            let mut m = enc.encode_descriptor(
                "xfr_out_duration_seconds",
                "Duration of zone transfers out, from the request to the last message written",
                None,
                MetricType::Histogram,
            )?;
            for (k, ok) in out_kinds() {
                m.encode_family(&out_labels(k, ok))?.encode_histogram::<NoLabelSet>(
                    out.stats.duration_sum(k, ok).as_secs_f64(),
                    out.stats.count(k, ok),
                    &out.stats.pairs(k, ok),
                    None,
                )?;
            }
        }
        counters(
            &mut enc,
            "xfr_out_bytes",
            "Bytes of DNS messages (with their TCP length) sent by transfers out, by kind and result",
            out_kinds().map(|(k, ok)| (out_labels(k, ok), out.stats.bytes(k, ok))),
        )?;
        counters(
            &mut enc,
            "xfr_out_refused",
            "Transfer requests refused, by reason",
            crate::axfr::out::request::Refusal::ALL
                .into_iter()
                .map(|r| (vec![("reason", r.name().to_string())], out.stats.refused_count(r))),
        )?;
        gauges(
            &mut enc,
            "xfr_out_running",
            "Transfers out running now",
            one(out.running() as u64),
        )?;

        let ec = &engine.counters;
        counters(
            &mut enc,
            "xfr_aborted",
            "Transfers in aborted at a bound, by the config key that set it (the old version stays)",
            crate::axfr::stats::Bound::ALL
                .into_iter()
                .map(|b| (vec![("bound", b.key().to_string())], ec.aborted_at(b))),
        )?;
        counters(
            &mut enc,
            "zone_persist_failures",
            "New zone versions that could not be written to disk, and so were not served (retried with backoff)",
            one(ec.persist_failures.load(Ordering::Relaxed)),
        )?;
        counters(
            &mut enc,
            "zone_timers_write_failures",
            "Zone timers files (when a version expires) and NOTIFY markers that could not be written",
            one(ec.timers_failures.load(Ordering::Relaxed)),
        )?;
        gauges(
            &mut enc,
            "history_bytes",
            "Bytes of IXFR history (zone journals) on disk, all zones",
            one(crate::zone::journal::history_bytes()),
        )?;
        counters(
            &mut enc,
            "xfr_primary_serial_older",
            "SOA answers from a primary with a serial older than the version served (not a confirmation)",
            one(ec.primary_behind.load(Ordering::Relaxed)),
        )?;
        counters(
            &mut enc,
            "xfr_primary_stale_transfer",
            "Transfers older than the SOA serial the same primary had just announced",
            one(ec.primary_contradicts.load(Ordering::Relaxed)),
        )?;

        // ---- zones
        let zones = ctx.zones.list();
        let mut by_state: std::collections::BTreeMap<&str, u64> = ["ok", "loading", "expired", "failed", "error"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        for z in &zones {
            *by_state.entry(z.state).or_default() += 1;
        }
        gauges(
            &mut enc,
            "zones",
            "Zones configured or added, by state",
            by_state.iter().map(|(s, n)| (vec![("state", s.to_string())], *n)),
        )?;
        gauges(
            &mut enc,
            "zone_state",
            "The state of each zone (ok, loading, expired, failed, error) as a label; value 1",
            zones
                .iter()
                .map(|z| (vec![("zone", z.name.clone()), ("state", z.state.to_string())], 1u64)),
        )?;
        let failed = |z: &super::ZoneView| matches!(z.state, "failed" | "expired");
        gauges(
            &mut enc,
            "zone_failed",
            "1 while the zone is failed or expired (answering SERVFAIL; a zone-level failure), else 0",
            zones
                .iter()
                .map(|z| (vec![("zone", z.name.clone())], u64::from(failed(z)))),
        )?;
        gauges(
            &mut enc,
            "zones_failed",
            "Zones failed or expired now; more than health.max-failed-zones withdraws the node (cut off)",
            [(Labels::new(), zones.iter().filter(|z| failed(z)).count() as u64)],
        )?;
        gauges(
            &mut enc,
            "zone_persist_failing",
            "1 while a newer version of the zone could not be written to disk (the older one is served)",
            zones
                .iter()
                .filter(|z| z.kind == "secondary")
                .map(|z| (vec![("zone", z.name.clone())], u64::from(z.persist_error.is_some()))),
        )?;
        gauges(
            &mut enc,
            "zone_serial",
            "SOA serial of the version served",
            zones
                .iter()
                .filter_map(|z| z.serial.map(|s| (vec![("zone", z.name.clone())], u64::from(s)))),
        )?;
        gauges(
            &mut enc,
            "zone_records",
            "Records in the version served",
            zones
                .iter()
                .filter_map(|z| z.records.map(|r| (vec![("zone", z.name.clone())], r as u64))),
        )?;
        gauges(
            &mut enc,
            "zone_last_refresh_timestamp_seconds",
            "When a primary last confirmed the version served or gave a new one (unix time)",
            zones
                .iter()
                .filter_map(|z| z.last_success.map(|t| (vec![("zone", z.name.clone())], t))),
        )?;
        // The SOA timers the zone runs on (after the config's clamps): an
        // alert compares the age of the last confirmation with them.
        type Timer = fn(&crate::zonemgr::Timers) -> u64;
        let timers: [(&str, &str, Timer); 3] = [
            (
                "zone_refresh_seconds",
                "SOA refresh of the version served, after the config's clamps",
                |t| t.refresh,
            ),
            (
                "zone_retry_seconds",
                "SOA retry of the version served, after the config's clamps",
                |t| t.retry,
            ),
            (
                "zone_expire_seconds",
                "SOA expire of the version served, after the config's clamps",
                |t| t.expire,
            ),
        ];
        for (name, help, timer) in timers {
            gauges(
                &mut enc,
                name,
                help,
                zones
                    .iter()
                    .filter_map(|z| z.timers.as_ref().map(|t| (vec![("zone", z.name.clone())], timer(t)))),
            )?;
        }

        // ---- health
        let health = ctx.health.as_ref().map(|rx| rx.borrow().clone());
        gauges(
            &mut enc,
            "health_state",
            "The node's health state (value 1 for the current one; \"unknown\" without health checks)",
            match &health {
                Some(h) => HEALTH_STATES
                    .iter()
                    .map(|&s| (vec![("state", state_name(s).to_string())], u64::from(s == h.state)))
                    .collect::<Vec<_>>(),
                None => vec![(vec![("state", "unknown".to_string())], 1)],
            },
        )?;
        counters(
            &mut enc,
            "health_transitions",
            "Health state changes, by the state entered",
            HEALTH_STATES.iter().enumerate().map(|(i, &s)| {
                (
                    vec![("to", state_name(s).to_string())],
                    st.health_log.into[i].load(Ordering::Relaxed),
                )
            }),
        )?;
        gauges(
            &mut enc,
            "maintenance",
            "1 while the maintenance file exists (the node is drained)",
            one(u64::from(ctx.maintenance_file.exists())),
        )?;
        let workers = ctx.workers.as_ref().map(|w| w.views()).unwrap_or_default();
        let worker = |w: &crate::health::WorkerView| -> Labels {
            vec![
                ("worker", w.name.clone()),
                ("kind", w.kind.name().to_string()),
                ("listen", w.listen.to_string()),
            ]
        };
        gauges(
            &mut enc,
            "listener_workers_stuck",
            "Listener workers (UDP threads, TCP accept loops) making no progress for health.interval x fall with work waiting; any withdraws the node",
            one(workers.iter().filter(|w| w.stuck).count() as u64),
        )?;
        gauges(
            &mut enc,
            "listener_worker_stuck",
            "1 while this listener worker makes no progress with work waiting, else 0",
            workers.iter().map(|w| (worker(w), u64::from(w.stuck))),
        )?;
        counters(
            &mut enc,
            "listener_worker_progress",
            "Turns of the worker's loop (UDP: batches read and read timeouts; TCP: accepts)",
            workers.iter().map(|w| (worker(w), w.progress)),
        )?;

        bgp::encode(&mut enc, ctx)?;
        Ok(())
    }
}
