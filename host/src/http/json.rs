//! Request bodies: read with the size limit, parsed only when the handler
//! asks (permission checks come before body parsing, errors.md §3), and
//! every failure answered in Open edX's shape, never axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::http::error::ApiError;

/// A request body and its content type, not yet parsed.
#[derive(Debug, Clone)]
pub struct RawBody {
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(state.max_body_bytes)
            } else {
                ApiError::detail(StatusCode::BAD_REQUEST, format!("Could not read the request body: {rejection}"))
            }
        })?;
        Ok(RawBody { content_type, bytes })
    }
}

impl RawBody {
    /// The media type without parameters, lower-cased ("" when absent).
    pub fn media_type(&self) -> String {
        self.content_type
            .as_deref()
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Parses a JSON body. `accepted` lists the media types the route reads;
    /// another type is a 415, malformed JSON a 400.
    pub fn json<T: DeserializeOwned>(&self, accepted: &[&str]) -> Result<T, ApiError> {
        let media = self.media_type();
        if !accepted.contains(&media.as_str()) {
            return Err(ApiError::unsupported_media_type(self.content_type.as_deref().unwrap_or("")));
        }
        parse_json(&self.bytes)
    }
}

/// Parses JSON bytes, answering malformed input with DRF's 400.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(ApiError::json_parse)
}

/// Media types DRF's JSON parser reads.
pub const JSON: &[&str] = &["application/json"];

/// The merge-patch media type of account and preference PATCHes.
pub const MERGE_PATCH: &[&str] = &["application/merge-patch+json"];
