//! The user record: everything stored per user that the hot reads render
//! (the user row, profile, social links, languages, preferences, pending
//! name change, recovery address, org memberships), loaded with one statement.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::sealing::{self, col};
use super::store::{User, USER_COLUMNS, USER_COLUMN_COUNT};
use super::types::username_key;
use crate::args;
use crate::store::{Backend, Column, Conn, FromRow, Param, Row, StoreError, StoreResult};

/// A stored profile row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// JSON object: extended-profile values, `old_names`, `old_emails`.
    pub meta: String,
    pub city: Option<String>,
    pub year_of_birth: Option<i64>,
    pub gender: Option<String>,
    pub level_of_education: Option<String>,
    pub mailing_address: Option<String>,
    pub goals: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub bio: Option<String>,
    pub phone_number: Option<String>,
    pub profile_image_uploaded_at: Option<i64>,
}

/// Renderings of a record, memoised under the renderer's key; they die with
/// the record, so they are exactly as fresh as it is.
#[derive(Default)]
pub struct Renderings(std::sync::Mutex<Vec<(String, bytes::Bytes)>>);

/// Most renderings kept per record.
const MAX_RENDERINGS: usize = 4;

impl Renderings {
    /// The rendering under `key`, made by `make` the first time.
    pub fn get_or(&self, key: &str, make: impl FnOnce() -> bytes::Bytes) -> bytes::Bytes {
        if let Some((_, found)) = self.lock().iter().find(|(k, _)| k == key) {
            return found.clone();
        }
        let made = make();
        let mut kept = self.lock();
        if kept.len() >= MAX_RENDERINGS {
            kept.remove(0);
        }
        kept.push((key.to_owned(), made.clone()));
        made
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, bytes::Bytes)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for Renderings {
    /// A copy of a record starts without renderings.
    fn clone(&self) -> Self {
        Renderings::default()
    }
}

impl PartialEq for Renderings {
    /// Renderings are derived: they never make two records differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Renderings {}

impl std::fmt::Debug for Renderings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Renderings({})", self.lock().len())
    }
}

/// Everything an account object or a preference map is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user: User,
    pub profile: Profile,
    /// (platform, link), sorted by platform.
    pub social_links: Vec<(String, String)>,
    /// Language codes, sorted.
    pub languages: Vec<String>,
    /// Every preference, in the order they were first set.
    pub preferences: Vec<(String, String)>,
    pub pending_name_change: Option<String>,
    /// The confirmed, active recovery address.
    pub secondary_email: Option<String>,
    /// The orgs the user is a member of (org tags under [`MEMBERSHIP_KEY`]), sorted.
    pub memberships: Vec<String>,
    /// What renderers made of this record.
    pub renderings: Renderings,
}

impl UserRecord {
    /// The value of preference `key`.
    pub fn preference(&self, key: &str) -> Option<&str> {
        self.preferences.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The org tag key trusted services record memberships under.
pub const MEMBERSHIP_KEY: &str = "membership";

const PROFILE_COLUMNS: &str = "p.name, p.meta, p.city, CAST(p.year_of_birth AS TEXT), p.gender, p.level_of_education, \
     p.mailing_address, p.goals, p.country, p.state, p.bio, p.phone_number, p.profile_image_uploaded_at";

/// PostgreSQL's record columns after the user's and the profile's: JSON
/// arrays built in SQL, so the whole record is one statement (one round trip).
const PG_RELATED_COLUMNS: &str = "\
    (SELECT json_agg(json_build_array(platform, social_link))::text FROM social_links WHERE user_id = u.id), \
    (SELECT json_agg(code)::text FROM language_proficiencies WHERE user_id = u.id), \
    (SELECT json_agg(json_build_array(key, value) ORDER BY id)::text FROM preferences WHERE user_id = u.id), \
    (SELECT new_name FROM pending_name_changes WHERE user_id = u.id), \
    (SELECT secondary_email FROM account_recovery WHERE user_id = u.id AND is_active = 1), \
    (SELECT json_agg(org)::text FROM org_tags WHERE user_id = u.id AND key = 'membership')";

/// Which records a query selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// `$1` tenant, `$2` username key, `$3` exact username.
    Username,
    /// `$1` tenant, `$2` id.
    Id,
    /// `$1` tenant, `$2` e-mail blind index (the exact address is compared once opened).
    Email,
    /// `$1` tenant, `$2` a JSON array of username keys.
    UsernameKeys,
}

impl Filter {
    const ALL: [Filter; 4] = [Filter::Username, Filter::Id, Filter::Email, Filter::UsernameKeys];

    fn sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Filter::Username, _) => "u.tenant = $1 AND u.username_key = $2 AND u.username = $3",
            (Filter::Id, _) => "u.tenant = $1 AND u.id = $2",
            (Filter::Email, _) => "u.tenant = $1 AND u.email_key = $2",
            (Filter::UsernameKeys, Backend::Sqlite) => {
                "u.tenant = $1 AND u.username_key IN (SELECT value FROM json_each($2))"
            }
            (Filter::UsernameKeys, Backend::Postgres) => {
                "u.tenant = $1 AND u.username_key IN (SELECT jsonb_array_elements_text($2::jsonb))"
            }
        }
    }
}

/// Every record query, built once per backend and filter. On SQLite it
/// selects the user and profile only; the rows around them are read by
/// small prepared statements in the same job (no round trips there, and no
/// JSON to build and parse).
static QUERIES: LazyLock<Vec<((Backend, Filter), String)>> = LazyLock::new(|| {
    let mut queries = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for filter in Filter::ALL {
            let related = match backend {
                Backend::Sqlite => String::new(),
                Backend::Postgres => format!(", {PG_RELATED_COLUMNS}"),
            };
            let sql = format!(
                "SELECT {USER_COLUMNS}, {PROFILE_COLUMNS}{related} FROM users u \
                 LEFT JOIN profiles p ON p.user_id = u.id WHERE {} ORDER BY u.id",
                filter.sql(backend)
            );
            queries.push(((backend, filter), sql));
        }
    }
    queries
});

fn query(backend: Backend, filter: Filter) -> &'static str {
    QUERIES.iter().find(|(key, _)| *key == (backend, filter)).map_or("", |(_, sql)| sql.as_str())
}

/// The user and profile columns of a record row, as stored (sealed).
struct Head {
    user: User,
    profile: Profile,
    /// Sealed text: opened into `profile.year_of_birth`.
    year_of_birth: Option<String>,
}

impl FromRow for Head {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let user = User::read(row, 0)?;
        let p = USER_COLUMN_COUNT;
        let profile = Profile {
            name: Option::<String>::read(row, p)?.unwrap_or_default(),
            meta: Option::<String>::read(row, p + 1)?.unwrap_or_else(|| "{}".to_owned()),
            city: Column::read(row, p + 2)?,
            year_of_birth: None,
            gender: Column::read(row, p + 4)?,
            level_of_education: Column::read(row, p + 5)?,
            mailing_address: Column::read(row, p + 6)?,
            goals: Column::read(row, p + 7)?,
            country: Column::read(row, p + 8)?,
            state: Column::read(row, p + 9)?,
            bio: Column::read(row, p + 10)?,
            phone_number: Column::read(row, p + 11)?,
            profile_image_uploaded_at: Column::read(row, p + 12)?,
        };
        Ok(Head { user, profile, year_of_birth: Column::read(row, p + 3)? })
    }
}

/// The rows around a profile.
struct Related {
    social_links: Vec<(String, String)>,
    languages: Vec<String>,
    preferences: Vec<(String, String)>,
    pending_name_change: Option<String>,
    secondary_email: Option<String>,
    memberships: Vec<String>,
}

/// Opens what a head and its rows hold sealed, under the learner's key.
async fn open(c: &mut Conn, head: &mut Head, related: &mut Related) -> StoreResult<()> {
    let key = sealing::key_named(c, &head.user.tenant, head.user.key_id.as_deref()).await?;
    let key = key.as_deref();
    let (user, p) = (&mut head.user, &mut head.profile);
    user.email = sealing::open(key, col::EMAIL, &user.email)?;
    p.name = sealing::open(key, col::NAME, &p.name)?;
    p.meta = sealing::open(key, col::META, &p.meta)?;
    if p.meta.is_empty() {
        p.meta = "{}".to_owned();
    }
    for (column, value) in [
        ("city", &mut p.city),
        ("mailing_address", &mut p.mailing_address),
        ("goals", &mut p.goals),
        ("bio", &mut p.bio),
        ("phone_number", &mut p.phone_number),
    ] {
        *value = sealing::open_opt(key, &col::profile(column), value.as_deref())?;
    }
    let year = sealing::open_opt(key, &col::profile("year_of_birth"), head.year_of_birth.as_deref())?;
    p.year_of_birth = year.and_then(|y| y.trim().parse().ok());
    for (_, link) in related.social_links.iter_mut() {
        *link = sealing::open(key, col::SOCIAL_LINK, link)?;
    }
    related.pending_name_change = sealing::open_opt(key, col::NEW_NAME, related.pending_name_change.as_deref())?;
    related.secondary_email = sealing::open_opt(key, col::SECONDARY_EMAIL, related.secondary_email.as_deref())?;
    Ok(())
}

impl UserRecord {
    fn assemble(head: Head, mut related: Related) -> UserRecord {
        // Sorted here, not by the database, so both backends order alike.
        related.social_links.sort();
        related.languages.sort();
        related.memberships.sort();
        UserRecord {
            user: head.user,
            profile: head.profile,
            social_links: related.social_links,
            languages: related.languages,
            preferences: related.preferences,
            pending_name_change: related.pending_name_change,
            secondary_email: related.secondary_email,
            memberships: related.memberships,
            renderings: Renderings::default(),
        }
    }
}

/// PostgreSQL's row: the head, then the related rows as JSON arrays.
struct AggregatedRecord(Head, Related);

impl FromRow for AggregatedRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let head = Head::from_row(row)?;
        let r = USER_COLUMN_COUNT + 13;
        let related = Related {
            social_links: json_list(row, r)?,
            languages: json_list(row, r + 1)?,
            preferences: json_list(row, r + 2)?,
            pending_name_change: Column::read(row, r + 3)?,
            secondary_email: Column::read(row, r + 4)?,
            memberships: json_list(row, r + 5)?,
        };
        Ok(AggregatedRecord(head, related))
    }
}

/// A JSON array column; NULL (PostgreSQL's aggregate of no rows) is empty.
fn json_list<T: serde::de::DeserializeOwned>(row: &dyn Row, index: usize) -> StoreResult<Vec<T>> {
    match row.text(index)? {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Decode(format!("column {index}: {e}"))),
    }
}

/// The rows around `user_id`'s profile (SQLite: statements in the same job).
async fn related(c: &mut Conn, user_id: i64) -> StoreResult<Related> {
    let social_links =
        c.fetch_all("SELECT platform, social_link FROM social_links WHERE user_id = $1", args![user_id]).await?;
    let languages: Vec<(String,)> =
        c.fetch_all("SELECT code FROM language_proficiencies WHERE user_id = $1", args![user_id]).await?;
    let preferences =
        c.fetch_all("SELECT key, value FROM preferences WHERE user_id = $1 ORDER BY id", args![user_id]).await?;
    let pending: Option<(String,)> =
        c.fetch_optional("SELECT new_name FROM pending_name_changes WHERE user_id = $1", args![user_id]).await?;
    let secondary: Option<(String,)> = c
        .fetch_optional(
            "SELECT secondary_email FROM account_recovery WHERE user_id = $1 AND is_active = 1",
            args![user_id],
        )
        .await?;
    let memberships: Vec<(String,)> =
        c.fetch_all("SELECT org FROM org_tags WHERE user_id = $1 AND key = $2", args![user_id, MEMBERSHIP_KEY]).await?;
    Ok(Related {
        social_links,
        languages: languages.into_iter().map(|l| l.0).collect(),
        preferences,
        pending_name_change: pending.map(|p| p.0),
        secondary_email: secondary.map(|s| s.0),
        memberships: memberships.into_iter().map(|m| m.0).collect(),
    })
}

/// The rows around several profiles, six statements whatever their number
/// (SQLite; `ids` as a JSON array).
async fn related_of_many(c: &mut Conn, ids: &[i64]) -> StoreResult<HashMap<i64, Related>> {
    let json = serde_json::Value::from(ids.to_vec()).to_string();
    let mut out: HashMap<i64, Related> = ids
        .iter()
        .map(|id| {
            let empty = Related {
                social_links: Vec::new(),
                languages: Vec::new(),
                preferences: Vec::new(),
                pending_name_change: None,
                secondary_email: None,
                memberships: Vec::new(),
            };
            (*id, empty)
        })
        .collect();
    const IN: &str = "user_id IN (SELECT value FROM json_each($1))";
    let links: Vec<(i64, String, String)> = c
        .fetch_all(&format!("SELECT user_id, platform, social_link FROM social_links WHERE {IN}"), args![&json])
        .await?;
    let languages: Vec<(i64, String)> =
        c.fetch_all(&format!("SELECT user_id, code FROM language_proficiencies WHERE {IN}"), args![&json]).await?;
    let preferences: Vec<(i64, String, String)> = c
        .fetch_all(&format!("SELECT user_id, key, value FROM preferences WHERE {IN} ORDER BY id"), args![&json])
        .await?;
    let pending: Vec<(i64, String)> =
        c.fetch_all(&format!("SELECT user_id, new_name FROM pending_name_changes WHERE {IN}"), args![&json]).await?;
    let secondary: Vec<(i64, String)> = c
        .fetch_all(
            &format!("SELECT user_id, secondary_email FROM account_recovery WHERE {IN} AND is_active = 1"),
            args![&json],
        )
        .await?;
    let memberships: Vec<(i64, String)> = c
        .fetch_all(&format!("SELECT user_id, org FROM org_tags WHERE {IN} AND key = $2"), args![&json, MEMBERSHIP_KEY])
        .await?;
    for (id, org) in memberships {
        out.entry(id).and_modify(|r| r.memberships.push(org));
    }
    for (id, platform, link) in links {
        out.entry(id).and_modify(|r| r.social_links.push((platform, link)));
    }
    for (id, code) in languages {
        out.entry(id).and_modify(|r| r.languages.push(code));
    }
    for (id, key, value) in preferences {
        out.entry(id).and_modify(|r| r.preferences.push((key, value)));
    }
    for (id, name) in pending {
        out.entry(id).and_modify(|r| r.pending_name_change = Some(name));
    }
    for (id, address) in secondary {
        out.entry(id).and_modify(|r| r.secondary_email = Some(address));
    }
    Ok(out)
}

/// The records a filter selects, in id order.
async fn load(c: &mut Conn, filter: Filter, params: &[Param<'_>]) -> StoreResult<Vec<UserRecord>> {
    match c.backend() {
        Backend::Postgres => {
            let rows: Vec<AggregatedRecord> = c.fetch_all(query(Backend::Postgres, filter), params).await?;
            let mut records = Vec::with_capacity(rows.len());
            for AggregatedRecord(mut head, mut related) in rows {
                open(c, &mut head, &mut related).await?;
                records.push(UserRecord::assemble(head, related));
            }
            Ok(records)
        }
        Backend::Sqlite => {
            let mut heads: Vec<Head> = c.fetch_all(query(Backend::Sqlite, filter), params).await?;
            if heads.len() == 1 {
                if let Some(mut head) = heads.pop() {
                    let mut related = related(c, head.user.id).await?;
                    open(c, &mut head, &mut related).await?;
                    return Ok(vec![UserRecord::assemble(head, related)]);
                }
            }
            let ids: Vec<i64> = heads.iter().map(|h| h.user.id).collect();
            let mut related = related_of_many(c, &ids).await?;
            let mut records = Vec::with_capacity(heads.len());
            for mut head in heads {
                if let Some(mut r) = related.remove(&head.user.id) {
                    open(c, &mut head, &mut r).await?;
                    records.push(UserRecord::assemble(head, r));
                }
            }
            Ok(records)
        }
    }
}

/// The record of `tenant`'s user whose username is exactly `username`.
pub async fn by_username(c: &mut Conn, tenant: &str, username: &str) -> StoreResult<Option<UserRecord>> {
    Ok(load(c, Filter::Username, args![tenant, &username_key(username), username]).await?.into_iter().next())
}

/// The record of `tenant`'s user `id`.
pub async fn by_id(c: &mut Conn, tenant: &str, id: i64) -> StoreResult<Option<UserRecord>> {
    Ok(load(c, Filter::Id, args![tenant, id]).await?.into_iter().next())
}

/// The record of `tenant`'s user whose address is exactly `email`.
pub async fn by_email(c: &mut Conn, tenant: &str, email: &str) -> StoreResult<Option<UserRecord>> {
    let index = sealing::email_index(c, tenant, email)?;
    let found = load(c, Filter::Email, args![tenant, &index]).await?;
    Ok(found.into_iter().find(|r| r.user.email == email))
}

/// The records of `tenant`'s users whose username is exactly one of
/// `usernames`, in id order, from one job.
pub async fn by_usernames(c: &mut Conn, tenant: &str, usernames: &[String]) -> StoreResult<Vec<UserRecord>> {
    let keys: Vec<String> = usernames.iter().map(|u| username_key(u)).collect();
    let keys = serde_json::Value::from(keys).to_string();
    let records = load(c, Filter::UsernameKeys, args![tenant, &keys]).await?;
    Ok(records.into_iter().filter(|r| usernames.contains(&r.user.username)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_reads_memberships_under_the_same_key() {
        assert!(PG_RELATED_COLUMNS.contains(&format!("key = '{MEMBERSHIP_KEY}'")));
    }
}
