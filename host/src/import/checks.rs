//! The rules an LMS row must meet to be imported. A learner whose user or
//! profile row breaks one is not imported at all (so no account arrives
//! half-made); another row that breaks one is skipped on its own.

use std::collections::HashSet;

use super::report::{Refusal, Table};
use super::source::Learner;
use crate::accounts::choices;
use crate::users::types::{Email, Username};

/// What the rules depend on besides the row.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The site's `bio_max_length`.
    pub bio_max_length: usize,
    /// The tenant's retirement state names.
    pub states: HashSet<String>,
}

/// The verdict on one learner.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Rows skipped on their own: (table, LMS id).
    pub skipped: HashSet<(Table, i64)>,
    pub refusals: Vec<Refusal>,
}

impl Verdict {
    fn refuse(&mut self, table: Table, id: i64, reason: String) {
        self.skipped.insert((table, id));
        self.refusals.push(Refusal { table: table.name(), id, reason });
    }

    /// Whether the row `(table, id)` is imported.
    pub fn keeps(&self, table: Table, id: i64) -> bool {
        !self.skipped.contains(&(table, id))
    }
}

/// A string no database here stores (the store refuses U+0000).
fn nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// Judges `learner`: `Err` when the learner is refused whole.
pub fn judge(rules: &Rules, learner: &Learner) -> Result<Verdict, Refusal> {
    let user = &learner.user;
    let refuse = |table: Table, id: i64, reason: String| Refusal { table: table.name(), id, reason };
    if nul(&[&user.username, &user.email, &user.password]) {
        return Err(refuse(Table::User, user.id, "a value holds the character U+0000".into()));
    }
    Username::parse(&user.username).map_err(|e| refuse(Table::User, user.id, e.0))?;
    Email::parse(&user.email).map_err(|e| refuse(Table::User, user.id, e.0))?;
    if let Some(p) = &learner.profile {
        let reason = profile_problem(rules, p);
        if let Some(reason) = reason {
            return Err(refuse(Table::Profile, p.id, reason));
        }
    }
    let mut verdict = Verdict::default();
    let nul_reason = || "a value holds the character U+0000".to_owned();
    for (id, platform, link) in &learner.social_links {
        if nul(&[platform, link]) {
            verdict.refuse(Table::SocialLink, *id, nul_reason());
        } else if platform.is_empty() {
            verdict.refuse(Table::SocialLink, *id, "the platform is empty".into());
        }
    }
    for (id, code) in &learner.languages {
        if nul(&[code]) || !choices::languages().contains(code) {
            verdict.refuse(Table::Language, *id, format!("{code:?} is not a language code"));
        }
    }
    for (id, key, value) in &learner.preferences {
        if nul(&[key, value]) {
            verdict.refuse(Table::Preference, *id, nul_reason());
        } else if key.is_empty() || key.chars().count() > 255 {
            verdict.refuse(Table::Preference, *id, "the key must be 1 to 255 characters".into());
        }
    }
    for tag in &learner.org_tags {
        if nul(&[&tag.org, &tag.key, &tag.value]) {
            verdict.refuse(Table::OrgTag, tag.id, nul_reason());
        }
    }
    let pendings = [
        (Table::PendingEmail, &learner.pending_email),
        (Table::PendingName, &learner.pending_name),
        (Table::PendingSecondary, &learner.pending_secondary),
        (Table::Recovery, &learner.recovery),
    ];
    for (table, row) in pendings {
        if let Some(row) = row {
            if nul(&[&row.value, &row.extra]) {
                verdict.refuse(table, row.id, nul_reason());
            }
        }
    }
    if let Some(s) = &learner.retirement_status {
        let texts = [
            s.original_username.as_str(),
            &s.original_email,
            &s.original_name,
            &s.retired_username,
            &s.retired_email,
            &s.responses,
        ];
        if nul(&texts) {
            verdict.refuse(Table::RetirementStatus, s.id, nul_reason());
        } else {
            for state in [&s.current_state, &s.last_state] {
                let known = state.as_ref().is_some_and(|name| rules.states.contains(name));
                if !known {
                    let reason =
                        format!("unknown retirement state {:?} (not in the site's retirement.states)", opt(state));
                    verdict.refuse(Table::RetirementStatus, s.id, reason);
                    break;
                }
            }
        }
    }
    if let Some(r) = &learner.partner_reporting {
        if nul(&[&r.original_username, &r.original_email, &r.original_name]) {
            verdict.refuse(Table::PartnerReporting, r.id, nul_reason());
        }
    }
    Ok(verdict)
}

/// Why a profile row cannot be imported, if it cannot.
fn profile_problem(rules: &Rules, p: &super::source::LmsProfile) -> Option<String> {
    let texts = [
        p.name.as_str(),
        &p.meta,
        &p.language,
        &p.location,
        opt(&p.gender),
        opt(&p.level_of_education),
        opt(&p.mailing_address),
        opt(&p.city),
        opt(&p.country),
        opt(&p.state),
        opt(&p.goals),
        opt(&p.bio),
        opt(&p.phone_number),
    ];
    if nul(&texts) {
        return Some("a value holds the character U+0000".into());
    }
    if !p.meta.trim().is_empty() && !serde_json::from_str::<serde_json::Value>(&p.meta).is_ok_and(|v| v.is_object()) {
        return Some("meta is not a JSON object".into());
    }
    if let Some(country) = p.country.as_deref().filter(|c| !c.is_empty()) {
        if !choices::countries().contains_key(country) {
            return Some(format!("{country:?} is not a valid country code"));
        }
    }
    if let Some(bio) = &p.bio {
        let len = bio.chars().count();
        if len > rules.bio_max_length {
            return Some(format!("the bio is {len} characters long; the site allows {}", rules.bio_max_length));
        }
    }
    None
}

/// The profile's `meta` as stored here: an empty LMS value is `{}`.
pub fn meta(raw: &str) -> String {
    if raw.trim().is_empty() {
        "{}".to_owned()
    } else {
        raw.to_owned()
    }
}
