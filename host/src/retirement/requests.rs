//! Creating a retirement request (retirement.md §1.2–1.3): the status row in
//! PENDING with the retired identifiers, and the permanent request marker.

use sqlx::AnyConnection;

use super::identifiers::{retired_email, retired_username};
use crate::accounts::store::User;
use crate::clock::now_micros;
use crate::sites::Site;
use crate::store::StoreError;

/// Why a retirement request could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRetirementError {
    #[error("Default state does not exist! Populate retirement states to retire users.")]
    NoStates,
    #[error("User {0} already has a retirement status row!")]
    StatusExists(String),
    #[error("User {0} already has a retirement request row!")]
    RequestExists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CreateRetirementError {
    fn from(e: sqlx::Error) -> Self {
        CreateRetirementError::Store(e.into())
    }
}

/// The retired identifiers a new status row gets.
#[derive(Debug, Clone)]
pub struct RetiredIdentifiers {
    pub username: String,
    pub email: String,
}

/// Creates the status and request rows for `user` inside `conn`'s transaction.
/// Returns the retired e-mail address the account now carries.
pub async fn create(
    conn: &mut AnyConnection,
    site: &Site,
    user: &User,
    original_name: &str,
) -> Result<RetiredIdentifiers, CreateRetirementError> {
    let pending: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM retirement_states WHERE tenant = $1 ORDER BY state_execution_order LIMIT 1")
            .bind(&site.tenant)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((pending_id,)) = pending else { return Err(CreateRetirementError::NoStates) };
    let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM retirement_status WHERE user_id = $1")
        .bind(user.id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(CreateRetirementError::StatusExists(user.username.clone()));
    }
    let request: Option<(i64,)> = sqlx::query_as("SELECT id FROM retirement_requests WHERE user_id = $1")
        .bind(user.id)
        .fetch_optional(&mut *conn)
        .await?;
    if request.is_some() {
        return Err(CreateRetirementError::RequestExists(user.username.clone()));
    }
    let identifiers = retired_identifiers(conn, site, user).await?;
    let orgs: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT org FROM org_tags WHERE user_id = $1 ORDER BY org")
        .bind(user.id)
        .fetch_all(&mut *conn)
        .await?;
    let orgs = serde_json::Value::from(orgs.into_iter().map(|o| o.0).collect::<Vec<_>>()).to_string();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO retirement_status (user_id, original_username, original_email, original_name, retired_username, \
         retired_email, current_state_id, last_state_id, responses, orgs, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $10)",
    )
    .bind(user.id)
    .bind(&user.username)
    .bind(&user.email)
    .bind(original_name)
    .bind(&identifiers.username)
    .bind(&identifiers.email)
    .bind(pending_id)
    .bind("Created in state PENDING (step 1) by create_retirement")
    .bind(orgs)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO retirement_requests (user_id, created, modified) VALUES ($1, $2, $2)")
        .bind(user.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(identifiers)
}

/// Retired identifiers under the current (last) salt, reusing those of an
/// earlier status row for the same original value (§2 reuse rule).
async fn retired_identifiers(
    conn: &mut AnyConnection,
    site: &Site,
    user: &User,
) -> Result<RetiredIdentifiers, CreateRetirementError> {
    let config = &site.config.retirement;
    let salt = config.salts.last().map(String::as_str).unwrap_or("");
    let reuse_username: Option<(String,)> = sqlx::query_as(
        "SELECT s.retired_username FROM retirement_status s JOIN users u ON u.id = s.user_id \
         WHERE u.tenant = $1 AND s.original_username = $2 ORDER BY s.modified DESC LIMIT 1",
    )
    .bind(&site.tenant)
    .bind(&user.username)
    .fetch_optional(&mut *conn)
    .await?;
    let reuse_email: Option<(String,)> = sqlx::query_as(
        "SELECT s.retired_email FROM retirement_status s JOIN users u ON u.id = s.user_id \
         WHERE u.tenant = $1 AND s.original_email = $2 ORDER BY s.modified DESC LIMIT 1",
    )
    .bind(&site.tenant)
    .bind(&user.email)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(RetiredIdentifiers {
        username: reuse_username.map(|r| r.0).unwrap_or_else(|| retired_username(config, &user.username, salt)),
        email: reuse_email.map(|r| r.0).unwrap_or_else(|| retired_email(config, &user.email, salt)),
    })
}
