//! `userapi plugin run`: one call of a component from a JSON input, under
//! the limits the host applies, with what it used; and fixture folders of
//! such calls with their expected answers (in the spirit of Shopify's
//! `function-runner`).
//!
//! Inputs, per world:
//! - `validator`: `{"username": "jdoe", "submitted": {field: value}, "stored": {field: value}}`;
//!   the answer is `{"accepted": {field: value}}` or `{"refused": [{"field", "developer_message", "user_message"}]}`.
//! - `visibility`: `{"reader": "anonymous"|"user"|"staff", "reader_username", "reader_orgs",
//!   "owner", "owner_orgs", "account_privacy", "field_preferences": {field: value},
//!   "requires_parental_consent", "public_fields", "bulk_shareable_fields", "custom_shareable_fields"}`
//!   (the field lists default to Open edX's); the answer is `{"visible_fields": [...]}`.
//! - `formatter`: `{"org", "org_config": {}, "headings": [...], "rows": [{"user_id",
//!   "original_username", "original_email", "original_name", "orgs", "created"}]}`;
//!   the answer is `{"file_name", "content_type", "text"}`.

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::formatter::ReportEntry;
use super::visibility::{FieldLists, ReaderKind, VisibilityFacts};
use super::{last_call_stats, CallStats, Plugin, Slot};
use crate::sites::config::{PluginLimits, VisibilityConfig};

/// The outcome of one call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub ok: bool,
    /// The answer (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why the call failed (when not `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub stats: CallStats,
}

/// The world named on the command line.
pub fn slot_of(world: &str) -> Option<Slot> {
    match world {
        "validator" | "extended-profile-validator" => Some(Slot::Validator),
        "visibility" | "visibility-policy" => Some(Slot::Visibility),
        "formatter" | "partner-report-formatter" => Some(Slot::Formatter),
        _ => None,
    }
}

/// Loads `file` for `slot` with `config` and `limits` and runs one call on `input`.
pub fn run(file: &Path, slot: Slot, input: &Value, config: &Value, limits: &Value) -> RunReport {
    let failed = |error: String| RunReport { ok: false, output: None, error: Some(error), stats: CallStats::default() };
    let limits: PluginLimits = match serde_json::from_value(limits.clone()) {
        Ok(l) => l,
        Err(e) => return failed(format!("limits: {e}")),
    };
    let plugin = match Plugin::load("plugin-run", slot, file, config, &limits) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let answer = match slot {
        Slot::Validator => validate(&plugin, input),
        Slot::Visibility => visible_fields(&plugin, input),
        Slot::Formatter => format(&plugin, input),
    };
    let stats = last_call_stats().unwrap_or_default();
    match answer {
        Ok(output) => RunReport { ok: true, output: Some(output), error: None, stats },
        Err(error) => RunReport { ok: false, output: None, error: Some(error), stats },
    }
}

fn pairs(value: Option<&Value>) -> Result<Vec<(String, Value)>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(other) => Err(format!("expected an object of fields, got {other}")),
    }
}

fn validate(plugin: &Plugin, input: &Value) -> Result<Value, String> {
    let username = input.get("username").and_then(Value::as_str).unwrap_or("user");
    let submitted = pairs(input.get("submitted")).map_err(|e| format!("input.submitted: {e}"))?;
    let stored = pairs(input.get("stored")).map_err(|e| format!("input.stored: {e}"))?;
    match plugin.validate(username, &submitted, &stored).map_err(|e| e.to_string())? {
        Ok(accepted) => Ok(json!({"accepted": accepted.into_iter().collect::<Map<String, Value>>()})),
        Err(refused) => Ok(json!({"refused": refused.iter().map(|r| json!({
            "field": r.field, "developer_message": r.developer_message, "user_message": r.user_message,
        })).collect::<Vec<_>>()})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibilityInput {
    #[serde(default = "user")]
    reader: String,
    #[serde(default)]
    reader_username: Option<String>,
    #[serde(default)]
    reader_orgs: Vec<String>,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    owner_orgs: Vec<String>,
    #[serde(default = "all_users")]
    account_privacy: String,
    #[serde(default)]
    field_preferences: Map<String, Value>,
    #[serde(default)]
    requires_parental_consent: bool,
    public_fields: Option<Vec<String>>,
    bulk_shareable_fields: Option<Vec<String>>,
    custom_shareable_fields: Option<Vec<String>>,
}

fn user() -> String {
    "user".into()
}

fn all_users() -> String {
    "all_users".into()
}

fn visible_fields(plugin: &Plugin, input: &Value) -> Result<Value, String> {
    let input: VisibilityInput = serde_json::from_value(input.clone()).map_err(|e| format!("input: {e}"))?;
    let reader = match input.reader.as_str() {
        "anonymous" => ReaderKind::Anonymous,
        "user" => ReaderKind::User,
        "staff" => ReaderKind::Staff,
        other => return Err(format!("input.reader: {other:?} is not anonymous, user or staff")),
    };
    let preferences: Vec<(String, String)> = input
        .field_preferences
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    let facts = VisibilityFacts {
        reader,
        reader_username: input.reader_username.as_deref(),
        reader_orgs: input.reader_orgs,
        owner: &input.owner,
        owner_orgs: input.owner_orgs,
        account_privacy: &input.account_privacy,
        field_preferences: preferences.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        requires_parental_consent: input.requires_parental_consent,
    };
    let defaults = VisibilityConfig::default();
    let public = input.public_fields.unwrap_or(defaults.public_fields);
    let bulk = input.bulk_shareable_fields.unwrap_or(defaults.bulk_shareable_fields);
    let custom = input.custom_shareable_fields.unwrap_or(defaults.custom_shareable_fields);
    let lists = FieldLists { public: &public, bulk_shareable: &bulk, custom_shareable: &custom };
    let fields = plugin.visible_fields(&facts, lists).map_err(|e| e.to_string())?;
    Ok(json!({ "visible_fields": fields }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatterInput {
    org: String,
    #[serde(default)]
    org_config: Value,
    #[serde(default)]
    headings: Vec<String>,
    #[serde(default)]
    rows: Vec<RowInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowInput {
    user_id: i64,
    original_username: String,
    original_email: String,
    original_name: String,
    #[serde(default)]
    orgs: Vec<String>,
    #[serde(default)]
    created: String,
}

fn format(plugin: &Plugin, input: &Value) -> Result<Value, String> {
    let input: FormatterInput = serde_json::from_value(input.clone()).map_err(|e| format!("input: {e}"))?;
    let rows: Vec<ReportEntry> = input
        .rows
        .into_iter()
        .map(|r| ReportEntry {
            user_id: r.user_id,
            original_username: r.original_username,
            original_email: r.original_email,
            original_name: r.original_name,
            orgs: r.orgs,
            created: r.created,
        })
        .collect();
    let org_config = if input.org_config.is_null() { json!({}) } else { input.org_config };
    let file = plugin.format_report(&input.org, &org_config, &input.headings, &rows).map_err(|e| e.to_string())?;
    Ok(json!({
        "file_name": file.file_name,
        "content_type": file.content_type,
        "text": String::from_utf8_lossy(&file.bytes),
    }))
}

/// One fixture: `{"input": …, "config": …, "limits": …, "expected": …}` or,
/// for a call that must fail, `"expected_error": "part of the message"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    input: Value,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    limits: Option<Value>,
    #[serde(default)]
    expected: Option<Value>,
    #[serde(default)]
    expected_error: Option<String>,
}

/// One fixture's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FixtureResult {
    pub name: String,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
    pub report: Option<RunReport>,
}

/// Runs every `*.json` fixture in `dir`, in name order; `config` and
/// `limits` apply where a fixture names none.
pub fn run_fixtures(
    file: &Path,
    slot: Slot,
    dir: &Path,
    config: &Value,
    limits: &Value,
) -> Result<Vec<FixtureResult>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    Ok(paths.iter().map(|path| run_fixture(file, slot, path, config, limits)).collect())
}

fn run_fixture(file: &Path, slot: Slot, path: &Path, config: &Value, limits: &Value) -> FixtureResult {
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let fixture = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Fixture>(&text).map_err(|e| e.to_string()));
    let fixture = match fixture {
        Ok(f) => f,
        Err(e) => return FixtureResult { name, passed: false, reason: format!("not a fixture: {e}"), report: None },
    };
    let report = run(
        file,
        slot,
        &fixture.input,
        fixture.config.as_ref().unwrap_or(config),
        fixture.limits.as_ref().unwrap_or(limits),
    );
    let reason = match (&fixture.expected_error, &report) {
        (Some(wanted), r) if r.ok => format!("expected an error containing {wanted:?}, got an answer"),
        (Some(wanted), r) => {
            let error = r.error.clone().unwrap_or_default();
            if error.contains(wanted.as_str()) {
                String::new()
            } else {
                format!("expected an error containing {wanted:?}, got: {error}")
            }
        }
        (None, r) if !r.ok => format!("the call failed: {}", r.error.clone().unwrap_or_default()),
        (None, r) => match &fixture.expected {
            Some(expected) if r.output.as_ref() != Some(expected) => {
                format!("expected {expected}, got {}", r.output.clone().unwrap_or(Value::Null))
            }
            _ => String::new(),
        },
    };
    FixtureResult { name, passed: reason.is_empty(), reason, report: Some(report) }
}
