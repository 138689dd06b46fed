//! Retired usernames and e-mails (retirement.md §2): prefix + SHA-1 of
//! salt + lower-cased value, tried under every configured salt.

use sha1::{Digest, Sha1};

use crate::accounts::types::email_key;
use crate::auth::jwt::hex;
use crate::sites::config::RetirementConfig;
use crate::store::{Db, StoreResult};

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
pub async fn is_email_retired(db: &Db, tenant: &str, config: &RetirementConfig, email: &str) -> StoreResult<bool> {
    for salt in &config.salts {
        let retired = retired_email(config, email, salt);
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE tenant = $1 AND email_key = $2")
            .bind(tenant)
            .bind(email_key(&retired))
            .fetch_optional(db.pool())
            .await?;
        if row.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
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
