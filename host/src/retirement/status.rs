//! Retirement status rows: loading, rendering (retirement.md "The
//! retirement status object"), the working-state rule (§3) and moves (§5.4).

use serde_json::{json, Value};

use super::states::REQUIRED;
use crate::args;
use crate::clock::{iso8601, python_datetime};
use crate::store::{Column, Conn, FromRow, Param, Row, StoreResult};
use crate::users::sealing::{self, col};

/// A state as rows reference it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: i64,
    pub name: String,
    pub order: i64,
}

impl State {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "state_name": self.name, "state_execution_order": self.order})
    }

    /// `PENDING`, `ERRORED`, `ABORTED` or `COMPLETE`.
    pub fn is_required(&self) -> bool {
        REQUIRED.contains(&self.name.as_str())
    }
}

/// One status row joined with its user and states.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub id: i64,
    pub user_id: i64,
    pub user_username: String,
    pub user_email: String,
    pub profile_name: String,
    pub current: State,
    pub last: State,
    pub original_username: String,
    pub original_email: String,
    pub original_name: String,
    pub retired_username: String,
    pub retired_email: String,
    pub orgs: Vec<String>,
    pub created: i64,
    pub modified: i64,
    tenant: String,
    key_id: Option<String>,
}

impl FromRow for StatusRow {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let orgs: String = Column::read(row, 16)?;
        Ok(StatusRow {
            id: Column::read(row, 0)?,
            user_id: Column::read(row, 1)?,
            user_username: Column::read(row, 2)?,
            user_email: Column::read(row, 3)?,
            profile_name: Option::<String>::read(row, 4)?.unwrap_or_default(),
            current: State { id: Column::read(row, 5)?, name: Column::read(row, 6)?, order: Column::read(row, 7)? },
            last: State { id: Column::read(row, 8)?, name: Column::read(row, 9)?, order: Column::read(row, 10)? },
            original_username: Column::read(row, 11)?,
            original_email: Column::read(row, 12)?,
            original_name: Column::read(row, 13)?,
            retired_username: Column::read(row, 14)?,
            retired_email: Column::read(row, 15)?,
            orgs: serde_json::from_str(&orgs).unwrap_or_default(),
            created: Column::read(row, 17)?,
            modified: Column::read(row, 18)?,
            tenant: Column::read(row, 19)?,
            key_id: Column::read(row, 20)?,
        })
    }
}

/// The SELECT every status query starts from; callers add WHERE/ORDER.
pub const SELECT_STATUS: &str = "SELECT s.id, s.user_id, u.username AS user_username, u.email AS user_email, \
     p.name AS profile_name, cs.id AS cur_id, cs.state_name AS cur_name, cs.state_execution_order AS cur_order, \
     ls.id AS last_id, ls.state_name AS last_name, ls.state_execution_order AS last_order, \
     s.original_username, s.original_email, s.original_name, s.retired_username, s.retired_email, s.orgs, \
     s.created, s.modified, u.tenant, u.key_id \
     FROM retirement_status s JOIN users u ON u.id = s.user_id LEFT JOIN profiles p ON p.user_id = s.user_id \
     JOIN retirement_states cs ON cs.id = s.current_state_id JOIN retirement_states ls ON ls.id = s.last_state_id";

impl StatusRow {
    /// Opens the sealed values read from the row.
    async fn open(mut self, c: &mut Conn) -> StoreResult<StatusRow> {
        let key = sealing::key_named(c, &self.tenant, self.key_id.as_deref()).await?;
        let key = key.as_deref();
        self.user_email = sealing::open(key, col::EMAIL, &self.user_email)?;
        self.profile_name = sealing::open(key, col::NAME, &self.profile_name)?;
        self.original_email = sealing::open(key, col::ORIGINAL_EMAIL, &self.original_email)?;
        self.original_name = sealing::open(key, col::ORIGINAL_NAME, &self.original_name)?;
        Ok(self)
    }

    /// The status object of the API.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "user": {
                "id": self.user_id,
                "username": self.user_username,
                "email": self.user_email,
                "profile": {"id": self.user_id, "name": self.profile_name},
            },
            "current_state": self.current.to_json(),
            "last_state": self.last.to_json(),
            "created": iso8601(self.created),
            "modified": iso8601(self.modified),
            "original_username": self.original_username,
            "original_email": self.original_email,
            "original_name": self.original_name,
            "retired_username": self.retired_username,
            "retired_email": self.retired_email,
        })
    }

    /// edX's rendering of a row inside messages.
    pub fn describe(&self) -> String {
        format!(
            "User: {} State: {} (step {}) Last Updated: {}",
            self.user_id,
            self.current.name,
            self.current.order,
            python_datetime(self.modified)
        )
    }

    /// §3: actions only run on rows in a working state.
    pub fn working_state_error(&self) -> Option<String> {
        if self.current.is_required() || self.current.name.ends_with("_COMPLETE") {
            Some(format!(
                "{} is in {}, not a valid state to perform retirement actions on.",
                self.describe(),
                self.current.name
            ))
        } else {
            None
        }
    }
}

/// The status row of `original_username` (exact, case-sensitive) in `tenant`.
pub async fn by_original_username(
    c: &mut Conn,
    tenant: &str,
    original_username: &str,
) -> StoreResult<Option<StatusRow>> {
    let sql = format!("{SELECT_STATUS} WHERE s.original_username = $2 AND u.tenant = $1 ORDER BY s.id LIMIT 1");
    fetch_one(c, &sql, args![tenant, original_username]).await
}

/// The status rows `sql` (which starts with [`SELECT_STATUS`]) selects, opened.
pub async fn fetch(c: &mut Conn, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<StatusRow>> {
    let rows: Vec<StatusRow> = c.fetch_all(sql, params).await?;
    let mut opened = Vec::with_capacity(rows.len());
    for row in rows {
        opened.push(row.open(c).await?);
    }
    Ok(opened)
}

async fn fetch_one(c: &mut Conn, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<StatusRow>> {
    match c.fetch_optional::<StatusRow>(sql, params).await? {
        Some(row) => Ok(Some(row.open(c).await?)),
        None => Ok(None),
    }
}

/// The status row of user `user_id`.
pub async fn by_user_id(c: &mut Conn, user_id: i64) -> StoreResult<Option<StatusRow>> {
    let sql = format!("{SELECT_STATUS} WHERE s.user_id = $1");
    fetch_one(c, &sql, args![user_id]).await
}

/// The status row `id` of `tenant`.
pub async fn by_id(c: &mut Conn, tenant: &str, id: i64) -> StoreResult<Option<StatusRow>> {
    let sql = format!("{SELECT_STATUS} WHERE u.tenant = $1 AND s.id = $2");
    fetch_one(c, &sql, args![tenant, id]).await
}

/// The tenant's states in execution order.
pub async fn states(c: &mut Conn, tenant: &str) -> StoreResult<Vec<State>> {
    let rows: Vec<(i64, String, i64)> = c
        .fetch_all(
            "SELECT id, state_name, state_execution_order FROM retirement_states WHERE tenant = $1 \
             ORDER BY state_execution_order",
            args![tenant],
        )
        .await?;
    Ok(rows.into_iter().map(|(id, name, order)| State { id, name, order }).collect())
}
