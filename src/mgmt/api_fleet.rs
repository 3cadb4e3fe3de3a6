//! The fleet endpoints of the management API (read-only, no token, like
//! the other read endpoints):
//!
//! ```text
//! GET /fleet                                   every node: zones in sync, behind, unreachable
//! GET /zones/{name}/fleet                      per node: serial, behind by, behind for
//! GET /zones/{name}/fleet?serial=N&wait=10s    200 once every node serves N or newer,
//!                                              504 with the laggards when the wait runs out
//! ```
//!
//! `wait` is at most [`crate::fleet::MAX_WAIT`]; at most
//! [`crate::fleet::MAX_WAITERS`] calls wait at once (more get 503).

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as Extract};
use axum::http::{StatusCode, Uri};
use serde::Serialize;

use super::api::{ApiError, State, json};
use crate::config::parse_duration;
use crate::fleet::{FailedZone, MAX_WAIT, NodeSummary, WaitError};
use crate::zone::name;

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct FleetView {
    nodes: Vec<NodeSummary>,
    /// Zones failed on some node, failed everywhere first (an upstream
    /// outage, e.g. one customer's primaries), at most 100.
    failed_zones: Vec<FailedZone>,
    /// How many zones are failed on some node in all.
    failed_zones_total: usize,
}

/// `GET /fleet`.
pub(super) async fn fleet(Extract(st): Extract<State>) -> axum::response::Response {
    let fleet = st.ctx.zones.fleet();
    let (failed_zones, failed_zones_total) = fleet.failed_zones();
    json(
        StatusCode::OK,
        &FleetView {
            nodes: fleet.nodes(),
            failed_zones,
            failed_zones_total,
        },
    )
}

/// `?serial=N&wait=D`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    serial: Option<u32>,
    wait: Option<Duration>,
}

fn params(query: Option<&str>) -> Result<Params, String> {
    let mut p = Params::default();
    for pair in query.unwrap_or_default().split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "serial" => {
                p.serial = Some(
                    v.parse()
                        .map_err(|_| format!("serial={v:?} is not a serial (0 to 4294967295)"))?,
                )
            }
            "wait" => {
                let d = parse_duration(v).map_err(|e| format!("wait={v:?}: {e}"))?;
                if d > MAX_WAIT {
                    return Err(format!("wait={v:?} is longer than {}s", MAX_WAIT.as_secs()));
                }
                p.wait = Some(d);
            }
            other => return Err(format!("unknown parameter {other:?} (serial, wait)")),
        }
    }
    if p.wait.is_some() && p.serial.is_none() {
        return Err("wait needs serial".into());
    }
    Ok(p)
}

/// `GET /zones/{name}/fleet[?serial=N[&wait=D]]`.
pub(super) async fn zone_fleet(
    Extract(st): Extract<State>,
    name: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<axum::response::Response, ApiError> {
    let text = name
        .map(|Path(n)| n)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad zone name in the path: {e}")))?;
    let p = params(uri.query()).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("zone {text:?} has no nodes to ask (not served here, or no notify targets)"),
        )
    };
    let apex = name::from_text(&text).map_err(|_| unknown())?;
    let fleet = st.ctx.zones.fleet();
    let Some(serial) = p.serial else {
        return fleet.zone(&apex).map(|v| json(StatusCode::OK, &v)).ok_or_else(unknown);
    };
    match fleet.wait(&apex, serial, p.wait.unwrap_or(Duration::ZERO)).await {
        Ok(Ok(view)) => Ok(json(StatusCode::OK, &view)),
        Ok(Err(view)) => Ok(json(StatusCode::GATEWAY_TIMEOUT, &view)),
        Err(WaitError::UnknownZone) => Err(unknown()),
        Err(WaitError::Busy) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many calls waiting for a serial; try again",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        assert_eq!(params(None), Ok(Params::default()));
        let p = params(Some("serial=7&wait=10s")).unwrap();
        assert_eq!(p.serial, Some(7));
        assert_eq!(p.wait, Some(Duration::from_secs(10)));
        assert!(params(Some("wait=1s")).is_err());
        assert!(params(Some("serial=x")).is_err());
        assert!(params(Some("serial=1&wait=61s")).is_err());
        assert!(params(Some("serial=1&x=2")).is_err());
    }
}
