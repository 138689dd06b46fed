//! SQL for preferences and org tags.

use sqlx::AnyConnection;

use crate::clock::now_micros;
use crate::store::{Db, StoreResult};

/// Every preference of a user, in insertion order.
pub async fn all(db: &Db, user_id: i64) -> StoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as("SELECT key, value FROM preferences WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(db.pool())
        .await?)
}

/// One preference's value.
pub async fn get(db: &Db, user_id: i64, key: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM preferences WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.0))
}

/// Sets a preference; returns whether anything changed (an equal value is skipped).
pub async fn upsert(conn: &mut AnyConnection, user_id: i64, key: &str, value: &str) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO preferences (user_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value \
         WHERE preferences.value <> excluded.value",
    )
    .bind(user_id)
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a preference; returns whether it existed.
pub async fn delete(conn: &mut AnyConnection, user_id: i64, key: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM preferences WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The org tag key trusted services record memberships under.
pub const MEMBERSHIP_KEY: &str = "membership";

/// The orgs each of `reader` and `owner` belongs to, by name, in one query.
pub async fn org_memberships(db: &Db, reader: i64, owner: i64) -> StoreResult<(Vec<String>, Vec<String>)> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT user_id, org FROM org_tags WHERE user_id IN ($1, $2) AND key = $3 ORDER BY org")
            .bind(reader)
            .bind(owner)
            .bind(MEMBERSHIP_KEY)
            .fetch_all(db.pool())
            .await?;
    let of = |id: i64| rows.iter().filter(|(user, _)| *user == id).map(|(_, org)| org.clone()).collect();
    Ok((of(reader), of(owner)))
}

/// Sets the org tag `(user, org, key)`.
pub async fn upsert_org_tag(
    conn: &mut AnyConnection,
    user_id: i64,
    org: &str,
    key: &str,
    value: &str,
) -> StoreResult<()> {
    let now = now_micros();
    sqlx::query(
        "INSERT INTO org_tags (user_id, org, key, value, created, modified) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (user_id, org, key) DO UPDATE SET value = excluded.value, modified = excluded.modified",
    )
    .bind(user_id)
    .bind(org)
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The value of org tag `(user, org, key)`.
pub async fn org_tag(db: &Db, user_id: i64, org: &str, key: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM org_tags WHERE user_id = $1 AND org = $2 AND key = $3")
            .bind(user_id)
            .bind(org)
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|r| r.0))
}
