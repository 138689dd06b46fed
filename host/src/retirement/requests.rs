//! Creating a retirement request (retirement.md §1.2–1.3): the status row in
//! PENDING with the retired identifiers, and the permanent request marker;
//! and self-service deletion (accounts.md §11), which queues one.

use crate::accounts::deactivation;
use crate::args;
use crate::clock::now_micros;
use crate::mail::{self, Message};
use crate::preferences::service as preferences;
use crate::sites::Site;
use crate::store::{Conn, Db, StoreError};
use crate::users::retired::{retired_email, retired_username};
use crate::users::sealing::{self, col};
use crate::users::store::audit;
use crate::users::User;

/// Why a retirement request could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRetirementError {
    #[error("Default state does not exist! Populate retirement states to retire users.")]
    NoStates,
    #[error("User {0} already has a retirement status row!")]
    StatusExists(String),
    #[error("User {0} already has a retirement request row!")]
    RequestExists(String),
    #[error("the deletion notice could not be sent: {0}")]
    Mail(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The retired identifiers a new status row gets.
#[derive(Debug, Clone)]
pub struct RetiredIdentifiers {
    pub username: String,
    pub email: String,
}

/// Creates the status and request rows for `user` inside `c`'s transaction.
/// Returns the retired identifiers the account will carry.
pub async fn create(
    c: &mut Conn,
    site: &Site,
    user: &User,
    original_name: &str,
) -> Result<RetiredIdentifiers, CreateRetirementError> {
    let pending: Option<(i64,)> = c
        .fetch_optional(
            "SELECT id FROM retirement_states WHERE tenant = $1 ORDER BY state_execution_order LIMIT 1",
            args![&site.tenant],
        )
        .await?;
    let Some((pending_id,)) = pending else { return Err(CreateRetirementError::NoStates) };
    let exists: Option<(i64,)> =
        c.fetch_optional("SELECT id FROM retirement_status WHERE user_id = $1", args![user.id]).await?;
    if exists.is_some() {
        return Err(CreateRetirementError::StatusExists(user.username.clone()));
    }
    let request: Option<(i64,)> =
        c.fetch_optional("SELECT id FROM retirement_requests WHERE user_id = $1", args![user.id]).await?;
    if request.is_some() {
        return Err(CreateRetirementError::RequestExists(user.username.clone()));
    }
    let identifiers = retired_identifiers(c, site, user).await?;
    let orgs = serde_json::Value::from(preferences::orgs_of(c, user.id).await?).to_string();
    let now = now_micros();
    let email_index = sealing::email_index(c, &site.tenant, &user.email)?;
    let sealed_email = sealing::seal(c, user.id, col::ORIGINAL_EMAIL, &user.email).await?;
    let sealed_name = sealing::seal(c, user.id, col::ORIGINAL_NAME, original_name).await?;
    c.execute(
        "INSERT INTO retirement_status (user_id, original_username, original_email, original_name, retired_username, \
         retired_email, current_state_id, last_state_id, responses, orgs, created, modified, original_email_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $10, $11)",
        args![
            user.id,
            &user.username,
            &sealed_email,
            &sealed_name,
            &identifiers.username,
            &identifiers.email,
            pending_id,
            "Created in state PENDING (step 1) by create_retirement",
            &orgs,
            now,
            &email_index
        ],
    )
    .await?;
    c.execute("INSERT INTO retirement_requests (user_id, created, modified) VALUES ($1, $2, $2)", args![user.id, now])
        .await?;
    Ok(identifiers)
}

/// Retired identifiers under the current (last) salt, reusing those of an
/// earlier status row for the same original value (§2 reuse rule).
async fn retired_identifiers(c: &mut Conn, site: &Site, user: &User) -> Result<RetiredIdentifiers, StoreError> {
    let config = &site.config.retirement;
    let salt = config.salts.last().map(String::as_str).unwrap_or("");
    let reuse_username: Option<(String,)> = c
        .fetch_optional(
            "SELECT s.retired_username FROM retirement_status s JOIN users u ON u.id = s.user_id \
             WHERE s.original_username = $2 AND u.tenant = $1 ORDER BY s.modified DESC LIMIT 1",
            args![&site.tenant, &user.username],
        )
        .await?;
    let reuse_email: Option<(String,)> = c
        .fetch_optional(
            "SELECT s.retired_email FROM retirement_status s JOIN users u ON u.id = s.user_id \
             WHERE s.original_email_key = $2 AND u.tenant = $1 ORDER BY s.modified DESC LIMIT 1",
            args![&site.tenant, &sealing::email_index(c, &site.tenant, &user.email)?],
        )
        .await?;
    Ok(RetiredIdentifiers {
        username: reuse_username.map(|r| r.0).unwrap_or_else(|| retired_username(config, &user.username, salt)),
        email: reuse_email.map(|r| r.0).unwrap_or_else(|| retired_email(config, &user.email, salt)),
    })
}

/// Self-service deletion after the password check (accounts.md §11 step 4),
/// in one transaction: queue the retirement, strip the account (retired
/// e-mail, unusable password, tokens revoked, pending changes and recovery
/// address gone), and mail a notice to the original address.
pub async fn request_deletion(
    db: &Db,
    site: &std::sync::Arc<Site>,
    user: &User,
    name: &str,
) -> Result<(), CreateRetirementError> {
    let (site, user, name) = (std::sync::Arc::clone(site), user.clone(), name.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let retired = create(c, &site, &user, &name).await?;
            deactivation::strip_for_deletion(c, user.id, &retired.email).await?;
            let body = format!(
                "We received a request to delete your {} account. It has been deactivated and will be erased.",
                site.config.platform_name
            );
            let notice = Message {
                user_id: Some(user.id),
                to: &user.email,
                subject: "Your account is being deleted",
                body: &body,
            };
            mail::send(c, &site, &notice).await.map_err(|e| CreateRetirementError::Mail(e.to_string()))?;
            audit(c, &site.tenant, Some(user.id), Some(user.id), "account_deletion_requested", None).await?;
            Ok(())
        })
    })
    .await
}
