//! Personal values sealed under their learner's key (see [`crate::crypto`]),
//! and the keyed blind index that e-mail lookups use instead of the address.
//!
//! Every store function that writes a personal column seals it here, and
//! every read opens it here. A value written before encryption, or a
//! redaction, is stored in clear and read as it is.

use std::sync::Arc;

use super::types::email_key;
use crate::args;
use crate::crypto::vault::open_without_key;
use crate::crypto::{LearnerKey, Vault};
use crate::store::{Conn, Db, StoreError, StoreResult};

/// The columns that hold personal values, as their associated data names them.
pub mod col {
    pub const EMAIL: &str = "users.email";
    pub const NAME: &str = "profiles.name";
    pub const META: &str = "profiles.meta";
    pub const SOCIAL_LINK: &str = "social_links.social_link";
    pub const NEW_EMAIL: &str = "pending_email_changes.new_email";
    pub const NEW_SECONDARY_EMAIL: &str = "pending_secondary_email_changes.new_secondary_email";
    pub const SECONDARY_EMAIL: &str = "account_recovery.secondary_email";
    pub const NEW_NAME: &str = "pending_name_changes.new_name";
    pub const RATIONALE: &str = "pending_name_changes.rationale";
    pub const ORIGINAL_EMAIL: &str = "retirement_status.original_email";
    pub const ORIGINAL_NAME: &str = "retirement_status.original_name";
    pub const REPORT_EMAIL: &str = "partner_reporting_status.original_email";
    pub const REPORT_NAME: &str = "partner_reporting_status.original_name";
    pub const OUTBOX_TO: &str = "email_outbox.to_address";
    pub const OUTBOX_BODY: &str = "email_outbox.body";

    /// The sealed profile columns (the others hold choices: gender,
    /// education, country, state, language).
    pub const PROFILE: [&str; 6] = ["city", "year_of_birth", "mailing_address", "goals", "bio", "phone_number"];

    /// The associated-data name of profile column `column`.
    pub fn profile(column: &str) -> String {
        format!("profiles.{column}")
    }
}

/// `user_id`'s learner key, made (and recorded on the user row) when the
/// user has none yet; `None` once destroyed at retirement.
pub async fn key_of(c: &mut Conn, user_id: i64) -> StoreResult<Option<Arc<LearnerKey>>> {
    if let Some(known) = c.known_key(user_id) {
        return Ok(known);
    }
    let (tenant, key_id): (String, Option<String>) =
        c.fetch_one("SELECT tenant, key_id FROM users WHERE id = $1", args![user_id]).await?;
    let vault = c.vault()?;
    let key = match key_id {
        Some(id) => vault.get(&tenant, &id).await?,
        None => {
            let key = vault.create(&tenant).await?;
            // Another job may give the user a key at the same moment: only
            // the first one's stays (PostgreSQL re-checks after its lock).
            let set: Option<(i64,)> = c
                .fetch_optional(
                    "UPDATE users SET key_id = $1 WHERE id = $2 AND key_id IS NULL RETURNING id",
                    args![key.id(), user_id],
                )
                .await?;
            if set.is_some() {
                Some(key)
            } else {
                vault.destroy(&[key.id().to_owned()]).await?;
                let (winner,): (Option<String>,) =
                    c.fetch_one("SELECT key_id FROM users WHERE id = $1", args![user_id]).await?;
                key_named(c, &tenant, winner.as_deref()).await?
            }
        }
    };
    c.remember_key(user_id, key.clone());
    Ok(key)
}

/// The learner key a loaded row names (`None`: no key yet, or destroyed).
pub async fn key_named(c: &mut Conn, tenant: &str, key_id: Option<&str>) -> StoreResult<Option<Arc<LearnerKey>>> {
    match key_id {
        Some(id) => Ok(c.vault()?.get(tenant, id).await?),
        None => Ok(None),
    }
}

/// `value` sealed for `column` under `user_id`'s key. A user whose key is
/// gone (destroyed, or a key store restored from an older backup) gets no
/// new personal value: refused rather than written in clear.
pub async fn seal(c: &mut Conn, user_id: i64, column: &str, value: &str) -> StoreResult<String> {
    match key_of(c, user_id).await? {
        Some(key) => Ok(key.seal(column, value)),
        None if value.is_empty() => Ok(String::new()),
        None => Err(StoreError::Crypto(crate::crypto::CryptoError::KeyStore(format!(
            "user {user_id} has no learner key in the key store: nothing personal is written for them"
        )))),
    }
}

/// [`seal`] for a nullable column.
pub async fn seal_opt(c: &mut Conn, user_id: i64, column: &str, value: Option<&str>) -> StoreResult<Option<String>> {
    match value {
        Some(v) => Ok(Some(seal(c, user_id, column, v).await?)),
        None => Ok(None),
    }
}

/// The value a stored `column` holds (empty when sealed under a destroyed key).
pub fn open(key: Option<&LearnerKey>, column: &str, stored: &str) -> StoreResult<String> {
    match key {
        Some(key) => key.open(column, stored).map_err(StoreError::from),
        None => Ok(open_without_key(stored)),
    }
}

/// [`open`] for a nullable column.
pub fn open_opt(key: Option<&LearnerKey>, column: &str, stored: Option<&str>) -> StoreResult<Option<String>> {
    stored.map(|s| open(key, column, s)).transpose()
}

/// Opens a value of `user_id` read in this job.
pub async fn open_of(c: &mut Conn, user_id: i64, column: &str, stored: &str) -> StoreResult<String> {
    let key = key_of(c, user_id).await?;
    open(key.as_deref(), column, stored)
}

/// The blind index of an e-mail address of `tenant`: what `email_key`
/// columns hold and lookups compare (case-insensitive).
pub fn email_index(c: &Conn, tenant: &str, address: &str) -> StoreResult<String> {
    Ok(c.vault()?.index(tenant, &email_key(address))?)
}

/// The blind index of `user_id`'s tenant for an address.
pub async fn email_index_of(c: &mut Conn, user_id: i64, address: &str) -> StoreResult<String> {
    let (tenant,): (String,) = c.fetch_one("SELECT tenant FROM users WHERE id = $1", args![user_id]).await?;
    email_index(c, &tenant, address)
}

/// Queues, in the transaction that finishes a retirement, the learner keys
/// of `user_ids` that no retirement or partner-reporting row still needs
/// (their original name and address are read until reported). Their
/// records leave the cache. [`destroy_queued_keys`] destroys them after the
/// commit: from then on every copy of their values, in any backup, is
/// ciphertext without a key.
pub async fn queue_finished_keys(c: &mut Conn, user_ids: &[i64]) -> StoreResult<()> {
    for &id in user_ids {
        let row: Option<(Option<String>,)> = c
            .fetch_optional(
                "SELECT key_id FROM users WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM retirement_status WHERE user_id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM partner_reporting_status WHERE user_id = $1)",
                args![id],
            )
            .await?;
        if let Some((Some(key_id),)) = row {
            c.execute(
                "INSERT INTO keys_to_destroy (key_id, created) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING",
                args![&key_id, crate::clock::now_micros()],
            )
            .await?;
            c.touch(id);
        }
    }
    Ok(())
}

/// Destroys the queued learner keys in the key store, then unqueues them;
/// returns how many. Run after each retirement step that queues keys, at
/// start and by the periodic sweep, so a failure retries.
pub async fn destroy_queued_keys(db: &Db) -> StoreResult<u64> {
    let Some(vault) = db.vault() else { return Err(StoreError::NoVault) };
    let mut done = 0u64;
    loop {
        let queued: Vec<(String,)> = db
            .read(|c| {
                Box::pin(async move { c.fetch_all("SELECT key_id FROM keys_to_destroy LIMIT 500", args![]).await })
            })
            .await?;
        if queued.is_empty() {
            return Ok(done);
        }
        let key_ids: Vec<String> = queued.into_iter().map(|(k,)| k).collect();
        vault.destroy(&key_ids).await?;
        done += key_ids.len() as u64;
        db.write(move |c| {
            Box::pin(async move {
                for key_id in &key_ids {
                    c.execute("DELETE FROM keys_to_destroy WHERE key_id = $1", args![key_id]).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    }
}

/// Checks, at start, that each tenant's keys are the ones its data was
/// written with (recording them for a tenant seen for the first time), and
/// that the key store still holds keys for a tenant whose users have them.
pub async fn verify_keys(db: &Db) -> StoreResult<()> {
    let Some(vault) = db.vault() else { return Err(StoreError::NoVault) };
    verify_keys_of(db, &vault).await
}

/// [`verify_keys`] for a vault not yet lent to `db` (a reload's).
pub async fn verify_keys_of(db: &Db, vault: &Arc<Vault>) -> StoreResult<()> {
    for tenant in vault.keyring().tenants.keys() {
        let (t, v) = (tenant.clone(), vault.clone());
        let has_keys = db
            .write(move |c| {
                Box::pin(async move {
                    let row: Option<(String, String, String)> = c
                        .fetch_optional(
                            "SELECT kek_id, kek_check, index_check FROM tenant_key_checks WHERE tenant = $1",
                            args![&t],
                        )
                        .await?;
                    match row {
                        Some((kek_id, kek_check, index_check)) => v.verify(&t, &kek_id, &kek_check, &index_check)?,
                        None => {
                            let (kek_id, kek_check, index_check) = v.check_values(&t)?;
                            c.execute(
                                "INSERT INTO tenant_key_checks (tenant, kek_id, kek_check, index_check) \
                                 VALUES ($1, $2, $3, $4)",
                                args![&t, &kek_id, &kek_check, &index_check],
                            )
                            .await?;
                        }
                    }
                    let keyed: Option<(i64,)> = c
                        .fetch_optional(
                            "SELECT id FROM users WHERE tenant = $1 AND key_id IS NOT NULL LIMIT 1",
                            args![&t],
                        )
                        .await?;
                    Ok::<_, StoreError>(keyed.is_some())
                })
            })
            .await?;
        if has_keys && !vault.store().has_keys(tenant).await? {
            return Err(StoreError::Crypto(crate::crypto::CryptoError::KeyStore(format!(
                "it holds no learner key of tenant {tenant:?}, whose accounts were encrypted under keys kept in {}: \
                 restore it from its backup (without it that tenant's personal data cannot be read)",
                vault.store().location()
            ))));
        }
    }
    Ok(())
}

/// After a rotation: the check values under the tenant's new current KEK.
pub async fn record_key_checks(db: &Db, tenant: &str) -> StoreResult<()> {
    let Some(vault) = db.vault() else { return Err(StoreError::NoVault) };
    let (kek_id, kek_check, index_check) = vault.check_values(tenant)?;
    let t = tenant.to_owned();
    db.write(move |c| {
        Box::pin(async move {
            c.execute(
                "UPDATE tenant_key_checks SET kek_id = $2, kek_check = $3, index_check = $4 WHERE tenant = $1",
                args![&t, &kek_id, &kek_check, &index_check],
            )
            .await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
}
