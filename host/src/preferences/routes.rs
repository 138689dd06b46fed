//! HTTP routes of the preferences API (preferences.md §2).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::service::{self, Access};
use super::{rules, store, timezones};
use crate::app::AppState;
use crate::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON, MERGE_PATCH};
use crate::http::middleware::check_username_segment;
use crate::http::site::CurrentSite;

/// The preferences routes, to be merged into the app router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/v1/preferences/{username}", get(get_all).patch(patch_all))
        .route("/api/user/v1/preferences/{username}/{key}", get(get_one).put(put_one).delete(delete_one))
        .route("/api/user/v1/preferences/time_zones/", get(time_zones))
        .route("/user_api/v1/preferences/time_zones/", get(time_zones))
        .route("/api/user/v1/preferences/email_opt_in/", post(email_opt_in))
        .route("/user_api/v1/preferences/email_opt_in/", post(email_opt_in))
}

async fn get_all(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    check_username_segment(&username)?;
    let user = service::target(&state.db, &site, &auth.user, &username, Access::Read).await?;
    let prefs: Map<String, Value> =
        store::all(&state.db, user.id).await?.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    Ok(Json(Value::Object(prefs)))
}

async fn patch_all(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
    body: RawBody,
) -> ApiResult<StatusCode> {
    check_username_segment(&username)?;
    let user = service::target(&state.db, &site, &auth.user, &username, Access::Write).await?;
    let patch: Value = if body.bytes.is_empty() { Value::Null } else { body.json(MERGE_PATCH)? };
    service::update(&state.db, &site, &user, &patch).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_detail_path(&username, &key)?;
    let user = service::target(&state.db, &site, &auth.user, &username, Access::Read).await?;
    let value = store::get(&state.db, user.id, &key).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(Value::String(value)))
}

async fn put_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
    body: RawBody,
) -> ApiResult<StatusCode> {
    check_detail_path(&username, &key)?;
    let user = service::target(&state.db, &site, &auth.user, &username, Access::Write).await?;
    let value: Value = if body.bytes.is_empty() { Value::Null } else { body.json(JSON)? };
    service::set_one(&state.db, &site, &user, &key, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_one(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    check_detail_path(&username, &key)?;
    let user = service::target(&state.db, &site, &auth.user, &username, Access::Write).await?;
    if service::delete_one(&state.db, &site, &user, &key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
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
    let form: HashMap<String, String> = form_urlencoded::parse(&body.bytes).into_owned().collect();
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
    service::update_email_opt_in(&state.db, &site, &auth.user, org, opt_in).await?;
    Ok(StatusCode::OK.into_response())
}
