//! CORS for a site's micro-frontends (clients.md §4): tower-http's
//! `CorsLayer`, whose predicates resolve the request's site, so the exact
//! origin is echoed (never `*`) only for origins that site lists. It wraps
//! everything, so 401s, 404s of unknown paths, 405s, 413s and 5xxs to an
//! allowed origin carry the headers too.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

use crate::sites::{Site, SiteRegistry};

const ALLOW_METHODS: [Method; 6] =
    [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];
const ALLOW_HEADERS: [&str; 8] = [
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "origin",
    "use-jwt-cookie",
    "x-csrftoken",
    "x-requested-with",
];

/// The CORS rules of every site, read from the live site registry.
pub fn layer(sites: Arc<SiteRegistry>) -> Arc<CorsLayer> {
    let for_origin = Arc::clone(&sites);
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, parts: &Parts| {
        with_site(&for_origin, parts, |site| listed(site, origin))
    });
    let allow_credentials = AllowCredentials::predicate(move |origin: &HeaderValue, parts: &Parts| {
        with_site(&sites, parts, |site| {
            site.config.cors.as_ref().is_some_and(|c| c.allow_credentials) && listed(site, origin)
        })
    });
    Arc::new(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_credentials(allow_credentials)
            .allow_methods(ALLOW_METHODS)
            .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
            .max_age(std::time::Duration::from_secs(86400)),
    )
}

/// Applies `layer` to every request with an `Origin` but a non-preflight
/// OPTIONS, which DRF's metadata answer serves (`CorsLayer` would answer any
/// OPTIONS itself). Without an `Origin` there is nothing to allow.
pub async fn cors(State(layer): State<Arc<CorsLayer>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let preflight = req.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !headers.contains_key(header::ORIGIN) || (req.method() == Method::OPTIONS && !preflight) {
        return next.run(req).await;
    }
    match layer.layer(next).oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn listed(site: &Site, origin: &HeaderValue) -> bool {
    origin.to_str().is_ok_and(|o| site.lists_cors_origin(o))
}

/// `rule` applied to the site the request's Host names; false when there is none.
fn with_site(sites: &SiteRegistry, parts: &Parts, rule: impl FnOnce(&Site) -> bool) -> bool {
    let host = crate::http::site::host(&parts.headers, &parts.uri);
    sites.current().for_host(host).is_some_and(|site| rule(&site))
}
