//! SQL for preferences and org tags. Reads of a user's preferences come
//! from the user record (`users::record`).

use crate::args;
use crate::clock::now_micros;
use crate::store::{Conn, StoreResult};

/// Sets a preference; returns whether anything changed (an equal value is skipped).
pub async fn upsert(c: &mut Conn, user_id: i64, key: &str, value: &str) -> StoreResult<bool> {
    let changed = c
        .execute(
            "INSERT INTO preferences (user_id, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value \
             WHERE preferences.value <> excluded.value",
            args![user_id, key, value],
        )
        .await?;
    c.touch(user_id);
    Ok(changed > 0)
}

/// Deletes a preference; returns whether it existed.
pub async fn delete(c: &mut Conn, user_id: i64, key: &str) -> StoreResult<bool> {
    let changed = c.execute("DELETE FROM preferences WHERE user_id = $1 AND key = $2", args![user_id, key]).await?;
    c.touch(user_id);
    Ok(changed > 0)
}

/// The org tag key trusted services record memberships under (the user
/// record loads these: `users::record`).
pub const MEMBERSHIP_KEY: &str = crate::users::record::MEMBERSHIP_KEY;

/// Sets the org tag `(user, org, key)`.
pub async fn upsert_org_tag(c: &mut Conn, user_id: i64, org: &str, key: &str, value: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO org_tags (user_id, org, key, value, created, modified) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (user_id, org, key) DO UPDATE SET value = excluded.value, modified = excluded.modified",
        args![user_id, org, key, value, now_micros()],
    )
    .await?;
    c.touch(user_id);
    Ok(())
}

/// Removes the org tag `(user, org, key)`.
pub async fn delete_org_tag(c: &mut Conn, user_id: i64, org: &str, key: &str) -> StoreResult<()> {
    c.execute("DELETE FROM org_tags WHERE user_id = $1 AND org = $2 AND key = $3", args![user_id, org, key]).await?;
    c.touch(user_id);
    Ok(())
}

/// Every org `user_id` has a tag for, sorted.
pub async fn orgs_of(c: &mut Conn, user_id: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        c.fetch_all("SELECT DISTINCT org FROM org_tags WHERE user_id = $1", args![user_id]).await?;
    let mut orgs: Vec<String> = rows.into_iter().map(|r| r.0).collect();
    orgs.sort();
    Ok(orgs)
}

/// Sets every tag `key` of `user_id` to `value`.
pub async fn set_all_org_tags(c: &mut Conn, user_id: i64, key: &str, value: &str) -> StoreResult<()> {
    c.execute("UPDATE org_tags SET value = $1 WHERE user_id = $2 AND key = $3", args![value, user_id, key]).await?;
    c.touch(user_id);
    Ok(())
}

/// Deletes every preference and org tag of `user_id`.
pub async fn erase(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM preferences WHERE user_id = $1", args![user_id]).await?;
    c.execute("DELETE FROM org_tags WHERE user_id = $1", args![user_id]).await?;
    c.touch(user_id);
    Ok(())
}
