//! The site configuration file, as parsed after the JSON Schema check.
//! Field names and defaults follow site-config.md (Open edX's settings).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One site's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub site: String,
    pub domains: Vec<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub default: bool,
    /// Shown in user-facing messages (Open edX `PLATFORM_NAME`).
    #[serde(default = "default_platform_name")]
    pub platform_name: String,
    pub jwt: JwtConfig,
    #[serde(default)]
    pub extended_profile_fields: Vec<String>,
    #[serde(default)]
    pub extended_profile_schema: Option<Value>,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub account_visibility_configuration: VisibilityConfig,
    #[serde(default = "default_age_limit")]
    pub parental_consent_age_limit: Option<i64>,
    #[serde(default = "default_optin_age")]
    pub email_optin_minimum_age: i64,
    #[serde(default = "default_bio_max")]
    pub bio_max_length: usize,
    #[serde(default = "default_name_min")]
    pub name_min_length: usize,
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// In configuration order (messages list them that way).
    #[serde(default = "default_social_platforms")]
    pub social_platforms: indexmap::IndexMap<String, SocialPlatform>,
    #[serde(default)]
    pub profile_image: ProfileImageConfig,
    #[serde(default)]
    pub retirement: RetirementConfig,
    #[serde(default)]
    pub orgs_config: Vec<OrgConfig>,
    #[serde(default)]
    pub enable_secondary_email: bool,
    #[serde(default)]
    pub username_replacement_worker: Option<String>,
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    #[serde(default)]
    pub third_party_auth: ThirdPartyAuthConfig,
    #[serde(default)]
    pub sessions: SessionsConfig,
    #[serde(default)]
    pub email: EmailConfig,
    /// Where the tenant's keys are (absent: the default keyring).
    #[serde(default)]
    pub keys: Option<KeysConfig>,
}

/// `keys`: a keyring file or an environment variable holding one (exactly one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// A keyring file, relative to the sites directory.
    #[serde(default)]
    pub file: Option<std::path::PathBuf>,
    /// An environment variable holding a keyring's JSON.
    #[serde(default)]
    pub env: Option<String>,
}

/// Browser sessions: the login page and API, `/login_refresh`, `/logout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Domain of the session and JWT cookies (Open edX
    /// `SESSION_COOKIE_DOMAIN`, e.g. `.learn.localhost`), so micro-frontends
    /// on sibling hosts read the JWT cookie; absent, the cookies are host-only.
    #[serde(default)]
    pub cookie_domain: Option<String>,
    /// How long a session lives, in seconds (Open edX: four weeks).
    #[serde(default = "default_session_age")]
    pub max_age: i64,
    /// Login attempts allowed per account, and per client address, in five minutes
    /// (Open edX `LOGISTRATION_PER_EMAIL_RATELIMIT_RATE`, `LOGISTRATION_RATELIMIT_RATE`).
    #[serde(default = "default_account_attempts")]
    pub attempts_per_account: usize,
    #[serde(default = "default_address_attempts")]
    pub attempts_per_address: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            cookie_domain: None,
            max_age: default_session_age(),
            attempts_per_account: default_account_attempts(),
            attempts_per_address: default_address_attempts(),
        }
    }
}

fn default_session_age() -> i64 {
    4 * 7 * 24 * 3600
}
fn default_account_attempts() -> usize {
    30
}
fn default_address_attempts() -> usize {
    100
}

/// Third-party sign-in providers the site shows (Open edX `third_party_auth`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThirdPartyAuthConfig {
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// One provider, as `GET /api/third_party_auth/v0/providers/user_status` lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Open edX's `provider_id`, for example `oa2-google-oauth2`.
    pub id: String,
    pub name: String,
    #[serde(default = "default_true")]
    pub accepts_logins: bool,
    #[serde(default)]
    pub connect_url: String,
    #[serde(default)]
    pub disconnect_url: String,
}

fn default_true() -> bool {
    true
}

fn default_platform_name() -> String {
    "Your Platform Name Here".into()
}
fn default_age_limit() -> Option<i64> {
    Some(13)
}
fn default_optin_age() -> i64 {
    13
}
fn default_bio_max() -> usize {
    300
}
fn default_name_min() -> usize {
    1
}

/// JWT issuance and verification settings of a site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub secret_keys: Vec<String>,
    #[serde(default)]
    pub public_jwks: Option<Value>,
    #[serde(default = "default_expires_in")]
    pub expires_in: i64,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (edX `JWT_LEEWAY`).
    #[serde(default = "default_leeway")]
    pub leeway: u64,
    /// Requests to the token endpoint per client address per minute (Open
    /// edX rate-limits its token view with `RATELIMIT_RATE`, `120/m`).
    #[serde(default = "default_token_requests")]
    pub token_requests_per_address: usize,
}

fn default_token_requests() -> usize {
    120
}

fn default_expires_in() -> i64 {
    3600
}

fn default_leeway() -> u64 {
    1
}

/// The three plugin slots; each absent slot means built-in behaviour.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    #[serde(default)]
    pub extended_profile_validator: Option<PluginConfig>,
    #[serde(default)]
    pub visibility_policy: Option<PluginConfig>,
    #[serde(default)]
    pub partner_report_formatter: Option<PluginConfig>,
}

/// One plugin slot: the component, its configuration and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub path: String,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub limits: PluginLimits,
}

/// Resource limits of one plugin call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    pub fuel: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub table_elements: Option<u32>,
    pub instances: Option<u32>,
}

/// Open edX's `ACCOUNT_VISIBILITY_CONFIGURATION`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisibilityConfig {
    pub default_visibility: String,
    pub public_fields: Vec<String>,
    pub bulk_shareable_fields: Vec<String>,
    pub custom_shareable_fields: Vec<String>,
    pub admin_fields: Vec<String>,
}

const PUBLIC_FIELDS: &[&str] = &["account_privacy", "profile_image", "username"];
const BULK_EXTRA: &[&str] = &[
    "bio",
    "course_certificates",
    "country",
    "date_joined",
    "language_proficiencies",
    "level_of_education",
    "social_links",
    "time_zone",
];
const CUSTOM_EXTRA: &[&str] = &["name"];
const ADMIN_EXTRA: &[&str] = &[
    "email",
    "id",
    "verified_name",
    "extended_profile",
    "gender",
    "state",
    "goals",
    "is_active",
    "last_login",
    "mailing_address",
    "requires_parental_consent",
    "secondary_email",
    "secondary_email_enabled",
    "year_of_birth",
    "phone_number",
    "pending_name_change",
];

fn strings(parts: &[&[&str]]) -> Vec<String> {
    parts.iter().flat_map(|p| p.iter().map(|s| (*s).to_owned())).collect()
}

impl Default for VisibilityConfig {
    fn default() -> Self {
        VisibilityConfig {
            default_visibility: "all_users".into(),
            public_fields: strings(&[PUBLIC_FIELDS]),
            bulk_shareable_fields: strings(&[PUBLIC_FIELDS, BULK_EXTRA]),
            custom_shareable_fields: strings(&[PUBLIC_FIELDS, BULK_EXTRA, CUSTOM_EXTRA]),
            admin_fields: strings(&[PUBLIC_FIELDS, BULK_EXTRA, CUSTOM_EXTRA, ADMIN_EXTRA]),
        }
    }
}

/// A password rule count that the file may give as a number or as a boolean.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(untagged)]
pub enum RequiredCount {
    Count(u32),
    Flag(bool),
    #[default]
    #[serde(skip)]
    None,
}

impl RequiredCount {
    /// How many characters of the class are required.
    pub fn count(self) -> u32 {
        match self {
            RequiredCount::Count(n) => n,
            RequiredCount::Flag(true) => 1,
            RequiredCount::Flag(false) | RequiredCount::None => 0,
        }
    }
}

/// Password rules (Open edX `AUTH_PASSWORD_VALIDATORS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub require_upper: RequiredCount,
    pub require_lower: RequiredCount,
    pub require_digit: RequiredCount,
    pub require_punctuation: RequiredCount,
    pub user_attribute_similarity: f64,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            max_length: 75,
            require_upper: RequiredCount::None,
            require_lower: RequiredCount::None,
            require_digit: RequiredCount::None,
            require_punctuation: RequiredCount::None,
            user_attribute_similarity: 0.7,
        }
    }
}

/// A social platform accepted in `social_links`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialPlatform {
    pub url_stub: String,
    #[serde(default)]
    pub example: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_social_platforms() -> indexmap::IndexMap<String, SocialPlatform> {
    [
        ("facebook", "Facebook", "facebook.com/", "https://www.facebook.com/username"),
        ("x", "X", "x.com/", "https://www.x.com/username"),
        ("linkedin", "LinkedIn", "linkedin.com/in/", "www.linkedin.com/in/username"),
    ]
    .into_iter()
    .map(|(id, name, stub, example)| {
        let platform = SocialPlatform {
            url_stub: stub.to_owned(),
            example: example.to_owned(),
            display_name: Some(name.to_owned()),
        };
        (id.to_owned(), platform)
    })
    .collect()
}

/// Profile image URLs, sizes and storage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileImageConfig {
    pub base_url: String,
    pub storage: ImageStorageConfig,
    pub sizes: BTreeMap<String, u32>,
    pub default_image_url: String,
    pub hash_seed: String,
}

impl Default for ProfileImageConfig {
    fn default() -> Self {
        ProfileImageConfig {
            base_url: "/media/profile-images/".into(),
            storage: ImageStorageConfig::default(),
            sizes: [("full", 500), ("large", 120), ("medium", 50), ("small", 30)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            default_image_url: "/static/images/profiles/default".into(),
            hash_seed: "placeholder_secret_key".into(),
        }
    }
}

/// Where uploaded profile images are written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageStorageConfig {
    pub kind: String,
    #[serde(default = "default_image_path")]
    pub path: String,
}

fn default_image_path() -> String {
    "data/profile-images".into()
}

impl Default for ImageStorageConfig {
    fn default() -> Self {
        ImageStorageConfig { kind: "filesystem".into(), path: default_image_path() }
    }
}

/// Retirement settings (Open edX `RETIREMENT_*`, `RETIRED_*`, `COOL_OFF_DAYS`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetirementConfig {
    pub states: Vec<String>,
    pub username_prefix: String,
    pub email_prefix: String,
    pub email_domain: String,
    pub salts: Vec<String>,
    pub service_username: String,
    pub cool_off_days: i64,
}

impl RetirementConfig {
    /// The settings every site of a tenant must share (retirement.md §1.1):
    /// states, salts, prefixes and the retired e-mail domain.
    pub fn tenant_identity(&self) -> (&[String], &[String], &str, &str, &str) {
        (&self.states, &self.salts, &self.username_prefix, &self.email_prefix, &self.email_domain)
    }
}

impl Default for RetirementConfig {
    fn default() -> Self {
        RetirementConfig {
            states: [
                "PENDING",
                "LOCKING_ACCOUNT",
                "LOCKING_COMPLETE",
                "RETIRING_FORUMS",
                "FORUMS_COMPLETE",
                "RETIRING_EMAIL_LISTS",
                "EMAIL_LISTS_COMPLETE",
                "RETIRING_ENROLLMENTS",
                "ENROLLMENTS_COMPLETE",
                "RETIRING_NOTES",
                "NOTES_COMPLETE",
                "RETIRING_LMS",
                "LMS_COMPLETE",
                "ERRORED",
                "ABORTED",
                "COMPLETE",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            username_prefix: "retired__user_".into(),
            email_prefix: "retired__user_".into(),
            email_domain: "retired.invalid".into(),
            salts: vec!["abc".into(), "123".into()],
            service_username: "RETIREMENT_SERVICE_USER".into(),
            cool_off_days: 14,
        }
    }
}

/// One organisation's partner-report settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    pub org: String,
    #[serde(default)]
    pub field_headings: Vec<String>,
}

/// CORS for the micro-frontends of a site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// Outgoing mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig { kind: "outbox".into(), url: None, from: None }
    }
}
