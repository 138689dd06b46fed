//! Account newtypes: once you hold one, it is valid.

use std::fmt;

/// Why a username or e-mail was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A username as Django stores it: 1–150 characters from letters, digits and `_.@+-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks a username against Django's `UnicodeUsernameValidator` and length.
    pub fn parse(raw: &str) -> Result<Username, InvalidValue> {
        let len = raw.chars().count();
        if len == 0 || len > 150 {
            return Err(InvalidValue(format!("Username must be between 1 and 150 characters long: {raw:?}")));
        }
        if !raw.chars().all(|c| c.is_alphanumeric() || "_.@+-".contains(c)) {
            return Err(InvalidValue(format!(
                "Username may contain only letters, numbers and the characters _ . @ + -: {raw:?}"
            )));
        }
        Ok(Username(raw.to_owned()))
    }

    /// The username as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes usernames unique per tenant, case-insensitively.
    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a name or address could be stored at all: no account holds one
/// with U+0000 (the store refuses them), so a lookup need not ask.
pub fn could_be_stored(value: &str) -> bool {
    !value.contains('\0')
}

/// The case-insensitive uniqueness key of a username.
pub fn username_key(raw: &str) -> String {
    raw.to_lowercase()
}

/// The case-insensitive uniqueness key of an e-mail address.
pub fn email_key(raw: &str) -> String {
    raw.to_lowercase()
}

/// An e-mail address of plausible shape (Django's `EmailValidator` in spirit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks shape and length (at most 254 characters).
    pub fn parse(raw: &str) -> Result<Email, InvalidValue> {
        let bad = || InvalidValue(format!("Enter a valid email address: {raw:?}"));
        if raw.chars().count() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.contains('@') || domain.is_empty() {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = domain == "localhost"
            || (labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                }));
        if !domain_ok {
            return Err(bad());
        }
        Ok(Email(raw.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes addresses unique per tenant, case-insensitively.
    pub fn key(&self) -> String {
        email_key(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice_1.b@c+d-e").is_ok());
        assert!(Username::parse("Élodie").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a/b").is_err());
        assert!(Username::parse(&"x".repeat(151)).is_err());
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@example.com").is_ok());
        assert!(Email::parse("a.b+c@sub.example.org").is_ok());
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b..c", "a@-b.c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
