//! PostgreSQL: a sqlx pool (no ping on acquire), and the listener that
//! follows other instances' changes.
//!
//! Triggers on every table a cached user record is built from send
//! `NOTIFY userapi_users, '<user id>'` (migration 0002), so a change made by
//! any instance, or by hand in psql, reaches every instance's cache.

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::{CacheHook, Options, StoreResult};

/// The channel the triggers notify.
pub const CHANNEL: &str = "userapi_users";

/// The pool and the listener task.
pub(crate) struct PgEngine {
    pool: PgPool,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl PgEngine {
    /// Connects, migrates and, when asked, starts following changes. The
    /// listener is subscribed before this returns, so nothing committed
    /// after start-up is missed.
    pub async fn connect(url: &str, migrations: &Migrator, options: &Options) -> StoreResult<PgEngine> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            // A ping per acquire is a round trip per request; a broken
            // connection fails its statement and is replaced instead.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        migrations.run(&pool).await?;
        let listener = if options.listen {
            let first = subscribe(url).await?;
            let (url, hook) = (url.to_owned(), Arc::clone(&options.hook));
            Some(tokio::spawn(follow(url, hook, first)))
        } else {
            None
        };
        Ok(PgEngine { pool, listener })
    }

    /// A pool connection.
    pub async fn acquire(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// A transaction on a pool connection; rolled back if dropped.
    pub async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Open and idle pool connections.
    pub fn pool_stats(&self) -> (u64, u64) {
        (u64::from(self.pool.size()), self.pool.num_idle() as u64)
    }

    /// Stops the listener and closes the pool.
    pub async fn close(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        self.pool.close().await;
    }
}

async fn subscribe(url: &str) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Drops the changed users' records as notifications arrive. When the
/// connection drops, notifications may have been missed: the cache is
/// emptied and bypassed until a new subscription stands, then emptied again.
async fn follow(url: String, hook: Arc<dyn CacheHook>, first: PgListener) {
    let mut listener = Some(first);
    loop {
        let Some(mut current) = listener.take() else {
            match subscribe(&url).await {
                Ok(l) => {
                    tracing::info!("change notifications resumed; cache emptied");
                    hook.reset(true);
                    listener = Some(l);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to change notifications; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        };
        loop {
            match current.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<i64>() {
                    Ok(id) => hook.changed(&[id]),
                    Err(_) => hook.reset(true),
                },
                Ok(None) => {
                    tracing::warn!("the change-notification connection dropped; cache emptied and bypassed");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change notifications failed; cache emptied and bypassed");
                    break;
                }
            }
        }
        hook.reset(false);
        drop(current);
    }
}
