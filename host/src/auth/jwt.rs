//! JWT issue and verification for one site. The algorithm is pinned by the
//! key: HS256 only with the site's secrets, RS*/ES* only with a JWKS key of
//! that family; `none` is not an algorithm jsonwebtoken parses at all.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::now_secs;
use crate::encoding::hex;
use crate::sites::config::JwtConfig;

/// Why a token was refused. Each maps to one Open edX 401 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token has expired")]
    Expired,
    #[error("token could not be decoded")]
    Undecodable,
    #[error("token is invalid")]
    Invalid,
    #[error("token has no preferred_username or username claim")]
    NoUsername,
}

/// A JWKS entry that could not be turned into a verification key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// The claims we read from, and write into, a token (errors.md §5.2).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub filters: Vec<serde_json::Value>,
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superuser: Option<bool>,
}

impl Claims {
    /// The username the token speaks for.
    pub fn subject_username(&self) -> Option<&str> {
        self.preferred_username.as_deref().or(self.username.as_deref())
    }
}

/// The account facts a token carries.
#[derive(Debug, Clone)]
pub struct TokenSubject<'a> {
    pub user_id: i64,
    pub username: &'a str,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

impl<'a> TokenSubject<'a> {
    /// The facts of `user`, with the profile's full name.
    pub fn of(user: &'a crate::users::User, name: Option<&'a str>) -> TokenSubject<'a> {
        TokenSubject {
            user_id: user.id,
            username: &user.username,
            email: &user.email,
            name,
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
        }
    }
}

struct PublicKey {
    kid: Option<String>,
    /// Set when the JWK names its algorithm: then only that one is accepted.
    alg: Option<Algorithm>,
    family: KeyFamily,
    key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyFamily {
    fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyFamily::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyFamily::EcP256 => alg == ES256,
            KeyFamily::EcP384 => alg == ES384,
            KeyFamily::Ed25519 => alg == EdDSA,
        }
    }
}

/// The keys and claim rules of one site.
pub struct SiteKeys {
    issuer: String,
    audience: Option<String>,
    expires_in: i64,
    leeway: u64,
    signing: Option<(EncodingKey, String)>,
    secrets: Vec<DecodingKey>,
    public: Vec<PublicKey>,
}

impl std::fmt::Debug for SiteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("secrets", &self.secrets.len())
            .field("public", &self.public.len())
            .finish()
    }
}

/// The highest major `version` claim we accept (edX `JWT_SUPPORTED_VERSION` 1.2.0).
const SUPPORTED_MAJOR: u64 = 1;
const TOKEN_VERSION: &str = "1.2.0";

impl SiteKeys {
    /// Prepares the keys of a site's `jwt` config.
    pub fn from_config(cfg: &JwtConfig) -> Result<SiteKeys, KeyError> {
        let secrets = cfg.secret_keys.iter().map(|s| DecodingKey::from_secret(s.as_bytes())).collect();
        let signing = cfg.secret_keys.first().map(|s| (EncodingKey::from_secret(s.as_bytes()), s.clone()));
        let mut public = Vec::new();
        if let Some(jwks) = &cfg.public_jwks {
            let set: JwkSet = serde_json::from_value(jwks.clone())
                .map_err(|e| KeyError(format!("public_jwks is not a JWK set: {e}")))?;
            for (i, jwk) in set.keys.iter().enumerate() {
                public.push(public_key(jwk).map_err(|e| KeyError(format!("public_jwks/keys/{i}: {e}")))?);
            }
        }
        Ok(SiteKeys {
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            expires_in: cfg.expires_in,
            leeway: cfg.leeway,
            signing,
            secrets,
            public,
        })
    }

    /// How long issued tokens live, in seconds.
    pub fn expires_in(&self) -> i64 {
        self.expires_in
    }

    /// Signs a token for `subject` with the first secret key (HS256).
    pub fn issue(
        &self,
        subject: &TokenSubject<'_>,
        scopes: &[&str],
        grant_type: &str,
        expires_in: Option<i64>,
    ) -> Option<String> {
        let (key, secret) = self.signing.as_ref()?;
        let iat = now_secs();
        let has = |s: &str| scopes.contains(&s);
        let profile = has("profile");
        let claims = Claims {
            iss: Some(self.issuer.clone()),
            aud: self.audience.clone(),
            iat,
            exp: iat + expires_in.unwrap_or(self.expires_in),
            preferred_username: Some(subject.username.to_owned()),
            sub: Some(anonymous_id(secret, subject.user_id)),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            version: Some(TOKEN_VERSION.to_owned()),
            grant_type: Some(grant_type.to_owned()),
            email_verified: subject.is_active,
            user_id: has("user_id").then_some(subject.user_id),
            email: has("email").then(|| subject.email.to_owned()),
            name: if profile { subject.name.map(str::to_owned) } else { None },
            given_name: profile.then(String::new),
            family_name: profile.then(String::new),
            administrator: profile.then_some(subject.is_staff),
            superuser: profile.then_some(subject.is_superuser),
            ..Claims::default()
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key).ok()
    }

    /// Verifies signature, then the claims: `exp`, `iss` (and `aud` when the
    /// site names an audience) must be present and right, `nbf` and `iat`
    /// must not be in the future (all with the site's leeway), and `version`
    /// must be supported. Returns the claims of a token that names a username.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Undecodable)?;
        let alg = header.alg;
        let candidates: Vec<&DecodingKey> = if alg == Algorithm::HS256 {
            self.secrets.iter().collect()
        } else {
            self.public
                .iter()
                .filter(|k| k.family.accepts(alg))
                .filter(|k| k.alg.is_none_or(|a| a == alg))
                .filter(|k| match (&header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                })
                .map(|k| &k.key)
                .collect()
        };
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.issuer.as_str()]);
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud.as_str()]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        let mut outcome = Err(JwtError::Undecodable);
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    match e.kind() {
                        K::InvalidSignature => continue,
                        K::ExpiredSignature => return Err(JwtError::Expired),
                        K::InvalidIssuer | K::InvalidAudience | K::MissingRequiredClaim(_) | K::ImmatureSignature => {
                            return Err(JwtError::Invalid)
                        }
                        _ => return Err(JwtError::Undecodable),
                    }
                }
            }
        }
        let claims = outcome?;
        // jsonwebtoken checks exp and nbf; a token issued in the future is
        // refused here, with the same leeway.
        if claims.iat > now_secs().saturating_add(self.leeway as i64) {
            return Err(JwtError::Invalid);
        }
        if let Some(version) = &claims.version {
            let major = version.split('.').next().and_then(|m| m.parse::<u64>().ok());
            if major.is_none_or(|m| m > SUPPORTED_MAJOR) {
                return Err(JwtError::Invalid);
            }
        }
        if claims.subject_username().is_none() {
            return Err(JwtError::NoUsername);
        }
        Ok(claims)
    }

    /// Every secret of this site (to detect keys shared across tenants).
    pub fn secret_fingerprints(cfg: &JwtConfig) -> Vec<String> {
        cfg.secret_keys.iter().map(|s| hex(&Sha256::digest(s.as_bytes()))).collect()
    }
}

fn public_key(jwk: &Jwk) -> Result<PublicKey, String> {
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyFamily::EcP256,
            EllipticCurve::P384 => KeyFamily::EcP384,
            ref other => return Err(format!("unsupported curve {other:?}")),
        },
        AlgorithmParameters::OctetKeyPair(_) => KeyFamily::Ed25519,
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys belong in secret_keys, not public_jwks".into()),
    };
    let alg = match jwk.common.key_algorithm {
        Some(ka) => {
            Some(ka.to_string().parse::<Algorithm>().map_err(|_| format!("algorithm {ka} cannot verify signatures"))?)
        }
        None => None,
    };
    if let Some(a) = alg {
        if !family.accepts(a) {
            return Err(format!("algorithm {a:?} does not fit the key type"));
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok(PublicKey { kid: jwk.common.key_id.clone(), alg, family, key })
}

/// A stable 32-hex-character pseudonymous id, like edX's anonymous user id.
fn anonymous_id(secret: &str, user_id: i64) -> String {
    let digest = Sha256::digest(format!("{secret}:{user_id}").as_bytes());
    hex(&digest[..16])
}
