//! # userapi-plugin-sdk
//!
//! Everything a Rust plugin for userapi needs, for the current plugin WIT
//! (`userapi:plugins@0.1.0`, shipped inside this crate as `wit/`):
//!
//! - one module per world, [`validator`], [`visibility`] and [`formatter`],
//!   with the generated bindings (the `Guest` trait to implement, the request
//!   and answer types) and an export macro: [`export_validator!`],
//!   [`export_visibility!`], [`export_formatter!`];
//! - [`config`] to read the site's plugin `config` into your own type, and
//!   [`json`]/[`to_json`] for field values, which travel as JSON text;
//! - [`log`], which writes to the host's log inside the host and to a
//!   buffer you can inspect in native tests ([`testing::logs`]);
//! - request builders in each world module, so `cargo test` on your
//!   machine calls your `Guest` implementation directly.
//!
//! A validator:
//!
//! ```ignore
//! use userapi_plugin_sdk::validator::{Field, FieldError, Guest, ValidationRequest};
//!
//! pub struct Upper;
//!
//! impl Guest for Upper {
//!     fn validate(request: ValidationRequest) -> Result<Vec<Field>, Vec<FieldError>> {
//!         Ok(request.submitted.into_iter().map(|f| Field { value: f.value.to_uppercase(), ..f }).collect())
//!     }
//!     fn describe(_config: String) -> Vec<userapi_plugin_sdk::validator::FieldDescription> {
//!         Vec::new()
//!     }
//! }
//!
//! // Exported from the component only; native tests call `Upper` directly
//! // (it is `pub` so native builds do not call it unused).
//! userapi_plugin_sdk::export_validator!(Upper);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `.wasm` is
//! a component `userapi plugin check` and `userapi plugin run` accept.

use serde::de::DeserializeOwned;

/// The generated bindings, one module per world (each world gets its own
/// copy of the shared types; use the ones of the world you implement). The
/// export macros refer to them; authors use the modules below.
#[doc(hidden)]
pub mod generated {
    pub mod validator {
        wit_bindgen::generate!({
            path: "wit",
            world: "extended-profile-validator",
            pub_export_macro: true,
            export_macro_name: "__export_validator",
            default_bindings_module: "userapi_plugin_sdk::generated::validator",
        });
    }

    pub mod visibility {
        wit_bindgen::generate!({
            path: "wit",
            world: "visibility-policy",
            pub_export_macro: true,
            export_macro_name: "__export_visibility",
            default_bindings_module: "userapi_plugin_sdk::generated::visibility",
        });
    }

    pub mod formatter {
        wit_bindgen::generate!({
            path: "wit",
            world: "partner-report-formatter",
            pub_export_macro: true,
            export_macro_name: "__export_formatter",
            default_bindings_module: "userapi_plugin_sdk::generated::formatter",
        });
    }
}

/// Exports `$ty` (a `pub` type implementing [`validator::Guest`]) from the
/// component. Native builds export nothing: tests call `$ty` directly.
#[macro_export]
macro_rules! export_validator {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::generated::validator::__export_validator!($ty);
    };
}

/// Exports `$ty` (a `pub` type implementing [`visibility::Guest`]) from the component.
#[macro_export]
macro_rules! export_visibility {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::generated::visibility::__export_visibility!($ty);
    };
}

/// Exports `$ty` (a `pub` type implementing [`formatter::Guest`]) from the component.
#[macro_export]
macro_rules! export_formatter {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::generated::formatter::__export_formatter!($ty);
    };
}

/// The extended-profile validator world: validate (and normalise) the
/// `extended_profile` fields of an account PATCH; describe them for forms.
pub mod validator {
    pub use crate::generated::validator::exports::userapi::plugins::validator::{Guest, ValidationRequest};
    pub use crate::generated::validator::userapi::plugins::types::{
        Choice, Field, FieldDescription, FieldError, FieldType,
    };

    /// A request as the host would send it: `config` and the fields as JSON values.
    pub fn request(
        config: &serde_json::Value,
        username: &str,
        submitted: &[(&str, serde_json::Value)],
        stored: &[(&str, serde_json::Value)],
    ) -> ValidationRequest {
        let fields = |list: &[(&str, serde_json::Value)]| {
            list.iter().map(|(name, value)| field(name, value)).collect::<Vec<_>>()
        };
        ValidationRequest {
            config: config.to_string(),
            username: username.to_owned(),
            submitted: fields(submitted),
            stored: fields(stored),
        }
    }

    /// A field holding `value` (as JSON text).
    pub fn field(name: &str, value: &serde_json::Value) -> Field {
        Field { name: name.to_owned(), value: value.to_string() }
    }

    /// A refusal of `field` in Open edX's words: the learner reads
    /// `message`, the developer `Error in extended profile field [<field>]:
    /// <message>` (the host passes field errors through as they are).
    pub fn refuse(field: &str, message: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            developer_message: format!("Error in extended profile field [{field}]: {message}"),
            user_message: message.to_owned(),
        }
    }
}

/// The visibility-policy world: which account fields a reader may see.
pub mod visibility {
    pub use crate::generated::visibility::exports::userapi::plugins::visibility::{Guest, VisibilityRequest};
    pub use crate::generated::visibility::userapi::plugins::types::{Viewer, ViewerKind};
}

/// The partner-report world: one org's report file.
pub mod formatter {
    pub use crate::generated::formatter::exports::userapi::plugins::formatter::{Guest, ReportRequest};
    pub use crate::generated::formatter::userapi::plugins::types::{ReportFile, ReportRow};
}

/// Reads the site's plugin `config` (JSON text; `null` when the site gave
/// none, which reads as `T::default()`).
pub fn config<T: DeserializeOwned + Default>(config: &str) -> Result<T, String> {
    match serde_json::from_str::<serde_json::Value>(config) {
        Ok(serde_json::Value::Null) => Ok(T::default()),
        Ok(value) => serde_json::from_value(value).map_err(|e| format!("the plugin config is not valid: {e}")),
        Err(e) => Err(format!("the plugin config is not JSON: {e}")),
    }
}

/// A field value's JSON.
pub fn json(value: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(value).map_err(|e| format!("not JSON: {e}"))
}

/// A JSON value as the text a field carries.
pub fn to_json(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Log levels of the host's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes `message` to the host's log (with the site and plugin names the
/// host adds). At most 64 lines per call are kept. In native builds the
/// line goes to [`testing::logs`] instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use generated::validator::userapi::plugins::log::{write, Level as L};
        let level = match level {
            Level::Trace => L::Trace,
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        };
        write(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    testing::LOGS.with(|logs| logs.borrow_mut().push((level, message.to_owned())));
}

/// Native tests of plugin logic (`cargo test` on your machine).
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    use std::cell::RefCell;

    use super::Level;

    thread_local! {
        pub(crate) static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// The lines [`crate::log`] wrote on this thread, taken.
    pub fn logs() -> Vec<(Level, String)> {
        LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    struct Conf {
        max: u32,
    }

    #[test]
    fn config_reads_null_as_default_and_reports_bad_json() {
        assert_eq!(config::<Conf>("null"), Ok(Conf::default()));
        assert_eq!(config::<Conf>(r#"{"max": 3}"#), Ok(Conf { max: 3 }));
        assert!(config::<Conf>("{").unwrap_err().contains("not JSON"));
        assert!(config::<Conf>(r#"{"max": "x"}"#).unwrap_err().contains("not valid"));
    }

    #[test]
    fn requests_carry_json_text_and_logs_are_captured() {
        let r = validator::request(&serde_json::json!({"a": 1}), "jdoe", &[("x", serde_json::json!("v"))], &[]);
        assert_eq!(r.config, r#"{"a":1}"#);
        assert_eq!(r.submitted[0].value, r#""v""#);
        log(Level::Warn, "hello");
        assert_eq!(testing::logs(), vec![(Level::Warn, "hello".to_owned())]);
        assert!(testing::logs().is_empty());
    }
}
