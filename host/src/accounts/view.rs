//! The account object of GET (accounts.md §3) and its filtering for a
//! viewer (visibility.md).

use bytes::Bytes;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{json, Map, Value};

use super::visibility::{self, Viewer, VisibilityInput};
use crate::clock::{iso8601, iso8601_seconds};
use crate::sites::Site;
use crate::users::{age, UserRecord};

/// The scheme and host a request came in on, for absolute URLs.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    pub scheme: String,
    pub host: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(RequestOrigin {
            scheme: header("x-forwarded-proto").unwrap_or_else(|| "http".into()),
            host: parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost").to_owned(),
        })
    }
}

impl RequestOrigin {
    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}://{}{}", self.scheme, self.host, url)
        }
    }
}

/// Whether the owner of `record` requires parental consent on `site`.
pub fn requires_parental_consent(site: &Site, record: &UserRecord) -> bool {
    age::is_under(record.profile.year_of_birth, site.config.parental_consent_age_limit, true)
}

fn empty_as_null(value: &Option<String>) -> Value {
    match value.as_deref() {
        None | Some("") => Value::Null,
        Some(v) => Value::String(v.to_owned()),
    }
}

fn text_or_null(value: &Option<String>) -> Value {
    value.as_ref().map_or(Value::Null, |v| Value::String(v.clone()))
}

/// The `profile_image` object: one URL per configured size.
fn profile_image(site: &Site, record: &UserRecord, consent: bool, origin: &RequestOrigin) -> Value {
    let config = &site.config.profile_image;
    let uploaded = record.profile.profile_image_uploaded_at.filter(|_| !consent);
    let mut image = Map::new();
    image.insert("has_image".into(), Value::Bool(uploaded.is_some()));
    for (size_name, px) in &config.sizes {
        let url = match uploaded {
            Some(at) => {
                let stem = super::profile_image::image_stem(site, &record.user.username);
                let separator = if config.base_url.contains('?') { '&' } else { '?' };
                format!("{}{stem}_{px}.jpg{separator}v={}", config.base_url, at / 1_000_000)
            }
            None => format!("{}_{px}.png", config.default_image_url),
        };
        image.insert(format!("image_url_{size_name}"), Value::String(origin.absolute(&url)));
    }
    Value::Object(image)
}

/// The stored extended-profile values of the site's listed fields, in order.
fn extended_profile(site: &Site, record: &UserRecord) -> Value {
    let meta: Map<String, Value> = serde_json::from_str(&record.profile.meta).unwrap_or_default();
    Value::Array(
        site.config
            .extended_profile_fields
            .iter()
            .map(|name| json!({"field_name": name, "field_value": meta.get(name).cloned().unwrap_or(json!(""))}))
            .collect(),
    )
}

/// Every key of the full ("admin") account object, computed for `record`.
pub fn full_account(site: &Site, record: &UserRecord, origin: &RequestOrigin) -> Map<String, Value> {
    let p = &record.profile;
    let u = &record.user;
    let consent = requires_parental_consent(site, record);
    let privacy = visibility::effective_privacy(
        &site.config.account_visibility_configuration,
        record.preference("account_privacy"),
        consent,
    );
    let secondary_enabled = site.config.enable_secondary_email;
    let mut m = Map::new();
    m.insert("username".into(), json!(u.username));
    m.insert("account_privacy".into(), json!(privacy));
    m.insert("profile_image".into(), profile_image(site, record, consent, origin));
    m.insert("bio".into(), empty_as_null(&p.bio));
    m.insert("course_certificates".into(), Value::Null);
    m.insert("country".into(), empty_as_null(&p.country));
    m.insert("date_joined".into(), json!(iso8601_seconds(u.date_joined)));
    m.insert(
        "language_proficiencies".into(),
        Value::Array(record.languages.iter().map(|c| json!({"code": c})).collect()),
    );
    m.insert("level_of_education".into(), empty_as_null(&p.level_of_education));
    m.insert(
        "social_links".into(),
        Value::Array(
            record
                .social_links
                .iter()
                .map(|(platform, link)| json!({"platform": platform, "social_link": link}))
                .collect(),
        ),
    );
    m.insert("time_zone".into(), Value::Null);
    m.insert("name".into(), json!(p.name));
    m.insert("email".into(), json!(u.email));
    m.insert("id".into(), json!(u.id));
    m.insert("verified_name".into(), Value::Null);
    m.insert("extended_profile".into(), extended_profile(site, record));
    m.insert("gender".into(), empty_as_null(&p.gender));
    m.insert("state".into(), empty_as_null(&p.state));
    m.insert("goals".into(), text_or_null(&p.goals));
    m.insert("is_active".into(), json!(u.is_active));
    m.insert("last_login".into(), u.last_login.map_or(Value::Null, |t| json!(iso8601(t))));
    m.insert("mailing_address".into(), text_or_null(&p.mailing_address));
    m.insert("requires_parental_consent".into(), json!(consent));
    m.insert(
        "secondary_email".into(),
        if secondary_enabled { text_or_null(&record.secondary_email) } else { Value::Null },
    );
    m.insert("secondary_email_enabled".into(), if secondary_enabled { json!(true) } else { Value::Null });
    m.insert("year_of_birth".into(), json!(p.year_of_birth));
    m.insert("phone_number".into(), empty_as_null(&p.phone_number));
    m.insert("pending_name_change".into(), text_or_null(&record.pending_name_change));
    m
}

/// The account as `request`'s viewer sees it, serialised. Owners and staff
/// get the full object, others what the site's own rules show: both depend
/// on the record, the site and the origin only, so they are memoised in the
/// record (and die with it). A visibility policy plugin decides per viewer:
/// its answers are not memoised.
pub fn render(site: &Site, record: &UserRecord, origin: &RequestOrigin, request: &ViewRequest<'_>) -> Bytes {
    let full = !request.needs_policy(record.user.id);
    let make = || Bytes::from(Value::Object(account_for_viewer(site, record, origin, request)).to_string());
    if !full && site.plugins.visibility.is_some() {
        return make();
    }
    // The parental-consent rule depends on the current year.
    let key = format!("{} {} {} {full} {}", site.generation, age::current_year(), origin.scheme, origin.host);
    record.renderings.get_or(&key, make)
}

/// Who is asking for an account, and how.
#[derive(Debug, Clone)]
pub struct ViewRequest<'a> {
    pub viewer_id: i64,
    pub viewer_username: &'a str,
    pub viewer_is_staff: bool,
    /// `view=shared`: see the account as other users do.
    pub shared: bool,
    /// The orgs the viewer belongs to (from its record), which a visibility
    /// policy may weigh against the owner's.
    pub viewer_orgs: &'a [String],
}

impl ViewRequest<'_> {
    /// Whether the site's policy, not full access, decides what `owner_id`'s account shows.
    pub fn needs_policy(&self, owner_id: i64) -> bool {
        !((self.viewer_id == owner_id || self.viewer_is_staff) && !self.shared)
    }
}

/// The account object as `request`'s viewer may see it (visibility.md §2).
pub fn account_for_viewer(
    site: &Site,
    record: &UserRecord,
    origin: &RequestOrigin,
    request: &ViewRequest<'_>,
) -> Map<String, Value> {
    let config = &site.config.account_visibility_configuration;
    let mut full = full_account(site, record, origin);
    let fields: Vec<String> = if !request.needs_policy(record.user.id) {
        config.admin_fields.clone()
    } else {
        let consent = requires_parental_consent(site, record);
        let privacy = full.get("account_privacy").and_then(Value::as_str).unwrap_or("private").to_owned();
        let field_preferences: Vec<(&str, &str)> = record
            .preferences
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("visibility.").map(|f| (f, v.as_str())))
            .collect();
        let input = VisibilityInput {
            reader: if request.viewer_is_staff { Viewer::Staff } else { Viewer::User },
            reader_username: Some(request.viewer_username),
            reader_orgs: request.viewer_orgs.to_vec(),
            owner: &record.user.username,
            owner_orgs: record.memberships.clone(),
            account_privacy: &privacy,
            field_preferences,
            requires_parental_consent: consent,
        };
        visibility::visible_fields(site, &input)
    };
    let mut out = Map::new();
    for field in fields {
        let value = full.remove(&field).unwrap_or(Value::Null);
        out.insert(field, value);
    }
    out
}
