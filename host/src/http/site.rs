//! Site resolution: every request is served by the site its Host header
//! names (or the default site), found once here and carried in the request.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::sites::Site;

/// The site serving the current request.
#[derive(Debug, Clone)]
pub struct CurrentSite(pub Arc<Site>);

/// Resolves the site from the Host header, then applies its CORS rules;
/// unknown host without a default site → 404 `{"developer_message": "unknown site"}`.
pub async fn resolve_site(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("")
        .to_owned();
    match state.sites.current().for_host(&host) {
        Some(site) => {
            req.extensions_mut().insert(CurrentSite(site));
            crate::http::cors::cors(req, next).await
        }
        None => ApiError::json(StatusCode::NOT_FOUND, json!({"developer_message": "unknown site"})).into_response(),
    }
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
