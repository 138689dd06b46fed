//! `userapi keys`: rotating a tenant's key-encryption key and sealing rows
//! written before encryption.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use super::{load_sites, open_db, open_vault, CommonArgs};
use crate::crypto::cipher::Key;
use crate::crypto::keyring::{new_kek_id, Kek, Keyring};
use crate::store::{Db, NoCache, Options};
use crate::users::encrypt_existing;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Give a tenant a new key-encryption key and re-wrap every learner key
    /// with it (the data is not touched). A running instance knows only the
    /// keys it last read: with one running, rotate with `--keep-old`, reload
    /// every instance (SIGHUP), then run `--finish` (see docs/keys.md).
    Rotate {
        /// The tenant whose key is rotated.
        #[arg(long)]
        tenant: String,
        /// Keep the old key-encryption key in the keyring (it then still
        /// opens backups of the key store taken before the rotation).
        #[arg(long)]
        keep_old: bool,
        /// No new key: re-wrap the learner keys still under an older
        /// key-encryption key (made by instances not yet reloaded) under
        /// the current one, then drop the older ones.
        #[arg(long, conflicts_with = "keep_old")]
        finish: bool,
    },
    /// Seal the personal values of rows written before encryption, in
    /// batches (resumable; a second run changes nothing).
    EncryptExisting {
        /// Users per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
}

/// Runs a `keys` command.
pub async fn run(common: &CommonArgs, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Rotate { tenant, keep_old, finish } => rotate(common, &tenant, keep_old, finish).await,
        KeysCommand::EncryptExisting { batch } => {
            let db = open_db(common).await?;
            let done = encrypt_existing::run(&db, batch.clamp(1, 100_000), |t| {
                eprintln!("{} users looked at, {} values sealed", t.users, t.values);
            })
            .await?;
            db.close().await;
            println!("{} users looked at, {} values sealed or re-indexed", done.users, done.values);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The keyring file that holds `tenant`'s keys.
fn keyring_file(common: &CommonArgs, sites: &crate::sites::SiteSet, tenant: &str) -> anyhow::Result<PathBuf> {
    let mut found_site = false;
    for site in sites.all().iter().filter(|s| s.tenant == tenant) {
        found_site = true;
        if let Some(keys) = &site.config.keys {
            if let Some(file) = &keys.file {
                return Ok(common.sites.join(file));
            }
            if let Some(var) = &keys.env {
                anyhow::bail!(
                    "the keys of tenant {tenant:?} come from ${var}: point the site's `keys` at a keyring \
                     file holding them, rotate, then put the file's new content in ${var} (see docs/keys.md)"
                );
            }
        }
    }
    if !found_site {
        anyhow::bail!("no site uses tenant {tenant:?}");
    }
    crate::crypto::setup::default_keyring(&common.database, common.keyring.as_deref()).with_context(|| {
        format!("tenant {tenant:?} has no keyring file: name one with --keyring or in its sites' config")
    })
}

async fn rotate(common: &CommonArgs, tenant: &str, keep_old: bool, finish: bool) -> anyhow::Result<ExitCode> {
    let sites = {
        let common = common.clone();
        tokio::task::spawn_blocking(move || load_sites(&common)).await??.current()
    };
    let path = keyring_file(common, &sites, tenant)?;
    let mut ring = read(&path).await?;
    let keys =
        ring.tenants.get_mut(tenant).with_context(|| format!("{} holds no keys of {tenant:?}", path.display()))?;
    // The new key goes first and the old ones stay until every learner key
    // is re-wrapped, so a rotation cut short can simply be run again.
    if !finish {
        keys.keks.insert(0, Kek { id: new_kek_id(), key: Key::generate() });
    }
    let new_keys = keys.clone();
    if !finish {
        write(&path, ring.clone()).await?;
    }

    let options = Options { synchronous: common.sqlite_synchronous, hook: Arc::new(NoCache), listen: false };
    let db =
        Db::connect(&common.database, options).await.with_context(|| format!("cannot open {}", common.database))?;
    open_vault(common, &db, &sites, Some((tenant.to_owned(), new_keys))).await?;
    let vault = db.vault().context("the vault did not open")?;
    let rewrapped = vault.rewrap_all(tenant).await?;
    crate::users::sealing::record_key_checks(&db, tenant).await?;
    db.close().await;
    vault.store().close().await;

    if !keep_old {
        if let Some(keys) = ring.tenants.get_mut(tenant) {
            keys.keks.truncate(1);
        }
        write(&path, ring).await?;
    }
    println!(
        "tenant {tenant:?}: {rewrapped} learner keys re-wrapped under key-encryption key {:?} in {}",
        vault.tenant(tenant)?.current().id,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn read(path: &std::path::Path) -> anyhow::Result<Keyring> {
    let path = path.to_owned();
    Ok(tokio::task::spawn_blocking(move || Keyring::read(&path)).await??)
}

async fn write(path: &std::path::Path, ring: Keyring) -> anyhow::Result<()> {
    let path = path.to_owned();
    Ok(tokio::task::spawn_blocking(move || ring.write(&path)).await??)
}
