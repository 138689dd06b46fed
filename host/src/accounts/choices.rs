//! The fixed choice lists of profile fields (accounts.md §3.5).

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

/// `gender` codes.
pub const GENDERS: &[&str] = &["m", "f", "o"];

/// `level_of_education` codes (note `other`, not `o`).
pub const EDUCATION_LEVELS: &[&str] = &["p", "m", "b", "a", "hs", "jhs", "el", "none", "other"];

/// `state` codes: the 50 US states, DC, and the armed-forces codes.
pub const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
    "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "AA", "AE", "AP",
];

#[derive(Deserialize)]
struct CountryData {
    countries: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct LanguageData {
    codes: Vec<String>,
}

/// ISO 3166-1 alpha-2 code → English name, as django-countries has them (plus XK).
pub fn countries() -> &'static BTreeMap<String, String> {
    static DATA: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    DATA.get_or_init(|| {
        let data: CountryData =
            serde_json::from_str(include_str!("../../data/countries.json")).expect("data/countries.json is valid");
        data.countries
    })
}

/// edX's `ALL_LANGUAGES` codes (language proficiencies).
pub fn languages() -> &'static HashSet<String> {
    static DATA: OnceLock<HashSet<String>> = OnceLock::new();
    DATA.get_or_init(|| {
        let data: LanguageData =
            serde_json::from_str(include_str!("../../data/languages.json")).expect("data/languages.json is valid");
        data.codes.into_iter().collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lists() {
        assert_eq!(countries().len(), 250);
        assert_eq!(countries()["XK"], "Kosovo");
        assert!(countries().contains_key("US") && !countries().contains_key("us"));
        assert_eq!(languages().len(), 186);
        assert!(languages().contains("zh_HANS") && languages().contains("en"));
        assert_eq!(US_STATES.len(), 54);
    }
}
