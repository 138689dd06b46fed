//! Extended-profile writes (accounts.md §8.8): shape checks, the site's
//! JSON Schema, then the site's validator plugin, whose normalised values
//! are what is stored. Values live in the profile's `meta` object.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::messages::MessagePair;
use crate::plugins::validator::FieldDescription;
use crate::plugins::CallError;
use crate::sites::Site;
use crate::users::UserRecord;

/// Names in `meta` that hold Open edX's own history, never client data.
const RESERVED: &[&str] = &["old_names", "old_emails", "session_id"];

fn bad_format(message: &str) -> BTreeMap<String, MessagePair> {
    BTreeMap::from([(
        "extended_profile".to_owned(),
        MessagePair { developer_message: message.into(), user_message: Some("Invalid extended profile format".into()) },
    )])
}

fn field_error(name: &str, message: &str) -> MessagePair {
    MessagePair {
        developer_message: format!("Error in extended profile field [{name}]: {message}"),
        user_message: Some(message.to_owned()),
    }
}

/// The site's extended-profile fields, for drawing a form: as the site's
/// validator plugin describes them, else the site's `extended_profile_fields`
/// as optional text fields labelled with their names.
pub fn described_fields(site: &Site) -> Vec<FieldDescription> {
    if site.plugins.validator.is_some() {
        return site.plugins.described_fields.clone();
    }
    site.config
        .extended_profile_fields
        .iter()
        .map(|name| FieldDescription {
            name: name.clone(),
            label: name.clone(),
            kind: "text",
            required: false,
            choices: Vec::new(),
        })
        .collect()
}

/// Why an `extended_profile` value was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// The client's values are wrong: a 400 with these field errors.
    Fields(BTreeMap<String, MessagePair>),
    /// The site's validator failed: nothing may be stored.
    Plugin(CallError),
}

/// Validates an `extended_profile` array into the (field name, value) pairs to store.
pub fn validate(site: &Site, record: &UserRecord, value: &Value) -> Result<Vec<(String, Value)>, Refusal> {
    let fields = check_declared(site, value).map_err(Refusal::Fields)?;
    let Some(plugin) = &site.plugins.validator else {
        return Ok(fields);
    };
    let stored = stored_fields(record);
    match plugin.validate(&record.user.username, &fields, &stored).map_err(Refusal::Plugin)? {
        Ok(normalised) => Ok(normalised),
        Err(refusals) => Err(Refusal::Fields(
            refusals
                .into_iter()
                .map(|r| {
                    let pair =
                        MessagePair { developer_message: r.developer_message, user_message: Some(r.user_message) };
                    (r.field, pair)
                })
                .collect(),
        )),
    }
}

/// The account's extended-profile values before this change (reserved names left out).
fn stored_fields(record: &UserRecord) -> Vec<(String, Value)> {
    let meta: Map<String, Value> = serde_json::from_str(&record.profile.meta).unwrap_or_default();
    meta.into_iter().filter(|(name, _)| !RESERVED.contains(&name.as_str())).collect()
}

/// The shape rules, reserved names and the site's JSON Schema.
fn check_declared(site: &Site, value: &Value) -> Result<Vec<(String, Value)>, BTreeMap<String, MessagePair>> {
    let Some(items) = value.as_array() else {
        return Err(bad_format("extended_profile must be a list"));
    };
    let mut fields = Vec::with_capacity(items.len());
    for item in items {
        let (Some(name), Some(field_value)) =
            (item.get("field_name").and_then(Value::as_str), item.as_object().and_then(|o| o.get("field_value")))
        else {
            return Err(bad_format("extended_profile must be a list"));
        };
        fields.push((name.to_owned(), field_value.clone()));
    }
    let mut errors = BTreeMap::new();
    for (name, _) in &fields {
        if RESERVED.contains(&name.as_str()) {
            errors.insert(name.clone(), field_error(name, &format!("'{name}' is reserved and cannot be set.")));
        }
    }
    if let Some(schema) = &site.extended_profile_schema {
        let instance: Map<String, Value> = fields.iter().cloned().collect();
        let instance = Value::Object(instance);
        for error in schema.iter_errors(&instance) {
            let pointer = error.instance_path().to_string();
            let name =
                pointer.trim_start_matches('/').split('/').next().unwrap_or("").replace("~1", "/").replace("~0", "~");
            let key = if name.is_empty() { "extended_profile".to_owned() } else { name };
            errors.entry(key.clone()).or_insert_with(|| field_error(&key, &error.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}
