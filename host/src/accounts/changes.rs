//! Writing account changes: the PATCH transaction (accounts.md §8.10), name
//! changes (§10) and e-mail confirmations (§9). Every function here is one
//! write job: it commits whole or leaves the account as it was.

use super::names::{self, NameFault, UrlRule};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::patch::{AccountChanges, AddressFacts, Column, ColumnValue, EmailRequest, Lookups};
use super::service::{AccountError, NewNameRefusal};
use super::store::{self, PendingAddress};
use crate::clock::{iso8601, now_micros};
use crate::mail::{self, Message};
use crate::preferences::service as preferences;
use crate::sites::Site;
use crate::store::{Conn, Db, StoreError, StoreResult};
use crate::users::store::{self as users, audit};
use crate::users::{read_back, retired, UserRecord};

/// A store failure inside the PATCH transaction (§8.10 step 7): logged, and
/// answered without the cause.
fn save_error(reason: StoreError) -> AccountError {
    if matches!(reason, StoreError::NulCharacter) {
        return AccountError::Store(reason);
    }
    tracing::error!(error = %reason, "saving account updates failed");
    AccountError::SaveFailed
}

/// Resolves the uniqueness facts of the addresses a PATCH body asks for, in one read.
pub async fn lookups(db: &Db, site: &Arc<Site>, user_id: i64, body: &Map<String, Value>) -> StoreResult<Lookups> {
    let email = body.get("email").and_then(Value::as_str).map(str::to_owned);
    let secondary = body.get("secondary_email").and_then(Value::as_str).map(str::to_owned);
    if email.is_none() && secondary.is_none() {
        return Ok(Lookups::default());
    }
    let site = Arc::clone(site);
    db.read(move |c| {
        Box::pin(async move {
            let mut out = Lookups::default();
            if let Some(email) = &email {
                out.email = address_facts(c, &site, email, Some(user_id)).await?;
            }
            if let Some(email) = &secondary {
                out.secondary_email = address_facts(c, &site, email, Some(user_id)).await?;
            }
            Ok(out)
        })
    })
    .await
}

/// Who uses `address` in the tenant: as a primary address (or the retired
/// form of one), or as a recovery address of anyone but `exclude_user`.
pub async fn address_facts(
    c: &mut Conn,
    site: &Site,
    address: &str,
    exclude_user: Option<i64>,
) -> StoreResult<AddressFacts> {
    let primary = users::id_by_email_key(c, &site.tenant, address, None).await?.is_some();
    let secondary = store::recovery_address_taken(c, &site.tenant, address, exclude_user).await?;
    let retired = retired::is_email_retired(c, &site.tenant, &site.config.retirement, address).await?;
    Ok(AddressFacts { taken_as_primary: primary || retired, taken_as_secondary: secondary })
}

pub(crate) fn push_history(meta: &mut Map<String, Value>, key: &str, entry: Value) {
    let list = meta.entry(key.to_owned()).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        items.push(entry);
    }
}

/// Where mailed links point: `<scheme>://<site's first domain>`.
pub fn site_base_url(site: &Site, scheme: &str) -> String {
    format!("{scheme}://{}", site.config.domains.first().map(String::as_str).unwrap_or("localhost"))
}

fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Applies a validated PATCH (§8.10) as the owner; returns the account as committed.
pub async fn apply_patch(
    db: &Db,
    site: &Arc<Site>,
    record: &UserRecord,
    changes: AccountChanges,
    scheme: &str,
) -> Result<Arc<UserRecord>, AccountError> {
    let site = Arc::clone(site);
    let base = site_base_url(&site, scheme);
    let (user_id, username) = (record.user.id, record.user.username.clone());
    db.write(move |c| Box::pin(async move { write_patch(c, &site, user_id, &username, changes, &base).await })).await
}

async fn write_patch(
    c: &mut Conn,
    site: &Site,
    user_id: i64,
    username: &str,
    changes: AccountChanges,
    base: &str,
) -> Result<Arc<UserRecord>, AccountError> {
    let mut changed: Vec<&str> = Vec::new();
    let mut columns = changes.columns;
    if let Some(ColumnValue::Text(country)) = columns.get(&Column::Country) {
        if country.as_deref() != Some("US") {
            columns.insert(Column::State, ColumnValue::Text(None));
        }
    }
    for (column, value) in &columns {
        store::set_column(c, user_id, *column, value).await.map_err(save_error)?;
        changed.push(column.sql());
    }
    if let Some(codes) = &changes.languages {
        store::set_languages(c, user_id, codes).await.map_err(save_error)?;
        changed.push("language_proficiencies");
    }
    for (platform, link) in &changes.social_links {
        store::set_social_link(c, user_id, platform, link.as_deref()).await.map_err(save_error)?;
    }
    if !changes.social_links.is_empty() {
        changed.push("social_links");
    }
    if let Some(privacy) = &changes.account_privacy {
        preferences::write(c, &site.tenant, user_id, "account_privacy", privacy.as_deref())
            .await
            .map_err(save_error)?;
        changed.push("account_privacy");
    }
    if let Some(old_name) = changes.old_name {
        let reason = format!("Name change requested through account API by {username}");
        let entry = json!([old_name, reason, iso8601(now_micros())]);
        store::update_meta(c, user_id, |meta| push_history(meta, "old_names", entry)).await.map_err(save_error)?;
    }
    if !changes.extended_profile.is_empty() {
        let values = changes.extended_profile;
        store::update_meta(c, user_id, move |meta| meta.extend(values)).await.map_err(save_error)?;
        changed.push("extended_profile");
    }
    if let Some(EmailRequest::Send(address)) = &changes.email {
        request_email_change(c, site, user_id, username, address, base, PendingAddress::Primary).await?;
        changed.push("email");
    }
    if let Some(EmailRequest::Send(address)) = &changes.secondary_email {
        request_email_change(c, site, user_id, username, address, base, PendingAddress::Secondary).await?;
        changed.push("secondary_email");
    }
    for field in changed {
        audit(c, &site.tenant, Some(user_id), Some(user_id), "account_updated", Some(field))
            .await
            .map_err(save_error)?;
    }
    read_back(c, &site.tenant, user_id).await.map_err(save_error)
}

async fn request_email_change(
    c: &mut Conn,
    site: &Site,
    user_id: i64,
    username: &str,
    address: &str,
    base: &str,
    which: PendingAddress,
) -> Result<(), AccountError> {
    let key = new_key();
    store::set_pending_address(c, user_id, which, address, &key).await.map_err(save_error)?;
    let path = match which {
        PendingAddress::Primary => "email_confirm",
        PendingAddress::Secondary => "activate_secondary_email",
    };
    let body = format!(
        "Someone asked to use {address} for the account {username} on {}. To confirm, open {base}/{path}/{key}\n\
         If you did not ask for this, ignore this message.",
        site.config.platform_name
    );
    let subject = match which {
        PendingAddress::Primary => "Confirm your new e-mail address",
        PendingAddress::Secondary => "Confirm your recovery e-mail address",
    };
    let message = Message { user_id: Some(user_id), to: address, subject, body: &body };
    mail::send(c, site, &message).await.map_err(|e| {
        tracing::error!(error = %e, "sending the e-mail confirmation failed");
        AccountError::EmailNotSent
    })
}

/// Outcome of following a mailed confirmation link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    Done,
    InvalidKey,
    AddressTaken,
}

/// `/email_confirm/{key}` (§9): the new address replaces the old one.
pub async fn confirm_email_change(db: &Db, site: &Arc<Site>, key: &str) -> Result<Confirmation, AccountError> {
    let (site, key) = (Arc::clone(site), key.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let pending = store::pending_address_by_key(c, &site.tenant, PendingAddress::Primary, &key).await?;
            let Some((user_id, new_email)) = pending else {
                return Ok(Confirmation::InvalidKey);
            };
            if users::id_by_email_key(c, &site.tenant, &new_email, Some(user_id)).await?.is_some() {
                return Ok(Confirmation::AddressTaken);
            }
            let (old_email,): (String,) =
                c.fetch_one("SELECT email FROM users WHERE id = $1", crate::args![user_id]).await?;
            let old_email =
                crate::users::sealing::open_of(c, user_id, crate::users::sealing::col::EMAIL, &old_email).await?;
            let entry = json!([old_email, iso8601(now_micros())]);
            store::update_meta(c, user_id, |meta| push_history(meta, "old_emails", entry)).await?;
            match users::set_email(c, user_id, &new_email).await {
                Err(StoreError::Unique(_)) => return Ok(Confirmation::AddressTaken),
                other => other?,
            }
            c.execute("DELETE FROM pending_email_changes WHERE user_id = $1", crate::args![user_id]).await?;
            for to in [old_email.as_str(), new_email.as_str()] {
                let body =
                    format!("The e-mail address of your {} account is now {new_email}.", site.config.platform_name);
                let message =
                    Message { user_id: Some(user_id), to, subject: "Your e-mail address has changed", body: &body };
                mail::send(c, &site, &message).await.map_err(|e| {
                    tracing::error!(error = %e, "sending the e-mail change notice failed");
                    AccountError::EmailNotSent
                })?;
            }
            audit(c, &site.tenant, Some(user_id), Some(user_id), "email_confirmed", Some("email")).await?;
            Ok(Confirmation::Done)
        })
    })
    .await
}

/// `/activate_secondary_email/{key}` (§9): the recovery address becomes active.
pub async fn confirm_secondary_email(db: &Db, site: &Arc<Site>, key: &str) -> Result<Confirmation, AccountError> {
    let (tenant, key) = (site.tenant.clone(), key.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let pending = store::pending_address_by_key(c, &tenant, PendingAddress::Secondary, &key).await?;
            let Some((user_id, address)) = pending else {
                return Ok(Confirmation::InvalidKey);
            };
            store::set_recovery_address(c, user_id, &address).await?;
            store::drop_pending_address(c, user_id, PendingAddress::Secondary).await?;
            audit(c, &tenant, Some(user_id), Some(user_id), "secondary_email_confirmed", Some("secondary_email"))
                .await?;
            Ok(Confirmation::Done)
        })
    })
    .await
}

/// `POST accounts/name_change/`: records a pending name change.
pub async fn request_name_change(db: &Db, site: &Site, record: &UserRecord, body: &Value) -> Result<(), AccountError> {
    let refuse = |message| AccountError::NewName(NewNameRefusal::Invalid(message));
    let name = match body.get("name") {
        None | Some(Value::Null) => return Err(refuse("This field may not be null.")),
        // DRF's CharField takes strings and numbers only.
        Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => return Err(refuse("Not a valid string.")),
        Some(v) => crate::pyrepr::py_str(v).trim().to_owned(),
    };
    if name.is_empty() {
        return Err(refuse("This field may not be blank."));
    }
    match names::fault(&name, UrlRule::AnyScheme) {
        Some(NameFault::Html) => return Err(refuse("Name cannot contain the following characters: < >")),
        Some(NameFault::Url) => return Err(refuse("Name cannot contain a URL")),
        Some(NameFault::TooLong) => return Err(refuse("Ensure this field has no more than 255 characters.")),
        None => {}
    }
    if name == record.profile.name {
        return Err(AccountError::NewName(NewNameRefusal::Unchanged));
    }
    let (tenant, user_id) = (site.tenant.clone(), record.user.id);
    let rationale = format!("Name change requested through account API by {}", record.user.username);
    db.write(move |c| {
        Box::pin(async move {
            store::set_pending_name(c, user_id, &name, &rationale).await?;
            audit(c, &tenant, Some(user_id), Some(user_id), "name_change_requested", Some("name")).await?;
            Ok(())
        })
    })
    .await
}

/// `POST accounts/name_change/{username}/confirm/` (staff): applies the pending change.
pub async fn confirm_name_change(db: &Db, site: &Site, actor_id: i64, target_id: i64) -> Result<(), AccountError> {
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            let Some((new_name, rationale)) = store::pending_name(c, target_id).await? else {
                return Err(AccountError::NotFound);
            };
            let old_name = store::name(c, target_id).await?;
            let entry = json!([old_name, rationale, iso8601(now_micros())]);
            store::update_meta(c, target_id, |meta| push_history(meta, "old_names", entry)).await?;
            store::set_name(c, target_id, &new_name).await?;
            store::drop_pending_name(c, target_id).await?;
            audit(c, &tenant, Some(target_id), Some(actor_id), "name_change_confirmed", Some("name")).await?;
            Ok(())
        })
    })
    .await
}

/// Records (or clears) the upload time of the profile image, with an audit row.
pub async fn set_profile_image_uploaded(db: &Db, site: &Site, user_id: i64, at: Option<i64>) -> StoreResult<()> {
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            store::set_profile_image_uploaded(c, user_id, at).await?;
            let action = if at.is_some() { "profile_image_uploaded" } else { "profile_image_removed" };
            audit(c, &tenant, Some(user_id), Some(user_id), action, Some("profile_image")).await
        })
    })
    .await
}
