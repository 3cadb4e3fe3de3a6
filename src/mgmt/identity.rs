//! The `[identity]` endpoint: `GET /` answers which node this is, as JSON
//! (`{"id","city","country","country-iso","display"}`, CONFIG.md), so a
//! person can ask "which node am I reaching?" over the anycast address.
//! Location fields not configured are `null`. Any origin may read it
//! (`Access-Control-Allow-Origin: *`): it is public by design.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::config::NodeLocation;

/// The identity document, serialized once.
#[derive(Clone)]
pub struct Identity {
    body: String,
}

#[derive(Serialize)]
struct Doc<'a> {
    id: &'a str,
    city: Option<&'a str>,
    country: Option<&'a str>,
    #[serde(rename = "country-iso")]
    country_iso: Option<&'a str>,
    display: Option<&'a str>,
}

impl Identity {
    pub fn new(id: &str, loc: &NodeLocation) -> Identity {
        let doc = Doc {
            id,
            city: loc.city.as_deref(),
            country: loc.country.as_deref(),
            country_iso: loc.country_iso.as_deref(),
            display: loc.display.as_deref(),
        };
        let mut body = serde_json::to_string(&doc).unwrap_or_else(|_| "{}".into());
        body.push('\n');
        Identity { body }
    }

    fn response(&self, status: StatusCode, body: String) -> Response {
        (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    }
}

/// `GET /` and nothing else.
pub fn router(node: Identity) -> Router {
    let page = node.clone();
    Router::new()
        .route(
            "/",
            get(move || async move { page.response(StatusCode::OK, page.body.clone()) }),
        )
        .fallback(move || async move {
            node.response(
                StatusCode::NOT_FOUND,
                "{\"error\": \"only GET / is served here\"}\n".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_every_key() {
        let loc = NodeLocation {
            city: Some("London".into()),
            country: Some("England".into()),
            country_iso: Some("gb".into()),
            display: None,
        };
        let v: serde_json::Value =
            serde_json::from_str(&Identity::new("lon-b", &loc).body).unwrap_or(serde_json::Value::Null);
        assert_eq!(v["id"], "lon-b");
        assert_eq!(v["city"], "London");
        assert_eq!(v["country-iso"], "gb");
        assert!(v["display"].is_null());
        assert_eq!(v.as_object().map(|o| o.len()), Some(5));
    }
}
