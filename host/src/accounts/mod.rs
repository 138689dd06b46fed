//! Accounts: users and their profiles.

pub mod age;
pub mod routes;
pub mod service;
pub mod store;
pub mod types;
