//! The OpenAPI entries of the retirement routes (retirement.md §5) and their
//! admin extensions.

use serde_json::Value;

use crate::http::openapi::schema::{any, array, boolean, formatted, integer, object, record, reference, string};
use crate::http::openapi::{Body, Op};

const TAG: &str = "retirement";

/// The schemas the retirement operations refer to.
pub fn components() -> Vec<(&'static str, Value)> {
    let state = record(&[("id", integer()), ("state_name", string()), ("state_execution_order", integer())]);
    let user = record(&[
        ("id", integer()),
        ("username", string()),
        ("email", string()),
        ("profile", record(&[("id", integer()), ("name", string())])),
    ]);
    vec![
        ("RetirementState", state),
        (
            "Retirement",
            record(&[
                ("id", integer()),
                ("user", user),
                ("current_state", reference("RetirementState")),
                ("last_state", reference("RetirementState")),
                ("created", formatted("date-time")),
                ("modified", formatted("date-time")),
                ("original_username", string()),
                ("original_email", string()),
                ("original_name", string()),
                ("retired_username", string()),
                ("retired_email", string()),
            ]),
        ),
    ]
}

/// The retirement service user's routes: its permission is checked before
/// the body is read; failures are bare JSON strings, as in Open edX.
fn worker(summary: &'static str) -> Op {
    Op::new(TAG, summary)
        .user()
        .denied("Not the site's retirement service user")
        .answer(400, "A parameter is missing or not valid", Body::of("JsonString"))
        .internal_as_string()
}

fn acts_on_username(summary: &'static str) -> Op {
    worker(summary).json(object(&[("username", string())])).no_content("Done").hidden("No retirement for that username")
}

pub fn queue() -> Op {
    worker("Retirements waiting in these states for at least the cool-off days")
        .query_schema("cool_off_days", "Days since the request (required, > 0)", integer())
        .query("states", "A state name; repeat for several (required)")
        .query_schema("limit", "At most this many", integer())
        .ok("Oldest first", array(reference("Retirement")))
}

pub fn by_status_and_date() -> Op {
    worker("Retirements in one state, created between two dates")
        .query("start_date", "`YYYY-MM-DD` (required)")
        .query("end_date", "`YYYY-MM-DD` (required)")
        .query("state", "A state name (required)")
        .ok("The retirements", array(reference("Retirement")))
}

pub fn status_of() -> Op {
    worker("One learner's retirement")
        .ok("The retirement", reference("Retirement"))
        .hidden("No retirement for that username")
}

pub fn update_status() -> Op {
    worker("Move a retirement to its next state")
        .json(record(&[("username", string()), ("new_state", string()), ("response", string())]))
        .no_content("Moved; `response` appended to its log")
        .hidden("No retirement for that username")
}

pub fn retire_misc() -> Op {
    acts_on_username("Erase the learner's remaining data (pending changes, profile details)")
}

pub fn retire() -> Op {
    acts_on_username("Erase the account: the retired username and e-mail replace the originals")
}

pub fn retire_mailings() -> Op {
    acts_on_username("Opt the learner out of every organisation's e-mail")
}

pub fn queue_partner_report() -> Op {
    acts_on_username("Queue the learner for the partner report")
}

pub fn fetch_partner_report() -> Op {
    worker("Hand out the partner-report rows not being processed, marking them").ok(
        "One row per learner",
        array(object(&[
            ("user_id", integer()),
            ("original_username", string()),
            ("original_email", string()),
            ("original_name", string()),
            ("created", formatted("date-time")),
            ("orgs", array(string())),
            ("orgs_config", array(object(&[("org", string()), ("field_headings", array(string()))]))),
        ])),
    )
}

pub fn partner_report_cleanup() -> Op {
    worker("Remove reported rows").json(array(object(&[("original_username", string())]))).no_content("Removed")
}

pub fn retirement_cleanup() -> Op {
    worker("Redact and remove completed retirements")
        .json(object(&[
            ("usernames", array(string())),
            ("redacted_username", string()),
            ("redacted_email", string()),
            ("redacted_name", string()),
        ]))
        .no_content("Removed")
}

pub fn cancel() -> Op {
    Op::new(TAG, "Cancel a retirement still in PENDING (superuser, or staff with `can_cancel_retirement`)")
        .user()
        .json(object(&[("retirement_id", any())]))
        .form(object(&[("retirement_id", string())]))
        .ok("Cancelled: the account can log in again", record(&[("success", boolean())]))
        .answer(400, "No such retirement, or not PENDING", Body::Json(record(&[("message", string())])))
        .denied("The caller may not cancel retirements")
}

pub fn deactivate_logout() -> Op {
    Op::new(TAG, "Delete my account: check the password, then queue the retirement")
        .user()
        .form(object(&[("password", string())]))
        .no_content("Queued; the session ends")
        .answer(
            401,
            "The account is inactive (token callers)",
            Body::Json(record(&[("error_code", string()), ("developer_message", string())])),
        )
        .answer(400, "No password", Body::of("JsonString"))
        .answer(403, "Wrong password, or too many attempts", Body::of("JsonString"))
        .internal_as_string()
}

pub fn reset_partner_reporting() -> Op {
    Op::new("admin", "Mark partner-report rows as (not) being processed (superuser)")
        .user()
        .json(object(&[("is_being_processed", boolean()), ("usernames", array(string()))]))
        .ok("How many rows changed", record(&[("updated", integer())]))
        .answer(400, "`is_being_processed` missing", Body::of("Messages"))
        .denied("Not a superuser")
}

fn org(summary: &'static str) -> Op {
    Op::new("admin", summary)
        .user()
        .no_content("Done")
        .denied("Not the site's retirement service user")
        .hidden("No such account")
}

pub fn add_org() -> Op {
    org("Record that the account belongs to an organisation")
}

pub fn remove_org() -> Op {
    org("Remove that membership")
}
