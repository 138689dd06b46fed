//! `userapi serve`: the HTTP service.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{load_sites, open_db_with, CommonArgs};
use crate::app::{router, App, AppState};
use crate::metrics::Metrics;
use crate::users::{RecordCache, Users};

/// Serves until SIGINT/SIGTERM, then drains in-flight requests.
pub async fn run(common: &CommonArgs) -> anyhow::Result<()> {
    let sites = {
        let common = common.clone();
        // Loading compiles the sites' plugins: blocking work.
        Arc::new(tokio::task::spawn_blocking(move || load_sites(&common)).await??)
    };
    let cache = Arc::new(RecordCache::new(common.cache_entries));
    let db = open_db_with(common, &sites.current(), cache.clone(), true).await?;
    if crate::users::encrypt_existing::needed(&db).await? {
        tracing::info!("accounts written before encryption found: sealing their personal values before serving");
        let done = crate::users::encrypt_existing::run(&db, 500, |t| {
            tracing::info!(users = t.users, values = t.values, "sealing existing accounts");
        })
        .await?;
        tracing::info!(users = done.users, values = done.values, "existing accounts sealed");
    }
    crate::retirement::states::sync(&db, &sites.current()).await.context("cannot apply the retirement states")?;
    spawn_key_sweep(db.clone());
    let state = AppState::new(App {
        db: db.clone(),
        users: Users::new(db.clone(), cache),
        sites: Arc::clone(&sites),
        keys: super::key_settings(common),
        metrics: Arc::new(Metrics::default()),
        max_body_bytes: common.max_body_bytes,
        registration_limiter: Arc::default(),
        login_limiter: Arc::default(),
        verified_secrets: Arc::default(),
    });
    tokio::spawn(crate::mail::run_worker(
        db.clone(),
        Arc::clone(&sites),
        std::time::Duration::from_millis(common.mail_retry_ms.max(1)),
    ));
    let listener = TcpListener::bind(&common.bind).await.with_context(|| format!("cannot bind {}", common.bind))?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    spawn_reload_on_sighup(state.clone())?;
    tracing::info!(%addr, sites = sites.current().all().len(), "serving");
    // Scripts and the test harness read the address from this line.
    println!("listening on http://{addr}");
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// How often queued learner keys are looked for (see [`spawn_key_sweep`]).
const KEY_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Destroys learner keys that a finished retirement queued but could not
/// destroy (the key store failed, or the process stopped, right after the
/// commit): now, then every [`KEY_SWEEP_EVERY`].
fn spawn_key_sweep(db: crate::store::Db) {
    tokio::spawn(async move {
        loop {
            match crate::users::sealing::destroy_queued_keys(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "queued learner keys destroyed"),
                Err(e) => {
                    tracing::error!(error = %e, "queued learner keys not destroyed yet: retried by the next sweep")
                }
            }
            tokio::time::sleep(KEY_SWEEP_EVERY).await;
        }
    });
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// right after start-up is never fatal.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: draining in-flight requests");
    })
}

/// Reloads the sites and empties the record cache on every SIGHUP (the
/// operator's lever after editing the database by hand). The handler is
/// installed before this returns, so an early SIGHUP never takes its
/// default action (exit).
fn spawn_reload_on_sighup(state: AppState) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                state.users.cache().flush();
                match crate::app::reload_sites(&state).await {
                    Ok(ids) => tracing::info!(sites = ?ids, "sites reloaded on SIGHUP"),
                    Err(reasons) => {
                        tracing::warn!(errors = ?reasons, "site reload refused; the previous sites keep serving")
                    }
                }
            }
        });
    }
    Ok(())
}
