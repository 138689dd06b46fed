//! Key and value rules of preferences (preferences.md §1, §7), checked in
//! Open edX's order, with its messages.

use serde_json::json;

use super::timezones;
use crate::messages::MessagePair;
use crate::pyrepr::py_repr;
use crate::sites::Site;

/// Longest key, in characters.
const MAX_KEY_CHARS: usize = 255;

/// The detail route addresses only keys of `[a-zA-Z0-9_]+` (preferences.md §2).
pub fn is_detail_route_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks that `value` (already in its string form) may be stored under `key`.
pub fn validate(site: &Site, key: &str, value: &str) -> Result<(), MessagePair> {
    if value.trim().is_empty() {
        return Err(MessagePair::same(format!("Preference '{key}' cannot be set to an empty value.")));
    }
    if let Some(problem) = key_problem(key) {
        return Err(MessagePair {
            developer_message: format!(
                "Value '{value}' not valid for preference '{key}': {}",
                py_repr(&json!({ "key": [problem] }))
            ),
            user_message: Some(format!("Invalid user preference key '{key}'.")),
        });
    }
    match key {
        "time_zone" if !timezones::is_common(value) => Err(MessagePair {
            developer_message: format!("Value '{value}' not valid for preference 'time_zone': Not in timezone set."),
            user_message: Some(format!("Value '{value}' is not a valid time zone selection.")),
        }),
        "pref-lang" if !language_accepted(site, value) => Err(MessagePair {
            developer_message: format!("Value '{value}' not valid for preference 'pref-lang': Not in language set."),
            user_message: Some(format!("Value '{value}' is not a valid language selection.")),
        }),
        _ => Ok(()),
    }
}

fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("This field may not be blank.")
    } else if key.chars().count() > MAX_KEY_CHARS {
        Some("Ensure this field has no more than 255 characters.")
    } else if !key.chars().any(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Some("Enter a valid value.")
    } else {
        None
    }
}

/// With `languages` configured, only those (exactly);
/// otherwise any well-formed language tag such as `en`, `es-419`, `zh_HANS`.
fn language_accepted(site: &Site, value: &str) -> bool {
    match &site.config.languages {
        Some(list) => list.iter().any(|l| l == value),
        None => well_formed_language(value),
    }
}

fn well_formed_language(value: &str) -> bool {
    let mut parts = value.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key_problem("empty_pref_ȻħȺɍłɇs"), None);
        assert_eq!(key_problem("ⓟⓡⓔⓕ_ⓚⓔⓨ"), None);
        assert_eq!(key_problem("ȻħȺɍłɇ"), Some("Enter a valid value."));
        assert_eq!(key_problem("ȻħȺɍłɇ."), Some("Enter a valid value."));
        assert_eq!(key_problem(""), Some("This field may not be blank."));
        assert_eq!(key_problem(&"k".repeat(256)), Some("Ensure this field has no more than 255 characters."));
        assert!(is_detail_route_key("time_zone"));
        assert!(!is_detail_route_key("pref-lang"));
        assert!(!is_detail_route_key("visibility.bio"));
    }

    #[test]
    fn languages() {
        for ok in ["en", "es-419", "zh-cn", "zh_HANS", "ast"] {
            assert!(well_formed_language(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en-", "en--us", "1n"] {
            assert!(!well_formed_language(bad), "{bad}");
        }
    }
}
