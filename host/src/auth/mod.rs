//! Authentication: who is calling, decided once per request (errors.md §4).
//!
//! Schemes, in order: `Authorization: JWT <t>`, `Authorization: Bearer <t>`
//! (validated as a JWT), then the JWT cookie pair of the micro-frontends,
//! which must pass the CSRF check on unsafe methods. A recognised but invalid
//! credential fails the request; it does not fall through.

pub mod clients;
pub mod csrf;
pub mod jwt;
pub mod password;
pub mod token_endpoint;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::accounts::store::{find_by_username, User};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::site::CurrentSite;
use crate::sites::Site;
use jwt::{Claims, JwtError};

/// The cookie holding `<header>.<payload>` of the JWT.
pub const COOKIE_HEADER_PAYLOAD: &str = "edx-jwt-cookie-header-payload";
/// The cookie holding the JWT's signature.
pub const COOKIE_SIGNATURE: &str = "edx-jwt-cookie-signature";

/// How the caller presented their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: JWT <token>`.
    Jwt,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The JWT cookie pair.
    Cookie,
}

/// An authenticated caller: the stored user and the token's claims.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub claims: Claims,
    pub scheme: Scheme,
}

/// An optional caller, for routes that also serve anonymous requests.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let MaybeAuthenticated(auth) = MaybeAuthenticated::from_request_parts(parts, state).await?;
        let auth = auth.ok_or_else(ApiError::not_authenticated)?;
        if auth.claims.is_restricted {
            return Err(ApiError::permission_denied());
        }
        Ok(auth)
    }
}

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<MaybeAuthenticated>() {
            return Ok(done.clone());
        }
        let CurrentSite(site) = CurrentSite::from_request_parts(parts, state).await?;
        let auth = authenticate(state, &site, parts).await?;
        let auth = MaybeAuthenticated(auth);
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

async fn authenticate(state: &AppState, site: &Site, parts: &Parts) -> ApiResult<Option<Authenticated>> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        let mut words = value.split_whitespace();
        let prefix = words.next().unwrap_or("").to_ascii_lowercase();
        let scheme = match prefix.as_str() {
            "jwt" => Some(Scheme::Jwt),
            "bearer" => Some(Scheme::Bearer),
            _ => None,
        };
        if let Some(scheme) = scheme {
            let rest: Vec<&str> = words.collect();
            let token = match rest.as_slice() {
                [token] => *token,
                [] => return Err(header_error(scheme, true)),
                _ => return Err(header_error(scheme, false)),
            };
            return match verify(state, site, token).await {
                Ok(auth) => Ok(Some(Authenticated { scheme, ..auth })),
                Err(e) => Err(token_error(scheme, &e)),
            };
        }
    }
    let Some(token) = cookie_token(&parts.headers) else {
        return Ok(None);
    };
    // Forgiving JWT cookies: an invalid cookie token is no credential at all.
    let Ok(auth) = verify(state, site, &token).await else {
        return Ok(None);
    };
    if is_unsafe(&parts.method) {
        csrf::check(site, &parts.headers)?;
    }
    Ok(Some(Authenticated { scheme: Scheme::Cookie, ..auth }))
}

/// Why a token did not authenticate anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    Token(JwtError),
    NoSuchUser,
    Revoked,
    Store,
}

async fn verify(state: &AppState, site: &Site, token: &str) -> Result<Authenticated, Refusal> {
    let claims = site.keys.verify(token).map_err(Refusal::Token)?;
    let username = claims.subject_username().unwrap_or_default();
    let user = find_by_username(&state.db, &site.tenant, username)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "user lookup failed during authentication");
            Refusal::Store
        })?
        .ok_or(Refusal::NoSuchUser)?;
    if user.tokens_revoked_at.is_some_and(|at| claims.iat <= at) {
        return Err(Refusal::Revoked);
    }
    Ok(Authenticated { user, claims, scheme: Scheme::Jwt })
}

fn header_error(scheme: Scheme, missing: bool) -> ApiError {
    match (scheme, missing) {
        (Scheme::Bearer, true) => bearer_error("token_not_provided", "Invalid token header. No credentials provided."),
        (Scheme::Bearer, false) => {
            bearer_error("token_malformed", "Invalid token header. Token string should not contain spaces.")
        }
        (_, true) => {
            ApiError::detail(StatusCode::UNAUTHORIZED, "Invalid Authorization header. No credentials provided.")
        }
        (_, false) => ApiError::detail(
            StatusCode::UNAUTHORIZED,
            "Invalid Authorization header. Credentials string should not contain spaces.",
        ),
    }
}

fn token_error(scheme: Scheme, refusal: &Refusal) -> ApiError {
    if *refusal == Refusal::Store {
        return ApiError::internal("authentication failed: the user store did not answer");
    }
    if scheme == Scheme::Bearer && *refusal != Refusal::NoSuchUser {
        return match refusal {
            Refusal::Token(JwtError::Expired) => {
                bearer_error("token_expired", "The provided access token has expired and is no longer valid.")
            }
            _ => bearer_error("token_nonexistent", "The provided access token does not match any valid tokens."),
        };
    }
    let text = match refusal {
        Refusal::Token(JwtError::Expired) => "Token has expired.",
        Refusal::Token(JwtError::Undecodable) => "Error decoding token.",
        Refusal::Token(JwtError::NoUsername) => "JWT must include a preferred_username or username claim!",
        _ => "Invalid token.",
    };
    ApiError::detail(StatusCode::UNAUTHORIZED, text)
}

fn bearer_error(code: &str, message: &str) -> ApiError {
    ApiError::json(StatusCode::UNAUTHORIZED, json!({"error_code": code, "developer_message": message}))
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let header_payload = cookie(headers, COOKIE_HEADER_PAYLOAD)?;
    let signature = cookie(headers, COOKIE_SIGNATURE)?;
    Some(format!("{header_payload}.{signature}"))
}
