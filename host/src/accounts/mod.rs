//! Accounts: profiles and the account object, PATCH, e-mail and name
//! changes, deactivation, registration validation, username replacement
//! and profile images. Builds on `users` and `preferences`.

pub mod api_doc;
pub mod changes;
pub mod choices;
pub mod deactivation;
pub mod extended_profile;
pub mod names;
pub mod password_policy;
pub mod patch;
pub mod profile_image;
pub mod registration;
pub mod routes;
pub mod service;
pub mod social;
mod store;
pub mod username_replacement;
pub mod view;
pub mod visibility;
