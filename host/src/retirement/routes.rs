//! HTTP routes of the retirement API (retirement.md §5) and its admin
//! extensions (org tags, partner-report reset).

use std::sync::Arc;

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::actions::{self, CAN_CANCEL_RETIREMENT};
use super::api_doc as doc;
use super::pipeline::{self, check_retire_permission};
use super::requests::{self, CreateRetirementError};
use super::RetirementError;
use crate::accounts::deactivation;
use crate::app::AppState;
use crate::auth::Scheme;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{RawBody, JSON};
use crate::http::middleware::check_username_segment;
use crate::http::openapi::{get, patch, post, put, Routes};
use crate::http::site::CurrentSite;
use crate::preferences::service as preferences;
use crate::sites::Site;
use crate::users::{self, UserRecord};

impl From<RetirementError> for ApiError {
    fn from(e: RetirementError) -> Self {
        match e {
            RetirementError::BadRequest(text) => ApiError::json_string(StatusCode::BAD_REQUEST, text),
            RetirementError::UserNotSpecified => {
                ApiError::json(StatusCode::NOT_FOUND, json!({"message": "The user was not specified."}))
            }
            RetirementError::NotFound => ApiError::not_found(),
            RetirementError::Cancel(text) => ApiError::json(StatusCode::BAD_REQUEST, json!({ "message": text })),
            RetirementError::PermissionDenied => ApiError::permission_denied(),
            // Open edX answers unexpected failures of these routes with a bare
            // JSON string; the cause stays in the log.
            RetirementError::Store(e) => ApiError::internal_string(format!("retirement action failed: {e}")),
        }
    }
}

const BASE: &str = "/api/user/v1/accounts";

/// The retirement routes, each with its OpenAPI entry.
pub fn routes() -> Routes {
    let at = |name: &str| format!("{BASE}/{name}");
    let routes = Routes::new()
        .components(doc::components())
        .route(at("retirement_queue/"), get(queue, doc::queue()))
        .route(at("retirements_by_status_and_date/"), get(by_status_and_date, doc::by_status_and_date()))
        .route(at("{username}/retirement_status/"), get(status_of, doc::status_of()))
        .route(at("update_retirement_status/"), patch(update_status, doc::update_status()))
        .route(at("retire_misc/"), post(retire_misc, doc::retire_misc()))
        .route(at("retire/"), post(retire, doc::retire()))
        .route(at("retire_mailings/"), post(retire_mailings, doc::retire_mailings()))
        .route(
            at("retirement_partner_report/"),
            put(queue_partner_report, doc::queue_partner_report())
                .post(fetch_partner_report, doc::fetch_partner_report()),
        )
        .route(at("retirement_partner_report_cleanup/"), post(partner_report_cleanup, doc::partner_report_cleanup()))
        .route(at("retirement_cleanup/"), post(retirement_cleanup, doc::retirement_cleanup()))
        .route(at("cancel_retirement/"), post(cancel, doc::cancel()))
        .route(at("deactivate_logout/"), post(deactivate_logout, doc::deactivate_logout()))
        .route(
            "/admin/v1/retirement/partner_reporting/reset",
            post(reset_partner_reporting, doc::reset_partner_reporting()),
        )
        .route(
            "/admin/v1/users/{username}/orgs/{org}",
            put(add_org, doc::add_org()).delete(remove_org, doc::remove_org()),
        );
    // The action paths without their trailing slash answer 404 (§4) instead
    // of falling into `accounts/{username}`.
    [
        "update_retirement_status",
        "retire_misc",
        "retire",
        "retire_mailings",
        "retirement_partner_report",
        "retirement_partner_report_cleanup",
        "retirement_cleanup",
        "cancel_retirement",
    ]
    .into_iter()
    .fold(routes, |routes, name| routes.not_found(at(name)))
}

type QueryList = Query<Vec<(String, String)>>;

async fn queue(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Query(q): QueryList,
) -> ApiResult<Json<Value>> {
    check_retire_permission(&site, auth.user())?;
    Ok(Json(pipeline::queue(&s.db, &site, &q).await?))
}

async fn by_status_and_date(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Query(q): QueryList,
) -> ApiResult<Json<Value>> {
    check_retire_permission(&site, auth.user())?;
    Ok(Json(pipeline::by_status_and_date(&s.db, &site, &q).await?))
}

async fn status_of(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    check_retire_permission(&site, auth.user())?;
    check_username_segment(&username)?;
    Ok(Json(pipeline::status_of(&s.db, &site, &username).await?))
}

/// What every worker action needs: the retirement permission, checked
/// before the body is parsed (§4), then the JSON body (absent body = `{}`).
struct WorkerAction {
    db: crate::store::Db,
    site: Arc<Site>,
    body: Value,
}

impl axum::extract::FromRequest<AppState> for WorkerAction {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let CurrentSite(site) = CurrentSite::from_request_parts(&mut parts, state).await?;
        let auth = Authenticated::from_request_parts(&mut parts, state).await?;
        check_retire_permission(&site, auth.user())?;
        let raw = <RawBody as axum::extract::FromRequest<AppState>>::from_request(
            axum::extract::Request::from_parts(parts, body),
            state,
        )
        .await?;
        Ok(WorkerAction { db: state.db.clone(), site, body: json_body(&raw)? })
    }
}

/// The JSON body of an action route (absent body = `{}`).
fn json_body(body: &RawBody) -> ApiResult<Value> {
    if body.bytes.is_empty() {
        Ok(json!({}))
    } else {
        body.json(JSON)
    }
}

async fn update_status(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(pipeline::update_status(&w.db, &w.site, w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

async fn retire_misc(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::retire_misc(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

async fn retire(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::retire(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

async fn retire_mailings(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::retire_mailings(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

async fn queue_partner_report(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::queue_partner_report(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

/// The body is ignored: the driver sends none, with a JSON content type.
async fn fetch_partner_report(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
) -> ApiResult<Json<Value>> {
    check_retire_permission(&site, auth.user())?;
    let rows = actions::fetch_partner_report(&s.db, &site.tenant).await?;
    Ok(Json(Value::Array(rows.iter().map(|r| r.to_json(&site)).collect())))
}

async fn partner_report_cleanup(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::partner_report_cleanup(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

async fn retirement_cleanup(w: WorkerAction) -> ApiResult<StatusCode> {
    Ok(actions::retirement_cleanup(&w.db, &w.site, &w.body).await.map(|()| StatusCode::NO_CONTENT)?)
}

/// JSON or form body: `retirement_id`.
async fn cancel(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let user = auth.user();
    let staff_granted = user.is_staff && users::has_permission(&s.db, user, CAN_CANCEL_RETIREMENT).await?;
    if !(user.is_superuser || staff_granted) {
        return Err(ApiError::permission_denied());
    }
    let id = if body.media_type() == "application/x-www-form-urlencoded" {
        body.form()?.into_iter().find(|(k, _)| k == "retirement_id").map(|(_, v)| v)
    } else {
        json_body(&body)?.get("retirement_id").map(crate::pyrepr::py_str)
    };
    actions::cancel(&s.db, &site, user.id, id.as_deref()).await?;
    Ok(Json(json!({"success": true})))
}

/// `POST /admin/v1/retirement/partner_reporting/reset` (superuser, §5.13).
async fn reset_partner_reporting(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if !auth.user().is_superuser {
        return Err(ApiError::permission_denied());
    }
    let data = json_body(&body)?;
    let processing = data.get("is_being_processed").and_then(Value::as_bool).ok_or_else(|| {
        ApiError::messages(StatusCode::BAD_REQUEST, "is_being_processed (true or false) is required", None)
    })?;
    // Without `usernames` every row of the tenant; with a list only those (unknown names ignored).
    let updated = match data.get("usernames") {
        None => actions::reset_partner_processing(&s.db, Some(&site.tenant), &[], processing).await?,
        Some(list) => {
            let names: Vec<String> = list
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if names.is_empty() {
                0
            } else {
                actions::reset_partner_processing(&s.db, Some(&site.tenant), &names, processing).await?
            }
        }
    };
    Ok(Json(json!({ "updated": updated })))
}

async fn org_target(s: &AppState, site: &Site, auth: &Authenticated, username: &str) -> ApiResult<Arc<UserRecord>> {
    check_retire_permission(site, auth.user())?;
    check_username_segment(username)?;
    s.users.by_username(&site.tenant, username).await?.ok_or_else(ApiError::not_found)
}

/// `PUT /admin/v1/users/{username}/orgs/{org}`: record an org membership.
async fn add_org(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, org)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let record = org_target(&s, &site, &auth, &username).await?;
    preferences::set_org_membership(&s.db, record.user.id, &org, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v1/users/{username}/orgs/{org}`: remove that membership.
async fn remove_org(
    State(s): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    Path((username, org)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let record = org_target(&s, &site, &auth, &username).await?;
    preferences::set_org_membership(&s.db, record.user.id, &org, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/user/v1/accounts/deactivate_logout/`: "delete my account",
/// with the password as a form field; queues the retirement.
async fn deactivate_logout(
    State(state): State<AppState>,
    CurrentSite(site): CurrentSite,
    auth: Authenticated,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let user = auth.user();
    if auth.scheme == Scheme::Bearer && !user.is_active {
        return Err(ApiError::json(
            StatusCode::UNAUTHORIZED,
            json!({"error_code": "user_not_active", "developer_message": format!("User inactive or deleted: {}", user.username)}),
        ));
    }
    let password = if body.media_type() == "application/x-www-form-urlencoded" {
        body.form()?.into_iter().find(|(k, _)| k == "password").map(|(_, v)| v)
    } else {
        None
    };
    deactivation::check_password(&state.db, user, password.as_deref()).await?;
    requests::request_deletion(&state.db, &site, user, &auth.record.profile.name).await.map_err(|e| match e {
        CreateRetirementError::Store(e) => ApiError::from(e),
        CreateRetirementError::Mail(_) => {
            tracing::error!(error = %e, "self-service deletion failed");
            ApiError::json_string(StatusCode::INTERNAL_SERVER_ERROR, "The deletion notice could not be sent.")
        }
        // Open edX answers these with the exception's text; it names the
        // user's own state, nothing internal.
        other => {
            tracing::error!(error = %other, "cannot create the retirement request");
            ApiError::json_string(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    })?;
    Ok(StatusCode::NO_CONTENT)
}
