//! The database: SQLite (embedded, the default) or PostgreSQL, behind one
//! job-based interface.
//!
//! A request hands the store one job, an async closure over a [`Conn`]:
//! [`Db::read`] runs it on a read connection, [`Db::write`] in a
//! transaction. On SQLite the job runs whole on a thread that owns its
//! connection (`sqlite.rs`; writes are group-committed there); on
//! PostgreSQL it is awaited on a pool connection (`postgres.rs`). SQL is
//! written once with `$1`-style parameters.
//!
//! Writes tell a [`CacheHook`] which users' cached records they made stale,
//! after they commit and before their callers hear back.

pub mod conn;
mod postgres;
pub mod sqlite;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::migrate::Migrator;

pub use conn::{Column, Conn, FromRow, Param, Row};

/// The database file of an `sqlite:` URL; `None` for an in-memory SQLite
/// database or another backend.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    match sqlite::location(url) {
        Some(sqlite::Location::File(path)) => Some(path),
        _ => None,
    }
}

/// Whether `url` names an in-memory SQLite database.
pub fn is_sqlite_memory(url: &str) -> bool {
    matches!(sqlite::location(url), Some(sqlite::Location::Memory))
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's durability level (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// An acknowledged write survives power loss (fsync on every commit).
    #[default]
    Full,
    /// An acknowledged write survives a process crash, not power loss.
    Normal,
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            other => Err(format!("unknown SQLite synchronous level {other:?}: use full or normal")),
        }
    }
}

/// A failure of the store. Unique violations are surfaced separately so that
/// callers turn them into field errors instead of racing a SELECT.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH, sqlite::memory: or postgres://...")]
    UnsupportedUrl(String),
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("a string holds a NUL character, which the store refuses")]
    NulCharacter,
    #[error("the query returned no row")]
    NoRow,
    #[error("cannot read a column: {0}")]
    Decode(String),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(sqlx::Error),
    #[error("the commit failed: {0}")]
    Commit(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Io(String),
    #[error("the database is closed")]
    Closed,
    #[error("{0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("the database was opened without its vault of keys")]
    NoVault,
    #[error("the database job was abandoned (its thread failed or the transaction could not start)")]
    Abandoned,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Unique(db.message().to_owned());
            }
        }
        StoreError::Postgres(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &e {
            let unique = failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
            if unique {
                return StoreError::Unique(message.clone().unwrap_or_default());
            }
        }
        StoreError::Sqlite(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A job's future, borrowing the connection it was lent.
pub type JobFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// What the store tells the cache of user records. Called after a commit,
/// before the writer's caller hears back; and from the PostgreSQL listener
/// for changes made by other instances.
pub trait CacheHook: Send + Sync {
    /// These users' records changed: drop them.
    fn changed(&self, user_ids: &[i64]);
    /// This user's record changed and `record` is its new value (SQLite's
    /// single writer only, whose commits are ordered).
    fn refreshed(&self, user_id: i64, record: Box<dyn Any + Send>);
    /// Changes may have been missed (`live` false: until further notice):
    /// drop everything, and cache nothing while not live.
    fn reset(&self, live: bool);
}

/// A hook for processes that keep no cache (the CLI).
#[derive(Debug, Default)]
pub struct NoCache;

impl CacheHook for NoCache {
    fn changed(&self, _: &[i64]) {}
    fn refreshed(&self, _: i64, _: Box<dyn Any + Send>) {}
    fn reset(&self, _: bool) {}
}

/// How to open a database.
#[derive(Clone)]
pub struct Options {
    /// SQLite's durability level.
    pub synchronous: Synchronous,
    /// Told about every committed change.
    pub hook: Arc<dyn CacheHook>,
    /// PostgreSQL: follow other instances' changes (LISTEN/NOTIFY).
    pub listen: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { synchronous: Synchronous::Full, hook: Arc::new(NoCache), listen: false }
    }
}

enum Engine {
    Sqlite(sqlite::SqliteEngine),
    Postgres(postgres::PgEngine),
}

struct Inner {
    engine: Engine,
    hook: Arc<dyn CacheHook>,
    vault: std::sync::RwLock<Option<Arc<crate::crypto::Vault>>>,
}

/// What `/metrics` shows of the connections: on SQLite its threads and the
/// jobs waiting for them; on PostgreSQL the pool's open and idle connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub connections: u64,
    pub idle: Option<u64>,
    pub queued: Option<u64>,
}

/// The database handle, cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend()).finish()
    }
}

impl Db {
    /// Opens `url` and applies every pending migration. SQLite files are
    /// created when missing and run with WAL, foreign keys, a busy timeout
    /// and `secure_delete`, so that erased data does not linger in free pages.
    pub async fn connect(url: &str, options: Options) -> StoreResult<Db> {
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres(postgres::PgEngine::connect(url, &POSTGRES_MIGRATIONS, &options).await?)
        } else if let Some(location) = sqlite::location(url) {
            let (synchronous, hook) = (options.synchronous, Arc::clone(&options.hook));
            let engine = tokio::task::spawn_blocking(move || {
                sqlite::SqliteEngine::open(location, synchronous, hook, &SQLITE_MIGRATIONS)
            })
            .await
            .map_err(|e| StoreError::Io(format!("cannot open the database: {e}")))??;
            Engine::Sqlite(engine)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Db { inner: Arc::new(Inner { engine, hook: options.hook, vault: std::sync::RwLock::new(None) }) })
    }

    /// Gives every later job the vault personal values are sealed with, in
    /// place of the one before (the keys must be verified against this
    /// database first); a job under way keeps the vault it started with.
    pub fn set_vault(&self, vault: Arc<crate::crypto::Vault>) {
        *self.inner.vault.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(vault);
    }

    /// The vault, once set.
    pub fn vault(&self) -> Option<Arc<crate::crypto::Vault>> {
        self.inner.vault.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self.inner.engine {
            Engine::Sqlite(_) => Backend::Sqlite,
            Engine::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `job` on a read connection. On SQLite it sees one consistent snapshot.
    pub async fn read<R, E, F>(&self, job: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> JobFuture<'c, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.inner.engine {
            Engine::Sqlite(engine) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let handle = tokio::runtime::Handle::current();
                let vault = self.vault();
                engine
                    .read(Box::new(move |conn: &mut Conn| {
                        conn.set_vault(vault);
                        let _ = tx.send(handle.block_on(job(conn)));
                    }))
                    .map_err(E::from)?;
                rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Abandoned)))
            }
            Engine::Postgres(engine) => {
                let mut conn = Conn::pg(engine.acquire().await.map_err(E::from)?);
                conn.set_vault(self.vault());
                job(&mut conn).await
            }
        }
    }

    /// Runs `job` in a write transaction: committed when it returns `Ok`,
    /// rolled back when it returns `Err`. On SQLite it shares a group commit
    /// with the other queued writes, inside a savepoint of its own.
    pub async fn write<R, E, F>(&self, job: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> JobFuture<'c, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.inner.engine {
            Engine::Sqlite(engine) => {
                let (tx, rx) = tokio::sync::oneshot::channel::<Result<R, E>>();
                let handle = tokio::runtime::Handle::current();
                let vault = self.vault();
                engine
                    .write(Box::new(move |conn: &mut Conn| {
                        conn.set_vault(vault);
                        let result = handle.block_on(job(conn));
                        let ok = result.is_ok();
                        sqlite::Finished {
                            ok,
                            deliver: Box::new(move |commit: Result<(), StoreError>| {
                                let outcome = match (result, commit) {
                                    (Ok(value), Ok(())) => Ok(value),
                                    (Ok(_), Err(e)) => Err(E::from(e)),
                                    (Err(e), _) => Err(e),
                                };
                                let _ = tx.send(outcome);
                            }),
                        }
                    }))
                    .map_err(E::from)?;
                rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Abandoned)))
            }
            Engine::Postgres(engine) => {
                let tx = engine.begin().await.map_err(E::from)?;
                let mut conn = Conn::pg_tx(tx);
                conn.set_vault(self.vault());
                let result = job(&mut conn).await;
                let (tx, changes) = conn.into_pg_tx();
                match result {
                    Ok(value) => {
                        tx.commit().await.map_err(|e| E::from(e.into()))?;
                        if !changes.touched.is_empty() {
                            self.inner.hook.changed(&changes.touched);
                        }
                        conn::Changes::committed(changes.after_commit);
                        Ok(value)
                    }
                    Err(e) => {
                        if let Err(rollback) = tx.rollback().await {
                            tracing::warn!(error = %rollback, "rollback failed");
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// The connection pool's state, for `/metrics`.
    pub fn pool_stats(&self) -> PoolStats {
        match &self.inner.engine {
            Engine::Sqlite(engine) => {
                let (connections, queued) = engine.pool_stats();
                PoolStats { connections, idle: None, queued: Some(queued) }
            }
            Engine::Postgres(engine) => {
                let (connections, idle) = engine.pool_stats();
                PoolStats { connections, idle: Some(idle), queued: None }
            }
        }
    }

    /// Answers whether the database responds.
    pub async fn ping(&self) -> bool {
        self.read(|c| Box::pin(async move { c.fetch_one::<(i64,)>("SELECT 1", &[]).await })).await.is_ok()
    }

    /// After an erasure on SQLite: checkpoint the WAL and truncate it, so old
    /// page images holding erased values do not linger in the `-wal` file
    /// (`secure_delete` already zeroes freed space in the database file).
    /// Best effort: a reader holding an old snapshot can delay it.
    pub async fn purge_wal(&self) {
        if let Engine::Sqlite(engine) = &self.inner.engine {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let queued = engine.raw(Box::new(move |conn: &mut rusqlite::Connection| {
                let outcome = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                let _ = tx.send(outcome);
            }));
            match (queued, rx.await) {
                (Ok(()), Ok(Ok(()))) => {}
                (Err(e), _) => tracing::warn!(error = %e, "WAL checkpoint after an erasure failed"),
                (_, Ok(Err(e))) => tracing::warn!(error = %e, "WAL checkpoint after an erasure failed"),
                (_, Err(_)) => tracing::warn!("WAL checkpoint after an erasure was abandoned"),
            }
        }
    }

    /// Finishes the queued work and closes every connection.
    pub async fn close(&self) {
        match &self.inner.engine {
            Engine::Sqlite(engine) => {
                let threads = engine.stop();
                let _ = tokio::task::spawn_blocking(move || {
                    for thread in threads {
                        let _ = thread.join();
                    }
                })
                .await;
            }
            Engine::Postgres(engine) => engine.close().await,
        }
    }
}
