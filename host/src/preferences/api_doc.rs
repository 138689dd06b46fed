//! The OpenAPI entries of the preferences routes (preferences.md §2).

use crate::http::openapi::schema::{array, map_of, nullable, one_of_strings, record, string};
use crate::http::openapi::{Body, Op};

const TAG: &str = "preferences";

/// The refusals every preference operation shares.
fn access(op: Op) -> Op {
    op.user().denied("Another user's preferences, without staff").hidden("No such account, or no such preference")
}

fn writes(op: Op) -> Op {
    access(op)
        .answer(400, "No data, or a value that cannot be saved", Body::of("Messages"))
        .answer(400, "A key or value is not valid; nothing was saved", Body::of("FieldErrors"))
        .answer(403, "Staff may read but not change another user's preferences", Body::Empty)
}

pub fn get_all() -> Op {
    access(Op::new(TAG, "Every preference of an account")).ok("Each key with its value", map_of(string()))
}

pub fn patch_all() -> Op {
    writes(Op::new(TAG, "Set or remove several preferences at once"))
        .reads("application/merge-patch+json", map_of(nullable(string())))
        .no_content("Saved; a `null` or empty value removes the key")
}

fn key(op: Op) -> Op {
    op.path("key", "A preference key (`\\w+`; another pattern answers as if no route matched)")
}

pub fn get_one() -> Op {
    key(access(Op::new(TAG, "One preference"))).ok("Its value", string())
}

pub fn put_one() -> Op {
    key(writes(Op::new(TAG, "Set one preference"))).json(string()).no_content("Saved")
}

pub fn delete_one() -> Op {
    key(writes(Op::new(TAG, "Remove one preference"))).no_content("Removed")
}

pub fn time_zones() -> Op {
    Op::new(TAG, "Time zones, for one country or all common ones")
        .query("country_code", "ISO 3166 code, any case")
        .ok("Sorted by description", array(record(&[("time_zone", string()), ("description", string())])))
        .infallible()
}

pub fn email_opt_in() -> Op {
    Op::new(TAG, "Opt in or out of an organisation's e-mail")
        .user()
        .form(record(&[("course_id", string()), ("email_opt_in", one_of_strings(&["true", "false", "True", "False"]))]))
        .body_required()
        .answer(200, "Recorded", Body::Empty)
        .answer(400, "A parameter is missing, or the course id names no org", Body::Media("text/plain", string()))
        .answer(400, "A parameter is missing", Body::html())
}
