//! Opening the vault at start: each tenant's keys from where its sites say
//! (a keyring file or an environment variable), else from the default
//! keyring; the key store beside the database unless one is named.
//!
//! With an SQLite file and no keyring anywhere, a default keyring is made
//! beside the database on first start, so the embedded default needs no
//! set-up. With PostgreSQL every tenant's key must be given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keyring::{Keyring, TenantKeys};
use super::keystore::{default_pg_keystore_url, KeyStore};
use super::vault::Vault;
use super::CryptoError;

/// Where one tenant's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A keyring file (site config `keys.file`).
    File(PathBuf),
    /// An environment variable holding a keyring's JSON (site config `keys.env`).
    Env(String),
}

/// What opening the vault needs.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// The data's database URL.
    pub database_url: String,
    /// Each tenant in use and where its sites say its keys are.
    pub tenants: BTreeMap<String, Option<KeySource>>,
    /// The default keyring file (`USERAPI_KEYRING`); with SQLite, the
    /// database's path + `.keyring.json` when not given.
    pub keyring: Option<PathBuf>,
    /// The key store (`USERAPI_KEYSTORE_URL`); beside the database when not given.
    pub keystore: Option<String>,
}

/// A keyring file this start made (its keys must be verified before it is written).
#[derive(Debug)]
pub struct NewKeyring {
    pub path: PathBuf,
    pub keyring: Keyring,
}

/// The vault, and the default keyring when it is to be written.
pub async fn open(options: &VaultOptions) -> Result<(Vault, Option<NewKeyring>), CryptoError> {
    let (ring, new) = read(options).await?;
    let store = open_store(options).await?;
    Ok((Vault::new(ring, store), new))
}

/// Every tenant's keys, read again (a reload): a vault over `store`, the
/// key store already open, and the default keyring when it gained a tenant.
pub async fn reopen(options: &VaultOptions, store: KeyStore) -> Result<(Vault, Option<NewKeyring>), CryptoError> {
    let (ring, new) = read(options).await?;
    Ok((Vault::new(ring, store), new))
}

/// [`read_keyrings`] off the async workers.
async fn read(options: &VaultOptions) -> Result<(Keyring, Option<NewKeyring>), CryptoError> {
    let opts = options.clone();
    tokio::task::spawn_blocking(move || read_keyrings(&opts))
        .await
        .map_err(|e| CryptoError::Keyring { origin: "keyring".into(), why: format!("reading failed: {e}") })?
}

/// The default keyring file of a database: named by `--keyring`, else
/// beside an SQLite file (`<file>.keyring.json`).
pub fn default_keyring(database_url: &str, keyring: Option<&Path>) -> Option<PathBuf> {
    keyring
        .map(Path::to_path_buf)
        .or_else(|| crate::store::sqlite_file(database_url).map(|p| with_suffix(&p, ".keyring.json")))
}

/// Every tenant's keys, read from their files and the environment (blocking
/// file I/O), and the default keyring when this start made it.
fn read_keyrings(options: &VaultOptions) -> Result<(Keyring, Option<NewKeyring>), CryptoError> {
    let sqlite_path = crate::store::sqlite_file(&options.database_url);
    let in_memory = crate::store::is_sqlite_memory(&options.database_url);
    let default_path = default_keyring(&options.database_url, options.keyring.as_deref());
    let may_create = options.keyring.is_none() && (sqlite_path.is_some() || in_memory);

    let mut ring = Keyring::default();
    let mut default_ring: Option<Keyring> = None;
    let mut dirty = false;
    for (tenant, source) in &options.tenants {
        let keys = match source {
            Some(KeySource::File(path)) => tenant_of(Keyring::read(path)?, tenant)?,
            Some(KeySource::Env(var)) => {
                let text = std::env::var(var).map_err(|_| CryptoError::Keyring {
                    origin: format!("${var}"),
                    why: "the environment variable is not set".into(),
                })?;
                tenant_of(Keyring::parse(&text, &format!("${var}"))?, tenant)?
            }
            None => {
                let default = match &mut default_ring {
                    Some(found) => found,
                    None => default_ring.insert(match &default_path {
                        Some(path) if path.exists() => Keyring::read(path)?,
                        Some(path) if !may_create => {
                            return Err(CryptoError::Keyring {
                                origin: path.display().to_string(),
                                why: "the file does not exist".into(),
                            })
                        }
                        _ => Keyring::default(),
                    }),
                };
                if !default.tenants.contains_key(tenant) {
                    if !may_create {
                        return Err(CryptoError::NoTenantKey(tenant.clone()));
                    }
                    default.tenants.insert(tenant.clone(), TenantKeys::generate());
                    dirty = true;
                }
                tenant_of(default.clone(), tenant)?
            }
        };
        ring.tenants.insert(tenant.clone(), keys);
    }
    let new = match (dirty, default_path, default_ring) {
        (true, Some(path), Some(keyring)) if !in_memory => Some(NewKeyring { path, keyring }),
        _ => None,
    };
    Ok((ring, new))
}

/// The key store: named by `--keystore`, else beside the database.
async fn open_store(options: &VaultOptions) -> Result<KeyStore, CryptoError> {
    let sqlite_path = crate::store::sqlite_file(&options.database_url);
    let in_memory = crate::store::is_sqlite_memory(&options.database_url);
    Ok(match (&options.keystore, &sqlite_path) {
        (Some(url), _) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            KeyStore::open_postgres(url).await?
        }
        (Some(url), _) => {
            KeyStore::open_sqlite(crate::store::sqlite_file(url).unwrap_or_else(|| PathBuf::from(url))).await?
        }
        (None, Some(path)) => KeyStore::open_sqlite(with_suffix(path, ".keys")).await?,
        (None, None) if in_memory => KeyStore::open_sqlite(PathBuf::from(":memory:")).await?,
        (None, None) => {
            let url = default_pg_keystore_url(&options.database_url)
                .ok_or_else(|| CryptoError::KeyStore("cannot name a key store beside the database".into()))?;
            KeyStore::open_postgres(&url).await?
        }
    })
}

fn tenant_of(mut ring: Keyring, tenant: &str) -> Result<TenantKeys, CryptoError> {
    ring.tenants.remove(tenant).ok_or_else(|| CryptoError::NoTenantKey(tenant.to_owned()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}
