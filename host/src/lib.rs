//! userapi: Open edX's User API as a multi-tenant host service.
//!
//! A request flows one way: router → site resolution → authentication →
//! handler → domain service → store (→ plugin). See ARCHITECTURE.md.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod encoding;
pub mod http;
pub mod import;
pub mod mail;
pub mod messages;
pub mod metrics;
pub mod ops_doc;
pub mod plugins;
pub mod preferences;
pub mod pyrepr;
pub mod ratelimit;
pub mod retirement;
pub mod sites;
pub mod store;
pub mod tenant_keys;
pub mod users;
