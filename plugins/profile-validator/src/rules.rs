//! The field rules, kept free of WIT plumbing so native tests can drive them.

use serde_json::{Map, Number, Value};

use userapi_plugin_sdk::validator::{Choice, Field, FieldDescription, FieldError, FieldType, ValidationRequest};

/// One configured field.
struct FieldRule {
    name: String,
    label: String,
    kind: FieldType,
    required: bool,
    choices: Vec<String>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min: Option<f64>,
    max: Option<f64>,
    case: Option<String>,
}

/// The plugin `config`, parsed.
struct Rules {
    fields: Vec<FieldRule>,
    allow_unknown: bool,
}

/// Parses the site's config. A config this plugin cannot use is the
/// operator's mistake, not the learner's: it panics, which the host reports
/// as a plugin failure (and refuses at site load, where it calls `describe`).
fn parse_config(config: &str) -> Rules {
    let value: Value = serde_json::from_str(config).unwrap_or(Value::Null);
    let object = match value {
        Value::Null => Map::new(),
        Value::Object(o) => o,
        other => panic!("config must be an object, not {other}"),
    };
    let allow_unknown = object.get("allow_unknown").and_then(Value::as_bool).unwrap_or(false);
    let mut fields = Vec::new();
    for entry in object.get("fields").and_then(Value::as_array).cloned().unwrap_or_default() {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or_else(|| panic!("a field has no name: {entry}"));
        let kind = match entry.get("type").and_then(Value::as_str).unwrap_or("text") {
            "text" => FieldType::Text,
            "integer" => FieldType::Integer,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "choice" => FieldType::Choice,
            "date" => FieldType::Date,
            "url" => FieldType::Url,
            other => panic!("field {name}: unknown type {other:?}"),
        };
        let choices: Vec<String> = entry
            .get("choices")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if kind == FieldType::Choice && choices.is_empty() {
            panic!("field {name}: a choice field needs \"choices\"");
        }
        let usize_of = |key: &str| entry.get(key).and_then(Value::as_u64).map(|n| n as usize);
        fields.push(FieldRule {
            name: name.to_owned(),
            label: entry.get("label").and_then(Value::as_str).unwrap_or(name).to_owned(),
            kind,
            required: entry.get("required").and_then(Value::as_bool).unwrap_or(false),
            choices,
            min_length: usize_of("min_length"),
            max_length: usize_of("max_length"),
            min: entry.get("min").and_then(Value::as_f64),
            max: entry.get("max").and_then(Value::as_f64),
            case: entry.get("case").and_then(Value::as_str).map(str::to_owned),
        });
    }
    Rules { fields, allow_unknown }
}

/// The fields this config knows.
pub fn describe(config: &str) -> Vec<FieldDescription> {
    parse_config(config)
        .fields
        .into_iter()
        .map(|f| FieldDescription {
            name: f.name,
            label: f.label,
            type_: f.kind,
            required: f.required,
            choices: f.choices.iter().map(|c| Choice { value: c.clone(), label: c.clone() }).collect(),
        })
        .collect()
}

fn error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        developer_message: format!("Error in extended profile field [{field}]: {message}"),
        user_message: message,
    }
}

/// Checks and normalises the submitted fields.
pub fn validate(request: &ValidationRequest) -> Result<Vec<Field>, Vec<FieldError>> {
    let rules = parse_config(&request.config);
    let mut accepted = Vec::new();
    let mut errors = Vec::new();
    for field in &request.submitted {
        let value: Value = match serde_json::from_str(&field.value) {
            Ok(v) => v,
            Err(_) => {
                errors.push(error(&field.name, "The value is not valid JSON.".into()));
                continue;
            }
        };
        let Some(rule) = rules.fields.iter().find(|r| r.name == field.name) else {
            if rules.allow_unknown {
                accepted.push(Field { name: field.name.clone(), value: field.value.clone() });
            } else {
                errors.push(error(&field.name, format!("'{}' is not a field of this site's profile.", field.name)));
            }
            continue;
        };
        match normalise(rule, value) {
            Ok(v) => accepted.push(Field { name: field.name.clone(), value: v.to_string() }),
            Err(message) => errors.push(error(&field.name, message)),
        }
    }
    for rule in rules.fields.iter().filter(|r| r.required) {
        let submitted = accepted.iter().find(|f| f.name == rule.name).map(|f| f.value != "null");
        let stored = request.stored.iter().any(|f| f.name == rule.name && f.value != "null");
        let errored = errors.iter().any(|e| e.field == rule.name);
        if !errored && !submitted.unwrap_or(stored) {
            errors.push(error(&rule.name, "This field is required.".into()));
        }
    }
    if errors.is_empty() {
        Ok(accepted)
    } else {
        Err(errors)
    }
}

/// The stored form of one value, or what is wrong with it.
fn normalise(rule: &FieldRule, value: Value) -> Result<Value, String> {
    if value.is_null() {
        return if rule.required { Err("This field is required.".into()) } else { Ok(Value::Null) };
    }
    match rule.kind {
        FieldType::Text => {
            let Value::String(text) = value else { return Err("Enter text.".into()) };
            let mut text = text.trim().to_owned();
            match rule.case.as_deref() {
                Some("lower") => text = text.to_lowercase(),
                Some("upper") => text = text.to_uppercase(),
                _ => {}
            }
            let length = text.chars().count();
            if let Some(min) = rule.min_length.filter(|min| length < *min) {
                return Err(format!("Enter at least {min} characters."));
            }
            if let Some(max) = rule.max_length.filter(|max| length > *max) {
                return Err(format!("Enter at most {max} characters."));
            }
            Ok(Value::String(text))
        }
        FieldType::Integer => {
            let number = match &value {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| "Enter a whole number.".to_owned())?;
            check_range(rule, number as f64)?;
            Ok(Value::from(number))
        }
        FieldType::Number => {
            let number = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            }
            .ok_or_else(|| "Enter a number.".to_owned())?;
            check_range(rule, number)?;
            Number::from_f64(number).map(Value::Number).ok_or_else(|| "Enter a number.".to_owned())
        }
        FieldType::Boolean => match &value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => match s.trim().to_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(Value::Bool(true)),
                "false" | "no" | "0" | "off" => Ok(Value::Bool(false)),
                _ => Err("Choose yes or no.".into()),
            },
            _ => Err("Choose yes or no.".into()),
        },
        FieldType::Choice => {
            let text = value.as_str().map(str::trim).unwrap_or_default();
            rule.choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(text))
                .map(|c| Value::String(c.clone()))
                .ok_or_else(|| format!("Choose one of: {}.", rule.choices.join(", ")))
        }
        FieldType::Date => {
            let text = value.as_str().map(str::trim).unwrap_or_default();
            if is_date(text) {
                Ok(Value::String(text.to_owned()))
            } else {
                Err("Enter a date as YYYY-MM-DD.".into())
            }
        }
        FieldType::Url => {
            let text = value.as_str().map(str::trim).unwrap_or_default();
            let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !text.contains(char::is_whitespace) => {
                    Ok(Value::String(text.to_owned()))
                }
                _ => Err("Enter a web address starting with http:// or https://.".into()),
            }
        }
    }
}

fn check_range(rule: &FieldRule, number: f64) -> Result<(), String> {
    if let Some(min) = rule.min.filter(|min| number < *min) {
        return Err(format!("Enter a value of at least {min}."));
    }
    if let Some(max) = rule.max.filter(|max| number > *max) {
        return Err(format!("Enter a value of at most {max}."));
    }
    Ok(())
}

/// `YYYY-MM-DD` naming a real day of the Gregorian calendar.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFIG: &str = r#"{"fields": [
        {"name": "employer", "type": "text", "max_length": 10},
        {"name": "handle", "type": "text", "case": "lower"},
        {"name": "graduation_year", "type": "integer", "min": 1900, "max": 2100},
        {"name": "favorite_color", "type": "choice", "choices": ["red", "green"]},
        {"name": "newsletter", "type": "boolean", "required": true},
        {"name": "website", "type": "url"},
        {"name": "birthday", "type": "date"}
    ]}"#;

    fn request(submitted: &[(&str, Value)], stored: &[(&str, Value)]) -> ValidationRequest {
        let fields = |list: &[(&str, Value)]| {
            list.iter().map(|(n, v)| Field { name: (*n).to_owned(), value: v.to_string() }).collect()
        };
        ValidationRequest {
            config: CONFIG.to_owned(),
            username: "jdoe".into(),
            submitted: fields(submitted),
            stored: fields(stored),
        }
    }

    fn accepted(result: Result<Vec<Field>, Vec<FieldError>>) -> Vec<(String, Value)> {
        match result {
            Ok(fields) => fields.into_iter().map(|f| (f.name, serde_json::from_str(&f.value).unwrap())).collect(),
            Err(errors) => {
                panic!("unexpected errors: {:?}", errors.iter().map(|e| &e.user_message).collect::<Vec<_>>())
            }
        }
    }

    fn refused(result: Result<Vec<Field>, Vec<FieldError>>) -> Vec<(String, String)> {
        result.expect_err("expected errors").into_iter().map(|e| (e.field, e.user_message)).collect()
    }

    #[test]
    fn values_are_normalised() {
        let stored = [("newsletter", json!(true))];
        let out = accepted(validate(&request(
            &[
                ("employer", json!("  ACME  ")),
                ("handle", json!("JDoe")),
                ("graduation_year", json!("2012")),
                ("favorite_color", json!("GREEN")),
                ("website", json!(" https://example.com/me ")),
                ("birthday", json!("2000-02-29")),
            ],
            &stored,
        )));
        assert_eq!(
            out,
            vec![
                ("employer".into(), json!("ACME")),
                ("handle".into(), json!("jdoe")),
                ("graduation_year".into(), json!(2012)),
                ("favorite_color".into(), json!("green")),
                ("website".into(), json!("https://example.com/me")),
                ("birthday".into(), json!("2000-02-29")),
            ]
        );
    }

    #[test]
    fn bad_values_are_refused_per_field() {
        let errors = refused(validate(&request(
            &[
                ("employer", json!("far too long a name")),
                ("graduation_year", json!(1800)),
                ("favorite_color", json!("purple")),
                ("website", json!("ftp://example.com")),
                ("birthday", json!("2001-02-29")),
                ("shoe_size", json!(44)),
                ("newsletter", json!("perhaps")),
            ],
            &[],
        )));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["employer", "graduation_year", "favorite_color", "website", "birthday", "shoe_size", "newsletter"]
        );
        assert_eq!(errors[2].1, "Choose one of: red, green.");
    }

    #[test]
    fn required_fields_must_exist_after_the_patch() {
        let errors = refused(validate(&request(&[("employer", json!("ACME"))], &[])));
        assert_eq!(errors, vec![("newsletter".to_owned(), "This field is required.".to_owned())]);
        let out = accepted(validate(&request(&[("newsletter", json!("yes"))], &[])));
        assert_eq!(out, vec![("newsletter".to_owned(), json!(true))]);
        let errors = refused(validate(&request(&[("newsletter", Value::Null)], &[("newsletter", json!(true))])));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn describe_lists_the_configured_fields() {
        let fields = describe(CONFIG);
        assert_eq!(fields.len(), 7);
        assert_eq!(fields[3].choices.len(), 2);
        assert!(fields[4].required);
    }

    #[test]
    #[should_panic(expected = "unknown type")]
    fn a_bad_config_is_a_plugin_failure() {
        describe(r#"{"fields": [{"name": "x", "type": "colour"}]}"#);
    }
}
