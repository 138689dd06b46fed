//! The caller of a request as extractors, and authentication refusals in
//! Open edX's bodies (errors.md §4).

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::json;

use crate::app::AppState;
use crate::auth::jwt::JwtError;
use crate::auth::{self, AuthError, Credential, Principal, Refusal, Scheme};
use crate::http::error::ApiError;
use crate::http::site::CurrentSite;

/// An authenticated, unrestricted caller (401/403 otherwise).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl Deref for Authenticated {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// An optional caller, for routes that also serve anonymous requests.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let MaybeAuthenticated(principal) = MaybeAuthenticated::from_request_parts(parts, state).await?;
        require(principal).map(Authenticated)
    }
}

/// The rule every authenticated route applies: someone, and not restricted.
pub fn require(principal: Option<Principal>) -> Result<Principal, ApiError> {
    let principal = principal.ok_or_else(ApiError::not_authenticated)?;
    if principal.claims.is_restricted {
        return Err(ApiError::permission_denied());
    }
    Ok(principal)
}

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<MaybeAuthenticated>() {
            return Ok(done.clone());
        }
        let CurrentSite(site) = CurrentSite::from_request_parts(parts, state).await?;
        let principal = auth::authenticate(&state.users, &site, &parts.headers, &parts.method).await?;
        let found = MaybeAuthenticated(principal);
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Header { scheme, missing } => header_error(scheme, missing),
            AuthError::Token { scheme, refusal } => token_error(scheme, &refusal),
            AuthError::Csrf(reason) => ApiError::detail(StatusCode::FORBIDDEN, format!("CSRF Failed: {reason}")),
            AuthError::Store(e) => {
                ApiError::internal(format!("authentication failed: the user store did not answer: {e}"))
            }
        }
    }
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

/// The request's verified credential, before its subject is looked up: for
/// handlers that load the caller together with other records.
#[derive(Debug, Clone)]
pub struct Credentialed(pub Option<Credential>);

impl FromRequestParts<AppState> for Credentialed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentSite(site) = CurrentSite::from_request_parts(parts, state).await?;
        Ok(Credentialed(auth::credential(&site, &parts.headers)?))
    }
}
