//! JSON Schema (2020-12, as OpenAPI 3.1 uses it) in short calls, and the
//! error bodies every route shares (errors.md §1).

use serde_json::{json, Map, Value};

/// A string.
pub fn string() -> Value {
    json!({"type": "string"})
}

/// A string of `format` (`date-time`, `email`, `uri`, …).
pub fn formatted(format: &str) -> Value {
    json!({"type": "string", "format": format})
}

/// One of these strings.
pub fn one_of_strings(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// An integer.
pub fn integer() -> Value {
    json!({"type": "integer"})
}

/// `true` or `false`.
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// Any JSON value.
pub fn any() -> Value {
    json!({})
}

/// `schema`, or `null`.
pub fn nullable(schema: Value) -> Value {
    match schema.get("type") {
        Some(Value::String(t)) if schema.get("enum").is_none() => {
            let mut s = schema.clone();
            s["type"] = json!([t, "null"]);
            s
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// A list of `items`.
pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// An object with these properties, all optional, others allowed.
pub fn object(properties: &[(&str, Value)]) -> Value {
    let props: Map<String, Value> = properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    json!({"type": "object", "properties": props})
}

/// An object with exactly these properties, all present.
pub fn record(properties: &[(&str, Value)]) -> Value {
    let mut s = object(properties);
    s["required"] = json!(properties.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    s["additionalProperties"] = json!(false);
    s
}

/// An object whose keys are free and whose values are `values`.
pub fn map_of(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}

/// Any of these schemas.
pub fn any_of(schemas: Vec<Value>) -> Value {
    json!({"anyOf": schemas})
}

/// The named component schema.
pub fn reference(component: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{component}")})
}

/// `schema` with a description.
pub fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

/// The error bodies of errors.md §1, shared by every route.
pub fn error_components() -> Vec<(&'static str, Value)> {
    let pair = record(&[("developer_message", string()), ("user_message", nullable(string()))]);
    vec![
        ("Detail", described(record(&[("detail", string())]), "DRF's framework errors: `{\"detail\": \"…\"}`.")),
        ("Messages", described(pair.clone(), "A developer message and one for the user (errors.md §1.2).")),
        (
            "FieldErrors",
            described(
                record(&[("field_errors", map_of(pair))]),
                "One message pair per failing field (errors.md §1.3).",
            ),
        ),
        (
            "ValidationErrors",
            described(map_of(array(string())), "DRF serializer errors: each field with its messages."),
        ),
        (
            "InternalError",
            described(
                record(&[("developer_message", string()), ("user_message", string()), ("request_id", string())]),
                "An unexpected failure; the cause is in the service's log under the request id.",
            ),
        ),
        ("JsonString", described(string(), "A bare JSON string, as some Open edX views answer.")),
    ]
}
