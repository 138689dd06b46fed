//! Time zones as Open edX lists them: pytz's "common" IANA zones and its
//! country table (embedded, see scripts/gen-timezones.py), described with
//! the abbreviation and UTC offset in force now (chrono-tz's embedded tzdb).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use serde::Deserialize;

const DATA: &str = include_str!("../../data/timezones.json");

#[derive(Deserialize)]
struct Data {
    common: Vec<String>,
    countries: HashMap<String, Vec<String>>,
}

struct Index {
    common: Vec<String>,
    common_set: HashSet<String>,
    countries: HashMap<String, Vec<String>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        // Embedded at build time; the unit test below proves it parses.
        let data: Data = serde_json::from_str(DATA).expect("host/data/timezones.json is valid");
        Index { common_set: data.common.iter().cloned().collect(), common: data.common, countries: data.countries }
    })
}

/// Whether `name` is one of the common IANA zone names.
pub fn is_common(name: &str) -> bool {
    index().common_set.contains(name)
}

/// One entry of the time-zone list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimeZoneEntry {
    pub time_zone: String,
    pub description: String,
}

/// The zones of `country_code` (any case), or every common zone when the
/// code is missing, unknown or has no zones; sorted by description.
pub fn country_time_zones(country_code: Option<&str>) -> Vec<TimeZoneEntry> {
    let index = index();
    let zones = country_code
        .map(str::to_ascii_uppercase)
        .and_then(|code| index.countries.get(&code))
        .filter(|z| !z.is_empty())
        .unwrap_or(&index.common);
    let now = chrono::Utc::now();
    let mut entries: Vec<TimeZoneEntry> =
        zones.iter().map(|name| TimeZoneEntry { time_zone: name.clone(), description: describe(name, now) }).collect();
    entries.sort_by(|a, b| a.description.cmp(&b.description));
    entries
}

/// `Asia/Tokyo (JST, UTC+0900)`, with `_` shown as spaces.
fn describe(name: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let text = match chrono_tz::Tz::from_str(name) {
        Ok(tz) => {
            let local = now.with_timezone(&tz);
            format!("{name} ({}, UTC{})", local.format("%Z"), local.format("%z"))
        }
        Err(_) => format!("{name} (UTC, UTC+0000)"),
    };
    text.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_and_descriptions() {
        assert!(is_common("Europe/London"));
        assert!(!is_common("Asia/Africa"));
        let es: Vec<String> = country_time_zones(Some("es")).into_iter().map(|e| e.time_zone).collect();
        assert_eq!(es, ["Africa/Ceuta", "Atlantic/Canary", "Europe/Madrid"]);
        assert_eq!(country_time_zones(Some("BV")).len(), index().common.len());
        let tokyo = country_time_zones(Some("JP"));
        assert_eq!(tokyo[0].description, "Asia/Tokyo (JST, UTC+0900)");
        // Every common zone is known to the embedded tz database.
        for name in &index().common {
            assert!(chrono_tz::Tz::from_str(name).is_ok(), "{name}");
        }
    }
}
