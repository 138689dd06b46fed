//! Registration support (accounts.md §13, clients.md §5.4): field
//! validation decisions with username suggestions, and the registration
//! form description whose country list the MFEs read.

use super::names::{self, UrlRule, NAME_MAX};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::choices;
use super::password_policy;
use crate::sites::Site;
use crate::store::{Conn, Db, StoreResult};
use crate::users::retired::{self, retired_username};
use crate::users::store as users;
use crate::users::types::username_key;

/// Validations per client address per window (edX `30/7d`).
pub const RATE: usize = 30;
pub const WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

const HANDLERS: &[&str] = &["name", "username", "email", "confirm_email", "password", "country"];
const USERNAME_MIN: usize = 2;
const USERNAME_MAX: usize = 30;

/// Whether a username is taken in the tenant: by an account (compared
/// case-insensitively, as uniqueness is), by a retired form of it under any
/// salt, or as the original username of a retirement.
pub async fn username_taken(c: &mut Conn, site: &Site, username: &str) -> StoreResult<bool> {
    let mut keys = vec![username_key(username)];
    let config = &site.config.retirement;
    keys.extend(config.salts.iter().map(|salt| username_key(&retired_username(config, username, salt))));
    for key in keys {
        if users::id_by_username_key(c, &site.tenant, &key).await?.is_some() {
            return Ok(true);
        }
    }
    retired::is_original_username(c, &site.tenant, username).await
}

/// Whether an address is someone's primary or recovery address, or retired.
pub async fn email_taken(c: &mut Conn, site: &Site, email: &str) -> StoreResult<bool> {
    let facts = super::changes::address_facts(c, site, email, None).await?;
    Ok(facts.taken_as_primary || facts.taken_as_secondary)
}

/// The decisions for the fields of `body` (or only `form_field_key`), and
/// username suggestions when any were produced, from one read.
pub async fn validate(db: &Db, site: &Arc<Site>, body: Map<String, Value>) -> StoreResult<Value> {
    let site = Arc::clone(site);
    db.read(move |c| Box::pin(async move { decide(c, &site, &body).await })).await
}

async fn decide(c: &mut Conn, site: &Site, body: &Map<String, Value>) -> StoreResult<Value> {
    let only = body.get("form_field_key").and_then(Value::as_str).filter(|k| HANDLERS.contains(k));
    let fields: Vec<&str> = match only {
        Some(field) => vec![field],
        None => HANDLERS.iter().copied().filter(|f| body.contains_key(*f)).collect(),
    };
    let mut decisions = Map::new();
    let mut suggest_from: Option<String> = None;
    for field in fields {
        let value = body.get(field).unwrap_or(&Value::Null);
        let decision = match field {
            "name" => name_decision(value),
            "username" => {
                let decision = username_decision(c, site, value).await?;
                if decision == USERNAME_TAKEN {
                    suggest_from = value.as_str().map(str::to_owned);
                }
                decision
            }
            "email" => email_decision(c, site, value).await?,
            "confirm_email" => {
                let confirm = value.as_str().unwrap_or("");
                if confirm.is_empty() || Some(confirm) != body.get("email").and_then(Value::as_str) {
                    "The email addresses do not match".to_owned()
                } else {
                    String::new()
                }
            }
            "password" => match value.as_str() {
                None => "Password must be a string".to_owned(),
                Some(pw) => {
                    let username = body.get("username").and_then(Value::as_str);
                    let email = username.and(body.get("email").and_then(Value::as_str));
                    password_policy::problems(&site.config.password_policy, pw, username, email).join(" ")
                }
            },
            _ => match value.as_str() {
                Some("") | Some("--") | None => "Select your country or region of residence".to_owned(),
                Some(_) => String::new(),
            },
        };
        if field == "name" && decision.is_empty() && suggest_from.is_none() {
            suggest_from = value.as_str().map(str::to_owned);
        }
        decisions.insert(field.to_owned(), Value::String(decision));
    }
    let mut answer = json!({ "validation_decisions": decisions });
    if let Some(base) = suggest_from {
        let suggestions = suggestions(c, site, &base).await?;
        if !suggestions.is_empty() {
            answer["username_suggestions"] = json!(suggestions);
        }
    }
    Ok(answer)
}

const USERNAME_TAKEN: &str = "It looks like this username is already taken";

fn name_decision(value: &Value) -> String {
    let name = value.as_str().unwrap_or("");
    if name.is_empty() {
        return "Enter your surname and name".into();
    }
    // The length is checked first here.
    if name.chars().count() > NAME_MAX {
        return format!("Full name can't be longer than {NAME_MAX} symbols");
    }
    match names::fault(name, UrlRule::Web) {
        Some(_) => "Enter a valid name".into(),
        None => String::new(),
    }
}

async fn username_decision(c: &mut Conn, site: &Site, value: &Value) -> StoreResult<String> {
    let Some(username) = value.as_str() else { return Ok("Input not valid unicode".into()) };
    let len = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Ok(format!("Username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long."));
    }
    if !crate::users::types::UsernameChars::Registration.all(username) {
        return Ok(
            "Usernames can only contain letters (A-Z, a-z), numerals (0-9), underscores (_), and hyphens (-).".into()
        );
    }
    Ok(if username_taken(c, site, username).await? { USERNAME_TAKEN.into() } else { String::new() })
}

async fn email_decision(c: &mut Conn, site: &Site, value: &Value) -> StoreResult<String> {
    let Some(email) = value.as_str() else { return Ok("Input not valid unicode".into()) };
    if !(3..=254).contains(&email.chars().count()) {
        return Ok("Enter a valid email address that contains at least 3 characters.".into());
    }
    if crate::users::types::Email::parse(email).is_err() {
        return Ok("Enter a valid email address".into());
    }
    Ok(if email_taken(c, site, email).await? {
        "This email is already associated with an existing account".into()
    } else {
        String::new()
    })
}

/// Up to three free usernames `<base>_<n>`, `n` drawn from growing ranges.
async fn suggestions(c: &mut Conn, site: &Site, input: &str) -> StoreResult<Vec<String>> {
    // Decision [unsure in the spec]: whitespace is removed too, as a username cannot hold it.
    let base: String =
        input.chars().take(USERNAME_MAX - 6).filter(|c| *c != '_' && *c != '-' && !c.is_whitespace()).collect();
    if base.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for (low, high) in [(0u32, 9u32), (10, 99), (100, 999), (1000, 99_999)] {
        for _ in 0..10 {
            let n = rand::thread_rng().gen_range(low..=high);
            let candidate = format!("{base}_{n}");
            if !found.contains(&candidate) && !username_taken(c, site, &candidate).await? {
                found.push(candidate);
                break;
            }
        }
        if found.len() == 3 {
            break;
        }
    }
    Ok(found)
}

/// The registration form description; the MFEs read the country options.
pub fn form_description(site: &Site) -> Value {
    let mut options = vec![json!({"value": "", "name": "--", "default": true})];
    options
        .extend(choices::countries().iter().map(|(code, name)| json!({"value": code, "name": name, "default": false})));
    let text = |name: &str, label: &str, kind: &str| {
        json!({"name": name, "label": label, "type": kind, "required": true, "defaultValue": "", "placeholder": "",
               "instructions": "", "restrictions": {}, "errorMessages": {}, "supplementalLink": "", "supplementalText": ""})
    };
    let mut country = text("country", "Country or Region of Residence", "select");
    country["options"] = Value::Array(options);
    let mut password = text("password", "Password", "password");
    password["restrictions"] = json!({
        "min_length": site.config.password_policy.min_length,
        "max_length": site.config.password_policy.max_length,
    });
    let mut username = text("username", "Public Username", "text");
    username["restrictions"] = json!({"min_length": USERNAME_MIN, "max_length": USERNAME_MAX});
    let mut fields =
        vec![text("email", "Email", "email"), text("name", "Full Name", "text"), username, password, country];
    // The site's extended-profile fields, as Open edX adds its
    // `REGISTRATION_EXTRA_FIELDS` / custom form fields.
    for described in super::extended_profile::described_fields(site) {
        let kind = match described.kind {
            "choice" => "select",
            "boolean" => "checkbox",
            _ => "text",
        };
        let mut field = text(&described.name, &described.label, kind);
        field["required"] = json!(described.required);
        if kind == "select" {
            let mut options = vec![json!({"value": "", "name": "--", "default": true})];
            options
                .extend(described.choices.iter().map(|c| json!({"value": c.value, "name": c.label, "default": false})));
            field["options"] = Value::Array(options);
        }
        fields.push(field);
    }
    json!({"method": "post", "submit_url": "/user_api/v1/account/registration/", "fields": fields})
}
