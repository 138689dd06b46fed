//! Time as the store keeps it: integer microseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The current time in microseconds since the epoch.
pub fn now_micros() -> Micros {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The current time in whole seconds since the epoch.
pub fn now_secs() -> i64 {
    now_micros() / 1_000_000
}

/// ISO 8601 in UTC with a `Z`, fractional seconds only when non-zero
/// (`2018-10-18T20:35:52.349757Z`), as Django REST framework prints datetimes.
pub fn iso8601(micros: Micros) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

/// ISO 8601 with the microseconds dropped (Open edX's `date_joined`).
pub fn iso8601_seconds(micros: Micros) -> String {
    iso8601(micros - micros.rem_euclid(1_000_000))
}

/// Python's `str()` of an aware UTC datetime: `2018-10-18 20:35:52.350050+00:00`
/// (fraction only when non-zero), as edX embeds it in retirement messages.
pub fn python_datetime(micros: Micros) -> String {
    let iso = iso8601(micros);
    format!("{}+00:00", iso.trim_end_matches('Z').replacen('T', " ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_fraction_only_when_present() {
        assert_eq!(iso8601(1_409_075_531_000_000), "2014-08-26T17:52:11Z");
        assert_eq!(iso8601(1_539_894_952_349_757), "2018-10-18T20:35:52.349757Z");
        assert_eq!(iso8601_seconds(1_539_894_952_349_757), "2018-10-18T20:35:52Z");
    }
}
