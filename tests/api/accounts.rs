//! Accounts API over HTTP (accounts.md, visibility.md), on both backends.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const ACCOUNTS: &str = "/api/user/v1/accounts";

const ADMIN_KEYS: [&str; 28] = [
    "account_privacy",
    "profile_image",
    "username",
    "bio",
    "course_certificates",
    "country",
    "date_joined",
    "language_proficiencies",
    "level_of_education",
    "social_links",
    "time_zone",
    "name",
    "email",
    "id",
    "verified_name",
    "extended_profile",
    "gender",
    "state",
    "goals",
    "is_active",
    "last_login",
    "mailing_address",
    "requires_parental_consent",
    "secondary_email",
    "secondary_email_enabled",
    "year_of_birth",
    "phone_number",
    "pending_name_change",
];

struct Fixture {
    server: TestServer,
    alice: String,
    bob: String,
    staff: String,
}

fn alpha_site() -> Value {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["extended_profile_fields"] = json!(["occupation", "cohort"]);
    config["extended_profile_schema"] = json!({
        "type": "object",
        "properties": {"occupation": {"type": "string", "maxLength": 20}, "cohort": {"type": "integer", "minimum": 2000}}
    });
    config["enable_secondary_email"] = json!(true);
    config
}

async fn fixture(b: Backend) -> Fixture {
    let sites = vec![("alpha.json".into(), alpha_site()), ("beta.json".into(), site("beta", "beta", BETA_SECRET))];
    let server = TestServer::start_with(b, sites, &[]).await;
    server.create_user("alpha", "alice", &["--name", "Alice Liddell"]).await;
    server.create_user("alpha", "bob", &[]).await;
    server.create_user("alpha", "staffer", &["--staff"]).await;
    let alice = server.token("alpha", "alice").await;
    let bob = server.token("alpha", "bob").await;
    let staff = server.token("alpha", "staffer").await;
    Fixture { server, alice, bob, staff }
}

async fn get(s: &TestServer, token: &str, path: &str) -> (StatusCode, String) {
    let response = s.get_as("alpha.test", path, token).await;
    (response.status(), response.text().await.unwrap())
}

async fn get_json(s: &TestServer, token: &str, path: &str) -> Value {
    let (status, body) = get(s, token, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn patch_with(s: &TestServer, token: &str, username: &str, content_type: &str, body: &str) -> Response {
    s.request(Method::PATCH, "alpha.test", &format!("{ACCOUNTS}/{username}"))
        .header("authorization", format!("JWT {token}"))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn patch(s: &TestServer, token: &str, username: &str, body: Value) -> Response {
    patch_with(s, token, username, "application/merge-patch+json", &body.to_string()).await
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = keys.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}

async fn set_year(s: &TestServer, username: &str, year: i64) {
    s.sql(
        "UPDATE profiles SET year_of_birth = $1 WHERE user_id = (SELECT id FROM users WHERE username = $2)",
        &[SqlValue::Int(year), SqlValue::Text(username.into())],
    )
    .await;
}

async fn owner_sees_the_full_account(b: Backend) {
    let f = fixture(b).await;
    let account = get_json(&f.server, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    assert_eq!(keys(&account), sorted(&ADMIN_KEYS));
    assert_eq!(account["username"], "alice");
    assert_eq!(account["name"], "Alice Liddell");
    assert_eq!(account["email"], "alice@example.com");
    assert!(account["id"].is_i64());
    assert_eq!(account["is_active"], true);
    // No birth year: parental consent required, so private.
    assert_eq!(account["requires_parental_consent"], true);
    assert_eq!(account["account_privacy"], "private");
    for null_key in [
        "bio",
        "country",
        "course_certificates",
        "time_zone",
        "verified_name",
        "gender",
        "state",
        "year_of_birth",
        "phone_number",
        "pending_name_change",
        "last_login",
        "level_of_education",
        "goals",
        "mailing_address",
        "secondary_email",
    ] {
        assert!(account[null_key].is_null(), "{null_key}: {}", account[null_key]);
    }
    assert_eq!(account["secondary_email_enabled"], true);
    assert_eq!(account["social_links"], json!([]));
    assert_eq!(account["language_proficiencies"], json!([]));
    assert_eq!(
        account["extended_profile"],
        json!([{"field_name": "occupation", "field_value": ""}, {"field_name": "cohort", "field_value": ""}])
    );
    let joined = account["date_joined"].as_str().unwrap();
    assert!(joined.len() == 20 && joined.ends_with('Z') && joined.as_bytes()[10] == b'T', "{joined}");
    assert_eq!(
        account["profile_image"],
        json!({
            "has_image": false,
            "image_url_full": "http://alpha.test/static/images/profiles/default_500.png",
            "image_url_large": "http://alpha.test/static/images/profiles/default_120.png",
            "image_url_medium": "http://alpha.test/static/images/profiles/default_50.png",
            "image_url_small": "http://alpha.test/static/images/profiles/default_30.png",
        })
    );
    assert_eq!(get_json(&f.server, &f.alice, "/api/user/v1/me").await, json!({"username": "alice"}));
}

async fn other_viewers_see_what_privacy_allows(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let path = format!("{ACCOUNTS}/alice");
    // Default: no birth year → private → the 3 public keys.
    let seen = get_json(s, &f.bob, &path).await;
    assert_eq!(keys(&seen), sorted(&["account_privacy", "profile_image", "username"]));
    assert_eq!(seen["account_privacy"], "private");
    // An adult with the default visibility (all_users) shares the 11 bulk keys.
    set_year(s, "alice", 1980).await;
    let seen = get_json(s, &f.bob, &path).await;
    assert_eq!(seen.as_object().unwrap().len(), 11, "{seen}");
    assert_eq!(seen["account_privacy"], "all_users");
    assert!(seen.get("email").is_none() && seen.get("name").is_none());
    // custom: public keys plus fields whose visibility preference is exactly all_users.
    let response = s
        .request(Method::PATCH, "alpha.test", "/api/user/v1/preferences/alice")
        .header("authorization", format!("JWT {}", f.alice))
        .header("content-type", "application/merge-patch+json")
        .body(
            json!({"account_privacy": "custom", "visibility.bio": "all_users", "visibility.name": "all_users",
                     "visibility.email": "all_users", "visibility.country": "private"})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let seen = get_json(s, &f.bob, &path).await;
    assert_eq!(keys(&seen), sorted(&["account_privacy", "profile_image", "username", "bio", "name"]));
    assert_eq!(seen["name"], "Alice Liddell");
    // Staff see everything, unless they ask for view=shared; so does the owner.
    assert_eq!(get_json(s, &f.staff, &path).await.as_object().unwrap().len(), 28);
    let shared = get_json(s, &f.staff, &format!("{path}?view=shared")).await;
    assert_eq!(shared.as_object().unwrap().len(), 5);
    let shared = get_json(s, &f.alice, &format!("{path}?view=shared")).await;
    assert_eq!(shared.as_object().unwrap().len(), 5);
    // An under-age owner is private whatever the preferences say.
    set_year(s, "alice", chrono_year() - 13).await;
    let seen = get_json(s, &f.bob, &path).await;
    assert_eq!(keys(&seen), sorted(&["account_privacy", "profile_image", "username"]));
    assert_eq!(seen["account_privacy"], "private");
}

fn chrono_year() -> i64 {
    use chrono::Datelike;
    i64::from(chrono::Utc::now().year())
}

async fn unknown_and_hidden_accounts_are_404(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    assert_eq!(get(s, &f.alice, &format!("{ACCOUNTS}/nobody")).await, (StatusCode::NOT_FOUND, String::new()));
    assert_eq!(get(s, &f.staff, &format!("{ACCOUNTS}/nobody")).await, (StatusCode::NOT_FOUND, String::new()));
    assert_eq!(get(s, &f.alice, &format!("{ACCOUNTS}/Alice")).await.0, StatusCode::NOT_FOUND, "exact match");
    // Another tenant's account does not exist here.
    s.create_user("beta", "carol", &[]).await;
    assert_eq!(get(s, &f.staff, &format!("{ACCOUNTS}/carol")).await, (StatusCode::NOT_FOUND, String::new()));
    // email= / lms_user_id= need staff, even on the detail route.
    let (status, body) = get(s, &f.bob, &format!("{ACCOUNTS}/alice?email=x@example.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, r#"{"detail":"You do not have permission to perform this action."}"#);
    let response = s.request(Method::GET, "alpha.test", &format!("{ACCOUNTS}/alice")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn list_by_username_email_and_id(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let list = get_json(s, &f.alice, &format!("{ACCOUNTS}?username=,bob,nobody,alice,")).await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"], "database order, unknown left out");
    assert_eq!(list[0].as_object().unwrap().len(), 28, "own account in full");
    assert_eq!(list[1].as_object().unwrap().len(), 3, "bob is filtered");
    assert_eq!(get(s, &f.alice, &format!("{ACCOUNTS}?username=nobody")).await, (StatusCode::NOT_FOUND, String::new()));
    let own = get_json(s, &f.bob, ACCOUNTS).await;
    assert_eq!(own.as_array().unwrap().len(), 1);
    assert_eq!(own[0]["username"], "bob");

    assert_eq!(get(s, &f.alice, &format!("{ACCOUNTS}?email=bob@example.com")).await.0, StatusCode::FORBIDDEN);
    let found = get_json(s, &f.staff, &format!("{ACCOUNTS}?email=bob@example.com")).await;
    assert_eq!(found[0]["username"], "bob");
    assert_eq!(found[0].as_object().unwrap().len(), 28);
    assert_eq!(
        get(s, &f.staff, &format!("{ACCOUNTS}?email=none@example.com")).await,
        (StatusCode::NOT_FOUND, String::new())
    );
    let id = found[0]["id"].as_i64().unwrap();
    let by_id = get_json(s, &f.staff, &format!("{ACCOUNTS}?lms_user_id={id}")).await;
    assert_eq!(by_id[0]["username"], "bob");
    for bad in ["abc", "2f", "1.0", "2/8"] {
        let (status, body) = get(s, &f.staff, &format!("{ACCOUNTS}?lms_user_id={bad}")).await;
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, ""), "{bad}");
    }
    assert_eq!(get(s, &f.staff, &format!("{ACCOUNTS}?lms_user_id=999999")).await.0, StatusCode::NOT_FOUND);
}

async fn retired_email_lookup_says_so(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    // A retired account carries the retired form of its old address (retirement.md §2).
    let retired = {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        h.update(b"123gone@example.com");
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("retired__user_{hex}@retired.invalid")
    };
    s.create_user("alpha", "gone", &[]).await;
    let index = s.email_index("alpha", &retired);
    s.sql(
        "UPDATE users SET email = $1, email_key = $2 WHERE username = 'gone'",
        &[SqlValue::Text(retired), SqlValue::Text(index)],
    )
    .await;
    let (status, body) = get(s, &f.staff, &format!("{ACCOUNTS}?email=gone@example.com")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"error_msg": "This email is associated to a retired account.", "can_cancel_retirement": false, "retirement_id": null})
    );
}

async fn patch_checks_type_owner_and_shape(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch_with(s, &f.alice, "alice", "application/json", r#"{"bio": "x"}"#).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(response).await, json!({"detail": "Unsupported media type \"application/json\" in request."}));
    let response = patch_with(s, &f.alice, "alice", "application/merge-patch+json", "[1]").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_json(response).await["user_message"].is_null());
    let response = patch_with(s, &f.alice, "alice", "application/merge-patch+json", "{").await;
    assert!(body_json(response).await["detail"].as_str().unwrap().starts_with("JSON parse error"));
    for (token, target) in [(&f.bob, "alice"), (&f.staff, "alice"), (&f.bob, "nobody")] {
        let response = patch(s, token, target, json!({"bio": "hacked"})).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.text().await.unwrap().is_empty());
    }
    let response = patch(s, &f.alice, "alice", json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await.as_object().unwrap().len(), 28);
}

async fn patch_reports_every_bad_field_and_writes_nothing(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let before = get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    let response = patch(
        s,
        &f.alice,
        "alice",
        json!({
            "bio": "b".repeat(301), "gender": "x", "country": "us", "year_of_birth": "not_an_int", "name": "  ",
            "username": "mallory", "is_active": false, "goals": "fine", "time_zone": "ignored", "unknown": 1,
            "language_proficiencies": "not_a_list", "account_privacy": " ", "extended_profile": {"a": 1},
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_json(response).await;
    let errors = body["field_errors"].as_object().unwrap();
    let mut names: Vec<&str> = errors.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "account_privacy",
            "bio",
            "country",
            "extended_profile",
            "gender",
            "is_active",
            "language_proficiencies",
            "name",
            "username",
            "year_of_birth"
        ]
    );
    assert_eq!(errors["bio"]["user_message"], "The about me field must be at most 300 characters long.");
    assert_eq!(
        errors["gender"],
        json!({"developer_message": "Value 'x' is not valid for field 'gender': ['\"x\" is not a valid choice.']", "user_message": "This value is invalid."})
    );
    assert_eq!(
        errors["country"]["developer_message"],
        "Value 'us' is not valid for field 'country': ['\"us\" is not a valid choice.']"
    );
    assert_eq!(
        errors["year_of_birth"]["developer_message"],
        "Value 'not_an_int' is not valid for field 'year_of_birth': ['A valid integer is required.']"
    );
    assert_eq!(
        errors["username"],
        json!({"developer_message": "This field is not editable via this API", "user_message": "The 'username' field cannot be edited."})
    );
    assert_eq!(
        errors["account_privacy"]["user_message"],
        "Preference 'account_privacy' cannot be set to an empty value."
    );
    assert_eq!(
        errors["extended_profile"],
        json!({"developer_message": "extended_profile must be a list", "user_message": "Invalid extended profile format"})
    );
    assert_eq!(get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await, before, "nothing changed");
}

async fn patch_updates_fields_and_answers_the_account(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch(s, &f.alice, "alice", json!({
        "bio": "Curiouser and curiouser", "gender": "f", "country": "US", "state": "MA", "year_of_birth": "1990",
        "goals": "", "mailing_address": "1 Rabbit Hole", "city": "Oxford", "level_of_education": "b",
        "phone_number": "+1 (800) 555-5555", "name": "Alice P. Liddell",
        "language_proficiencies": [{"code": "fr"}, {"code": "en"}],
        "social_links": [{"platform": "facebook", "social_link": "https://evil.example/facebook.com/alice/"}, {"platform": "x", "social_link": "alice"}],
        "account_privacy": "all_users",
        "extended_profile": [{"field_name": "occupation", "field_value": "explorer"}, {"field_name": "cohort", "field_value": 2024}, {"field_name": "hidden", "field_value": {"a": 1}}],
    })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let account = body_json(response).await;
    assert_eq!(account["bio"], "Curiouser and curiouser");
    assert_eq!(account["gender"], "f");
    assert_eq!(account["state"], "MA");
    assert_eq!(account["year_of_birth"], 1990);
    assert_eq!(account["goals"], "");
    assert_eq!(account["phone_number"], "+18005555555");
    assert_eq!(account["name"], "Alice P. Liddell");
    assert_eq!(account["requires_parental_consent"], false);
    assert_eq!(account["account_privacy"], "all_users");
    assert_eq!(account["language_proficiencies"], json!([{"code": "en"}, {"code": "fr"}]));
    assert_eq!(
        account["social_links"],
        json!([
            {"platform": "facebook", "social_link": "https://www.facebook.com/alice"},
            {"platform": "x", "social_link": "https://www.x.com/alice"}
        ])
    );
    assert_eq!(
        account["extended_profile"],
        json!([{"field_name": "occupation", "field_value": "explorer"}, {"field_name": "cohort", "field_value": 2024}])
    );
    assert!(account.get("city").is_none(), "city is never returned");
    assert_eq!(account, get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await, "the answer is the stored account");
    let meta = s.stored_user("alpha", "alice").await["meta"].clone();
    assert_eq!(meta["old_names"][0][0], "Alice Liddell");
    assert_eq!(meta["old_names"][0][1], "Name change requested through account API by alice");
    assert_eq!(meta["hidden"], json!({"a": 1}), "unlisted names are stored, not shown");

    // Social links merge; an empty link removes; an empty list changes nothing.
    let response = patch(s, &f.alice, "alice", json!({"social_links": [{"platform": "x", "social_link": ""}, {"platform": "linkedin", "social_link": "www.linkedin.com/in/alice"}]})).await;
    let links = body_json(response).await["social_links"].clone();
    assert_eq!(
        links,
        json!([
            {"platform": "facebook", "social_link": "https://www.facebook.com/alice"},
            {"platform": "linkedin", "social_link": "https://www.linkedin.com/in/alice"}
        ])
    );
    // A query string stays, as edx-platform's current tests expect.
    let response =
        patch(s, &f.alice, "alice", json!({"social_links": [{"platform": "x", "social_link": "x.com/edX?foo=bar"}]}))
            .await;
    let links_now = body_json(response).await["social_links"].clone();
    assert!(
        links_now
            .as_array()
            .unwrap()
            .contains(&json!({"platform": "x", "social_link": "https://www.x.com/edX?foo=bar"})),
        "{links_now}"
    );
    let response = patch(s, &f.alice, "alice", json!({"social_links": [{"platform": "x", "social_link": ""}]})).await;
    assert_eq!(body_json(response).await["social_links"], links);
    let response =
        patch(s, &f.alice, "alice", json!({"social_links": [], "country": "FR", "gender": null, "bio": ""})).await;
    let account = body_json(response).await;
    assert_eq!(account["social_links"], links);
    assert!(account["state"].is_null(), "a non-US country clears the state");
    assert!(account["gender"].is_null());
    assert!(account["bio"].is_null(), "an empty bio reads back as null");
    let response = patch(
        s,
        &f.alice,
        "alice",
        json!({"social_links": [{"platform": "facebook", "social_link": "https://www.facebook.com/alice/photos"}]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = body_json(response).await["field_errors"]["social_links"].clone();
    assert!(
        error["user_message"]
            .as_str()
            .unwrap()
            .starts_with("Make sure that you are providing a valid username or a URL that contains \"facebook.com/\""),
        "{error}"
    );
    let response = patch(
        s,
        &f.alice,
        "alice",
        json!({"social_links": [{"platform": "myspace", "social_link": "x"}, {"platform": "x", "social_link": null}]}),
    )
    .await;
    let error = body_json(response).await["field_errors"]["social_links"]["developer_message"].clone();
    assert!(error.as_str().unwrap().ends_with(
        "[{'platform': ['The social platform must be facebook, x or linkedin']}, {'social_link': ['This field may not be null.']}]"
    ), "{error}");
    let response = patch(s, &f.alice, "alice", json!({"account_privacy": null, "language_proficiencies": []})).await;
    let account = body_json(response).await;
    assert_eq!(account["account_privacy"], "all_users", "back to the site default");
    assert_eq!(account["language_proficiencies"], json!([]));
}

async fn extended_profile_goes_through_the_sites_schema(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch(
        s,
        &f.alice,
        "alice",
        json!({"extended_profile": [
            {"field_name": "occupation", "field_value": "x".repeat(30)}, {"field_name": "cohort", "field_value": 1999},
            {"field_name": "old_names", "field_value": []}
        ]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(response).await["field_errors"].clone();
    let mut names: Vec<String> = errors.as_object().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["cohort", "occupation", "old_names"]);
    assert!(errors["cohort"]["developer_message"]
        .as_str()
        .unwrap()
        .starts_with("Error in extended profile field [cohort]: "));
    let response = patch(s, &f.alice, "alice", json!({"extended_profile": [{"field_name": "occupation"}]})).await;
    assert_eq!(
        body_json(response).await["field_errors"]["extended_profile"]["user_message"],
        "Invalid extended profile format"
    );
}

async fn outbox(s: &TestServer, to: &str) -> Vec<String> {
    s.outbox_to(to).await
}

fn link_key(body: &str, path: &str) -> String {
    let at = body.find(path).unwrap_or_else(|| panic!("{path} not in {body}"));
    body[at + path.len()..].split_whitespace().next().unwrap().to_owned()
}

async fn email_change_needs_confirmation(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch(s, &f.alice, "alice", json!({"email": "alice@new.example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["email"], "alice@example.com", "unchanged until confirmed");
    let mails = outbox(s, "alice@new.example.com").await;
    assert_eq!(mails.len(), 1);
    let key = link_key(&mails[0], "http://alpha.test/email_confirm/");
    assert_eq!(key.len(), 32);
    let response = s.request(Method::POST, "alpha.test", &format!("/email_confirm/{key}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let account = get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    assert_eq!(account["email"], "alice@new.example.com");
    let response = s.request(Method::GET, "alpha.test", &format!("/email_confirm/{key}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a key works once");
    // Errors, and addresses in use are dropped silently (no probing).
    for (email, message) in [
        ("not-an-email", "Valid e-mail address required."),
        ("alice@new.example.com", "Old email is the same as the new email."),
    ] {
        let response = patch(s, &f.alice, "alice", json!({"email": email})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_json(response).await["field_errors"]["email"]["user_message"], message);
    }
    let response = patch(s, &f.alice, "alice", json!({"email": "BOB@example.com", "bio": "kept"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["bio"], "kept");
    assert!(outbox(s, "BOB@example.com").await.is_empty());
    // The old address keeps working as a login identity nowhere: the history has it.
    let meta = s.stored_user("alpha", "alice").await["meta"].to_string();
    assert!(meta.contains("\"old_emails\"") && meta.contains("alice@example.com"), "{meta}");
}

async fn secondary_email_is_confirmed_by_link(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch(s, &f.alice, "alice", json!({"secondary_email": "alice@example.com"})).await;
    assert_eq!(
        body_json(response).await["field_errors"]["secondary_email"]["user_message"],
        "Cannot be same as your sign in email address."
    );
    let response = patch(s, &f.alice, "alice", json!({"secondary_email": "alice.recovery@example.org"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_json(response).await["secondary_email"].is_null());
    let mails = outbox(s, "alice.recovery@example.org").await;
    let key = link_key(&mails[0], "/activate_secondary_email/");
    let response =
        s.request(Method::GET, "alpha.test", &format!("/activate_secondary_email/{key}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await["secondary_email"],
        "alice.recovery@example.org"
    );
    let response = patch(s, &f.bob, "bob", json!({"secondary_email": "alice.recovery@example.org"})).await;
    assert_eq!(
        body_json(response).await["field_errors"]["secondary_email"]["user_message"],
        "It looks like alice.recovery@example.org belongs to an existing account. Try again with a different email address."
    );
}

async fn name_change_request_and_confirm(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let post = |token: String, path: String, body: Option<Value>| {
        let mut r = s.request(Method::POST, "alpha.test", &path).header("authorization", format!("JWT {token}"));
        if let Some(body) = body {
            r = r.header("content-type", "application/json").body(body.to_string());
        }
        r.send()
    };
    let path = "/api/user/v1/accounts/name_change/".to_owned();
    for (body, expected) in [
        (json!({}), json!({"new_name": ["This field may not be null."]})),
        (json!({"name": ""}), json!({"new_name": ["This field may not be blank."]})),
        (json!({"name": "<b>"}), json!({"new_name": ["Name cannot contain the following characters: < >"]})),
        (json!({"name": "http://x"}), json!({"new_name": ["Name cannot contain a URL"]})),
        (
            json!({"name": "Alice Liddell"}),
            json!({"new_name": "The profile name given was identical to the current name."}),
        ),
        (json!({"name": "n".repeat(256)}), json!({"new_name": ["Ensure this field has no more than 255 characters."]})),
        (json!({"name": true}), json!({"new_name": ["Not a valid string."]})),
        (json!({"name": ["Alice"]}), json!({"new_name": ["Not a valid string."]})),
        (json!({"name": {"a": 1}}), json!({"new_name": ["Not a valid string."]})),
    ] {
        let response = post(f.alice.clone(), path.clone(), Some(body.clone())).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body_json(response).await, expected, "{body}");
    }
    let response = post(f.alice.clone(), path.clone(), Some(json!({"name": "Alice Hargreaves"}))).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.text().await.unwrap().is_empty());
    let account = get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    assert_eq!(
        (account["name"].as_str(), account["pending_name_change"].as_str()),
        (Some("Alice Liddell"), Some("Alice Hargreaves"))
    );
    let confirm = "/api/user/v1/accounts/name_change/alice/confirm/".to_owned();
    let response = post(f.bob.clone(), confirm.clone(), None).await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::FORBIDDEN, String::new()));
    let response = post(f.staff.clone(), confirm.clone(), None).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let account = get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    assert_eq!(account["name"], "Alice Hargreaves");
    assert!(account["pending_name_change"].is_null());
    let response = post(f.staff.clone(), confirm, None).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "no pending change left");
    let response =
        post(f.staff.clone(), "/api/user/v1/accounts/name_change/nobody/confirm/".into(), None).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// A PATCH is audited once per changed field, about and by the caller, and
/// no value reaches the audit log, old or new: `old_value`/`new_value` stay
/// NULL. The new values are in the profile, the old name in its history.
async fn account_changes_are_audited_without_values(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let before = get_json(s, &f.alice, &format!("{ACCOUNTS}/alice")).await;
    assert_eq!((&before["name"], &before["bio"]), (&json!("Alice Liddell"), &Value::Null));
    let response = patch(s, &f.alice, "alice", json!({"bio": "secret-bio-text", "name": "Secret Name"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let account = body_json(response).await;
    assert_eq!((&account["name"], &account["bio"]), (&json!("Secret Name"), &json!("secret-bio-text")));
    let id = s.query("SELECT id FROM users WHERE username = 'alice'", &[]).await[0][0].clone().unwrap();
    let mut rows = s
        .query(
            "SELECT tenant, user_id, actor_user_id, action, field, old_value, new_value FROM audit_log \
             WHERE user_id = $1",
            &[SqlValue::Int(id.parse().unwrap())],
        )
        .await;
    rows.sort();
    let row = |actor: Option<&str>, action: &str, field: Option<&str>| {
        let text = |v: Option<&str>| v.map(str::to_owned);
        vec![Some("alpha".into()), Some(id.clone()), text(actor), Some(action.into()), text(field), None, None]
    };
    assert_eq!(
        rows,
        [
            row(None, "account_created", None),
            row(Some(&id), "account_updated", Some("bio")),
            row(Some(&id), "account_updated", Some("name")),
        ]
    );
    let everything = s.query("SELECT * FROM audit_log", &[]).await;
    for value in ["secret-bio-text", "Secret Name", "Alice Liddell"] {
        let leaks = everything.iter().flatten().flatten().any(|cell| cell.contains(value));
        assert!(!leaks, "the audit log holds {value:?}: {everything:?}");
    }
    let meta = s.stored_user("alpha", "alice").await["meta"].clone();
    assert_eq!(meta["old_names"][0][0], "Alice Liddell", "the old name is kept where the profile keeps it: {meta}");
}

/// The account MFE's page-load call: the site's providers, `[]` with none.
async fn third_party_auth_user_status(b: Backend) {
    let mut with_providers = site("alpha2", "alpha", ALPHA_SECRET);
    with_providers["third_party_auth"] = json!({"providers": [
        {"id": "oa2-google-oauth2", "name": "Google", "connect_url": "/auth/login/google-oauth2/?auth_entry=account_settings"},
        {"id": "saml-hidden", "name": "Hidden", "accepts_logins": false},
    ]});
    let sites =
        vec![("alpha.json".into(), site("alpha", "alpha", ALPHA_SECRET)), ("alpha2.json".into(), with_providers)];
    let server = TestServer::start_with(b, sites, &[]).await;
    server.create_user("alpha", "alice", &[]).await;
    let token = server.token("alpha", "alice").await;
    for path in ["/api/third_party_auth/v0/providers/user_status", "/api/third_party_auth/v0/providers/user_status/"] {
        let response = server.get_as("alpha.test", path, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_json(response).await, json!([]));
        let response = server.get_as("alpha2.test", path, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            body_json(response).await,
            json!([{
                "id": "oa2-google-oauth2",
                "name": "Google",
                "connected": false,
                "connect_url": "/auth/login/google-oauth2/?auth_entry=account_settings",
                "accepts_logins": true,
                "disconnect_url": "",
            }])
        );
        let response = server.request(Method::GET, "alpha.test", path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

backend_tests!(
    third_party_auth_user_status,
    owner_sees_the_full_account,
    other_viewers_see_what_privacy_allows,
    unknown_and_hidden_accounts_are_404,
    list_by_username_email_and_id,
    retired_email_lookup_says_so,
    patch_checks_type_owner_and_shape,
    patch_reports_every_bad_field_and_writes_nothing,
    patch_updates_fields_and_answers_the_account,
    extended_profile_goes_through_the_sites_schema,
    email_change_needs_confirmation,
    secondary_email_is_confirmed_by_link,
    name_change_request_and_confirm,
    account_changes_are_audited_without_values,
);

async fn administrative_deactivation(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let path = format!("{ACCOUNTS}/bob/deactivate/");
    let post = |token: String, path: String| {
        s.request(Method::POST, "alpha.test", &path).header("authorization", format!("JWT {token}")).send()
    };
    // is_staff alone is not enough.
    let response = post(f.staff.clone(), path.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let out = s
        .cli(&[
            "users",
            "grant",
            "--site",
            "alpha",
            "--username",
            "staffer",
            "--permission",
            "student.can_deactivate_users",
        ])
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response = post(f.staff.clone(), path.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let account = body_json(response).await;
    assert_eq!(account["username"], "bob");
    assert_eq!(account.as_object().unwrap().len(), 28, "staff see the full account");
    // Bob's tokens stop working; his account is otherwise unchanged.
    assert_eq!(s.get_as("alpha.test", "/api/user/v1/me", &f.bob).await.status(), StatusCode::UNAUTHORIZED);
    let response = post(f.staff.clone(), format!("{ACCOUNTS}/nobody/deactivate/")).await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::NOT_FOUND, String::new()));
}

async fn self_service_deletion_queues_retirement(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    s.create_user("alpha", "dora", &["--password", "Explorer-123", "--name", "Dora M"]).await;
    let dora = s.token("alpha", "dora").await;
    let post = |token: String, content_type: &'static str, body: &'static str| {
        s.request(Method::POST, "alpha.test", "/api/user/v1/accounts/deactivate_logout/")
            .header("authorization", format!("JWT {token}"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = post(dora.clone(), "application/json", r#"{"password": "Explorer-123"}"#).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a JSON body carries no password");
    assert_eq!(body_json(response).await, json!("Could not verify user password: 'password'"));
    let response = post(dora.clone(), "application/x-www-form-urlencoded", "password=wrong").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await, json!("Email or password is incorrect."));
    let response = post(dora.clone(), "application/x-www-form-urlencoded", "password=Explorer-123").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Tokens stop working; the e-mail is the retired form; a PENDING retirement row exists.
    assert_eq!(s.get_as("alpha.test", "/api/user/v1/me", &dora).await.status(), StatusCode::UNAUTHORIZED);
    let email = s.stored_user("alpha", "dora").await["email"].as_str().unwrap_or_default().to_owned();
    assert!(email.starts_with("retired__user_") && email.ends_with("@retired.invalid"), "{email}");
    let state = s
        .sql_text(
            "SELECT st.state_name FROM retirement_status r JOIN retirement_states st ON st.id = r.current_state_id \
             JOIN users u ON u.id = r.user_id WHERE u.username = 'dora' AND u.id > $1",
            0,
        )
        .await;
    assert_eq!(state, "PENDING");
    let original = s.sql_text("SELECT original_email FROM retirement_status WHERE user_id > $1", 0).await;
    assert!(original.starts_with("enc1:") && !original.contains("dora"), "sealed: {original}");
    assert_eq!(outbox(s, "dora@example.com").await.len(), 1, "a notice goes to the original address");
    // The retired address is now refused for lookups by staff, with the retirement id.
    let (status, body) = get(s, &f.staff, &format!("{ACCOUNTS}?email=dora@example.com")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["can_cancel_retirement"], true);
    assert!(body["retirement_id"].is_i64());
}

async fn repeated_wrong_passwords_lock_deletion(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    s.create_user("alpha", "eve", &["--password", "Right-Password-1"]).await;
    let eve = s.token("alpha", "eve").await;
    let post = |body: &'static str| {
        s.request(Method::POST, "alpha.test", "/api/user/v1/accounts/deactivate_logout/")
            .header("authorization", format!("JWT {eve}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for _ in 0..6 {
        assert_eq!(post("password=nope").await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    let response = post("password=Right-Password-1").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body_json(response).await,
        json!("This account has been temporarily locked due to excessive login failures. Try again later.")
    );
}

backend_tests!(
    administrative_deactivation,
    self_service_deletion_queues_retirement,
    repeated_wrong_passwords_lock_deletion
);
