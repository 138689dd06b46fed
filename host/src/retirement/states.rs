//! Retirement states per tenant, derived from the site config
//! (retirement.md §1.1): ids kept for states that remain, orders 1, 11, 21…

use std::collections::{BTreeMap, HashMap};

use crate::args;
use crate::sites::SiteSet;
use crate::store::{Conn, Db, StoreError};

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

/// Brings the `retirement_states` of every tenant in `sites` in line with
/// its config, in one transaction: all tenants change, or none.
pub async fn sync(db: &Db, sites: &SiteSet) -> Result<(), StateSyncError> {
    let mut tenants: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for site in sites.all() {
        tenants.insert(site.tenant.clone(), site.config.retirement.states.clone());
    }
    db.write(move |c| {
        Box::pin(async move {
            for (tenant, states) in &tenants {
                sync_tenant(c, tenant, states).await?;
            }
            Ok(())
        })
    })
    .await
}

async fn sync_tenant(c: &mut Conn, tenant: &str, states: &[String]) -> Result<(), StateSyncError> {
    let existing = super::status::states(c, tenant).await?;
    let unchanged = existing.len() == states.len()
        && existing.iter().zip(states).enumerate().all(|(i, (s, want))| s.name == *want && s.order == order_of(i));
    if unchanged {
        return Ok(());
    }
    if !existing.is_empty() {
        let busy: Option<(i64,)> = c
            .fetch_optional(
                "SELECT s.id FROM retirement_status s JOIN retirement_states st ON st.id = s.current_state_id \
                 WHERE st.tenant = $1 AND st.required = 0 LIMIT 1",
                args![tenant],
            )
            .await?;
        if busy.is_some() {
            return Err(StateSyncError::UsersInProgress { tenant: tenant.to_owned() });
        }
    }
    let by_name: HashMap<&str, i64> = existing.iter().map(|s| (s.name.as_str(), s.id)).collect();
    for super::status::State { id, name, .. } in &existing {
        if !states.contains(name) {
            let used: Option<(i64,)> = c
                .fetch_optional(
                    "SELECT id FROM retirement_status WHERE current_state_id = $1 OR last_state_id = $1 LIMIT 1",
                    args![*id],
                )
                .await?;
            if used.is_some() {
                return Err(StateSyncError::StateInUse { tenant: tenant.to_owned(), state: name.clone() });
            }
            c.execute("DELETE FROM retirement_states WHERE id = $1", args![*id]).await?;
        }
    }
    for (i, name) in states.iter().enumerate() {
        let dead_end = DEAD_ENDS.contains(&name.as_str());
        let required = REQUIRED.contains(&name.as_str());
        match by_name.get(name.as_str()) {
            Some(id) => {
                c.execute(
                    "UPDATE retirement_states SET state_execution_order = $1 WHERE id = $2",
                    args![order_of(i), *id],
                )
                .await?;
            }
            None => {
                c.execute(
                    "INSERT INTO retirement_states (tenant, state_name, state_execution_order, is_dead_end_state, \
                     required) VALUES ($1, $2, $3, $4, $5)",
                    args![tenant, name, order_of(i), dead_end, required],
                )
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
