//! Calls into the visibility-policy world.

use super::wit::latest::types::{Viewer, ViewerKind};
use super::wit::latest::visibility::VisibilityRequest;
use super::{plugin::Exports, CallError, Plugin};

/// Who is reading, as a policy may know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderKind {
    Anonymous,
    User,
    Staff,
}

/// The facts of one visibility decision: the one input of both the
/// built-in policy and a plugin's.
#[derive(Debug, Clone)]
pub struct VisibilityFacts<'a> {
    pub reader: ReaderKind,
    pub reader_username: Option<&'a str>,
    pub reader_orgs: Vec<String>,
    pub owner: &'a str,
    pub owner_orgs: Vec<String>,
    /// The owner's effective privacy.
    pub account_privacy: &'a str,
    /// The owner's `visibility.<field>` preferences, as (field, value).
    pub field_preferences: Vec<(&'a str, &'a str)>,
    pub requires_parental_consent: bool,
}

impl VisibilityFacts<'_> {
    /// The owner's `visibility.<field>` preference.
    pub fn field_preference(&self, field: &str) -> Option<&str> {
        self.field_preferences.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
    }
}

/// The site's field lists a policy decides within.
#[derive(Debug, Clone, Copy)]
pub struct FieldLists<'a> {
    pub public: &'a [String],
    pub bulk_shareable: &'a [String],
    pub custom_shareable: &'a [String],
}

impl Plugin {
    /// The field names the policy grants (not yet limited to `admin_fields`).
    pub fn visible_fields(&self, facts: &VisibilityFacts<'_>, lists: FieldLists<'_>) -> Result<Vec<String>, CallError> {
        let request = VisibilityRequest {
            config: self.config.clone(),
            viewer: Viewer {
                kind: match facts.reader {
                    ReaderKind::Anonymous => ViewerKind::Anonymous,
                    ReaderKind::User => ViewerKind::User,
                    ReaderKind::Staff => ViewerKind::Staff,
                },
                username: facts.reader_username.map(str::to_owned),
                orgs: facts.reader_orgs.clone(),
            },
            owner: facts.owner.to_owned(),
            owner_orgs: facts.owner_orgs.clone(),
            account_privacy: facts.account_privacy.to_owned(),
            field_preferences: facts
                .field_preferences
                .iter()
                .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
                .collect(),
            requires_parental_consent: facts.requires_parental_consent,
            public_fields: lists.public.to_vec(),
            bulk_shareable_fields: lists.bulk_shareable.to_vec(),
            custom_shareable_fields: lists.custom_shareable.to_vec(),
        };
        self.call(|exports, store, instance| match exports {
            Exports::Visibility(indices) => {
                indices.load(&mut *store, instance)?.call_visible_fields(&mut *store, &request)
            }
            _ => Err(wasmtime::Error::msg("not a visibility policy")),
        })
    }
}
