//! Browser sessions, Open edX's way: a login creates a server-side session
//! (the `sessionid` cookie, stored only as its SHA-256), and the
//! micro-frontends trade it for fresh JWT cookies at `/login_refresh` for as
//! long as it lives. Sessions live in the database, so they survive restarts
//! and work across instances; deactivation and retirement delete them
//! (`users::store::end_sessions`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::jwt::TokenSubject;
use super::login;
use crate::args;
use crate::clock::now_secs;
use crate::encoding::hex;
use crate::ratelimit::{self, Limiter, RetryAfter};
use crate::sites::Site;
use crate::store::{StoreError, StoreResult};
use crate::users::{self, UserRecord, Users};

/// Django's session cookie.
pub const SESSION_COOKIE: &str = "sessionid";
/// The scopes of the JWT cookies (Open edX's login cookies).
const COOKIE_SCOPES: &[&str] = &["user_id", "email", "profile"];
/// The window of the login rate limits (Open edX: `…/5m`).
const ATTEMPT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Login attempts per (tenant, account name) and per (tenant, address), for
/// the login page and API and the token endpoint's password grant alike; and
/// token requests per (tenant, address).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    accounts: Limiter<(String, String)>,
    addresses: Limiter<(String, IpAddr)>,
    token_requests: Limiter<(String, IpAddr)>,
}

impl LoginLimiter {
    /// Counts a login attempt for `account` (an e-mail or username) from
    /// `address`; refused once either has used its allowance.
    pub fn login_attempt(&self, site: &Site, address: IpAddr, account: &str) -> Result<(), RetryAfter> {
        let rules = &site.config.sessions;
        let address = (site.tenant.clone(), ratelimit::address_key(address));
        self.addresses.check(address, rules.attempts_per_address, ATTEMPT_WINDOW)?;
        let account = (site.tenant.clone(), users::types::email_key(account));
        self.accounts.check(account, rules.attempts_per_account, ATTEMPT_WINDOW)
    }

    /// Counts a request to the token endpoint from `address`.
    pub fn token_request(&self, site: &Site, address: IpAddr) -> Result<(), RetryAfter> {
        let key = (site.tenant.clone(), ratelimit::address_key(address));
        self.token_requests.check(key, site.config.jwt.token_requests_per_address, Duration::from_secs(60))
    }
}

/// Why a login did not start a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the login information is incomplete")]
    Incomplete,
    #[error("email or password is incorrect")]
    Incorrect,
    #[error("too many login attempts")]
    RateLimited,
    /// The password was right but the account is not active (e-mail not
    /// confirmed, or deactivated), as Open edX refuses it.
    #[error("the account is not active")]
    Inactive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session just created: the cookie value and its account.
#[derive(Debug)]
pub struct NewSession {
    pub key: String,
    pub record: Arc<UserRecord>,
}

/// Logs in with an e-mail address or username and a password (Open edX's
/// login API v2: the e-mail is tried first). Attempts are counted per
/// account name and per address before any password is checked.
pub async fn login(
    users: &Users,
    limiter: &LoginLimiter,
    site: &Site,
    address: IpAddr,
    email_or_username: &str,
    password: String,
) -> Result<NewSession, LoginError> {
    if email_or_username.is_empty() {
        return Err(LoginError::Incomplete);
    }
    let rules = &site.config.sessions;
    let tenant = site.tenant.clone();
    limiter.login_attempt(site, address, email_or_username).map_err(|_| LoginError::RateLimited)?;
    let record = match users.by_email(&tenant, email_or_username).await? {
        Some(record) => Some(record),
        None => users.by_username(&tenant, email_or_username).await?,
    };
    let ok = login::check(record, password).await.ok_or(LoginError::Incorrect)?;
    if !ok.record.user.is_active {
        return Err(LoginError::Inactive);
    }
    let key = new_key();
    let (key_hash, user_id, max_age) = (hash(&key), ok.record.user.id, rules.max_age);
    let record = users
        .db()
        .write(move |c| {
            Box::pin(async move {
                ok.record_login(c).await?;
                let now = now_secs();
                // The account's expired sessions go as it starts a new one.
                c.execute("DELETE FROM sessions WHERE user_id = $1 AND expires <= $2", args![user_id, now]).await?;
                c.execute(
                    "INSERT INTO sessions (key_hash, tenant, user_id, created, expires) VALUES ($1, $2, $3, $4, $5)",
                    args![&key_hash, &tenant, user_id, now, now.saturating_add(max_age)],
                )
                .await?;
                users::read_back(c, &tenant, user_id).await
            })
        })
        .await?;
    Ok(NewSession { key, record })
}

/// The account of a live session on `site`'s tenant: `None` for an
/// unknown, expired or ended session, or one older than the account's last
/// revocation.
pub async fn resume(users: &Users, site: &Site, key: &str) -> StoreResult<Option<Arc<UserRecord>>> {
    let (key_hash, tenant) = (hash(key), site.tenant.clone());
    let row: Option<(i64, i64, i64)> = users
        .db()
        .read(move |c| {
            Box::pin(async move {
                c.fetch_optional(
                    "SELECT user_id, created, expires FROM sessions WHERE key_hash = $1 AND tenant = $2",
                    args![&key_hash, &tenant],
                )
                .await
            })
        })
        .await?;
    let Some((user_id, created, expires)) = row else { return Ok(None) };
    if expires <= now_secs() {
        return Ok(None);
    }
    let record = users.by_id(&site.tenant, user_id).await?;
    Ok(record.filter(|r| r.user.tokens_revoked_at.is_none_or(|at| created > at)))
}

/// Ends one session (logout); an unknown key is no error.
pub async fn end(users: &Users, key: &str) -> StoreResult<()> {
    let key_hash = hash(key);
    users
        .db()
        .write(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM sessions WHERE key_hash = $1", args![&key_hash]).await?;
                Ok(())
            })
        })
        .await
}

/// A JWT for the cookies of `record`'s browser session.
pub fn cookie_token(site: &Site, record: &UserRecord) -> Option<String> {
    let subject = TokenSubject::of(&record.user, Some(&record.profile.name));
    site.keys.issue(&subject, COOKIE_SCOPES, "", None)
}

/// How the session's cookies are set on this request's answers.
#[derive(Debug, Clone, Copy)]
pub struct CookieRules<'a> {
    pub domain: Option<&'a str>,
    /// Secure unless the site is served over plain HTTP.
    pub secure: bool,
    pub max_age: i64,
}

impl<'a> CookieRules<'a> {
    /// The rules of `site` for a request to `host` that came over HTTPS or
    /// not. The configured cookie domain applies only to hosts inside it (a
    /// browser refuses it from any other host).
    pub fn of(site: &'a Site, host: &str, https: bool) -> CookieRules<'a> {
        let rules = &site.config.sessions;
        let host = crate::sites::strip_port(host);
        let domain = rules.cookie_domain.as_deref().filter(|d| {
            let bare = d.trim_start_matches('.');
            host.eq_ignore_ascii_case(bare)
                || host.to_ascii_lowercase().ends_with(&format!(".{}", bare.to_ascii_lowercase()))
        });
        CookieRules { domain, secure: https, max_age: rules.max_age }
    }

    fn cookie(&self, name: &str, value: &str, http_only: bool, max_age: i64) -> String {
        let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
        if let Some(domain) = self.domain {
            cookie.push_str("; Domain=");
            cookie.push_str(domain);
        }
        if http_only {
            cookie.push_str("; HttpOnly");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// The session cookie (HttpOnly).
    pub fn session(&self, key: &str) -> String {
        self.cookie(SESSION_COOKIE, key, true, self.max_age)
    }

    /// The JWT cookie pair: `<header>.<payload>` readable by the
    /// micro-frontends' JavaScript, the signature HttpOnly.
    pub fn jwt(&self, token: &str) -> Vec<String> {
        let Some((header_payload, signature)) = token.rsplit_once('.') else { return Vec::new() };
        vec![
            self.cookie(super::COOKIE_HEADER_PAYLOAD, header_payload, false, self.max_age),
            self.cookie(super::COOKIE_SIGNATURE, signature, true, self.max_age),
        ]
    }

    /// Cookies that remove the session and the JWT pair.
    pub fn cleared(&self) -> Vec<String> {
        [SESSION_COOKIE, super::COOKIE_HEADER_PAYLOAD, super::COOKIE_SIGNATURE]
            .iter()
            .map(|name| self.cookie(name, "", *name != super::COOKIE_HEADER_PAYLOAD, 0))
            .collect()
    }
}

/// Where a login or logout may send the browser: a path on this host, or
/// a URL on one of the site's own or CORS origins. Anything else (other
/// hosts, `//host`, backslashes, control characters, user info) is `None`:
/// no open redirect.
pub fn safe_next(site: &Site, next: &str) -> Option<String> {
    if next.is_empty() || next.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if next.starts_with('/') {
        return (!next.starts_with("//")).then(|| next.to_owned());
    }
    let (scheme, rest) = next.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    site.trusts_origin(&format!("{scheme}://{authority}")).then(|| next.to_owned())
}

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}
