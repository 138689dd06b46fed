//! Retirement (account erasure): retired identifiers, the per-tenant state
//! list, and creating retirement requests. The pipeline endpoints come with
//! their own issue.

pub mod identifiers;
pub mod requests;
pub mod states;
