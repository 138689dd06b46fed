//! HTTP routes of the accounts API (accounts.md §2). Handlers parse, call
//! the service, and shape the answer; [`AccountError`]s become Open edX's
//! bodies here.

use std::sync::Arc;

use crate::http::extract::{Path, Query};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api_doc as doc;
use super::changes::{self, Confirmation};
use super::profile_image::{self, FilesystemStore, ImageStore};
use super::service::{AccountError, NewNameRefusal, CAN_DEACTIVATE_USERS};
use super::view::{RequestOrigin, ViewRequest};
use super::{deactivation, patch, registration, username_replacement, view};
use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::http::address::ClientAddress;
use crate::http::auth::{require, Authenticated, Credentialed};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON, MERGE_PATCH};
use crate::http::middleware::check_username_segment;
use crate::http::openapi::{get, post, Routes};
use crate::http::site::CurrentSite;
use crate::sites::Site;
use crate::users::{self, retired, UserRecord};

/// The accounts routes, each with its OpenAPI entry.
pub fn routes() -> Routes {
    Routes::new()
        .components(doc::components())
        .route("/api/user/v1/me", get(me, doc::me()))
        .route("/api/user/v1/accounts", get(list_accounts, doc::list()))
        .route("/api/user/v1/accounts/search_emails", post(search_emails, doc::search_emails()))
        .route("/api/user/v1/accounts/{username}", get(get_account, doc::get()).patch(patch_account, doc::patch()))
        .route("/api/user/v1/accounts/name_change/", post(request_name_change, doc::request_name_change()))
        .route(
            "/api/user/v1/accounts/name_change/{username}/confirm/",
            post(confirm_name_change, doc::confirm_name_change()),
        )
        .route(
            "/api/user/v1/accounts/third_party_auth_error/",
            get(third_party_auth_error, doc::third_party_auth_error()),
        )
        .route(
            "/api/third_party_auth/v0/providers/user_status",
            get(third_party_auth_status, doc::third_party_auth_status()),
        )
        .route(
            "/api/third_party_auth/v0/providers/user_status/",
            get(third_party_auth_status, doc::third_party_auth_status()),
        )
        .route("/api/user/v1/accounts/{username}/deactivate/", post(deactivate, doc::deactivate()))
        .route("/api/user/v1/accounts/replace_usernames/", post(replace_usernames, doc::replace_usernames()))
        .route(
            "/api/user/v1/accounts/{username}/image",
            post(upload_image, doc::upload_image())
                .delete(delete_image, doc::delete_image())
                .body_limit(profile_image::UPLOAD_BODY_LIMIT),
        )
        .route("/media/profile-images/{file}", get(serve_image, doc::serve_image()))
        .route("/api/user/v1/validation/registration", post(validate_registration, doc::validate_registration()))
        .route("/api/user/v1/validation/registration/", post(validate_registration, doc::validate_registration()))
        .route("/user_api/v1/account/registration/", get(registration_form, doc::registration_form()))
        .route("/api/user/v1/extended_profile_fields", get(extended_profile_fields, doc::extended_profile_fields()))
        .route(
            "/email_confirm/{key}",
            get(confirm_email, doc::confirm_email()).post(confirm_email, doc::confirm_email()),
        )
        .route(
            "/activate_secondary_email/{key}",
            get(activate_secondary_email, doc::activate_secondary_email())
                .post(activate_secondary_email, doc::activate_secondary_email()),
        )
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => ApiError::not_found(),
            AccountError::Forbidden => ApiError::empty(StatusCode::FORBIDDEN),
            AccountError::PermissionDenied => ApiError::permission_denied(),
            AccountError::Fields(errors) => ApiError::field_errors(errors),
            AccountError::Plugin(failure) => failure.into(),
            AccountError::SaveFailed => ApiError::messages(
                StatusCode::BAD_REQUEST,
                "Error thrown when saving account updates: 'storage error'",
                None,
            ),
            AccountError::EmailNotSent => {
                let msg = e.to_string();
                ApiError::messages(
                    StatusCode::BAD_REQUEST,
                    format!("Error thrown from do_email_change_request: '{msg}'"),
                    Some(msg),
                )
            }
            AccountError::NewName(NewNameRefusal::Invalid(message)) => {
                ApiError::json(StatusCode::BAD_REQUEST, json!({ "new_name": [message] }))
            }
            AccountError::NewName(NewNameRefusal::Unchanged) => ApiError::json(
                StatusCode::BAD_REQUEST,
                json!({"new_name": "The profile name given was identical to the current name."}),
            ),
            AccountError::Locked | AccountError::PasswordWrong => {
                ApiError::json_string(StatusCode::FORBIDDEN, e.to_string())
            }
            AccountError::PasswordMissing => ApiError::json_string(StatusCode::BAD_REQUEST, e.to_string()),
            AccountError::Store(e) => e.into(),
        }
    }
}

type QueryMap = Query<Vec<(String, String)>>;

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // Django's QueryDict.get: the last value of a repeated parameter wins.
    query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The account view's permission class: `email=` or `lms_user_id=` in the
/// query needs staff or superuser, on every action (accounts.md §5).
fn check_query_permission(caller: &Principal, query: &[(String, String)]) -> ApiResult<()> {
    let privileged = query.iter().any(|(k, _)| k == "email" || k == "lms_user_id");
    if privileged && !(caller.user().is_staff || caller.user().is_superuser) {
        return Err(ApiError::permission_denied());
    }
    Ok(())
}

/// `GET /api/user/v1/me`: the caller's username.
async fn me(auth: Authenticated) -> Json<Value> {
    Json(json!({ "username": auth.user().username }))
}

/// A JSON body already serialised.
fn json_bytes(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// The account object as `caller` sees it (visibility.md), serialised. The
/// org memberships a visibility policy weighs come with both records.
fn render(site: &Site, record: &UserRecord, origin: &RequestOrigin, caller: &Principal, shared: bool) -> Bytes {
    let viewer = caller.user();
    let request = ViewRequest {
        viewer_id: viewer.id,
        viewer_username: &viewer.username,
        viewer_is_staff: viewer.is_staff,
        shared,
        viewer_orgs: &caller.record.memberships,
    };
    view::render(site, record, origin, &request)
}

/// `GET /api/user/v1/accounts/{username}`: the caller and the account come
/// from the cache, or together from one read.
#[allow(clippy::too_many_arguments)]
async fn get_account(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    Credentialed(credential): Credentialed,
    headers: HeaderMap,
    method: Method,
    Path(username): Path<String>,
    Query(query): QueryMap,
    origin: RequestOrigin,
) -> ApiResult<Response> {
    let Some(credential) = credential else {
        return Err(ApiError::not_authenticated());
    };
    let valid_segment = check_username_segment(&username).is_ok();
    let subject = auth::subject(&credential).to_owned();
    let wanted = if valid_segment { username.as_str() } else { subject.as_str() };
    let (caller, target) = state.users.pair(&site.tenant, &subject, wanted).await?;
    let caller = require(auth::admit(&site, &headers, &method, credential, caller)?)?;
    check_username_segment(&username)?;
    check_query_permission(&caller, &query)?;
    let target = target.ok_or_else(ApiError::not_found)?;
    let shared = query_value(&query, "view") == Some("shared");
    Ok(json_bytes(render(&site, &target, &origin, &caller, shared)))
}

/// The most usernames one `username=a,b,…` list may name.
const MAX_LISTED_USERNAMES: usize = 100;

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
    let records: Vec<Arc<UserRecord>> = if let Some(names) = query_value(&query, "username") {
        let names: Vec<String> = names.trim_matches(',').split(',').map(str::to_owned).collect();
        if names.len() > MAX_LISTED_USERNAMES {
            let text = format!("At most {MAX_LISTED_USERNAMES} usernames may be listed.");
            return Err(ApiError::messages(StatusCode::BAD_REQUEST, text.clone(), Some(text)));
        }
        state.users.by_usernames(&site.tenant, &names).await?
    } else if let Some(email) = query_value(&query, "email") {
        if let Some(answer) = retired_email_answer(&state, &site, email).await? {
            return Ok(answer);
        }
        state.users.by_email(&site.tenant, email).await?.into_iter().collect()
    } else if let Some(id) = query_value(&query, "lms_user_id") {
        let id: i64 = id.trim().parse().map_err(|_| ApiError::empty(StatusCode::BAD_REQUEST))?;
        state.users.by_lms_user_id(&site.tenant, id).await?.into_iter().collect()
    } else {
        vec![Arc::clone(&auth.record)]
    };
    if records.is_empty() {
        return Err(ApiError::not_found());
    }
    let mut body = Vec::with_capacity(records.len() * 1024);
    for (i, record) in records.iter().enumerate() {
        body.push(if i == 0 { b'[' } else { b',' });
        body.extend_from_slice(&render(&site, record, &origin, &auth, shared));
    }
    body.push(b']');
    Ok(json_bytes(Bytes::from(body)))
}

/// The 404 of §6 for a retired address, with the cancellable retirement
/// created within the site's cool-off days, if any.
async fn retired_email_answer(state: &AppState, site: &Arc<Site>, email: &str) -> ApiResult<Option<Response>> {
    let since = crate::clock::now_micros() - site.config.retirement.cool_off_days * 86_400 * 1_000_000;
    let (site, email) = (Arc::clone(site), email.to_owned());
    let found = state
        .db
        .read(move |c| {
            Box::pin(async move {
                if !retired::is_email_retired(c, &site.tenant, &site.config.retirement, &email).await? {
                    return Ok::<_, crate::store::StoreError>(None);
                }
                Ok(Some(retired::recent_retirement_of_email(c, &site.tenant, &email, since).await?))
            })
        })
        .await?;
    Ok(found.map(|retirement| {
        ApiError::json(
            StatusCode::NOT_FOUND,
            json!({"error_msg": "This email is associated to a retired account.",
                   "can_cancel_retirement": retirement.is_some(), "retirement_id": retirement}),
        )
        .into_response()
    }))
}

/// `PATCH /api/user/v1/accounts/{username}` (accounts.md §8).
#[allow(clippy::too_many_arguments)]
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
    if auth.user().username != username {
        return Err(ApiError::empty(StatusCode::FORBIDDEN));
    }
    let record = &auth.record;
    let lookups = changes::lookups(&state.db, &site, record.user.id, data).await?;
    let account_changes = patch::validate(&site, record, data, &lookups)?;
    let fresh = changes::apply_patch(&state.db, &site, record, account_changes, &origin.scheme).await?;
    Ok(Json(Value::Object(view::full_account(&site, &fresh, &origin))))
}

/// `POST /api/user/v1/accounts/name_change/`: 201, empty body.
async fn request_name_change(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let data: Value = if body.bytes.is_empty() { json!({}) } else { body.json(JSON)? };
    changes::request_name_change(&state.db, &site, &auth.record, &data).await?;
    Ok(StatusCode::CREATED)
}

/// `POST /api/user/v1/accounts/name_change/{username}/confirm/` (staff): 204.
async fn confirm_name_change(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    if !auth.user().is_staff {
        return Err(ApiError::empty(StatusCode::FORBIDDEN));
    }
    check_username_segment(&username)?;
    let target = state.users.by_username(&site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    changes::confirm_name_change(&state.db, &site, auth.user().id, target.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/user/v1/accounts/third_party_auth_error/`: we have no third-party auth.
async fn third_party_auth_error(_auth: Authenticated) -> Json<Value> {
    Json(json!({ "user_message": null }))
}

/// `GET /api/third_party_auth/v0/providers/user_status`: the site's
/// providers and whether the caller's account is linked to each. userapi
/// holds no third-party links, so none is connected; with no providers
/// configured the answer is `[]` (the account MFE needs the route to answer).
async fn third_party_auth_status(CurrentSite(site): CurrentSite, _auth: Authenticated) -> Json<Value> {
    let providers = site.config.third_party_auth.providers.iter().filter(|p| p.accepts_logins);
    Json(Value::Array(
        providers
            .map(|p| {
                json!({
                    "id": p.id,
                    "name": p.name,
                    "connected": false,
                    "connect_url": p.connect_url,
                    "accepts_logins": p.accepts_logins,
                    "disconnect_url": p.disconnect_url,
                })
            })
            .collect(),
    ))
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
    if !auth.user().is_staff {
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
    let Value::Array(items) = emails else {
        let msg = "'emails' must be a list of email addresses";
        return Err(ApiError::messages(StatusCode::BAD_REQUEST, msg, Some(msg.into())));
    };
    let emails: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let tenant = site.tenant.clone();
    let found = state
        .db
        .read(move |c| Box::pin(async move { users::store::find_by_emails(c, &tenant, &emails).await }))
        .await?;
    let rows: Vec<Value> =
        found.iter().map(|u| json!({"email": u.email, "id": u.id, "username": u.username})).collect();
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
) -> ApiResult<Response> {
    if !users::has_permission(&state.db, auth.user(), CAN_DEACTIVATE_USERS).await? {
        return Err(ApiError::permission_denied());
    }
    check_username_segment(&username)?;
    let target = state.users.by_username(&site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    deactivation::deactivate(&state.db, &site, auth.user(), &target.user).await?;
    let record = state.users.by_id(&site.tenant, target.user.id).await?.ok_or_else(ApiError::not_found)?;
    Ok(json_bytes(render(&site, &record, &origin, &auth, false)))
}

/// `POST /api/user/v1/accounts/replace_usernames/` (the replacement worker only).
async fn replace_usernames(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if site.config.username_replacement_worker.as_deref() != Some(auth.user().username.as_str()) {
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
    ClientAddress(address): ClientAddress,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if !state.registration_limiter.allow(address, registration::RATE, registration::WINDOW) {
        return Err(ApiError::permission_denied());
    }
    let data: serde_json::Map<String, Value> = if body.media_type() == "application/x-www-form-urlencoded" {
        body.form()?.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
    } else if body.bytes.is_empty() {
        serde_json::Map::new()
    } else {
        match body.json(JSON)? {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    };
    Ok(Json(registration::validate(&state.db, &site, data).await?))
}

/// `GET /user_api/v1/account/registration/`: the form, with the country list.
/// `GET /api/user/v1/extended_profile_fields` (no authentication, like the
/// registration form): the site's extended-profile fields, described for a
/// form (name, label, type, required, choices).
async fn extended_profile_fields(CurrentSite(site): CurrentSite) -> Json<Value> {
    Json(json!(super::extended_profile::described_fields(&site)))
}

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
    if auth.user().username != username {
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
    let store = FilesystemStore::for_site(&site);
    let stem = profile_image::image_stem(&site, &username);
    // Decoding, resizing and writing the files are blocking work.
    tokio::task::spawn_blocking(move || {
        let image = profile_image::decode(&bytes).map_err(|e| image_error(&e.to_string()))?;
        for px in sizes {
            let jpeg = profile_image::render(&image, px).map_err(|e| image_error(&e.to_string()))?;
            store.put(&format!("{stem}_{px}.jpg"), &jpeg).map_err(ApiError::internal)?;
        }
        Ok::<_, ApiError>(())
    })
    .await
    .map_err(ApiError::internal)??;
    changes::set_profile_image_uploaded(&state.db, &site, auth.user().id, Some(crate::clock::now_micros())).await?;
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
    if auth.user().username != username {
        return Err(ApiError::permission_denied());
    }
    let store = FilesystemStore::for_site(&site);
    let stem = profile_image::image_stem(&site, &username);
    let sizes: Vec<u32> = site.config.profile_image.sizes.values().copied().collect();
    tokio::task::spawn_blocking(move || {
        for px in sizes {
            store.delete(&format!("{stem}_{px}.jpg"))?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    changes::set_profile_image_uploaded(&state.db, &site, auth.user().id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /media/profile-images/{file}`: the stored images of the site's tenant.
async fn serve_image(CurrentSite(site): CurrentSite, Path(file): Path<String>) -> ApiResult<Response> {
    if !profile_image::is_image_file_name(&file) {
        return Err(crate::http::middleware::no_route());
    }
    let store = FilesystemStore::for_site(&site);
    let bytes = tokio::task::spawn_blocking(move || store.get(&file))
        .await
        .map_err(ApiError::internal)?
        .map_err(|_| crate::http::middleware::no_route())?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
        .into_response())
}
