//! Preferences: per-user key → string pairs, the org e-mail opt-in, and the
//! time-zone list (preferences.md).

pub mod api_doc;
pub mod routes;
pub mod rules;
pub mod service;
mod store;
pub mod timezones;
