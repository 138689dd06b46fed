//! `POST /oauth2/access_token`: client-credentials and password grants,
//! answered with a JWT in django-oauth-toolkit's shape (errors.md §6).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::jwt::TokenSubject;
use super::{clients, password};
use crate::accounts::store::{self as users, User};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::RawBody;
use crate::http::site::CurrentSite;
use crate::sites::Site;

const CLIENT_SCOPES: &[&str] = &["read", "write", "email", "profile"];
const PASSWORD_SCOPES: &[&str] = &["read", "write", "email", "profile", "user_id"];

fn oauth_error(status: StatusCode, body: Value) -> ApiError {
    ApiError::json(status, body)
}

fn invalid_client() -> ApiError {
    oauth_error(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}))
}

fn invalid_request(description: &str) -> ApiError {
    oauth_error(StatusCode::BAD_REQUEST, json!({"error": "invalid_request", "error_description": description}))
}

/// The token endpoint.
pub async fn access_token(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let form: HashMap<String, String> = form_urlencoded::parse(&body.bytes).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let basic = basic_credentials(&headers);
    let client_id = field("client_id").map(str::to_owned).or_else(|| basic.as_ref().map(|b| b.0.clone()));
    let client_secret = field("client_secret").map(str::to_owned).or_else(|| basic.as_ref().map(|b| b.1.clone()));
    let grant_type = field("grant_type").ok_or_else(|| invalid_request("Missing grant type."))?;

    let (user, scopes, grant) = match grant_type {
        "client_credentials" => {
            let (Some(id), Some(secret)) = (client_id, client_secret) else {
                return Err(invalid_client());
            };
            let client = authenticate_client(&state, &site, &id, Some(&secret)).await?;
            let user = users::find_by_id(&state.db, &site.tenant, client.user_id).await?.ok_or_else(invalid_client)?;
            (user, CLIENT_SCOPES, "client-credentials")
        }
        "password" => {
            let id = client_id.ok_or_else(invalid_client)?;
            authenticate_client(&state, &site, &id, client_secret.as_deref()).await?;
            let (Some(username), Some(pw)) = (field("username"), form.get("password")) else {
                return Err(invalid_request("Request is missing username or password parameter."));
            };
            let user = password_login(&state, &site, username, pw).await?;
            (user, PASSWORD_SCOPES, "password")
        }
        _ => return Err(oauth_error(StatusCode::BAD_REQUEST, json!({"error": "unsupported_grant_type"}))),
    };

    let name = users::profile_name(&state.db, user.id).await?;
    let subject = TokenSubject::of(&user, name.as_deref());
    let token = site.keys.issue(&subject, scopes, grant, None).ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type", "error_description": "This site has no signing key."}),
        )
    })?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "JWT",
        "expires_in": site.keys.expires_in(),
        "scope": scopes.join(" "),
    })))
}

async fn authenticate_client(
    state: &AppState,
    site: &Site,
    client_id: &str,
    secret: Option<&str>,
) -> ApiResult<clients::OAuthClient> {
    let client = clients::find(&state.db, &site.tenant, client_id).await?.ok_or_else(invalid_client)?;
    if let Some(secret) = secret {
        if password::verify(secret, &client.client_secret_hash) == password::Verified::No {
            return Err(invalid_client());
        }
    }
    Ok(client)
}

/// Checks a username and password; rehashes a legacy hash on success.
async fn password_login(state: &AppState, site: &Site, username: &str, pw: &str) -> ApiResult<User> {
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid credentials given."}),
        )
    };
    let user = users::find_by_username(&state.db, &site.tenant, username).await?.ok_or_else(invalid_grant)?;
    match password::verify(pw, &user.password_hash) {
        password::Verified::No => return Err(invalid_grant()),
        password::Verified::YesRehash => users::set_password_hash(&state.db, user.id, &password::hash(pw)).await?,
        password::Verified::Yes => {}
    }
    users::touch_last_login(&state.db, user.id).await?;
    Ok(user)
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
