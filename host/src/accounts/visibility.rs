//! Which account fields a viewer without full access sees (visibility.md):
//! the site's visibility-policy plugin if it has one, else Open edX's rules.

use crate::plugins::visibility::FieldLists;
use crate::sites::config::VisibilityConfig;
use crate::sites::Site;

/// Who is looking, and the facts a visibility decision is made from: the
/// plugin interface's types, so the built-in policy and a plugin decide
/// from the same input.
pub use crate::plugins::visibility::{ReaderKind as Viewer, VisibilityFacts as VisibilityInput};

/// The owner's effective privacy: `private` under parental consent, else the
/// `account_privacy` preference if set, else the site default.
pub fn effective_privacy<'a>(
    config: &'a VisibilityConfig,
    preference: Option<&'a str>,
    requires_parental_consent: bool,
) -> &'a str {
    if requires_parental_consent {
        "private"
    } else {
        preference.unwrap_or(&config.default_visibility)
    }
}

/// The fields `input`'s viewer sees, always within `admin_fields` and each
/// once. A failing plugin fails closed: only `public_fields` (plugins.md).
pub fn visible_fields(site: &Site, input: &VisibilityInput<'_>) -> Vec<String> {
    let config = &site.config.account_visibility_configuration;
    let granted = match &site.plugins.visibility {
        None => builtin_visible_fields(config, input),
        Some(plugin) => {
            let lists = FieldLists {
                public: &config.public_fields,
                bulk_shareable: &config.bulk_shareable_fields,
                custom_shareable: &config.custom_shareable_fields,
            };
            plugin.visible_fields(input, lists).unwrap_or_else(|e| {
                tracing::warn!(site = %e.site, plugin = %e.plugin, cause = %e.cause, "visibility policy failed; showing public fields only");
                config.public_fields.clone()
            })
        }
    };
    let mut fields: Vec<String> = Vec::with_capacity(granted.len());
    for field in granted {
        if config.admin_fields.contains(&field) && !fields.contains(&field) {
            fields.push(field);
        }
    }
    fields
}

/// Open edX's built-in policy (visibility.md §2 step 3).
pub fn builtin_visible_fields(config: &VisibilityConfig, input: &VisibilityInput<'_>) -> Vec<String> {
    match input.account_privacy {
        "all_users" => config.bulk_shareable_fields.clone(),
        "custom" => {
            let mut fields = config.public_fields.clone();
            for field in &config.custom_shareable_fields {
                let shared = input.field_preference(field) == Some("all_users");
                if shared && !fields.contains(field) {
                    fields.push(field.clone());
                }
            }
            fields
        }
        _ => config.public_fields.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(privacy: &'a str, prefs: &[(&'a str, &'a str)]) -> VisibilityInput<'a> {
        VisibilityInput {
            reader: Viewer::User,
            reader_username: None,
            reader_orgs: Vec::new(),
            owner: "owner",
            owner_orgs: Vec::new(),
            account_privacy: privacy,
            field_preferences: prefs.to_vec(),
            requires_parental_consent: false,
        }
    }

    #[test]
    fn builtin_policy_matches_open_edx() {
        let config = VisibilityConfig::default();
        assert_eq!(builtin_visible_fields(&config, &input("all_users", &[])).len(), 11);
        assert_eq!(builtin_visible_fields(&config, &input("private", &[])).len(), 3);
        assert_eq!(builtin_visible_fields(&config, &input("something-else", &[])).len(), 3);
        let custom = builtin_visible_fields(
            &config,
            &input(
                "custom",
                &[("bio", "all_users"), ("name", "all_users"), ("email", "all_users"), ("country", "private")],
            ),
        );
        assert_eq!(custom, ["account_privacy", "profile_image", "username", "bio", "name"]);
        assert_eq!(effective_privacy(&config, Some("all_users"), true), "private");
        assert_eq!(effective_privacy(&config, None, false), "all_users");
    }
}
