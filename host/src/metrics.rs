//! Prometheus metrics through `prometheus-client`. Every label comes from a
//! closed set: the route template axum matched (never the raw path), the
//! method from a fixed list, and the status class. Whatever clients send, the
//! number of series stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::PoolStats;
use crate::users::cache::CacheStats;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// A request method, from a closed set.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::upper_case_acronyms)]
pub enum MethodLabel {
    GET,
    HEAD,
    POST,
    PUT,
    PATCH,
    DELETE,
    OPTIONS,
    OTHER,
}

impl MethodLabel {
    fn of(method: &str) -> MethodLabel {
        match method {
            "GET" => MethodLabel::GET,
            "HEAD" => MethodLabel::HEAD,
            "POST" => MethodLabel::POST,
            "PUT" => MethodLabel::PUT,
            "PATCH" => MethodLabel::PATCH,
            "DELETE" => MethodLabel::DELETE,
            "OPTIONS" => MethodLabel::OPTIONS,
            _ => MethodLabel::OTHER,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: MethodLabel,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: MethodLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The process's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// What the last scrape read; [`Sampled`] encodes it.
    snapshot: Arc<Mutex<Snapshot>>,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    reloads: Family<OutcomeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "userapi_http_requests",
            "HTTP requests by route template, method and status class",
            requests.clone(),
        );
        let durations: HistogramFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "userapi_http_request_duration_seconds",
            "Time to answer a request, by route template and method",
            durations.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register("userapi_site_reloads", "Site reloads by outcome", reloads.clone());
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        registry.register_collector(Box::new(Sampled(Arc::clone(&snapshot))));
        Metrics { registry, snapshot, requests, durations, reloads }
    }
}

impl Metrics {
    /// Records one finished request. `route` is the matched route template
    /// (or [`UNMATCHED`]).
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let method = MethodLabel::of(method);
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests.get_or_create(&RequestLabels { route: route.to_owned(), method, status }).inc();
        self.durations.get_or_create(&RouteLabels { route: route.to_owned(), method }).observe(took.as_secs_f64());
    }

    /// Records a site reload.
    pub fn observe_reload(&self, ok: bool) {
        self.reloads.get_or_create(&OutcomeLabels { outcome: if ok { "ok" } else { "failed" } }).inc();
    }

    /// The exposition in the OpenMetrics text format, with the values that
    /// are read when scraped.
    pub fn render(&self, now: Snapshot) -> String {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = now;
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// Values read at scrape time from the parts that keep their own counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub sites_loaded: usize,
    pub cache: CacheStats,
    pub pool: PoolStats,
}

/// Encodes the latest [`Snapshot`] and the process-wide counters.
#[derive(Debug)]
struct Sampled(Arc<Mutex<Snapshot>>);

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        let e = &mut encoder;
        gauge(e, "userapi_sites_loaded", "Sites currently served", now.sites_loaded as u64)?;
        counter(e, "userapi_cache_hits", "User records served from memory", now.cache.hits)?;
        counter(e, "userapi_cache_misses", "User records read from the database", now.cache.misses)?;
        gauge(e, "userapi_cache_entries", "User records in memory", now.cache.entries)?;
        gauge(e, "userapi_db_connections", "Database connections (SQLite: connection threads)", now.pool.connections)?;
        if let Some(idle) = now.pool.idle {
            gauge(e, "userapi_db_connections_idle", "Idle PostgreSQL pool connections", idle)?;
        }
        if let Some(queued) = now.pool.queued {
            gauge(e, "userapi_db_jobs_queued", "SQLite jobs waiting for a connection thread", queued)?;
        }
        let (in_use, capacity) = crate::plugins::runtime::pool_usage();
        gauge(e, "userapi_plugin_instances_in_use", "Plugin instances running a call", in_use)?;
        gauge(e, "userapi_plugin_instances_capacity", "Plugin instances the pool can hold at once", capacity)?;
        let sqlite = crate::store::sqlite::counters();
        counter(e, "userapi_sqlite_prepares", "SQLite statements prepared from SQL text", sqlite.prepares)?;
        counter(
            e,
            "userapi_sqlite_reprepares",
            "Cached SQLite statements re-planned before running",
            sqlite.reprepares,
        )?;
        counter(e, "userapi_sqlite_commits", "SQLite group commits", sqlite.commits)?;
        counter(
            e,
            "userapi_sqlite_committed_writes",
            "Write jobs carried by SQLite group commits",
            sqlite.committed_jobs,
        )?;
        let mail = crate::mail::counters();
        counter(e, "userapi_mail_delivered", "Messages delivered over SMTP", mail.delivered)?;
        counter(e, "userapi_mail_failed_attempts", "SMTP delivery attempts that failed", mail.failed_attempts)?;
        gauge(e, "userapi_mail_pending", "Messages waiting for delivery", mail.pending)?;
        gauge(e, "userapi_mail_dead_letters", "Messages given up after every retry", mail.dead)?;
        Ok(())
    }
}

/// A counter kept outside the registry by a part of the service.
#[derive(Debug, Default)]
pub struct Tally(AtomicU64);

impl Tally {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the value (for gauges sampled by their owner).
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        let metrics = Metrics::default();
        metrics.observe_request("/api/user/v1/accounts/{username}", "GET", 200, Duration::from_millis(2));
        let once = metrics.render(Snapshot::default());
        for i in 0..1000 {
            metrics.observe_request(
                "/api/user/v1/accounts/{username}",
                &format!("M{i}"),
                200 + (i % 3),
                Duration::ZERO,
            );
            metrics.observe_request(UNMATCHED, "GET", 404, Duration::ZERO);
        }
        let after = metrics.render(Snapshot::default());
        assert!(after.lines().count() <= once.lines().count() * 3, "{after}");
        assert!(after.contains(
            "userapi_http_requests_total{route=\"/api/user/v1/accounts/{username}\",method=\"OTHER\",status=\"2xx\"} 1000"
        ));
        assert!(after.contains("userapi_sites_loaded 0"));
    }
}
