//! The OpenAPI entries of authentication: the token endpoint, CSRF, and
//! browser sessions (clients.md §4).

use crate::http::openapi::schema::{boolean, integer, nullable, object, one_of_strings, record, string};
use crate::http::openapi::{Body, Op};

const TAG: &str = "authentication";

fn oauth_error() -> serde_json::Value {
    object(&[("error", string()), ("error_description", string())])
}

pub fn access_token() -> Op {
    Op::new(TAG, "An access token (OAuth2 client credentials or password grant)")
        .about(
            "django-oauth-toolkit's token endpoint: the client authenticates with `client_id`/`client_secret` \
             in the form or with HTTP Basic. `token_type=jwt` is implied; the token is a JWT signed with the \
             site's key. Limited per address; a password grant also counts against its account's login budget.",
        )
        .form(object(&[
            ("grant_type", one_of_strings(&["client_credentials", "password"])),
            ("client_id", string()),
            ("client_secret", string()),
            ("username", string()),
            ("password", string()),
            ("token_type", string()),
        ]))
        .ok(
            "The token",
            record(&[
                ("access_token", string()),
                ("token_type", one_of_strings(&["JWT"])),
                ("expires_in", integer()),
                ("scope", string()),
            ]),
        )
        .answer(400, "`invalid_request`, `unsupported_grant_type` or `invalid_grant`", Body::Json(oauth_error()))
        .answer(401, "`invalid_client`", Body::Json(oauth_error()))
        .throttled()
}

pub fn csrf_token() -> Op {
    Op::new(TAG, "A CSRF token, and the `csrftoken` cookie it belongs to")
        .ok("The masked token for `X-CSRFToken`", record(&[("csrfToken", string())]))
        .header("Set-Cookie", "`csrftoken`, kept when already valid")
        .infallible()
}

fn login_failure() -> serde_json::Value {
    object(&[
        ("success", boolean()),
        ("value", string()),
        ("error_code", string()),
        ("context", object(&[])),
        ("email", nullable(string())),
    ])
}

pub fn login_session() -> Op {
    Op::new(TAG, "Sign in (the authn MFE's login API)")
        .about("CSRF-protected. Sets the session, the edX JWT cookie pair and a fresh `csrftoken`.")
        .query("next", "Where to go afterwards, when the site trusts it")
        .form(object(&[("email_or_username", string()), ("email", string()), ("password", string())]))
        .json(object(&[("email_or_username", string()), ("email", string()), ("password", string())]))
        .ok("Signed in", record(&[("success", boolean()), ("redirect_url", nullable(string()))]))
        .header("Set-Cookie", "`sessionid`, `edx-jwt-cookie-header-payload`, `edx-jwt-cookie-signature`, `csrftoken`")
        .answer(
            400,
            "Wrong or missing credentials, too many attempts, or an inactive account",
            Body::Json(login_failure()),
        )
        .answer(403, "CSRF check failed", Body::of("Detail"))
}

pub fn login_refresh() -> Op {
    Op::new(TAG, "Fresh JWT cookies for a live session")
        .answer(204, "Refreshed", Body::Empty)
        .header("Set-Cookie", "The edX JWT cookie pair")
        .answer(401, "No live session", Body::of("JsonString"))
}

pub fn logout() -> Op {
    Op::new(TAG, "Sign out: end the session and clear its cookies")
        .query("redirect_url", "Where to go afterwards, when the site trusts it")
        .query("next", "The same, under Django's name")
        .answer(200, "Signed out", Body::html())
        .answer(302, "Signed out; off to `redirect_url`", Body::Empty)
        .header("Location", "The trusted `redirect_url` or `next`")
}

pub fn login_page() -> Op {
    Op::new(TAG, "The sign-in page")
        .query("next", "Where to go after signing in, when the site trusts it")
        .answer(200, "The form", Body::html())
        .infallible()
}

pub fn login_form() -> Op {
    Op::new(TAG, "The sign-in page's submission")
        .form(object(&[
            ("email_or_username", string()),
            ("password", string()),
            ("next", string()),
            ("csrfmiddlewaretoken", string()),
        ]))
        .answer(200, "Signed in (no trusted `next`), or the form again with the reason", Body::html())
        .answer(302, "Signed in; off to `next`", Body::Empty)
        .header("Location", "The trusted `next`")
        .answer(400, "The form again with the reason", Body::html())
        .answer(403, "CSRF check failed: the form again with the reason", Body::html())
}
