//! `AppState` and the router, assembled in one place.
//!
//! Layers, outermost first: request id → CORS (by the Host's site) → the
//! edge (access log, metrics, body limit, NULs in the query, 405/OPTIONS
//! answers) → [site resolution] → handler.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::openapi::{self, get, page, post, Routes};
use crate::http::{cors, middleware as mw, site};
use crate::metrics::Metrics;
use crate::ops_doc;
use crate::sites::SiteRegistry;
use crate::store::Db;
use crate::users::Users;

/// Everything a handler may reach, shared: cloning it per request and per
/// extractor is one reference count, not one per field.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Shares `app` with every request.
    pub fn new(app: App) -> AppState {
        AppState(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// What the service holds while it runs.
#[derive(Debug)]
pub struct App {
    pub db: Db,
    /// The user records, cached in front of `db`.
    pub users: Users,
    pub sites: Arc<SiteRegistry>,
    /// Where the tenant keys are read from again on a sites reload.
    pub keys: crate::tenant_keys::KeySettings,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    /// Per-address limit of the registration validation route.
    pub registration_limiter: Arc<crate::ratelimit::Limiter<std::net::IpAddr>>,
    /// Login attempts per account and per address.
    pub login_limiter: Arc<crate::auth::sessions::LoginLimiter>,
    /// OAuth client secrets already checked with argon2.
    pub verified_secrets: Arc<auth::clients::VerifiedSecrets>,
}

/// The routes every site serves, each with its OpenAPI entry; site
/// resolution is layered over them in [`router`].
pub fn site_routes() -> Routes {
    crate::accounts::routes::routes()
        .merge(crate::preferences::routes::routes())
        .merge(crate::retirement::routes::routes())
        .merge(auth::session_routes::routes())
        .route("/oauth2/access_token", post(auth::routes::access_token, auth::api_doc::access_token()))
        .route("/csrf/api/v1/token", get(auth::routes::csrf_token, auth::api_doc::csrf_token()))
        .route("/admin/v1/sites/reload", post(reload_sites_route, ops_doc::reload_sites()))
}

/// The routes that answer whatever the Host: probes, metrics, the API document.
pub fn ops_routes() -> Routes {
    Routes::new()
        .route("/health", get(health, ops_doc::health()))
        .route("/ready", get(ready, ops_doc::ready()))
        .route("/metrics", get(metrics, ops_doc::metrics()))
        .route("/api/user/v1/openapi.json", get(openapi, ops_doc::openapi()))
        .route(page::PAGE_PATH, get(page::page, ops_doc::docs_page()))
        .route(page::SCRIPT_PATH, get(page::script, ops_doc::docs_script()))
}

/// The OpenAPI document of every route, built from the route tables.
pub fn openapi_document() -> Value {
    let (_, mut table) = site_routes().into_parts();
    table.extend(ops_routes().into_parts().1);
    openapi::document(&table)
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (site_routes, _) = site_routes().into_parts();
    let (ops_routes, _) = ops_routes().into_parts();
    Router::new()
        .merge(site_routes.layer(from_fn_with_state(state.clone(), site::resolve_site)))
        .merge(ops_routes)
        .fallback(mw::not_found)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), mw::edge))
        .layer(from_fn_with_state(cors::layer(Arc::clone(&state.sites)), cors::cors))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<AppState>) -> Response {
    let db = state.db.ping().await;
    let sites = !state.sites.current().all().is_empty();
    let status = if db && sites { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"database": db, "sites": sites}))).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(crate::metrics::Snapshot {
        sites_loaded: state.sites.current().all().len(),
        cache: state.users.cache().stats(),
        pool: state.db.pool_stats(),
    });
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

/// The document, serialised once.
static OPENAPI_JSON: std::sync::LazyLock<bytes::Bytes> =
    std::sync::LazyLock::new(|| serde_json::to_vec(&openapi_document()).unwrap_or_default().into());

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON.clone()).into_response()
}

/// Reloads the sites directory, reads their tenants' keys again and applies
/// their retirement states; on any problem the previous sites keep serving.
/// Returns the site ids, or every reason for refusing.
pub async fn reload_sites(state: &AppState) -> Result<Vec<String>, Vec<String>> {
    let dir = state.sites.dir().to_path_buf();
    // Loading compiles the sites' plugins: blocking work.
    let loaded = tokio::task::spawn_blocking(move || SiteRegistry::load(&dir))
        .await
        .map_err(|e| vec![format!("the site loader failed: {e}")])?;
    let outcome = match loaded {
        Err(e) => Err(e.issues.iter().map(ToString::to_string).collect()),
        Ok(candidate) => {
            let set = candidate.current();
            match crate::tenant_keys::reload(&state.keys, &state.db, &set).await {
                Err(e) => Err(vec![e.to_string()]),
                Ok(()) => match crate::retirement::states::sync(&state.db, &set).await {
                    Err(e) => Err(vec![e.to_string()]),
                    Ok(()) => {
                        state.sites.replace(Arc::clone(&set));
                        Ok(set.all().iter().map(|s| s.id.clone()).collect())
                    }
                },
            }
        }
    };
    state.metrics.observe_reload(outcome.is_ok());
    outcome
}

/// `POST /admin/v1/sites/reload` (superuser): swap in the sites directory
/// whole, or keep the old set and say why not.
async fn reload_sites_route(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Json<Value>> {
    if !auth.user().is_superuser {
        return Err(ApiError::permission_denied());
    }
    match reload_sites(&state).await {
        Ok(ids) => {
            tracing::info!(sites = ?ids, "sites reloaded");
            Ok(Json(json!({ "sites": ids })))
        }
        Err(errors) => {
            tracing::warn!(errors = ?errors, "site reload refused; the previous sites keep serving");
            Err(ApiError::json(
                StatusCode::BAD_REQUEST,
                json!({
                    "developer_message": "The site configuration is invalid; the previous sites keep serving.",
                    "user_message": null,
                    "errors": errors,
                }),
            ))
        }
    }
}
