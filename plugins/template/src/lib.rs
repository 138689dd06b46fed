//! A userapi extended-profile validator, from the template: every field the
//! site lists in `config.fields` is text, trimmed, at most `max_length`
//! characters; fields it does not list are refused.
//!
//! ```json
//! {"fields": ["employer", "team"], "max_length": 40}
//! ```
//!
//! Build: `cargo build --release --target wasm32-wasip2`; try it:
//! `userapi plugin run target/wasm32-wasip2/release/plugin_template.wasm
//! --world validator --fixtures fixtures`.

use serde::Deserialize;
use userapi_plugin_sdk::validator::{self, Field, FieldDescription, FieldError, FieldType, Guest, ValidationRequest};
use userapi_plugin_sdk::{log, Level};

/// The site's `config`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    fields: Vec<String>,
    max_length: Option<usize>,
}

impl Config {
    /// Reads the config; a config the plugin cannot use is refused when the
    /// site loads (the host calls `describe` then), so panicking is right.
    fn read(text: &str) -> Config {
        userapi_plugin_sdk::config(text).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The plugin (exported from the component; `pub`, so native builds do not call it unused).
pub struct Template;

impl Guest for Template {
    fn validate(request: ValidationRequest) -> Result<Vec<Field>, Vec<FieldError>> {
        let config = Config::read(&request.config);
        let max = config.max_length.unwrap_or(100);
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for field in request.submitted {
            if !config.fields.contains(&field.name) {
                refused.push(validator::refuse(&field.name, "This field is not part of the profile."));
                continue;
            }
            match userapi_plugin_sdk::json(&field.value) {
                Ok(serde_json::Value::Null) => accepted.push(field),
                Ok(serde_json::Value::String(text)) => {
                    let text = text.trim();
                    if text.chars().count() > max {
                        refused.push(validator::refuse(&field.name, &format!("Use at most {max} characters.")));
                    } else {
                        accepted.push(validator::field(&field.name, &serde_json::Value::from(text)));
                    }
                }
                _ => refused.push(validator::refuse(&field.name, "Enter text.")),
            }
        }
        if refused.is_empty() {
            Ok(accepted)
        } else {
            log(Level::Info, &format!("refused {} field(s) for {}", refused.len(), request.username));
            Err(refused)
        }
    }

    fn describe(config: String) -> Vec<FieldDescription> {
        Config::read(&config)
            .fields
            .into_iter()
            .map(|name| FieldDescription {
                label: name.replace('_', " "),
                name,
                type_: FieldType::Text,
                required: false,
                choices: Vec::new(),
            })
            .collect()
    }
}

// Exported from the component only; native tests call `Template` directly.
userapi_plugin_sdk::export_validator!(Template);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use userapi_plugin_sdk::testing;

    fn config() -> serde_json::Value {
        json!({"fields": ["employer"], "max_length": 5})
    }

    #[test]
    fn trims_what_it_accepts() {
        let request = validator::request(&config(), "jdoe", &[("employer", json!("  ACME "))], &[]);
        let accepted = Template::validate(request).unwrap_or_else(|_| panic!("refused"));
        assert_eq!(accepted[0].value, r#""ACME""#);
    }

    #[test]
    fn refuses_unknown_and_long_fields_and_logs_it() {
        let request =
            validator::request(&config(), "jdoe", &[("employer", json!("far too long")), ("x", json!("y"))], &[]);
        let refused = Template::validate(request).expect_err("refused");
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].user_message, "Use at most 5 characters.");
        assert_eq!(
            refused[0].developer_message,
            "Error in extended profile field [employer]: Use at most 5 characters."
        );
        assert_eq!(testing::logs(), vec![(Level::Info, "refused 2 field(s) for jdoe".to_owned())]);
    }

    #[test]
    fn describes_the_configured_fields() {
        let fields = Template::describe(config().to_string());
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name, "employer");
    }
}
