//! Retirement (account erasure): retired identifiers, the per-tenant state
//! list, and creating retirement requests. The pipeline endpoints come with
//! their own issue.

pub mod actions;
pub mod identifiers;
pub mod pipeline;
pub mod report;
pub mod requests;
pub mod routes;
pub mod states;
pub mod status;
