//! Deactivation (accounts.md §11): the administrative deactivation, the
//! password check of self-service deletion, and what deletion does to the
//! account itself (the retirement domain queues the erasure around it).

use super::service::AccountError;
use super::store::{self, PendingAddress};
use crate::args;
use crate::auth::password::{self, Verified};
use crate::clock::now_secs;
use crate::sites::Site;
use crate::store::{Conn, Db, StoreResult};
use crate::users::store::{self as users, audit, User};

/// Failed password checks before the account is locked.
const MAX_FAILURES: i64 = 6;
/// How long a lock lasts, in seconds.
const LOCK_SECONDS: i64 = 30 * 60;

/// Makes `target`'s password unusable and revokes its tokens.
pub async fn deactivate(db: &Db, site: &Site, actor: &User, target: &User) -> Result<(), AccountError> {
    let (tenant, actor_id, target_id) = (site.tenant.clone(), actor.id, target.id);
    let unusable = password::unusable();
    db.write(move |c| {
        Box::pin(async move {
            users::lock_out(c, target_id, &unusable, now_secs()).await?;
            audit(c, &tenant, Some(target_id), Some(actor_id), "account_deactivated", None).await?;
            Ok(())
        })
    })
    .await
}

/// Checks the caller's password for self-service deletion, counting failures.
pub async fn check_password(db: &Db, user: &User, password_given: Option<&str>) -> Result<(), AccountError> {
    let user_id = user.id;
    let (locked_until,): (Option<i64>,) = db
        .read(move |c| {
            Box::pin(async move { c.fetch_one("SELECT locked_until FROM users WHERE id = $1", args![user_id]).await })
        })
        .await?;
    if locked_until.is_some_and(|until| until > now_secs()) {
        return Err(AccountError::Locked);
    }
    let Some(given) = password_given else {
        return Err(AccountError::PasswordMissing);
    };
    let verified = password::verify_off_thread(given.to_owned(), Some(user.password_hash.clone())).await;
    let failed = verified == Verified::No;
    db.write(move |c| {
        Box::pin(async move {
            if failed {
                c.execute(
                    "UPDATE users SET login_failures = login_failures + 1, \
                     locked_until = CASE WHEN login_failures + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
                    args![MAX_FAILURES, now_secs() + LOCK_SECONDS, user_id],
                )
                .await
            } else {
                c.execute("UPDATE users SET login_failures = 0, locked_until = NULL WHERE id = $1", args![user_id])
                    .await
            }
        })
    })
    .await?;
    if failed {
        Err(AccountError::PasswordWrong)
    } else {
        Ok(())
    }
}

/// What self-service deletion does to the account, inside the caller's
/// transaction: the e-mail becomes `retired_email`, the password unusable,
/// every token is revoked, and pending address changes and the recovery
/// address are dropped.
pub async fn strip_for_deletion(c: &mut Conn, user_id: i64, retired_email: &str) -> StoreResult<()> {
    users::set_email(c, user_id, retired_email).await?;
    users::lock_out(c, user_id, &password::unusable(), now_secs()).await?;
    store::drop_pending_address(c, user_id, PendingAddress::Primary).await?;
    store::drop_pending_address(c, user_id, PendingAddress::Secondary).await?;
    store::drop_recovery_address(c, user_id).await?;
    Ok(())
}

/// Retirement's erasure of the account (retirement.md §5.6), inside the
/// caller's transaction: the retired identifiers replace the originals, and
/// every profile value, link, language, pending change and recovery address
/// is overwritten, then deleted.
pub async fn erase(c: &mut Conn, user_id: i64, retired_username: &str, retired_email: &str) -> StoreResult<()> {
    users::retire_identity(c, user_id, retired_username, retired_email, &password::unusable(), now_secs()).await?;
    store::erase_profile(c, user_id).await
}

/// Drops the pending name change (retirement's `retire_misc`).
pub async fn forget_pending_name(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    store::drop_pending_name(c, user_id).await
}
