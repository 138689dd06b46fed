//! The site's password policy (accounts.md §13): Django's validators with
//! Open edX's defaults and messages, applied to the NFKC form.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::sites::config::PasswordPolicy;

/// Every message the policy produces for `password`, in validator order.
/// `username`/`email` enable the similarity check.
pub fn problems(policy: &PasswordPolicy, password: &str, username: Option<&str>, email: Option<&str>) -> Vec<String> {
    let password: String = password.nfkc().collect();
    let mut out = Vec::new();
    for (value, verbose) in [(username, "username"), (email, "email address")] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            if too_similar(&password, value, policy.user_attribute_similarity) {
                out.push(format!("The password is too similar to the {verbose}."));
            }
        }
    }
    let len = password.chars().count();
    if len < policy.min_length {
        out.push(format!(
            "This password is too short. It must contain at least {} character{}.",
            policy.min_length,
            plural(policy.min_length)
        ));
    }
    if len > policy.max_length {
        out.push(format!(
            "This password is too long. It must contain no more than {} character{}.",
            policy.max_length,
            plural(policy.max_length)
        ));
    }
    let count = |f: fn(char) -> bool| password.chars().filter(|c| f(*c)).count();
    let rules: [(u32, usize, &str, &str); 4] = [
        (policy.require_upper.count(), count(char::is_uppercase), "uppercase letter", "uppercase letters"),
        (policy.require_lower.count(), count(char::is_lowercase), "lowercase letter", "lowercase letters"),
        (policy.require_digit.count(), count(char::is_numeric), "number", "numbers"),
        (
            policy.require_punctuation.count(),
            count(|c| c.is_ascii_punctuation()),
            "punctuation mark",
            "punctuation marks",
        ),
    ];
    for (min, have, one, many) in rules {
        if min > 0 && have < min as usize {
            out.push(format!("This password must contain at least {min} {}.", if min == 1 { one } else { many }));
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Django's `UserAttributeSimilarityValidator`: the value and its `\W+`
/// parts, compared with difflib's `quick_ratio`.
fn too_similar(password: &str, value: &str, max_similarity: f64) -> bool {
    let password = password.to_lowercase();
    let value = value.to_lowercase();
    let mut parts: Vec<&str> =
        value.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|p| !p.is_empty()).collect();
    parts.push(&value);
    let pwd_len = password.chars().count();
    parts.into_iter().any(|part| {
        let part_len = part.chars().count();
        let length_bound = max_similarity / 2.0 * pwd_len as f64;
        if pwd_len >= 10 * part_len && (part_len as f64) < length_bound {
            return false;
        }
        quick_ratio(&password, part) >= max_similarity
    })
}

/// difflib's `SequenceMatcher.quick_ratio`: 2·|multiset intersection| / total length.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    let mut available: HashMap<char, usize> = HashMap::new();
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0;
    for c in a.chars() {
        if let Some(n) = available.get_mut(&c) {
            if *n > 0 {
                *n -= 1;
                matches += 1;
            }
        }
    }
    2.0 * matches as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_edx_defaults() {
        let policy = PasswordPolicy::default();
        assert!(problems(&policy, "long-enough-pw", None, None).is_empty());
        assert_eq!(
            problems(&policy, "short", None, None),
            ["This password is too short. It must contain at least 8 characters."]
        );
        assert_eq!(
            problems(&policy, &"x".repeat(76), None, None),
            ["This password is too long. It must contain no more than 75 characters."]
        );
        assert_eq!(
            problems(&policy, "alicealice", Some("alicealice"), Some("alicealice@example.com")),
            ["The password is too similar to the username.", "The password is too similar to the email address."]
        );
        let strict = PasswordPolicy {
            require_upper: crate::sites::config::RequiredCount::Count(2),
            require_digit: crate::sites::config::RequiredCount::Flag(true),
            ..PasswordPolicy::default()
        };
        assert_eq!(
            problems(&strict, "abcdefghij", None, None),
            [
                "This password must contain at least 2 uppercase letters.",
                "This password must contain at least 1 number."
            ]
        );
    }
}
