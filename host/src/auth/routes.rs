//! HTTP routes of authentication: `POST /oauth2/access_token` (answered in
//! django-oauth-toolkit's shapes, errors.md §6) and `/csrf/api/v1/token`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::csrf;
use super::grants::{self, GrantError, TokenRequest};
use crate::app::AppState;
use crate::http::address::ClientAddress;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::RawBody;
use crate::http::site::CurrentSite;

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        let (status, body) = match &e {
            GrantError::MissingGrantType | GrantError::MissingCredentials => {
                (StatusCode::BAD_REQUEST, json!({"error": "invalid_request", "error_description": e.to_string()}))
            }
            GrantError::UnsupportedGrantType => (StatusCode::BAD_REQUEST, json!({"error": "unsupported_grant_type"})),
            GrantError::NoSigningKey => (
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type", "error_description": e.to_string()}),
            ),
            GrantError::InvalidClient => (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})),
            GrantError::InvalidGrant => {
                (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant", "error_description": e.to_string()}))
            }
            GrantError::RateLimited(retry) => return ApiError::throttled(*retry),
            GrantError::Store(_) => return ApiError::internal(e),
        };
        ApiError::json(status, body)
    }
}

/// The token endpoint.
pub async fn access_token(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let form: HashMap<String, String> = body.form()?.into_iter().collect();
    let field = |k: &str| form.get(k).filter(|v| !v.is_empty()).cloned();
    let basic = basic_credentials(&headers);
    let request = TokenRequest {
        grant_type: field("grant_type"),
        client_id: field("client_id").or_else(|| basic.as_ref().map(|b| b.0.clone())),
        client_secret: field("client_secret").or_else(|| basic.as_ref().map(|b| b.1.clone())),
        username: field("username"),
        password: form.get("password").cloned(),
    };
    let from = grants::Requester { address, limiter: &state.login_limiter };
    let token = grants::grant(&state.users, &state.verified_secrets, &site, from, request).await?;
    Ok(Json(json!({
        "access_token": token.access_token,
        "token_type": "JWT",
        "expires_in": token.expires_in,
        "scope": token.scope,
    })))
}

/// `Authorization: Basic base64(client_id:client_secret)`, each part form-decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((decode(id)?, decode(secret)?))
}

/// `GET /csrf/api/v1/token`: `{"csrfToken": "<masked token>"}` and the
/// `csrftoken` cookie holding its secret (kept when already valid).
pub async fn csrf_token(CurrentSite(_site): CurrentSite, headers: HeaderMap) -> Response {
    let (token, secret) = csrf::issue(&headers);
    let mut response = Json(json!({ "csrfToken": token })).into_response();
    if let Ok(value) = HeaderValue::from_str(&csrf::cookie_value(&secret)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
