//! The rules of a full name, in one place. Open edX checks names at three
//! endpoints with different messages (accounts.md §5, §10, §14): each maps
//! the [`NameFault`] found here to its own words.

/// The longest name, in characters (`UserProfile.name`).
pub const NAME_MAX: usize = 255;

/// What is wrong with a (trimmed) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFault {
    /// More than [`NAME_MAX`] characters.
    TooLong,
    /// A `<` or `>` (Open edX's `contains_html`).
    Html,
    /// A URL: any `scheme://` for the account and name-change APIs, an
    /// `http://` or `https://` one for registration (see [`UrlRule`]).
    Url,
}

/// Which URLs a name may not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    /// Any `scheme://` (the account PATCH and the name-change request).
    AnyScheme,
    /// `http://` and `https://` (registration validation).
    Web,
}

/// The first fault of `name`, checked in Open edX's order: HTML, then URL,
/// then length.
pub fn fault(name: &str, urls: UrlRule) -> Option<NameFault> {
    let url = match urls {
        UrlRule::AnyScheme => name.contains("://"),
        UrlRule::Web => name.contains("http://") || name.contains("https://"),
    };
    if name.contains('<') || name.contains('>') {
        Some(NameFault::Html)
    } else if url {
        Some(NameFault::Url)
    } else if name.chars().count() > NAME_MAX {
        Some(NameFault::TooLong)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults() {
        assert_eq!(fault("Jane Doe", UrlRule::AnyScheme), None);
        assert_eq!(fault("<b>Jane</b>", UrlRule::AnyScheme), Some(NameFault::Html));
        assert_eq!(fault("ftp://x", UrlRule::AnyScheme), Some(NameFault::Url));
        assert_eq!(fault("ftp://x", UrlRule::Web), None);
        assert_eq!(fault("see https://x", UrlRule::Web), Some(NameFault::Url));
        assert_eq!(fault(&"a".repeat(256), UrlRule::Web), Some(NameFault::TooLong));
        assert_eq!(fault(&"a".repeat(255), UrlRule::Web), None);
    }
}
