//! Preferences API over HTTP (preferences.md), on both backends.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const PREFS: &str = "/api/user/v1/preferences";

struct Fixture {
    server: TestServer,
    alice: String,
    bob: String,
    staff: String,
}

async fn fixture(b: Backend) -> Fixture {
    let mut sites = standard_sites();
    sites[0].1["languages"] = json!(["en", "fr", "zh-cn"]);
    let server = TestServer::start_with(b, sites, &[]).await;
    server.create_user("alpha", "alice", &[]).await;
    server.create_user("alpha", "bob", &[]).await;
    server.create_user("alpha", "staffer", &["--staff"]).await;
    let alice = server.token("alpha", "alice").await;
    let bob = server.token("alpha", "bob").await;
    let staff = server.token("alpha", "staffer").await;
    Fixture { server, alice, bob, staff }
}

async fn patch(server: &TestServer, token: &str, username: &str, content_type: &str, body: &str) -> Response {
    server
        .request(Method::PATCH, "alpha.test", &format!("{PREFS}/{username}"))
        .header("authorization", format!("JWT {token}"))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn merge_patch(server: &TestServer, token: &str, username: &str, body: Value) -> Response {
    patch(server, token, username, "application/merge-patch+json", &body.to_string()).await
}

async fn get_prefs(server: &TestServer, token: &str, username: &str) -> (StatusCode, String) {
    let response = server.get_as("alpha.test", &format!("{PREFS}/{username}"), token).await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn patch_sets_converts_and_deletes(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = merge_patch(
        s,
        &f.alice,
        "alice",
        json!({
            "dict_pref": {"int_key": 10}, "string_pref": "value", "extra_pref": "extra", "time_zone": "Asia/Macau"
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    // The example of edX's tests.
    let response = merge_patch(
        s,
        &f.alice,
        "alice",
        json!({
            "string_pref": "updated_value", "new_pref": "new_value", "extra_pref": null, "time_zone": "Europe/London",
            "bool_pref": true, "int_pref": 10, "float_pref": 1e2, "list_pref": [1, "a", null], "missing_pref": null
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = get_prefs(s, &f.alice, "alice").await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "dict_pref": "{'int_key': 10}", "string_pref": "updated_value", "time_zone": "Europe/London",
            "new_pref": "new_value", "bool_pref": "True", "int_pref": "10", "float_pref": "100.0",
            "list_pref": "[1, 'a', None]"
        })
    );
    assert!(body.get("extra_pref").is_none());
}

async fn patch_validates_everything_and_writes_nothing_on_error(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let long_key = "k".repeat(256);
    let response = merge_patch(
        s,
        &f.alice,
        "alice",
        json!({
            "good_pref": "stored?", "empty_pref": "", "blank_pref": "   ", "time_zone": "Asia/Africa",
            "ȻħȺɍłɇ": "x", long_key.clone(): "v", "pref-lang": "xx"
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_json(response).await;
    let errors = body["field_errors"].as_object().unwrap();
    assert_eq!(errors.len(), 6, "{body}");
    assert_eq!(
        errors["empty_pref"],
        json!({
            "developer_message": "Preference 'empty_pref' cannot be set to an empty value.",
            "user_message": "Preference 'empty_pref' cannot be set to an empty value."
        })
    );
    assert_eq!(
        errors["time_zone"],
        json!({
            "developer_message": "Value 'Asia/Africa' not valid for preference 'time_zone': Not in timezone set.",
            "user_message": "Value 'Asia/Africa' is not a valid time zone selection."
        })
    );
    assert_eq!(
        errors["ȻħȺɍłɇ"],
        json!({
            "developer_message": "Value 'x' not valid for preference 'ȻħȺɍłɇ': {'key': ['Enter a valid value.']}",
            "user_message": "Invalid user preference key 'ȻħȺɍłɇ'."
        })
    );
    assert_eq!(
        errors[&long_key]["developer_message"],
        format!("Value 'v' not valid for preference '{long_key}': {{'key': ['Ensure this field has no more than 255 characters.']}}")
    );
    assert_eq!(errors["pref-lang"]["user_message"], "Value 'xx' is not a valid language selection.");
    assert!(errors.contains_key("blank_pref"));
    assert_eq!(get_prefs(s, &f.alice, "alice").await.1, "{}", "nothing was written");
    // Unicode keys with an allowed character are fine, and a configured language passes.
    let response = merge_patch(s, &f.alice, "alice", json!({"empty_pref_ȻħȺɍłɇs": "v", "pref-lang": "zh-cn"})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn patch_needs_merge_patch_and_data(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let response = patch(s, &f.alice, "alice", "application/json", "{\"a\": \"b\"}").await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(response).await, json!({"detail": "Unsupported media type \"application/json\" in request."}));
    let response = patch(s, &f.alice, "alice", "application/merge-patch+json; charset=utf-8", "{\"a\": \"b\"}").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "parameters do not matter");
    let no_data = json!({
        "developer_message": "No data provided for user preference update",
        "user_message": "No data provided for user preference update"
    });
    for body in ["{}", "[]", "\"non_dict_request\"", ""] {
        let response = patch(s, &f.alice, "alice", "application/merge-patch+json", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(body_json(response).await, no_data, "{body:?}");
    }
    let response = patch(s, &f.alice, "alice", "application/merge-patch+json", "{\"a\":").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_json(response).await["detail"].as_str().unwrap().starts_with("JSON parse error"));
}

async fn who_may_read_and_write(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    assert_eq!(merge_patch(s, &f.bob, "bob", json!({"k": "v"})).await.status(), StatusCode::NO_CONTENT);
    let denied = r#"{"detail":"You do not have permission to perform this action."}"#;
    // Non-staff: 403 whether the user exists or not.
    assert_eq!(get_prefs(s, &f.alice, "bob").await, (StatusCode::FORBIDDEN, denied.to_owned()));
    assert_eq!(get_prefs(s, &f.alice, "nobody").await, (StatusCode::FORBIDDEN, denied.to_owned()));
    assert_eq!(get_prefs(s, &f.alice, "Alice").await.0, StatusCode::FORBIDDEN, "usernames compare exactly");
    // Staff read anyone, 404 empty for unknown users.
    assert_eq!(get_prefs(s, &f.staff, "bob").await, (StatusCode::OK, r#"{"k":"v"}"#.to_owned()));
    assert_eq!(get_prefs(s, &f.staff, "nobody").await, (StatusCode::NOT_FOUND, String::new()));
    // Writes are owner-only; staff get 403 with an empty body.
    let response = merge_patch(s, &f.staff, "bob", json!({"k": "x"})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().is_empty());
    let response = merge_patch(s, &f.staff, "nobody", json!({"k": "x"})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = merge_patch(s, &f.alice, "bob", json!({"k": "x"})).await;
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::FORBIDDEN, denied.to_owned()));
    assert_eq!(get_prefs(s, &f.staff, "bob").await.1, r#"{"k":"v"}"#);
    let response = s.request(Method::GET, "alpha.test", &format!("{PREFS}/bob")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Another tenant's bob is a different account with no preferences.
    s.create_user("beta", "bob", &[]).await;
    let beta_bob = s.token("beta", "bob").await;
    let response = s.get_as("beta.test", &format!("{PREFS}/bob"), &beta_bob).await;
    assert_eq!(response.text().await.unwrap(), "{}");
}

async fn detail_route(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let url = |key: &str| format!("{PREFS}/alice/{key}");
    let send = |method: Method, key: &str, token: &str, content_type: Option<&str>, body: &str| {
        let mut r = s.request(method, "alpha.test", &url(key)).header("authorization", format!("JWT {token}"));
        if let Some(ct) = content_type {
            r = r.header("content-type", ct).body(body.to_owned());
        }
        r.send()
    };
    let response = send(Method::GET, "time_zone", &f.alice, None, "").await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::NOT_FOUND, String::new()));
    let response = send(Method::PUT, "time_zone", &f.alice, Some("application/json"), "\"Asia/Tokyo\"").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(Method::PUT, "time_zone", &f.alice, Some("application/json"), "\"Asia/Tokyo\"").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "unchanged value is still 204");
    let response = send(Method::GET, "time_zone", &f.alice, None, "").await.unwrap();
    assert_eq!(body_json(response).await, json!("Asia/Tokyo"));
    let response = send(Method::GET, "time_zone", &f.staff, None, "").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(Method::PUT, "counter", &f.alice, Some("application/json"), "42").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(body_json(send(Method::GET, "counter", &f.alice, None, "").await.unwrap()).await, json!("42"));

    for body in ["null", "\"\"", "\"   \""] {
        let response = send(Method::PUT, "empty", &f.alice, Some("application/json"), body).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body_json(response).await,
            json!({
                "developer_message": "Preference 'empty' cannot be set to an empty value.",
                "user_message": "Preference 'empty' cannot be set to an empty value."
            })
        );
    }
    let response =
        send(Method::PUT, "time_zone", &f.alice, Some("application/json"), "\"Mars/Olympus\"").await.unwrap();
    assert_eq!(body_json(response).await["user_message"], "Value 'Mars/Olympus' is not a valid time zone selection.");
    let response = send(Method::PUT, "k", &f.alice, Some("text/plain"), "v").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = send(Method::PUT, "k", &f.staff, Some("application/json"), "\"v\"").await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::FORBIDDEN, String::new()));
    let response = send(Method::POST, "k", &f.alice, Some("application/json"), "\"v\"").await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Keys with '-' or '.' have no detail route.
    for key in ["pref-lang", "visibility.bio"] {
        let response = send(Method::GET, key, &f.alice, None, "").await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{key}");
        assert_eq!(body_json(response).await, json!({"detail": "Not found."}));
    }
    let response = send(Method::DELETE, "time_zone", &f.alice, None, "").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(Method::DELETE, "time_zone", &f.alice, None, "").await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::NOT_FOUND, String::new()));
}

async fn time_zones(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    for path in ["/api/user/v1/preferences/time_zones/", "/user_api/v1/preferences/time_zones/"] {
        let response = s.request(Method::GET, "alpha.test", &format!("{path}?country_code=es")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "no authentication needed");
        let body = body_json(response).await;
        let zones: Vec<&str> = body.as_array().unwrap().iter().map(|e| e["time_zone"].as_str().unwrap()).collect();
        assert_eq!(zones, ["Africa/Ceuta", "Atlantic/Canary", "Europe/Madrid"]);
        let description = body[2]["description"].as_str().unwrap();
        assert!(
            description == "Europe/Madrid (CET, UTC+0100)" || description == "Europe/Madrid (CEST, UTC+0200)",
            "{description}"
        );
    }
    let response = s
        .request(Method::GET, "alpha.test", "/api/user/v1/preferences/time_zones/?country_code=US")
        .send()
        .await
        .unwrap();
    let body = body_json(response).await;
    let ny = body.as_array().unwrap().iter().find(|e| e["time_zone"] == "America/New_York").unwrap();
    assert!(ny["description"].as_str().unwrap().starts_with("America/New York (E"), "{ny}");
    for query in ["", "?country_code=ZZ", "?country_code=BV"] {
        let response = s
            .request(Method::GET, "alpha.test", &format!("/api/user/v1/preferences/time_zones/{query}"))
            .send()
            .await
            .unwrap();
        let all = body_json(response).await;
        let list = all.as_array().unwrap();
        assert_eq!(list.len(), 433, "{query}");
        let descriptions: Vec<&str> = list.iter().map(|e| e["description"].as_str().unwrap()).collect();
        let mut sorted = descriptions.clone();
        sorted.sort();
        assert_eq!(descriptions, sorted, "sorted by description");
    }
}

async fn email_opt_in(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let post = |token: String, form: &'static str| {
        s.request(Method::POST, "alpha.test", "/user_api/v1/preferences/email_opt_in/")
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let response = post(f.alice.clone(), "email_opt_in=true").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(response.text().await.unwrap(), "Missing POST parameters: course_id");
    let response = post(f.alice.clone(), "").await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Missing POST parameters: course_id, email_opt_in");
    let response = post(f.alice.clone(), "course_id=garbage&email_opt_in=true").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.text().await.unwrap(), "No course 'garbage' found");

    let tag = |username: &'static str, org: &'static str| async move {
        s.sql_text(
            &format!("SELECT o.value FROM org_tags o JOIN users u ON u.id = o.user_id WHERE u.username = '{username}' AND o.org = '{org}' AND o.key = 'email-optin' AND u.id > $1"),
            0,
        )
        .await
    };
    // An unknown birth year does not block the opt-in.
    let response = post(f.alice.clone(), "course_id=course-v1:DemoX%2BDemo101%2B2024&email_opt_in=TRUE").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tag("alice", "DemoX").await, "True");
    let response = post(f.alice.clone(), "course_id=DemoX/Demo101/2024&email_opt_in=no").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tag("alice", "DemoX").await, "False");
    // Under the opt-in age (13 by default) the opt-in is stored as False.
    let year = chrono_year();
    for (born, expected) in [(year - 14, "True"), (year - 13, "False"), (year - 12, "False")] {
        s.sql(
            "UPDATE profiles SET year_of_birth = $1 WHERE user_id = (SELECT id FROM users WHERE username = 'bob')",
            &[SqlValue::Int(born)],
        )
        .await;
        let response = post(f.bob.clone(), "course_id=course-v1:OrgB%2BX%2BY&email_opt_in=true").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(tag("bob", "OrgB").await, expected, "born {born}");
    }
}

fn chrono_year() -> i64 {
    use chrono::Datelike;
    i64::from(chrono::Utc::now().year())
}

async fn concurrent_patches_all_land(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let request = s
            .request(Method::PATCH, "alpha.test", &format!("{PREFS}/alice"))
            .header("authorization", format!("JWT {}", f.alice))
            .header("content-type", "application/merge-patch+json")
            .body(json!({ format!("key_{i}"): format!("value_{i}") }).to_string());
        tasks.push(tokio::spawn(async move { request.send().await.map(|r| r.status()) }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), StatusCode::NO_CONTENT);
    }
    let (_, body) = get_prefs(s, &f.alice, "alice").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    let map = body.as_object().unwrap();
    assert_eq!(map.len(), 200);
    for i in 0..200 {
        assert_eq!(map[&format!("key_{i}")], format!("value_{i}"));
    }
}

backend_tests!(
    patch_sets_converts_and_deletes,
    patch_validates_everything_and_writes_nothing_on_error,
    patch_needs_merge_patch_and_data,
    who_may_read_and_write,
    detail_route,
    time_zones,
    email_opt_in,
    concurrent_patches_all_land,
);
