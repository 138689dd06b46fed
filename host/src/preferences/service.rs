//! Preference rules: who may read or write whose preferences (§3), and the
//! all-or-nothing update of §5. The HTTP routes and other modules go
//! through these functions.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::{rules, store};
use crate::accounts::age;
use crate::accounts::store::{self as accounts, audit, User};
use crate::http::error::{ApiError, ApiResult, MessagePair};
use crate::pyrepr::py_str;
use crate::sites::Site;
use crate::store::Db;

/// What the caller wants to do with someone's preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Owner or any staff.
    Read,
    /// Owner only.
    Write,
}

/// The user whose preferences `caller` may use for `access` (§3): the owner
/// always; staff may read (404 empty for an unknown user) but never write
/// (403 empty); anyone else gets DRF's 403 whether or not the user exists.
pub async fn target(db: &Db, site: &Site, caller: &User, username: &str, access: Access) -> ApiResult<User> {
    if caller.username == username {
        return Ok(caller.clone());
    }
    if !caller.is_staff {
        return Err(ApiError::permission_denied());
    }
    if access == Access::Write {
        return Err(ApiError::empty(StatusCode::FORBIDDEN));
    }
    accounts::find_by_username(db, &site.tenant, username).await?.ok_or_else(ApiError::not_found)
}

fn no_data() -> ApiError {
    ApiError::messages(
        StatusCode::BAD_REQUEST,
        "No data provided for user preference update",
        Some("No data provided for user preference update".into()),
    )
}

fn save_failed(key: &str, value: &str, reason: impl std::fmt::Display) -> ApiError {
    tracing::error!(%key, error = %reason, "preference save failed");
    ApiError::messages(
        StatusCode::BAD_REQUEST,
        format!("Save failed for user preference '{key}' with value '{value}': {reason}"),
        Some(format!("Save failed for user preference '{key}' with value '{value}'.")),
    )
}

fn delete_failed(key: &str, reason: impl std::fmt::Display) -> ApiError {
    tracing::error!(%key, error = %reason, "preference delete failed");
    ApiError::messages(
        StatusCode::BAD_REQUEST,
        format!("Delete failed for user preference '{key}': {reason}"),
        Some(format!("Delete failed for user preference '{key}'.")),
    )
}

/// Applies a merge patch: `null` deletes, anything else is stored in its
/// Python string form. Every value is validated first; then all changes are
/// written in one transaction, or none.
pub async fn update(db: &Db, site: &Site, user: &User, patch: &Value) -> ApiResult<()> {
    let Some(patch) = patch.as_object().filter(|m| !m.is_empty()) else {
        return Err(no_data());
    };
    let changes = validated_changes(site, patch)?;
    let mut tx = db.begin().await?;
    for (key, value) in &changes {
        match value {
            Some(value) => {
                if store::upsert(&mut tx, user.id, key, value).await.map_err(|e| save_failed(key, value, e))? {
                    audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "preference_set", Some(key)).await?;
                }
            }
            None => {
                if store::delete(&mut tx, user.id, key).await.map_err(|e| delete_failed(key, e))? {
                    audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "preference_deleted", Some(key)).await?;
                }
            }
        }
    }
    tx.commit().await.map_err(|e| ApiError::internal(format!("commit failed: {e}")))?;
    Ok(())
}

fn validated_changes(site: &Site, patch: &Map<String, Value>) -> ApiResult<Vec<(String, Option<String>)>> {
    let mut errors = BTreeMap::new();
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
        Err(ApiError::field_errors(errors))
    }
}

/// Sets one preference (the detail route's PUT); errors are flattened.
pub async fn set_one(db: &Db, site: &Site, user: &User, key: &str, value: &Value) -> ApiResult<()> {
    let value = if value.is_null() { String::new() } else { py_str(value) };
    rules::validate(site, key, &value)
        .map_err(|e: MessagePair| ApiError::messages(StatusCode::BAD_REQUEST, e.developer_message, e.user_message))?;
    let mut tx = db.begin().await?;
    if store::upsert(&mut tx, user.id, key, &value).await.map_err(|e| save_failed(key, &value, e))? {
        audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "preference_set", Some(key)).await?;
    }
    tx.commit().await.map_err(|e| save_failed(key, &value, e))?;
    Ok(())
}

/// Deletes one preference; `false` when it did not exist.
pub async fn delete_one(db: &Db, site: &Site, user: &User, key: &str) -> ApiResult<bool> {
    let mut tx = db.begin().await?;
    let existed = store::delete(&mut tx, user.id, key).await.map_err(|e| delete_failed(key, e))?;
    if existed {
        audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "preference_deleted", Some(key)).await?;
    }
    tx.commit().await.map_err(|e| delete_failed(key, e))?;
    Ok(existed)
}

/// The org tag key of the e-mail opt-in.
pub const EMAIL_OPTIN_KEY: &str = "email-optin";

/// Records the e-mail opt-in for `org` (§9): forced off for accounts under
/// the site's `email_optin_minimum_age` (an unknown birth year does not block).
pub async fn update_email_opt_in(db: &Db, site: &Site, user: &User, org: &str, opt_in: bool) -> ApiResult<bool> {
    let year = accounts::year_of_birth(db, user.id).await?;
    let under_age = age::is_under(year, Some(site.config.email_optin_minimum_age), false);
    let stored = opt_in && !under_age;
    let mut tx = db.begin().await?;
    store::upsert_org_tag(&mut tx, user.id, org, EMAIL_OPTIN_KEY, if stored { "True" } else { "False" }).await?;
    audit(&mut tx, &site.tenant, Some(user.id), Some(user.id), "email_optin_set", Some(org)).await?;
    tx.commit().await.map_err(|e| ApiError::internal(format!("commit failed: {e}")))?;
    Ok(stored)
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
