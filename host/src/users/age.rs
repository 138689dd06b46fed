//! The conservative age rule of Open edX (accounts.md §4): age is computed
//! from the birth year alone as `this_year - year_of_birth - 1`.

use chrono::Datelike;

/// Whether someone born in `year_of_birth` is under `limit` years old.
/// `unknown_is_under` decides for a missing year: parental consent treats it
/// as under age, the e-mail opt-in does not. No limit means never under age.
pub fn is_under(year_of_birth: Option<i64>, limit: Option<i64>, unknown_is_under: bool) -> bool {
    let Some(limit) = limit else { return false };
    match year_of_birth {
        Some(year) => current_year().saturating_sub(year).saturating_sub(1) < limit,
        None => unknown_is_under,
    }
}

/// The current year in UTC.
pub fn current_year() -> i64 {
    i64::from(chrono::Utc::now().year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conservative_age() {
        let y = current_year();
        assert!(is_under(Some(y - 13), Some(13), true));
        assert!(!is_under(Some(y - 14), Some(13), true));
        assert!(is_under(None, Some(13), true));
        assert!(!is_under(None, Some(13), false));
        assert!(!is_under(Some(y), None, true));
        assert!(!is_under(Some(i64::MIN), Some(13), true));
        assert!(is_under(Some(i64::MAX), Some(13), true));
    }
}
