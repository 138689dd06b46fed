//! CORS for a site's micro-frontends (clients.md §4): the exact origin is
//! echoed, never `*`, and only for origins the site lists.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::site::CurrentSite;

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "accept, accept-language, authorization, content-type, origin, use-jwt-cookie, x-csrftoken, x-requested-with";

/// Adds CORS headers for allowed origins and answers their preflights.
pub async fn cors(req: Request, next: Next) -> Response {
    let Some(CurrentSite(site)) = req.extensions().get::<CurrentSite>().cloned() else {
        return next.run(req).await;
    };
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned);
    let allowed = match (&site.config.cors, &origin) {
        (Some(cors), Some(origin)) if cors.allowed_origins.iter().any(|o| o == origin) => Some(cors.allow_credentials),
        _ => None,
    };
    let (Some(credentials), Some(origin)) = (allowed, origin) else {
        return next.run(req).await;
    };
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight { StatusCode::OK.into_response() } else { next.run(req).await };
    let headers = response.headers_mut();
    add_origin_headers(headers, &origin, credentials);
    if preflight {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

fn add_origin_headers(headers: &mut HeaderMap, origin: &str, credentials: bool) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if credentials {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}
