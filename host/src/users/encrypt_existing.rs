//! `userapi keys encrypt-existing` (also run at start when needed): seals
//! the personal values of rows written before encryption and replaces the
//! lower-cased e-mail keys by blind indexes, in batches of users, each
//! batch one transaction, so it resumes where it stopped. A value already
//! sealed is left alone: a second run changes nothing.

use super::sealing::{self, col};
use crate::args;
use crate::crypto::cipher::INDEX_PREFIX;
use crate::crypto::vault::is_sealed;
use crate::crypto::LearnerKey;
use crate::store::{Conn, Db, StoreError, StoreResult};

/// What a run changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Converted {
    /// Users looked at.
    pub users: u64,
    /// Values sealed or indexes rebuilt.
    pub values: u64,
}

/// Every sealed column outside `users`, with its row key and name in the
/// associated data: (table, primary key, column, associated-data name).
const COLUMNS: [(&str, &str, &str, &str); 11] = [
    ("profiles", "user_id", "name", col::NAME),
    ("profiles", "user_id", "meta", col::META),
    ("social_links", "id", "social_link", col::SOCIAL_LINK),
    ("pending_email_changes", "user_id", "new_email", col::NEW_EMAIL),
    ("pending_secondary_email_changes", "user_id", "new_secondary_email", col::NEW_SECONDARY_EMAIL),
    ("pending_name_changes", "user_id", "new_name", col::NEW_NAME),
    ("pending_name_changes", "user_id", "rationale", col::RATIONALE),
    ("retirement_status", "id", "original_name", col::ORIGINAL_NAME),
    ("partner_reporting_status", "id", "original_email", col::REPORT_EMAIL),
    ("partner_reporting_status", "id", "original_name", col::REPORT_NAME),
    ("email_outbox", "id", "body", col::OUTBOX_BODY),
];

/// Whether some user has no learner key yet (rows from before encryption).
pub async fn needed(db: &Db) -> StoreResult<bool> {
    db.read(|c| {
        Box::pin(async move {
            let row: Option<(i64,)> =
                c.fetch_optional("SELECT id FROM users WHERE key_id IS NULL LIMIT 1", args![]).await?;
            Ok(row.is_some())
        })
    })
    .await
}

/// Converts every user, `batch` users per transaction; `progress` hears the
/// running totals after each batch.
pub async fn run(db: &Db, batch: i64, mut progress: impl FnMut(Converted)) -> StoreResult<Converted> {
    let mut total = Converted::default();
    let mut after = 0i64;
    loop {
        let (last, done) = db
            .write(move |c| {
                Box::pin(async move {
                    let ids: Vec<(i64,)> = c
                        .fetch_all("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2", args![after, batch])
                        .await?;
                    let mut done = Converted::default();
                    for (id,) in &ids {
                        done.users += 1;
                        done.values += user(c, *id).await?;
                    }
                    Ok::<_, StoreError>((ids.last().map(|r| r.0), done))
                })
            })
            .await?;
        let Some(last) = last else {
            // The clear values' old page images leave SQLite's WAL too.
            db.purge_wal().await;
            return Ok(total);
        };
        after = last;
        total.users += done.users;
        total.values += done.values;
        progress(total);
    }
}

/// Converts one user's rows; returns how many values changed.
async fn user(c: &mut Conn, id: i64) -> StoreResult<u64> {
    let Some(key) = sealing::key_of(c, id).await? else { return Ok(0) };
    let mut changed = 0;
    let (tenant, email, index): (String, String, String) =
        c.fetch_one("SELECT tenant, email, email_key FROM users WHERE id = $1", args![id]).await?;
    if !is_sealed(&email) || !index.starts_with(INDEX_PREFIX) {
        let plain = key.open(col::EMAIL, &email).map_err(StoreError::from)?;
        let index = sealing::email_index(c, &tenant, &plain)?;
        let sealed = if is_sealed(&email) { email } else { key.seal(col::EMAIL, &plain) };
        c.execute("UPDATE users SET email = $1, email_key = $2 WHERE id = $3", args![&sealed, &index, id]).await?;
        changed += 1;
    }
    for column in col::PROFILE {
        let sql = format!("SELECT user_id, CAST({column} AS TEXT) FROM profiles WHERE user_id = $1");
        changed += seal_rows(c, &key, id, &sql, "profiles", "user_id", column, &col::profile(column)).await?;
    }
    for (table, pk, column, ad) in COLUMNS {
        let sql = format!("SELECT {pk}, {column} FROM {table} WHERE user_id = $1");
        changed += seal_rows(c, &key, id, &sql, table, pk, column, ad).await?;
    }
    // Addresses with an index beside them.
    for (table, pk, column, index_column, ad) in [
        ("account_recovery", "user_id", "secondary_email", "secondary_email_key", col::SECONDARY_EMAIL),
        ("retirement_status", "id", "original_email", "original_email_key", col::ORIGINAL_EMAIL),
        ("email_outbox", "id", "to_address", "", col::OUTBOX_TO),
    ] {
        let index_select = if index_column.is_empty() { "''".to_owned() } else { index_column.to_owned() };
        let rows: Vec<(i64, String, String)> = c
            .fetch_all(&format!("SELECT {pk}, {column}, {index_select} FROM {table} WHERE user_id = $1"), args![id])
            .await?;
        for (row, value, index) in rows {
            let stale_index = !index_column.is_empty() && !index.starts_with(INDEX_PREFIX);
            if is_sealed(&value) && !stale_index {
                continue;
            }
            let plain = key.open(ad, &value).map_err(StoreError::from)?;
            let sealed = if is_sealed(&value) { value } else { key.seal(ad, &plain) };
            if index_column.is_empty() {
                c.execute(&format!("UPDATE {table} SET {column} = $1 WHERE {pk} = $2"), args![&sealed, row]).await?;
            } else {
                let index = sealing::email_index(c, &tenant, &plain)?;
                let sql = format!("UPDATE {table} SET {column} = $1, {index_column} = $2 WHERE {pk} = $3");
                c.execute(&sql, args![&sealed, &index, row]).await?;
            }
            changed += 1;
        }
    }
    if changed > 0 {
        c.touch(id);
    }
    Ok(changed)
}

/// Seals the values `select` returns as (row key, value) that are not sealed yet.
#[allow(clippy::too_many_arguments)]
async fn seal_rows(
    c: &mut Conn,
    key: &LearnerKey,
    user_id: i64,
    select: &str,
    table: &str,
    pk: &str,
    column: &str,
    ad: &str,
) -> StoreResult<u64> {
    let rows: Vec<(i64, Option<String>)> = c.fetch_all(select, args![user_id]).await?;
    let mut changed = 0;
    for (row, value) in rows {
        let Some(value) = value.filter(|v| !is_sealed(v)) else { continue };
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE {pk} = $2");
        c.execute(&sql, args![&key.seal(ad, &value), row]).await?;
        changed += 1;
    }
    Ok(changed)
}
