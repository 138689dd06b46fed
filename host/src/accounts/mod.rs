//! Accounts: users and their profiles.

pub mod age;
pub mod changes;
pub mod choices;
pub mod deactivation;
pub mod extended_profile;
pub mod password_policy;
pub mod patch;
pub mod profile_image;
pub mod registration;
pub mod routes;
pub mod service;
pub mod social;
pub mod store;
pub mod types;
pub mod username_replacement;
pub mod view;
pub mod visibility;
