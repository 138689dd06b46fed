//! SQL for profiles and the rows around them: social links, languages, the
//! `meta` object, pending e-mail and name changes, the recovery address and
//! profile images. Every write marks its user's cached record stale.

use serde_json::{Map, Value};

use super::patch::{Column, ColumnValue};
use crate::args;
use crate::clock::now_micros;
use crate::store::{Conn, StoreResult};
use crate::users::sealing::{self, col};

/// Sets one profile column.
pub async fn set_column(c: &mut Conn, user_id: i64, column: Column, value: &ColumnValue) -> StoreResult<()> {
    let sql = format!("UPDATE profiles SET {} = $1 WHERE user_id = $2", column.sql());
    let sealed = col::PROFILE.contains(&column.sql()) || column.sql() == "name";
    let ad = if column.sql() == "name" { col::NAME.to_owned() } else { col::profile(column.sql()) };
    match value {
        ColumnValue::Text(v) if sealed => {
            let v = sealing::seal_opt(c, user_id, &ad, v.as_deref()).await?;
            c.execute(&sql, args![&v, user_id]).await?
        }
        ColumnValue::Int(v) if sealed => {
            let v = sealing::seal_opt(c, user_id, &ad, v.map(|y| y.to_string()).as_deref()).await?;
            c.execute(&sql, args![&v, user_id]).await?
        }
        ColumnValue::Text(v) => c.execute(&sql, args![v, user_id]).await?,
        ColumnValue::Int(v) => c.execute(&sql, args![*v, user_id]).await?,
    };
    c.touch(user_id);
    Ok(())
}

/// Replaces the language proficiencies.
pub async fn set_languages(c: &mut Conn, user_id: i64, codes: &[String]) -> StoreResult<()> {
    c.execute("DELETE FROM language_proficiencies WHERE user_id = $1", args![user_id]).await?;
    for code in codes {
        c.execute("INSERT INTO language_proficiencies (user_id, code) VALUES ($1, $2)", args![user_id, code]).await?;
    }
    c.touch(user_id);
    Ok(())
}

/// Sets (`Some`) or removes (`None`) the link of one platform.
pub async fn set_social_link(c: &mut Conn, user_id: i64, platform: &str, link: Option<&str>) -> StoreResult<()> {
    match link {
        Some(link) => {
            let link = sealing::seal(c, user_id, col::SOCIAL_LINK, link).await?;
            c.execute(
                "INSERT INTO social_links (user_id, platform, social_link) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, platform) DO UPDATE SET social_link = excluded.social_link",
                args![user_id, platform, &link],
            )
            .await?
        }
        None => {
            c.execute("DELETE FROM social_links WHERE user_id = $1 AND platform = $2", args![user_id, platform]).await?
        }
    };
    c.touch(user_id);
    Ok(())
}

/// Reads, changes and writes back the profile's `meta` object.
pub async fn update_meta(
    c: &mut Conn,
    user_id: i64,
    change: impl FnOnce(&mut Map<String, Value>) + Send,
) -> StoreResult<()> {
    let (meta,): (String,) = c.fetch_one("SELECT meta FROM profiles WHERE user_id = $1", args![user_id]).await?;
    let meta = sealing::open_of(c, user_id, col::META, &meta).await?;
    let mut meta: Map<String, Value> = serde_json::from_str(&meta).unwrap_or_default();
    change(&mut meta);
    let meta = sealing::seal(c, user_id, col::META, &Value::Object(meta).to_string()).await?;
    c.execute("UPDATE profiles SET meta = $1 WHERE user_id = $2", args![&meta, user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// The profile's full name.
pub async fn name(c: &mut Conn, user_id: i64) -> StoreResult<String> {
    let (name,): (String,) = c.fetch_one("SELECT name FROM profiles WHERE user_id = $1", args![user_id]).await?;
    sealing::open_of(c, user_id, col::NAME, &name).await
}

/// Replaces the profile's full name.
pub async fn set_name(c: &mut Conn, user_id: i64, name: &str) -> StoreResult<()> {
    let name = sealing::seal(c, user_id, col::NAME, name).await?;
    c.execute("UPDATE profiles SET name = $1 WHERE user_id = $2", args![&name, user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Records the upload time of the profile image (`None`: removed).
pub async fn set_profile_image_uploaded(c: &mut Conn, user_id: i64, at: Option<i64>) -> StoreResult<()> {
    c.execute("UPDATE profiles SET profile_image_uploaded_at = $1 WHERE user_id = $2", args![at, user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Which address a pending change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingAddress {
    Primary,
    Secondary,
}

impl PendingAddress {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            PendingAddress::Primary => ("pending_email_changes", "new_email"),
            PendingAddress::Secondary => ("pending_secondary_email_changes", "new_secondary_email"),
        }
    }

    fn sealed_as(self) -> &'static str {
        match self {
            PendingAddress::Primary => col::NEW_EMAIL,
            PendingAddress::Secondary => col::NEW_SECONDARY_EMAIL,
        }
    }
}

/// Records a pending address change under a fresh activation key.
pub async fn set_pending_address(
    c: &mut Conn,
    user_id: i64,
    which: PendingAddress,
    address: &str,
    key: &str,
) -> StoreResult<()> {
    let (table, column) = which.table();
    let sql = format!(
        "INSERT INTO {table} (user_id, {column}, activation_key, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET {column} = excluded.{column}, \
         activation_key = excluded.activation_key, created = excluded.created"
    );
    let address = sealing::seal(c, user_id, which.sealed_as(), address).await?;
    c.execute(&sql, args![user_id, &address, key, now_micros()]).await?;
    Ok(())
}

/// The pending change an activation key of `tenant` confirms:
/// (user id, new address).
pub async fn pending_address_by_key(
    c: &mut Conn,
    tenant: &str,
    which: PendingAddress,
    key: &str,
) -> StoreResult<Option<(i64, String)>> {
    let (table, column) = which.table();
    let sql = format!(
        "SELECT p.user_id, p.{column} FROM {table} p JOIN users u ON u.id = p.user_id \
         WHERE p.activation_key = $1 AND u.tenant = $2"
    );
    let found: Option<(i64, String)> = c.fetch_optional(&sql, args![key, tenant]).await?;
    match found {
        Some((user_id, sealed)) => Ok(Some((user_id, sealing::open_of(c, user_id, which.sealed_as(), &sealed).await?))),
        None => Ok(None),
    }
}

/// Removes a user's pending address change, overwriting the address first
/// so it does not linger in freed pages.
pub async fn drop_pending_address(c: &mut Conn, user_id: i64, which: PendingAddress) -> StoreResult<()> {
    let (table, column) = which.table();
    c.execute(
        &format!("UPDATE {table} SET {column} = 'redact-before-delete@redacted.com' WHERE user_id = $1"),
        args![user_id],
    )
    .await?;
    c.execute(&format!("DELETE FROM {table} WHERE user_id = $1"), args![user_id]).await?;
    Ok(())
}

/// Sets the confirmed recovery address.
pub async fn set_recovery_address(c: &mut Conn, user_id: i64, address: &str) -> StoreResult<()> {
    let index = sealing::email_index_of(c, user_id, address).await?;
    let sealed = sealing::seal(c, user_id, col::SECONDARY_EMAIL, address).await?;
    c.execute(
        "INSERT INTO account_recovery (user_id, secondary_email, secondary_email_key, is_active) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (user_id) DO UPDATE SET secondary_email = excluded.secondary_email, \
         secondary_email_key = excluded.secondary_email_key, is_active = 1",
        args![user_id, &sealed, &index],
    )
    .await?;
    c.touch(user_id);
    Ok(())
}

/// Removes the recovery address, overwriting it first.
pub async fn drop_recovery_address(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    let redacted = format!("redacted-{}", now_micros());
    c.execute(
        "UPDATE account_recovery SET secondary_email = $1, secondary_email_key = $1 WHERE user_id = $2",
        args![&redacted, user_id],
    )
    .await?;
    c.execute("DELETE FROM account_recovery WHERE user_id = $1", args![user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Whether `address` is the recovery address of some account of `tenant`
/// other than `except` (compared case-insensitively).
pub async fn recovery_address_taken(
    c: &mut Conn,
    tenant: &str,
    address: &str,
    except: Option<i64>,
) -> StoreResult<bool> {
    let index = sealing::email_index(c, tenant, address)?;
    let row: Option<(i64,)> = c
        .fetch_optional(
            "SELECT r.user_id FROM account_recovery r JOIN users u ON u.id = r.user_id \
             WHERE r.secondary_email_key = $2 AND u.tenant = $1 AND r.user_id <> $3",
            args![tenant, &index, except.unwrap_or(0)],
        )
        .await?;
    Ok(row.is_some())
}

/// Records a pending name change.
pub async fn set_pending_name(c: &mut Conn, user_id: i64, name: &str, rationale: &str) -> StoreResult<()> {
    let name = sealing::seal(c, user_id, col::NEW_NAME, name).await?;
    let rationale = sealing::seal(c, user_id, col::RATIONALE, rationale).await?;
    c.execute(
        "INSERT INTO pending_name_changes (user_id, new_name, rationale, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET new_name = excluded.new_name, rationale = excluded.rationale, \
         created = excluded.created",
        args![user_id, &name, &rationale, now_micros()],
    )
    .await?;
    c.touch(user_id);
    Ok(())
}

/// The pending name change: (new name, rationale).
pub async fn pending_name(c: &mut Conn, user_id: i64) -> StoreResult<Option<(String, String)>> {
    let found: Option<(String, String)> = c
        .fetch_optional("SELECT new_name, rationale FROM pending_name_changes WHERE user_id = $1", args![user_id])
        .await?;
    match found {
        Some((name, rationale)) => Ok(Some((
            sealing::open_of(c, user_id, col::NEW_NAME, &name).await?,
            sealing::open_of(c, user_id, col::RATIONALE, &rationale).await?,
        ))),
        None => Ok(None),
    }
}

/// Removes the pending name change.
pub async fn drop_pending_name(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM pending_name_changes WHERE user_id = $1", args![user_id]).await?;
    c.touch(user_id);
    Ok(())
}

/// Clears every profile value and deletes the rows around the profile,
/// overwriting addresses before their rows go.
pub async fn erase_profile(c: &mut Conn, user_id: i64) -> StoreResult<()> {
    c.execute(
        "UPDATE profiles SET name = '', meta = '', location = '', language = '', year_of_birth = NULL, gender = NULL, \
         mailing_address = NULL, city = NULL, country = NULL, bio = NULL, phone_number = NULL, goals = NULL, \
         state = NULL, level_of_education = NULL, profile_image_uploaded_at = NULL WHERE user_id = $1",
        args![user_id],
    )
    .await?;
    c.execute(
        "UPDATE pending_email_changes SET new_email = 'redacted@retired.invalid' WHERE user_id = $1",
        args![user_id],
    )
    .await?;
    c.execute(
        "UPDATE pending_secondary_email_changes SET new_secondary_email = 'redact-before-delete@redacted.com' \
         WHERE user_id = $1",
        args![user_id],
    )
    .await?;
    let redacted = format!("redact-before-delete+{user_id}@redacted.com");
    c.execute(
        "UPDATE account_recovery SET secondary_email = $1, secondary_email_key = $1 WHERE user_id = $2",
        args![&redacted, user_id],
    )
    .await?;
    for table in [
        "social_links",
        "language_proficiencies",
        "pending_email_changes",
        "pending_secondary_email_changes",
        "account_recovery",
        "pending_name_changes",
    ] {
        c.execute(&format!("DELETE FROM {table} WHERE user_id = $1"), args![user_id]).await?;
    }
    c.touch(user_id);
    Ok(())
}
