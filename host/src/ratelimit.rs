//! Sliding-window attempt counters kept in memory, one queue of instants per
//! key. Each instance limits on its own (several instances each allow the
//! full rate), as Open edX's cache-backed limits do per cache.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many keys, keys with no attempt inside their window are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Attempts per key within a sliding window.
#[derive(Debug)]
pub struct Limiter<K> {
    hits: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K> Default for Limiter<K> {
    fn default() -> Self {
        Limiter { hits: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq> Limiter<K> {
    /// Records an attempt for `key`; false (and nothing recorded) when `key`
    /// already made `rate` attempts within `window`.
    pub fn allow(&self, key: K, rate: usize, window: Duration) -> bool {
        let Ok(mut hits) = self.hits.lock() else { return true };
        let now = Instant::now();
        if hits.len() > PRUNE_ABOVE {
            hits.retain(|_, queue| queue.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
        let queue = hits.entry(key).or_default();
        while queue.front().is_some_and(|t| now.duration_since(*t) > window) {
            queue.pop_front();
        }
        if queue.len() >= rate {
            return false;
        }
        queue.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_within_the_window() {
        let limiter = Limiter::default();
        let window = Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.allow("a", 3, window)));
        assert!(!limiter.allow("a", 3, window));
        assert!(limiter.allow("b", 3, window));
        assert!(limiter.allow("c", 1, Duration::ZERO));
        std::thread::sleep(Duration::from_millis(2));
        assert!(limiter.allow("c", 1, Duration::ZERO), "attempts outside the window are forgotten");
    }
}
