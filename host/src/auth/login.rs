//! Checking a password for an account, shared by the password grant and the
//! browser login: the same work whether or not the account exists, and a
//! legacy hash upgraded on success.

use std::sync::Arc;

use super::password::{self, Verified};
use crate::store::{Conn, StoreResult};
use crate::users::{self, UserRecord};

/// An account whose password was right, and its new hash when the stored
/// one was in a legacy scheme.
#[derive(Debug)]
pub struct PasswordOk {
    pub record: Arc<UserRecord>,
    rehash: Option<String>,
}

/// Checks `pw` against `record`'s password (against a dummy hash when there
/// is no record, so both cases take the same time). `None`: refused.
pub async fn check(record: Option<Arc<UserRecord>>, pw: String) -> Option<PasswordOk> {
    let stored = record.as_ref().map(|r| r.user.password_hash.clone());
    let verified = password::verify_off_thread(pw.clone(), stored).await;
    let record = match (verified, record) {
        (Verified::No, _) | (_, None) => return None,
        (_, Some(record)) => record,
    };
    let rehash = match verified {
        Verified::YesRehash => Some(password::hash_off_thread(pw).await),
        _ => None,
    };
    Some(PasswordOk { record, rehash })
}

impl PasswordOk {
    /// Records the login inside a write job: the upgraded hash, if any, and
    /// the login time.
    pub async fn record_login(&self, c: &mut Conn) -> StoreResult<()> {
        let id = self.record.user.id;
        if let Some(hash) = &self.rehash {
            users::store::set_password_hash(c, id, hash).await?;
        }
        users::store::touch_last_login(c, id).await
    }
}
