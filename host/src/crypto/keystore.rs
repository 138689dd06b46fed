//! Where wrapped learner keys live: a database of their own, apart from the
//! data they protect, so a copy of the data taken before a retirement holds
//! no key that opens it afterwards.
//!
//! * Beside an SQLite database: a second SQLite file with `secure_delete`
//!   and a rollback journal, so a deleted key's bytes are zeroed in place.
//! * With PostgreSQL: a database of its own (by default `<name>_keys` on
//!   the same server); deleting keys rewrites the table (`VACUUM FULL`), so
//!   no dead tuple keeps them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row as _};

use super::CryptoError;

/// A wrapped learner key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub key_id: String,
    pub tenant: String,
    pub kek_id: String,
    pub wrapped: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS learner_keys (\
    key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped TEXT NOT NULL, created BIGINT NOT NULL)";
const SCHEMA_INDEX: &str = "CREATE INDEX IF NOT EXISTS learner_keys_tenant ON learner_keys (tenant, kek_id)";
/// PostgreSQL: `ANALYZE` (autovacuum's too) would copy sample wrapped keys
/// into `pg_statistic`, where destroying them would not reach.
const PG_NO_STATISTICS: &str = "ALTER TABLE learner_keys ALTER COLUMN wrapped SET STATISTICS 0";
/// PostgreSQL: whether a session of this database (or of none: a standby's
/// feedback), a prepared transaction or a replication slot may still see row
/// versions that transaction `$1` deleted (while one can, `VACUUM FULL` keeps
/// them). Sessions of other roles are seen only by a role with
/// `pg_read_all_stats`.
const PG_OLD_SNAPSHOTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
       AND (datid IS NULL OR datname = current_database()) \
       AND (age(backend_xmin) >= age($1::xid) OR age(backend_xid) >= age($1::xid))) \
    OR EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database() \
       AND age(transaction) >= age($1::xid)) \
    OR EXISTS (SELECT 1 FROM pg_replication_slots WHERE age(xmin) >= age($1::xid))";
/// How long a destroy waits for older snapshots to end before rewriting.
const PG_SNAPSHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The store of wrapped learner keys.
#[derive(Clone)]
pub enum KeyStore {
    Sqlite { path: PathBuf, conn: Arc<Mutex<rusqlite::Connection>> },
    Postgres { pool: PgPool, location: String },
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({})", self.location())
    }
}

fn sqlite_err(e: rusqlite::Error) -> CryptoError {
    CryptoError::KeyStore(e.to_string())
}

fn pg_err(e: sqlx::Error) -> CryptoError {
    CryptoError::KeyStore(e.to_string())
}

impl KeyStore {
    /// Opens (creating when missing) an SQLite key store file.
    pub async fn open_sqlite(path: PathBuf) -> Result<KeyStore, CryptoError> {
        let p = path.clone();
        let conn = blocking(move || {
            let conn = rusqlite::Connection::open(&p).map_err(sqlite_err)?;
            conn.execute_batch(&format!(
                "PRAGMA secure_delete = ON; PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; \
                 PRAGMA busy_timeout = 5000; {SCHEMA}; {SCHEMA_INDEX};"
            ))
            .map_err(sqlite_err)?;
            Ok(conn)
        })
        .await?;
        Ok(KeyStore::Sqlite { path, conn: Arc::new(Mutex::new(conn)) })
    }

    /// Opens a PostgreSQL key store, creating its database (from
    /// `admin_url`'s connection) and table when missing.
    pub async fn open_postgres(url: &str) -> Result<KeyStore, CryptoError> {
        let pool = match PgPoolOptions::new().max_connections(4).connect(url).await {
            Ok(pool) => pool,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
                create_pg_database(url).await?;
                PgPoolOptions::new().max_connections(4).connect(url).await.map_err(pg_err)?
            }
            Err(e) => return Err(pg_err(e)),
        };
        sqlx::query(SCHEMA).execute(&pool).await.map_err(pg_err)?;
        sqlx::query(SCHEMA_INDEX).execute(&pool).await.map_err(pg_err)?;
        sqlx::query(PG_NO_STATISTICS).execute(&pool).await.map_err(pg_err)?;
        Ok(KeyStore::Postgres { pool, location: redact_url(url) })
    }

    /// Where the keys are, for messages (no password).
    pub fn location(&self) -> String {
        match self {
            KeyStore::Sqlite { path, .. } => path.display().to_string(),
            KeyStore::Postgres { location, .. } => location.clone(),
        }
    }

    /// Stores a new wrapped key.
    pub async fn insert(&self, key: &StoredKey) -> Result<(), CryptoError> {
        let now = crate::clock::now_micros();
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let (conn, key) = (Arc::clone(conn), key.clone());
                blocking(move || {
                    lock(&conn)
                        .execute(
                            "INSERT INTO learner_keys (key_id, tenant, kek_id, wrapped, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                            rusqlite::params![key.key_id, key.tenant, key.kek_id, key.wrapped, now],
                        )
                        .map_err(sqlite_err)?;
                    Ok(())
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                sqlx::query(
                    "INSERT INTO learner_keys (key_id, tenant, kek_id, wrapped, created) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.key_id)
                .bind(&key.tenant)
                .bind(&key.kek_id)
                .bind(&key.wrapped)
                .bind(now)
                .execute(pool)
                .await
                .map_err(pg_err)?;
                Ok(())
            }
        }
    }

    /// The wrapped key `key_id`, if it was not destroyed.
    pub async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, CryptoError> {
        const SQL: &str = "SELECT key_id, tenant, kek_id, wrapped FROM learner_keys WHERE key_id = $1";
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let (conn, id) = (Arc::clone(conn), key_id.to_owned());
                blocking(move || {
                    use rusqlite::OptionalExtension;
                    lock(&conn)
                        .query_row(&SQL.replace("$1", "?1"), [id], |r| {
                            Ok(StoredKey {
                                key_id: r.get(0)?,
                                tenant: r.get(1)?,
                                kek_id: r.get(2)?,
                                wrapped: r.get(3)?,
                            })
                        })
                        .optional()
                        .map_err(sqlite_err)
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                let row = sqlx::query(SQL).bind(key_id).fetch_optional(pool).await.map_err(pg_err)?;
                row.map(|r| pg_key(&r)).transpose()
            }
        }
    }

    /// Every key of `tenant` not wrapped by `kek_id`, at most `limit`.
    pub async fn wrapped_by_other(
        &self,
        tenant: &str,
        kek_id: &str,
        limit: i64,
    ) -> Result<Vec<StoredKey>, CryptoError> {
        const SQL: &str = "SELECT key_id, tenant, kek_id, wrapped FROM learner_keys \
                           WHERE tenant = $1 AND kek_id <> $2 ORDER BY key_id LIMIT $3";
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let (conn, tenant, kek_id) = (Arc::clone(conn), tenant.to_owned(), kek_id.to_owned());
                blocking(move || {
                    let conn = lock(&conn);
                    let mut stmt = conn.prepare(&SQL.replace('$', "?")).map_err(sqlite_err)?;
                    let rows = stmt
                        .query_map(rusqlite::params![tenant, kek_id, limit], |r| {
                            Ok(StoredKey {
                                key_id: r.get(0)?,
                                tenant: r.get(1)?,
                                kek_id: r.get(2)?,
                                wrapped: r.get(3)?,
                            })
                        })
                        .map_err(sqlite_err)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_err)
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                let rows =
                    sqlx::query(SQL).bind(tenant).bind(kek_id).bind(limit).fetch_all(pool).await.map_err(pg_err)?;
                rows.iter().map(pg_key).collect()
            }
        }
    }

    /// Replaces the wrapping of keys (rotation), in one transaction.
    pub async fn rewrap(&self, keys: Vec<StoredKey>) -> Result<(), CryptoError> {
        const SQL: &str = "UPDATE learner_keys SET kek_id = $1, wrapped = $2 WHERE key_id = $3";
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let conn = Arc::clone(conn);
                blocking(move || {
                    let mut conn = lock(&conn);
                    let tx = conn.transaction().map_err(sqlite_err)?;
                    for k in &keys {
                        tx.execute(&SQL.replace('$', "?"), rusqlite::params![k.kek_id, k.wrapped, k.key_id])
                            .map_err(sqlite_err)?;
                    }
                    tx.commit().map_err(sqlite_err)
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.map_err(pg_err)?;
                for k in &keys {
                    sqlx::query(SQL)
                        .bind(&k.kek_id)
                        .bind(&k.wrapped)
                        .bind(&k.key_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(pg_err)?;
                }
                tx.commit().await.map_err(pg_err)
            }
        }
    }

    /// Destroys keys for good: deleted, and their bytes gone from the store's files.
    pub async fn destroy(&self, key_ids: &[String]) -> Result<(), CryptoError> {
        if key_ids.is_empty() {
            return Ok(());
        }
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let (conn, ids) = (Arc::clone(conn), key_ids.to_vec());
                blocking(move || {
                    let mut conn = lock(&conn);
                    let tx = conn.transaction().map_err(sqlite_err)?;
                    for id in &ids {
                        tx.execute("DELETE FROM learner_keys WHERE key_id = ?1", [id]).map_err(sqlite_err)?;
                    }
                    tx.commit().map_err(sqlite_err)
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.map_err(pg_err)?;
                for id in key_ids {
                    sqlx::query("DELETE FROM learner_keys WHERE key_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(pg_err)?;
                }
                // No transaction id: nothing was deleted.
                let (xid,): (Option<String>,) =
                    sqlx::query_as("SELECT backend_xid::text FROM pg_stat_activity WHERE pid = pg_backend_pid()")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(pg_err)?;
                tx.commit().await.map_err(pg_err)?;
                // The deleted tuples would stay in the table's pages until
                // reused; a rewrite drops them with the old file, once no
                // snapshot that still sees them is left.
                let Some(xid) = xid else { return Ok(()) };
                wait_for_snapshots(pool, &xid).await?;
                sqlx::query("VACUUM FULL learner_keys").execute(pool).await.map_err(pg_err)?;
                Ok(())
            }
        }
    }

    /// Whether `tenant` has any key here.
    pub async fn has_keys(&self, tenant: &str) -> Result<bool, CryptoError> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM learner_keys WHERE tenant = $1)";
        match self {
            KeyStore::Sqlite { conn, .. } => {
                let (conn, tenant) = (Arc::clone(conn), tenant.to_owned());
                blocking(move || {
                    lock(&conn).query_row(&SQL.replace("$1", "?1"), [tenant], |r| r.get(0)).map_err(sqlite_err)
                })
                .await
            }
            KeyStore::Postgres { pool, .. } => {
                let row = sqlx::query(SQL).bind(tenant).fetch_one(pool).await.map_err(pg_err)?;
                row.try_get(0).map_err(pg_err)
            }
        }
    }

    /// Closes the store.
    pub async fn close(&self) {
        if let KeyStore::Postgres { pool, .. } = self {
            pool.close().await;
        }
    }
}

/// Waits until no snapshot can see what transaction `xid` deleted, for at
/// most [`PG_SNAPSHOT_WAIT`]; past that (a long transaction, a replica's
/// slot) it logs and goes on: the rewrite of a later destroy drops them.
async fn wait_for_snapshots(pool: &PgPool, xid: &str) -> Result<(), CryptoError> {
    let deadline = tokio::time::Instant::now() + PG_SNAPSHOT_WAIT;
    loop {
        let (old,): (bool,) = sqlx::query_as(PG_OLD_SNAPSHOTS).bind(xid).fetch_one(pool).await.map_err(pg_err)?;
        if !old {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                "destroyed learner keys: an older snapshot (a long transaction or a replication slot) still sees \
                 them, so their row versions outlive this rewrite of the key store until the next one"
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn pg_key(r: &sqlx::postgres::PgRow) -> Result<StoredKey, CryptoError> {
    Ok(StoredKey {
        key_id: r.try_get(0).map_err(pg_err)?,
        tenant: r.try_get(1).map_err(pg_err)?,
        kek_id: r.try_get(2).map_err(pg_err)?,
        wrapped: r.try_get(3).map_err(pg_err)?,
    })
}

fn lock(conn: &Mutex<rusqlite::Connection>) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs file I/O off the async workers.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, CryptoError> + Send + 'static,
) -> Result<T, CryptoError> {
    tokio::task::spawn_blocking(job).await.map_err(|e| CryptoError::KeyStore(format!("key store task failed: {e}")))?
}

/// Creates the database `url` names, connecting to the server's `postgres` database.
async fn create_pg_database(url: &str) -> Result<(), CryptoError> {
    let (server, name) = split_pg_url(url).ok_or_else(|| CryptoError::KeyStore(format!("cannot read {url:?}")))?;
    let admin = format!("{server}/postgres");
    let pool = PgPoolOptions::new().max_connections(1).connect(&admin).await.map_err(pg_err)?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let result = sqlx::query(&format!("CREATE DATABASE {quoted}")).execute(&pool).await;
    pool.close().await;
    match result {
        Ok(_) => Ok(()),
        // Another instance created it first.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(pg_err(e)),
    }
}

/// `postgres://u@h:p/name?x` → (`postgres://u@h:p`, `name`).
fn split_pg_url(url: &str) -> Option<(String, String)> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].find('/')? + scheme_end;
    let name = &base[slash + 1..];
    if name.is_empty() {
        return None;
    }
    let _ = query;
    Some((base[..slash].to_owned(), name.to_owned()))
}

/// The key store URL beside a PostgreSQL database URL: its name + `_keys`.
pub fn default_pg_keystore_url(database_url: &str) -> Option<String> {
    let (base, query) = database_url.split_once('?').map_or((database_url, None), |(b, q)| (b, Some(q)));
    let (server, name) = split_pg_url(base)?;
    Some(format!("{server}/{name}_keys{}", query.map(|q| format!("?{q}")).unwrap_or_default()))
}

/// A URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_key_store_sits_beside_the_database() {
        assert_eq!(
            default_pg_keystore_url("postgres://postgres@127.0.0.1:5432/userapi?sslmode=disable").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/userapi_keys?sslmode=disable")
        );
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u@h/db");
    }
}
