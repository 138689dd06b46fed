//! HTTP plumbing: errors, extractors and middleware shared by every route.

pub mod address;
pub mod auth;
pub mod cors;
pub mod error;
pub mod extract;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod site;
