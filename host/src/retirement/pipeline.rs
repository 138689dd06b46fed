//! The retirement driver's read and move endpoints (retirement.md §5.1–5.4):
//! the queue, rows by state and date, one learner's status, and moves.

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::status::{self, StatusRow, SELECT_STATUS};
use super::{bad_request, RetirementError};
use crate::args;
use crate::clock::now_micros;
use crate::pyrepr::{py_repr, py_str};
use crate::sites::Site;
use crate::store::{Db, Param};
use crate::users::retired::retired_username;
use crate::users::types::username_key;
use crate::users::User;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// The retirement permission (§4): superusers and the site's service worker.
pub fn check_retire_permission(site: &Site, user: &User) -> Result<(), RetirementError> {
    if user.is_superuser || user.username == site.config.retirement.service_username {
        Ok(())
    } else {
        Err(RetirementError::PermissionDenied)
    }
}

fn parse_int(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok()
}

/// `GET retirement_queue/` (§5.1).
pub async fn queue(db: &Db, site: &Site, query: &[(String, String)]) -> Result<Value, RetirementError> {
    let get = |k: &str| query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let cool_off = get("cool_off_days").ok_or_else(|| bad_request("Missing required parameter: 'cool_off_days'"))?;
    let cool_off = parse_int(cool_off).ok_or_else(|| bad_request("Invalid cool_off_days, should be integer."))?;
    if cool_off < 0 {
        return Err(bad_request("Invalid argument for cool_off_days, must be greater than 0."));
    }
    let requested: Vec<String> = query.iter().filter(|(k, _)| k == "states").map(|(_, v)| v.clone()).collect();
    if requested.is_empty() {
        return Err(bad_request("Param \"states\" required with at least one state."));
    }
    let limit = match get("limit").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match parse_int(l) {
            Some(n) if n >= 0 => Some(n),
            _ => return Err(bad_request(format!("Limit could not be parsed: {l}, please ensure this is an integer"))),
        },
    };
    let tenant = site.tenant.clone();
    let before = now_micros() - cool_off.saturating_mul(DAY_MICROS);
    db.read(move |c| {
        Box::pin(async move {
            let known = status::states(c, &tenant).await?;
            let found: Vec<&status::State> = known.iter().filter(|s| requested.contains(&s.name)).collect();
            if found.len() != requested.len() {
                let requested_list = Value::from(requested.clone());
                let found_list = Value::from(found.iter().map(|s| s.name.clone()).collect::<Vec<_>>());
                return Err(bad_request(format!(
                    "Unknown state. Requested: {} Found: {}",
                    py_repr(&requested_list),
                    py_repr(&found_list)
                )));
            }
            let ids = Value::from(found.iter().map(|s| s.id).collect::<Vec<_>>()).to_string();
            let in_ids = match c.backend() {
                crate::store::Backend::Sqlite => "(SELECT value FROM json_each($3))",
                crate::store::Backend::Postgres => "(SELECT jsonb_array_elements_text($3::jsonb)::bigint)",
            };
            let sql = format!(
                "{SELECT_STATUS} WHERE u.tenant = $1 AND s.current_state_id IN {in_ids} AND s.created < $2 \
                 ORDER BY s.id LIMIT $4"
            );
            let limit = limit.unwrap_or(i64::MAX);
            let rows =
                status::fetch(c, &sql, &[Param::from(tenant.as_str()), before.into(), Param::from(&ids), limit.into()])
                    .await?;
            Ok(Value::Array(rows.iter().map(StatusRow::to_json).collect()))
        })
    })
    .await
}

/// The ways a regex alternation can match at the start of `s`, in the order
/// Python's `re` tries them: (value, what follows). Pattern letters: `d` any
/// digit, `N` 1–9, `z` 0–1, `y` 1–2, `t` 0–2; `0`, `1`, `3` and space are literal.
fn alternatives<'a>(s: &'a str, patterns: &[&str]) -> Vec<(u32, &'a str)> {
    let b = s.as_bytes();
    let fits = |pattern: &str| {
        pattern.len() <= b.len()
            && pattern.bytes().zip(b).all(|(p, c)| match p {
                b'd' => c.is_ascii_digit(),
                b'N' => (b'1'..=b'9').contains(c),
                b'0' => *c == b'0',
                b'1' => *c == b'1',
                b'3' => *c == b'3',
                b'z' => *c == b'0' || *c == b'1',
                b'y' => *c == b'1' || *c == b'2',
                b't' => (b'0'..=b'2').contains(c),
                b' ' => *c == b' ',
                _ => false,
            })
    };
    patterns
        .iter()
        .filter(|p| fits(p))
        .filter_map(|p| s[..p.len()].trim().parse().ok().map(|v| (v, &s[p.len()..])))
        .collect()
}

/// Python's `strptime(value, "%Y-%m-%d")`, with its error texts.
fn parse_date(value: &str) -> Result<NaiveDate, String> {
    let no_match = || format!("time data {} does not match format '%Y-%m-%d'", py_repr(&json!(value)));
    let year_len = 4;
    if value.len() < year_len || !value.as_bytes()[..year_len].iter().all(u8::is_ascii_digit) {
        return Err(no_match());
    }
    let year: i32 = value[..year_len].parse().map_err(|_| no_match())?;
    let rest = value[year_len..].strip_prefix('-').ok_or_else(no_match)?;
    // %m = 1[0-2]|0[1-9]|[1-9]; %d = 3[01]|[12]\d|0[1-9]|[1-9]| [1-9]
    let (month, day, unconverted) = alternatives(rest, &["1t", "0N", "N"])
        .into_iter()
        .find_map(|(month, after)| {
            let after = after.strip_prefix('-')?;
            let (day, rest) = alternatives(after, &["3z", "yd", "0N", "N", " N"]).into_iter().next()?;
            Some((month, day, rest))
        })
        .ok_or_else(no_match)?;
    if !unconverted.is_empty() {
        return Err(format!("unconverted data remains: {unconverted}"));
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| "day is out of range for month".to_owned())
}

fn midnight_micros(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_micros()).unwrap_or(0)
}

/// `GET retirements_by_status_and_date/` (§5.2).
pub async fn by_status_and_date(db: &Db, site: &Site, query: &[(String, String)]) -> Result<Value, RetirementError> {
    let get = |k: &str| query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut dates = Vec::with_capacity(2);
    for key in ["start_date", "end_date"] {
        let raw = get(key).ok_or_else(|| bad_request(format!("Missing required parameter: '{key}'")))?;
        dates.push(parse_date(raw).map_err(|e| bad_request(format!("Invalid start or end date: {e}")))?);
    }
    let (start, end) = (dates[0], dates[1]);
    let today = chrono::Utc::now().date_naive();
    if start > today || end > today || start > end {
        return Err(bad_request("Dates must be today or earlier, and start must be earlier than end."));
    }
    let state = get("state").ok_or_else(|| bad_request("Missing required parameter: 'state'"))?.to_owned();
    let tenant = site.tenant.clone();
    db.read(move |c| {
        Box::pin(async move {
            let states = status::states(c, &tenant).await?;
            let state =
                states.iter().find(|s| s.name == state).ok_or_else(|| bad_request("Unknown retirement state."))?;
            let sql = format!(
                "{SELECT_STATUS} WHERE u.tenant = $1 AND s.current_state_id = $2 AND s.created >= $3 \
                 AND s.created < $4 ORDER BY s.id"
            );
            let rows = status::fetch(
                c,
                &sql,
                args![&tenant, state.id, midnight_micros(start), midnight_micros(end) + DAY_MICROS],
            )
            .await?;
            Ok(Value::Array(rows.iter().map(StatusRow::to_json).collect()))
        })
    })
    .await
}

/// `GET {username}/retirement_status/` (§5.3): by original or retired username.
pub async fn status_of(db: &Db, site: &Arc<Site>, username: &str) -> Result<Value, RetirementError> {
    let (site, username) = (Arc::clone(site), username.to_owned());
    db.read(move |c| {
        Box::pin(async move {
            let config = &site.config.retirement;
            let mut candidates = vec![username.clone()];
            candidates.extend(config.salts.iter().map(|salt| retired_username(config, &username, salt)));
            let mut users: Vec<(i64, String)> = Vec::new();
            for name in &candidates {
                let row: Option<(i64, String)> = c
                    .fetch_optional(
                        "SELECT id, username FROM users WHERE tenant = $1 AND username_key = $2 AND username = $3",
                        args![&site.tenant, &username_key(name), name],
                    )
                    .await?;
                if let Some(row) = row {
                    if !users.iter().any(|u| u.0 == row.0) {
                        users.push(row);
                    }
                }
            }
            let is_retired = |name: &str| name != username;
            let current_salt_form = config.salts.last().map(|salt| retired_username(config, &username, salt));
            let chosen = match users.as_slice() {
                [] => None,
                [one] => Some(one.0),
                [a, b] => {
                    let exact = [a, b].into_iter().find(|u| u.1 == username);
                    let retired = [a, b].into_iter().find(|u| is_retired(&u.1));
                    // The exact match wins unless it is itself retired; then the retired one.
                    exact.or(retired).map(|u| u.0)
                }
                many => many
                    .iter()
                    .find(|u| u.1 == username)
                    .or_else(|| many.iter().find(|u| Some(&u.1) == current_salt_form.as_ref()))
                    .map(|u| u.0),
            };
            let Some(user_id) = chosen else { return Err(RetirementError::NotFound) };
            let row = status::by_user_id(c, user_id).await?.ok_or(RetirementError::NotFound)?;
            Ok(row.to_json())
        })
    })
    .await
}

/// Python truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The `username` of an action body, or the "not specified" 404.
pub fn body_username(body: &Value) -> Result<String, RetirementError> {
    match body.get("username") {
        Some(v) if truthy(v) => Ok(py_str(v)),
        _ => Err(RetirementError::UserNotSpecified),
    }
}

/// `PATCH update_retirement_status/` (§5.4).
pub async fn update_status(db: &Db, site: &Site, body: Value) -> Result<(), RetirementError> {
    let Some(map) = body.as_object().cloned() else {
        return Err(bad_request("RetirementStatus: Required key username missing from update"));
    };
    let username = body_username(&body)?;
    let tenant = site.tenant.clone();
    db.write(move |c| {
        Box::pin(async move {
            let row = status::by_original_username(c, &tenant, &username).await?.ok_or(RetirementError::NotFound)?;
            for key in ["username", "new_state", "response"] {
                if !map.contains_key(key) {
                    return Err(bad_request(format!("RetirementStatus: Required key {key} missing from update")));
                }
            }
            if let Some(key) =
                map.keys().find(|k| !["username", "new_state", "response", "force"].contains(&k.as_str()))
            {
                return Err(bad_request(format!("RetirementStatus: Unknown key {key} in update")));
            }
            let force = map.get("force").is_some_and(truthy);
            let new_state_name = py_str(&map["new_state"]);
            let states = status::states(c, &tenant).await?;
            let target = states
                .iter()
                .find(|s| map["new_state"].is_string() && s.name == new_state_name)
                .filter(|s| force || s.order > row.current.order)
                .ok_or_else(|| {
                    bad_request(format!(
                        "{new_state_name} does not exist or is an eariler state than current state {} (step {})",
                        row.current.name, row.current.order
                    ))
                })?;
            let entry = format!(
                "\n Moved from {} (step {}) to {} (step {}):\n{}\n",
                row.current.name,
                row.current.order,
                target.name,
                target.order,
                py_str(&map["response"])
            );
            c.execute(
                "UPDATE retirement_status SET last_state_id = current_state_id, current_state_id = $1, \
                 responses = responses || $2, modified = $3 WHERE id = $4",
                args![target.id, &entry, now_micros(), row.id],
            )
            .await?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_like_strptime() {
        assert_eq!(parse_date("2018-01-01").unwrap(), NaiveDate::from_ymd_opt(2018, 1, 1).unwrap());
        assert_eq!(parse_date("2018-1-5").unwrap(), NaiveDate::from_ymd_opt(2018, 1, 5).unwrap());
        assert_eq!(parse_date("2018-01-01x").unwrap_err(), "unconverted data remains: x");
        assert_eq!(parse_date("nope").unwrap_err(), "time data 'nope' does not match format '%Y-%m-%d'");
        assert_eq!(parse_date("2018-02-30").unwrap_err(), "day is out of range for month");
        assert_eq!(parse_date("2018-01-35").unwrap_err(), "unconverted data remains: 5");
        assert_eq!(parse_date("2018-13-01").unwrap_err(), "time data '2018-13-01' does not match format '%Y-%m-%d'");
        assert_eq!(parse_date("18-01-01").unwrap_err(), "time data '18-01-01' does not match format '%Y-%m-%d'");
        assert_eq!(parse_date("2018-10-9").unwrap(), NaiveDate::from_ymd_opt(2018, 10, 9).unwrap());
        assert_eq!(parse_date("2018-1-31").unwrap(), NaiveDate::from_ymd_opt(2018, 1, 31).unwrap());
    }

    #[test]
    fn python_truthiness() {
        for v in [json!(true), json!(1), json!("x"), json!([0]), json!({"a": 1})] {
            assert!(truthy(&v), "{v}");
        }
        for v in [json!(false), json!(0), json!(""), json!([]), json!({}), json!(null), json!(0.0)] {
            assert!(!truthy(&v), "{v}");
        }
    }
}
