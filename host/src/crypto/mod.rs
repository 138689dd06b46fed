//! Crypto-shredding: every personal value is sealed (XChaCha20-Poly1305)
//! under a data key of its own learner, bound to tenant, key and column;
//! learner keys are wrapped by a tenant key-encryption key from a keyring
//! (file or environment, never the database) and kept in a key store apart
//! from the data. Destroying a learner's key at retirement leaves every copy
//! of their values, in any backup or WAL, ciphertext without a key.
//! E-mail lookups use a keyed blind index (HMAC-SHA-256).
//!
//! A base module like `users`: it knows no domain.

pub mod cipher;
pub mod keyring;
pub mod keystore;
pub mod setup;
pub mod vault;

pub use keyring::{Keyring, TenantKeys};
pub use keystore::KeyStore;
pub use vault::{LearnerKey, Vault};

/// What can go wrong with keys.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("tenant {0:?} has no key: give it one in a keyring (see docs/keys.md)")]
    NoTenantKey(String),
    #[error("the key of tenant {tenant:?} is wrong: {what}")]
    WrongKey { tenant: String, what: String },
    #[error("keyring {origin}: {why}")]
    Keyring { origin: String, why: String },
    #[error("bad key: {0}")]
    BadKey(String),
    #[error("a sealed value or wrapped key does not open (tampered, or under another key)")]
    Corrupt,
    #[error("key store: {0}")]
    KeyStore(String),
}
