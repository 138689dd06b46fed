//! Keyed rate limits kept in memory: one `governor` GCRA limiter per key,
//! held in a bounded `moka` cache per quota. Keys idle for a whole window
//! (whose allowance has fully recovered) expire, and the cache never holds
//! more than [`MAX_KEYS`]: under a flood of distinct keys, its admission
//! policy keeps the keys seen often, so memory stays flat while the keys that
//! keep trying stay counted. Each instance limits on its own (several
//! instances each allow the full rate), as Open edX's cache-backed limits do
//! per cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// Keys a limiter holds at most, per quota.
pub const MAX_KEYS: u64 = 50_000;

type Table<K> = moka::sync::Cache<K, Arc<DefaultDirectRateLimiter>>;
/// The tables by (burst, window), each with its quota.
type Tables<K> = HashMap<(u32, Duration), (Quota, Table<K>)>;

/// Attempts per key: at most `rate` in a burst, recovering at `rate` per
/// `window` (GCRA, so the allowance refills steadily rather than all at once).
pub struct Limiter<K: Hash + Eq + Clone + Send + Sync + 'static> {
    by_quota: Mutex<Tables<K>>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("keys", &self.keys()).finish()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Default for Limiter<K> {
    fn default() -> Self {
        Limiter { by_quota: Mutex::new(HashMap::new()), clock: DefaultClock::default() }
    }
}

/// Refused: how long until the key may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Limiter<K> {
    /// Counts an attempt for `key`; refused (and nothing counted) when `key`
    /// has no allowance left under `rate` per `window`. A rate of 0 refuses
    /// everything.
    pub fn check(&self, key: K, rate: usize, window: Duration) -> Result<(), RetryAfter> {
        let Some((quota, table)) = self.table(rate, window) else { return Err(RetryAfter(window)) };
        let limiter = table.get_with(key, || Arc::new(DefaultDirectRateLimiter::direct(quota)));
        limiter.check().map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }

    /// Whether `key` may make one more attempt (see [`Limiter::check`]).
    pub fn allow(&self, key: K, rate: usize, window: Duration) -> bool {
        self.check(key, rate, window).is_ok()
    }

    /// Keys held over every quota (after pending evictions are applied).
    pub fn keys(&self) -> u64 {
        let Ok(by_quota) = self.by_quota.lock() else { return 0 };
        by_quota
            .values()
            .map(|(_, table)| {
                table.run_pending_tasks();
                table.entry_count()
            })
            .sum()
    }

    fn table(&self, rate: usize, window: Duration) -> Option<(Quota, Table<K>)> {
        let burst = NonZeroU32::new(u32::try_from(rate).unwrap_or(u32::MAX))?;
        let period = (window / burst.get()).max(Duration::from_nanos(1));
        let mut by_quota = self.by_quota.lock().unwrap_or_else(|p| p.into_inner());
        let (quota, table) = by_quota.entry((burst.get(), window)).or_insert_with(|| {
            let quota = Quota::with_period(period).unwrap_or(Quota::per_second(burst)).allow_burst(burst);
            let table = moka::sync::Cache::builder().max_capacity(MAX_KEYS).time_to_idle(window).build();
            (quota, table)
        });
        Some((*quota, table.clone()))
    }
}

/// The key of a client address: IPv6 clients are limited per /64, the
/// smallest block one subscriber is usually given.
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn counts_per_key() {
        let limiter = Limiter::default();
        let window = Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.allow("a", 3, window)));
        let Err(RetryAfter(wait)) = limiter.check("a", 3, window) else { panic!("the fourth attempt is refused") };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limiter.allow("b", 3, window), "keys are counted apart");
        assert!(limiter.allow("a", 3, Duration::from_secs(61)), "quotas are counted apart");
        assert!(!limiter.allow("c", 0, window), "a rate of 0 refuses");
        let fast = Duration::from_millis(20);
        assert!(limiter.allow("d", 1, fast));
        assert!(!limiter.allow("d", 1, fast));
        std::thread::sleep(Duration::from_millis(25));
        assert!(limiter.allow("d", 1, fast), "the allowance recovers");
    }

    #[test]
    fn a_hundred_thousand_addresses_keep_the_table_bounded() {
        let limiter = Limiter::default();
        let window = Duration::from_secs(7 * 24 * 3600);
        let persistent = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut refused = 0;
        for i in 0..100_000u32 {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = limiter.allow(address, 30, window);
            // One address keeps trying throughout: it stays counted.
            if i % 1000 == 0 && !limiter.allow(persistent, 30, window) {
                refused += 1;
            }
            if i % 10_000 == 0 {
                assert!(limiter.keys() <= MAX_KEYS, "{} keys after {i}", limiter.keys());
            }
        }
        assert!(limiter.keys() <= MAX_KEYS, "{} keys", limiter.keys());
        assert_eq!(refused, 100 - 30, "the persistent address used its 30 and was refused after");
    }

    #[test]
    fn ipv6_is_keyed_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
