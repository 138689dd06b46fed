//! Retirement states per tenant, derived from the site config
//! (retirement.md §1.1): ids kept for states that remain, orders 1, 11, 21…

use std::collections::{BTreeMap, HashMap};

use crate::sites::SiteSet;
use crate::store::{Db, StoreError};

/// The states every list must contain.
pub const REQUIRED: &[&str] = &["PENDING", "ERRORED", "ABORTED", "COMPLETE"];
/// The states a row never leaves.
pub const DEAD_ENDS: &[&str] = &["ERRORED", "ABORTED", "COMPLETE"];

/// Why a tenant's state list could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum StateSyncError {
    #[error(
        "tenant {tenant:?}: Users are currently being processed. All users must be in one of these states \
         to change the retirement states: PENDING, ERRORED, ABORTED, COMPLETE"
    )]
    UsersInProgress { tenant: String },
    #[error("tenant {tenant:?}: cannot remove state {state}: retirement rows are in it")]
    StateInUse { tenant: String, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for StateSyncError {
    fn from(e: sqlx::Error) -> Self {
        StateSyncError::Store(e.into())
    }
}

/// Brings the `retirement_states` of every tenant in `sites` in line with
/// its config, in one transaction: all tenants change, or none.
pub async fn sync(db: &Db, sites: &SiteSet) -> Result<(), StateSyncError> {
    let mut tenants: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
    for site in sites.all() {
        tenants.insert(&site.tenant, &site.config.retirement.states);
    }
    let mut tx = db.begin().await?;
    for (tenant, states) in tenants {
        sync_tenant(&mut tx, tenant, states).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn sync_tenant(tx: &mut sqlx::AnyConnection, tenant: &str, states: &[String]) -> Result<(), StateSyncError> {
    let existing: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, state_name, state_execution_order FROM retirement_states WHERE tenant = $1 ORDER BY state_execution_order",
    )
    .bind(tenant)
    .fetch_all(&mut *tx)
    .await?;
    let unchanged = existing.len() == states.len()
        && existing
            .iter()
            .zip(states)
            .enumerate()
            .all(|(i, ((_, name, order), want))| name == want && *order == order_of(i));
    if unchanged {
        return Ok(());
    }
    if !existing.is_empty() {
        let busy: Option<(i64,)> = sqlx::query_as(
            "SELECT s.id FROM retirement_status s JOIN retirement_states st ON st.id = s.current_state_id \
             WHERE st.tenant = $1 AND st.required = 0",
        )
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await?;
        if busy.is_some() {
            return Err(StateSyncError::UsersInProgress { tenant: tenant.to_owned() });
        }
    }
    let by_name: HashMap<&str, i64> = existing.iter().map(|(id, name, _)| (name.as_str(), *id)).collect();
    for (id, name, _) in &existing {
        if !states.contains(name) {
            let used: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM retirement_status WHERE current_state_id = $1 OR last_state_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if used.is_some() {
                return Err(StateSyncError::StateInUse { tenant: tenant.to_owned(), state: name.clone() });
            }
            sqlx::query("DELETE FROM retirement_states WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
    }
    for (i, name) in states.iter().enumerate() {
        let dead_end = i64::from(DEAD_ENDS.contains(&name.as_str()));
        let required = i64::from(REQUIRED.contains(&name.as_str()));
        match by_name.get(name.as_str()) {
            Some(id) => {
                sqlx::query("UPDATE retirement_states SET state_execution_order = $1 WHERE id = $2")
                    .bind(order_of(i))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO retirement_states (tenant, state_name, state_execution_order, is_dead_end_state, required) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(name)
                .bind(order_of(i))
                .bind(dead_end)
                .bind(required)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// Execution order of the `i`-th state: 1, 11, 21, …
fn order_of(i: usize) -> i64 {
    1 + 10 * i as i64
}
