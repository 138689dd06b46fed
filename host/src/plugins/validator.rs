//! Calls into the extended-profile-validator world.

use serde_json::Value;

use super::wit::latest::types::{Field, FieldType};
use super::wit::latest::validator::ValidationRequest;
use super::{plugin::Exports, CallError, Cause, Plugin};

/// A field the validator refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRefusal {
    pub field: String,
    pub developer_message: String,
    pub user_message: String,
}

/// A validator's verdict: the (name, value) pairs to store, or the refusals.
pub type Verdict = Result<Vec<(String, Value)>, Vec<FieldRefusal>>;

/// A field the validator knows, for drawing a form.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldDescription {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub choices: Vec<Choice>,
}

/// One allowed value of a choice field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

fn fields(list: &[(String, Value)]) -> Vec<Field> {
    list.iter().map(|(name, value)| Field { name: name.clone(), value: value.to_string() }).collect()
}

impl Plugin {
    /// Validates `submitted` against `stored`: the values to store, or the refusals.
    pub fn validate(
        &self,
        username: &str,
        submitted: &[(String, Value)],
        stored: &[(String, Value)],
    ) -> Result<Verdict, CallError> {
        let request = ValidationRequest {
            config: self.config.clone(),
            username: username.to_owned(),
            submitted: fields(submitted),
            stored: fields(stored),
        };
        let answer = self.call(|exports, store, instance| match exports {
            Exports::Validator(indices) => indices.load(&mut *store, instance)?.call_validate(&mut *store, &request),
            _ => Err(wasmtime::Error::msg("not a validator")),
        })?;
        match answer {
            Ok(accepted) => {
                let mut out = Vec::with_capacity(accepted.len());
                for field in accepted {
                    if !submitted.iter().any(|(name, _)| name == &field.name) {
                        return Err(self.error(Cause::BadOutput(format!(
                            "it returned the field {:?}, which the request did not submit",
                            field.name
                        ))));
                    }
                    let value: Value = serde_json::from_str(&field.value).map_err(|e| {
                        self.error(Cause::BadOutput(format!("the value of {:?} is not JSON: {e}", field.name)))
                    })?;
                    out.push((field.name, value));
                }
                Ok(Ok(out))
            }
            Err(errors) if errors.is_empty() => {
                Err(self.error(Cause::BadOutput("it refused the request without naming a field".into())))
            }
            Err(errors) => Ok(Err(errors
                .into_iter()
                .map(|e| FieldRefusal {
                    field: e.field,
                    developer_message: e.developer_message,
                    user_message: e.user_message,
                })
                .collect())),
        }
    }

    /// The fields the validator knows under the site's config.
    pub fn describe(&self) -> Result<Vec<FieldDescription>, CallError> {
        let described = self.call(|exports, store, instance| match exports {
            Exports::Validator(indices) => {
                indices.load(&mut *store, instance)?.call_describe(&mut *store, &self.config)
            }
            _ => Err(wasmtime::Error::msg("not a validator")),
        })?;
        Ok(described
            .into_iter()
            .map(|d| FieldDescription {
                name: d.name,
                label: d.label,
                kind: match d.type_ {
                    FieldType::Text => "text",
                    FieldType::Integer => "integer",
                    FieldType::Number => "number",
                    FieldType::Boolean => "boolean",
                    FieldType::Choice => "choice",
                    FieldType::Date => "date",
                    FieldType::Url => "url",
                },
                required: d.required,
                choices: d.choices.into_iter().map(|c| Choice { value: c.value, label: c.label }).collect(),
            })
            .collect())
    }
}
