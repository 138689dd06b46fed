//! Middleware that applies to every route: the body size limit, framework
//! answers (404, 405) in our JSON shape, and request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::request_id::RequestId;

use crate::app::AppState;
use crate::http::error::ApiError;

tokio::task_local! {
    /// The request id (`x-request-id`) of the request the task serves.
    static REQUEST_ID: String;
}

/// The id of the request being served, for error bodies and logs ("" outside one).
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// What every request passes through, in one layer: the access log and
/// metrics around everything; then the declared-body limit, NULs in the
/// query, and DRF's 405/OPTIONS answers.
pub async fn edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).map(str::to_owned);
    // The template, never the path: labels must come from a closed set.
    let route = req.extensions().get::<MatchedPath>().map_or(crate::metrics::UNMATCHED, MatchedPath::as_str);
    let route = route.to_owned();
    let handled = async {
        match refusal(&state, &req) {
            Some(refused) => refused,
            None => match read_body(req, body_limit_for(&path, state.max_body_bytes)).await {
                Ok(req) => framework_answers(&method, next.run(req).await),
                Err(refused) => refused,
            },
        }
    };
    let response = REQUEST_ID.scope(id.clone().unwrap_or_default(), handled).await;
    let took = start.elapsed();
    state.metrics.observe_request(&route, method.as_str(), response.status().as_u16(), took);
    // Never headers, bodies or query strings: they can carry tokens,
    // passwords or e-mail addresses.
    tracing::info!(
        request_id = id.as_deref().unwrap_or(""),
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        micros = took.as_micros() as u64,
        "request"
    );
    response
}

/// A request refused before routing: a declared Content-Length over the
/// limit (streamed bodies are cut by the extractor's limit, also as 413),
/// or a query string holding U+0000 in a name or value (400 field error
/// naming the parameter: neither backend stores or matches it).
fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let limit = body_limit_for(req.uri().path(), state.max_body_bytes);
    if declared.is_some_and(|n| n > limit as u64) {
        return Some(ApiError::payload_too_large(limit).into_response());
    }
    let query = req.uri().query()?;
    let (name, _) = form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))?;
    Some(crate::http::json::nul_error(&name).into_response())
}

/// Reads the whole request body (within `limit`) before any handler runs,
/// so a request refused before its handler parses the body (a 401 on a
/// POST, say) leaves nothing unread on the connection: closing a socket with
/// unread input resets it, and the client loses the answer. A body over the
/// limit is a 413 that closes the connection.
async fn read_body(req: Request, limit: usize) -> Result<Request, Response> {
    use axum::body::{Body, HttpBody};
    if req.body().is_end_stream() {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Err(e) => {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let mut refused = if too_large {
                ApiError::payload_too_large(limit).into_response()
            } else {
                ApiError::detail(StatusCode::BAD_REQUEST, "Could not read the request body.").into_response()
            };
            refused.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            Err(refused)
        }
    }
}

/// The body limit of a path: profile image uploads have their own
/// (operator.md), everything else the configured one.
pub fn body_limit_for(path: &str, configured: usize) -> usize {
    if path.starts_with("/api/user/v1/accounts/") && path.ends_with("/image") {
        configured.max(crate::accounts::profile_image::UPLOAD_BODY_LIMIT)
    } else {
        configured
    }
}

/// Turns axum's bodiless 405 into DRF's JSON and answers OPTIONS like DRF's
/// metadata view.
fn framework_answers(method: &Method, response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    if *method == Method::OPTIONS {
        let mut ok =
            axum::Json(json!({"renders": ["application/json"], "parses": ["application/json"]})).into_response();
        if let Some(allow) = allow {
            ok.headers_mut().insert(header::ALLOW, allow);
        }
        return ok;
    }
    let mut answer = ApiError::method_not_allowed(method.as_str()).into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// 404 for paths no route matches (errors.md §1.1 decision).
pub async fn not_found() -> ApiError {
    no_route()
}

/// The answer for a path no route matches, also used by handlers whose path
/// parameters fall outside Open edX's URL patterns.
pub fn no_route() -> ApiError {
    ApiError::detail(StatusCode::NOT_FOUND, "Not found.")
}

/// `{username}` path segments match `[\w .@_+-]+` (accounts.md §1); any other
/// segment is answered as if no route matched.
pub fn check_username_segment(username: &str) -> Result<(), ApiError> {
    if !username.is_empty() && crate::users::types::UsernameChars::UrlSegment.all(username) {
        Ok(())
    } else {
        Err(no_route())
    }
}
