//! Social links (accounts.md §8.5): validation, handle parsing and the
//! canonical URL `https://www.<url_stub><handle>`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::patch::{not_a_list, python_type, serializer_error};
use crate::messages::MessagePair;
use crate::pyrepr::py_str;
use crate::sites::Site;

const PLATFORM_MAX: usize = 30;
const LINK_MAX: usize = 100;

/// Validates a `social_links` array into (platform, new link or `None` to remove).
pub fn validate(site: &Site, value: &Value) -> Result<Vec<(String, Option<String>)>, MessagePair> {
    let field = "social_links";
    let Some(items) = value.as_array() else {
        return Err(serializer_error(field, value, not_a_list(value)));
    };
    let platforms = &site.config.social_platforms;
    let mut element_errors = Vec::with_capacity(items.len());
    let mut failed = false;
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let mut error = serde_json::Map::new();
        match item.as_object() {
            None => {
                error.insert(
                    "non_field_errors".into(),
                    json!([format!("Invalid data. Expected a dictionary, but got {}.", python_type(item))]),
                );
            }
            Some(obj) => {
                for key in ["platform", "social_link"] {
                    if obj.get(key).is_some_and(Value::is_null) {
                        error.insert(key.into(), json!(["This field may not be null."]));
                    }
                }
                let platform = obj.get("platform").filter(|v| !v.is_null()).map(py_str);
                let link = obj.get("social_link").filter(|v| !v.is_null()).map(py_str);
                match &platform {
                    None if error.contains_key("platform") => {}
                    None => {
                        error.insert("platform".into(), json!(["This field is required."]));
                    }
                    Some(p) if p.chars().count() > PLATFORM_MAX => {
                        error.insert("platform".into(), json!(["Ensure this field has no more than 30 characters."]));
                    }
                    Some(p) if !platforms.contains_key(p) => {
                        error.insert("platform".into(), json!([platform_choice_message(site)]));
                    }
                    Some(_) => {}
                }
                match &link {
                    None if error.contains_key("social_link") => {}
                    None => {
                        error.insert("social_link".into(), json!(["This field is required."]));
                    }
                    Some(l) if l.chars().count() > LINK_MAX => {
                        error.insert(
                            "social_link".into(),
                            json!(["Ensure this field has no more than 100 characters."]),
                        );
                    }
                    Some(_) => {}
                }
                if let (true, Some(p), Some(l)) = (error.is_empty(), platform, link) {
                    parsed.push((p, l));
                }
            }
        }
        failed |= !error.is_empty();
        element_errors.push(Value::Object(error));
    }
    if failed {
        return Err(serializer_error(field, value, Value::Array(element_errors)));
    }
    let unique: BTreeSet<&String> = parsed.iter().map(|(p, _)| p).collect();
    if unique.len() != parsed.len() {
        return Err(serializer_error(
            field,
            value,
            json!(["The social_links field must consist of unique social platforms."]),
        ));
    }
    parsed
        .into_iter()
        .map(|(platform, link)| {
            if link.is_empty() {
                return Ok((platform, None));
            }
            let stub = &platforms[&platform].url_stub;
            match handle(stub, &link) {
                Some(handle) => Ok((platform, Some(format!("https://www.{stub}{handle}")))),
                None => {
                    let msg = format!(
                        "Make sure that you are providing a valid username or a URL that contains \"{stub}\". \
                         To remove the link from your {} profile, leave this field blank.",
                        site.config.platform_name
                    );
                    Err(MessagePair {
                        developer_message: format!("Error when adding new social link: '{msg}'"),
                        user_message: Some(msg),
                    })
                }
            }
        })
        .collect()
}

fn platform_choice_message(site: &Site) -> String {
    let names: Vec<&String> = site.config.social_platforms.keys().collect();
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} or {last}", rest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
        }
        Some((last, _)) => (*last).clone(),
        None => String::new(),
    };
    format!("The social platform must be {list}")
}

/// The handle in `link`: what follows the first `url_stub` in it
/// (case-insensitively, one trailing `/` dropped; a query string stays, as
/// in edx-platform's current `_get_username_from_social_link`), or the whole
/// text when the stub is absent. `None` when the handle contains `/`.
pub fn handle(url_stub: &str, link: &str) -> Option<String> {
    let haystack = link.to_ascii_lowercase();
    let stub = url_stub.to_ascii_lowercase();
    let found = haystack.match_indices(&stub).find_map(|(at, _)| {
        let rest = &link[at + stub.len()..];
        let rest = if rest.len() > 1 { rest.strip_suffix('/').unwrap_or(rest) } else { rest };
        (!rest.is_empty()).then_some(rest)
    });
    let handle = found.unwrap_or(link);
    (!handle.contains('/')).then(|| handle.to_owned())
}

#[cfg(test)]
mod tests {
    use super::handle;

    #[test]
    fn handles_like_open_edx() {
        for link in
            ["jane", "facebook.com/jane", "https://www.facebook.com/jane/", "https://evil.example/facebook.com/jane"]
        {
            assert_eq!(handle("facebook.com/", link).as_deref(), Some("jane"), "{link}");
        }
        // edx-platform's current tests: the query string stays.
        assert_eq!(handle("x.com/", "x.com/edX?foo=bar").as_deref(), Some("edX?foo=bar"));
        assert_eq!(handle("x.com/", "x.com/test.user").as_deref(), Some("test.user"));
        assert_eq!(handle("x.com/", "https://www.x.com/edX/123s"), None);
        assert_eq!(handle("linkedin.com/in/", "www.linkedin.com/harryrein"), None);
        assert_eq!(handle("linkedin.com/in/", "www.evilwebsite.com/123?www.linkedin.com/edX"), None);
        assert_eq!(handle("facebook.com/", "HTTP://facebook.com/edX/").as_deref(), Some("edX"));
        assert_eq!(handle("facebook.com/", "www.evilwebsite.com/123"), None);
        assert_eq!(handle("facebook.com/", "facebook.com/"), None);
        assert_eq!(handle("linkedin.com/in/", "https://www.linkedin.com/in/jane-doe").as_deref(), Some("jane-doe"));
        assert_eq!(handle("facebook.com/", "https://www.facebook.com/jane/photos"), None);
        assert_eq!(handle("x.com/", "https://twitter.com/jane"), None);
    }
}
