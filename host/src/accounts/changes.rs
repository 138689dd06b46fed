//! Writing account changes: the PATCH transaction (accounts.md §8.10), name
//! changes (§10) and e-mail confirmations (§9). Every function here is one
//! transaction: it commits whole or leaves the account as it was.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::patch::{AccountChanges, AddressFacts, Column, ColumnValue, EmailRequest, Lookups};
use super::store::{audit, AccountRecord, User};
use super::types::email_key;
use crate::clock::{iso8601, now_micros};
use crate::http::error::{ApiError, ApiResult};
use crate::mail::{self, Message};
use crate::preferences::store as preferences;
use crate::retirement::identifiers::is_email_retired;
use crate::sites::Site;
use crate::store::{Db, StoreError, StoreResult};

fn save_error(reason: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %reason, "saving account updates failed");
    ApiError::messages(StatusCode::BAD_REQUEST, format!("Error thrown when saving account updates: '{reason}'"), None)
}

/// Resolves the uniqueness facts of the addresses a PATCH body asks for.
pub async fn lookups(db: &Db, site: &Site, user: &User, body: &Map<String, Value>) -> StoreResult<Lookups> {
    let mut out = Lookups::default();
    if let Some(email) = body.get("email").and_then(Value::as_str) {
        out.email = address_facts(db, site, email, Some(user.id)).await?;
    }
    if let Some(email) = body.get("secondary_email").and_then(Value::as_str) {
        out.secondary_email = address_facts(db, site, email, Some(user.id)).await?;
    }
    Ok(out)
}

/// Who uses `address` in the tenant: as a primary address (or the retired
/// form of one), or as a recovery address of anyone but `exclude_user`.
pub async fn address_facts(
    db: &Db,
    site: &Site,
    address: &str,
    exclude_user: Option<i64>,
) -> StoreResult<AddressFacts> {
    let primary: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE tenant = $1 AND email_key = $2")
        .bind(&site.tenant)
        .bind(email_key(address))
        .fetch_optional(db.pool())
        .await?;
    let secondary: Option<(i64,)> = sqlx::query_as(
        "SELECT r.user_id FROM account_recovery r JOIN users u ON u.id = r.user_id \
         WHERE u.tenant = $1 AND lower(r.secondary_email) = $2 AND r.user_id <> $3",
    )
    .bind(&site.tenant)
    .bind(email_key(address))
    .bind(exclude_user.unwrap_or(0))
    .fetch_optional(db.pool())
    .await?;
    let retired = is_email_retired(db, &site.tenant, &site.config.retirement, address).await?;
    Ok(AddressFacts { taken_as_primary: primary.is_some() || retired, taken_as_secondary: secondary.is_some() })
}

/// Reads, changes and writes back the profile's `meta` object.
async fn update_meta(
    conn: &mut AnyConnection,
    user_id: i64,
    change: impl FnOnce(&mut Map<String, Value>),
) -> StoreResult<()> {
    let (meta,): (String,) =
        sqlx::query_as("SELECT meta FROM profiles WHERE user_id = $1").bind(user_id).fetch_one(&mut *conn).await?;
    let mut meta: Map<String, Value> = serde_json::from_str(&meta).unwrap_or_default();
    change(&mut meta);
    sqlx::query("UPDATE profiles SET meta = $1 WHERE user_id = $2")
        .bind(Value::Object(meta).to_string())
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn push_history(meta: &mut Map<String, Value>, key: &str, entry: Value) {
    let list = meta.entry(key.to_owned()).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        items.push(entry);
    }
}

async fn set_column(conn: &mut AnyConnection, user_id: i64, column: Column, value: &ColumnValue) -> StoreResult<()> {
    let sql = format!("UPDATE profiles SET {} = $1 WHERE user_id = $2", column.sql());
    let query = sqlx::query(&sql);
    let query = match value {
        ColumnValue::Text(v) => query.bind(v.clone()),
        ColumnValue::Int(v) => query.bind(*v),
    };
    query.bind(user_id).execute(&mut *conn).await?;
    Ok(())
}

/// Where mailed links point: `<scheme>://<site's first domain>`.
pub fn site_base_url(site: &Site, scheme: &str) -> String {
    format!("{scheme}://{}", site.config.domains.first().map(String::as_str).unwrap_or("localhost"))
}

fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Applies a validated PATCH (§8.10) as `actor` (the owner).
pub async fn apply_patch(
    db: &Db,
    site: &Site,
    record: &AccountRecord,
    changes: &AccountChanges,
    scheme: &str,
) -> ApiResult<()> {
    let user = &record.user;
    let mut tx = db.begin().await?;
    let mut changed: Vec<&str> = Vec::new();
    let mut columns = changes.columns.clone();
    if let Some(ColumnValue::Text(country)) = columns.get(&Column::Country) {
        if country.as_deref() != Some("US") {
            columns.insert(Column::State, ColumnValue::Text(None));
        }
    }
    for (column, value) in &columns {
        set_column(&mut tx, user.id, *column, value).await.map_err(save_error)?;
        changed.push(column.sql());
    }
    if let Some(codes) = &changes.languages {
        sqlx::query("DELETE FROM language_proficiencies WHERE user_id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| save_error(StoreError::from(e)))?;
        for code in codes {
            sqlx::query("INSERT INTO language_proficiencies (user_id, code) VALUES ($1, $2)")
                .bind(user.id)
                .bind(code)
                .execute(&mut *tx)
                .await
                .map_err(|e| save_error(StoreError::from(e)))?;
        }
        changed.push("language_proficiencies");
    }
    for (platform, link) in &changes.social_links {
        let result = match link {
            Some(link) => {
                sqlx::query(
                    "INSERT INTO social_links (user_id, platform, social_link) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, platform) DO UPDATE SET social_link = excluded.social_link",
                )
                .bind(user.id)
                .bind(platform)
                .bind(link)
                .execute(&mut *tx)
                .await
            }
            None => {
                sqlx::query("DELETE FROM social_links WHERE user_id = $1 AND platform = $2")
                    .bind(user.id)
                    .bind(platform)
                    .execute(&mut *tx)
                    .await
            }
        };
        result.map_err(|e| save_error(StoreError::from(e)))?;
    }
    if !changes.social_links.is_empty() {
        changed.push("social_links");
    }
    if let Some(privacy) = &changes.account_privacy {
        match privacy {
            Some(value) => preferences::upsert(&mut tx, user.id, "account_privacy", value).await,
            None => preferences::delete(&mut tx, user.id, "account_privacy").await,
        }
        .map_err(save_error)?;
        changed.push("account_privacy");
    }
    if let Some(old_name) = &changes.old_name {
        let reason = format!("Name change requested through account API by {}", user.username);
        let entry = json!([old_name, reason, iso8601(now_micros())]);
        update_meta(&mut tx, user.id, |meta| push_history(meta, "old_names", entry)).await.map_err(save_error)?;
    }
    if !changes.extended_profile.is_empty() {
        let values = changes.extended_profile.clone();
        update_meta(&mut tx, user.id, move |meta| meta.extend(values)).await.map_err(save_error)?;
        changed.push("extended_profile");
    }
    let base = site_base_url(site, scheme);
    if let Some(EmailRequest::Send(address)) = &changes.email {
        request_email_change(&mut tx, site, user, address, &base, false).await?;
        changed.push("email");
    }
    if let Some(EmailRequest::Send(address)) = &changes.secondary_email {
        request_email_change(&mut tx, site, user, address, &base, true).await?;
        changed.push("secondary_email");
    }
    for field in changed {
        audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "account_updated", Some(field)).await?;
    }
    tx.commit().await.map_err(|e| save_error(StoreError::from(e)))?;
    Ok(())
}

async fn request_email_change(
    conn: &mut AnyConnection,
    site: &Site,
    user: &User,
    address: &str,
    base: &str,
    secondary: bool,
) -> ApiResult<()> {
    let key = new_key();
    let (table, column, path) = if secondary {
        ("pending_secondary_email_changes", "new_secondary_email", "activate_secondary_email")
    } else {
        ("pending_email_changes", "new_email", "email_confirm")
    };
    let sql = format!(
        "INSERT INTO {table} (user_id, {column}, activation_key, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET {column} = excluded.{column}, \
         activation_key = excluded.activation_key, created = excluded.created"
    );
    sqlx::query(&sql)
        .bind(user.id)
        .bind(address)
        .bind(&key)
        .bind(now_micros())
        .execute(&mut *conn)
        .await
        .map_err(|e| save_error(StoreError::from(e)))?;
    let body = format!(
        "Someone asked to use {address} for the account {} on {}. To confirm, open {base}/{path}/{key}\n\
         If you did not ask for this, ignore this message.",
        user.username, site.config.platform_name
    );
    let subject = if secondary { "Confirm your recovery e-mail address" } else { "Confirm your new e-mail address" };
    let message = Message { user_id: Some(user.id), to: address, subject, body: &body };
    mail::send(conn, site, &message).await.map_err(|e| {
        tracing::error!(error = %e, "sending the e-mail confirmation failed");
        let msg = "Unable to send email activation link. Please try again later.";
        ApiError::messages(
            StatusCode::BAD_REQUEST,
            format!("Error thrown from do_email_change_request: '{msg}'"),
            Some(msg.into()),
        )
    })
}

/// Outcome of following a mailed confirmation link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    Done,
    InvalidKey,
    AddressTaken,
}

/// `/email_confirm/{key}` (§9): the new address replaces the old one.
pub async fn confirm_email_change(db: &Db, site: &Site, key: &str) -> ApiResult<Confirmation> {
    let mut tx = db.begin().await?;
    let pending: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT p.user_id, p.new_email, u.email FROM pending_email_changes p JOIN users u ON u.id = p.user_id \
         WHERE p.activation_key = $1 AND u.tenant = $2",
    )
    .bind(key)
    .bind(&site.tenant)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some((user_id, new_email, old_email)) = pending else {
        return Ok(Confirmation::InvalidKey);
    };
    let taken: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE tenant = $1 AND email_key = $2 AND id <> $3")
            .bind(&site.tenant)
            .bind(email_key(&new_email))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    if taken.is_some() {
        return Ok(Confirmation::AddressTaken);
    }
    let entry = json!([old_email, iso8601(now_micros())]);
    update_meta(&mut tx, user_id, |meta| push_history(meta, "old_emails", entry)).await?;
    match sqlx::query("UPDATE users SET email = $1, email_key = $2 WHERE id = $3")
        .bind(&new_email)
        .bind(email_key(&new_email))
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)
    {
        Err(StoreError::Unique(_)) => return Ok(Confirmation::AddressTaken),
        other => other?,
    };
    sqlx::query("DELETE FROM pending_email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    for to in [old_email.as_str(), new_email.as_str()] {
        let body = format!("The e-mail address of your {} account is now {new_email}.", site.config.platform_name);
        let message = Message { user_id: Some(user_id), to, subject: "Your e-mail address has changed", body: &body };
        mail::send(&mut tx, site, &message).await.map_err(ApiError::internal)?;
    }
    audit(&mut tx, &site.tenant, Some(user_id), Some(user_id), "email_confirmed", Some("email")).await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(Confirmation::Done)
}

/// `/activate_secondary_email/{key}` (§9): the recovery address becomes active.
pub async fn confirm_secondary_email(db: &Db, site: &Site, key: &str) -> ApiResult<Confirmation> {
    let mut tx = db.begin().await?;
    let pending: Option<(i64, String)> = sqlx::query_as(
        "SELECT p.user_id, p.new_secondary_email FROM pending_secondary_email_changes p \
         JOIN users u ON u.id = p.user_id WHERE p.activation_key = $1 AND u.tenant = $2",
    )
    .bind(key)
    .bind(&site.tenant)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some((user_id, address)) = pending else {
        return Ok(Confirmation::InvalidKey);
    };
    sqlx::query(
        "INSERT INTO account_recovery (user_id, secondary_email, is_active) VALUES ($1, $2, 1) \
         ON CONFLICT (user_id) DO UPDATE SET secondary_email = excluded.secondary_email, is_active = 1",
    )
    .bind(user_id)
    .bind(&address)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    sqlx::query(
        "UPDATE pending_secondary_email_changes SET new_secondary_email = 'redact-before-delete@redacted.com' \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    sqlx::query("DELETE FROM pending_secondary_email_changes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    audit(&mut tx, &site.tenant, Some(user_id), Some(user_id), "secondary_email_confirmed", Some("secondary_email"))
        .await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(Confirmation::Done)
}

/// Why a name-change request was refused (§10), in the `new_name` error shape.
fn new_name_error(message: &str) -> ApiError {
    ApiError::json(StatusCode::BAD_REQUEST, json!({ "new_name": [message] }))
}

/// `POST accounts/name_change/`: records a pending name change.
pub async fn request_name_change(db: &Db, site: &Site, record: &AccountRecord, body: &Value) -> ApiResult<()> {
    let name = match body.get("name") {
        None | Some(Value::Null) => return Err(new_name_error("This field may not be null.")),
        Some(v) => crate::pyrepr::py_str(v).trim().to_owned(),
    };
    if name.is_empty() {
        return Err(new_name_error("This field may not be blank."));
    }
    if name.contains('<') || name.contains('>') {
        return Err(new_name_error("Name cannot contain the following characters: < >"));
    }
    if name.contains("://") {
        return Err(new_name_error("Name cannot contain a URL"));
    }
    if name.chars().count() > 255 {
        return Err(new_name_error("Ensure this field has no more than 255 characters."));
    }
    if name == record.profile.name {
        return Err(ApiError::json(
            StatusCode::BAD_REQUEST,
            json!({"new_name": "The profile name given was identical to the current name."}),
        ));
    }
    let user = &record.user;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO pending_name_changes (user_id, new_name, rationale, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET new_name = excluded.new_name, rationale = excluded.rationale, \
         created = excluded.created",
    )
    .bind(user.id)
    .bind(&name)
    .bind(format!("Name change requested through account API by {}", user.username))
    .bind(now_micros())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "name_change_requested", Some("name")).await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(())
}

/// `POST accounts/name_change/{username}/confirm/` (staff): applies the pending change.
pub async fn confirm_name_change(db: &Db, site: &Site, actor: &User, target: &User) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let pending: Option<(String, String)> =
        sqlx::query_as("SELECT new_name, rationale FROM pending_name_changes WHERE user_id = $1")
            .bind(target.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    let Some((new_name, rationale)) = pending else {
        return Err(ApiError::not_found());
    };
    let (old_name,): (String,) = sqlx::query_as("SELECT name FROM profiles WHERE user_id = $1")
        .bind(target.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    let entry = json!([old_name, rationale, iso8601(now_micros())]);
    update_meta(&mut tx, target.id, |meta| push_history(meta, "old_names", entry)).await?;
    sqlx::query("UPDATE profiles SET name = $1 WHERE user_id = $2")
        .bind(&new_name)
        .bind(target.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    sqlx::query("DELETE FROM pending_name_changes WHERE user_id = $1")
        .bind(target.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    audit(&mut tx, &site.tenant, Some(target.id), Some(actor.id), "name_change_confirmed", Some("name")).await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(())
}
