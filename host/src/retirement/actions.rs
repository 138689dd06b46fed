//! The retirement actions (retirement.md §5.5–5.13): each one transaction,
//! each idempotent, so the driver can retry after a crash or a timeout.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::pipeline::body_username;
use super::status::{self, StatusRow};
use super::{bad_request, RetirementError};
use crate::accounts::deactivation;
use crate::accounts::profile_image::{image_stem, FilesystemStore, ImageStore};
use crate::args;
use crate::auth::password;
use crate::clock::{iso8601, now_micros};
use crate::mail;
use crate::preferences::service as preferences;
use crate::pyrepr::{py_repr, py_str};
use crate::sites::Site;
use crate::store::{Backend, Conn, Db, StoreError};
use crate::users::retired::{retired_email, retired_username};
use crate::users::sealing::{self, col};
use crate::users::store::{self as users, audit};

/// The row of an action body's username, which must be in a working state.
async fn working_row(c: &mut Conn, tenant: &str, username: &str) -> Result<StatusRow, RetirementError> {
    let row = status::by_original_username(c, tenant, username).await?.ok_or(RetirementError::NotFound)?;
    match row.working_state_error() {
        Some(message) => Err(bad_request(message)),
        None => Ok(row),
    }
}

/// Runs `action` on the working row of the body's username, in one write job.
async fn on_working_row<T, F>(db: &Db, site: &Arc<Site>, body: &Value, action: F) -> Result<T, RetirementError>
where
    F: for<'c> FnOnce(&'c mut Conn, Arc<Site>, StatusRow) -> crate::store::JobFuture<'c, Result<T, RetirementError>>
        + Send
        + 'static,
    T: Send + 'static,
{
    let username = body_username(body)?;
    let site = Arc::clone(site);
    db.write(move |c| {
        Box::pin(async move {
            let row = working_row(c, &site.tenant, &username).await?;
            action(c, site, row).await
        })
    })
    .await
}

/// `POST retire_misc/` (§5.5): pending name changes go.
pub async fn retire_misc(db: &Db, site: &Arc<Site>, body: &Value) -> Result<(), RetirementError> {
    on_working_row(db, site, body, |c, _, row| {
        Box::pin(async move { Ok(deactivation::forget_pending_name(c, row.user_id).await?) })
    })
    .await
}

/// `POST retire_mailings/` (§5.7): every e-mail opt-in becomes "False".
pub async fn retire_mailings(db: &Db, site: &Arc<Site>, body: &Value) -> Result<(), RetirementError> {
    on_working_row(db, site, body, |c, _, row| {
        Box::pin(async move { Ok(preferences::opt_out_everywhere(c, row.user_id).await?) })
    })
    .await
}

/// `POST retire/` (§5.6): the LMS erasure. Beyond edX, every profile field,
/// language, preference and stored mail of the learner goes too, so that no
/// personal value remains in the store (verified by the tests).
pub async fn retire(db: &Db, site: &Arc<Site>, body: &Value) -> Result<(), RetirementError> {
    let original_username = on_working_row(db, site, body, |c, site, row| {
        Box::pin(async move {
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
            deactivation::erase(c, id, &new_username, &new_email).await?;
            preferences::erase(c, id).await?;
            mail::erase(c, id).await?;
            audit(c, &site.tenant, Some(id), None, "account_retired", None).await?;
            Ok(row.original_username)
        })
    })
    .await?;
    let store = FilesystemStore::for_site(site);
    let stem = image_stem(site, &original_username);
    let sizes: Vec<u32> = site.config.profile_image.sizes.values().copied().collect();
    let deleted = tokio::task::spawn_blocking(move || {
        for px in sizes {
            if let Err(e) = store.delete(&format!("{stem}_{px}.jpg")) {
                tracing::error!(error = %e, "cannot delete a retired learner's profile image");
            }
        }
    })
    .await;
    if let Err(e) = deleted {
        tracing::error!(error = %e, "cannot delete a retired learner's profile images");
    }
    db.purge_wal().await;
    Ok(())
}

/// `PUT retirement_partner_report/` (§5.8): queue the learner for partner
/// reporting when it has orgs (snapshot ∪ current org tags).
pub async fn queue_partner_report(db: &Db, site: &Arc<Site>, body: &Value) -> Result<(), RetirementError> {
    on_working_row(db, site, body, |c, _, row| {
        Box::pin(async move {
            let tags = preferences::orgs_of(c, row.user_id).await?;
            let orgs: BTreeSet<String> = row.orgs.iter().cloned().chain(tags).filter(|o| !o.is_empty()).collect();
            if !orgs.is_empty() {
                let orgs = Value::from(orgs.into_iter().collect::<Vec<_>>()).to_string();
                let email = sealing::seal(c, row.user_id, col::REPORT_EMAIL, &row.original_email).await?;
                let name = sealing::seal(c, row.user_id, col::REPORT_NAME, &row.original_name).await?;
                c.execute(
                    "INSERT INTO partner_reporting_status (user_id, original_username, original_email, original_name, \
                     orgs, is_being_processed, created, modified) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
                     ON CONFLICT (user_id) DO NOTHING",
                    args![row.user_id, &row.original_username, &email, &name, &orgs, now_micros()],
                )
                .await?;
            }
            Ok(())
        })
    })
    .await
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
/// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer).
pub async fn fetch_partner_report(db: &Db, tenant: &str) -> Result<Vec<ReportRow>, StoreError> {
    let tenant = tenant.to_owned();
    db.write(move |c| {
        Box::pin(async move {
            let lock = match c.backend() {
                Backend::Postgres => " FOR UPDATE OF r SKIP LOCKED",
                Backend::Sqlite => "",
            };
            let sql = format!(
                "SELECT r.id, r.user_id, r.original_username, r.original_email, r.original_name, r.orgs, r.created \
                 FROM partner_reporting_status r JOIN users u ON u.id = r.user_id \
                 WHERE u.tenant = $1 AND r.is_being_processed = 0 ORDER BY r.id{lock}"
            );
            let rows: Vec<(i64, i64, String, String, String, String, i64)> = c.fetch_all(&sql, args![&tenant]).await?;
            let now = now_micros();
            for (id, ..) in &rows {
                c.execute(
                    "UPDATE partner_reporting_status SET is_being_processed = 1, modified = $1 WHERE id = $2",
                    args![now, *id],
                )
                .await?;
            }
            let mut report = Vec::with_capacity(rows.len());
            for (_, user_id, original_username, original_email, original_name, orgs, created) in rows {
                let mut orgs: Vec<String> = serde_json::from_str(&orgs).unwrap_or_default();
                orgs.sort();
                let original_email = sealing::open_of(c, user_id, col::REPORT_EMAIL, &original_email).await?;
                let original_name = sealing::open_of(c, user_id, col::REPORT_NAME, &original_name).await?;
                report.push(ReportRow { user_id, original_username, original_email, original_name, orgs, created });
            }
            Ok(report)
        })
    })
    .await
}

/// `POST retirement_partner_report_cleanup/` (§5.10).
pub async fn partner_report_cleanup(db: &Db, site: &Site, body: &Value) -> Result<(), RetirementError> {
    let no_names = || bad_request("No original_usernames given.");
    let names: Vec<String> = body
        .as_array()
        .ok_or_else(no_names)?
        .iter()
        .map(|e| e.get("original_username").map(py_str).ok_or_else(no_names))
        .collect::<Result<_, _>>()?;
    if names.is_empty() {
        return Err(no_names());
    }
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            let mut found: Vec<(i64, String, i64)> = Vec::new();
            for name in &names {
                let row: Option<(i64, String, i64)> = c
                    .fetch_optional(
                        "SELECT r.id, r.original_username, r.user_id FROM partner_reporting_status r \
                         JOIN users u ON u.id = r.user_id \
                         WHERE r.original_username = $2 AND u.tenant = $1 AND r.is_being_processed = 1",
                        args![&tenant, name],
                    )
                    .await?;
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
            for (id, ..) in &found {
                c.execute("DELETE FROM partner_reporting_status WHERE id = $1", args![*id]).await?;
            }
            let learners: Vec<i64> = found.into_iter().map(|f| f.2).collect();
            sealing::queue_finished_keys(c, &learners).await?;
            Ok(())
        })
    })
    .await?;
    db.purge_wal().await;
    destroy_queued_keys(db).await;
    Ok(())
}

/// Destroys the learner keys a committed step queued. The step is done
/// either way: a key that cannot be destroyed now stays queued, and the
/// next step, the next start or the periodic sweep destroys it.
async fn destroy_queued_keys(db: &Db) {
    if let Err(e) = sealing::destroy_queued_keys(db).await {
        tracing::error!(error = %e, "queued learner keys not destroyed yet: retried by the next sweep");
    }
}

/// `POST retirement_cleanup/` (§5.11): redact, then delete, COMPLETE rows.
pub async fn retirement_cleanup(db: &Db, site: &Site, body: &Value) -> Result<(), RetirementError> {
    let usernames = body.get("usernames").ok_or_else(|| bad_request("Missing required parameter: 'usernames'"))?;
    let usernames: Vec<String> =
        usernames.as_array().ok_or_else(|| bad_request("Usernames should be an array."))?.iter().map(py_str).collect();
    let redacted = |key: &str| body.get(key).map(py_str).unwrap_or_else(|| "redacted".to_owned());
    let (r_user, r_email, r_name) =
        (redacted("redacted_username"), redacted("redacted_email"), redacted("redacted_name"));
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            let (mut ids, mut learners) = (Vec::new(), Vec::new());
            for name in &usernames {
                match status::by_original_username(c, &tenant, name).await? {
                    Some(row) if row.current.name == "COMPLETE" && !ids.contains(&row.id) => {
                        ids.push(row.id);
                        learners.push(row.user_id);
                    }
                    _ => return Err(bad_request("Not all usernames exist in the COMPLETE state.")),
                }
            }
            for id in &ids {
                c.execute(
                    "UPDATE retirement_status SET original_username = $1, original_email = $2, original_name = $3, \
                     responses = '' WHERE id = $4",
                    args![&r_user, &r_email, &r_name, *id],
                )
                .await?;
                c.execute("DELETE FROM retirement_status WHERE id = $1", args![*id]).await?;
            }
            sealing::queue_finished_keys(c, &learners).await?;
            Ok(())
        })
    })
    .await?;
    db.purge_wal().await;
    destroy_queued_keys(db).await;
    Ok(())
}

/// The cancel permission (§4): superusers, or staff granted `user_api.change_userretirementstatus`.
pub const CAN_CANCEL_RETIREMENT: &str = "user_api.change_userretirementstatus";

fn cancel_message(text: impl Into<String>) -> RetirementError {
    RetirementError::Cancel(text.into())
}

/// `POST cancel_retirement/` (§5.12): back to the original address with a
/// random usable password; status and request rows deleted.
pub async fn cancel(db: &Db, site: &Site, actor_id: i64, retirement_id: Option<&str>) -> Result<(), RetirementError> {
    let raw = retirement_id.ok_or_else(|| cancel_message("retirement_id must be specified."))?;
    let id: i64 = raw.trim().parse().map_err(|_| cancel_message("Retirement does not exist!"))?;
    let random: String = {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        (0..25).map(|_| char::from(rng.sample(rand::distributions::Alphanumeric))).collect()
    };
    let hash = password::hash_off_thread(random).await;
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            let row = status::by_id(c, &tenant, id).await?.ok_or_else(|| cancel_message("Retirement does not exist!"))?;
            if row.current.name != "PENDING" {
                return Err(cancel_message(format!(
                    "Retirement requests can only be cancelled for users in the PENDING state. Current request state for '{}': {}",
                    row.original_username, row.current.name
                )));
            }
            users::set_email(c, row.user_id, &row.original_email).await?;
            users::set_password_hash(c, row.user_id, &hash).await?;
            c.execute("DELETE FROM retirement_status WHERE user_id = $1", args![row.user_id]).await?;
            c.execute("DELETE FROM retirement_requests WHERE user_id = $1", args![row.user_id]).await?;
            audit(c, &tenant, Some(row.user_id), Some(actor_id), "retirement_cancelled", None).await?;
            Ok(())
        })
    })
    .await
}

/// §5.13: sets `is_being_processed` on the tenant's reporting rows (all, or
/// those of `usernames`); returns how many rows changed.
pub async fn reset_partner_processing(
    db: &Db,
    tenant: Option<&str>,
    usernames: &[String],
    processing: bool,
) -> Result<u64, StoreError> {
    let (tenant, usernames) = (tenant.unwrap_or("").to_owned(), usernames.to_vec());
    db.write(move |c| {
        Box::pin(async move {
            let tenant_filter = "($2 = '' OR user_id IN (SELECT id FROM users WHERE tenant = $2))";
            let mut updated = 0;
            if usernames.is_empty() {
                let sql = format!("UPDATE partner_reporting_status SET is_being_processed = $1 WHERE {tenant_filter}");
                updated += c.execute(&sql, args![processing, &tenant]).await?;
            } else {
                let sql = format!(
                    "UPDATE partner_reporting_status SET is_being_processed = $1 WHERE {tenant_filter} \
                     AND original_username = $3"
                );
                for name in &usernames {
                    updated += c.execute(&sql, args![processing, &tenant, name]).await?;
                }
            }
            Ok(updated)
        })
    })
    .await
}
