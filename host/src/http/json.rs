//! Request bodies: read with the size limit, parsed only when the handler
//! asks (permission checks come before body parsing, errors.md §3), and
//! every failure answered in Open edX's shape, never axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};

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
    /// another type is a 415, malformed JSON a 400, and a string holding
    /// U+0000 anywhere a 400 field error.
    pub fn json(&self, accepted: &[&str]) -> Result<serde_json::Value, ApiError> {
        let media = self.media_type();
        if !accepted.contains(&media.as_str()) {
            return Err(ApiError::unsupported_media_type(self.content_type.as_deref().unwrap_or("")));
        }
        parse_json(&self.bytes)
    }

    /// The body read as a form (`a=1&b=2`), in order; a value or name
    /// holding U+0000 is a 400 field error.
    pub fn form(&self) -> Result<Vec<(String, String)>, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&self.bytes).into_owned().collect();
        if let Some((name, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(nul_error(name));
        }
        Ok(pairs)
    }
}

/// Parses JSON bytes, answering malformed input with DRF's 400 and strings
/// holding U+0000 with a field error (PostgreSQL cannot store them, so
/// neither backend does).
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(ApiError::json_parse)?;
    if let Some(field) = nul_field(&value, None) {
        return Err(nul_error(&field));
    }
    Ok(value)
}

/// The top-level field under which `value` holds a string (or key) with
/// U+0000; `non_field_errors` for one outside any object field.
fn nul_field(value: &serde_json::Value, field: Option<&str>) -> Option<String> {
    use serde_json::Value;
    let here = || field.unwrap_or("non_field_errors").to_owned();
    match value {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items.iter().find_map(|v| nul_field(v, field)),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let name = field.unwrap_or(k);
            if k.contains('\0') {
                Some(name.to_owned())
            } else {
                nul_field(v, Some(name))
            }
        }),
        _ => None,
    }
}

/// 400 `{"field_errors": {field: DRF's null-character message}}`.
pub fn nul_error(field: &str) -> ApiError {
    let pair = crate::messages::MessagePair::same(crate::http::error::NUL_MESSAGE);
    ApiError::field_errors(std::iter::once((field.to_owned(), pair)).collect())
}

/// Media types DRF's JSON parser reads.
pub const JSON: &[&str] = &["application/json"];

/// The merge-patch media type of account and preference PATCHes.
pub const MERGE_PATCH: &[&str] = &["application/merge-patch+json"];
