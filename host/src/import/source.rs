//! Reading an Open edX LMS database (MySQL or MariaDB) in batches of
//! learners: each batch is a run of `auth_user` rows in id order with
//! every row of theirs the import carries over. Memory holds one batch.
//!
//! Dates are read as microseconds since the Unix epoch, computed by the
//! server from the stored `datetime(6)` (Django writes UTC with `USE_TZ`),
//! so neither side's time zone setting matters.

use std::collections::HashMap;

use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{Connection, Row};

use super::ImportError;

/// `datetime(6)` column `c` as microseconds since the epoch (NULL stays NULL).
fn micros(c: &str) -> String {
    format!("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {c}) AS SIGNED)")
}

/// An `auth_user` row.
#[derive(Debug, Clone)]
pub struct LmsUser {
    pub id: i64,
    pub password: String,
    pub last_login: Option<i64>,
    pub is_superuser: bool,
    pub username: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: i64,
}

/// An `auth_userprofile` row (the fields userapi keeps).
#[derive(Debug, Clone)]
pub struct LmsProfile {
    pub id: i64,
    pub name: String,
    pub meta: String,
    pub language: String,
    pub location: String,
    pub year_of_birth: Option<i64>,
    pub gender: Option<String>,
    pub level_of_education: Option<String>,
    pub mailing_address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub goals: Option<String>,
    pub bio: Option<String>,
    pub profile_image_uploaded_at: Option<i64>,
    pub phone_number: Option<String>,
}

/// A `user_api_userorgtag` row.
#[derive(Debug, Clone)]
pub struct LmsOrgTag {
    pub id: i64,
    pub org: String,
    pub key: String,
    pub value: String,
    pub created: i64,
    pub modified: i64,
}

/// A pending change (`student_pending*change`) or `auth_accountrecovery`:
/// its id, the new value and the second column (activation key,
/// rationale, or "1"/"0" for the recovery address's `is_active`).
#[derive(Debug, Clone)]
pub struct LmsPending {
    pub id: i64,
    pub value: String,
    pub extra: String,
}

/// A `user_api_userretirementstatus` row, its states by name.
#[derive(Debug, Clone)]
pub struct LmsRetirementStatus {
    pub id: i64,
    pub original_username: String,
    pub original_email: String,
    pub original_name: String,
    pub retired_username: String,
    pub retired_email: String,
    pub current_state: Option<String>,
    pub last_state: Option<String>,
    pub responses: String,
    pub created: i64,
    pub modified: i64,
}

/// A `user_api_userretirementpartnerreportingstatus` row.
#[derive(Debug, Clone)]
pub struct LmsPartnerReporting {
    pub id: i64,
    pub original_username: String,
    pub original_email: String,
    pub original_name: String,
    pub is_being_processed: bool,
    pub created: i64,
    pub modified: i64,
}

/// One learner and every row of theirs the import reads.
#[derive(Debug, Clone)]
pub struct Learner {
    pub user: LmsUser,
    pub profile: Option<LmsProfile>,
    /// (id, platform, link)
    pub social_links: Vec<(i64, String, String)>,
    /// (id, code)
    pub languages: Vec<(i64, String)>,
    /// (id, key, value)
    pub preferences: Vec<(i64, String, String)>,
    pub org_tags: Vec<LmsOrgTag>,
    /// `extra`: the activation key.
    pub pending_email: Option<LmsPending>,
    /// `extra`: the rationale.
    pub pending_name: Option<LmsPending>,
    /// `extra`: the activation key.
    pub pending_secondary: Option<LmsPending>,
    /// `extra`: "1" when active.
    pub recovery: Option<LmsPending>,
    pub retirement_status: Option<LmsRetirementStatus>,
    /// (id, created, modified)
    pub retirement_request: Option<(i64, i64, i64)>,
    pub partner_reporting: Option<LmsPartnerReporting>,
}

impl Learner {
    /// How many rows of each table this learner holds, in [`super::report::TABLES`] order.
    pub fn row_counts(&self) -> [usize; super::report::TABLES.len()] {
        [
            1,
            usize::from(self.profile.is_some()),
            self.social_links.len(),
            self.languages.len(),
            self.preferences.len(),
            self.org_tags.len(),
            usize::from(self.pending_email.is_some()),
            usize::from(self.pending_name.is_some()),
            usize::from(self.pending_secondary.is_some()),
            usize::from(self.recovery.is_some()),
            usize::from(self.retirement_status.is_some()),
            usize::from(self.retirement_request.is_some()),
            usize::from(self.partner_reporting.is_some()),
        ]
    }
}

/// Which learners a run reads.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only learners who joined or logged in after this time, or whose org
    /// tags or retirement rows were modified after it (`--since`), as
    /// `YYYY-MM-DD HH:MM:SS.ffffff` UTC.
    pub since: Option<String>,
}

impl Selection {
    /// The `auth_user u` filter, and how many times `since` is bound in it.
    fn filter(&self) -> (&'static str, usize) {
        if self.since.is_none() {
            return ("", 0);
        }
        (
            " AND (u.date_joined > ? OR u.last_login > ? \
               OR u.id IN (SELECT user_id FROM user_api_userorgtag WHERE modified > ?) \
               OR u.id IN (SELECT user_id FROM user_api_userretirementstatus WHERE modified > ?) \
               OR u.id IN (SELECT user_id FROM user_api_userretirementrequest WHERE modified > ?) \
               OR u.id IN (SELECT user_id FROM user_api_userretirementpartnerreportingstatus WHERE modified > ?))",
            6,
        )
    }
}

/// A connection to the LMS database.
pub struct LmsSource {
    conn: MySqlConnection,
    selection: Selection,
}

fn text(row: &MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>(i)?.unwrap_or_default())
}

fn opt_text(row: &MySqlRow, i: usize) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(i)
}

fn int(row: &MySqlRow, i: usize) -> Result<i64, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(i)?.unwrap_or_default())
}

fn opt_int(row: &MySqlRow, i: usize) -> Result<Option<i64>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(i)
}

impl LmsSource {
    /// Connects to `url` (`mysql://USER:PASS@HOST:PORT/DB`).
    pub async fn connect(url: &str, selection: Selection) -> Result<LmsSource, ImportError> {
        let conn = MySqlConnection::connect(url).await.map_err(|e| ImportError::Source(e.to_string()))?;
        Ok(LmsSource { conn, selection })
    }

    /// How many learners the run will read.
    pub async fn count(&mut self) -> Result<u64, ImportError> {
        let (filter, binds) = self.selection.filter();
        let sql = format!("SELECT COUNT(*) FROM auth_user u WHERE 1 = 1{filter}");
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for _ in 0..binds {
            query = query.bind(self.selection.since.clone());
        }
        let n = query.fetch_one(&mut self.conn).await.map_err(source_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The next at most `size` learners whose LMS id is above `after`, in id order.
    pub async fn batch(&mut self, after: i64, size: u32) -> Result<Vec<Learner>, ImportError> {
        let users = self.users(after, size).await?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = users.iter().map(|(u, _)| u.id.to_string()).collect();
        let ids = ids.join(",");
        let mut by_id: HashMap<i64, Learner> = users
            .into_iter()
            .map(|(user, profile)| {
                let learner = Learner {
                    user,
                    profile,
                    social_links: Vec::new(),
                    languages: Vec::new(),
                    preferences: Vec::new(),
                    org_tags: Vec::new(),
                    pending_email: None,
                    pending_name: None,
                    pending_secondary: None,
                    recovery: None,
                    retirement_status: None,
                    retirement_request: None,
                    partner_reporting: None,
                };
                (learner.user.id, learner)
            })
            .collect();
        self.related(&ids, &mut by_id).await?;
        let mut learners: Vec<Learner> = by_id.into_values().collect();
        learners.sort_by_key(|l| l.user.id);
        Ok(learners)
    }

    async fn users(&mut self, after: i64, size: u32) -> Result<Vec<(LmsUser, Option<LmsProfile>)>, ImportError> {
        let (filter, binds) = self.selection.filter();
        let sql = format!(
            "SELECT CAST(u.id AS SIGNED), u.password, {}, CAST(u.is_superuser AS SIGNED), u.username, u.email, \
                    CAST(u.is_staff AS SIGNED), CAST(u.is_active AS SIGNED), {}, \
                    CAST(p.id AS SIGNED), p.name, p.meta, p.language, p.location, CAST(p.year_of_birth AS SIGNED), \
                    p.gender, p.level_of_education, p.mailing_address, p.city, p.country, p.state, p.goals, p.bio, \
                    {}, p.phone_number \
             FROM auth_user u LEFT JOIN auth_userprofile p ON p.user_id = u.id \
             WHERE u.id > ?{filter} ORDER BY u.id LIMIT ?",
            micros("u.last_login"),
            micros("u.date_joined"),
            micros("p.profile_image_uploaded_at"),
        );
        let mut query = sqlx::query(&sql).bind(after);
        for _ in 0..binds {
            query = query.bind(self.selection.since.clone());
        }
        let rows = query.bind(size).fetch_all(&mut self.conn).await.map_err(source_error)?;
        let read = |row: &MySqlRow| -> Result<(LmsUser, Option<LmsProfile>), sqlx::Error> {
            let user = LmsUser {
                id: int(row, 0)?,
                password: text(row, 1)?,
                last_login: opt_int(row, 2)?,
                is_superuser: int(row, 3)? != 0,
                username: text(row, 4)?,
                email: text(row, 5)?,
                is_staff: int(row, 6)? != 0,
                is_active: int(row, 7)? != 0,
                date_joined: int(row, 8)?,
            };
            let profile = match opt_int(row, 9)? {
                None => None,
                Some(id) => Some(LmsProfile {
                    id,
                    name: text(row, 10)?,
                    meta: text(row, 11)?,
                    language: text(row, 12)?,
                    location: text(row, 13)?,
                    year_of_birth: opt_int(row, 14)?,
                    gender: opt_text(row, 15)?,
                    level_of_education: opt_text(row, 16)?,
                    mailing_address: opt_text(row, 17)?,
                    city: opt_text(row, 18)?,
                    country: opt_text(row, 19)?,
                    state: opt_text(row, 20)?,
                    goals: opt_text(row, 21)?,
                    bio: opt_text(row, 22)?,
                    profile_image_uploaded_at: opt_int(row, 23)?,
                    phone_number: opt_text(row, 24)?,
                }),
            };
            Ok((user, profile))
        };
        rows.iter().map(read).collect::<Result<_, _>>().map_err(source_error)
    }

    /// Every other table's rows of the users `ids` (a comma-separated list of integers).
    async fn related(&mut self, ids: &str, by_id: &mut HashMap<i64, Learner>) -> Result<(), ImportError> {
        let sql = |select: &str, table: &str| format!("SELECT {select} FROM {table} WHERE user_id IN ({ids})");
        let of_profile = |select: &str, table: &str| {
            format!(
                "SELECT CAST(p.user_id AS SIGNED), {select} FROM {table} t \
                 JOIN auth_userprofile p ON p.id = t.user_profile_id WHERE p.user_id IN ({ids})"
            )
        };

        let links = of_profile("CAST(t.id AS SIGNED), t.platform, t.social_link", "student_sociallink");
        for row in self.rows(&links).await? {
            let read = |row: &MySqlRow| -> Result<_, sqlx::Error> {
                Ok((int(row, 0)?, (int(row, 1)?, text(row, 2)?, text(row, 3)?)))
            };
            let (user, link) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.social_links.push(link);
            }
        }
        let languages = of_profile("CAST(t.id AS SIGNED), t.code", "student_languageproficiency");
        for row in self.rows(&languages).await? {
            let read = |row: &MySqlRow| -> Result<_, sqlx::Error> { Ok((int(row, 0)?, (int(row, 1)?, text(row, 2)?))) };
            let (user, language) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.languages.push(language);
            }
        }
        let preferences = sql("CAST(user_id AS SIGNED), CAST(id AS SIGNED), `key`, value", "user_api_userpreference");
        for row in self.rows(&(preferences + " ORDER BY id")).await? {
            let read = |row: &MySqlRow| -> Result<_, sqlx::Error> {
                Ok((int(row, 0)?, (int(row, 1)?, text(row, 2)?, text(row, 3)?)))
            };
            let (user, preference) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.preferences.push(preference);
            }
        }
        let tags = sql(
            &format!(
                "CAST(user_id AS SIGNED), CAST(id AS SIGNED), org, `key`, value, {}, {}",
                micros("created"),
                micros("modified")
            ),
            "user_api_userorgtag",
        );
        for row in self.rows(&tags).await? {
            let read = |row: &MySqlRow| -> Result<(i64, LmsOrgTag), sqlx::Error> {
                Ok((
                    int(row, 0)?,
                    LmsOrgTag {
                        id: int(row, 1)?,
                        org: text(row, 2)?,
                        key: text(row, 3)?,
                        value: text(row, 4)?,
                        created: int(row, 5)?,
                        modified: int(row, 6)?,
                    },
                ))
            };
            let (user, tag) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.org_tags.push(tag);
            }
        }
        type Slot = fn(&mut Learner) -> &mut Option<LmsPending>;
        let singles: [(&str, &str, Slot); 4] = [
            ("new_email, activation_key", "student_pendingemailchange", |l| &mut l.pending_email),
            ("new_name, rationale", "student_pendingnamechange", |l| &mut l.pending_name),
            ("new_secondary_email, activation_key", "student_pendingsecondaryemailchange", |l| {
                &mut l.pending_secondary
            }),
            ("secondary_email, CAST(CAST(is_active AS SIGNED) AS CHAR)", "auth_accountrecovery", |l| &mut l.recovery),
        ];
        for (columns, table, slot) in singles {
            for row in
                self.rows(&sql(&format!("CAST(user_id AS SIGNED), CAST(id AS SIGNED), {columns}"), table)).await?
            {
                let read = |row: &MySqlRow| -> Result<(i64, LmsPending), sqlx::Error> {
                    Ok((int(row, 0)?, LmsPending { id: int(row, 1)?, value: text(row, 2)?, extra: text(row, 3)? }))
                };
                let (user, pending) = read(&row).map_err(source_error)?;
                if let Some(l) = by_id.get_mut(&user) {
                    *slot(l) = Some(pending);
                }
            }
        }
        let statuses = format!(
            "SELECT CAST(s.user_id AS SIGNED), CAST(s.id AS SIGNED), s.original_username, s.original_email, \
                    s.original_name, s.retired_username, s.retired_email, cs.state_name, ls.state_name, s.responses, \
                    {}, {} \
             FROM user_api_userretirementstatus s \
             LEFT JOIN user_api_retirementstate cs ON cs.id = s.current_state_id \
             LEFT JOIN user_api_retirementstate ls ON ls.id = s.last_state_id \
             WHERE s.user_id IN ({ids})",
            micros("s.created"),
            micros("s.modified")
        );
        for row in self.rows(&statuses).await? {
            let read = |row: &MySqlRow| -> Result<(i64, LmsRetirementStatus), sqlx::Error> {
                Ok((
                    int(row, 0)?,
                    LmsRetirementStatus {
                        id: int(row, 1)?,
                        original_username: text(row, 2)?,
                        original_email: text(row, 3)?,
                        original_name: text(row, 4)?,
                        retired_username: text(row, 5)?,
                        retired_email: text(row, 6)?,
                        current_state: opt_text(row, 7)?,
                        last_state: opt_text(row, 8)?,
                        responses: text(row, 9)?,
                        created: int(row, 10)?,
                        modified: int(row, 11)?,
                    },
                ))
            };
            let (user, status) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.retirement_status = Some(status);
            }
        }
        let requests = sql(
            &format!("CAST(user_id AS SIGNED), CAST(id AS SIGNED), {}, {}", micros("created"), micros("modified")),
            "user_api_userretirementrequest",
        );
        for row in self.rows(&requests).await? {
            let read = |row: &MySqlRow| -> Result<(i64, (i64, i64, i64)), sqlx::Error> {
                Ok((int(row, 0)?, (int(row, 1)?, int(row, 2)?, int(row, 3)?)))
            };
            let (user, request) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.retirement_request = Some(request);
            }
        }
        let reporting = sql(
            &format!(
                "CAST(user_id AS SIGNED), CAST(id AS SIGNED), original_username, original_email, original_name, \
                 CAST(is_being_processed AS SIGNED), {}, {}",
                micros("created"),
                micros("modified")
            ),
            "user_api_userretirementpartnerreportingstatus",
        );
        for row in self.rows(&reporting).await? {
            let read = |row: &MySqlRow| -> Result<(i64, LmsPartnerReporting), sqlx::Error> {
                Ok((
                    int(row, 0)?,
                    LmsPartnerReporting {
                        id: int(row, 1)?,
                        original_username: text(row, 2)?,
                        original_email: text(row, 3)?,
                        original_name: text(row, 4)?,
                        is_being_processed: int(row, 5)? != 0,
                        created: int(row, 6)?,
                        modified: int(row, 7)?,
                    },
                ))
            };
            let (user, row) = read(&row).map_err(source_error)?;
            if let Some(l) = by_id.get_mut(&user) {
                l.partner_reporting = Some(row);
            }
        }
        Ok(())
    }

    async fn rows(&mut self, sql: &str) -> Result<Vec<MySqlRow>, ImportError> {
        sqlx::query(sql).fetch_all(&mut self.conn).await.map_err(source_error)
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

fn source_error(e: sqlx::Error) -> ImportError {
    ImportError::Source(e.to_string())
}
