//! Retirement (account erasure): the per-tenant state list, retirement
//! requests, the driver's pipeline endpoints and the erasure actions, and
//! partner reporting. Builds on `users`, `preferences` and `accounts`.

pub mod actions;
pub mod api_doc;
pub mod pipeline;
pub mod report;
pub mod requests;
pub mod routes;
pub mod states;
pub mod status;

use crate::store::StoreError;

/// Why a retirement request was refused. Open edX answers these routes in
/// their own shapes (`routes.rs` renders them).
#[derive(Debug, thiserror::Error)]
pub enum RetirementError {
    /// 400 whose body is this one JSON string.
    #[error("{0}")]
    BadRequest(String),
    /// 404 `{"message": "The user was not specified."}`.
    #[error("The user was not specified.")]
    UserNotSpecified,
    /// 404 with an empty body.
    #[error("not found")]
    NotFound,
    /// 400 `{"message": …}` (cancellation).
    #[error("{0}")]
    Cancel(String),
    /// DRF's 403.
    #[error("permission denied")]
    PermissionDenied,
    /// An unexpected failure of an action; the cause is in the log.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A 400 whose body is one JSON string.
pub fn bad_request(text: impl Into<String>) -> RetirementError {
    RetirementError::BadRequest(text.into())
}
