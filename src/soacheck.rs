//! `pharos soa-check`: asks every given server (and the primary, if given)
//! for a zone's SOA over DNS and prints their serials side by side with how
//! far each lags behind. Exits 1 when they differ or a server fails: the
//! fleet-wide "is every node current?" check.
//!
//! The reference serial is the primary's when `--primary` is given, else the
//! newest serial any server answered (RFC 1982 serial arithmetic). Lag is
//! counted in serial increments.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::axfr::client::{self, Timeouts};
use crate::axfr::refresh::serial_gt;
use crate::error::Error;
use crate::zone::name;

/// One server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub primary: bool,
    pub result: Result<u32, String>,
    pub ms: u64,
}

/// Parses `HOST`, `HOST:PORT`, `IPv6`, `[IPv6]:PORT`; port 53 by default.
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let with_port = if s.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        s.to_string()
    } else {
        format!("{s}:53")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("{s}: {e}"))?
        .next()
        .ok_or_else(|| format!("{s}: no address"))
}

/// How many serial increments `serial` is behind `reference` (negative:
/// ahead), as RFC 1982 arithmetic sees it.
pub fn lag(reference: u32, serial: u32) -> i64 {
    let d = reference.wrapping_sub(serial);
    if d == 0 {
        0
    } else if d < 1 << 31 {
        d as i64
    } else {
        -((serial.wrapping_sub(reference)) as i64)
    }
}

/// Runs the check and prints the table; `Err` (exit 1) on any mismatch or
/// failure.
pub fn run(zone: &str, servers: &[String], primary: Option<&str>, timeout: Duration) -> Result<(), Error> {
    let apex = name::from_text(zone).map_err(|e| Error::Check(format!("zone {zone:?}: {e}")))?;
    if servers.is_empty() {
        return Err(Error::Check("soa-check needs at least one --server".into()));
    }
    let mut targets: Vec<(String, bool, Result<SocketAddr, String>)> = Vec::new();
    if let Some(p) = primary {
        targets.push((p.to_string(), true, parse_server(p)));
    }
    for s in servers {
        targets.push((s.clone(), false, parse_server(s)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Check(format!("tokio runtime: {e}")))?;
    let t = Timeouts {
        message: timeout,
        ..Timeouts::default()
    };
    let rows: Vec<Row> = runtime.block_on(async {
        let tasks: Vec<_> = targets
            .into_iter()
            .map(|(label, is_primary, addr)| {
                let apex = apex.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let result = match &addr {
                        Ok(a) => client::query_soa(&apex, *a, None, None, t).await.map(|soa| soa.serial),
                        Err(e) => Err(e.clone()),
                    };
                    let label = match addr {
                        Ok(a) if a.to_string() != label => format!("{label} ({a})"),
                        _ => label,
                    };
                    Row {
                        label,
                        primary: is_primary,
                        result,
                        ms: started.elapsed().as_millis() as u64,
                    }
                })
            })
            .collect();
        let mut rows = Vec::new();
        for t in tasks {
            if let Ok(row) = t.await {
                rows.push(row);
            }
        }
        rows
    });
    let (text, ok) = report(zone, &rows);
    print!("{text}");
    if ok {
        Ok(())
    } else {
        Err(Error::Check(format!("{zone}: serials differ or a server failed")))
    }
}

/// The table, and whether every server has the reference serial.
pub fn report(zone: &str, rows: &[Row]) -> (String, bool) {
    let primary = rows.iter().find(|r| r.primary);
    let reference = match primary {
        Some(p) => p.result.as_ref().ok().copied(),
        None => rows
            .iter()
            .filter_map(|r| r.result.as_ref().ok().copied())
            .reduce(|a, b| if serial_gt(b, a) { b } else { a }),
    };
    let mut out = String::new();
    match (reference, primary) {
        (Some(s), Some(p)) => out.push_str(&format!("{zone}: reference serial {s} (primary {})\n", p.label)),
        (Some(s), None) => out.push_str(&format!("{zone}: reference serial {s} (the newest answered)\n")),
        (None, _) => out.push_str(&format!("{zone}: no reference serial (nobody answered)\n")),
    }
    let width = rows.iter().map(|r| r.label.len() + 10).max().unwrap_or(6).max(6);
    out.push_str(&format!(
        "{:<width$}  {:>10}  {:>6}  {:>7}  status\n",
        "server", "serial", "lag", "time"
    ));
    let mut ok = reference.is_some();
    for r in rows {
        let label = if r.primary {
            format!("{} [primary]", r.label)
        } else {
            r.label.clone()
        };
        let (serial, lag_text, status) = match (&r.result, reference) {
            (Ok(s), Some(reference)) => {
                let l = lag(reference, *s);
                let status = match l {
                    0 => "ok".to_string(),
                    l if l > 0 => format!("BEHIND by {l}"),
                    l => format!("AHEAD by {}", -l),
                };
                (s.to_string(), l.to_string(), status)
            }
            (Ok(s), None) => (s.to_string(), "-".into(), "ok".into()),
            (Err(e), _) => ("-".into(), "-".into(), format!("ERROR: {e}")),
        };
        if status != "ok" {
            ok = false;
        }
        out.push_str(&format!(
            "{label:<width$}  {serial:>10}  {lag_text:>6}  {:>5}ms  {status}\n",
            r.ms
        ));
    }
    (out, ok)
}

/// The table of a hub's fleet view of one zone (`GET /zones/{name}/fleet`),
/// and whether every node is in sync.
pub fn fleet_report(view: &serde_json::Value) -> (String, bool) {
    use serde_json::Value;
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    let zone = view.get("zone").map(text).unwrap_or_default();
    let mut out = format!(
        "{zone}: hub serial {}\n",
        view.get("serial").map(text).unwrap_or_else(|| "-".into())
    );
    let empty = Vec::new();
    let nodes = view.get("nodes").and_then(Value::as_array).unwrap_or(&empty);
    let width = nodes
        .iter()
        .map(|n| n.get("node").map(text).unwrap_or_default().len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:<width$}  {:<11}  {:>10}  {:>9}  {:>10}  last answer\n",
        "node", "state", "serial", "behind by", "behind for"
    ));
    let mut ok = true;
    for n in nodes {
        let get = |k: &str| n.get(k).map(text).unwrap_or_else(|| "-".into());
        let state = get("state");
        if state != "in-sync" {
            ok = false;
        }
        let behind_for = match n.get("behind-for").and_then(Value::as_f64) {
            Some(s) => format!("{s:.1}s"),
            None => "-".into(),
        };
        let last = match n.get("last-answer").and_then(Value::as_u64) {
            Some(t) => format!(
                "{}s ago",
                crate::fleet::state::unix(std::time::SystemTime::now()).saturating_sub(t)
            ),
            None => "never".into(),
        };
        out.push_str(&format!(
            "{:<width$}  {:<11}  {:>10}  {:>9}  {:>10}  {last}\n",
            get("node"),
            state,
            get("serial"),
            get("behind-by"),
            behind_for
        ));
    }
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, primary: bool, result: Result<u32, String>) -> Row {
        Row {
            label: label.into(),
            primary,
            result,
            ms: 1,
        }
    }

    #[test]
    fn lag_uses_serial_arithmetic() {
        assert_eq!(lag(10, 10), 0);
        assert_eq!(lag(10, 7), 3);
        assert_eq!(lag(7, 10), -3);
        assert_eq!(lag(2, u32::MAX), 3);
    }

    #[test]
    fn report_flags_lag_and_errors() {
        let rows = [row("a", false, Ok(5)), row("b", false, Ok(5))];
        assert!(report("z.", &rows).1);
        let rows = [row("p", true, Ok(7)), row("a", false, Ok(5)), row("b", false, Ok(7))];
        let (text, ok) = report("z.", &rows);
        assert!(!ok);
        assert!(text.contains("BEHIND by 2"), "{text}");
        let rows = [row("a", false, Ok(5)), row("b", false, Err("timeout".into()))];
        let (text, ok) = report("z.", &rows);
        assert!(!ok && text.contains("ERROR: timeout"), "{text}");
    }

    #[test]
    fn servers_parse() {
        assert_eq!(parse_server("127.0.0.1").unwrap(), "127.0.0.1:53".parse().unwrap());
        assert_eq!(
            parse_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_server("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(parse_server("[::1]:5353").unwrap(), "[::1]:5353".parse().unwrap());
        assert!(parse_server("no such host.invalid").is_err());
    }
}
