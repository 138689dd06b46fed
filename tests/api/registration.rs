//! Registration validation, the registration form, and username replacement.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const VALIDATE: &str = "/api/user/v1/validation/registration";

async fn validate(s: &TestServer, body: Value) -> Value {
    let response = s
        .request(Method::POST, "alpha.test", VALIDATE)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await
}

async fn registration_decisions(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "taken_name", &[]).await;
    let answer = validate(
        &s,
        json!({
            "name": "Ada <script>", "username": "a", "email": "no", "confirm_email": "other@example.com",
            "password": "short", "country": "--", "unknown": "ignored"
        }),
    )
    .await;
    assert_eq!(
        answer,
        json!({"validation_decisions": {
            "name": "Enter a valid name",
            "username": "Username must be between 2 and 30 characters long.",
            "email": "Enter a valid email address that contains at least 3 characters.",
            "confirm_email": "The email addresses do not match",
            "password": "This password is too short. It must contain at least 8 characters.",
            "country": "Select your country or region of residence",
        }})
    );
    let answer = validate(&s, json!({"username": "bad name!", "email": "not-an-email", "password": 12})).await;
    assert_eq!(
        answer["validation_decisions"],
        json!({
            "username": "Usernames can only contain letters (A-Z, a-z), numerals (0-9), underscores (_), and hyphens (-).",
            "email": "Enter a valid email address",
            "password": "Password must be a string",
        })
    );
    // Taken names (case-insensitively) and addresses; suggestions are free usernames.
    let answer = validate(&s, json!({"username": "Taken_Name", "email": "TAKEN_NAME@example.com"})).await;
    assert_eq!(answer["validation_decisions"]["username"], "It looks like this username is already taken");
    assert_eq!(answer["validation_decisions"]["email"], "This email is already associated with an existing account");
    let suggestions = answer["username_suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty() && suggestions.len() <= 3, "{answer}");
    for suggestion in suggestions {
        let name = suggestion.as_str().unwrap();
        assert!(name.starts_with("TakenName_"), "{name}");
        let again = validate(&s, json!({"username": name})).await;
        assert_eq!(again["validation_decisions"]["username"], "", "{name} is free");
    }
    // All good: empty decisions; form_field_key limits the answer to one field.
    let answer = validate(
        &s,
        json!({"name": "Ada Lovelace", "username": "ada_l", "email": "ada@example.com",
        "confirm_email": "ada@example.com", "password": "Analytical-Engine-1843", "country": "GB"}),
    )
    .await;
    assert!(answer["validation_decisions"].as_object().unwrap().values().all(|v| v == ""), "{answer}");
    let answer = validate(&s, json!({"username": "a", "email": "bad", "form_field_key": "email"})).await;
    assert_eq!(answer["validation_decisions"], json!({"email": "Enter a valid email address"}));
    // Django's EmailValidator: the local part is ASCII; a domain may be internationalised.
    for (email, decision) in [
        ("fŕáńḱ@example.com", "Enter a valid email address"),
        ("frank@exämple.com", ""),
        ("\"frank@home\"@example.com", ""),
        ("\"frank smith\"@example.com", "Enter a valid email address"),
        ("frank@example.c", "Enter a valid email address"),
    ] {
        let answer = validate(&s, json!({"email": email, "form_field_key": "email"})).await;
        assert_eq!(answer["validation_decisions"], json!({ "email": decision }), "{email}");
    }
    assert_eq!(validate(&s, json!({})).await, json!({"validation_decisions": {}}));
    // The password is compared with the username when both are given.
    let answer = validate(&s, json!({"username": "hopscotch", "password": "hopscotch1"})).await;
    assert_eq!(answer["validation_decisions"]["password"], "The password is too similar to the username.");
    // Form bodies work too, and the slashed path.
    let response = s
        .request(Method::POST, "alpha.test", &format!("{VALIDATE}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("country=FR")
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(response).await, json!({"validation_decisions": {"country": ""}}));
}

async fn registration_validation_is_rate_limited(b: Backend) {
    let s = TestServer::start(b).await;
    for i in 0..30 {
        let response = s
            .request(Method::POST, "alpha.test", VALIDATE)
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
    }
    let response =
        s.request(Method::POST, "alpha.test", VALIDATE).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await, json!({"detail": "You do not have permission to perform this action."}));
    let response =
        s.request(Method::POST, "alpha.test", VALIDATE).header("x-forwarded-for", "203.0.113.10").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "other addresses are not affected");
}

async fn registration_form_lists_countries(b: Backend) {
    let s = TestServer::start(b).await;
    let response = s.request(Method::GET, "alpha.test", "/user_api/v1/account/registration/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let form = body_json(response).await;
    let country = form["fields"].as_array().unwrap().iter().find(|f| f["name"] == "country").unwrap();
    let options = country["options"].as_array().unwrap();
    assert_eq!(options[0]["name"], "--");
    assert_eq!(options.len(), 251);
    assert!(options.iter().any(|o| o["value"] == "AF" && o["name"] == "Afghanistan"));
    assert!(options.iter().any(|o| o["value"] == "XK"));
}

async fn username_replacement(b: Backend) {
    let mut alpha = site("alpha", "alpha", ALPHA_SECRET);
    alpha["username_replacement_worker"] = json!("replacer");
    let s = TestServer::start_with(b, vec![("alpha.json".into(), alpha)], &[]).await;
    s.create_user("alpha", "replacer", &[]).await;
    s.create_user("alpha", "old_one", &[]).await;
    s.create_user("alpha", "old_two", &[]).await;
    s.create_user("alpha", "wanted", &[]).await;
    s.create_user("alpha", "root", &["--superuser", "--staff"]).await;
    let replacer = s.token("alpha", "replacer").await;
    let root = s.token("alpha", "root").await;
    let post = |token: &str, body: String| {
        s.request(Method::POST, "alpha.test", "/api/user/v1/accounts/replace_usernames/")
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let body =
        json!({"username_mappings": [{"old_one": "fresh"}, {"old_two": "wanted"}, {"ghost": "spooky"}]}).to_string();
    let response = post(&root, body.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "superusers are not the worker");
    for bad in [json!({}), json!({"username_mappings": [{"a": "b", "c": "d"}]}), json!({"username_mappings": "x"})] {
        let response = post(&replacer, bad.to_string()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_json(response).await, json!(["Request data does not match schema"]));
    }
    let response = post(&replacer, body).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer = body_json(response).await;
    let done = answer["successful_replacements"].as_array().unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!(done[0], json!({"old_one": "fresh"}));
    assert_eq!(done[2], json!({"ghost": "spooky"}));
    let suffixed = done[1]["old_two"].as_str().unwrap();
    assert!(suffixed.starts_with("wanted-") && suffixed.len() == "wanted-".len() + 10, "{suffixed}");
    assert_eq!(answer["failed_replacements"], json!([]));
    // The renamed account answers to its new name; the old one is gone.
    let fresh = s.token("alpha", "fresh").await;
    assert_eq!(body_json(s.get_as("alpha.test", "/api/user/v1/me", &fresh).await).await, json!({"username": "fresh"}));
    assert_eq!(s.get_as("alpha.test", "/api/user/v1/accounts/old_one", &fresh).await.status(), StatusCode::NOT_FOUND);
}

backend_tests!(
    registration_decisions,
    registration_validation_is_rate_limited,
    registration_form_lists_countries,
    username_replacement
);
