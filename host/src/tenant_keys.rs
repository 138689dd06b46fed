//! The tenant keys of a running database: read for the sites' tenants when
//! the database opens, checked against the data and lent to it; read again
//! when the sites are reloaded, so a tenant added by a reload gets its keys
//! and a rotated keyring reaches a live instance without a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::crypto::setup::{self, KeySource, NewKeyring, VaultOptions};
use crate::crypto::{CryptoError, TenantKeys, Vault};
use crate::sites::SiteSet;
use crate::store::{Db, StoreError};

/// Where keys are found besides the sites' own `keys` (the CLI's
/// `--keyring` and `--keystore`).
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// The data's database URL.
    pub database_url: String,
    /// The sites directory, which a site's `keys.file` is relative to.
    pub sites_dir: PathBuf,
    /// The default keyring file.
    pub keyring: Option<PathBuf>,
    /// The key store's URL.
    pub keystore: Option<String>,
}

/// Why the keys could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot open the tenant keys: {0}")]
    Open(#[source] CryptoError),
    #[error("the tenant keys do not fit the data: {0}")]
    Mismatch(#[source] StoreError),
    #[error("cannot write the keyring {path}: {source}")]
    Write { path: String, source: CryptoError },
}

impl KeySettings {
    /// What opening the vault of `sites`' tenants needs: each tenant's keys
    /// from where its first site that says so names them.
    fn options(&self, sites: &SiteSet) -> VaultOptions {
        let mut tenants: BTreeMap<String, Option<KeySource>> = BTreeMap::new();
        for site in sites.all() {
            let source = site.config.keys.as_ref().and_then(|k| match (&k.file, &k.env) {
                (Some(file), _) => Some(KeySource::File(self.sites_dir.join(file))),
                (None, Some(var)) => Some(KeySource::Env(var.clone())),
                (None, None) => None,
            });
            let entry = tenants.entry(site.tenant.clone()).or_insert(None);
            if entry.is_none() {
                *entry = source;
            }
        }
        VaultOptions {
            database_url: self.database_url.clone(),
            tenants,
            keyring: self.keyring.clone(),
            keystore: self.keystore.clone(),
        }
    }
}

/// Opens the vault of `sites`' tenants (with `replace`'s keys for its
/// tenant instead of the configured ones, when given), checks it against
/// the data, writes a keyring this start made, and lends the vault to `db`.
pub async fn open(
    settings: &KeySettings,
    db: &Db,
    sites: &SiteSet,
    replace: Option<(String, TenantKeys)>,
) -> Result<(), KeysError> {
    let (vault, created) = setup::open(&settings.options(sites)).await.map_err(KeysError::Open)?;
    let vault = match replace {
        Some((tenant, keys)) => {
            let mut ring = vault.keyring().clone();
            ring.tenants.insert(tenant, keys);
            Vault::new(ring, vault.store().clone())
        }
        None => vault,
    };
    install(db, Arc::new(vault), created).await
}

/// After a sites reload: reads the keys of `sites`' tenants again (keys for
/// a tenant new to the SQLite default keyring are made and added to it),
/// checks them and puts them in place. On an error the keys before stay.
pub async fn reload(settings: &KeySettings, db: &Db, sites: &SiteSet) -> Result<(), KeysError> {
    let current = db.vault().ok_or(KeysError::Mismatch(StoreError::NoVault))?;
    let (vault, created) =
        setup::reopen(&settings.options(sites), current.store().clone()).await.map_err(KeysError::Open)?;
    install(db, Arc::new(vault), created).await
}

/// Checks `vault` against the data, writes the keyring made for it (after
/// the check, so a refused start leaves no file behind) and lends it to `db`.
async fn install(db: &Db, vault: Arc<Vault>, created: Option<NewKeyring>) -> Result<(), KeysError> {
    crate::users::sealing::verify_keys_of(db, &vault).await.map_err(KeysError::Mismatch)?;
    if let Some(new) = created {
        let path = new.path.clone();
        tokio::task::spawn_blocking(move || new.keyring.write(&new.path))
            .await
            .map_err(|e| KeysError::Write {
                path: path.display().to_string(),
                source: CryptoError::KeyStore(e.to_string()),
            })?
            .map_err(|source| KeysError::Write { path: path.display().to_string(), source })?;
        tracing::warn!(
            keyring = %path.display(),
            "created a keyring with new tenant keys beside the database: back it up apart from the database \
             (without it the personal data cannot be read; see docs/keys.md)"
        );
    }
    db.set_vault(vault);
    Ok(())
}
