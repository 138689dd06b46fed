//! Username replacement (accounts.md §12): rename accounts and the
//! retirement rows that remember them, one transaction per mapping.

use rand::Rng;

use super::types::username_key;
use crate::sites::Site;
use crate::store::{Db, StoreError, StoreResult};

/// Length of the random suffix added to a taken name (edX `SOCIAL_AUTH_UUID_LENGTH` in the LMS).
const SUFFIX_LEN: usize = 10;

/// `<desired>` if free, else `<desired>-<suffix>` with a fresh random suffix.
pub async fn free_username(db: &Db, site: &Site, desired: &str) -> StoreResult<String> {
    let mut candidate = desired.to_owned();
    loop {
        let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE tenant = $1 AND username_key = $2")
            .bind(&site.tenant)
            .bind(username_key(&candidate))
            .fetch_optional(db.pool())
            .await?;
        if taken.is_none() {
            return Ok(candidate);
        }
        candidate = format!("{desired}-{}", suffix());
    }
}

/// `SUFFIX_LEN` characters alternating lower-case letter and digit, starting with either.
fn suffix() -> String {
    let mut rng = rand::thread_rng();
    let letter_first: bool = rng.gen();
    (0..SUFFIX_LEN)
        .map(|i| {
            if (i % 2 == 0) == letter_first {
                char::from(b'a' + rng.gen_range(0..26u8))
            } else {
                char::from(b'0' + rng.gen_range(0..10u8))
            }
        })
        .collect()
}

/// Renames `current` to `new` in accounts and retirement rows of the tenant.
pub async fn replace(db: &Db, site: &Site, current: &str, new: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let user: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE tenant = $1 AND username = $2")
        .bind(&site.tenant)
        .bind(current)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET username = $1, username_key = $2 WHERE tenant = $3 AND username = $4")
        .bind(new)
        .bind(username_key(new))
        .bind(&site.tenant)
        .bind(current)
        .execute(&mut *tx)
        .await?;
    for table in ["retirement_status", "partner_reporting_status"] {
        sqlx::query(&format!(
            "UPDATE {table} SET original_username = $1 WHERE original_username = $2 \
             AND user_id IN (SELECT id FROM users WHERE tenant = $3)"
        ))
        .bind(new)
        .bind(current)
        .bind(&site.tenant)
        .execute(&mut *tx)
        .await?;
    }
    if let Some((id,)) = user {
        super::store::audit(&mut tx, &site.tenant, Some(id), None, "username_replaced", Some("username")).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffix_alternates_letters_and_digits() {
        for _ in 0..20 {
            let s = super::suffix();
            assert_eq!(s.len(), 10);
            let kinds: Vec<bool> = s.chars().map(|c| c.is_ascii_lowercase()).collect();
            assert!(kinds.windows(2).all(|w| w[0] != w[1]), "{s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        }
    }
}
