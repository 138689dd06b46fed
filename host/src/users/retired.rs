//! Retired usernames and e-mails (retirement.md §2): prefix + SHA-1 of
//! salt + lower-cased value, tried under every configured salt; and the
//! lookups other domains make against retirement rows.

use sha1::{Digest, Sha1};

use super::sealing;
use crate::args;
use crate::encoding::hex;
use crate::sites::config::RetirementConfig;
use crate::store::{Conn, StoreResult};

/// `h(value, salt)`: lower-case hex SHA-1 of `salt` followed by `lowercase(value)`.
pub fn hash(value: &str, salt: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(salt.as_bytes());
    hasher.update(value.to_lowercase().as_bytes());
    hex(&hasher.finalize())
}

/// The retired form of an e-mail address under `salt`.
pub fn retired_email(config: &RetirementConfig, email: &str, salt: &str) -> String {
    format!("{}{}@{}", config.email_prefix, hash(email, salt), config.email_domain)
}

/// The retired form of a username under `salt`.
pub fn retired_username(config: &RetirementConfig, username: &str, salt: &str) -> String {
    format!("{}{}", config.username_prefix, hash(username, salt))
}

/// Whether some account of `tenant` carries the retired form of `email` under any salt.
pub async fn is_email_retired(c: &mut Conn, tenant: &str, config: &RetirementConfig, email: &str) -> StoreResult<bool> {
    for salt in &config.salts {
        let retired = sealing::email_index(c, tenant, &retired_email(config, email, salt))?;
        let row: Option<(i64,)> = c
            .fetch_optional("SELECT id FROM users WHERE tenant = $1 AND email_key = $2", args![tenant, &retired])
            .await?;
        if row.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The newest retirement of `tenant` whose original address is `email`
/// (case-insensitively: compared by blind index), created at or after
/// `since` (µs): its id.
pub async fn recent_retirement_of_email(
    c: &mut Conn,
    tenant: &str,
    email: &str,
    since: i64,
) -> StoreResult<Option<i64>> {
    let index = sealing::email_index(c, tenant, email)?;
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT s.id FROM retirement_status s JOIN users u ON u.id = s.user_id \
             WHERE s.original_email_key = $2 AND u.tenant = $1 AND s.created >= $3 ORDER BY s.created DESC LIMIT 1",
            args![tenant, &index, since],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// Whether `username` is the original username of a retirement in `tenant`.
pub async fn is_original_username(c: &mut Conn, tenant: &str, username: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT s.id FROM retirement_status s JOIN users u ON u.id = s.user_id \
             WHERE s.original_username = $2 AND u.tenant = $1 LIMIT 1",
            args![tenant, username],
        )
        .await?;
    Ok(row.is_some())
}

/// Renames the original username the retirement rows of `tenant` remember.
pub async fn rename_original_username(c: &mut Conn, tenant: &str, current: &str, new: &str) -> StoreResult<()> {
    for table in ["retirement_status", "partner_reporting_status"] {
        c.execute(
            &format!(
                "UPDATE {table} SET original_username = $1 WHERE original_username = $2 \
                 AND user_id IN (SELECT id FROM users WHERE tenant = $3)"
            ),
            args![new, current, tenant],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_lower_case_values_after_the_salt() {
        let config = RetirementConfig::default();
        let expected = {
            let mut h = Sha1::new();
            h.update(b"123alice@example.com");
            hex(&h.finalize())
        };
        assert_eq!(hash("Alice@Example.com", "123"), expected);
        let retired = retired_email(&config, "alice@example.com", "123");
        assert_eq!(retired, format!("retired__user_{expected}@retired.invalid"));
        assert_eq!(retired_username(&config, "Alice", "abc"), retired_username(&config, "alice", "abc"));
        assert_eq!(hash("x", "s").len(), 40);
    }
}
