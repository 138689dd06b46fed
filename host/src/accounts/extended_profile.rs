//! Extended-profile writes (accounts.md §8.8): shape checks, the site's
//! JSON Schema, then the validator seam (the plugin issue plugs a WASM
//! validator in here). Values live in the profile's `meta` object.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::store::AccountRecord;
use crate::http::error::MessagePair;
use crate::sites::Site;

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

/// Validates an `extended_profile` array into (field name, value) pairs.
pub fn validate(
    site: &Site,
    _record: &AccountRecord,
    value: &Value,
) -> Result<Vec<(String, Value)>, BTreeMap<String, MessagePair>> {
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
