//! The OAuth2 grants of the token endpoint: client credentials and
//! password (errors.md §6). Returns domain errors; the route shapes them.

use std::net::IpAddr;

use super::sessions::LoginLimiter;
use crate::ratelimit::RetryAfter;
use std::sync::Arc;

use super::clients::{self, VerifiedSecrets};
use super::jwt::TokenSubject;
use super::login;
use crate::sites::Site;
use crate::store::StoreError;
use crate::users::{self, UserRecord, Users};

const CLIENT_SCOPES: &[&str] = &["read", "write", "email", "profile"];
const PASSWORD_SCOPES: &[&str] = &["read", "write", "email", "profile", "user_id"];

/// A token request, as the form (or Basic auth) gave it.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A signed token and what it grants.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("Missing grant type.")]
    MissingGrantType,
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    #[error("invalid client")]
    InvalidClient,
    #[error("Request is missing username or password parameter.")]
    MissingCredentials,
    #[error("Invalid credentials given.")]
    InvalidGrant,
    #[error("This site has no signing key.")]
    NoSigningKey,
    /// Too many requests from the address, or password attempts for the account.
    #[error("too many requests")]
    RateLimited(RetryAfter),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a token request comes from, and the limits it counts against.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub address: IpAddr,
    pub limiter: &'a LoginLimiter,
}

/// Issues a token for `request` on `site`. Every request counts against the
/// address's allowance; a password grant also counts as a login attempt.
pub async fn grant(
    users: &Users,
    secrets: &VerifiedSecrets,
    site: &Site,
    from: Requester<'_>,
    request: TokenRequest,
) -> Result<IssuedToken, GrantError> {
    from.limiter.token_request(site, from.address).map_err(GrantError::RateLimited)?;
    let grant_type = request.grant_type.as_deref().ok_or(GrantError::MissingGrantType)?;
    let (record, scopes, grant) = match grant_type {
        "client_credentials" => {
            let (Some(id), Some(secret)) = (&request.client_id, &request.client_secret) else {
                return Err(GrantError::InvalidClient);
            };
            let client = authenticate_client(users, secrets, site, id, Some(secret)).await?;
            let record = users.by_id(&site.tenant, client.user_id).await?.ok_or(GrantError::InvalidClient)?;
            (record, CLIENT_SCOPES, "client-credentials")
        }
        "password" => {
            let id = request.client_id.as_deref().ok_or(GrantError::InvalidClient)?;
            authenticate_client(users, secrets, site, id, request.client_secret.as_deref()).await?;
            let (Some(username), Some(pw)) = (request.username, request.password) else {
                return Err(GrantError::MissingCredentials);
            };
            from.limiter.login_attempt(site, from.address, &username).map_err(GrantError::RateLimited)?;
            let record = password_login(users, site, &username, pw).await?;
            (record, PASSWORD_SCOPES, "password")
        }
        _ => return Err(GrantError::UnsupportedGrantType),
    };
    let subject = TokenSubject::of(&record.user, Some(&record.profile.name));
    let access_token = site.keys.issue(&subject, scopes, grant, None).ok_or(GrantError::NoSigningKey)?;
    Ok(IssuedToken { access_token, expires_in: site.keys.expires_in(), scope: scopes.join(" ") })
}

async fn authenticate_client(
    users: &Users,
    secrets: &VerifiedSecrets,
    site: &Site,
    client_id: &str,
    secret: Option<&str>,
) -> Result<clients::OAuthClient, GrantError> {
    let (tenant, id) = (site.tenant.clone(), client_id.to_owned());
    let client = users.db().read(move |c| Box::pin(async move { clients::find(c, &tenant, &id).await })).await?;
    if let Some(secret) = secret {
        if !secrets.check(&site.tenant, client.as_ref(), secret).await {
            return Err(GrantError::InvalidClient);
        }
    }
    client.ok_or(GrantError::InvalidClient)
}

/// Checks a username and password (taking the same time whether or not the
/// account exists); on success records the login.
async fn password_login(users: &Users, site: &Site, username: &str, pw: String) -> Result<Arc<UserRecord>, GrantError> {
    let record = users.by_username(&site.tenant, username).await?;
    let ok = login::check(record, pw).await.ok_or(GrantError::InvalidGrant)?;
    let (tenant, id) = (site.tenant.clone(), ok.record.user.id);
    let fresh = users
        .db()
        .write(move |c| {
            Box::pin(async move {
                ok.record_login(c).await?;
                users::read_back(c, &tenant, id).await
            })
        })
        .await?;
    Ok(fresh)
}
