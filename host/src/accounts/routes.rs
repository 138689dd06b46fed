//! HTTP routes of the accounts API.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::store;
use crate::app::AppState;
use crate::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON};
use crate::http::site::CurrentSite;

/// The accounts routes, to be merged into the app router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/v1/me", get(me))
        .route("/api/user/v1/accounts/search_emails", post(search_emails))
}

/// `GET /api/user/v1/me`: the caller's username.
async fn me(auth: Authenticated) -> Json<Value> {
    Json(json!({ "username": auth.user.username }))
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
            axum::http::StatusCode::NOT_FOUND,
            json!({"developer_message": "not_found", "user_message": "Not Found"}),
        ));
    }
    let data: Value = if body.bytes.is_empty() {
        json!({})
    } else {
        body.json(JSON)?
    };
    let Some(emails) = data.get("emails") else {
        let msg = "'emails' field is required";
        return Err(ApiError::messages(
            axum::http::StatusCode::BAD_REQUEST,
            msg,
            Some(msg.into()),
        ));
    };
    let emails: Vec<String> = match emails {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let users = store::find_by_emails(&state.db, &site.tenant, &emails).await?;
    let rows: Vec<Value> = users
        .iter()
        .map(|u| json!({"email": u.email, "id": u.id, "username": u.username}))
        .collect();
    Ok(Json(Value::Array(rows)))
}
