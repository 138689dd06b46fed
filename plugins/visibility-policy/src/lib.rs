//! A visibility policy for sites whose learners work in organisations:
//!
//! * anonymous readers see only `anonymous_fields` (default: `username`);
//! * a learner who needs parental consent shows only the public fields;
//! * otherwise Open edX's rules apply (`all_users`, `custom`, `private`), and
//!   a reader who shares an org with the owner also sees `same_org_fields`
//!   (default: name, bio, country, language_proficiencies) unless the owner
//!   chose `private` and `private_hides_from_org` is true (the default).
//!
//! ```json
//! {"anonymous_fields": ["username"], "same_org_fields": ["name", "bio"], "private_hides_from_org": true}
//! ```

mod policy;

use userapi_plugin_sdk::visibility::{Guest, VisibilityRequest};

/// The plugin (exported from the component).
pub struct Policy;

impl Guest for Policy {
    fn visible_fields(request: VisibilityRequest) -> Vec<String> {
        policy::visible_fields(&request)
    }
}

userapi_plugin_sdk::export_visibility!(Policy);
