//! HTTP routes of browser sessions (clients.md §4): Open edX's login API
//! `POST /api/user/v2/account/login_session/`, `POST /login_refresh`,
//! `/logout`, and a plain server-rendered login page at `/login`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api_doc as doc;
use super::csrf;
use super::sessions::{self, CookieRules, LoginError, NewSession, SESSION_COOKIE};
use crate::app::AppState;
use crate::http::address::ClientAddress;
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::http::json::{RawBody, JSON};
use crate::http::openapi::{get, post, Routes};
use crate::http::site::CurrentSite;
use crate::sites::Site;

/// The routes, served on every site, each with its OpenAPI entry.
pub fn routes() -> Routes {
    Routes::new()
        .route("/api/user/v2/account/login_session/", post(login_api, doc::login_session()))
        .route("/api/user/v2/account/login_session", post(login_api, doc::login_session()))
        .route("/login_refresh", post(login_refresh, doc::login_refresh()))
        .route("/logout", get(logout, doc::logout()).post(logout, doc::logout()))
        .route("/login", get(login_page, doc::login_page()).post(login_form, doc::login_form()))
}

const INCORRECT: &str = "Email or password is incorrect.";
const RATE_LIMITED: &str = "Too many failed login attempts. Try again later.";
const INCOMPLETE: &str = "There was an error receiving your login information. Please email us.";
const INACTIVE: &str = "This account has not been activated. Check your e-mail for the activation link.";

/// The login fields of a form or JSON body (Open edX reads `email` first,
/// then `email_or_username`).
fn login_fields(body: &RawBody) -> Result<HashMap<String, String>, ApiError> {
    if body.media_type() == "application/json" {
        let Value::Object(map) = body.json(JSON)? else { return Ok(HashMap::new()) };
        Ok(map.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect())
    } else {
        Ok(body.form()?.into_iter().collect())
    }
}

/// `POST /api/user/v2/account/login_session/`: 200 `{"success": true,
/// "redirect_url": …}` with the session, JWT and CSRF cookies; 400 with
/// Open edX's failure body otherwise. CSRF-protected, as in Open edX.
async fn login_api(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    ClientAddress(address): ClientAddress,
    Query(query): Query<Vec<(String, String)>>,
    uri: Uri,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    csrf::check(&site, &headers)
        .map_err(|reason| ApiError::detail(StatusCode::FORBIDDEN, format!("CSRF Failed: {reason}")))?;
    let fields = login_fields(&body)?;
    let name = fields.get("email").or_else(|| fields.get("email_or_username")).cloned();
    let password = fields.get("password").cloned();
    let (Some(name), Some(password)) = (name.clone(), password) else {
        return Ok(login_failure(INCOMPLETE, None, name.as_deref()));
    };
    match sessions::login(&state.users, &state.login_limiter, &site, address, &name, password).await {
        Ok(session) => {
            let next = query
                .iter()
                .find(|(k, _)| k == "next")
                .map(|(_, v)| v.as_str())
                .or_else(|| fields.get("next").map(String::as_str))
                .and_then(|v| sessions::safe_next(&site, v));
            let answer = Json(json!({"success": true, "redirect_url": next})).into_response();
            Ok(with_login_cookies(answer, &site, &headers, &uri, &session))
        }
        Err(LoginError::Incorrect) => Ok(login_failure(INCORRECT, Some("incorrect-email-or-password"), Some(&name))),
        Err(LoginError::RateLimited) => Ok(login_failure(RATE_LIMITED, None, Some(&name))),
        Err(LoginError::Incomplete) => Ok(login_failure(INCOMPLETE, None, Some(&name))),
        Err(LoginError::Inactive) => {
            let body = json!({"success": false, "error_code": "inactive-user",
                              "context": {"platformName": site.config.platform_name, "supportLink": ""},
                              "email": name});
            Ok(ApiError::json(StatusCode::BAD_REQUEST, body).into_response())
        }
        Err(LoginError::Store(e)) => Err(e.into()),
    }
}

/// Open edX's `AuthFailedError` answer: 400 `{"success": false, "value", ["error_code", "context"], "email"}`.
fn login_failure(value: &str, error_code: Option<&str>, email: Option<&str>) -> Response {
    let mut body = json!({"success": false, "value": value});
    if let Some(code) = error_code {
        body["error_code"] = json!(code);
        body["context"] = json!({"failure_count": 0});
    }
    body["email"] = json!(email);
    ApiError::json(StatusCode::BAD_REQUEST, body).into_response()
}

/// Adds the cookies of a new session: the session, the JWT pair and a fresh
/// CSRF secret (Django rotates it at login).
fn with_login_cookies(
    mut response: Response,
    site: &Site,
    headers: &HeaderMap,
    uri: &Uri,
    session: &NewSession,
) -> Response {
    let rules = cookie_rules(site, headers, uri);
    let mut cookies = vec![rules.session(&session.key)];
    if let Some(token) = sessions::cookie_token(site, &session.record) {
        cookies.extend(rules.jwt(&token));
    }
    let (_, secret) = csrf::issue(&HeaderMap::new());
    cookies.push(csrf::cookie_value(&secret));
    set_cookies(&mut response, cookies);
    response
}

fn set_cookies(response: &mut Response, cookies: Vec<String>) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `POST /login_refresh`: with a live session, 204 and fresh JWT cookies;
/// without one, 401 `"Unauthorized"`. CSRF-exempt, as in Open edX.
async fn login_refresh(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let unauthorized = || ApiError::json_string(StatusCode::UNAUTHORIZED, "Unauthorized");
    let Some(key) = super::cookie(&headers, SESSION_COOKIE) else { return Err(unauthorized()) };
    let record = sessions::resume(&state.users, &site, key).await?.ok_or_else(unauthorized)?;
    let token = sessions::cookie_token(&site, &record)
        .ok_or_else(|| ApiError::internal(format!("site {} has no signing key for session cookies", site.id)))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookies(&mut response, cookie_rules(&site, &headers, &uri).jwt(&token));
    Ok(response)
}

/// `GET|POST /logout`: ends the session, clears its cookies, and sends the
/// browser to `redirect_url` (or `next`) when the site trusts it.
async fn logout(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    Query(query): Query<Vec<(String, String)>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(key) = super::cookie(&headers, SESSION_COOKIE) {
        sessions::end(&state.users, key).await?;
    }
    let next =
        query.iter().find(|(k, _)| k == "redirect_url" || k == "next").and_then(|(_, v)| sessions::safe_next(&site, v));
    let mut response = match next {
        Some(next) => redirect(&next),
        None => page(StatusCode::OK, &site, "Signed out", "<p>You have signed out.</p>"),
    };
    set_cookies(&mut response, cookie_rules(&site, &headers, &uri).cleared());
    Ok(response)
}

/// The cookie rules of `site` for this request: its host and whether it came over HTTPS.
fn cookie_rules<'a>(site: &'a Site, headers: &HeaderMap, uri: &Uri) -> CookieRules<'a> {
    CookieRules::of(site, crate::http::site::host(headers, uri), csrf::is_https(headers))
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /login?next=…`: the sign-in form.
async fn login_page(
    CurrentSite(site): CurrentSite,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let next = query.iter().find(|(k, _)| k == "next").map(|(_, v)| v.as_str()).unwrap_or("");
    login_form_page(StatusCode::OK, &site, &headers, next, "", None)
}

/// `POST /login`: the form's submission. On success, a redirect to `next`
/// when the site trusts it (else a signed-in page); on failure, the form
/// again with Open edX's message.
async fn login_form(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    ClientAddress(address): ClientAddress,
    uri: Uri,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let fields: HashMap<String, String> = body.form()?.into_iter().collect();
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let (next, name) = (field("next"), field("email_or_username"));
    if let Err(reason) = csrf::check_token(&site, &headers, fields.get("csrfmiddlewaretoken").map(String::as_str)) {
        let message = format!("Your sign-in form expired ({reason}). Please try again.");
        return Ok(login_form_page(StatusCode::FORBIDDEN, &site, &headers, next, name, Some(&message)));
    }
    let outcome =
        sessions::login(&state.users, &state.login_limiter, &site, address, name, field("password").to_owned()).await;
    let session = match outcome {
        Ok(session) => session,
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(e) => {
            let message = match e {
                LoginError::RateLimited => RATE_LIMITED,
                LoginError::Incomplete => INCOMPLETE,
                LoginError::Inactive => INACTIVE,
                _ => INCORRECT,
            };
            return Ok(login_form_page(StatusCode::BAD_REQUEST, &site, &headers, next, name, Some(message)));
        }
    };
    let response = match sessions::safe_next(&site, next) {
        Some(next) => redirect(&next),
        None => {
            let text = format!("<p>You are signed in as {}.</p>", escape(&session.record.user.username));
            page(StatusCode::OK, &site, "Signed in", &text)
        }
    };
    Ok(with_login_cookies(response, &site, &headers, &uri, &session))
}

fn login_form_page(
    status: StatusCode,
    site: &Site,
    headers: &HeaderMap,
    next: &str,
    name: &str,
    error: Option<&str>,
) -> Response {
    let (token, secret) = csrf::issue(headers);
    let error = error.map(|e| format!("<p role=\"alert\" id=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{error}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <p><label>Email or username <input id=\"email_or_username\" name=\"email_or_username\" value=\"{name}\" \
         autocomplete=\"username\" required></label></p>\
         <p><label>Password <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required></label></p>\
         <p><button id=\"submit\" type=\"submit\">Sign in</button></p></form>",
        token = escape(&token),
        next = escape(next),
        name = escape(name),
    );
    let mut response = page(status, site, "Sign in", &body);
    set_cookies(&mut response, vec![csrf::cookie_value(&secret)]);
    response
}

fn page(status: StatusCode, site: &Site, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title} | {platform}</title>\
         <h1>{title}</h1>{body}</html>",
        platform = escape(&site.config.platform_name),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// Text made safe for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}
