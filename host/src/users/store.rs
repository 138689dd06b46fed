//! SQL for the user row: creation, lookups, password and login facts,
//! permissions and the audit log.

use super::sealing::{self, col};
use super::types::{username_key, Email, Username};
use crate::args;
use crate::clock::now_micros;
use crate::store::{Column, Conn, FromRow, Row, StoreResult};

/// A stored user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub tenant: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: i64,
    pub last_login: Option<i64>,
    pub tokens_revoked_at: Option<i64>,
    /// The learner key the personal values are sealed with (`None`: none yet).
    pub key_id: Option<String>,
}

/// The columns [`User::read`] expects, in order, for a `users` table aliased `u`.
pub const USER_COLUMNS: &str = "u.id, u.tenant, u.username, u.email, u.password_hash, u.is_active, u.is_staff, \
                                u.is_superuser, u.date_joined, u.last_login, u.tokens_revoked_at, u.key_id";

/// How many columns [`USER_COLUMNS`] holds.
pub const USER_COLUMN_COUNT: usize = 12;

impl User {
    /// Reads the user from [`USER_COLUMNS`] starting at column `at`.
    pub fn read(row: &dyn Row, at: usize) -> StoreResult<User> {
        Ok(User {
            id: Column::read(row, at)?,
            tenant: Column::read(row, at + 1)?,
            username: Column::read(row, at + 2)?,
            email: Column::read(row, at + 3)?,
            password_hash: Column::read(row, at + 4)?,
            is_active: Column::read(row, at + 5)?,
            is_staff: Column::read(row, at + 6)?,
            is_superuser: Column::read(row, at + 7)?,
            date_joined: Column::read(row, at + 8)?,
            last_login: Column::read(row, at + 9)?,
            tokens_revoked_at: Column::read(row, at + 10)?,
            key_id: Column::read(row, at + 11)?,
        })
    }

    /// Opens the sealed e-mail address read from the row.
    pub async fn open(mut self, c: &mut Conn) -> StoreResult<User> {
        let key = sealing::key_named(c, &self.tenant, self.key_id.as_deref()).await?;
        self.email = sealing::open(key.as_deref(), col::EMAIL, &self.email)?;
        Ok(self)
    }
}

impl FromRow for User {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        User::read(row, 0)
    }
}

/// What creating an account needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

/// Inserts a user and its profile; returns the new id. A duplicate username or
/// e-mail in the tenant fails with [`crate::store::StoreError::Unique`].
pub async fn insert_user(c: &mut Conn, tenant: &str, new: &NewUser) -> StoreResult<i64> {
    let index = sealing::email_index(c, tenant, new.email.as_str())?;
    let key = c.vault()?.create(tenant).await?;
    let (id,): (i64,) = c
        .fetch_one(
            "INSERT INTO users (tenant, username, username_key, email, email_key, password_hash, \
                                is_active, is_staff, is_superuser, date_joined, key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            args![
                tenant,
                new.username.as_str(),
                &new.username.key(),
                &key.seal(col::EMAIL, new.email.as_str()),
                &index,
                &new.password_hash,
                new.is_active,
                new.is_staff,
                new.is_superuser,
                now_micros(),
                key.id()
            ],
        )
        .await?;
    c.execute("INSERT INTO profiles (user_id, name) VALUES ($1, $2)", args![id, &key.seal(col::NAME, &new.name)])
        .await?;
    c.remember_key(id, Some(key));
    Ok(id)
}

/// The user of `tenant` whose username is exactly `username`.
pub async fn find_by_username(c: &mut Conn, tenant: &str, username: &str) -> StoreResult<Option<User>> {
    let sql = select_users("WHERE u.tenant = $1 AND u.username_key = $2 AND u.username = $3");
    match c.fetch_optional::<User>(&sql, args![tenant, &username_key(username), username]).await? {
        Some(user) => Ok(Some(user.open(c).await?)),
        None => Ok(None),
    }
}

/// Users of `tenant` whose e-mail is one of `emails` (exact match), in id order.
pub async fn find_by_emails(c: &mut Conn, tenant: &str, emails: &[String]) -> StoreResult<Vec<User>> {
    let sql = select_users("WHERE u.tenant = $1 AND u.email_key = $2");
    let mut found: Vec<User> = Vec::new();
    for email in emails {
        let index = sealing::email_index(c, tenant, email)?;
        if let Some(user) = c.fetch_optional::<User>(&sql, args![tenant, &index]).await? {
            let user = user.open(c).await?;
            if user.email == *email && !found.iter().any(|f| f.id == user.id) {
                found.push(user);
            }
        }
    }
    found.sort_by_key(|u| u.id);
    Ok(found)
}

fn select_users(filter: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users u {filter}")
}

/// The id of the account of `tenant` whose username key is `key`, if any.
pub async fn id_by_username_key(c: &mut Conn, tenant: &str, key: &str) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> =
        c.fetch_optional("SELECT id FROM users WHERE tenant = $1 AND username_key = $2", args![tenant, key]).await?;
    Ok(row.map(|r| r.0))
}

/// The id of the account of `tenant` that Open edX knows as user `lms_user_id`:
/// the account imported from that LMS user (`userapi import openedx`), or
/// else the account made here with that id.
pub async fn id_by_lms_user_id(c: &mut Conn, tenant: &str, lms_user_id: i64) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT id FROM users WHERE tenant = $1 AND (lms_user_id = $2 OR (lms_user_id IS NULL AND id = $2)) \
             ORDER BY lms_user_id IS NULL LIMIT 1",
            args![tenant, lms_user_id],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// The id of the account of `tenant` whose primary address is `address`
/// (case-insensitively), other than `except`.
pub async fn id_by_email_key(
    c: &mut Conn,
    tenant: &str,
    address: &str,
    except: Option<i64>,
) -> StoreResult<Option<i64>> {
    let index = sealing::email_index(c, tenant, address)?;
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT id FROM users WHERE tenant = $1 AND email_key = $2 AND id <> $3",
            args![tenant, &index, except.unwrap_or(0)],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// The profile's full name of a user.
pub async fn profile_name(c: &mut Conn, user_id: i64) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        c.fetch_optional("SELECT name FROM profiles WHERE user_id = $1", args![user_id]).await?;
    match row {
        Some((name,)) => Ok(Some(sealing::open_of(c, user_id, col::NAME, &name).await?)),
        None => Ok(None),
    }
}

/// Replaces a user's password hash.
pub async fn set_password_hash(c: &mut Conn, user_id: i64, hash: &str) -> StoreResult<()> {
    c.execute("UPDATE users SET password_hash = $1 WHERE id = $2", args![hash, user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Records a successful password login.
pub async fn touch_last_login(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    c.execute("UPDATE users SET last_login = $1 WHERE id = $2", args![now_micros(), user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Makes the password unusable and refuses every token issued until now.
pub async fn lock_out(c: &mut Conn, user_id: i64, unusable_hash: &str, now_secs: i64) -> StoreResult<()> {
    c.execute(
        "UPDATE users SET password_hash = $1, tokens_revoked_at = $2 WHERE id = $3",
        args![unusable_hash, now_secs, user_id],
    )
    .await?;
    end_sessions(c, user_id).await?;
    c.touch(user_id);
    Ok(())
}

/// Ends every browser session of a user (deactivation, retirement, a new password).
pub async fn end_sessions(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM sessions WHERE user_id = $1", args![user_id]).await?;
    Ok(())
}

/// Renames a user.
pub async fn rename(c: &mut Conn, user_id: i64, username: &str) -> StoreResult<()> {
    c.execute(
        "UPDATE users SET username = $1, username_key = $2 WHERE id = $3",
        args![username, &username_key(username), user_id],
    )
    .await?;
    c.touch(user_id);
    Ok(())
}

/// Replaces the primary address.
pub async fn set_email(c: &mut Conn, user_id: i64, email: &str) -> StoreResult<()> {
    let index = sealing::email_index_of(c, user_id, email).await?;
    let sealed = sealing::seal(c, user_id, col::EMAIL, email).await?;
    c.execute("UPDATE users SET email = $1, email_key = $2 WHERE id = $3", args![&sealed, &index, user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Gives a retired account its retired identifiers: inactive, unusable
/// password, every token refused. The retired address is a hash, not
/// personal data: it stays in clear, so it outlives the learner key.
pub async fn retire_identity(
    c: &mut Conn,
    user_id: i64,
    username: &str,
    email: &str,
    unusable_hash: &str,
    now_secs: i64,
) -> StoreResult<()> {
    let index = sealing::email_index_of(c, user_id, email).await?;
    c.execute(
        "UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4, is_active = 0, \
         password_hash = $5, tokens_revoked_at = $6 WHERE id = $7",
        args![username, &username_key(username), email, &index, unusable_hash, now_secs, user_id],
    )
    .await?;
    end_sessions(c, user_id).await?;
    c.touch(user_id);
    Ok(())
}

/// Whether `user_id` was granted `permission` (superusers are not asked here).
pub async fn has_permission(c: &mut Conn, user_id: i64, permission: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT user_id FROM user_permissions WHERE user_id = $1 AND permission = $2",
            args![user_id, permission],
        )
        .await?;
    Ok(row.is_some())
}

/// Grants `permission` to a user (idempotent).
pub async fn grant_permission(c: &mut Conn, user_id: i64, permission: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![user_id, permission],
    )
    .await?;
    Ok(())
}

/// Appends a row to the audit log. It never carries PII values.
pub async fn audit(
    c: &mut Conn,
    tenant: &str,
    user_id: Option<i64>,
    actor: Option<i64>,
    action: &str,
    field: Option<&str>,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_log (tenant, user_id, actor_user_id, action, field, created) VALUES ($1, $2, $3, $4, $5, $6)",
        args![tenant, user_id, actor, action, field, now_micros()],
    )
    .await?;
    Ok(())
}
