//! The one error type of the HTTP layer, rendered in Open edX's shapes
//! (errors.md §1). Internal failures are logged in full and answered with a
//! short generic body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::plugins::{CallError, Cause};
use crate::store::StoreError;

pub use crate::messages::{FieldErrors, MessagePair};

/// What goes into an error answer's body.
#[derive(Debug, Clone)]
pub enum ErrorBody {
    /// `{"detail": "..."}` (DRF framework errors).
    Detail(String),
    /// `{"developer_message": "...", "user_message": ...}`.
    Messages(MessagePair),
    /// `{"field_errors": {field: pair, ...}}`.
    FieldErrors(FieldErrors),
    /// The whole body is one JSON string (retirement routes, deactivate_logout).
    JsonString(String),
    /// A route-specific shape given verbatim.
    Json(Value),
    /// Zero-length body, JSON content type.
    Empty,
}

/// An error answer: a status and a body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

/// Result of a handler or service call.
pub type ApiResult<T> = Result<T, ApiError>;

pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

impl ApiError {
    /// Any status with any body.
    pub fn new(status: StatusCode, body: ErrorBody) -> Self {
        ApiError { status, body, retry_after: None }
    }

    /// `{"detail": text}` with `status`.
    pub fn detail(status: StatusCode, text: impl Into<String>) -> Self {
        Self::new(status, ErrorBody::Detail(text.into()))
    }

    /// 401: no credentials on a route that needs a user.
    pub fn not_authenticated() -> Self {
        Self::detail(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED)
    }

    /// 403: DRF's permission refusal.
    pub fn permission_denied() -> Self {
        Self::detail(StatusCode::FORBIDDEN, PERMISSION_DENIED)
    }

    /// A status with an empty body (errors.md §1.6).
    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, ErrorBody::Empty)
    }

    /// 404 with an empty body: the account is not there, or not for you.
    pub fn not_found() -> Self {
        Self::empty(StatusCode::NOT_FOUND)
    }

    /// A developer/user message pair with `status`.
    pub fn messages(status: StatusCode, developer: impl Into<String>, user: Option<String>) -> Self {
        Self::new(status, ErrorBody::Messages(MessagePair { developer_message: developer.into(), user_message: user }))
    }

    /// 400 with one entry per failing field.
    pub fn field_errors(errors: FieldErrors) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorBody::FieldErrors(errors))
    }

    /// A bare JSON string body.
    pub fn json_string(status: StatusCode, text: impl Into<String>) -> Self {
        Self::new(status, ErrorBody::JsonString(text.into()))
    }

    /// A verbatim JSON body.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self::new(status, ErrorBody::Json(body))
    }

    /// 400: the body is not valid JSON (errors.md §1.1).
    pub fn json_parse(message: impl std::fmt::Display) -> Self {
        Self::detail(StatusCode::BAD_REQUEST, format!("JSON parse error - {message}"))
    }

    /// 415 for a content type the route does not read.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{content_type}\" in request."),
        )
    }

    /// 413: the body is over the configured limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::messages(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes."),
            Some("The request is too large.".into()),
        )
    }

    /// 405 for a method the route does not serve.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::detail(StatusCode::METHOD_NOT_ALLOWED, format!("Method \"{method}\" not allowed."))
    }

    /// 429 in DRF's throttling shape, with `Retry-After`.
    pub fn throttled(retry: crate::ratelimit::RetryAfter) -> Self {
        let seconds = retry.0.as_secs() + u64::from(retry.0.subsec_nanos() > 0);
        let mut e = Self::detail(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Request was throttled. Expected available in {seconds} seconds."),
        );
        e.retry_after = Some(seconds);
        e
    }

    /// 500: the cause is logged in full with the request id; the client
    /// gets a generic message and the id to quote.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let id = crate::http::middleware::request_id();
        tracing::error!(request_id = %id, error = %cause, "internal error");
        Self::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "developer_message": format!("Internal server error (request id {id})."),
                "user_message": "Something went wrong. Please try again later.",
                "request_id": id,
            }),
        )
    }

    /// A 500 whose body is one JSON string, as the retirement routes answer;
    /// the cause is logged with the request id, which the string carries.
    pub fn internal_string(cause: impl std::fmt::Display) -> Self {
        let id = crate::http::middleware::request_id();
        tracing::error!(request_id = %id, error = %cause, "internal error");
        Self::json_string(StatusCode::INTERNAL_SERVER_ERROR, format!("Internal server error (request id {id})."))
    }
}

impl From<CallError> for ApiError {
    /// A failed plugin refuses the request; the body names the plugin and
    /// the cause for the operator, and nothing was stored (plugins.md).
    fn from(e: CallError) -> Self {
        tracing::error!(site = %e.site, plugin = %e.plugin, slot = %e.slot, cause = %e.cause, "plugin call failed");
        let status =
            if e.cause == Cause::Busy { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
        Self::messages(
            status,
            e.to_string(),
            Some("This change cannot be saved right now. Please try again later.".into()),
        )
    }
}

/// DRF's message for a string holding U+0000.
pub const NUL_MESSAGE: &str = "Null characters are not allowed.";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Input boundaries refuse NULs with a field error; this is the
            // store's own refusal for anything that got past them.
            StoreError::NulCharacter => {
                ApiError::messages(StatusCode::BAD_REQUEST, NUL_MESSAGE, Some(NUL_MESSAGE.to_owned()))
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.body {
            ErrorBody::Detail(d) => Some(json!({ "detail": d })),
            ErrorBody::Messages(m) => Some(m.to_json()),
            ErrorBody::FieldErrors(f) => {
                let map: serde_json::Map<String, Value> = f.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                Some(json!({ "field_errors": map }))
            }
            ErrorBody::JsonString(s) => Some(Value::String(s.clone())),
            ErrorBody::Json(v) => Some(v.clone()),
            ErrorBody::Empty => None,
        };
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("JWT realm=\"api\""));
        }
        response
    }
}
