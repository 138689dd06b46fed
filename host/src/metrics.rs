//! Prometheus metrics, kept in atomics (no lock on the request path) and
//! rendered as text. Methods come from a closed set, so clients cannot
//! create series.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::users::cache::CacheStats;

const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"];
/// Status codes 100–599.
const STATUSES: usize = 500;

/// Process-wide counters.
#[derive(Debug)]
pub struct Metrics {
    /// Requests per (method, status − 100).
    requests: Vec<AtomicU64>,
    /// Requests per latency bucket (the last one: over every bound).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_micros: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..METHODS.len() * STATUSES).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            duration_sum_micros: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe_request(&self, method: &str, status: u16, took: Duration) {
        let m = METHODS.iter().position(|known| *known == method).unwrap_or(METHODS.len() - 1);
        let s = usize::from(status.clamp(100, 599) - 100);
        self.requests[m * STATUSES + s].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| secs <= *bound).unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.duration_sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Records a site reload.
    pub fn observe_reload(&self, ok: bool) {
        let counter = if ok { &self.reloads_ok } else { &self.reloads_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, sites_loaded: usize, cache: &CacheStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP userapi_http_requests_total HTTP requests by method and status.\n");
        out.push_str("# TYPE userapi_http_requests_total counter\n");
        for (i, counter) in self.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                let (method, status) = (METHODS[i / STATUSES], i % STATUSES + 100);
                let _ = writeln!(out, "userapi_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str("# HELP userapi_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE userapi_http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "userapi_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = cumulative + self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let sum = self.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "userapi_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "userapi_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "userapi_http_request_duration_seconds_count {count}");
        out.push_str("# HELP userapi_sites_loaded Sites currently served.\n# TYPE userapi_sites_loaded gauge\n");
        let _ = writeln!(out, "userapi_sites_loaded {sites_loaded}");
        out.push_str(
            "# HELP userapi_site_reloads_total Site reloads by outcome.\n# TYPE userapi_site_reloads_total counter\n",
        );
        let _ =
            writeln!(out, "userapi_site_reloads_total{{outcome=\"ok\"}} {}", self.reloads_ok.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "userapi_site_reloads_total{{outcome=\"failed\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(&mut out, "userapi_cache_hits_total", "User records served from memory.", cache.hits);
        counter(&mut out, "userapi_cache_misses_total", "User records read from the database.", cache.misses);
        let _ = writeln!(
            out,
            "# HELP userapi_cache_entries User records in memory.\n# TYPE userapi_cache_entries gauge\nuserapi_cache_entries {}",
            cache.entries
        );
        let sqlite = crate::store::sqlite::counters();
        counter(
            &mut out,
            "userapi_sqlite_prepares_total",
            "SQLite statements prepared from SQL text.",
            sqlite.prepares,
        );
        counter(
            &mut out,
            "userapi_sqlite_reprepares_total",
            "Cached SQLite statements re-planned before running.",
            sqlite.reprepares,
        );
        counter(&mut out, "userapi_sqlite_commits_total", "SQLite group commits.", sqlite.commits);
        counter(
            &mut out,
            "userapi_sqlite_committed_writes_total",
            "Write jobs carried by SQLite group commits.",
            sqlite.committed_jobs,
        );
        out
    }
}
