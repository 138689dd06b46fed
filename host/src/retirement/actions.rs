//! The retirement actions (retirement.md §5.5–5.13): each one transaction,
//! each idempotent, so the driver can retry after a crash or a timeout.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::identifiers::{retired_email, retired_username};
use super::pipeline::{bad_request, body_username};
use super::status::{self, StatusRow};
use crate::accounts::profile_image::{image_stem, FilesystemStore, ImageStore};
use crate::accounts::store::{audit, User};
use crate::accounts::types::{email_key, username_key};
use crate::auth::password;
use crate::clock::{iso8601, now_micros, now_secs};
use crate::http::error::{ApiError, ApiResult};
use crate::pyrepr::{py_repr, py_str};
use crate::sites::Site;
use crate::store::{Db, StoreError};

/// Unexpected failures of retirement actions answer 500 with the error text
/// as a bare JSON string, as Open edX does on these routes.
fn store_error(e: impl Into<StoreError>) -> ApiError {
    let e = e.into();
    tracing::error!(error = %e, "retirement action failed");
    ApiError::json_string(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The row of an action body's username, which must be in a working state.
async fn working_row(conn: &mut AnyConnection, site: &Site, body: &Value) -> ApiResult<StatusRow> {
    let username = body_username(body)?;
    let row = status::by_original_username(conn, &site.tenant, &username).await?.ok_or_else(ApiError::not_found)?;
    match row.working_state_error() {
        Some(message) => Err(bad_request(message)),
        None => Ok(row),
    }
}

async fn exec(conn: &mut AnyConnection, sql: &str, user_id: i64) -> ApiResult<()> {
    sqlx::query(sql).bind(user_id).execute(&mut *conn).await.map_err(store_error)?;
    Ok(())
}

/// `POST retire_misc/` (§5.5): pending name changes go.
pub async fn retire_misc(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let row = working_row(&mut tx, site, body).await?;
    exec(&mut tx, "DELETE FROM pending_name_changes WHERE user_id = $1", row.user_id).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(())
}

/// `POST retire_mailings/` (§5.7): every e-mail opt-in becomes "False".
pub async fn retire_mailings(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let row = working_row(&mut tx, site, body).await?;
    exec(&mut tx, "UPDATE org_tags SET value = 'False' WHERE user_id = $1 AND key = 'email-optin'", row.user_id)
        .await?;
    tx.commit().await.map_err(store_error)?;
    Ok(())
}

/// `POST retire/` (§5.6): the LMS erasure. Beyond edX, every profile field,
/// language, preference and stored mail of the learner goes too, so that no
/// personal value remains in the store (verified by the tests).
pub async fn retire(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let row = working_row(&mut tx, site, body).await?;
    let config = &site.config.retirement;
    let salt = config.salts.last().map(String::as_str).unwrap_or("");
    let new_username = if row.retired_username.is_empty() {
        retired_username(config, &row.original_username, salt)
    } else {
        row.retired_username.clone()
    };
    let new_email = if row.retired_email.is_empty() {
        retired_email(config, &row.user_email, salt)
    } else {
        row.retired_email.clone()
    };
    let id = row.user_id;
    sqlx::query(
        "UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4, is_active = 0, \
         password_hash = $5, tokens_revoked_at = $6 WHERE id = $7",
    )
    .bind(&new_username)
    .bind(username_key(&new_username))
    .bind(&new_email)
    .bind(email_key(&new_email))
    .bind(password::unusable())
    .bind(now_secs())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(store_error)?;
    exec(
        &mut tx,
        "UPDATE profiles SET name = '', meta = '', location = '', language = '', year_of_birth = NULL, gender = NULL, \
         mailing_address = NULL, city = NULL, country = NULL, bio = NULL, phone_number = NULL, goals = NULL, \
         state = NULL, level_of_education = NULL, profile_image_uploaded_at = NULL WHERE user_id = $1",
        id,
    )
    .await?;
    exec(&mut tx, "UPDATE pending_email_changes SET new_email = 'redacted@retired.invalid' WHERE user_id = $1", id)
        .await?;
    exec(
        &mut tx,
        "UPDATE pending_secondary_email_changes SET new_secondary_email = 'redact-before-delete@redacted.com' \
         WHERE user_id = $1",
        id,
    )
    .await?;
    sqlx::query("UPDATE account_recovery SET secondary_email = $1 WHERE user_id = $2")
        .bind(format!("redact-before-delete+{id}@redacted.com"))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    for table in [
        "social_links",
        "language_proficiencies",
        "preferences",
        "pending_email_changes",
        "pending_secondary_email_changes",
        "account_recovery",
        "pending_name_changes",
        "org_tags",
        "email_outbox",
    ] {
        exec(&mut tx, &format!("DELETE FROM {table} WHERE user_id = $1"), id).await?;
    }
    audit(&mut tx, &site.tenant, Some(id), None, "account_retired", None).await?;
    tx.commit().await.map_err(store_error)?;
    let store = FilesystemStore::for_site(site);
    let stem = image_stem(site, &row.original_username);
    for px in site.config.profile_image.sizes.values() {
        if let Err(e) = store.delete(&format!("{stem}_{px}.jpg")) {
            tracing::error!(error = %e, "cannot delete a retired learner's profile image");
        }
    }
    db.purge_wal().await;
    Ok(())
}

/// `PUT retirement_partner_report/` (§5.8): queue the learner for partner
/// reporting when it has orgs (snapshot ∪ current org tags).
pub async fn queue_partner_report(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let row = working_row(&mut tx, site, body).await?;
    let tags: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT org FROM org_tags WHERE user_id = $1")
        .bind(row.user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
    let orgs: BTreeSet<String> =
        row.orgs.iter().cloned().chain(tags.into_iter().map(|t| t.0)).filter(|o| !o.is_empty()).collect();
    if !orgs.is_empty() {
        let now = now_micros();
        sqlx::query(
            "INSERT INTO partner_reporting_status (user_id, original_username, original_email, original_name, orgs, \
             is_being_processed, created, modified) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(row.user_id)
        .bind(&row.original_username)
        .bind(&row.original_email)
        .bind(&row.original_name)
        .bind(Value::from(orgs.into_iter().collect::<Vec<_>>()).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)?;
    Ok(())
}

/// One partner-reporting row as the report endpoint hands it out.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub user_id: i64,
    pub original_username: String,
    pub original_email: String,
    pub original_name: String,
    pub orgs: Vec<String>,
    pub created: i64,
}

impl ReportRow {
    /// The row object of §5.9; orgs listed in the site's `orgs_config` move to `orgs_config`.
    pub fn to_json(&self, site: &Site) -> Value {
        let mut out = json!({
            "user_id": self.user_id,
            "original_username": self.original_username,
            "original_email": self.original_email,
            "original_name": self.original_name,
            "created": iso8601(self.created),
        });
        let configured: Vec<Value> = site
            .config
            .orgs_config
            .iter()
            .filter(|c| self.orgs.contains(&c.org))
            .map(|c| json!({"org": c.org, "field_headings": c.field_headings}))
            .collect();
        let plain: Vec<&String> =
            self.orgs.iter().filter(|o| !site.config.orgs_config.iter().any(|c| &c.org == *o)).collect();
        out["orgs"] = json!(plain);
        if !configured.is_empty() {
            out["orgs_config"] = Value::Array(configured);
        }
        out
    }
}

/// `POST retirement_partner_report/` (§5.9): hands out the rows not being
/// processed and marks exactly those. Concurrent calls never share a row
/// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one write transaction).
pub async fn fetch_partner_report(db: &Db, site: &Site) -> ApiResult<Vec<ReportRow>> {
    let mut tx = db.begin().await?;
    let lock = match db.backend() {
        crate::store::Backend::Postgres => " FOR UPDATE OF r SKIP LOCKED",
        crate::store::Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT r.id, r.user_id, r.original_username, r.original_email, r.original_name, r.orgs, r.created \
         FROM partner_reporting_status r JOIN users u ON u.id = r.user_id \
         WHERE u.tenant = $1 AND r.is_being_processed = 0 ORDER BY r.id{lock}"
    );
    let rows: Vec<(i64, i64, String, String, String, String, i64)> =
        sqlx::query_as(&sql).bind(&site.tenant).fetch_all(&mut *tx).await.map_err(store_error)?;
    for (id, ..) in &rows {
        sqlx::query("UPDATE partner_reporting_status SET is_being_processed = 1, modified = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)?;
    Ok(rows
        .into_iter()
        .map(|(_, user_id, original_username, original_email, original_name, orgs, created)| {
            let mut orgs: Vec<String> = serde_json::from_str(&orgs).unwrap_or_default();
            orgs.sort();
            ReportRow { user_id, original_username, original_email, original_name, orgs, created }
        })
        .collect())
}

/// `POST retirement_partner_report_cleanup/` (§5.10).
pub async fn partner_report_cleanup(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let no_names = || bad_request("No original_usernames given.");
    let names: Vec<String> = body
        .as_array()
        .ok_or_else(no_names)?
        .iter()
        .map(|e| e.get("original_username").map(py_str).ok_or_else(no_names))
        .collect::<ApiResult<_>>()?;
    if names.is_empty() {
        return Err(no_names());
    }
    let mut tx = db.begin().await?;
    let mut found: Vec<(i64, String)> = Vec::new();
    for name in &names {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT r.id, r.original_username FROM partner_reporting_status r JOIN users u ON u.id = r.user_id \
             WHERE u.tenant = $1 AND r.is_being_processed = 1 AND r.original_username = $2",
        )
        .bind(&site.tenant)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(row) = row {
            if !found.iter().any(|f| f.0 == row.0) {
                found.push(row);
            }
        }
    }
    if found.len() != names.len() {
        let given = py_repr(&Value::from(names.clone()));
        let found_names: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        return Err(bad_request(format!(
            "{} original_usernames given, {} found!\nGiven usernames:\n{given}\nFound UserRetirementReportingStatuses:\n{}",
            names.len(),
            found.len(),
            found_names.join(", ")
        )));
    }
    for (id, _) in &found {
        sqlx::query("DELETE FROM partner_reporting_status WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)?;
    db.purge_wal().await;
    Ok(())
}

/// `POST retirement_cleanup/` (§5.11): redact, then delete, COMPLETE rows.
pub async fn retirement_cleanup(db: &Db, site: &Site, body: &Value) -> ApiResult<()> {
    let usernames = body.get("usernames").ok_or_else(|| bad_request("Missing required parameter: 'usernames'"))?;
    let usernames: Vec<String> =
        usernames.as_array().ok_or_else(|| bad_request("Usernames should be an array."))?.iter().map(py_str).collect();
    let redacted = |key: &str| body.get(key).map(py_str).unwrap_or_else(|| "redacted".to_owned());
    let (r_user, r_email, r_name) =
        (redacted("redacted_username"), redacted("redacted_email"), redacted("redacted_name"));
    let mut tx = db.begin().await?;
    let mut ids = Vec::new();
    for name in &usernames {
        let row = status::by_original_username(&mut tx, &site.tenant, name).await?;
        match row {
            Some(row) if row.current.name == "COMPLETE" && !ids.contains(&row.id) => ids.push(row.id),
            _ => return Err(bad_request("Not all usernames exist in the COMPLETE state.")),
        }
    }
    for id in &ids {
        sqlx::query(
            "UPDATE retirement_status SET original_username = $1, original_email = $2, original_name = $3, \
             responses = '' WHERE id = $4",
        )
        .bind(&r_user)
        .bind(&r_email)
        .bind(&r_name)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query("DELETE FROM retirement_status WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)?;
    db.purge_wal().await;
    Ok(())
}

/// The cancel permission (§4): superusers, or staff granted `user_api.change_userretirementstatus`.
pub const CAN_CANCEL_RETIREMENT: &str = "user_api.change_userretirementstatus";

fn cancel_message(text: impl Into<String>) -> ApiError {
    ApiError::json(StatusCode::BAD_REQUEST, json!({ "message": text.into() }))
}

/// `POST cancel_retirement/` (§5.12): back to the original address with a
/// random usable password; status and request rows deleted.
pub async fn cancel(db: &Db, site: &Site, actor: &User, retirement_id: Option<&str>) -> ApiResult<()> {
    let raw = retirement_id.ok_or_else(|| cancel_message("retirement_id must be specified."))?;
    let id: i64 = raw.trim().parse().map_err(|_| cancel_message("Retirement does not exist!"))?;
    let mut tx = db.begin().await?;
    let sql = format!("{} WHERE u.tenant = $1 AND s.id = $2", status::SELECT_STATUS);
    let row: Option<StatusRow> =
        sqlx::query_as(&sql).bind(&site.tenant).bind(id).fetch_optional(&mut *tx).await.map_err(store_error)?;
    let row = row.ok_or_else(|| cancel_message("Retirement does not exist!"))?;
    if row.current.name != "PENDING" {
        return Err(cancel_message(format!(
            "Retirement requests can only be cancelled for users in the PENDING state. Current request state for '{}': {}",
            row.original_username, row.current.name
        )));
    }
    let random: String = {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        (0..25).map(|_| char::from(rng.sample(rand::distributions::Alphanumeric))).collect()
    };
    sqlx::query("UPDATE users SET email = $1, email_key = $2, password_hash = $3 WHERE id = $4")
        .bind(&row.original_email)
        .bind(email_key(&row.original_email))
        .bind(password::hash(&random))
        .bind(row.user_id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    exec(&mut tx, "DELETE FROM retirement_status WHERE user_id = $1", row.user_id).await?;
    exec(&mut tx, "DELETE FROM retirement_requests WHERE user_id = $1", row.user_id).await?;
    audit(&mut tx, &site.tenant, Some(row.user_id), Some(actor.id), "retirement_cancelled", None).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(())
}

/// §5.13: sets `is_being_processed` on the tenant's reporting rows (all, or
/// those of `usernames`); returns how many rows changed.
pub async fn reset_partner_processing(
    db: &Db,
    tenant: Option<&str>,
    usernames: &[String],
    processing: bool,
) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let tenant_filter = "($2 = '' OR user_id IN (SELECT id FROM users WHERE tenant = $2))";
    let mut updated = 0;
    if usernames.is_empty() {
        let sql = format!("UPDATE partner_reporting_status SET is_being_processed = $1 WHERE {tenant_filter}");
        updated += sqlx::query(&sql)
            .bind(i64::from(processing))
            .bind(tenant.unwrap_or(""))
            .execute(&mut *tx)
            .await?
            .rows_affected();
    } else {
        let sql = format!(
            "UPDATE partner_reporting_status SET is_being_processed = $1 WHERE {tenant_filter} AND original_username = $3"
        );
        for name in usernames {
            updated += sqlx::query(&sql)
                .bind(i64::from(processing))
                .bind(tenant.unwrap_or(""))
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
    }
    tx.commit().await?;
    Ok(updated)
}
