//! Site resolution: every request is served by the site its Host header
//! names (or the default site), found once here and carried in the request.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::sites::Site;

/// The site serving the current request.
#[derive(Debug, Clone)]
pub struct CurrentSite(pub Arc<Site>);

/// Resolves the site from the Host header; unknown host without a default
/// site → 404 `{"developer_message": "unknown site"}`.
pub async fn resolve_site(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let site = state.sites.current().for_host(host(req.headers(), req.uri()));
    match site {
        Some(site) => {
            req.extensions_mut().insert(CurrentSite(site));
            next.run(req).await
        }
        None => ApiError::json(StatusCode::NOT_FOUND, json!({"developer_message": "unknown site"})).into_response(),
    }
}

/// The host a request names: its Host header, else the URI's authority.
pub fn host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> &'a str {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.host()).unwrap_or("")
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentSite {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentSite>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route served without site resolution"))
    }
}
