//! The base every domain stands on: the user row, username and e-mail keys,
//! lookups, permissions, the audit log, retired identifiers, and the user
//! record the hot reads render, cached in memory.
//!
//! Accounts, preferences, retirement and auth build on this module; it
//! imports none of them.

pub mod age;
pub mod cache;
pub mod encrypt_existing;
pub mod record;
pub mod retired;
pub mod sealing;
pub mod store;
pub mod types;

use std::sync::Arc;

pub use cache::RecordCache;
pub use record::{Profile, UserRecord};
pub use store::User;

use crate::store::{Db, StoreError, StoreResult};

/// The database and the record cache in front of it.
#[derive(Clone, Debug)]
pub struct Users {
    db: Db,
    cache: Arc<RecordCache>,
}

impl Users {
    /// `cache` must be the hook `db` was opened with, so writes reach it.
    pub fn new(db: Db, cache: Arc<RecordCache>) -> Users {
        Users { db, cache }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The cache (for `/metrics` and SIGHUP).
    pub fn cache(&self) -> &RecordCache {
        &self.cache
    }

    /// The record of `tenant`'s user `username`: from the cache, else one read.
    pub async fn by_username(&self, tenant: &str, username: &str) -> StoreResult<Option<Arc<UserRecord>>> {
        if !types::could_be_stored(username) {
            return Ok(None);
        }
        if let Some(found) = self.cache.by_username(tenant, username) {
            return Ok(Some(found));
        }
        let ticket = self.cache.ticket();
        let (t, u) = (tenant.to_owned(), username.to_owned());
        let found = self.db.read(move |c| Box::pin(async move { record::by_username(c, &t, &u).await })).await?;
        Ok(found.map(|r| self.keep(ticket, r)))
    }

    /// The record of `tenant`'s user `id`: from the cache, else one read.
    pub async fn by_id(&self, tenant: &str, id: i64) -> StoreResult<Option<Arc<UserRecord>>> {
        if let Some(found) = self.cache.by_id(tenant, id) {
            return Ok(Some(found));
        }
        let ticket = self.cache.ticket();
        let t = tenant.to_owned();
        let found = self.db.read(move |c| Box::pin(async move { record::by_id(c, &t, id).await })).await?;
        Ok(found.map(|r| self.keep(ticket, r)))
    }

    /// The record of the account Open edX knows as user `lms_user_id`
    /// (see [`store::id_by_lms_user_id`]).
    pub async fn by_lms_user_id(&self, tenant: &str, lms_user_id: i64) -> StoreResult<Option<Arc<UserRecord>>> {
        let t = tenant.to_owned();
        let id =
            self.db.read(move |c| Box::pin(async move { store::id_by_lms_user_id(c, &t, lms_user_id).await })).await?;
        match id {
            Some(id) => self.by_id(tenant, id).await,
            None => Ok(None),
        }
    }

    /// The records of two users, from the cache or together in one read.
    pub async fn pair(
        &self,
        tenant: &str,
        first: &str,
        second: &str,
    ) -> StoreResult<(Option<Arc<UserRecord>>, Option<Arc<UserRecord>>)> {
        let a = self.cache.by_username(tenant, first);
        let b = if first == second { a.clone() } else { self.cache.by_username(tenant, second) };
        match (a, b) {
            (Some(a), Some(b)) => Ok((Some(a), Some(b))),
            (Some(a), None) => Ok((Some(a), self.by_username(tenant, second).await?)),
            (None, Some(b)) => Ok((self.by_username(tenant, first).await?, Some(b))),
            (None, None) if first == second => {
                let found = self.by_username(tenant, first).await?;
                Ok((found.clone(), found))
            }
            (None, None) => {
                let found = self.by_usernames(tenant, &[first.to_owned(), second.to_owned()]).await?;
                let pick = |name: &str| found.iter().find(|r| r.user.username == name).cloned();
                Ok((pick(first), pick(second)))
            }
        }
    }

    /// The records of `tenant`'s users named exactly one of `usernames`, in
    /// id order; those not cached come from one read.
    pub async fn by_usernames(&self, tenant: &str, usernames: &[String]) -> StoreResult<Vec<Arc<UserRecord>>> {
        let mut found = Vec::with_capacity(usernames.len());
        let mut missing = Vec::new();
        for name in usernames.iter().filter(|n| types::could_be_stored(n)) {
            match self.cache.by_username(tenant, name) {
                Some(r) => found.push(r),
                None if !missing.contains(name) => missing.push(name.clone()),
                None => {}
            }
        }
        if !missing.is_empty() {
            let ticket = self.cache.ticket();
            let t = tenant.to_owned();
            let read: Vec<UserRecord> =
                self.db.read(move |c| Box::pin(async move { record::by_usernames(c, &t, &missing).await })).await?;
            found.extend(read.into_iter().map(|r| self.keep(ticket, r)));
        }
        found.sort_by_key(|r| r.user.id);
        found.dedup_by_key(|r| r.user.id);
        Ok(found)
    }

    /// The record of `tenant`'s user whose address is exactly `email` (one read).
    pub async fn by_email(&self, tenant: &str, email: &str) -> StoreResult<Option<Arc<UserRecord>>> {
        if !types::could_be_stored(email) {
            return Ok(None);
        }
        let ticket = self.cache.ticket();
        let (t, e) = (tenant.to_owned(), email.to_owned());
        let found = self.db.read(move |c| Box::pin(async move { record::by_email(c, &t, &e).await })).await?;
        Ok(found.map(|r| self.keep(ticket, r)))
    }

    fn keep(&self, ticket: cache::Ticket, record: UserRecord) -> Arc<UserRecord> {
        let record = Arc::new(record);
        self.cache.insert(ticket, Arc::clone(&record));
        record
    }
}

/// Whether `user` holds `permission` (superusers hold every permission).
pub async fn has_permission(db: &Db, user: &User, permission: &str) -> StoreResult<bool> {
    if user.is_superuser {
        return Ok(true);
    }
    let (id, permission) = (user.id, permission.to_owned());
    db.read(move |c| Box::pin(async move { store::has_permission(c, id, &permission).await })).await
}

/// Offers a record read back inside a write job to the cache (see
/// [`crate::store::Conn::offer_fresh`]); returns it for the job's answer.
pub async fn read_back(c: &mut crate::store::Conn, tenant: &str, user_id: i64) -> StoreResult<Arc<UserRecord>> {
    let record = Arc::new(record::by_id(c, tenant, user_id).await?.ok_or(StoreError::NoRow)?);
    c.offer_fresh(user_id, Box::new(Arc::clone(&record)));
    Ok(record)
}
