//! Authentication: who is calling, decided once per request (errors.md §4).
//!
//! Schemes, in order: `Authorization: JWT <t>`, `Authorization: Bearer <t>`
//! (validated as a JWT), then the JWT cookie pair of the micro-frontends,
//! which must pass the CSRF check on unsafe methods. A recognised but invalid
//! credential fails the request; it does not fall through.
//!
//! This module decides; `http::auth` turns its answers into extractors and
//! its refusals into Open edX's bodies.

pub mod api_doc;
pub mod clients;
pub mod csrf;
pub mod grants;
pub mod jwt;
pub mod login;
pub mod password;
pub mod routes;
pub mod session_routes;
pub mod sessions;

use std::sync::Arc;

use axum::http::{header, HeaderMap, Method};

use crate::sites::Site;
use crate::store::StoreError;
use crate::users::{User, UserRecord, Users};
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

/// An authenticated caller: their record and the token's claims.
#[derive(Debug, Clone)]
pub struct Principal {
    pub record: Arc<UserRecord>,
    pub claims: Claims,
    pub scheme: Scheme,
}

impl Principal {
    /// The caller's user row.
    pub fn user(&self) -> &User {
        &self.record.user
    }
}

/// Why a request's credentials were refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An `Authorization` header of a known scheme without exactly one token.
    #[error("malformed authorization header")]
    Header { scheme: Scheme, missing: bool },
    /// A token that does not authenticate anyone.
    #[error("token refused: {refusal:?}")]
    Token { scheme: Scheme, refusal: Refusal },
    /// The CSRF check of a cookie-authenticated unsafe request failed.
    #[error("CSRF Failed: {0}")]
    Csrf(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a token did not authenticate anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Token(JwtError),
    NoSuchUser,
    Revoked,
}

/// A token that names someone, before looking them up.
#[derive(Debug, Clone)]
pub struct Credential {
    pub claims: Claims,
    pub scheme: Scheme,
}

/// Reads and verifies the request's credential, without any lookup.
/// `Ok(None)`: no credential (or a forgiving cookie that does not verify).
pub fn credential(site: &Site, headers: &HeaderMap) -> Result<Option<Credential>, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // DRF splits the header on ASCII whitespace (Python's bytes.split()).
        let mut words = value.to_str().unwrap_or("").split_ascii_whitespace();
        let prefix = words.next().unwrap_or("");
        let scheme = if prefix.eq_ignore_ascii_case("jwt") {
            Some(Scheme::Jwt)
        } else if prefix.eq_ignore_ascii_case("bearer") {
            Some(Scheme::Bearer)
        } else {
            None
        };
        if let Some(scheme) = scheme {
            let token = match (words.next(), words.next()) {
                (Some(token), None) => token,
                (None, _) => return Err(AuthError::Header { scheme, missing: true }),
                (Some(_), Some(_)) => return Err(AuthError::Header { scheme, missing: false }),
            };
            return match site.keys.verify(token) {
                Ok(claims) => Ok(Some(Credential { claims, scheme })),
                Err(e) => Err(AuthError::Token { scheme, refusal: Refusal::Token(e) }),
            };
        }
    }
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    // Forgiving JWT cookies: an invalid cookie token is no credential at all.
    Ok(site.keys.verify(&token).ok().map(|claims| Credential { claims, scheme: Scheme::Cookie }))
}

/// The username a credential speaks for.
pub fn subject(credential: &Credential) -> &str {
    credential.claims.subject_username().unwrap_or_default()
}

/// Accepts `credential` for `record` (its subject's record, if found):
/// refused when nobody has that name or the token was revoked.
pub fn accept(credential: Credential, record: Option<Arc<UserRecord>>) -> Result<Principal, AuthError> {
    let scheme = credential.scheme;
    let Some(record) = record else {
        return Err(AuthError::Token { scheme, refusal: Refusal::NoSuchUser });
    };
    if record.user.tokens_revoked_at.is_some_and(|at| credential.claims.iat <= at) {
        return Err(AuthError::Token { scheme, refusal: Refusal::Revoked });
    }
    Ok(Principal { record, claims: credential.claims, scheme })
}

/// The caller of a request, if any: the credential, then its subject's record.
pub async fn authenticate(
    users: &Users,
    site: &Site,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Option<Principal>, AuthError> {
    let Some(credential) = credential(site, headers)? else {
        return Ok(None);
    };
    let record = users.by_username(&site.tenant, subject(&credential)).await?;
    admit(site, headers, method, credential, record)
}

/// Accepts a verified credential for its subject's record, the way every
/// route does: a forgiving cookie for an unknown or revoked account is no
/// credential, and a cookie on an unsafe method must pass the CSRF check.
pub fn admit(
    site: &Site,
    headers: &HeaderMap,
    method: &Method,
    credential: Credential,
    record: Option<Arc<UserRecord>>,
) -> Result<Option<Principal>, AuthError> {
    let principal = match accept(credential, record) {
        Ok(principal) => principal,
        Err(AuthError::Token { scheme: Scheme::Cookie, .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if principal.scheme == Scheme::Cookie && is_unsafe(method) {
        csrf::check(site, headers).map_err(AuthError::Csrf)?;
    }
    Ok(Some(principal))
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let header_payload = cookie(headers, COOKIE_HEADER_PAYLOAD)?;
    let signature = cookie(headers, COOKIE_SIGNATURE)?;
    Some(format!("{header_payload}.{signature}"))
}
