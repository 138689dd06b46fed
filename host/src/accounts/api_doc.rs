//! The OpenAPI entries of the accounts routes (accounts.md), one function
//! per operation, and the schemas they share.

use serde_json::Value;

use crate::http::openapi::schema::{
    any, any_of, array, boolean, described, formatted, integer, map_of, nullable, object, one_of_strings, record,
    reference, string,
};
use crate::http::openapi::{Body, Op};

const TAG: &str = "accounts";

/// The schemas the accounts operations refer to.
pub fn components() -> Vec<(&'static str, Value)> {
    vec![("Account", account()), ("ProfileImage", profile_image()), ("AccountPatch", account_patch())]
}

fn account() -> Value {
    let text = || nullable(string());
    let mut s = object(&[
        ("username", string()),
        ("account_privacy", nullable(one_of_strings(&["private", "all_users", "custom"]))),
        ("profile_image", reference("ProfileImage")),
        ("bio", text()),
        ("course_certificates", nullable(array(any()))),
        ("country", text()),
        ("date_joined", formatted("date-time")),
        ("language_proficiencies", array(record(&[("code", string())]))),
        ("level_of_education", text()),
        ("social_links", array(record(&[("platform", string()), ("social_link", string())]))),
        ("time_zone", text()),
        ("name", string()),
        ("email", string()),
        ("id", integer()),
        ("verified_name", text()),
        ("extended_profile", array(record(&[("field_name", string()), ("field_value", any())]))),
        ("gender", text()),
        ("state", text()),
        ("goals", text()),
        ("is_active", boolean()),
        ("last_login", nullable(formatted("date-time"))),
        ("mailing_address", text()),
        ("requires_parental_consent", boolean()),
        ("secondary_email", text()),
        ("secondary_email_enabled", nullable(boolean())),
        ("year_of_birth", nullable(integer())),
        ("phone_number", text()),
        ("pending_name_change", text()),
    ]);
    s["required"] = serde_json::json!(["username"]);
    s["additionalProperties"] = serde_json::json!(false);
    described(
        s,
        "The account object (accounts.md §3): every key for the owner and staff; for others, the keys \
         the site's visibility rules (or its visibility plugin) show.",
    )
}

fn profile_image() -> Value {
    let mut s = object(&[("has_image", boolean())]);
    s["required"] = serde_json::json!(["has_image"]);
    s["additionalProperties"] = described(formatted("uri"), "`image_url_<size>` for each of the site's sizes");
    s
}

fn account_patch() -> Value {
    let text = || nullable(string());
    described(
        object(&[
            ("name", string()),
            ("bio", text()),
            ("country", text()),
            ("state", text()),
            ("city", text()),
            ("gender", text()),
            ("level_of_education", text()),
            ("goals", text()),
            ("mailing_address", text()),
            ("phone_number", text()),
            ("year_of_birth", nullable(any_of(vec![integer(), string()]))),
            ("language_proficiencies", array(object(&[("code", string())]))),
            ("social_links", array(object(&[("platform", string()), ("social_link", string())]))),
            ("account_privacy", one_of_strings(&["private", "all_users", "custom"])),
            ("extended_profile", array(object(&[("field_name", string()), ("field_value", any())]))),
            ("email", string()),
            ("secondary_email", string()),
        ]),
        "The fields to change (a JSON merge patch). Read-only keys and bad values are answered with \
         `field_errors`, and nothing is saved; a changed `email` is mailed for confirmation first.",
    )
}

fn field_errors(op: Op) -> Op {
    op.answer(400, "One or more fields are not valid; nothing was saved", Body::of("FieldErrors"))
}

pub fn me() -> Op {
    Op::new(TAG, "The caller's username").user().ok("The caller", record(&[("username", string())])).infallible()
}

pub fn list() -> Op {
    Op::new(TAG, "Accounts by username, e-mail or LMS id")
        .about("With none of the three, the caller's own account. `email` and `lms_user_id` need staff.")
        .user()
        .query("username", "Comma-separated usernames (at most 100)")
        .query("email", "An e-mail address (staff)")
        .query("lms_user_id", "The account's user id in Open edX: an imported account's LMS id, else its id (staff)")
        .query_schema("view", "`shared`: what the owner shares, even for staff", one_of_strings(&["shared"]))
        .ok("The accounts found, each filtered for the caller", array(reference("Account")))
        .answer(400, "More than 100 usernames", Body::of("Messages"))
        .answer(400, "An `lms_user_id` that is not a number", Body::Empty)
        .denied("`email` or `lms_user_id` without staff")
        .hidden("None found")
        .answer(
            404,
            "The e-mail belongs to a retired account",
            Body::Json(record(&[
                ("error_msg", string()),
                ("can_cancel_retirement", boolean()),
                ("retirement_id", nullable(integer())),
            ])),
        )
}

pub fn search_emails() -> Op {
    Op::new(TAG, "The accounts of these e-mail addresses (staff)")
        .user()
        .json(object(&[("emails", array(string()))]))
        .ok("The accounts that exist", array(record(&[("email", string()), ("id", integer()), ("username", string())])))
        .answer(400, "`emails` missing or not a list", Body::of("Messages"))
        .answer(404, "The caller is not staff", Body::of("Messages"))
}

pub fn get() -> Op {
    Op::new(TAG, "One account, filtered for the caller")
        .user()
        .query_schema("view", "`shared`: what the owner shares, even for staff", one_of_strings(&["shared"]))
        .ok("The account", reference("Account"))
        .denied("`email` or `lms_user_id` in the query without staff")
        .hidden("No such account in the site's tenant")
}

pub fn patch() -> Op {
    field_errors(
        Op::new(TAG, "Change the caller's own account")
            .user()
            .reads("application/merge-patch+json", reference("AccountPatch"))
            .ok("The account after the change", reference("Account"))
            .answer(400, "Not an object, a plugin refusal, or a failed save", Body::of("Messages")),
    )
    .answer(403, "Not the caller's account", Body::Empty)
    .denied("`email` or `lms_user_id` in the query without staff")
}

pub fn request_name_change() -> Op {
    Op::new(TAG, "Ask for a name change, confirmed later by staff")
        .user()
        .json(object(&[("name", string())]))
        .answer(201, "Requested", Body::Empty)
        .answer(
            400,
            "The new name is not valid or is the current one",
            Body::Json(record(&[("new_name", any_of(vec![string(), array(string())]))])),
        )
}

pub fn confirm_name_change() -> Op {
    Op::new(TAG, "Confirm a pending name change (staff)")
        .user()
        .no_content("The name is changed")
        .answer(403, "Not staff", Body::Empty)
        .hidden("No such account, or no pending change")
}

pub fn third_party_auth_error() -> Op {
    Op::new(TAG, "The last third-party sign-in error (always none)")
        .user()
        .ok("No error", record(&[("user_message", nullable(string()))]))
        .infallible()
}

pub fn third_party_auth_status() -> Op {
    Op::new(TAG, "The site's sign-in providers and whether the caller is linked to each")
        .user()
        .ok(
            "One entry per provider that accepts logins (none linked: userapi holds no links)",
            array(object(&[
                ("id", string()),
                ("name", string()),
                ("connected", boolean()),
                ("connect_url", nullable(string())),
                ("accepts_logins", boolean()),
                ("disconnect_url", nullable(string())),
            ])),
        )
        .infallible()
}

pub fn deactivate() -> Op {
    Op::new(TAG, "Deactivate an account (needs `can_deactivate_users`)")
        .user()
        .ok("The account, now inactive", reference("Account"))
        .denied("The caller lacks the permission")
        .hidden("No such account")
}

pub fn replace_usernames() -> Op {
    Op::new(TAG, "Rename accounts (the site's username-replacement worker only)")
        .user()
        .json(object(&[("username_mappings", array(map_of(string())))]))
        .ok(
            "What was renamed; a taken name gets a suffix",
            record(&[
                ("successful_replacements", array(map_of(string()))),
                ("failed_replacements", array(map_of(string()))),
            ]),
        )
        .answer(400, "The body does not match the schema", Body::Json(array(string())))
        .denied("Not the replacement worker")
}

pub fn upload_image() -> Op {
    Op::new(TAG, "Upload the caller's profile image")
        .user()
        .reads("multipart/form-data", object(&[("file", formatted("binary"))]))
        .no_content("Stored in every configured size")
        .answer(400, "No file, not an image, too small or too large", Body::of("Messages"))
        .denied("Not the caller's account")
}

pub fn delete_image() -> Op {
    Op::new(TAG, "Remove the caller's profile image").user().no_content("Removed").denied("Not the caller's account")
}

pub fn serve_image() -> Op {
    Op::new(TAG, "A stored profile image")
        .path("file", "`<stem>_<size>.jpg`, as the account's `profile_image` URLs name it")
        .answer(200, "The JPEG", Body::Media("image/jpeg", formatted("binary")))
        .answer(404, "No such image in the site's tenant", Body::of("Detail"))
}

pub fn validate_registration() -> Op {
    let decisions = map_of(string());
    Op::new("registration", "Check registration fields before submitting")
        .about("Each field sent is checked; the answer holds one message per field, empty when valid.")
        .json(map_of(any()))
        .form(map_of(string()))
        .ok(
            "A message per field sent",
            object(&[("validation_decisions", decisions), ("username_suggestions", array(string()))]),
        )
        .denied("Too many checks from this address")
}

pub fn registration_form() -> Op {
    Op::new("registration", "The registration form's description")
        .ok(
            "The form: method, submit URL and fields",
            object(&[("method", string()), ("submit_url", string()), ("fields", array(object(&[])))]),
        )
        .infallible()
}

pub fn extended_profile_fields() -> Op {
    Op::new("registration", "The site's extended-profile fields, described for a form")
        .ok(
            "Each field: name, label, type, whether required, and its choices",
            array(object(&[
                ("name", string()),
                ("label", string()),
                ("type", string()),
                ("required", boolean()),
                ("choices", array(object(&[("value", string()), ("label", string())]))),
            ])),
        )
        .infallible()
}

fn confirmation(summary: &'static str) -> Op {
    Op::new("e-mail", summary)
        .path("key", "The key mailed in the link")
        .answer(200, "Done", Body::html())
        .answer(400, "The link is not valid or was used", Body::html())
        .answer(409, "The address now belongs to another account", Body::html())
}

pub fn confirm_email() -> Op {
    confirmation("Confirm a new primary e-mail address (the mailed link)")
}

pub fn activate_secondary_email() -> Op {
    confirmation("Confirm a recovery e-mail address (the mailed link)")
}
