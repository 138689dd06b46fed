//! The decision, kept free of WIT plumbing so native tests can drive it.

use serde_json::Value;

use userapi_plugin_sdk::visibility::{ViewerKind, VisibilityRequest};

fn strings(config: &Value, key: &str, default: &[&str]) -> Vec<String> {
    match config.get(key).and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        None => default.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Open edX's built-in rules (visibility.md §2 step 3).
fn builtin(request: &VisibilityRequest) -> Vec<String> {
    match request.account_privacy.as_str() {
        "all_users" => request.bulk_shareable_fields.clone(),
        "custom" => {
            let mut fields = request.public_fields.clone();
            for field in &request.custom_shareable_fields {
                let shared = request.field_preferences.iter().any(|(f, v)| f == field && v == "all_users");
                if shared && !fields.contains(field) {
                    fields.push(field.clone());
                }
            }
            fields
        }
        _ => request.public_fields.clone(),
    }
}

/// The fields this reader may see.
pub fn visible_fields(request: &VisibilityRequest) -> Vec<String> {
    let config: Value = serde_json::from_str(&request.config).unwrap_or(Value::Null);
    if request.viewer.kind == ViewerKind::Anonymous {
        let allowed = strings(&config, "anonymous_fields", &["username"]);
        return request.public_fields.iter().filter(|f| allowed.contains(f)).cloned().collect();
    }
    if request.requires_parental_consent {
        return request.public_fields.clone();
    }
    let mut fields = builtin(request);
    let shares_org = request.viewer.orgs.iter().any(|org| request.owner_orgs.contains(org));
    let hidden_by_privacy = request.account_privacy == "private"
        && config.get("private_hides_from_org").and_then(Value::as_bool).unwrap_or(true);
    if shares_org && !hidden_by_privacy {
        for field in strings(&config, "same_org_fields", &["name", "bio", "country", "language_proficiencies"]) {
            if request.custom_shareable_fields.contains(&field) && !fields.contains(&field) {
                fields.push(field);
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use userapi_plugin_sdk::visibility::Viewer;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn request(kind: ViewerKind, viewer_orgs: &[&str], privacy: &str) -> VisibilityRequest {
        VisibilityRequest {
            config: "{}".into(),
            viewer: Viewer { kind, username: Some("reader".into()), orgs: list(viewer_orgs) },
            owner: "owner".into(),
            owner_orgs: list(&["MITx"]),
            account_privacy: privacy.into(),
            field_preferences: vec![("bio".into(), "all_users".into())],
            requires_parental_consent: false,
            public_fields: list(&["account_privacy", "profile_image", "username"]),
            bulk_shareable_fields: list(&["account_privacy", "profile_image", "username", "country"]),
            custom_shareable_fields: list(&["account_privacy", "profile_image", "username", "bio", "name", "country"]),
        }
    }

    #[test]
    fn anonymous_readers_see_only_the_username() {
        assert_eq!(visible_fields(&request(ViewerKind::Anonymous, &["MITx"], "all_users")), ["username"]);
    }

    #[test]
    fn strangers_get_open_edx_rules() {
        assert_eq!(visible_fields(&request(ViewerKind::User, &[], "private")).len(), 3);
        assert_eq!(
            visible_fields(&request(ViewerKind::User, &["HarvardX"], "custom")),
            ["account_privacy", "profile_image", "username", "bio"]
        );
    }

    #[test]
    fn org_mates_see_more_unless_the_owner_is_private() {
        assert_eq!(
            visible_fields(&request(ViewerKind::User, &["MITx"], "custom")),
            ["account_privacy", "profile_image", "username", "bio", "name", "country"]
        );
        assert_eq!(visible_fields(&request(ViewerKind::User, &["MITx"], "private")).len(), 3);
    }

    #[test]
    fn consent_keeps_everything_but_public_fields_hidden() {
        let mut r = request(ViewerKind::Staff, &["MITx"], "all_users");
        r.requires_parental_consent = true;
        assert_eq!(visible_fields(&r), ["account_privacy", "profile_image", "username"]);
    }
}
