//! The micro-frontends' call sequences (clients.md §5, §6), replayed with
//! their headers, asserting the shapes and types those clients rely on.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

fn mfe(s: &TestServer, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    s.request(method, "alpha.test", path)
        .header("authorization", format!("JWT {token}"))
        .header("use-jwt-cookie", "true")
        .header("origin", "https://apps.alpha.test")
}

fn assert_account_types(account: &Value) {
    assert!(account["username"].is_string());
    assert!(account["social_links"].is_array(), "always an array");
    assert!(account["language_proficiencies"].is_array(), "always an array");
    let image = &account["profile_image"];
    assert!(image["has_image"].is_boolean());
    for size in ["full", "large", "medium", "small"] {
        assert!(image[format!("image_url_{size}")].is_string(), "{size}");
    }
    assert!(account["account_privacy"].is_string());
    assert!(account["date_joined"].is_string());
    assert!(account["time_zone"].is_null());
}

async fn profile_mfe_flow(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "jane", &["--name", "Jane Doe"]).await;
    s.create_user("alpha", "viewer", &[]).await;
    s.sql("UPDATE profiles SET year_of_birth = 1985", &[]).await;
    let jane = s.token("alpha", "jane").await;
    let viewer = s.token("alpha", "viewer").await;

    // View own profile: account, preferences, registration countries.
    let own = body_json(mfe(&s, Method::GET, "/api/user/v1/accounts/jane", &jane).send().await.unwrap()).await;
    assert_account_types(&own);
    let prefs = mfe(&s, Method::GET, "/api/user/v1/preferences/jane", &jane).send().await.unwrap();
    assert_eq!(prefs.status(), StatusCode::OK);
    assert!(body_json(prefs).await.is_object());
    let form = body_json(mfe(&s, Method::GET, "/user_api/v1/account/registration/", &jane).send().await.unwrap()).await;
    assert!(form["fields"].as_array().unwrap().iter().any(|f| f["name"] == "country" && f["options"].is_array()));

    // Save a section, as the MFE packs it.
    let response = mfe(&s, Method::PATCH, "/api/user/v1/accounts/jane", &jane)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"bio": "Tired mother of twins", "country": "US", "level_of_education": "m",
                     "language_proficiencies": [{"code": "hi"}],
                     "social_links": [{"platform": "facebook", "social_link": "jane"}, {"platform": "x", "social_link": ""}, {"platform": "linkedin", "social_link": ""}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let saved = body_json(response).await;
    assert_account_types(&saved);
    assert_eq!(
        saved["social_links"],
        json!([{"platform": "facebook", "social_link": "https://www.facebook.com/jane"}])
    );

    // First edit of a legacy profile: migrate to per-field visibility.
    let migrate = json!({"account_privacy": "custom", "visibility.name": "all_users", "visibility.bio": "all_users",
        "visibility.course_certificates": "all_users", "visibility.country": "all_users", "visibility.date_joined": "all_users",
        "visibility.level_of_education": "all_users", "visibility.language_proficiencies": "all_users",
        "visibility.social_links": "all_users", "visibility.time_zone": "all_users"});
    let response = mfe(&s, Method::PATCH, "/api/user/v1/preferences/jane", &jane)
        .header("content-type", "application/merge-patch+json")
        .body(migrate.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let prefs = body_json(mfe(&s, Method::GET, "/api/user/v1/preferences/jane", &jane).send().await.unwrap()).await;
    assert_eq!(prefs["account_privacy"], "custom");

    // Someone else views the profile: the shared subset, same types.
    let seen = body_json(mfe(&s, Method::GET, "/api/user/v1/accounts/jane", &viewer).send().await.unwrap()).await;
    assert_account_types(&seen);
    assert_eq!(seen["bio"], "Tired mother of twins");
    assert_eq!(seen["name"], "Jane Doe");
    assert!(seen.get("email").is_none());
    // An unknown user is a 404 (the MFE's "user not found" page), never a 403.
    let response = mfe(&s, Method::GET, "/api/user/v1/accounts/nobody", &viewer).send().await.unwrap();
    assert_eq!((response.status(), response.text().await.unwrap()), (StatusCode::NOT_FOUND, String::new()));
}

async fn account_mfe_flow(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "sam", &["--password", "Sam-Password-1"]).await;
    let sam = s.token("alpha", "sam").await;
    let account = body_json(mfe(&s, Method::GET, "/api/user/v1/accounts/sam", &sam).send().await.unwrap()).await;
    assert_account_types(&account);
    // Time zones for the account's country (param omitted when none), without auth.
    let zones =
        body_json(s.request(Method::GET, "alpha.test", "/user_api/v1/preferences/time_zones/").send().await.unwrap())
            .await;
    assert!(zones[0]["time_zone"].is_string() && zones[0]["description"].is_string());
    let tpa = mfe(&s, Method::GET, "/api/user/v1/accounts/third_party_auth_error/", &sam).send().await.unwrap();
    assert_eq!(body_json(tpa).await, json!({"user_message": null}));
    // A bad field comes back as field_errors.<field>.user_message.
    let response = mfe(&s, Method::PATCH, "/api/user/v1/accounts/sam", &sam)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"year_of_birth": "soon"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(response).await["field_errors"]["year_of_birth"]["user_message"], "This value is invalid.");
    // Time zone and language are preferences.
    let response = mfe(&s, Method::PATCH, "/api/user/v1/preferences/sam", &sam)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"time_zone": "Asia/Tokyo", "pref-lang": "es-419"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Delete my account: form-encoded password.
    let response = mfe(&s, Method::POST, "/api/user/v1/accounts/deactivate_logout/", &sam)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("password=Sam-Password-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

backend_tests!(profile_mfe_flow, account_mfe_flow);
