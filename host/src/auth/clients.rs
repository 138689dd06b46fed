//! OAuth2 clients: a client id and secret whose tokens act as one user.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::password::{self, Verified};
use crate::args;
use crate::clock::now_micros;
use crate::store::{Conn, StoreResult};

/// A registered client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret_hash: String,
    pub user_id: i64,
}

/// Registers (or re-keys) a client of `tenant` acting as `user_id`;
/// `secret_hash` is the secret's [`password::hash`].
pub async fn upsert(c: &mut Conn, tenant: &str, client_id: &str, secret_hash: &str, user_id: i64) -> StoreResult<()> {
    c.execute(
        "INSERT INTO oauth_clients (tenant, client_id, client_secret_hash, user_id, created) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant, client_id) DO UPDATE SET client_secret_hash = excluded.client_secret_hash, \
         user_id = excluded.user_id",
        args![tenant, client_id, secret_hash, user_id, now_micros()],
    )
    .await?;
    Ok(())
}

/// The client `client_id` of `tenant`.
pub async fn find(c: &mut Conn, tenant: &str, client_id: &str) -> StoreResult<Option<OAuthClient>> {
    let row: Option<(String, String, i64)> = c
        .fetch_optional(
            "SELECT client_id, client_secret_hash, user_id FROM oauth_clients WHERE tenant = $1 AND client_id = $2",
            args![tenant, client_id],
        )
        .await?;
    Ok(row.map(|(client_id, client_secret_hash, user_id)| OAuthClient { client_id, client_secret_hash, user_id }))
}

/// Client secrets already verified against their stored hash, so a
/// client's every token request does not pay for argon2 again. An entry is
/// used only while the stored hash is the one it was verified against.
#[derive(Debug, Default)]
pub struct VerifiedSecrets {
    entries: Mutex<HashMap<ClientKey, VerifiedSecret>>,
}

/// (tenant, client id).
type ClientKey = (String, String);

/// The stored hash a secret was verified against, and the secret's SHA-256.
type VerifiedSecret = (String, [u8; 32]);

/// Most remembered secrets; beyond it the memory starts over.
const MAX_VERIFIED: usize = 10_000;

impl VerifiedSecrets {
    /// Whether `secret` is `client`'s secret: from memory when it was
    /// verified before against the same hash, else with argon2 off-thread.
    pub async fn check(&self, tenant: &str, client: Option<&OAuthClient>, secret: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(client) = client {
            let key = (tenant.to_owned(), client.client_id.clone());
            let known = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
            if let Some((hash, known)) = known {
                if hash == client.client_secret_hash {
                    return bool::from(known.ct_eq(&digest));
                }
            }
        }
        let stored = client.map(|c| c.client_secret_hash.clone());
        let ok = password::verify_off_thread(secret.to_owned(), stored).await != Verified::No;
        if let (true, Some(client)) = (ok, client) {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_VERIFIED {
                entries.clear();
            }
            entries.insert((tenant.to_owned(), client.client_id.clone()), (client.client_secret_hash.clone(), digest));
        }
        ok
    }
}
