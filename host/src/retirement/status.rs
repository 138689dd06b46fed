//! Retirement status rows: loading, rendering (retirement.md "The
//! retirement status object"), the working-state rule (§3) and moves (§5.4).

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};

use super::states::REQUIRED;
use crate::clock::{iso8601, python_datetime};
use crate::store::StoreResult;

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
}

impl<'r> FromRow<'r, AnyRow> for StatusRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let orgs: String = row.try_get("orgs")?;
        Ok(StatusRow {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            user_username: row.try_get("user_username")?,
            user_email: row.try_get("user_email")?,
            profile_name: row.try_get::<Option<String>, _>("profile_name")?.unwrap_or_default(),
            current: State {
                id: row.try_get("cur_id")?,
                name: row.try_get("cur_name")?,
                order: row.try_get("cur_order")?,
            },
            last: State {
                id: row.try_get("last_id")?,
                name: row.try_get("last_name")?,
                order: row.try_get("last_order")?,
            },
            original_username: row.try_get("original_username")?,
            original_email: row.try_get("original_email")?,
            original_name: row.try_get("original_name")?,
            retired_username: row.try_get("retired_username")?,
            retired_email: row.try_get("retired_email")?,
            orgs: serde_json::from_str(&orgs).unwrap_or_default(),
            created: row.try_get("created")?,
            modified: row.try_get("modified")?,
        })
    }
}

/// The SELECT every status query starts from; callers add WHERE/ORDER.
pub const SELECT_STATUS: &str = "SELECT s.id, s.user_id, u.username AS user_username, u.email AS user_email, \
     p.name AS profile_name, cs.id AS cur_id, cs.state_name AS cur_name, cs.state_execution_order AS cur_order, \
     ls.id AS last_id, ls.state_name AS last_name, ls.state_execution_order AS last_order, \
     s.original_username, s.original_email, s.original_name, s.retired_username, s.retired_email, s.orgs, \
     s.created, s.modified \
     FROM retirement_status s JOIN users u ON u.id = s.user_id LEFT JOIN profiles p ON p.user_id = s.user_id \
     JOIN retirement_states cs ON cs.id = s.current_state_id JOIN retirement_states ls ON ls.id = s.last_state_id";

impl StatusRow {
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
    conn: &mut AnyConnection,
    tenant: &str,
    original_username: &str,
) -> StoreResult<Option<StatusRow>> {
    let sql = format!("{SELECT_STATUS} WHERE u.tenant = $1 AND s.original_username = $2 ORDER BY s.id LIMIT 1");
    Ok(sqlx::query_as(&sql).bind(tenant).bind(original_username).fetch_optional(&mut *conn).await?)
}

/// The status row of user `user_id`.
pub async fn by_user_id(conn: &mut AnyConnection, user_id: i64) -> StoreResult<Option<StatusRow>> {
    let sql = format!("{SELECT_STATUS} WHERE s.user_id = $1");
    Ok(sqlx::query_as(&sql).bind(user_id).fetch_optional(&mut *conn).await?)
}

/// The tenant's states in execution order.
pub async fn states(conn: &mut AnyConnection, tenant: &str) -> StoreResult<Vec<State>> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, state_name, state_execution_order FROM retirement_states WHERE tenant = $1 \
         ORDER BY state_execution_order",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(id, name, order)| State { id, name, order }).collect())
}
