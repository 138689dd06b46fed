//! Password hashes: argon2id for everything we write; Django's
//! `pbkdf2_sha256$<iterations>$<salt>$<base64>` (and `pbkdf2_sha1$…`)
//! verified for accounts imported from Open edX (and rehashed by the caller
//! on success); Django's `argon2$…` taken over as the PHC string it wraps;
//! `!…` marks an unusable password, as in Django.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// What verifying a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, unusable or unreadable hash.
    No,
    /// Right password, stored in our current scheme.
    Yes,
    /// Right password, stored in a legacy scheme: rehash it.
    YesRehash,
}

/// Hashes `password` with argon2id and a random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Only reachable with a password over argon2's 4 GiB limit.
        Err(_) => unusable(),
    }
}

/// A Django-style unusable password marker: no password ever verifies.
pub fn unusable() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("!{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a stored hash can ever verify a password.
pub fn is_usable(stored: &str) -> bool {
    !stored.is_empty() && !stored.starts_with('!')
}

/// An argon2id hash of a random password, made once: verifying against it
/// costs what verifying a real password costs, and never succeeds.
static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hash(&base64::engine::general_purpose::STANDARD.encode(bytes))
});

/// [`hash`] on the blocking pool: argon2 must not hold an async worker.
pub async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash(&password)).await.unwrap_or_else(|_| unusable())
}

/// [`verify`] on the blocking pool, taking as long for a missing account
/// (`stored` is `None`) or an unusable password as for a wrong one, so the
/// answer's timing does not tell which accounts exist.
pub async fn verify_off_thread(password: String, stored: Option<String>) -> Verified {
    tokio::task::spawn_blocking(move || match stored.filter(|s| is_usable(s)) {
        Some(stored) => verify(&password, &stored),
        None => {
            let _ = verify(&password, &DUMMY);
            Verified::No
        }
    })
    .await
    .unwrap_or(Verified::No)
}

/// Checks `password` against a stored hash of any scheme we know.
pub fn verify(password: &str, stored: &str) -> Verified {
    if !is_usable(stored) {
        return Verified::No;
    }
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified::No;
        };
        return match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Verified::Yes,
            Err(_) => Verified::No,
        };
    }
    let (rest, sha1) = match (stored.strip_prefix("pbkdf2_sha256$"), stored.strip_prefix("pbkdf2_sha1$")) {
        (Some(rest), _) => (rest, false),
        (None, Some(rest)) => (rest, true),
        (None, None) => return Verified::No,
    };
    if verify_django_pbkdf2(password, rest, sha1) {
        Verified::YesRehash
    } else {
        Verified::No
    }
}

/// What an account imported from Django keeps of its stored password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromDjango {
    /// A hash [`verify`] reads: kept as it is (rehashed at the next login),
    /// or Django's `argon2$…` unwrapped to the PHC string inside it.
    Kept(String),
    /// Django's own unusable marker (`!…`) or an empty password: kept unusable.
    Unusable(String),
    /// A scheme we do not verify (`bcrypt_sha256`, `bcrypt`, `sha1`, `md5`,
    /// `unsalted_md5`, `unsalted_sha1`, `crypt`, or garbage): made unusable,
    /// so the learner sets a new password through a reset. Holds the scheme.
    Refused(String),
}

/// How `stored`, a Django `auth_user.password`, is kept (see [`FromDjango`]).
pub fn from_django(stored: &str) -> FromDjango {
    if stored.is_empty() || stored.starts_with('!') {
        return FromDjango::Unusable(if stored.is_empty() { unusable() } else { stored.to_owned() });
    }
    if stored.starts_with("pbkdf2_sha256$") || stored.starts_with("pbkdf2_sha1$") {
        return FromDjango::Kept(stored.to_owned());
    }
    if let Some(phc) = stored.strip_prefix("argon2") {
        if phc.starts_with("$argon2") && PasswordHash::new(phc).is_ok() {
            return FromDjango::Kept(phc.to_owned());
        }
    }
    let scheme = stored.split_once('$').map_or("unknown", |(scheme, _)| scheme);
    let scheme = if scheme.len() <= 32 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        scheme
    } else {
        "unknown"
    };
    FromDjango::Refused(scheme.to_owned())
}

fn verify_django_pbkdf2(password: &str, rest: &str, sha1: bool) -> bool {
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    if expected.is_empty() || expected.len() > 64 {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    if sha1 {
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    } else {
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    }
    out.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash("s3cret-Pass");
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify("s3cret-Pass", &h), Verified::Yes);
        assert_eq!(verify("wrong", &h), Verified::No);
    }

    #[test]
    fn django_pbkdf2_hash_verifies_and_asks_for_rehash() {
        // Made by Django 4.2: make_password("edx", salt="abcdefghijklmnop", hasher="pbkdf2_sha256")
        // with 1000 iterations, recomputed here so the test does not depend on Django.
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"edx", b"abcdefghijklmnop", 1000, &mut out);
        let stored =
            format!("pbkdf2_sha256$1000$abcdefghijklmnop${}", base64::engine::general_purpose::STANDARD.encode(out));
        assert_eq!(verify("edx", &stored), Verified::YesRehash);
        assert_eq!(verify("edX", &stored), Verified::No);
    }

    #[test]
    fn django_hashes_are_kept_unwrapped_or_refused() {
        let mut out = [0u8; 20];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"edx", b"saltsalt", 1000, &mut out);
        let sha1 = format!("pbkdf2_sha1$1000$saltsalt${}", base64::engine::general_purpose::STANDARD.encode(out));
        assert_eq!(from_django(&sha1), FromDjango::Kept(sha1.clone()));
        assert_eq!(verify("edx", &sha1), Verified::YesRehash);
        assert_eq!(verify("edX", &sha1), Verified::No);
        // Django's Argon2PasswordHasher stores "argon2" + the PHC string.
        let phc = hash("edx");
        let FromDjango::Kept(kept) = from_django(&format!("argon2{phc}")) else { panic!("argon2 refused") };
        assert_eq!(verify("edx", &kept), Verified::Yes);
        assert!(matches!(from_django("!abc"), FromDjango::Unusable(h) if h == "!abc"));
        assert!(matches!(from_django(""), FromDjango::Unusable(h) if !is_usable(&h)));
        assert_eq!(from_django("bcrypt_sha256$$2b$12$abc"), FromDjango::Refused("bcrypt_sha256".into()));
        assert_eq!(from_django("md5$salt$abc"), FromDjango::Refused("md5".into()));
        assert_eq!(from_django("argon2$garbage"), FromDjango::Refused("argon2".into()));
        assert_eq!(from_django("plain text"), FromDjango::Refused("unknown".into()));
    }

    #[test]
    fn unusable_never_verifies() {
        let u = unusable();
        assert!(!is_usable(&u));
        assert_eq!(verify("", &u), Verified::No);
        assert_eq!(verify(&u, &u), Verified::No);
    }
}
