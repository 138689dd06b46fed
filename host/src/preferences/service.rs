//! Preference rules: who may read or write whose preferences (§3), and the
//! all-or-nothing update of §5. The HTTP routes, the accounts PATCH and the
//! CLI go through these functions.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{rules, store};
use crate::messages::{FieldErrors, MessagePair};
use crate::pyrepr::py_str;
use crate::sites::Site;
use crate::store::{Conn, Db, StoreError, StoreResult};
use crate::users::{age, store as users, User, UserRecord, Users};

/// What the caller wants to do with someone's preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Owner or any staff.
    Read,
    /// Owner only.
    Write,
}

/// Why a preference request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PreferenceError {
    /// Neither the owner nor staff (DRF's 403, whether or not the user exists).
    #[error("permission denied")]
    PermissionDenied,
    /// Staff may read others' preferences, never write them (403, empty).
    #[error("staff cannot change another user's preferences")]
    ReadOnly,
    /// No such user (for staff), or no such preference.
    #[error("not found")]
    NotFound,
    #[error("No data provided for user preference update")]
    NoData,
    /// Every failing key of a PATCH.
    #[error("invalid preferences")]
    Invalid(FieldErrors),
    /// The one failing key of a PUT.
    #[error("invalid preference: {}", .0.developer_message)]
    InvalidValue(MessagePair),
    #[error("saving preference {key:?} failed")]
    SaveFailed { key: String, value: String },
    #[error("deleting preference {key:?} failed")]
    DeleteFailed { key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user whose preferences `caller` may use for `access` (§3): the owner
/// always; staff may read (404 for an unknown user) but never write; anyone
/// else is refused whether or not the user exists.
pub async fn target(
    users: &Users,
    site: &Site,
    caller: &Arc<UserRecord>,
    username: &str,
    access: Access,
) -> Result<Arc<UserRecord>, PreferenceError> {
    if caller.user.username == username {
        return Ok(Arc::clone(caller));
    }
    if !caller.user.is_staff {
        return Err(PreferenceError::PermissionDenied);
    }
    if access == Access::Write {
        return Err(PreferenceError::ReadOnly);
    }
    users.by_username(&site.tenant, username).await?.ok_or(PreferenceError::NotFound)
}

/// Every preference of `record` as a JSON object, in the order they were set.
pub fn all(record: &UserRecord) -> Map<String, Value> {
    record.preferences.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// One preference's value.
pub fn get(record: &UserRecord, key: &str) -> Result<String, PreferenceError> {
    record.preference(key).map(str::to_owned).ok_or(PreferenceError::NotFound)
}

/// Sets (`Some`) or deletes (`None`) one preference inside a write job, with
/// its audit row; returns whether anything changed. For other domains'
/// transactions (the account PATCH writes `account_privacy`).
pub async fn write(c: &mut Conn, tenant: &str, user_id: i64, key: &str, value: Option<&str>) -> StoreResult<bool> {
    let (changed, action) = match value {
        Some(value) => (store::upsert(c, user_id, key, value).await?, "preference_set"),
        None => (store::delete(c, user_id, key).await?, "preference_deleted"),
    };
    if changed {
        users::audit(c, tenant, Some(user_id), Some(user_id), action, Some(key)).await?;
    }
    Ok(changed)
}

/// Applies a merge patch: `null` deletes, anything else is stored in its
/// Python string form. Every value is validated first; then all changes are
/// written in one transaction, or none.
pub async fn update(db: &Db, site: &Site, user: &User, patch: &Value) -> Result<(), PreferenceError> {
    let Some(patch) = patch.as_object().filter(|m| !m.is_empty()) else {
        return Err(PreferenceError::NoData);
    };
    let changes = validated_changes(site, patch)?;
    let (tenant, user_id) = (site.tenant.clone(), user.id);
    db.write(move |c| {
        Box::pin(async move {
            for (key, value) in &changes {
                write(c, &tenant, user_id, key, value.as_deref()).await.map_err(|e| failure(e, key, value))?;
            }
            Ok(())
        })
    })
    .await
}

/// A store failure while writing `key`, in the shape of §5: the cause stays in the log.
fn failure(e: StoreError, key: &str, value: &Option<String>) -> PreferenceError {
    tracing::error!(%key, error = %e, "preference write failed");
    match value {
        Some(value) => PreferenceError::SaveFailed { key: key.to_owned(), value: value.clone() },
        None => PreferenceError::DeleteFailed { key: key.to_owned() },
    }
}

fn validated_changes(
    site: &Site,
    patch: &Map<String, Value>,
) -> Result<Vec<(String, Option<String>)>, PreferenceError> {
    let mut errors = FieldErrors::new();
    let mut changes = Vec::with_capacity(patch.len());
    for (key, value) in patch {
        if value.is_null() {
            changes.push((key.clone(), None));
            continue;
        }
        let value = py_str(value);
        match rules::validate(site, key, &value) {
            Ok(()) => changes.push((key.clone(), Some(value))),
            Err(e) => {
                errors.insert(key.clone(), e);
            }
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(PreferenceError::Invalid(errors))
    }
}

/// Sets one preference (the detail route's PUT); errors are flattened.
pub async fn set_one(db: &Db, site: &Site, user: &User, key: &str, value: &Value) -> Result<(), PreferenceError> {
    let value = if value.is_null() { String::new() } else { py_str(value) };
    rules::validate(site, key, &value).map_err(PreferenceError::InvalidValue)?;
    let (tenant, user_id, key) = (site.tenant.clone(), user.id, key.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let value = Some(value);
            write(c, &tenant, user_id, &key, value.as_deref()).await.map_err(|e| failure(e, &key, &value))?;
            Ok(())
        })
    })
    .await
}

/// Deletes one preference; `NotFound` when it did not exist.
pub async fn delete_one(db: &Db, site: &Site, user: &User, key: &str) -> Result<(), PreferenceError> {
    let (tenant, user_id, key) = (site.tenant.clone(), user.id, key.to_owned());
    let existed = db
        .write(move |c| {
            Box::pin(async move { write(c, &tenant, user_id, &key, None).await.map_err(|e| failure(e, &key, &None)) })
        })
        .await?;
    if existed {
        Ok(())
    } else {
        Err(PreferenceError::NotFound)
    }
}

/// The org tag key of the e-mail opt-in.
pub const EMAIL_OPTIN_KEY: &str = "email-optin";

/// Records the e-mail opt-in for `org` (§9): forced off for accounts under
/// the site's `email_optin_minimum_age` (an unknown birth year does not block).
pub async fn update_email_opt_in(
    db: &Db,
    site: &Site,
    record: &UserRecord,
    org: &str,
    opt_in: bool,
) -> Result<bool, PreferenceError> {
    let under_age = age::is_under(record.profile.year_of_birth, Some(site.config.email_optin_minimum_age), false);
    let stored = opt_in && !under_age;
    let (tenant, user_id, org) = (site.tenant.clone(), record.user.id, org.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let value = if stored { "True" } else { "False" };
            store::upsert_org_tag(c, user_id, &org, EMAIL_OPTIN_KEY, value).await?;
            users::audit(c, &tenant, Some(user_id), Some(user_id), "email_optin_set", Some(&org)).await?;
            Ok::<_, PreferenceError>(())
        })
    })
    .await?;
    Ok(stored)
}

/// Records (or removes) `user_id`'s membership of `org`, which visibility
/// policies and partner reports read.
pub async fn set_org_membership(db: &Db, user_id: i64, org: &str, member: bool) -> StoreResult<()> {
    let org = org.to_owned();
    db.write(move |c| {
        Box::pin(async move {
            if member {
                store::upsert_org_tag(c, user_id, &org, store::MEMBERSHIP_KEY, "True").await
            } else {
                store::delete_org_tag(c, user_id, &org, store::MEMBERSHIP_KEY).await
            }
        })
    })
    .await
}

/// Every org `user_id` has a tag for, sorted (retirement snapshots them).
pub async fn orgs_of(c: &mut Conn, user_id: i64) -> StoreResult<Vec<String>> {
    store::orgs_of(c, user_id).await
}

/// Turns every e-mail opt-in of `user_id` off (retirement's `retire_mailings`).
pub async fn opt_out_everywhere(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    store::set_all_org_tags(c, user_id, EMAIL_OPTIN_KEY, "False").await
}

/// Deletes every preference and org tag of `user_id` (retirement's erasure).
pub async fn erase(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    store::erase(c, user_id).await
}

/// The organisation of a course key: `course-v1:Org+Number+Run` or `Org/Number/Run`.
pub fn course_org(course_id: &str) -> Option<&str> {
    let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "-_.~%".contains(c));
    let parts: Vec<&str> = if let Some(rest) = course_id.strip_prefix("course-v1:") {
        rest.split('+').collect()
    } else {
        course_id.split('/').collect()
    };
    match parts.as_slice() {
        [org, number, run] if part_ok(org) && part_ok(number) && part_ok(run) => Some(org),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::course_org;

    #[test]
    fn course_keys() {
        assert_eq!(course_org("course-v1:edX+DemoX+Demo_Course"), Some("edX"));
        assert_eq!(course_org("MITx/6.002x/2012_Fall"), Some("MITx"));
        for bad in ["", "course-v1:edX+DemoX", "not a course", "a/b", "course-v1:a+b+c+d", "a//c"] {
            assert_eq!(course_org(bad), None, "{bad}");
        }
    }
}
