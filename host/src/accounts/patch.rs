//! Account PATCH (accounts.md §8): every field validated with Open edX's
//! messages into an [`AccountChanges`], then applied in one transaction.

use super::names::{self, NameFault, UrlRule, NAME_MAX};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::choices::{self, EDUCATION_LEVELS, GENDERS, US_STATES};
use super::service::AccountError;
use super::{extended_profile, social};
use crate::messages::{FieldErrors, MessagePair};
use crate::preferences::rules as preference_rules;
use crate::pyrepr::{py_repr, py_str};
use crate::sites::Site;
use crate::users::UserRecord;

/// Keys that can never be written through the API (§8.2).
const READ_ONLY: &[&str] =
    &["username", "date_joined", "is_active", "password_toggle_history", "profile_image", "requires_parental_consent"];

/// A profile column a PATCH may set, named for the SQL it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    Name,
    Gender,
    LevelOfEducation,
    Country,
    State,
    YearOfBirth,
    Goals,
    MailingAddress,
    City,
    Bio,
    PhoneNumber,
}

impl Column {
    /// The SQL column name (never taken from input).
    pub fn sql(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Gender => "gender",
            Column::LevelOfEducation => "level_of_education",
            Column::Country => "country",
            Column::State => "state",
            Column::YearOfBirth => "year_of_birth",
            Column::Goals => "goals",
            Column::MailingAddress => "mailing_address",
            Column::City => "city",
            Column::Bio => "bio",
            Column::PhoneNumber => "phone_number",
        }
    }
}

/// A value for a profile column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnValue {
    Text(Option<String>),
    Int(Option<i64>),
}

/// Everything a valid PATCH changes.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub columns: BTreeMap<Column, ColumnValue>,
    /// Set when the name changes: the old name for `meta.old_names`.
    pub old_name: Option<String>,
    pub languages: Option<Vec<String>>,
    /// platform → new link, or `None` to remove it.
    pub social_links: Vec<(String, Option<String>)>,
    /// `Some(None)` deletes the preference.
    pub account_privacy: Option<Option<String>>,
    pub extended_profile: Vec<(String, Value)>,
    /// A primary address to confirm (already checked; dropped silently if taken).
    pub email: Option<EmailRequest>,
    pub secondary_email: Option<EmailRequest>,
}

/// A requested address change, or one silently dropped (§8.9 rule 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailRequest {
    Send(String),
    Drop,
}

/// DRF serializer error format (§8.3).
pub fn serializer_error(field: &str, value: &Value, errors: Value) -> MessagePair {
    MessagePair {
        developer_message: format!("Value '{}' is not valid for field '{field}': {}", py_str(value), py_repr(&errors)),
        user_message: Some("This value is invalid.".into()),
    }
}

/// What a uniqueness check needs to know about an address.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressFacts {
    /// Some account's primary address, or the retired form of one.
    pub taken_as_primary: bool,
    /// Some other account's recovery address.
    pub taken_as_secondary: bool,
}

/// Lookups validation needs from the store, resolved before validating.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub email: AddressFacts,
    pub secondary_email: AddressFacts,
}

/// Validates `body` against `record`; every problem is collected. A failing
/// validator plugin refuses the whole change (a 5xx, nothing stored).
pub fn validate(
    site: &Site,
    record: &UserRecord,
    body: &Map<String, Value>,
    lookups: &Lookups,
) -> Result<AccountChanges, AccountError> {
    let mut errors = FieldErrors::new();
    let mut changes = AccountChanges::default();
    for field in READ_ONLY {
        if body.contains_key(*field) {
            errors.insert(
                (*field).to_owned(),
                MessagePair {
                    developer_message: "This field is not editable via this API".into(),
                    user_message: Some(format!("The '{field}' field cannot be edited.")),
                },
            );
        }
    }
    for (field, value) in body {
        let outcome = match field.as_str() {
            "name" => validate_name(site, record, value).map(|name| {
                if let Some(name) = name {
                    changes.old_name = Some(record.profile.name.clone());
                    changes.columns.insert(Column::Name, ColumnValue::Text(Some(name)));
                }
            }),
            "gender" => choice(field, value, GENDERS).map(|v| set(&mut changes, Column::Gender, v)),
            "level_of_education" => {
                choice(field, value, EDUCATION_LEVELS).map(|v| set(&mut changes, Column::LevelOfEducation, v))
            }
            "country" => {
                let codes: Vec<&str> = choices::countries().keys().map(String::as_str).collect();
                choice(field, value, &codes).map(|v| set(&mut changes, Column::Country, v))
            }
            "state" => choice(field, value, US_STATES).map(|v| set(&mut changes, Column::State, v)),
            "year_of_birth" => year_of_birth(value).map(|v| {
                changes.columns.insert(Column::YearOfBirth, ColumnValue::Int(v));
            }),
            "goals" => text(field, value).map(|v| set(&mut changes, Column::Goals, v)),
            "mailing_address" => text(field, value).map(|v| set(&mut changes, Column::MailingAddress, v)),
            "city" => text(field, value).map(|v| set(&mut changes, Column::City, v)),
            "bio" => bio(site, value).map(|v| set(&mut changes, Column::Bio, v)),
            "phone_number" => phone_number(value).map(|v| set(&mut changes, Column::PhoneNumber, v)),
            "language_proficiencies" => language_proficiencies(value).map(|v| changes.languages = Some(v)),
            "social_links" => social::validate(site, value).map(|v| changes.social_links = v),
            "account_privacy" => account_privacy(site, value).map(|v| changes.account_privacy = Some(v)),
            "extended_profile" => match extended_profile::validate(site, record, value) {
                Ok(v) => {
                    changes.extended_profile = v;
                    Ok(())
                }
                Err(extended_profile::Refusal::Fields(mut found)) => {
                    errors.append(&mut found);
                    Ok(())
                }
                Err(extended_profile::Refusal::Plugin(failure)) => return Err(AccountError::Plugin(failure)),
            },
            "email" => primary_email(record, value, lookups.email).map(|v| changes.email = Some(v)),
            "secondary_email" => {
                secondary_email(record, value, lookups.secondary_email).map(|v| changes.secondary_email = Some(v))
            }
            _ => Ok(()), // read-only keys were handled above; the rest is ignored (§8.2)
        };
        if let Err(e) = outcome {
            errors.insert(field.clone(), e);
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(AccountError::Fields(errors))
    }
}

fn set(changes: &mut AccountChanges, column: Column, value: Option<String>) {
    changes.columns.insert(column, ColumnValue::Text(value));
}

/// DRF CharField coercion: numbers become text; booleans and containers are refused.
fn char_value(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(_) => Ok(Some(py_str(value))),
        _ => Err("Not a valid string."),
    }
}

fn text(field: &str, value: &Value) -> Result<Option<String>, MessagePair> {
    char_value(value).map_err(|e| serializer_error(field, value, json!([e])))
}

fn choice(field: &str, value: &Value, allowed: &[&str]) -> Result<Option<String>, MessagePair> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        _ => {
            let s = py_str(value);
            if allowed.contains(&s.as_str()) {
                Ok(Some(s))
            } else {
                Err(serializer_error(field, value, json!([format!("\"{s}\" is not a valid choice.")])))
            }
        }
    }
}

/// The range Django gives an `IntegerField` (a 32-bit column), which DRF's
/// model serializer enforces on `year_of_birth` with these messages.
const YEAR_OF_BIRTH_RANGE: std::ops::RangeInclusive<i64> = (i32::MIN as i64)..=(i32::MAX as i64);

fn year_of_birth(value: &Value) -> Result<Option<i64>, MessagePair> {
    let year = year_of_birth_integer(value)?;
    match year {
        Some(y) if y < *YEAR_OF_BIRTH_RANGE.start() => Err(serializer_error(
            "year_of_birth",
            value,
            json!([format!("Ensure this value is greater than or equal to {}.", YEAR_OF_BIRTH_RANGE.start())]),
        )),
        Some(y) if y > *YEAR_OF_BIRTH_RANGE.end() => Err(serializer_error(
            "year_of_birth",
            value,
            json!([format!("Ensure this value is less than or equal to {}.", YEAR_OF_BIRTH_RANGE.end())]),
        )),
        year => Ok(year),
    }
}

fn year_of_birth_integer(value: &Value) -> Result<Option<i64>, MessagePair> {
    let invalid = || serializer_error("year_of_birth", value, json!(["A valid integer is required."]));
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(invalid()),
        },
        Value::String(s) => {
            // DRF strips a trailing ".000" before int().
            let trimmed = s.trim();
            let trimmed = match trimmed.split_once('.') {
                Some((int, zeros)) if zeros.chars().all(|c| c == '0') => int,
                _ => trimmed,
            };
            trimmed.parse::<i64>().map(Some).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

fn bio(site: &Site, value: &Value) -> Result<Option<String>, MessagePair> {
    let bio = text("bio", value)?;
    let max = site.config.bio_max_length;
    if bio.as_ref().is_some_and(|b| b.chars().count() > max) {
        let message = format!("The about me field must be at most {max} characters long.");
        let mut error = serializer_error("bio", value, json!([message]));
        error.user_message = Some(message);
        return Err(error);
    }
    Ok(bio)
}

/// §8.4: digits only, with a `+` kept in first position; empty → null.
pub fn normalise_phone(raw: &str) -> Option<String> {
    let mut out = String::new();
    for (i, c) in raw.chars().enumerate() {
        if c.is_ascii_digit() || (i == 0 && c == '+') {
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn phone_number(value: &Value) -> Result<Option<String>, MessagePair> {
    if value.is_null() {
        return Err(serializer_error("phone_number", value, json!(["This field may not be null."])));
    }
    Ok(text("phone_number", value)?.and_then(|p| normalise_phone(&p)))
}

fn validate_name(site: &Site, record: &UserRecord, value: &Value) -> Result<Option<String>, MessagePair> {
    if value.is_null() {
        return Err(serializer_error("name", value, json!(["This field may not be null."])));
    }
    let name = text("name", value)?.unwrap_or_default();
    let name = name.trim().to_owned();
    let min = site.config.name_min_length.max(1);
    if name.chars().count() < min {
        let message =
            format!("The name field must be at least {min} character{} long.", if min == 1 { "" } else { "s" });
        return Err(serializer_error("name", value, json!([message])));
    }
    // The serializer's length check comes before the unchanged-name
    // shortcut and the model's validator.
    if name.chars().count() > NAME_MAX {
        let message = format!("Ensure this field has no more than {NAME_MAX} characters.");
        return Err(serializer_error("name", value, json!([message])));
    }
    if name == record.profile.name {
        return Ok(None);
    }
    let refuse = |msg: &str| MessagePair {
        developer_message: format!("Error thrown from validate_name: '{msg}'"),
        user_message: Some(msg.to_owned()),
    };
    match names::fault(&name, UrlRule::AnyScheme) {
        Some(NameFault::Html) => Err(refuse("Full Name cannot contain the following characters: < >")),
        Some(NameFault::Url) => Err(refuse("Enter a valid name")),
        Some(NameFault::TooLong) | None => Ok(Some(name)),
    }
}

/// Python's name for the type of a JSON value, as DRF messages print it.
pub fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// DRF's refusal of a non-list where a list serializer expects one.
pub fn not_a_list(value: &Value) -> Value {
    if value.is_null() {
        json!({"non_field_errors": ["This field may not be null."]})
    } else {
        json!({"non_field_errors": [format!("Expected a list of items but got type \"{}\".", python_type(value))]})
    }
}

fn language_proficiencies(value: &Value) -> Result<Vec<String>, MessagePair> {
    let field = "language_proficiencies";
    let Some(items) = value.as_array() else {
        return Err(serializer_error(field, value, not_a_list(value)));
    };
    let mut codes = Vec::with_capacity(items.len());
    let mut element_errors = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let error = match item.as_object() {
            None => Some(
                json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {}.", python_type(item))]}),
            ),
            Some(obj) => match obj.get("code") {
                None => Some(json!({"code": ["This field is required."]})),
                Some(code) => {
                    let code = py_str(code);
                    if choices::languages().contains(&code) {
                        codes.push(code);
                        None
                    } else {
                        Some(json!({"code": [format!("\"{code}\" is not a valid choice.")]}))
                    }
                }
            },
        };
        failed |= error.is_some();
        element_errors.push(error.unwrap_or_else(|| json!({})));
    }
    if failed {
        return Err(serializer_error(field, value, Value::Array(element_errors)));
    }
    let unique: BTreeSet<&String> = codes.iter().collect();
    if unique.len() != codes.len() {
        return Err(serializer_error(
            field,
            value,
            json!(["The language_proficiencies field must consist of unique languages."]),
        ));
    }
    Ok(codes)
}

fn account_privacy(site: &Site, value: &Value) -> Result<Option<String>, MessagePair> {
    if value.is_null() {
        return Ok(None);
    }
    let text = py_str(value);
    preference_rules::validate(site, "account_privacy", &text)?;
    Ok(Some(text))
}

fn email_error(validator: &str, message: &str) -> MessagePair {
    MessagePair {
        developer_message: format!("Error thrown from {validator}: '{message}'"),
        user_message: Some(message.to_owned()),
    }
}

const VALID_EMAIL_REQUIRED: &str = "Valid e-mail address required.";
const SAME_EMAIL: &str = "Old email is the same as the new email.";

/// Django's `validate_email` in spirit, with the 3–254 length rule.
pub fn valid_address(value: &Value) -> Option<String> {
    let s = value.as_str()?;
    let len = s.chars().count();
    if !(3..=254).contains(&len) {
        return None;
    }
    crate::users::types::Email::parse(s).ok().map(|e| e.as_str().to_owned())
}

fn primary_email(record: &UserRecord, value: &Value, facts: AddressFacts) -> Result<EmailRequest, MessagePair> {
    let validator = "validate_new_email";
    let address = valid_address(value).ok_or_else(|| email_error(validator, VALID_EMAIL_REQUIRED))?;
    if address == record.user.email {
        return Err(email_error(validator, SAME_EMAIL));
    }
    if facts.taken_as_primary || facts.taken_as_secondary {
        return Ok(EmailRequest::Drop);
    }
    Ok(EmailRequest::Send(address))
}

fn secondary_email(record: &UserRecord, value: &Value, facts: AddressFacts) -> Result<EmailRequest, MessagePair> {
    let validator = "validate_secondary_email";
    let address = valid_address(value).ok_or_else(|| email_error(validator, VALID_EMAIL_REQUIRED))?;
    if record.secondary_email.as_deref() == Some(address.as_str()) {
        return Err(email_error(validator, SAME_EMAIL));
    }
    if address.eq_ignore_ascii_case(&record.user.email) {
        return Err(email_error(validator, "Cannot be same as your sign in email address."));
    }
    if facts.taken_as_secondary {
        return Err(email_error(
            validator,
            &format!(
                "It looks like {address} belongs to an existing account. Try again with a different email address."
            ),
        ));
    }
    if facts.taken_as_primary {
        return Ok(EmailRequest::Drop);
    }
    Ok(EmailRequest::Send(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert_eq!(normalise_phone("+1 (800) 555-5555").as_deref(), Some("+18005555555"));
        assert_eq!(normalise_phone("12+34").as_deref(), Some("1234"));
        assert_eq!(normalise_phone("abc"), None);
        assert_eq!(normalise_phone("++1").as_deref(), Some("+1"));
    }

    #[test]
    fn years() {
        assert_eq!(year_of_birth(&json!(1990)).unwrap(), Some(1990));
        assert_eq!(year_of_birth(&json!("1990")).unwrap(), Some(1990));
        assert_eq!(year_of_birth(&json!("1990.00")).unwrap(), Some(1990));
        assert_eq!(year_of_birth(&json!(1990.0)).unwrap(), Some(1990));
        assert_eq!(year_of_birth(&json!(null)).unwrap(), None);
        for bad in [json!(""), json!("not_an_int"), json!(1990.5), json!(true), json!([1])] {
            let e = year_of_birth(&bad).unwrap_err();
            assert!(e.developer_message.ends_with("['A valid integer is required.']"), "{bad}: {e:?}");
        }
        assert_eq!(year_of_birth(&json!(2147483647)).unwrap(), Some(2147483647));
        assert_eq!(year_of_birth(&json!(-2147483648)).unwrap(), Some(-2147483648));
        let e = year_of_birth(&json!(2147483648_i64)).unwrap_err();
        assert!(e.developer_message.ends_with("['Ensure this value is less than or equal to 2147483647.']"), "{e:?}");
        let e = year_of_birth(&json!("-9223372036854775808")).unwrap_err();
        assert!(e.developer_message.ends_with("['Ensure this value is greater than or equal to -2147483648.']"));
    }

    #[test]
    fn language_errors_match_drf() {
        let e = language_proficiencies(&json!("not_a_list")).unwrap_err();
        assert_eq!(
            e.developer_message,
            "Value 'not_a_list' is not valid for field 'language_proficiencies': {'non_field_errors': ['Expected a list of items but got type \"str\".']}"
        );
        let e =
            language_proficiencies(&json!([{"code": "en"}, "x", {}, {"code": "invalid_language_code"}])).unwrap_err();
        assert_eq!(
            e.developer_message,
            "Value '[{'code': 'en'}, 'x', {}, {'code': 'invalid_language_code'}]' is not valid for field 'language_proficiencies': \
             [{}, {'non_field_errors': ['Invalid data. Expected a dictionary, but got str.']}, {'code': ['This field is required.']}, \
             {'code': ['\"invalid_language_code\" is not a valid choice.']}]"
        );
        let e = language_proficiencies(&json!([{"code": "en"}, {"code": "en"}])).unwrap_err();
        assert!(e
            .developer_message
            .ends_with("['The language_proficiencies field must consist of unique languages.']"));
        assert_eq!(language_proficiencies(&json!([{"code": "fr"}, {"code": "zh_HANS"}])).unwrap(), ["fr", "zh_HANS"]);
    }
}
