//! The management API's routes and handlers (the table in CONFIG.md):
//!
//! ```text
//! GET    /status   /zones   /zones/{name}   /maintenance   /metrics   /qps   /
//! GET    /fleet    /zones/{name}/fleet                       (api_fleet.rs)
//! POST   /zones    /zones/{name}/refresh    /maintenance          (token)
//! DELETE /zones/{name}                                             (token)
//! POST   /zones  [array]   DELETE /zones  [array]  (api_batch.rs, token)
//! ```
//!
//! Every answer but `/metrics` and `/` is JSON; every error is
//! `{"error": "..."}` saying what is wrong: 400 for a body that is not the
//! JSON asked for, 401 without the right token, 404 for an unknown zone or
//! path, 405 for a wrong method, 409 for a duplicate zone or a config zone
//! deleted through the API, 413 for a body over 64 KiB (8 MiB for
//! `POST /zones` and `DELETE /zones`, or over 10,000 zones), 422 for a zone
//! whose fields are invalid (name, primaries, unknown TSIG key), 500 when
//! the node fails to write, 503 when the node has no usable token file. A
//! mutating call that fails changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::auth::{self, Denied};
use super::metrics::{self, HealthLog};
use super::qps::{self, Qps};
use super::{Context, PeerView, page};
use crate::axfr::engine::Stop;
use crate::zonemgr::{ZoneError, ZoneView};

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares.
pub struct AppState {
    pub ctx: Context,
    pub qps: Qps,
    pub health_log: Arc<HealthLog>,
    /// Single `POST /zones` calls that come together, added in one round.
    pub adds: Arc<crate::zonemgr::AddQueue>,
    /// The HTTP listeners' connection counts, by listener (`/metrics`).
    pub http: [(&'static str, Arc<super::limit::Stats>); 2],
}

pub type State = Arc<AppState>;

impl AppState {
    pub fn new(ctx: Context, http: [(&'static str, Arc<super::limit::Stats>); 2]) -> State {
        Arc::new(AppState {
            adds: crate::zonemgr::AddQueue::new(ctx.zones.clone()),
            ctx,
            qps: Qps::default(),
            health_log: Arc::default(),
            http,
        })
    }
}

/// The API's routes.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/status", get(status))
        .route(
            "/zones",
            get(list_zones)
                .post(super::api_batch::add_zones)
                .delete(super::api_batch::delete_zones),
        )
        .route("/zones/{name}", get(one_zone).delete(delete_zone))
        .route("/zones/{name}/refresh", post(refresh_zone))
        .route("/zones/{name}/accept-removals", post(accept_removals))
        .route("/zones/{name}/fleet", get(super::api_fleet::zone_fleet))
        .route("/fleet", get(super::api_fleet::fleet))
        .route("/maintenance", get(get_maintenance).post(set_maintenance))
        .route("/metrics", get(metrics_text))
        .route("/qps", get(qps_json))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint (see GET /status, /zones, /metrics)",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
        })
        .with_state(state)
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            (
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                text,
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}\n"),
        )
            .into_response(),
    }
}

/// `{"error": "..."}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct E {
        error: String,
    }
    json(status, &E { error: message.into() })
}

/// A refused request: answered `{"error": message}` with `status`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = error(self.status, self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<ZoneError> for ApiError {
    fn from(e: ZoneError) -> ApiError {
        let status = match &e {
            ZoneError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ZoneError::Exists(_) | ZoneError::Conflict(_) => StatusCode::CONFLICT,
            ZoneError::NotFound(_) => StatusCode::NOT_FOUND,
            ZoneError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

type Answer = Result<Response, ApiError>;

/// The token check of a mutating call.
pub(super) fn authorize(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    auth::check(value, &st.ctx.token_file).map_err(|d| match d {
        Denied::Unauthorized(why) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("{why}: mutating calls need Authorization: Bearer <token>"),
        ),
        Denied::Unavailable(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why),
    })
}

/// The body as JSON of type `T`.
async fn body_json<T: for<'de> Deserialize<'de>>(body: Body, expected: &str) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("cannot read the request body (at most {BODY_LIMIT} bytes): {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("empty body; expected {expected}"),
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}; expected {expected}"),
        )
    })
}

fn zone_name(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(n)| n)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad zone name in the path: {e}")))
}

// ---------------------------------------------------------------- status

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatusView {
    pub node: NodeView,
    pub version: &'static str,
    pub uptime: u64,
    pub health: HealthView,
    pub maintenance: MaintenanceView,
    pub bgp: BgpSection,
    pub zones: ZoneSummary,
    pub queries: QueriesView,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeView {
    pub id: String,
    pub city: Option<String>,
    pub country: Option<String>,
    pub country_iso: Option<String>,
    pub display: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HealthView {
    /// A health state, or "unknown" when the node runs no health checks.
    pub state: String,
    pub reason: String,
    /// Seconds in this state.
    pub since: Option<u64>,
}

#[derive(Serialize)]
pub struct MaintenanceView {
    pub enabled: bool,
    pub file: String,
}

#[derive(Serialize)]
pub struct BgpSection {
    pub enabled: bool,
    pub peers: Vec<PeerView>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct ZoneSummary {
    pub total: usize,
    pub ok: usize,
    pub loading: usize,
    pub expired: usize,
    /// Zone-level failures other than expiry (a file that does not load,
    /// a first transfer that failed). Like expired zones they answer
    /// SERVFAIL and do not withdraw the node below `max-failed-zones`.
    pub failed: usize,
    pub error: usize,
    /// The failed and expired zones with why, in name order, at most
    /// [`FAILED_LISTED`].
    pub failed_zones: Vec<FailedZone>,
}

/// Failed zones listed in `/status`; the counts cover them all.
pub const FAILED_LISTED: usize = 100;

/// A zone that answers SERVFAIL, and why.
#[derive(Serialize)]
pub struct FailedZone {
    pub name: String,
    /// "failed" or "expired".
    pub state: &'static str,
    pub error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct QueriesView {
    pub total: u64,
    /// Mean over the last minute.
    pub qps: f64,
}

/// The `/status` document (also what the page shows).
pub fn status_view(st: &AppState, zones: &[ZoneView]) -> StatusView {
    let ctx = &st.ctx;
    let health = match &ctx.health {
        Some(rx) => {
            let h = rx.borrow();
            HealthView {
                state: metrics::state_name(h.state).to_string(),
                reason: h.reason.clone(),
                since: Some(h.since.elapsed().as_secs()),
            }
        }
        None => HealthView {
            state: "unknown".into(),
            reason: "health checks are not running on this node".into(),
            since: None,
        },
    };
    let mut summary = ZoneSummary {
        total: zones.len(),
        ..Default::default()
    };
    for z in zones {
        match z.state {
            "ok" => summary.ok += 1,
            "loading" => summary.loading += 1,
            "expired" => summary.expired += 1,
            "failed" => summary.failed += 1,
            _ => summary.error += 1,
        }
        if matches!(z.state, "failed" | "expired") && summary.failed_zones.len() < FAILED_LISTED {
            summary.failed_zones.push(FailedZone {
                name: z.name.clone(),
                state: z.state,
                error: z.last_error.clone(),
            });
        }
    }
    StatusView {
        node: NodeView {
            id: ctx.node_id.clone(),
            city: ctx.location.city.clone(),
            country: ctx.location.country.clone(),
            country_iso: ctx.location.country_iso.clone(),
            display: ctx.location.display.clone(),
        },
        version: env!("CARGO_PKG_VERSION"),
        uptime: ctx.started.elapsed().as_secs(),
        health,
        maintenance: maintenance_view(ctx),
        bgp: BgpSection {
            enabled: ctx.bgp_enabled,
            peers: ctx.bgp.as_ref().map(|b| b.peers()).unwrap_or_default(),
        },
        zones: summary,
        queries: QueriesView {
            total: qps::total_queries(&ctx.server),
            qps: st.qps.mean(60),
        },
    }
}

async fn status(Extract(st): Extract<State>) -> Response {
    let zones = st.ctx.zones.list();
    json(StatusCode::OK, &status_view(&st, &zones))
}

async fn status_page(Extract(st): Extract<State>) -> Response {
    let zones = st.ctx.zones.list();
    let view = status_view(&st, &zones);
    let (failed, failed_total) = st.ctx.zones.fleet().failed_zones();
    let mut r = Html(page::render(
        &view,
        &zones,
        (&st.ctx.zones.fleet().nodes(), &failed, failed_total),
        &st.qps.samples(),
        qps::now_unix(),
    ))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    r
}

async fn qps_json(Extract(st): Extract<State>) -> Response {
    #[derive(Serialize)]
    struct Q {
        interval: u32,
        samples: Vec<u64>,
    }
    json(
        StatusCode::OK,
        &Q {
            interval: 1,
            samples: st.qps.samples(),
        },
    )
}

async fn metrics_text(Extract(st): Extract<State>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match metrics::render(&st, openmetrics) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                if openmetrics {
                    metrics::OPENMETRICS_TEXT
                } else {
                    metrics::PROMETHEUS_TEXT
                },
            )],
            text,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}"),
        ),
    }
}

// ---------------------------------------------------------------- zones

async fn list_zones(Extract(st): Extract<State>) -> Response {
    #[derive(Serialize)]
    struct L {
        zones: Vec<ZoneView>,
    }
    json(
        StatusCode::OK,
        &L {
            zones: st.ctx.zones.list(),
        },
    )
}

async fn one_zone(Extract(st): Extract<State>, name: Result<Path<String>, PathRejection>) -> Answer {
    let name = zone_name(name)?;
    match st.ctx.zones.get(&name) {
        Some(z) => Ok(json(StatusCode::OK, &z)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no zone named {name:?} is served here"),
        )),
    }
}

pub(super) const ZONE_BODY: &str = r#"{"name": "example.org", "primaries": ["192.0.2.1:53"], "tsig-key": "optional-key-name", "template": "optional-template-name"}"#;

async fn delete_zone(
    Extract(st): Extract<State>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&st, &headers)?;
    let name = zone_name(name)?;
    st.ctx.zones.remove(&name, super::Origin::Api, Stop::Forget).await?;
    let _ = st.ctx.zones.rebuild_catalogs().await;
    Ok(json(StatusCode::OK, &serde_json::json!({ "removed": name })))
}

async fn refresh_zone(
    Extract(st): Extract<State>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&st, &headers)?;
    let name = zone_name(name)?;
    st.ctx.zones.refresh(&name)?;
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "refreshing": name, "note": "the primaries are being asked; see GET /zones/{name}" }),
    ))
}

/// `POST /zones/{catalog}/accept-removals`: carries out the removals a
/// consumer catalog holds (more than `catalog-max-removals` at once).
async fn accept_removals(
    Extract(st): Extract<State>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&st, &headers)?;
    let name = zone_name(name)?;
    let removed = st.ctx.zones.accept_removals(&name).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "catalog": name, "removed": removed }),
    ))
}

// ---------------------------------------------------------------- maintenance

fn maintenance_view(ctx: &Context) -> MaintenanceView {
    MaintenanceView {
        enabled: ctx.maintenance_file.exists(),
        file: ctx.maintenance_file.display().to_string(),
    }
}

async fn get_maintenance(Extract(st): Extract<State>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "maintenance": maintenance_view(&st.ctx) }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceRequest {
    enabled: bool,
}

async fn set_maintenance(Extract(st): Extract<State>, headers: HeaderMap, body: Body) -> Answer {
    authorize(&st, &headers)?;
    let request: MaintenanceRequest = body_json(body, r#"{"enabled": true|false}"#).await?;
    let path = st.ctx.maintenance_file.clone();
    let enabled = request.enabled;
    let done = tokio::task::spawn_blocking(move || set_maintenance_file(&path, enabled)).await;
    match done {
        Ok(Ok(())) => {
            tracing::info!(
                file = %st.ctx.maintenance_file.display(),
                "maintenance {} through the management API",
                if enabled { "enabled" } else { "disabled" }
            );
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "maintenance": maintenance_view(&st.ctx) }),
            ))
        }
        Ok(Err(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("maintenance task failed: {e}"),
        )),
    }
}

/// Creates (with a line saying who and when) or removes the maintenance
/// file; the health checks follow it.
fn set_maintenance_file(path: &std::path::Path, enabled: bool) -> Result<(), String> {
    let named = |e: std::io::Error| format!("{}: {e}", path.display());
    if enabled {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let line = format!(
            "maintenance enabled through the management API at unix time {}\n",
            qps::now_unix()
        );
        std::fs::write(path, line).map_err(named)
    } else {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(named(e)),
        }
    }
}
