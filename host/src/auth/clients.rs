//! OAuth2 clients: a client id and secret whose tokens act as one user.

use super::password;
use crate::clock::now_micros;
use crate::store::{Db, StoreResult};

/// A registered client.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret_hash: String,
    pub user_id: i64,
}

/// Registers (or re-keys) a client of `tenant` acting as `user_id`.
pub async fn upsert(db: &Db, tenant: &str, client_id: &str, secret: &str, user_id: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_clients (tenant, client_id, client_secret_hash, user_id, created) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant, client_id) DO UPDATE SET client_secret_hash = excluded.client_secret_hash, \
         user_id = excluded.user_id",
    )
    .bind(tenant)
    .bind(client_id)
    .bind(password::hash(secret))
    .bind(user_id)
    .bind(now_micros())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The client `client_id` of `tenant`.
pub async fn find(db: &Db, tenant: &str, client_id: &str) -> StoreResult<Option<OAuthClient>> {
    Ok(sqlx::query_as(
        "SELECT client_id, client_secret_hash, user_id FROM oauth_clients WHERE tenant = $1 AND client_id = $2",
    )
    .bind(tenant)
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?)
}
