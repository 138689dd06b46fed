//! HTTP routes of the accounts API (accounts.md §2). Handlers parse, call
//! the service, and shape the answer.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::changes::{self, Confirmation};
use super::profile_image::{self, FilesystemStore, ImageStore};
use super::store::{self, AccountRecord, User};
use super::view::{account_for_viewer, Memberships, RequestOrigin, ViewRequest};
use super::{deactivation, patch, registration, username_replacement, view};
use crate::app::AppState;
use crate::auth::{Authenticated, Scheme};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON, MERGE_PATCH};
use crate::http::middleware::check_username_segment;
use crate::http::site::CurrentSite;
use crate::preferences::store::org_memberships;
use crate::retirement::identifiers::is_email_retired;
use crate::sites::Site;

/// The accounts routes, to be merged into the app router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/v1/me", get(me))
        .route("/api/user/v1/accounts", get(list_accounts))
        .route("/api/user/v1/accounts/search_emails", post(search_emails))
        .route("/api/user/v1/accounts/{username}", get(get_account).patch(patch_account))
        .route("/api/user/v1/accounts/name_change/", post(request_name_change))
        .route("/api/user/v1/accounts/name_change/{username}/confirm/", post(confirm_name_change))
        .route("/api/user/v1/accounts/third_party_auth_error/", get(third_party_auth_error))
        .route("/api/user/v1/accounts/{username}/deactivate/", post(deactivate))
        .route("/api/user/v1/accounts/deactivate_logout/", post(deactivate_logout))
        .route("/api/user/v1/accounts/replace_usernames/", post(replace_usernames))
        .route(
            "/api/user/v1/accounts/{username}/image",
            post(upload_image)
                .delete(delete_image)
                .layer(axum::extract::DefaultBodyLimit::max(profile_image::UPLOAD_BODY_LIMIT)),
        )
        .route("/media/profile-images/{file}", get(serve_image))
        .route("/api/user/v1/validation/registration", post(validate_registration))
        .route("/api/user/v1/validation/registration/", post(validate_registration))
        .route("/user_api/v1/account/registration/", get(registration_form))
        .route("/email_confirm/{key}", get(confirm_email).post(confirm_email))
        .route("/activate_secondary_email/{key}", get(activate_secondary_email).post(activate_secondary_email))
}

type QueryMap = Query<Vec<(String, String)>>;

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // Django's QueryDict.get: the last value of a repeated parameter wins.
    query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The account view's permission class: `email=` or `lms_user_id=` in the
/// query needs staff or superuser, on every action (accounts.md §5).
fn check_query_permission(auth: &Authenticated, query: &[(String, String)]) -> ApiResult<()> {
    let privileged = query.iter().any(|(k, _)| k == "email" || k == "lms_user_id");
    if privileged && !(auth.user.is_staff || auth.user.is_superuser) {
        return Err(ApiError::permission_denied());
    }
    Ok(())
}

/// `GET /api/user/v1/me`: the caller's username.
async fn me(auth: Authenticated) -> Json<Value> {
    Json(json!({ "username": auth.user.username }))
}

async fn render(
    state: &AppState,
    site: &Site,
    record: &AccountRecord,
    origin: &RequestOrigin,
    auth: &Authenticated,
    shared: bool,
) -> ApiResult<Value> {
    let mut request = ViewRequest {
        viewer_id: auth.user.id,
        viewer_username: &auth.user.username,
        viewer_is_staff: auth.user.is_staff,
        shared,
        orgs: None,
    };
    if site.plugins.visibility.is_some() && request.needs_policy(record.user.id) {
        let (viewer, owner) = org_memberships(&state.db, auth.user.id, record.user.id).await?;
        request.orgs = Some(Memberships { viewer, owner });
    }
    Ok(account_for_viewer(site, record, origin, &request))
}

/// `GET /api/user/v1/accounts/{username}`.
async fn get_account(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    Query(query): QueryMap,
    origin: RequestOrigin,
) -> ApiResult<Json<Value>> {
    check_username_segment(&username)?;
    check_query_permission(&auth, &query)?;
    let user = store::find_by_username(&state.db, &site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    let record = store::load_account(&state.db, user).await?;
    let shared = query_value(&query, "view") == Some("shared");
    Ok(Json(render(&state, &site, &record, &origin, &auth, shared).await?))
}

/// `GET /api/user/v1/accounts?username=|email=|lms_user_id=` (accounts.md §6).
async fn list_accounts(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Query(query): QueryMap,
    origin: RequestOrigin,
) -> ApiResult<Response> {
    check_query_permission(&auth, &query)?;
    let shared = query_value(&query, "view") == Some("shared");
    let users: Vec<User> = if let Some(names) = query_value(&query, "username") {
        let names: Vec<&str> = names.trim_matches(',').split(',').collect();
        store::find_by_usernames(&state.db, &site.tenant, &names).await?
    } else if let Some(email) = query_value(&query, "email") {
        if is_email_retired(&state.db, &site.tenant, &site.config.retirement, email).await? {
            let (can_cancel, id) = recent_retirement(&state, &site, email).await?;
            return Ok(ApiError::json(
                StatusCode::NOT_FOUND,
                json!({"error_msg": "This email is associated to a retired account.", "can_cancel_retirement": can_cancel, "retirement_id": id}),
            )
            .into_response());
        }
        store::find_by_emails(&state.db, &site.tenant, &[email.to_owned()]).await?
    } else if let Some(id) = query_value(&query, "lms_user_id") {
        let id: i64 = id.trim().parse().map_err(|_| ApiError::empty(StatusCode::BAD_REQUEST))?;
        store::find_by_id(&state.db, &site.tenant, id).await?.into_iter().collect()
    } else {
        vec![auth.user.clone()]
    };
    if users.is_empty() {
        return Err(ApiError::not_found());
    }
    let mut accounts = Vec::with_capacity(users.len());
    for user in users {
        let record = store::load_account(&state.db, user).await?;
        accounts.push(render(&state, &site, &record, &origin, &auth, shared).await?);
    }
    Ok(Json(Value::Array(accounts)).into_response())
}

/// A retirement of `email` created within the site's cool-off days, if any.
async fn recent_retirement(state: &AppState, site: &Site, email: &str) -> ApiResult<(bool, Option<i64>)> {
    let since = crate::clock::now_micros() - site.config.retirement.cool_off_days * 86_400 * 1_000_000;
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT s.id FROM retirement_status s JOIN users u ON u.id = s.user_id \
         WHERE u.tenant = $1 AND s.original_email = $2 AND s.created >= $3 ORDER BY s.created DESC",
    )
    .bind(&site.tenant)
    .bind(email)
    .bind(since)
    .fetch_optional(state.db.pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    Ok((row.is_some(), row.map(|r| r.0)))
}

/// `PATCH /api/user/v1/accounts/{username}` (accounts.md §8).
async fn patch_account(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    Query(query): QueryMap,
    origin: RequestOrigin,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    check_username_segment(&username)?;
    check_query_permission(&auth, &query)?;
    let data: Value = if body.bytes.is_empty() {
        if !MERGE_PATCH.contains(&body.media_type().as_str()) {
            return Err(ApiError::unsupported_media_type(body.content_type.as_deref().unwrap_or("")));
        }
        json!({})
    } else {
        body.json(MERGE_PATCH)?
    };
    let Some(data) = data.as_object() else {
        return Err(ApiError::messages(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object of account fields.",
            None,
        ));
    };
    if auth.user.username != username {
        return Err(ApiError::empty(StatusCode::FORBIDDEN));
    }
    let record = store::load_account(&state.db, auth.user.clone()).await?;
    let lookups = changes::lookups(&state.db, &site, &record.user, data).await?;
    let account_changes = patch::validate(&site, &record, data, &lookups)?;
    changes::apply_patch(&state.db, &site, &record, &account_changes, &origin.scheme).await?;
    let user = store::find_by_id(&state.db, &site.tenant, record.user.id).await?.ok_or_else(ApiError::not_found)?;
    let record = store::load_account(&state.db, user).await?;
    Ok(Json(Value::Object(view::full_account(&site, &record, &origin))))
}

/// `POST /api/user/v1/accounts/name_change/`: 201, empty body.
async fn request_name_change(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let data: Value = if body.bytes.is_empty() { json!({}) } else { body.json(JSON)? };
    let record = store::load_account(&state.db, auth.user.clone()).await?;
    changes::request_name_change(&state.db, &site, &record, &data).await?;
    Ok(StatusCode::CREATED)
}

/// `POST /api/user/v1/accounts/name_change/{username}/confirm/` (staff): 204.
async fn confirm_name_change(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    if !auth.user.is_staff {
        return Err(ApiError::empty(StatusCode::FORBIDDEN));
    }
    check_username_segment(&username)?;
    let target = store::find_by_username(&state.db, &site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    changes::confirm_name_change(&state.db, &site, &auth.user, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/user/v1/accounts/third_party_auth_error/`: we have no third-party auth.
async fn third_party_auth_error(_auth: Authenticated) -> Json<Value> {
    Json(json!({ "user_message": null }))
}

fn confirmation_page(outcome: Confirmation, done: &str) -> Response {
    let (status, text) = match outcome {
        Confirmation::Done => (StatusCode::OK, done),
        Confirmation::InvalidKey => (StatusCode::BAD_REQUEST, "This link is invalid or has already been used."),
        Confirmation::AddressTaken => {
            (StatusCode::CONFLICT, "An account with this e-mail address already exists; nothing was changed.")
        }
    };
    let page = format!("<!doctype html><title>{text}</title><p>{text}</p>");
    (status, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// `/email_confirm/{key}`: the link mailed for a primary address change.
async fn confirm_email(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let outcome = changes::confirm_email_change(&state.db, &site, &key).await?;
    Ok(confirmation_page(outcome, "Your e-mail address has been changed."))
}

/// `/activate_secondary_email/{key}`: the link mailed for a recovery address.
async fn activate_secondary_email(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let outcome = changes::confirm_secondary_email(&state.db, &site, &key).await?;
    Ok(confirmation_page(outcome, "Your recovery e-mail address has been confirmed."))
}

/// `POST /api/user/v1/accounts/search_emails` (staff): `{"emails": [...]}` →
/// `[{"email", "id", "username"}]` for the accounts that exist.
async fn search_emails(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if !auth.user.is_staff {
        return Err(ApiError::json(
            StatusCode::NOT_FOUND,
            json!({"developer_message": "not_found", "user_message": "Not Found"}),
        ));
    }
    let data: Value = if body.bytes.is_empty() { json!({}) } else { body.json(JSON)? };
    let Some(emails) = data.get("emails") else {
        let msg = "'emails' field is required";
        return Err(ApiError::messages(StatusCode::BAD_REQUEST, msg, Some(msg.into())));
    };
    let emails: Vec<String> = match emails {
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let users = store::find_by_emails(&state.db, &site.tenant, &emails).await?;
    let rows: Vec<Value> =
        users.iter().map(|u| json!({"email": u.email, "id": u.id, "username": u.username})).collect();
    Ok(Json(Value::Array(rows)))
}

/// `POST /api/user/v1/accounts/{username}/deactivate/`: the target can no
/// longer log in; the answer is the account as the caller sees it.
async fn deactivate(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    origin: RequestOrigin,
) -> ApiResult<Json<Value>> {
    if !deactivation::has_permission(&state.db, &auth.user, deactivation::CAN_DEACTIVATE_USERS).await? {
        return Err(ApiError::permission_denied());
    }
    check_username_segment(&username)?;
    let target = store::find_by_username(&state.db, &site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    deactivation::deactivate(&state.db, &site, &auth.user, &target).await?;
    let record = store::load_account(&state.db, target).await?;
    Ok(Json(render(&state, &site, &record, &origin, &auth, false).await?))
}

/// `POST /api/user/v1/accounts/deactivate_logout/`: "delete my account",
/// with the password as a form field.
async fn deactivate_logout(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<StatusCode> {
    if auth.scheme == Scheme::Bearer && !auth.user.is_active {
        return Err(ApiError::json(
            StatusCode::UNAUTHORIZED,
            json!({"error_code": "user_not_active", "developer_message": format!("User inactive or deleted: {}", auth.user.username)}),
        ));
    }
    let password = if body.media_type() == "application/x-www-form-urlencoded" {
        form_urlencoded::parse(&body.bytes).find(|(k, _)| k == "password").map(|(_, v)| v.into_owned())
    } else {
        None
    };
    deactivation::check_password(&state.db, &auth.user, password.as_deref()).await?;
    deactivation::deactivate_and_queue_retirement(&state.db, &site, &auth.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/user/v1/accounts/replace_usernames/` (the replacement worker only).
async fn replace_usernames(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if site.config.username_replacement_worker.as_deref() != Some(auth.user.username.as_str()) {
        return Err(ApiError::permission_denied());
    }
    let schema_error = || ApiError::json(StatusCode::BAD_REQUEST, json!(["Request data does not match schema"]));
    let data: Value = body.json(JSON).map_err(|_| schema_error())?;
    let mappings = data.get("username_mappings").and_then(Value::as_array).ok_or_else(schema_error)?;
    let mut pairs = Vec::with_capacity(mappings.len());
    for mapping in mappings {
        match mapping.as_object().map(|m| m.iter().collect::<Vec<_>>()).as_deref() {
            Some([(current, Value::String(desired))]) => pairs.push(((*current).clone(), desired.clone())),
            _ => return Err(schema_error()),
        }
    }
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for (current, desired) in pairs {
        let new = match username_replacement::free_username(&state.db, &site, &desired).await {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %e, "username replacement failed");
                failed.push(json!({ current: desired }));
                continue;
            }
        };
        match username_replacement::replace(&state.db, &site, &current, &new).await {
            Ok(()) => successful.push(json!({ current: new })),
            Err(e) => {
                tracing::error!(error = %e, "username replacement failed");
                failed.push(json!({ current: new }));
            }
        }
    }
    Ok(Json(json!({"successful_replacements": successful, "failed_replacements": failed})))
}

/// `POST /api/user/v1/validation/registration`: no authentication, limited per address.
async fn validate_registration(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    // X-Forwarded-For is trusted only from a reverse proxy on this host;
    // anyone else could send a fresh value per request to dodge the limit.
    let forwarded = headers
        .get("x-forwarded-for")
        .filter(|_| peer.ip().is_loopback())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok());
    if !state.registration_limiter.allow(forwarded.unwrap_or(peer.ip())) {
        return Err(ApiError::permission_denied());
    }
    let data: serde_json::Map<String, Value> = if body.media_type() == "application/x-www-form-urlencoded" {
        form_urlencoded::parse(&body.bytes).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
    } else if body.bytes.is_empty() {
        serde_json::Map::new()
    } else {
        match body.json::<Value>(JSON)? {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    };
    Ok(Json(registration::validate(&state.db, &site, &data).await?))
}

/// `GET /user_api/v1/account/registration/`: the form, with the country list.
async fn registration_form(CurrentSite(site): CurrentSite) -> Json<Value> {
    Json(registration::form_description(&site))
}

fn image_error(message: &str) -> ApiError {
    ApiError::messages(StatusCode::BAD_REQUEST, message, Some(message.to_owned()))
}

/// `POST /api/user/v1/accounts/{username}/image`: multipart field `file`.
async fn upload_image(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<StatusCode> {
    check_username_segment(&username)?;
    if auth.user.username != username {
        return Err(ApiError::permission_denied());
    }
    let no_file = || image_error("No file provided for profile image");
    let mut multipart = multipart.map_err(|_| no_file())?;
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        image_error(&profile_image::ImageError::TooLarge.to_string())
                    } else {
                        no_file()
                    }
                })?;
                file = Some(bytes);
                break;
            }
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(image_error(&profile_image::ImageError::TooLarge.to_string()))
            }
            Err(_) => return Err(no_file()),
        }
    }
    let bytes = file.ok_or_else(no_file)?;
    let sizes: Vec<u32> = site.config.profile_image.sizes.values().copied().collect();
    let rendered = tokio::task::spawn_blocking(move || {
        let image = profile_image::decode(&bytes)?;
        sizes
            .into_iter()
            .map(|px| profile_image::render(&image, px).map(|jpeg| (px, jpeg)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| image_error(&e.to_string()))?;
    let store = FilesystemStore::for_site(&site);
    let stem = profile_image::image_stem(&site, &username);
    for (px, jpeg) in &rendered {
        store.put(&format!("{stem}_{px}.jpg"), jpeg).map_err(ApiError::internal)?;
    }
    store::set_profile_image_uploaded(&state.db, &site.tenant, auth.user.id, Some(crate::clock::now_micros())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/user/v1/accounts/{username}/image`.
async fn delete_image(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    check_username_segment(&username)?;
    if auth.user.username != username {
        return Err(ApiError::permission_denied());
    }
    let store = FilesystemStore::for_site(&site);
    let stem = profile_image::image_stem(&site, &username);
    for px in site.config.profile_image.sizes.values() {
        store.delete(&format!("{stem}_{px}.jpg")).map_err(ApiError::internal)?;
    }
    store::set_profile_image_uploaded(&state.db, &site.tenant, auth.user.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /media/profile-images/{file}`: the stored images of the site's tenant.
async fn serve_image(CurrentSite(site): CurrentSite, Path(file): Path<String>) -> ApiResult<Response> {
    if !profile_image::is_image_file_name(&file) {
        return Err(crate::http::middleware::no_route());
    }
    let bytes = FilesystemStore::for_site(&site).get(&file).map_err(|_| crate::http::middleware::no_route())?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
        .into_response())
}
