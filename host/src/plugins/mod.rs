//! WebAssembly plugins (plugins.md): one wasmtime engine per process, one
//! module per WIT world, limits, and the check `userapi plugin check` runs.
//!
//! Three phases, as Spin's factors have them: the [`runtime`] is built once;
//! a site's slots are loaded and checked when its config is ([`Plugin::load`]);
//! each call gets a fresh store and instance ([`Plugin`]'s world methods in
//! [`validator`], [`visibility`], [`formatter`]).

pub mod check;
pub mod formatter;
mod guest_io;
pub mod limits;
mod plugin;
pub mod runner;
pub mod runtime;
mod state;
pub mod validator;
pub mod visibility;
pub mod wit;

use std::fmt;
use std::sync::Arc;

pub use plugin::{last_call_stats, CallStats, Plugin};

/// The three decisions a site may hand to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Validator,
    Visibility,
    Formatter,
}

impl Slot {
    /// Every slot, in config order.
    pub const ALL: [Slot; 3] = [Slot::Validator, Slot::Visibility, Slot::Formatter];

    /// The key under the site's `plugins` object.
    pub fn config_key(self) -> &'static str {
        match self {
            Slot::Validator => "extended_profile_validator",
            Slot::Visibility => "visibility_policy",
            Slot::Formatter => "partner_report_formatter",
        }
    }

    /// The WIT world a plugin for this slot targets.
    pub fn world(self) -> &'static str {
        match self {
            Slot::Validator => "extended-profile-validator",
            Slot::Visibility => "visibility-policy",
            Slot::Formatter => "partner-report-formatter",
        }
    }

    /// The interface the world exports, with package and version.
    pub fn export_name(self) -> String {
        let interface = match self {
            Slot::Validator => "validator",
            Slot::Visibility => "visibility",
            Slot::Formatter => "formatter",
        };
        format!("userapi:plugins/{interface}@{}", wit::latest::VERSION)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_key())
    }
}

/// A site's loaded plugins; an empty slot means built-in behaviour.
#[derive(Debug, Default, Clone)]
pub struct SitePlugins {
    pub validator: Option<Arc<Plugin>>,
    pub visibility: Option<Arc<Plugin>>,
    pub formatter: Option<Arc<Plugin>>,
    /// What the validator's `describe` answered at load (empty without one).
    pub described_fields: Vec<validator::FieldDescription>,
}

/// Why a plugin call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cause {
    #[error("it ran out of time (limit {0} ms)")]
    Timeout(u64),
    #[error("it ran out of fuel (limit {0})")]
    Fuel(u64),
    #[error("it exceeded its memory limit ({0} MiB)")]
    Memory(u64),
    #[error("it trapped: {0}")]
    Trap(String),
    #[error("it returned an invalid answer: {0}")]
    BadOutput(String),
    #[error("it declined: {0}")]
    Declined(String),
    #[error("too many plugin calls are running at once")]
    Busy,
}

/// A failed plugin call, naming the plugin and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin} ({slot}) of site {site} failed: {cause}")]
pub struct CallError {
    pub site: String,
    pub plugin: String,
    pub slot: Slot,
    pub cause: Cause,
}
