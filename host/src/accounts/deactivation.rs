//! Deactivation (accounts.md §11): the administrative deactivation and the
//! self-service "delete my account", which queues the retirement.

use axum::http::StatusCode;

use super::store::{self, audit, User};
use super::types::email_key;
use crate::auth::password;
use crate::clock::{now_micros, now_secs};
use crate::http::error::{ApiError, ApiResult};
use crate::mail::{self, Message};
use crate::retirement::requests;
use crate::sites::Site;
use crate::store::{Db, StoreError};

/// The permission that allows deactivating other users (edX `student.can_deactivate_users`).
pub const CAN_DEACTIVATE_USERS: &str = "student.can_deactivate_users";

/// Failed password checks before the account is locked.
const MAX_FAILURES: i64 = 6;
/// How long a lock lasts, in seconds.
const LOCK_SECONDS: i64 = 30 * 60;

/// Whether `user` holds `permission` (superusers hold every permission).
pub async fn has_permission(db: &Db, user: &User, permission: &str) -> ApiResult<bool> {
    if user.is_superuser {
        return Ok(true);
    }
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM user_permissions WHERE user_id = $1 AND permission = $2")
            .bind(user.id)
            .bind(permission)
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::from)?;
    Ok(row.is_some())
}

/// Makes `target`'s password unusable and revokes its tokens.
pub async fn deactivate(db: &Db, site: &Site, actor: &User, target: &User) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1, tokens_revoked_at = $2 WHERE id = $3")
        .bind(password::unusable())
        .bind(now_secs())
        .bind(target.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    audit(&mut tx, &site.tenant, Some(target.id), Some(actor.id), "account_deactivated", None).await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(())
}

fn json_string(status: StatusCode, text: &str) -> ApiError {
    ApiError::json_string(status, text)
}

/// Checks the caller's password for self-service deletion, counting failures.
pub async fn check_password(db: &Db, user: &User, password_given: Option<&str>) -> ApiResult<()> {
    let locked: Option<(Option<i64>,)> = sqlx::query_as("SELECT locked_until FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_optional(db.pool())
        .await
        .map_err(StoreError::from)?;
    if locked.and_then(|l| l.0).is_some_and(|until| until > now_secs()) {
        return Err(json_string(
            StatusCode::FORBIDDEN,
            "This account has been temporarily locked due to excessive login failures. Try again later.",
        ));
    }
    let Some(given) = password_given else {
        return Err(json_string(StatusCode::BAD_REQUEST, "Could not verify user password: 'password'"));
    };
    if password::verify(given, &user.password_hash) == password::Verified::No {
        sqlx::query(
            "UPDATE users SET login_failures = login_failures + 1, \
             locked_until = CASE WHEN login_failures + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
        )
        .bind(MAX_FAILURES)
        .bind(now_secs() + LOCK_SECONDS)
        .bind(user.id)
        .execute(db.pool())
        .await
        .map_err(StoreError::from)?;
        return Err(json_string(StatusCode::FORBIDDEN, "Email or password is incorrect."));
    }
    sqlx::query("UPDATE users SET login_failures = 0, locked_until = NULL WHERE id = $1")
        .bind(user.id)
        .execute(db.pool())
        .await
        .map_err(StoreError::from)?;
    Ok(())
}

/// Self-service deletion after the password check (§11 step 4), in one
/// transaction: queue the retirement, replace the e-mail with its retired
/// form, make the password unusable, revoke tokens, drop pending changes and
/// the recovery address, and mail a notice to the original address.
pub async fn deactivate_and_queue_retirement(db: &Db, site: &Site, user: &User) -> ApiResult<()> {
    let name = store::profile_name(db, user.id).await?.unwrap_or_default();
    let mut tx = db.begin().await?;
    let retired = requests::create(&mut tx, site, user, &name).await.map_err(|e| {
        tracing::error!(error = %e, "cannot create the retirement request");
        json_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
    })?;
    sqlx::query(
        "UPDATE users SET email = $1, email_key = $2, password_hash = $3, tokens_revoked_at = $4 WHERE id = $5",
    )
    .bind(&retired.email)
    .bind(email_key(&retired.email))
    .bind(password::unusable())
    .bind(now_secs())
    .bind(user.id)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    for table in ["pending_email_changes", "pending_secondary_email_changes"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    }
    sqlx::query("UPDATE account_recovery SET secondary_email = $1 WHERE user_id = $2")
        .bind(format!("redacted-{}", now_micros()))
        .bind(user.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    sqlx::query("DELETE FROM account_recovery WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    let body = format!(
        "We received a request to delete your {} account. It has been deactivated and will be erased.",
        site.config.platform_name
    );
    let notice =
        Message { user_id: Some(user.id), to: &user.email, subject: "Your account is being deleted", body: &body };
    mail::send(&mut tx, site, &notice)
        .await
        .map_err(|e| json_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "account_deletion_requested", None).await?;
    tx.commit().await.map_err(|e| ApiError::internal(StoreError::from(e)))?;
    Ok(())
}
