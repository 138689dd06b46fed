//! `userapi serve`: the HTTP service.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{load_sites, open_db, CommonArgs};
use crate::app::{router, AppState};
use crate::metrics::Metrics;

/// Serves until SIGINT/SIGTERM, then drains in-flight requests.
pub async fn run(common: &CommonArgs) -> anyhow::Result<()> {
    let sites = Arc::new(load_sites(common)?);
    let db = open_db(common).await?;
    let state = AppState {
        db: db.clone(),
        sites: Arc::clone(&sites),
        metrics: Arc::new(Metrics::default()),
        max_body_bytes: common.max_body_bytes,
    };
    let listener = TcpListener::bind(&common.bind)
        .await
        .with_context(|| format!("cannot bind {}", common.bind))?;
    let addr = listener.local_addr()?;
    spawn_reload_on_sighup(state.clone());
    tracing::info!(%addr, sites = sites.current().all().len(), "serving");
    // Scripts and the test harness read the address from this line.
    println!("listening on http://{addr}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

fn spawn_reload_on_sighup(state: AppState) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match state.sites.reload() {
                Ok(set) => {
                    state.metrics.observe_reload(true);
                    tracing::info!(sites = set.all().len(), "sites reloaded on SIGHUP");
                }
                Err(e) => {
                    state.metrics.observe_reload(false);
                    tracing::warn!(error = %e, "site reload refused; the previous sites keep serving");
                }
            }
        }
    });
}
