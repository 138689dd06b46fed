//! Black-box tests: each starts the real `userapi serve` on a free port
//! against a fresh SQLite file or a fresh PostgreSQL database, and talks
//! HTTP to it. Every test runs on both backends (see `backend_tests!`).

#[macro_use]
mod harness;

mod accounts;
mod auth;
mod browser;
mod cli;
mod clients;
mod crypto;
mod data_layer;
mod hardening;
mod http;
mod import;
mod mail;
mod openapi;
mod patch_properties;
mod plugin_languages;
mod plugins;
mod preferences;
mod profile_images;
mod registration;
mod retirement;
mod schema;
mod sessions;
mod sites;
mod token_endpoint;
