//! The vault: tenant keys from the keyring, learner keys from the key
//! store, unwrapped on demand and kept in memory until destroyed.

use std::sync::Arc;
use std::time::Duration;

use super::cipher::{column_ad, wrap_ad, Key, SEALED_PREFIX};
use super::keyring::{Kek, Keyring, TenantKeys};
use super::keystore::{KeyStore, StoredKey};
use super::CryptoError;

/// One learner's data key: every personal value of theirs is sealed with it.
pub struct LearnerKey {
    tenant: String,
    key_id: String,
    key: Key,
}

impl std::fmt::Debug for LearnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LearnerKey({}/{})", self.tenant, self.key_id)
    }
}

impl LearnerKey {
    /// The id the user row names this key by.
    pub fn id(&self) -> &str {
        &self.key_id
    }

    /// `value` sealed for `column` (a `table.column` name).
    pub fn seal(&self, column: &str, value: &str) -> String {
        let sealed = self.key.seal(&column_ad(&self.tenant, &self.key_id, column), value.as_bytes());
        format!("{SEALED_PREFIX}{sealed}")
    }

    /// The value a stored `column` holds: opened when sealed, as stored when
    /// it was written in clear (before encryption, or a redaction).
    pub fn open(&self, column: &str, stored: &str) -> Result<String, CryptoError> {
        match stored.strip_prefix(SEALED_PREFIX) {
            None => Ok(stored.to_owned()),
            Some(sealed) => {
                let plain = self.key.open(&column_ad(&self.tenant, &self.key_id, column), sealed)?;
                String::from_utf8(plain).map_err(|_| CryptoError::Corrupt)
            }
        }
    }
}

/// What reading a value whose learner key is gone yields: nothing.
pub fn open_without_key(stored: &str) -> String {
    if is_sealed(stored) {
        String::new()
    } else {
        stored.to_owned()
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// Tenant keys, the key store and the learner keys in memory.
pub struct Vault {
    keyring: Keyring,
    store: KeyStore,
    cache: moka::sync::Cache<String, Arc<LearnerKey>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({} tenants, {:?})", self.keyring.tenants.len(), self.store)
    }
}

impl Vault {
    /// A vault over `keyring`'s tenants and the keys in `store`.
    pub fn new(keyring: Keyring, store: KeyStore) -> Vault {
        Vault {
            keyring,
            store,
            cache: moka::sync::Cache::builder().max_capacity(200_000).time_to_idle(Duration::from_secs(600)).build(),
        }
    }

    /// The key store.
    pub fn store(&self) -> &KeyStore {
        &self.store
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// `tenant`'s keys.
    pub fn tenant(&self, tenant: &str) -> Result<&TenantKeys, CryptoError> {
        self.keyring.tenants.get(tenant).ok_or_else(|| CryptoError::NoTenantKey(tenant.to_owned()))
    }

    /// The blind index of an already normalised value of `tenant`.
    pub fn index(&self, tenant: &str, normalised: &str) -> Result<String, CryptoError> {
        Ok(self.tenant(tenant)?.index.blind_index(normalised))
    }

    /// A new learner key of `tenant`, wrapped and stored.
    pub async fn create(&self, tenant: &str) -> Result<Arc<LearnerKey>, CryptoError> {
        let kek = self.tenant(tenant)?.current();
        let key_id = uuid::Uuid::new_v4().simple().to_string();
        let key = Key::generate();
        let wrapped = kek.key.seal(&wrap_ad(tenant, &key_id, &kek.id), key.to_base64().as_bytes());
        let stored = StoredKey { key_id: key_id.clone(), tenant: tenant.to_owned(), kek_id: kek.id.clone(), wrapped };
        self.store.insert(&stored).await?;
        let learner = Arc::new(LearnerKey { tenant: tenant.to_owned(), key_id: key_id.clone(), key });
        self.cache.insert(key_id, Arc::clone(&learner));
        Ok(learner)
    }

    /// Learner key `key_id` of `tenant`; `None` once destroyed.
    pub async fn get(&self, tenant: &str, key_id: &str) -> Result<Option<Arc<LearnerKey>>, CryptoError> {
        if let Some(found) = self.cache.get(key_id) {
            if found.tenant == tenant {
                return Ok(Some(found));
            }
            return Err(CryptoError::Corrupt);
        }
        let Some(stored) = self.store.get(key_id).await? else {
            return Ok(None);
        };
        if stored.tenant != tenant {
            return Err(CryptoError::Corrupt);
        }
        let key = unwrap(self.tenant(tenant)?, &stored)?;
        let learner = Arc::new(LearnerKey { tenant: stored.tenant, key_id: stored.key_id, key });
        self.cache.insert(key_id.to_owned(), Arc::clone(&learner));
        Ok(Some(learner))
    }

    /// Destroys learner keys: from memory and from the key store.
    pub async fn destroy(&self, key_ids: &[String]) -> Result<(), CryptoError> {
        for id in key_ids {
            self.cache.invalidate(id);
        }
        self.store.destroy(key_ids).await
    }

    /// Re-wraps every learner key of `tenant` under its current KEK, in
    /// batches; returns how many were re-wrapped.
    pub async fn rewrap_all(&self, tenant: &str) -> Result<u64, CryptoError> {
        let keys = self.tenant(tenant)?;
        let current = keys.current();
        let mut done = 0u64;
        loop {
            let batch = self.store.wrapped_by_other(tenant, &current.id, 1000).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut rewrapped = Vec::with_capacity(batch.len());
            for stored in batch {
                let key = unwrap(keys, &stored)?;
                let wrapped =
                    current.key.seal(&wrap_ad(tenant, &stored.key_id, &current.id), key.to_base64().as_bytes());
                rewrapped.push(StoredKey { kek_id: current.id.clone(), wrapped, ..stored });
            }
            done += rewrapped.len() as u64;
            self.store.rewrap(rewrapped).await?;
        }
    }

    /// The values that prove which keys a tenant's data was written with:
    /// (current KEK id, a constant sealed under it, the blind index of a constant).
    pub fn check_values(&self, tenant: &str) -> Result<(String, String, String), CryptoError> {
        let keys = self.tenant(tenant)?;
        let kek = keys.current();
        Ok((kek.id.clone(), kek.key.seal(&check_ad(tenant, &kek.id), CHECK), keys.index.blind_index(INDEX_CHECK)))
    }

    /// Whether `tenant`'s keys are the ones that made the stored check values.
    pub fn verify(&self, tenant: &str, kek_id: &str, kek_check: &str, index_check: &str) -> Result<(), CryptoError> {
        let keys = self.tenant(tenant)?;
        let wrong = |what: &str| CryptoError::WrongKey { tenant: tenant.to_owned(), what: what.to_owned() };
        if keys.index.blind_index(INDEX_CHECK) != index_check {
            return Err(wrong("its index_key is not the one its e-mail index was built with"));
        }
        let kek: &Kek = keys.kek(kek_id).ok_or_else(|| wrong(&format!("it has no key-encryption key {kek_id:?}")))?;
        match kek.key.open(&check_ad(tenant, kek_id), kek_check) {
            Ok(plain) if plain == CHECK => Ok(()),
            _ => Err(wrong(&format!(
                "its key-encryption key {kek_id:?} is not the one its learner keys were wrapped with"
            ))),
        }
    }
}

const CHECK: &[u8] = b"userapi tenant key check";
const INDEX_CHECK: &str = "userapi tenant index check";

fn check_ad(tenant: &str, kek_id: &str) -> Vec<u8> {
    format!("userapi/v1/check\u{1f}{tenant}\u{1f}{kek_id}").into_bytes()
}

fn unwrap(keys: &TenantKeys, stored: &StoredKey) -> Result<Key, CryptoError> {
    let kek = keys.kek(&stored.kek_id).ok_or_else(|| CryptoError::WrongKey {
        tenant: stored.tenant.clone(),
        what: format!("learner keys are wrapped by key-encryption key {:?}, which the keyring lacks", stored.kek_id),
    })?;
    let plain = kek.key.open(&wrap_ad(&stored.tenant, &stored.key_id, &stored.kek_id), &stored.wrapped)?;
    Key::from_base64(std::str::from_utf8(&plain).map_err(|_| CryptoError::Corrupt)?)
}
