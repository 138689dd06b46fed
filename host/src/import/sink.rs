//! Writing a batch of learners into a tenant, inside the batch's one
//! transaction: each learner is matched by its LMS id, each row compared
//! with what is stored, and only what differs is written, so a second run
//! changes nothing.

use std::collections::{BTreeSet, HashMap};

use super::checks::{self, Rules, Verdict};
use super::report::{Conflict, Counts, Report, Table, TABLES};
use super::source::{Learner, LmsProfile};
use crate::args;
use crate::auth::password::{self, FromDjango};
use crate::clock::now_micros;
use crate::store::{Backend, Column, Conn, FromRow, Row, StoreResult};
use crate::users::sealing::{self, col};
use crate::users::types::username_key;

/// How a row compared with the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Imported,
    Updated,
    Unchanged,
}

impl Counts {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Imported => self.imported += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// The user columns an import compares.
struct StoredUser {
    id: i64,
    username: String,
    email: String,
    password_hash: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: i64,
    last_login: Option<i64>,
}

impl FromRow for StoredUser {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok(StoredUser {
            id: Column::read(row, 0)?,
            username: Column::read(row, 1)?,
            email: Column::read(row, 2)?,
            password_hash: Column::read(row, 3)?,
            is_active: Column::read(row, 4)?,
            is_staff: Column::read(row, 5)?,
            is_superuser: Column::read(row, 6)?,
            date_joined: Column::read(row, 7)?,
            last_login: Column::read(row, 8)?,
        })
    }
}

/// A profile as stored here, in [`PROFILE_COLUMNS`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredProfile {
    name: String,
    meta: String,
    language: String,
    location: String,
    city: Option<String>,
    /// As text: the column holds sealed text.
    year_of_birth: Option<String>,
    gender: Option<String>,
    level_of_education: Option<String>,
    mailing_address: Option<String>,
    goals: Option<String>,
    country: Option<String>,
    state: Option<String>,
    bio: Option<String>,
    phone_number: Option<String>,
    profile_image_uploaded_at: Option<i64>,
}

const PROFILE_COLUMNS: &str = "name, meta, language, location, city, year_of_birth, gender, level_of_education, \
                               mailing_address, goals, country, state, bio, phone_number, profile_image_uploaded_at";
const PROFILE_SELECT: &str = "name, meta, language, location, city, CAST(year_of_birth AS TEXT), gender, \
     level_of_education, mailing_address, goals, country, state, bio, phone_number, profile_image_uploaded_at";

impl FromRow for StoredProfile {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok(StoredProfile {
            name: Column::read(row, 0)?,
            meta: Column::read(row, 1)?,
            language: Column::read(row, 2)?,
            location: Column::read(row, 3)?,
            city: Column::read(row, 4)?,
            year_of_birth: Column::read(row, 5)?,
            gender: Column::read(row, 6)?,
            level_of_education: Column::read(row, 7)?,
            mailing_address: Column::read(row, 8)?,
            goals: Column::read(row, 9)?,
            country: Column::read(row, 10)?,
            state: Column::read(row, 11)?,
            bio: Column::read(row, 12)?,
            phone_number: Column::read(row, 13)?,
            profile_image_uploaded_at: Column::read(row, 14)?,
        })
    }
}

impl StoredProfile {
    /// The sealed fields, with their column names.
    fn sealed_fields(&mut self) -> [(&'static str, &mut Option<String>); 6] {
        [
            ("city", &mut self.city),
            ("year_of_birth", &mut self.year_of_birth),
            ("mailing_address", &mut self.mailing_address),
            ("goals", &mut self.goals),
            ("bio", &mut self.bio),
            ("phone_number", &mut self.phone_number),
        ]
    }

    /// Opens what was read under `user_id`'s key.
    async fn open(mut self, c: &mut Conn, user_id: i64) -> StoreResult<StoredProfile> {
        let key = sealing::key_of(c, user_id).await?;
        let key = key.as_deref();
        self.name = sealing::open(key, col::NAME, &self.name)?;
        self.meta = sealing::open(key, col::META, &self.meta)?;
        for (column, value) in self.sealed_fields() {
            *value = sealing::open_opt(key, &col::profile(column), value.as_deref())?;
        }
        Ok(self)
    }

    /// Seals what is to be written under `user_id`'s key.
    async fn seal(&self, c: &mut Conn, user_id: i64) -> StoreResult<StoredProfile> {
        let mut sealed = self.clone();
        sealed.name = sealing::seal(c, user_id, col::NAME, &self.name).await?;
        sealed.meta = sealing::seal(c, user_id, col::META, &self.meta).await?;
        let Some(key) = sealing::key_of(c, user_id).await? else { return Ok(sealed) };
        for (column, value) in sealed.sealed_fields() {
            *value = value.as_deref().map(|v| key.seal(&col::profile(column), v));
        }
        Ok(sealed)
    }

    /// The LMS profile as it is stored here (an empty one when there is none).
    fn from_lms(p: Option<&LmsProfile>) -> StoredProfile {
        let Some(p) = p else {
            return StoredProfile {
                name: String::new(),
                meta: "{}".into(),
                language: String::new(),
                location: String::new(),
                city: None,
                year_of_birth: None,
                gender: None,
                level_of_education: None,
                mailing_address: None,
                goals: None,
                country: None,
                state: None,
                bio: None,
                phone_number: None,
                profile_image_uploaded_at: None,
            };
        };
        StoredProfile {
            name: p.name.clone(),
            meta: checks::meta(&p.meta),
            language: p.language.clone(),
            location: p.location.clone(),
            city: p.city.clone(),
            year_of_birth: p.year_of_birth.map(|y| y.to_string()),
            gender: p.gender.clone(),
            level_of_education: p.level_of_education.clone(),
            mailing_address: p.mailing_address.clone(),
            goals: p.goals.clone(),
            country: p.country.clone(),
            state: p.state.clone(),
            bio: p.bio.clone(),
            phone_number: p.phone_number.clone(),
            profile_image_uploaded_at: p.profile_image_uploaded_at,
        }
    }
}

/// What a batch needs to know of its tenant.
pub struct Target<'a> {
    pub tenant: &'a str,
    pub rules: &'a Rules,
    /// Retirement state name → id here.
    pub state_ids: &'a HashMap<String, i64>,
}

/// Imports `learners` into the tenant; returns the batch's report.
pub async fn apply(c: &mut Conn, target: &Target<'_>, learners: &[Learner]) -> StoreResult<Report> {
    let mut report = Report::default();
    let mut explicit_ids = false;
    for learner in learners {
        let rows = learner.row_counts();
        for (table, n) in rows.iter().enumerate() {
            report.tables[table].read += *n as u64;
        }
        let verdict = match checks::judge(target.rules, learner) {
            Ok(verdict) => verdict,
            Err(refusal) => {
                for (table, n) in rows.iter().enumerate() {
                    report.tables[table].refused += *n as u64;
                }
                report.refusals.push(refusal);
                continue;
            }
        };
        let existing: Option<StoredUser> = c
            .fetch_optional(
                "SELECT id, username, email, password_hash, is_active, is_staff, is_superuser, date_joined, \
                 last_login FROM users WHERE tenant = $1 AND lms_user_id = $2",
                args![target.tenant, learner.user.id],
            )
            .await?;
        let existing = match existing {
            Some(mut u) => {
                u.email = sealing::open_of(c, u.id, col::EMAIL, &u.email).await?;
                Some(u)
            }
            None => None,
        };
        if let Some(conflict) = conflict(c, target.tenant, learner, existing.as_ref().map(|u| u.id)).await? {
            for (table, n) in rows.iter().enumerate() {
                report.tables[table].conflicting += *n as u64;
            }
            report.conflicts.push(conflict);
            continue;
        }
        for refusal in &verdict.refusals {
            if let Some(table) = TABLES.iter().position(|t| *t == refusal.table) {
                report.tables[table].refused += 1;
            }
        }
        report.refusals.extend(verdict.refusals.iter().cloned());
        let (id, outcome, explicit) = user(c, target.tenant, learner, existing, &mut report).await?;
        explicit_ids |= explicit;
        report.counts(Table::User).count(outcome);
        related(c, target, id, learner, &verdict, &mut report).await?;
    }
    if explicit_ids && c.backend() == Backend::Postgres {
        // Ids given explicitly do not advance the identity sequence; it
        // never moves back (ids of deleted users are not handed out again).
        let _: (i64,) = c
            .fetch_one(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                 GREATEST((SELECT MAX(id) FROM users), \
                 pg_sequence_last_value(pg_get_serial_sequence('users', 'id')::regclass)))",
                args![],
            )
            .await?;
    }
    Ok(report)
}

/// Another account of the tenant holding the learner's username or address.
async fn conflict(c: &mut Conn, tenant: &str, learner: &Learner, own: Option<i64>) -> StoreResult<Option<Conflict>> {
    let user = &learner.user;
    let own = own.unwrap_or(0);
    let checks: [(&'static str, &str, &str, String); 2] = [
        ("username", "username_key", &user.username, username_key(&user.username)),
        ("email", "email_key", &user.email, sealing::email_index(c, tenant, &user.email)?),
    ];
    for (field, column, value, key) in checks {
        let sql = format!("SELECT id FROM users WHERE tenant = $1 AND {column} = $2 AND id <> $3");
        let holder: Option<(i64,)> = c.fetch_optional(&sql, args![tenant, &key, own]).await?;
        if let Some((holder,)) = holder {
            return Ok(Some(Conflict { lms_user_id: user.id, userapi_id: holder, field, value: value.to_owned() }));
        }
    }
    Ok(None)
}

/// The password hash kept for the learner, counting those made unusable.
fn password_hash(stored: &str, report: &mut Report) -> String {
    match password::from_django(stored) {
        FromDjango::Kept(hash) | FromDjango::Unusable(hash) => hash,
        FromDjango::Refused(scheme) => {
            *report.unusable_passwords.entry(scheme).or_default() += 1;
            password::unusable()
        }
    }
}

/// Inserts or updates the user row; returns its id here, what happened,
/// and whether the id was given explicitly.
async fn user(
    c: &mut Conn,
    tenant: &str,
    learner: &Learner,
    existing: Option<StoredUser>,
    report: &mut Report,
) -> StoreResult<(i64, Outcome, bool)> {
    let u = &learner.user;
    let hash = password_hash(&u.password, report);
    let Some(existing) = existing else {
        // The LMS id is kept as the id here when it is free, so clients that
        // remember ids (and tokens' user_id) keep working.
        let taken: Option<(i64,)> = c.fetch_optional("SELECT id FROM users WHERE id = $1", args![u.id]).await?;
        let explicit = taken.is_none();
        let columns = "tenant, username, username_key, email, email_key, password_hash, is_active, is_staff, \
                       is_superuser, date_joined, last_login, lms_user_id, key_id";
        let (name_key, address_key) = (username_key(&u.username), sealing::email_index(c, tenant, &u.email)?);
        let key = c.vault()?.create(tenant).await?;
        let sealed_email = key.seal(col::EMAIL, &u.email);
        let params = args![
            tenant,
            &u.username,
            &name_key,
            &sealed_email,
            &address_key,
            &hash,
            u.is_active,
            u.is_staff,
            u.is_superuser,
            u.date_joined,
            u.last_login,
            u.id,
            key.id()
        ];
        let (id,): (i64,) = if explicit {
            let sql = format!(
                "INSERT INTO users (id, {columns}) \
                 VALUES ($12, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"
            );
            c.fetch_one(&sql, params).await?
        } else {
            let sql = format!(
                "INSERT INTO users ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 RETURNING id"
            );
            c.fetch_one(&sql, params).await?
        };
        c.remember_key(id, Some(key));
        let profile = StoredProfile::from_lms(learner.profile.as_ref());
        write_profile(c, id, &profile, true).await?;
        if learner.profile.is_some() {
            report.counts(Table::Profile).count(Outcome::Imported);
        }
        return Ok((id, Outcome::Imported, explicit));
    };
    let id = existing.id;
    // A password set (or rehashed at login) here wins over the LMS's; two
    // unusable passwords are the same password.
    let keep_ours = existing.password_hash.starts_with("$argon2")
        || (!password::is_usable(&existing.password_hash) && !password::is_usable(&hash));
    let hash = if keep_ours { existing.password_hash.clone() } else { hash };
    let last_login = match (existing.last_login, u.last_login) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let same = existing.username == u.username
        && existing.email == u.email
        && existing.password_hash == hash
        && existing.is_active == u.is_active
        && existing.is_staff == u.is_staff
        && existing.is_superuser == u.is_superuser
        && existing.date_joined == u.date_joined
        && existing.last_login == last_login;
    let outcome = if same {
        Outcome::Unchanged
    } else {
        let index = sealing::email_index(c, tenant, &u.email)?;
        let sealed_email = sealing::seal(c, id, col::EMAIL, &u.email).await?;
        c.execute(
            "UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4, password_hash = $5, \
             is_active = $6, is_staff = $7, is_superuser = $8, date_joined = $9, last_login = $10 WHERE id = $11",
            args![
                &u.username,
                &username_key(&u.username),
                &sealed_email,
                &index,
                &hash,
                u.is_active,
                u.is_staff,
                u.is_superuser,
                u.date_joined,
                last_login,
                id
            ],
        )
        .await?;
        c.touch(id);
        Outcome::Updated
    };
    if learner.profile.is_some() {
        let wanted = StoredProfile::from_lms(learner.profile.as_ref());
        let stored: Option<StoredProfile> =
            c.fetch_optional(&format!("SELECT {PROFILE_SELECT} FROM profiles WHERE user_id = $1"), args![id]).await?;
        let stored = match stored {
            Some(p) => Some(p.open(c, id).await?),
            None => None,
        };
        let outcome = match stored {
            Some(stored) if stored == wanted => Outcome::Unchanged,
            Some(_) => {
                write_profile(c, id, &wanted, false).await?;
                Outcome::Updated
            }
            None => {
                write_profile(c, id, &wanted, true).await?;
                Outcome::Imported
            }
        };
        report.counts(Table::Profile).count(outcome);
    }
    Ok((id, outcome, false))
}

async fn write_profile(c: &mut Conn, id: i64, p: &StoredProfile, insert: bool) -> StoreResult<()> {
    let p = &p.seal(c, id).await?;
    let sql = if insert {
        format!(
            "INSERT INTO profiles (user_id, {PROFILE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )
    } else {
        "UPDATE profiles SET name = $2, meta = $3, language = $4, location = $5, city = $6, year_of_birth = $7, \
         gender = $8, level_of_education = $9, mailing_address = $10, goals = $11, country = $12, state = $13, \
         bio = $14, phone_number = $15, profile_image_uploaded_at = $16 WHERE user_id = $1"
            .to_owned()
    };
    c.execute(
        &sql,
        args![
            id,
            &p.name,
            &p.meta,
            &p.language,
            &p.location,
            &p.city,
            &p.year_of_birth,
            &p.gender,
            &p.level_of_education,
            &p.mailing_address,
            &p.goals,
            &p.country,
            &p.state,
            &p.bio,
            &p.phone_number,
            p.profile_image_uploaded_at
        ],
    )
    .await?;
    c.touch(id);
    Ok(())
}

/// Compares `stored` with `wanted`; runs `write` (insert when nothing is
/// stored, else update) when they differ.
async fn sync_one<T: PartialEq>(
    c: &mut Conn,
    user_id: i64,
    stored: Option<T>,
    wanted: &T,
    write: impl AsyncFnOnce(&mut Conn, bool) -> StoreResult<()>,
) -> StoreResult<Outcome> {
    let outcome = match stored {
        Some(s) if s == *wanted => return Ok(Outcome::Unchanged),
        Some(_) => Outcome::Updated,
        None => Outcome::Imported,
    };
    write(c, outcome == Outcome::Imported).await?;
    c.touch(user_id);
    Ok(outcome)
}

/// A table of one value per user and key (social links by platform,
/// preferences by key), named as (table, key column, value column).
async fn sync_keyed(
    c: &mut Conn,
    id: i64,
    (table, key_column, value_column): (&str, &str, &str),
    sealed_as: Option<&str>,
    rows: &[(&String, &String)],
    counts: &mut Counts,
) -> StoreResult<()> {
    let sql = format!("SELECT {key_column}, {value_column} FROM {table} WHERE user_id = $1");
    let stored: Vec<(String, String)> = c.fetch_all(&sql, args![id]).await?;
    let mut opened = HashMap::new();
    for (key, value) in stored {
        let value = match sealed_as {
            Some(column) => sealing::open_of(c, id, column, &value).await?,
            None => value,
        };
        opened.insert(key, value);
    }
    let stored = opened;
    let insert_sql = format!("INSERT INTO {table} (user_id, {key_column}, {value_column}) VALUES ($1, $2, $3)");
    let update_sql = format!("UPDATE {table} SET {value_column} = $3 WHERE user_id = $1 AND {key_column} = $2");
    for (key, value) in rows {
        let outcome = sync_one(c, id, stored.get(*key).cloned(), *value, async |c, insert| {
            let sql = if insert { &insert_sql } else { &update_sql };
            let value = match sealed_as {
                Some(column) => sealing::seal(c, id, column, value).await?,
                None => (*value).clone(),
            };
            c.execute(sql, args![id, *key, &value]).await.map(drop)
        })
        .await?;
        counts.count(outcome);
    }
    Ok(())
}

/// Every row around the user.
async fn related(
    c: &mut Conn,
    target: &Target<'_>,
    id: i64,
    learner: &Learner,
    verdict: &Verdict,
    report: &mut Report,
) -> StoreResult<()> {
    let now = now_micros();
    let links = learner.social_links.iter().filter(|l| verdict.keeps(Table::SocialLink, l.0));
    let links: Vec<(&String, &String)> = links.map(|(_, platform, link)| (platform, link)).collect();
    let counts = report.counts(Table::SocialLink);
    sync_keyed(c, id, ("social_links", "platform", "social_link"), Some(col::SOCIAL_LINK), &links, counts).await?;
    // Language proficiencies: a set of codes.
    let stored: Vec<(String,)> =
        c.fetch_all("SELECT code FROM language_proficiencies WHERE user_id = $1", args![id]).await?;
    let stored: BTreeSet<String> = stored.into_iter().map(|r| r.0).collect();
    for (_, code) in learner.languages.iter().filter(|l| verdict.keeps(Table::Language, l.0)) {
        let found = stored.contains(code).then_some(());
        let outcome = sync_one(c, id, found, &(), async |c, _| {
            c.execute("INSERT INTO language_proficiencies (user_id, code) VALUES ($1, $2)", args![id, code])
                .await
                .map(drop)
        })
        .await?;
        report.counts(Table::Language).count(outcome);
    }
    let preferences = learner.preferences.iter().filter(|p| verdict.keeps(Table::Preference, p.0));
    let preferences: Vec<(&String, &String)> = preferences.map(|(_, key, value)| (key, value)).collect();
    sync_keyed(c, id, ("preferences", "key", "value"), None, &preferences, report.counts(Table::Preference)).await?;
    // Org tags: one value per (org, key).
    let stored: Vec<(String, String, String)> =
        c.fetch_all("SELECT org, key, value FROM org_tags WHERE user_id = $1", args![id]).await?;
    let stored: HashMap<(String, String), String> = stored.into_iter().map(|(o, k, v)| ((o, k), v)).collect();
    for tag in learner.org_tags.iter().filter(|t| verdict.keeps(Table::OrgTag, t.id)) {
        let found = stored.get(&(tag.org.clone(), tag.key.clone())).cloned();
        let outcome = sync_one(c, id, found, &tag.value, async |c, insert| {
            if insert {
                let sql = "INSERT INTO org_tags (user_id, org, key, value, created, modified) \
                           VALUES ($1, $2, $3, $4, $5, $6)";
                c.execute(sql, args![id, &tag.org, &tag.key, &tag.value, tag.created, tag.modified]).await.map(drop)
            } else {
                let sql = "UPDATE org_tags SET value = $4, modified = $5 WHERE user_id = $1 AND org = $2 AND key = $3";
                c.execute(sql, args![id, &tag.org, &tag.key, &tag.value, tag.modified]).await.map(drop)
            }
        })
        .await?;
        report.counts(Table::OrgTag).count(outcome);
    }
    pending_rows(c, id, learner, verdict, now, report).await?;
    retirement_rows(c, target, id, learner, verdict, report).await
}

/// The pending changes and the recovery address: at most one row each, keyed by user.
async fn pending_rows(
    c: &mut Conn,
    id: i64,
    learner: &Learner,
    verdict: &Verdict,
    now: i64,
    report: &mut Report,
) -> StoreResult<()> {
    let pendings = [
        (PendingTable::Email, Table::PendingEmail, &learner.pending_email),
        (PendingTable::Name, Table::PendingName, &learner.pending_name),
        (PendingTable::Secondary, Table::PendingSecondary, &learner.pending_secondary),
    ];
    for (kind, table, row) in pendings {
        let Some(p) = row.as_ref().filter(|p| verdict.keeps(table, p.id)) else {
            continue;
        };
        let (name, value, extra) = kind.columns();
        let sql = format!("SELECT {value}, {extra} FROM {name} WHERE user_id = $1");
        let stored: Option<(String, String)> = c.fetch_optional(&sql, args![id]).await?;
        let stored = match stored {
            Some((v, x)) => Some(kind.open(c, id, v, x).await?),
            None => None,
        };
        let wanted = (p.value.clone(), p.extra.clone());
        let outcome =
            sync_one(c, id, stored, &wanted, async |c, insert| pending(c, insert, kind, id, p, now).await).await?;
        report.counts(table).count(outcome);
    }
    if let Some(r) = learner.recovery.as_ref().filter(|r| verdict.keeps(Table::Recovery, r.id)) {
        let stored: Option<(String, i64)> = c
            .fetch_optional("SELECT secondary_email, is_active FROM account_recovery WHERE user_id = $1", args![id])
            .await?;
        let stored = match stored {
            Some((address, active)) => Some((sealing::open_of(c, id, col::SECONDARY_EMAIL, &address).await?, active)),
            None => None,
        };
        let active = i64::from(r.extra == "1");
        let wanted = (r.value.clone(), active);
        let outcome = sync_one(c, id, stored, &wanted, async |c, insert| {
            let sql = if insert {
                "INSERT INTO account_recovery (user_id, secondary_email, is_active, secondary_email_key) \
                 VALUES ($1, $2, $3, $4)"
            } else {
                "UPDATE account_recovery SET secondary_email = $2, is_active = $3, secondary_email_key = $4 \
                 WHERE user_id = $1"
            };
            let index = sealing::email_index_of(c, id, &r.value).await?;
            let sealed = sealing::seal(c, id, col::SECONDARY_EMAIL, &r.value).await?;
            c.execute(sql, args![id, &sealed, active, &index]).await.map(drop)
        })
        .await?;
        report.counts(Table::Recovery).count(outcome);
    }
    Ok(())
}

/// The three pending-change tables: (table, value column, second column).
#[derive(Debug, Clone, Copy)]
enum PendingTable {
    Email,
    Name,
    Secondary,
}

impl PendingTable {
    /// The sealed columns' names: (value, second column if sealed).
    fn sealed_as(self) -> (&'static str, Option<&'static str>) {
        match self {
            PendingTable::Email => (col::NEW_EMAIL, None),
            PendingTable::Name => (col::NEW_NAME, Some(col::RATIONALE)),
            PendingTable::Secondary => (col::NEW_SECONDARY_EMAIL, None),
        }
    }

    async fn open(self, c: &mut Conn, id: i64, value: String, extra: String) -> StoreResult<(String, String)> {
        let (v, x) = self.sealed_as();
        let value = sealing::open_of(c, id, v, &value).await?;
        let extra = match x {
            Some(x) => sealing::open_of(c, id, x, &extra).await?,
            None => extra,
        };
        Ok((value, extra))
    }

    async fn seal(self, c: &mut Conn, id: i64, value: &str, extra: &str) -> StoreResult<(String, String)> {
        let (v, x) = self.sealed_as();
        let value = sealing::seal(c, id, v, value).await?;
        let extra = match x {
            Some(x) => sealing::seal(c, id, x, extra).await?,
            None => extra.to_owned(),
        };
        Ok((value, extra))
    }

    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            PendingTable::Email => ("pending_email_changes", "new_email", "activation_key"),
            PendingTable::Name => ("pending_name_changes", "new_name", "rationale"),
            PendingTable::Secondary => ("pending_secondary_email_changes", "new_secondary_email", "activation_key"),
        }
    }
}

/// Writes a pending change (`created` is the import's time: the LMS keeps none).
async fn pending(
    c: &mut Conn,
    insert: bool,
    table: PendingTable,
    id: i64,
    p: &super::source::LmsPending,
    now: i64,
) -> StoreResult<()> {
    let (sealed_value, sealed_extra) = table.seal(c, id, &p.value, &p.extra).await?;
    let (table, value, extra) = table.columns();
    if insert {
        let sql = format!("INSERT INTO {table} (user_id, {value}, {extra}, created) VALUES ($1, $2, $3, $4)");
        c.execute(&sql, args![id, &sealed_value, &sealed_extra, now]).await.map(drop)
    } else {
        let sql = format!("UPDATE {table} SET {value} = $2, {extra} = $3 WHERE user_id = $1");
        c.execute(&sql, args![id, &sealed_value, &sealed_extra]).await.map(drop)
    }
}

/// The orgs a learner's retirement rows list: every org they have a tag for
/// (what a retirement request made here snapshots).
fn orgs_json(learner: &Learner) -> String {
    let orgs: BTreeSet<&str> = learner.org_tags.iter().map(|t| t.org.as_str()).collect();
    serde_json::Value::from(orgs.into_iter().collect::<Vec<_>>()).to_string()
}

/// The retirement status, request and partner-reporting rows.
async fn retirement_rows(
    c: &mut Conn,
    target: &Target<'_>,
    id: i64,
    learner: &Learner,
    verdict: &Verdict,
    report: &mut Report,
) -> StoreResult<()> {
    let orgs = orgs_json(learner);
    if let Some(s) = learner.retirement_status.as_ref().filter(|s| verdict.keeps(Table::RetirementStatus, s.id)) {
        let state = |name: &Option<String>| name.as_ref().and_then(|n| target.state_ids.get(n)).copied().unwrap_or(0);
        let (current, last) = (state(&s.current_state), state(&s.last_state));
        type Status = (String, String, String, String, String, i64, i64, String, i64);
        let stored: Option<Status> = c
            .fetch_optional(
                "SELECT original_username, original_email, original_name, retired_username, retired_email, \
                 current_state_id, last_state_id, responses, modified FROM retirement_status WHERE user_id = $1",
                args![id],
            )
            .await?;
        let stored = match stored {
            Some(mut row) => {
                row.1 = sealing::open_of(c, id, col::ORIGINAL_EMAIL, &row.1).await?;
                row.2 = sealing::open_of(c, id, col::ORIGINAL_NAME, &row.2).await?;
                Some(row)
            }
            None => None,
        };
        let wanted: Status = (
            s.original_username.clone(),
            s.original_email.clone(),
            s.original_name.clone(),
            s.retired_username.clone(),
            s.retired_email.clone(),
            current,
            last,
            s.responses.clone(),
            s.modified,
        );
        let outcome = sync_one(c, id, stored, &wanted, async |c, insert| {
            let sql = if insert {
                "INSERT INTO retirement_status (user_id, original_username, original_email, original_name, \
                 retired_username, retired_email, current_state_id, last_state_id, responses, orgs, created, modified, \
                 original_email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            } else {
                "UPDATE retirement_status SET original_username = $2, original_email = $3, original_name = $4, \
                 retired_username = $5, retired_email = $6, current_state_id = $7, last_state_id = $8, \
                 responses = $9, orgs = $10, created = $11, modified = $12, original_email_key = $13 WHERE user_id = $1"
            };
            let index = sealing::email_index_of(c, id, &s.original_email).await?;
            let email = sealing::seal(c, id, col::ORIGINAL_EMAIL, &s.original_email).await?;
            let name = sealing::seal(c, id, col::ORIGINAL_NAME, &s.original_name).await?;
            let params = args![
                id,
                &s.original_username,
                &email,
                &name,
                &s.retired_username,
                &s.retired_email,
                current,
                last,
                &s.responses,
                &orgs,
                s.created,
                s.modified,
                &index
            ];
            c.execute(sql, params).await.map(drop)
        })
        .await?;
        report.counts(Table::RetirementStatus).count(outcome);
    }
    if let Some((_, created, modified)) =
        learner.retirement_request.filter(|r| verdict.keeps(Table::RetirementRequest, r.0))
    {
        let stored: Option<(i64, i64)> =
            c.fetch_optional("SELECT created, modified FROM retirement_requests WHERE user_id = $1", args![id]).await?;
        let outcome = sync_one(c, id, stored, &(created, modified), async |c, insert| {
            let sql = if insert {
                "INSERT INTO retirement_requests (user_id, created, modified) VALUES ($1, $2, $3)"
            } else {
                "UPDATE retirement_requests SET created = $2, modified = $3 WHERE user_id = $1"
            };
            c.execute(sql, args![id, created, modified]).await.map(drop)
        })
        .await?;
        report.counts(Table::RetirementRequest).count(outcome);
    }
    if let Some(r) = learner.partner_reporting.as_ref().filter(|r| verdict.keeps(Table::PartnerReporting, r.id)) {
        type Reporting = (String, String, String, bool, i64);
        let stored: Option<Reporting> = c
            .fetch_optional(
                "SELECT original_username, original_email, original_name, is_being_processed, modified \
                 FROM partner_reporting_status WHERE user_id = $1",
                args![id],
            )
            .await?;
        let stored = match stored {
            Some(mut row) => {
                row.1 = sealing::open_of(c, id, col::REPORT_EMAIL, &row.1).await?;
                row.2 = sealing::open_of(c, id, col::REPORT_NAME, &row.2).await?;
                Some(row)
            }
            None => None,
        };
        let wanted: Reporting = (
            r.original_username.clone(),
            r.original_email.clone(),
            r.original_name.clone(),
            r.is_being_processed,
            r.modified,
        );
        let outcome = sync_one(c, id, stored, &wanted, async |c, insert| {
            let sql = if insert {
                "INSERT INTO partner_reporting_status (user_id, original_username, original_email, original_name, \
                 is_being_processed, orgs, created, modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            } else {
                "UPDATE partner_reporting_status SET original_username = $2, original_email = $3, \
                 original_name = $4, is_being_processed = $5, orgs = $6, created = $7, modified = $8 \
                 WHERE user_id = $1"
            };
            let email = sealing::seal(c, id, col::REPORT_EMAIL, &r.original_email).await?;
            let name = sealing::seal(c, id, col::REPORT_NAME, &r.original_name).await?;
            let params =
                args![id, &r.original_username, &email, &name, r.is_being_processed, &orgs, r.created, r.modified];
            c.execute(sql, params).await.map(drop)
        })
        .await?;
        report.counts(Table::PartnerReporting).count(outcome);
    }
    Ok(())
}
