//! Adding and removing many zones in one call (token needed, like every
//! mutating call):
//!
//! ```text
//! POST   /zones   {"name": ...}                 one zone: 201 with its view (as before)
//! POST   /zones   [{"name": ...}, {...}, ...]   many: 201 with their views, in the order given
//! DELETE /zones   ["a.example", "b.example"]    many: 200 {"removed": [names]}
//! ```
//!
//! Each element of a `POST` array has the fields of a single `POST /zones`
//! (`name`, `primaries`, `tsig-key`, `template`, `catalog`,
//! `catalog-group`). Each element of a `DELETE` array is a zone name, or an
//! object with a `name` (so the file that was POSTed removes what it
//! added). A batch is all or nothing (`crate::zonemgr::batch`): every
//! entry is checked first, and when any is refused nothing changes and the
//! answer is
//!
//! ```json
//! {"error": "2 of 1000 entries refused, nothing added: [3] bad..example: name: ...; [7] a.example: zone a.example is already served ...",
//!  "refused": [{"index": 3, "name": "bad..example", "error": "name: ..."}, ...]}
//! ```
//!
//! with 422 when any entry is invalid (a field, not a zone object, a name
//! listed twice), else 409 (a zone already served; a config zone in a
//! removal), else 404 (an unknown zone in a removal). At most
//! [`MAX_BATCH`] entries per call (more: 413) and a body of at most
//! [`BATCH_BODY_LIMIT`] bytes (more: 413). An accepted batch writes
//! `api-zones.json` once, installs the NOTIFY and transfer tables once and
//! rebuilds the producer catalogs once (one serial bump, one NOTIFY round),
//! so 1,000 zones in one call cost about what one zone does, not 1,000
//! rewrites of a growing file.
//!
//! Single `POST /zones` calls that arrive together are coalesced the same
//! way ([`crate::zonemgr::AddQueue`]): the zones queued while a round runs
//! are written in the next round, once for all; each call is still
//! answered only when its own zone is written and served, and a refused
//! zone refuses only its own call.

use axum::body::{Body, Bytes};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::api::{ApiError, State, ZONE_BODY, authorize, json};
use crate::zonemgr::api_zones::ApiZone;
use crate::zonemgr::{BatchError, MAX_BATCH, Refused};

/// Largest body of `POST /zones` and `DELETE /zones` (10,000 zones of
/// about 100 bytes each fit with room to spare).
pub const BATCH_BODY_LIMIT: usize = 8 * 1024 * 1024;

const NAMES_BODY: &str = r#"["a.example", "b.example"] (or the objects given to POST /zones)"#;

/// The body, at most [`BATCH_BODY_LIMIT`] bytes, not empty.
async fn read_body(body: Body, expected: &str) -> Result<Bytes, ApiError> {
    let bytes = axum::body::to_bytes(body, BATCH_BODY_LIMIT).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("cannot read the request body (at most {BATCH_BODY_LIMIT} bytes, {MAX_BATCH} zones per call): {e}"),
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("empty body; expected {expected}"),
        ));
    }
    Ok(bytes)
}

fn parse<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}; expected {expected}"),
        )
    })
}

/// A JSON array of at most [`MAX_BATCH`] elements.
fn array(bytes: &[u8], expected: &str) -> Result<Vec<Value>, ApiError> {
    let entries: Vec<Value> = parse(bytes, expected)?;
    if entries.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} zones in one call; at most {MAX_BATCH} per call (split the list)",
                entries.len()
            ),
        ));
    }
    Ok(entries)
}

/// A refused batch: `{"error": ..., "refused": [...]}`.
fn batch_error(e: BatchError) -> Response {
    #[derive(Serialize)]
    struct E {
        error: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        refused: Vec<Refused>,
    }
    let status = ApiError::from(e.error.clone()).status();
    json(
        status,
        &E {
            error: e.error.to_string(),
            refused: e.refused,
        },
    )
}

/// `POST /zones`: one zone object, or an array of them.
pub(super) async fn add_zones(
    Extract(st): Extract<State>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&st, &headers)?;
    let expected = format!("{ZONE_BODY}, or an array of such objects");
    let bytes = read_body(body, &expected).await?;
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !is_array {
        let request: ApiZone = parse(&bytes, ZONE_BODY)?;
        let view = st.adds.add(request).await?;
        return Ok(json(StatusCode::CREATED, &view));
    }
    let entries = array(&bytes, &expected)?;
    Ok(match st.ctx.zones.add_api_batch(&entries).await {
        Ok(views) => json(StatusCode::CREATED, &views),
        Err(e) => batch_error(e),
    })
}

/// `DELETE /zones`: an array of names.
pub(super) async fn delete_zones(
    Extract(st): Extract<State>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&st, &headers)?;
    let bytes = read_body(body, NAMES_BODY).await?;
    let entries = array(&bytes, NAMES_BODY)?;
    Ok(match st.ctx.zones.remove_api_batch(&entries).await {
        Ok(removed) => json(StatusCode::OK, &serde_json::json!({ "removed": removed })),
        Err(e) => batch_error(e),
    })
}
