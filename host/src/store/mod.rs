//! The database: one sqlx `Any` pool over SQLite or PostgreSQL, migrations
//! for both, and the error type every store function returns.
//!
//! SQL is written once with `$1`-style parameters, which both backends
//! accept. Backend-specific statements (row locking) ask [`Db::backend`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A failure of the store. Unique violations are surfaced separately so that
/// callers turn them into field errors instead of racing a SELECT.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH, sqlite::memory: or postgres://...")]
    UnsupportedUrl(String),
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Unique(db.message().to_owned());
            }
        }
        StoreError::Sqlx(e)
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The connection pool and the backend it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// Reads a boolean column. Flags are stored as integers 0/1 on both
/// backends, because sqlx's `Any` driver cannot read SQLite's BOOLEAN.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Db {
    /// Connects to `url`. SQLite files are created when missing and run with
    /// WAL, foreign keys, a busy timeout and `secure_delete`, so that erased
    /// data does not linger in free pages.
    pub async fn connect(url: &str) -> StoreResult<Db> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(url)?;
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        match backend {
            Backend::Sqlite => {
                // An in-memory database lives in one connection; keep exactly one.
                let max = if url.contains(":memory:") { 1 } else { 8 };
                pool = pool
                    .max_connections(max)
                    .min_connections(if max == 1 { 1 } else { 0 })
                    .idle_timeout(if max == 1 { None } else { Some(Duration::from_secs(600)) })
                    .max_lifetime(if max == 1 { None } else { Some(Duration::from_secs(1800)) })
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                                 PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; \
                                 PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    });
            }
            Backend::Postgres => pool = pool.max_connections(16),
        }
        let pool = pool.connect_with(options).await?;
        Ok(Db { pool, backend })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for single statements.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the
    /// write lock is taken (waiting up to the busy timeout) before anything
    /// is read, so read-then-write sequences never fail with SQLITE_BUSY.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Answers whether the database responds.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// After an erasure on SQLite: checkpoint the WAL and truncate it, so old
    /// page images holding erased values do not linger in the `-wal` file
    /// (`secure_delete` already zeroes freed space in the database file).
    /// Best effort: a reader holding an old snapshot can delay it.
    pub async fn purge_wal(&self) {
        if self.backend == Backend::Sqlite {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
                tracing::warn!(error = %e, "WAL checkpoint after an erasure failed");
            }
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn normalise_url(url: &str) -> StoreResult<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    if url == "sqlite::memory:" || url.starts_with("sqlite::memory:") {
        return Ok((Backend::Sqlite, url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let with_mode = if rest.contains("mode=") {
            url.to_owned()
        } else if rest.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        return Ok((Backend::Sqlite, with_mode));
    }
    Err(StoreError::UnsupportedUrl(url.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_missing_files() {
        let (b, u) = normalise_url("sqlite://userapi.db").unwrap();
        assert_eq!(b, Backend::Sqlite);
        assert_eq!(u, "sqlite://userapi.db?mode=rwc");
        assert!(normalise_url("mysql://x").is_err());
    }
}
