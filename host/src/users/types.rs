//! Account newtypes: once you hold one, it is valid.

use std::fmt;

/// Why a username or e-mail was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The three character sets of a username in Open edX, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameChars {
    /// What Django's `UnicodeUsernameValidator` stores: letters, digits and `_.@+-`.
    Stored,
    /// What a `{username}` URL segment matches (`[\w .@_+-]+`): also a space.
    UrlSegment,
    /// What registration accepts for a new account: ASCII letters, digits, `_` and `-`.
    Registration,
}

impl UsernameChars {
    /// Whether `c` may appear in a username of this kind.
    pub fn allows(self, c: char) -> bool {
        match self {
            UsernameChars::Stored => c.is_alphanumeric() || "_.@+-".contains(c),
            UsernameChars::UrlSegment => c.is_alphanumeric() || "_ .@+-".contains(c),
            UsernameChars::Registration => c.is_ascii_alphanumeric() || c == '_' || c == '-',
        }
    }

    /// Whether every character of `s` is allowed.
    pub fn all(self, s: &str) -> bool {
        s.chars().all(|c| self.allows(c))
    }
}

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
        if !UsernameChars::Stored.all(raw) {
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

/// An e-mail address that Django's `EmailValidator` accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Django's `EmailValidator`: an ASCII dot-atom or quoted local part, and
    /// a domain of ASCII labels with a TLD of two or more characters (an
    /// internationalised domain is checked in its IDNA form), `localhost`,
    /// or an address literal `[…]`. At most 254 characters.
    pub fn parse(raw: &str) -> Result<Email, InvalidValue> {
        let bad = || InvalidValue(format!("Enter a valid email address: {raw:?}"));
        if raw.chars().count() > 254 {
            return Err(bad());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(bad)?;
        if !(dot_atom(local) || quoted_string(local)) {
            return Err(bad());
        }
        let domain_ok = domain == "localhost"
            || domain_name(domain)
            || address_literal(domain)
            || idna::domain_to_ascii_strict(domain).is_ok_and(|ascii| domain_name(&ascii));
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

/// `[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*`
fn dot_atom(local: &str) -> bool {
    let atom_char = |b: u8| b.is_ascii_alphanumeric() || b"-!#$%&'*+/=?^_`{}|~".contains(&b);
    local.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(atom_char))
}

/// `"([\001-\010\013\014\016-\037!#-\[\]-\177]|\\[\001-\011\013\014\016-\177])*"`
fn quoted_string(local: &str) -> bool {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else { return false };
    if local.len() < 2 {
        return false;
    }
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        let ok = match b {
            b'\\' => bytes.next().is_some_and(|e| matches!(e, 1..=9 | 11 | 12 | 14..=127)),
            1..=8 | 11 | 12 | 14..=31 | b'!' | b'#'..=b'[' | b']'..=127 => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+)(?:[A-Z0-9-]{2,63}(?<!-))`
fn domain_name(domain: &str) -> bool {
    let Some((labels, tld)) = domain.rsplit_once('.') else { return false };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.split('.').all(label_ok)
        && (2..=63).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !tld.ends_with('-')
}

/// `[IPv4]` or `[IPv6]`.
fn address_literal(domain: &str) -> bool {
    domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')).is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
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
        for good in [
            "a@localhost",
            "\"a@b\"@example.com",
            "o'brien@example.co.uk",
            "a@[127.0.0.1]",
            "a@[::1]",
            "a@exämple.com",
            "a@b.c0m-x",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.c",
            "a@b",
            "a b@c.d",
            "a@b..c",
            "a@-b.cd",
            "a@b.c",
            "fŕáńḱ@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@example.com-",
            "a@[300.1.1.1]",
            "\"a\"b\"@example.com",
            " a@example.com",
            "\"a b\"@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
