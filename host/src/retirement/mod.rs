//! Retirement (account erasure): retired identifiers for now; the pipeline
//! endpoints come with their own issue.

pub mod identifiers;
