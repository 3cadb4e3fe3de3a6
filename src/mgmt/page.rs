//! `GET /`: the status page for a browser. One server-rendered HTML page
//! with inline CSS and a little inline script, no external assets and no
//! build step: the node, its health and maintenance, the BGP sessions, a
//! graph of queries per second over the last minutes (inline SVG, redrawn
//! every 5 seconds from `GET /qps`), and a table of zones with serial and
//! freshness. Every text taken from the node (names, reasons, errors) is
//! HTML-escaped; the script only handles numbers.

use std::fmt::Write as _;

use super::ZoneView;
use super::api::StatusView;
use crate::fleet::{FailedZone, NodeSummary};

/// Graph size in SVG units.
const W: f64 = 720.0;
const H: f64 = 160.0;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "3 s ago", "5 min ago", "2 h ago", "4 d ago".
pub fn ago(then_unix: u64, now_unix: u64) -> String {
    let d = now_unix.saturating_sub(then_unix);
    match d {
        0..=119 => format!("{d} s ago"),
        120..=7199 => format!("{} min ago", d / 60),
        7200..=172_799 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86_400),
    }
}

fn duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The points of the qps polyline and the top of its scale.
fn polyline(samples: &[u64]) -> (String, u64) {
    let max = samples.iter().copied().max().unwrap_or(0).max(1);
    let n = super::qps::SAMPLES as f64;
    let start = n - samples.len() as f64;
    let mut pts = String::new();
    for (i, &v) in samples.iter().enumerate() {
        let x = (start + i as f64) * W / (n - 1.0);
        let y = H - v as f64 * (H - 4.0) / max as f64;
        let _ = write!(pts, "{x:.1},{y:.1} ");
    }
    (pts, max)
}

fn state_class(state: &str) -> &'static str {
    match state {
        "ok" | "healthy" | "Established" => "good",
        "loading" | "starting" | "draining" | "drained" => "warn",
        "unknown" => "none",
        _ => "bad",
    }
}

/// The fleet as the hub sees it: every node, and the zones failed on some
/// node with how many there are in all.
pub type FleetPage<'a> = (&'a [NodeSummary], &'a [FailedZone], usize);

/// The whole page.
pub fn render(status: &StatusView, zones: &[ZoneView], fleet: FleetPage<'_>, qps: &[u64], now_unix: u64) -> String {
    let mut h = String::with_capacity(8 * 1024 + zones.len() * 300);
    let node = escape(&status.node.id);
    let place = status
        .node
        .display
        .as_deref()
        .or(status.node.city.as_deref())
        .map(escape);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>pharos {node}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}}
h1{{font-size:1.5em;margin:0 0 .2em}} h2{{font-size:1.1em;margin:1.4em 0 .4em}}
table{{border-collapse:collapse;background:#fff}} th,td{{border:1px solid #ddd;padding:.25em .6em;text-align:left}}
th{{background:#f0f0f0}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.badge{{display:inline-block;padding:.05em .5em;border-radius:.6em;font-weight:600}}
.good{{background:#d8f5d8;color:#145214}} .warn{{background:#fff0c2;color:#6b4e00}}
.bad{{background:#ffd6d6;color:#7a0f0f}} .none{{background:#e6e6e6;color:#444}}
.muted{{color:#777}} svg{{background:#fff;border:1px solid #ddd}}
</style></head><body>
<h1>pharos <span id="node-id">{node}</span></h1>
"#
    );
    if let Some(p) = place {
        let _ = writeln!(h, r#"<div id="node-location" class="muted">{p}</div>"#);
    }
    let _ = writeln!(
        h,
        r#"<div class="muted">version {} · up {} · {} queries · <span id="qps-now">{:.1}</span> queries/s (last minute)</div>"#,
        escape(status.version),
        duration(status.uptime),
        status.queries.total,
        status.queries.qps
    );

    // Health and maintenance.
    let hs = &status.health;
    let _ = writeln!(
        h,
        r#"<section id="health"><h2>Health</h2><p><span class="badge {}" id="health-state">{}</span> {}{}</p></section>"#,
        state_class(&hs.state),
        escape(&hs.state),
        escape(&hs.reason),
        hs.since
            .map(|s| format!(" <span class=\"muted\">(for {})</span>", duration(s)))
            .unwrap_or_default()
    );
    let m = &status.maintenance;
    let _ = writeln!(
        h,
        r#"<section id="maintenance"><h2>Maintenance</h2><p><span class="badge {}">{}</span> <span class="muted">file {}</span></p></section>"#,
        if m.enabled { "warn" } else { "good" },
        if m.enabled {
            "drained (maintenance file present)"
        } else {
            "off"
        },
        escape(&m.file)
    );

    // BGP.
    h.push_str("<section id=\"bgp\"><h2>BGP sessions</h2>\n");
    if !status.bgp.enabled {
        h.push_str("<p class=\"muted\" id=\"bgp-disabled\">BGP is disabled on this node (bgp.enabled = false).</p>\n");
    } else if status.bgp.peers.is_empty() {
        h.push_str("<p class=\"muted\">No BGP peers to show.</p>\n");
    }
    if !status.bgp.peers.is_empty() {
        h.push_str(
            "<table id=\"bgp-peers\"><thead><tr><th>peer</th><th>ASN</th><th>state</th><th>for</th>\
             <th>announced</th><th>last error</th></tr></thead><tbody>\n",
        );
        for p in &status.bgp.peers {
            let _ = writeln!(
                h,
                r#"<tr><td>{}</td><td class="num">{}</td><td><span class="badge {}">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&p.address),
                p.asn,
                state_class(&p.state),
                escape(&p.state),
                duration(p.since_secs),
                if p.announced.is_empty() {
                    "<span class=\"muted\">none</span>".to_string()
                } else {
                    p.announced.iter().map(|a| escape(a)).collect::<Vec<_>>().join("<br>")
                },
                p.last_error.as_deref().map(escape).unwrap_or_default()
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");

    // Queries per second.
    let (points, max) = polyline(qps);
    let _ = write!(
        h,
        r##"<section id="queries"><h2>Queries per second, last 10 minutes</h2>
<svg id="qps-graph" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="queries per second">
<line x1="0" y1="{H}" x2="{W}" y2="{H}" stroke="#bbb"/>
<polyline id="qps-line" fill="none" stroke="#1f6fb2" stroke-width="1.5" points="{points}"/>
<text x="4" y="14" font-size="12" fill="#555" id="qps-max">{max} q/s</text>
</svg>
<div class="muted">10 min ago … now, one point per second</div></section>
"##
    );

    // Zones.
    let s = &status.zones;
    let _ = writeln!(
        h,
        r#"<section id="zones"><h2>Zones</h2><p class="muted">{} zones: {} ok, {} loading, {} expired, {} failed, {} with errors</p>"#,
        s.total, s.ok, s.loading, s.expired, s.failed, s.error
    );
    h.push_str(
        "<table id=\"zones-table\"><thead><tr><th>zone</th><th>kind</th><th>added by</th><th>state</th>\
         <th>serial</th><th>last refresh</th><th>from</th><th>last error</th></tr></thead><tbody>\n",
    );
    for z in zones {
        let fresh = z
            .last_success
            .map(|t| ago(t, now_unix))
            .unwrap_or_else(|| match z.kind {
                "file" => "file".into(),
                _ => "never".into(),
            });
        let from = match (&z.primary, &z.source) {
            (Some(p), Some(s)) => format!("{} ({})", escape(p), escape(s)),
            (None, Some(s)) => escape(s),
            _ => z.file.as_deref().map(escape).unwrap_or_default(),
        };
        let _ = writeln!(
            h,
            r#"<tr class="zone"><td>{}</td><td>{}</td><td>{}</td><td><span class="badge {}">{}</span></td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&z.name),
            z.kind,
            match z.origin {
                super::Origin::Config => "config",
                super::Origin::Api => "API",
                super::Origin::Catalog => "catalog",
            },
            state_class(z.state),
            z.state,
            z.serial.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
            escape(&fresh),
            from,
            match &z.persist_error {
                Some(e) => format!("<b>not written to disk, older version served:</b> {}", escape(e)),
                None => z.last_error.as_deref().map(escape).unwrap_or_default(),
            }
        );
    }
    h.push_str("</tbody></table></section>\n");
    fleet_section(&mut h, fleet.0, now_unix);
    failed_zones_section(&mut h, fleet.1, fleet.2);
    h.push_str(
        "<p class=\"muted\">JSON: <a href=\"/status\">/status</a> · <a href=\"/zones\">/zones</a> · \
         <a href=\"/metrics\">/metrics</a></p>\n",
    );
    let _ = write!(
        h,
        r#"<script>
(function () {{
  var W = {W}, H = {H}, N = {n};
  function draw(samples) {{
    var max = 1, pts = [], start = N - samples.length, i;
    for (i = 0; i < samples.length; i++) if (samples[i] > max) max = samples[i];
    for (i = 0; i < samples.length; i++) {{
      pts.push(((start + i) * W / (N - 1)).toFixed(1) + "," + (H - samples[i] * (H - 4) / max).toFixed(1));
    }}
    document.getElementById("qps-line").setAttribute("points", pts.join(" "));
    document.getElementById("qps-max").textContent = max + " q/s";
    var last = samples.slice(-60), sum = 0;
    for (i = 0; i < last.length; i++) sum += last[i];
    document.getElementById("qps-now").textContent = (last.length ? sum / last.length : 0).toFixed(1);
  }}
  function poll() {{
    fetch("/qps", {{cache: "no-store"}}).then(function (r) {{ return r.json(); }})
      .then(function (d) {{ if (d && d.samples) draw(d.samples.map(Number)); }})
      .catch(function () {{}});
  }}
  setInterval(poll, 5000);
}})();
</script>
</body></html>
"#,
        n = super::qps::SAMPLES
    );
    h
}

/// The fleet table (on a hub: the downstream nodes of its zones); nothing
/// when no zone has nodes.
fn fleet_section(h: &mut String, fleet: &[NodeSummary], now_unix: u64) {
    if fleet.is_empty() {
        return;
    }
    h.push_str(
        "<section id=\"fleet\"><h2>Fleet</h2><table id=\"fleet-table\"><thead><tr><th>node</th><th>zones</th>\
         <th>in sync</th><th>behind</th><th>unreachable</th><th>failed</th><th>longest behind</th><th>last answer</th></tr></thead><tbody>\n",
    );
    for n in fleet {
        let class = if n.unreachable > 0 || n.failed > 0 {
            "bad"
        } else if n.behind > 0 {
            "warn"
        } else {
            "good"
        };
        let _ = writeln!(
            h,
            r#"<tr class="node"><td><span class="badge {class}">{}</span></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&n.node),
            n.zones,
            n.in_sync,
            n.behind,
            n.unreachable,
            n.failed,
            if n.behind > 0 {
                format!("{:.1}s", n.max_behind_for)
            } else {
                "–".into()
            },
            n.last_answer
                .map(|t| ago(t, now_unix))
                .unwrap_or_else(|| "never".into())
        );
    }
    h.push_str("</tbody></table><p class=\"muted\">JSON: <a href=\"/fleet\">/fleet</a></p></section>\n");
}

/// The zones failed on some node: failed everywhere is one customer's
/// outage upstream; failed on one node while the others serve, that node.
fn failed_zones_section(h: &mut String, failed: &[FailedZone], total: usize) {
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<section id=\"fleet-failed\"><h2>Zones failing on nodes ({total})</h2>\
         <table id=\"fleet-failed-table\"><thead><tr><th>zone</th><th>failed on</th><th>where</th></tr></thead><tbody>"
    );
    for f in failed {
        let (class, place) = if f.everywhere {
            ("bad", "every node: upstream (its primaries, the hub's copy)")
        } else {
            ("warn", "some nodes: look at those nodes")
        };
        let _ = writeln!(
            h,
            r#"<tr class="failed-zone"><td><span class="badge {class}">{}</span></td><td class="num">{} of {}</td><td>{place}</td></tr>"#,
            escape(&f.zone),
            f.failed,
            f.nodes
        );
    }
    if total > failed.len() {
        let _ = writeln!(h, "<tr><td colspan=\"3\">and {} more</td></tr>", total - failed.len());
    }
    h.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::api::{BgpSection, HealthView, MaintenanceView, NodeView, QueriesView, ZoneSummary};
    use crate::mgmt::{Origin, PeerView};

    fn status(peers: Vec<PeerView>) -> StatusView {
        StatusView {
            node: NodeView {
                id: "lon-<b>".into(),
                city: Some("London".into()),
                country: None,
                country_iso: None,
                display: Some("England & Wales".into()),
            },
            version: "0.1.0",
            uptime: 42,
            health: HealthView {
                state: "unhealthy".into(),
                reason: "zone \"x\" <expired>".into(),
                since: Some(3),
            },
            maintenance: MaintenanceView {
                enabled: false,
                file: "/var/pharos/maintenance".into(),
            },
            bgp: BgpSection { enabled: true, peers },
            zones: ZoneSummary::default(),
            queries: QueriesView { total: 9, qps: 1.5 },
        }
    }

    fn zone(name: &str) -> ZoneView {
        ZoneView {
            name: name.into(),
            kind: "secondary",
            origin: Origin::Api,
            state: "ok",
            serial: Some(7),
            records: Some(4),
            file: None,
            primaries: vec!["127.0.0.1:53".into()],
            tsig_key: None,
            primary: Some("127.0.0.1:53".into()),
            source: Some("axfr".into()),
            last_transfer: None,
            last_success: Some(100),
            last_error: Some("<script>alert(1)</script>".into()),
            expired: false,
            persist_error: None,
            timers: None,
            notify_out: None,
            transfers_out: Vec::new(),
            catalog: None,
            member_of: None,
        }
    }

    #[test]
    fn escapes_everything_from_the_node() {
        let peers = vec![PeerView {
            address: "10.0.0.1".into(),
            asn: 65000,
            state: "Established".into(),
            since_secs: 10,
            announced: vec!["192.0.2.0/24".into()],
            last_error: Some("peer said \"<no>\"".into()),
            ..PeerView::default()
        }];
        let html = render(&status(peers), &[zone("a.example")], (&[], &[], 0), &[1, 2, 3], 110);
        assert!(html.contains("lon-&lt;b&gt;"));
        assert!(html.contains("England &amp; Wales"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("zone &quot;x&quot; &lt;expired&gt;"));
        assert!(html.contains(r#"id="bgp-peers""#));
        assert!(html.contains("192.0.2.0/24"));
        assert!(html.contains(r#"id="zones-table""#));
        assert!(html.contains("10 s ago"));
        assert!(html.contains(r#"id="qps-line""#));
    }

    #[test]
    fn fleet_table() {
        let s = status(vec![]);
        assert!(!render(&s, &[], (&[], &[], 0), &[], 0).contains("fleet-table"));
        let nodes = [NodeSummary {
            node: "127.0.0.1:5300".into(),
            zones: 2,
            in_sync: 1,
            behind: 1,
            unreachable: 0,
            failed: 0,
            last_answer: Some(95),
            max_behind_for: 3.0,
        }];
        let html = render(&s, &[], (&nodes, &[], 0), &[], 100);
        assert!(html.contains("fleet-table"));
        assert!(html.contains("127.0.0.1:5300"));
        assert!(html.contains("3.0s"));
        assert!(!html.contains("fleet-failed"));
        let failed = [FailedZone {
            zone: "alpha.<b>test".into(),
            failed: 5,
            nodes: 5,
            everywhere: true,
        }];
        let html = render(&s, &[], (&nodes, &failed, 3), &[], 100);
        assert!(html.contains("id=\"fleet-failed-table\""));
        assert!(html.contains("alpha.&lt;b&gt;test"));
        assert!(html.contains("5 of 5"));
        assert!(html.contains("every node: upstream"));
        assert!(html.contains("and 2 more"));
    }

    #[test]
    fn no_bgp_and_no_samples() {
        let mut s = status(Vec::new());
        s.bgp.enabled = false;
        let html = render(&s, &[], (&[], &[], 0), &[], 0);
        assert!(html.contains(r#"id="bgp-disabled""#));
        assert!(html.contains(r#"points="""#));
    }

    #[test]
    fn polyline_scales_to_the_maximum() {
        let (pts, max) = polyline(&[0, 10]);
        assert_eq!(max, 10);
        let last = pts.split_whitespace().last().unwrap_or("");
        assert_eq!(last, format!("{W:.1},4.0"));
    }

    #[test]
    fn ages() {
        assert_eq!(ago(100, 105), "5 s ago");
        assert_eq!(ago(0, 600), "10 min ago");
        assert_eq!(ago(0, 3 * 86_400), "3 d ago");
        assert_eq!(ago(10, 5), "0 s ago");
    }
}
