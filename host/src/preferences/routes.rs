//! HTTP routes of the preferences API (preferences.md §2).

use std::collections::HashMap;

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::api_doc as doc;
use super::service::{self, Access, PreferenceError};
use super::{rules, timezones};
use crate::app::AppState;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON, MERGE_PATCH};
use crate::http::middleware::check_username_segment;
use crate::http::openapi::{get, post, Routes};
use crate::http::site::CurrentSite;

/// The preferences routes, each with its OpenAPI entry.
pub fn routes() -> Routes {
    Routes::new()
        .route("/api/user/v1/preferences/{username}", get(get_all, doc::get_all()).patch(patch_all, doc::patch_all()))
        .route(
            "/api/user/v1/preferences/{username}/{key}",
            get(get_one, doc::get_one()).put(put_one, doc::put_one()).delete(delete_one, doc::delete_one()),
        )
        .route("/api/user/v1/preferences/time_zones/", get(time_zones, doc::time_zones()))
        .route("/user_api/v1/preferences/time_zones/", get(time_zones, doc::time_zones()))
        .route("/api/user/v1/preferences/email_opt_in/", post(email_opt_in, doc::email_opt_in()))
        .route("/user_api/v1/preferences/email_opt_in/", post(email_opt_in, doc::email_opt_in()))
}

impl From<PreferenceError> for ApiError {
    fn from(e: PreferenceError) -> Self {
        match e {
            PreferenceError::PermissionDenied => ApiError::permission_denied(),
            PreferenceError::ReadOnly => ApiError::empty(StatusCode::FORBIDDEN),
            PreferenceError::NotFound => ApiError::not_found(),
            PreferenceError::NoData => {
                let text = "No data provided for user preference update";
                ApiError::messages(StatusCode::BAD_REQUEST, text, Some(text.into()))
            }
            PreferenceError::Invalid(errors) => ApiError::field_errors(errors),
            PreferenceError::InvalidValue(pair) => {
                ApiError::messages(StatusCode::BAD_REQUEST, pair.developer_message, pair.user_message)
            }
            PreferenceError::SaveFailed { key, value } => ApiError::messages(
                StatusCode::BAD_REQUEST,
                format!("Save failed for user preference '{key}' with value '{value}': storage error"),
                Some(format!("Save failed for user preference '{key}' with value '{value}'.")),
            ),
            PreferenceError::DeleteFailed { key } => ApiError::messages(
                StatusCode::BAD_REQUEST,
                format!("Delete failed for user preference '{key}': storage error"),
                Some(format!("Delete failed for user preference '{key}'.")),
            ),
            PreferenceError::Store(e) => e.into(),
        }
    }
}

async fn get_all(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    check_username_segment(&username)?;
    let record = service::target(&state.users, &site, &auth.record, &username, Access::Read).await?;
    // The map depends on the record alone: serialised once per record.
    let body = record.renderings.get_or("preferences", || Value::Object(service::all(&record)).to_string().into());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn patch_all(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    body: RawBody,
) -> ApiResult<StatusCode> {
    check_username_segment(&username)?;
    let record = service::target(&state.users, &site, &auth.record, &username, Access::Write).await?;
    let patch: Value = if body.bytes.is_empty() { Value::Null } else { body.json(MERGE_PATCH)? };
    service::update(&state.db, &site, &record.user, &patch).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_detail_path(&username, &key)?;
    let record = service::target(&state.users, &site, &auth.record, &username, Access::Read).await?;
    Ok(Json(Value::String(service::get(&record, &key)?)))
}

async fn put_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
    body: RawBody,
) -> ApiResult<StatusCode> {
    check_detail_path(&username, &key)?;
    let record = service::target(&state.users, &site, &auth.record, &username, Access::Write).await?;
    let value: Value = if body.bytes.is_empty() { Value::Null } else { body.json(JSON)? };
    service::set_one(&state.db, &site, &record.user, &key, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    check_detail_path(&username, &key)?;
    let record = service::target(&state.users, &site, &auth.record, &username, Access::Write).await?;
    service::delete_one(&state.db, &site, &record.user, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn check_detail_path(username: &str, key: &str) -> ApiResult<()> {
    check_username_segment(username)?;
    if rules::is_detail_route_key(key) {
        Ok(())
    } else {
        Err(crate::http::middleware::no_route())
    }
}

/// `GET …/preferences/time_zones/?country_code=XX`: no authentication needed.
async fn time_zones(Query(query): Query<HashMap<String, String>>) -> Json<Vec<timezones::TimeZoneEntry>> {
    Json(timezones::country_time_zones(query.get("country_code").map(String::as_str)))
}

/// `POST …/preferences/email_opt_in/`: form fields `course_id`, `email_opt_in`.
async fn email_opt_in(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Response> {
    let form: HashMap<String, String> = body.form()?.into_iter().collect();
    let missing: Vec<&str> = ["course_id", "email_opt_in"].into_iter().filter(|k| !form.contains_key(*k)).collect();
    if !missing.is_empty() {
        let text = format!("Missing POST parameters: {}", missing.join(", "));
        return Ok(
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], text).into_response()
        );
    }
    let course_id = &form["course_id"];
    let Some(org) = service::course_org(course_id) else {
        let text = format!("No course '{course_id}' found");
        return Ok(
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        );
    };
    let opt_in = form["email_opt_in"].eq_ignore_ascii_case("true");
    service::update_email_opt_in(&state.db, &site, &auth.record, org, opt_in).await?;
    Ok(StatusCode::OK.into_response())
}
