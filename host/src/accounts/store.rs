//! SQL for users and profiles.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};

use super::types::{username_key, Email, Username};
use crate::clock::now_micros;
use crate::store::{flag, Db, StoreResult};

/// A stored user row.
#[derive(Debug, Clone)]
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
}

impl<'r> FromRow<'r, AnyRow> for User {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            tenant: row.try_get("tenant")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            is_active: flag(row, "is_active")?,
            is_staff: flag(row, "is_staff")?,
            is_superuser: flag(row, "is_superuser")?,
            date_joined: row.try_get("date_joined")?,
            last_login: row.try_get("last_login")?,
            tokens_revoked_at: row.try_get("tokens_revoked_at")?,
        })
    }
}

const USER_COLUMNS: &str = "id, tenant, username, email, password_hash, is_active, is_staff, is_superuser, \
                            date_joined, last_login, tokens_revoked_at";

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
pub async fn insert_user(conn: &mut AnyConnection, tenant: &str, new: &NewUser) -> StoreResult<i64> {
    let now = now_micros();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (tenant, username, username_key, email, email_key, password_hash, \
                            is_active, is_staff, is_superuser, date_joined) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(tenant)
    .bind(new.username.as_str())
    .bind(new.username.key())
    .bind(new.email.as_str())
    .bind(new.email.key())
    .bind(&new.password_hash)
    .bind(i64::from(new.is_active))
    .bind(i64::from(new.is_staff))
    .bind(i64::from(new.is_superuser))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO profiles (user_id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(&new.name)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// The user of `tenant` whose username is exactly `username`.
pub async fn find_by_username(db: &Db, tenant: &str, username: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = $1 AND username_key = $2 AND username = $3");
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(tenant)
        .bind(username_key(username))
        .bind(username)
        .fetch_optional(db.pool())
        .await?)
}

/// Users of `tenant` whose e-mail is one of `emails` (exact match).
pub async fn find_by_emails(db: &Db, tenant: &str, emails: &[String]) -> StoreResult<Vec<User>> {
    let mut found = Vec::new();
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = $1 AND email_key = $2 AND email = $3");
    for email in emails {
        let user = sqlx::query_as::<_, User>(&sql)
            .bind(tenant)
            .bind(super::types::email_key(email))
            .bind(email)
            .fetch_optional(db.pool())
            .await?;
        if let Some(u) = user {
            if !found.iter().any(|f: &User| f.id == u.id) {
                found.push(u);
            }
        }
    }
    found.sort_by_key(|u| u.id);
    Ok(found)
}

/// The profile's full name of a user.
pub async fn profile_name(db: &Db, user_id: i64) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT name FROM profiles WHERE user_id = $1").bind(user_id).fetch_optional(db.pool()).await?;
    Ok(row.map(|r| r.0))
}

/// Replaces a user's password hash.
pub async fn set_password_hash(db: &Db, user_id: i64, hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Records a successful password login.
pub async fn touch_last_login(db: &Db, user_id: i64) -> StoreResult<()> {
    sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Appends a row to the audit log. `old`/`new` must never carry PII values.
pub async fn audit(
    conn: &mut AnyConnection,
    tenant: &str,
    user_id: Option<i64>,
    actor: Option<i64>,
    action: &str,
    field: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant, user_id, actor_user_id, action, field, created) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant)
    .bind(user_id)
    .bind(actor)
    .bind(action)
    .bind(field)
    .bind(now_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The user with id `id` in `tenant`.
pub async fn find_by_id(db: &Db, tenant: &str, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = $1 AND id = $2");
    Ok(sqlx::query_as::<_, User>(&sql).bind(tenant).bind(id).fetch_optional(db.pool()).await?)
}

/// The profile's year of birth.
pub async fn year_of_birth(db: &Db, user_id: i64) -> StoreResult<Option<i64>> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT year_of_birth FROM profiles WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| r.0))
}

/// A stored profile row.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Profile {
    pub name: String,
    pub meta: String,
    pub city: Option<String>,
    pub year_of_birth: Option<i64>,
    pub gender: Option<String>,
    pub level_of_education: Option<String>,
    pub mailing_address: Option<String>,
    pub goals: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub bio: Option<String>,
    pub phone_number: Option<String>,
    pub profile_image_uploaded_at: Option<i64>,
}

/// Everything an account object is built from.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub user: User,
    pub profile: Profile,
    /// (platform, link), sorted by platform.
    pub social_links: Vec<(String, String)>,
    /// Language codes, sorted.
    pub languages: Vec<String>,
    /// `account_privacy` and `visibility.*` preferences.
    pub privacy_preferences: std::collections::HashMap<String, String>,
    pub pending_name_change: Option<String>,
    /// The confirmed, active recovery address.
    pub secondary_email: Option<String>,
}

/// Loads the profile and related rows of `user`.
pub async fn load_account(db: &Db, user: User) -> StoreResult<AccountRecord> {
    let pool = db.pool();
    let profile: Profile = sqlx::query_as(
        "SELECT name, meta, city, year_of_birth, gender, level_of_education, mailing_address, goals, country, \
                state, bio, phone_number, profile_image_uploaded_at FROM profiles WHERE user_id = $1",
    )
    .bind(user.id)
    .fetch_optional(pool)
    .await?
    .unwrap_or_default();
    let social_links =
        sqlx::query_as("SELECT platform, social_link FROM social_links WHERE user_id = $1 ORDER BY platform")
            .bind(user.id)
            .fetch_all(pool)
            .await?;
    let languages: Vec<(String,)> =
        sqlx::query_as("SELECT code FROM language_proficiencies WHERE user_id = $1 ORDER BY code")
            .bind(user.id)
            .fetch_all(pool)
            .await?;
    let privacy_preferences: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, value FROM preferences WHERE user_id = $1 AND (key = 'account_privacy' OR key LIKE 'visibility.%')",
    )
    .bind(user.id)
    .fetch_all(pool)
    .await?;
    let pending: Option<(String,)> = sqlx::query_as("SELECT new_name FROM pending_name_changes WHERE user_id = $1")
        .bind(user.id)
        .fetch_optional(pool)
        .await?;
    let secondary: Option<(String,)> =
        sqlx::query_as("SELECT secondary_email FROM account_recovery WHERE user_id = $1 AND is_active = 1")
            .bind(user.id)
            .fetch_optional(pool)
            .await?;
    Ok(AccountRecord {
        user,
        profile,
        social_links,
        languages: languages.into_iter().map(|l| l.0).collect(),
        privacy_preferences: privacy_preferences.into_iter().collect(),
        pending_name_change: pending.map(|p| p.0),
        secondary_email: secondary.map(|s| s.0),
    })
}

/// Users of `tenant` with any of `usernames` (exact), in id order.
pub async fn find_by_usernames(db: &Db, tenant: &str, usernames: &[&str]) -> StoreResult<Vec<User>> {
    let mut found = Vec::new();
    for name in usernames {
        if let Some(user) = find_by_username(db, tenant, name).await? {
            if !found.iter().any(|f: &User| f.id == user.id) {
                found.push(user);
            }
        }
    }
    found.sort_by_key(|u| u.id);
    Ok(found)
}

/// Grants `permission` to a user (idempotent).
pub async fn grant_permission(db: &Db, user_id: i64, permission: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(user_id)
        .bind(permission)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Records (or clears) the upload time of a user's profile image, with an audit row.
pub async fn set_profile_image_uploaded(db: &Db, tenant: &str, user_id: i64, at: Option<i64>) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE profiles SET profile_image_uploaded_at = $1 WHERE user_id = $2")
        .bind(at)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let action = if at.is_some() { "profile_image_uploaded" } else { "profile_image_removed" };
    audit(&mut tx, tenant, Some(user_id), Some(user_id), action, Some("profile_image")).await?;
    tx.commit().await?;
    Ok(())
}
