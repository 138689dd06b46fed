//! The in-process cache of user records, never stale.
//!
//! * Every write drops (or, on SQLite, replaces) the records it changed,
//!   after its commit and before its caller hears back, so a client always
//!   reads its own writes (the store's [`CacheHook`]).
//! * Other instances' writes arrive through PostgreSQL's LISTEN/NOTIFY.
//! * A read that missed may only store what it read if no change to that
//!   user was committed since it began: each miss takes a ticket (the change
//!   sequence number) first, and every change stamps its user's stripe.
//!
//! Records are keyed by user id (ids are unique across tenants; every hit
//! checks the tenant); a second map finds the id from (tenant, username),
//! checked against the record on every hit, so renames need no bookkeeping.

use std::any::Any;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::record::UserRecord;
use crate::store::CacheHook;

const STRIPES: usize = 64;

/// Sequence numbers of the latest change per stripe of user ids.
#[derive(Debug)]
struct Stamps {
    seq: u64,
    /// Nothing read before this sequence number may be stored.
    floor: u64,
    stripes: [u64; STRIPES],
}

/// A miss's permission to store what it reads, if nothing changed meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// Hit and miss counts, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

/// Cached user records.
pub struct RecordCache {
    records: moka::sync::Cache<i64, Arc<UserRecord>>,
    names: moka::sync::Cache<u64, i64>,
    hasher: RandomState,
    stamps: Mutex<Stamps>,
    seq: AtomicU64,
    live: AtomicBool,
    enabled: bool,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("enabled", &self.enabled)
            .field("entries", &self.records.entry_count())
            .finish()
    }
}

impl RecordCache {
    /// A cache of at most `capacity` records (0 disables caching).
    pub fn new(capacity: u64) -> RecordCache {
        RecordCache {
            // The idle limit only bounds memory held for users nobody asks for.
            records: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            names: moka::sync::Cache::builder().max_capacity(capacity).time_to_idle(Duration::from_secs(3600)).build(),
            hasher: RandomState::new(),
            stamps: Mutex::new(Stamps { seq: 0, floor: 0, stripes: [0; STRIPES] }),
            seq: AtomicU64::new(0),
            live: AtomicBool::new(true),
            enabled: capacity > 0,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn name_key(&self, tenant: &str, username: &str) -> u64 {
        self.hasher.hash_one((tenant, username))
    }

    fn stamps(&self) -> std::sync::MutexGuard<'_, Stamps> {
        self.stamps.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn usable(&self) -> bool {
        self.enabled && self.live.load(Ordering::Acquire)
    }

    /// The record of `tenant`'s user `username`, if cached.
    pub fn by_username(&self, tenant: &str, username: &str) -> Option<Arc<UserRecord>> {
        let found = self.usable().then(|| self.lookup(tenant, username)).flatten();
        self.count(found.is_some());
        found
    }

    fn lookup(&self, tenant: &str, username: &str) -> Option<Arc<UserRecord>> {
        let id = self.names.get(&self.name_key(tenant, username))?;
        self.records.get(&id).filter(|r| r.user.tenant == tenant && r.user.username == username)
    }

    /// The record of `tenant`'s user `id`, if cached.
    pub fn by_id(&self, tenant: &str, id: i64) -> Option<Arc<UserRecord>> {
        let found = if self.usable() { self.records.get(&id).filter(|r| r.user.tenant == tenant) } else { None };
        self.count(found.is_some());
        found
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Taken before reading a record that missed.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.seq.load(Ordering::Acquire))
    }

    /// Stores a record read under `ticket`, unless its user changed since.
    pub fn insert(&self, ticket: Ticket, record: Arc<UserRecord>) {
        if !self.usable() {
            return;
        }
        let id = record.user.id;
        let stamps = self.stamps();
        if stamps.floor > ticket.0 || stamps.stripes[stripe(id)] > ticket.0 {
            return;
        }
        self.put(record);
        drop(stamps);
    }

    fn put(&self, record: Arc<UserRecord>) {
        let id = record.user.id;
        self.names.insert(self.name_key(&record.user.tenant, &record.user.username), id);
        self.records.insert(id, record);
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.records.entry_count(),
        }
    }

    /// Drops every record (an operator's SIGHUP, after editing the database by hand).
    pub fn flush(&self) {
        self.reset(self.live.load(Ordering::Acquire));
    }

    fn stamp(&self, stamps: &mut Stamps, id: i64) {
        stamps.seq += 1;
        stamps.stripes[stripe(id)] = stamps.seq;
        self.seq.store(stamps.seq, Ordering::Release);
    }
}

fn stripe(id: i64) -> usize {
    (id.unsigned_abs() % STRIPES as u64) as usize
}

impl CacheHook for RecordCache {
    fn changed(&self, user_ids: &[i64]) {
        let mut stamps = self.stamps();
        for id in user_ids {
            self.stamp(&mut stamps, *id);
            self.records.invalidate(id);
        }
    }

    fn refreshed(&self, user_id: i64, record: Box<dyn Any + Send>) {
        let mut stamps = self.stamps();
        self.stamp(&mut stamps, user_id);
        match record.downcast::<Arc<UserRecord>>() {
            Ok(record) if self.usable() && record.user.id == user_id => self.put(*record),
            _ => self.records.invalidate(&user_id),
        }
    }

    fn reset(&self, live: bool) {
        let mut stamps = self.stamps();
        stamps.seq += 1;
        stamps.floor = stamps.seq;
        self.seq.store(stamps.seq, Ordering::Release);
        self.live.store(live, Ordering::Release);
        self.records.invalidate_all();
        self.names.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::record::Profile;
    use crate::users::store::User;

    fn record(id: i64, tenant: &str, username: &str, bio: &str) -> Arc<UserRecord> {
        Arc::new(UserRecord {
            user: User {
                id,
                tenant: tenant.into(),
                username: username.into(),
                email: format!("{username}@example.com"),
                password_hash: String::new(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
                date_joined: 0,
                last_login: None,
                tokens_revoked_at: None,
                key_id: None,
            },
            profile: Profile { bio: Some(bio.into()), ..Profile::default() },
            social_links: Vec::new(),
            languages: Vec::new(),
            preferences: Vec::new(),
            pending_name_change: None,
            secondary_email: None,
            memberships: Vec::new(),
            renderings: Default::default(),
        })
    }

    #[test]
    fn hits_check_tenant_and_username() {
        let cache = RecordCache::new(100);
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "x"));
        assert!(cache.by_username("alpha", "alice").is_some());
        assert!(cache.by_username("beta", "alice").is_none());
        assert!(cache.by_username("alpha", "Alice").is_none());
        assert!(cache.by_id("alpha", 1).is_some());
        assert!(cache.by_id("beta", 1).is_none());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_stored() {
        let cache = RecordCache::new(100);
        let ticket = cache.ticket();
        cache.changed(&[1]);
        cache.insert(ticket, record(1, "alpha", "alice", "stale"));
        assert!(cache.by_id("alpha", 1).is_none());
        // A change to another stripe does not block it.
        let ticket = cache.ticket();
        cache.changed(&[2]);
        cache.insert(ticket, record(1, "alpha", "alice", "fresh"));
        assert!(cache.by_id("alpha", 1).is_some());
    }

    #[test]
    fn changes_drop_and_refreshes_replace() {
        let cache = RecordCache::new(100);
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "old"));
        cache.refreshed(1, Box::new(record(1, "alpha", "alice", "new")));
        assert_eq!(cache.by_id("alpha", 1).unwrap().profile.bio.as_deref(), Some("new"));
        cache.changed(&[1]);
        assert!(cache.by_id("alpha", 1).is_none());
    }

    #[test]
    fn a_renamed_user_is_not_found_under_the_old_name() {
        let cache = RecordCache::new(100);
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "x"));
        cache.refreshed(1, Box::new(record(1, "alpha", "retired_123", "")));
        assert!(cache.by_username("alpha", "alice").is_none());
        assert!(cache.by_username("alpha", "retired_123").is_some());
    }

    #[test]
    fn not_live_means_no_caching() {
        let cache = RecordCache::new(100);
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "x"));
        cache.reset(false);
        assert!(cache.by_id("alpha", 1).is_none());
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "x"));
        assert!(cache.by_id("alpha", 1).is_none());
        cache.reset(true);
        cache.insert(cache.ticket(), record(1, "alpha", "alice", "x"));
        assert!(cache.by_id("alpha", 1).is_some());
        let disabled = RecordCache::new(0);
        disabled.insert(disabled.ticket(), record(1, "alpha", "alice", "x"));
        assert!(disabled.by_id("alpha", 1).is_none());
    }
}
