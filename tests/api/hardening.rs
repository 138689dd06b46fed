//! Issue 15's hardening over HTTP: bounded metrics, rate limits, range
//! checks, and the mail outbox, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn year_of_birth_is_range_checked(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let token = server.token("alpha", "alice").await;
    for (year, message) in [
        (json!(99_999_999_999_i64), "Ensure this value is less than or equal to 2147483647."),
        (json!(-2_147_483_649_i64), "Ensure this value is greater than or equal to -2147483648."),
    ] {
        let response = server.patch_account("alpha.test", "alice", &token, json!({"year_of_birth": year})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_json(response).await;
        let developer = body["field_errors"]["year_of_birth"]["developer_message"].as_str().unwrap();
        assert!(developer.ends_with(&format!("['{message}']")), "{body}");
    }
    // The extremes of the range are stored and computing an age from them
    // does not overflow.
    for year in [2_147_483_647_i64, -2_147_483_648] {
        let response = server.patch_account("alpha.test", "alice", &token, json!({"year_of_birth": year})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let account = body_json(server.get_account("alpha.test", "alice", &token).await).await;
        assert_eq!(account["year_of_birth"], year);
    }
    let response = server.request(Method::GET, "anything", "/health").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The number of series `/metrics` shows (sample lines, not comments).
async fn series(server: &TestServer) -> usize {
    let text = server.request(Method::GET, "anything", "/metrics").send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count()
}

/// A request with an arbitrary method to an arbitrary path, some matching a
/// route template, most matching nothing.
async fn random_request(server: &TestServer, i: u64) {
    let method =
        Method::from_bytes(format!("M{:X}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000).as_bytes()).unwrap();
    let path = match i % 3 {
        0 => format!("/random/{i}/x{}", i * 7),
        1 => format!("/api/user/v1/accounts/user{i}"),
        _ => format!("/api/user/v1/preferences/user{i}/key{i}"),
    };
    let response = server.request(method, "alpha.test", &path).send().await.unwrap();
    assert!(response.status().is_client_error(), "{path}: {}", response.status());
}

async fn metrics_stay_bounded_under_random_methods_and_paths(b: Backend) {
    let server = TestServer::start(b).await;
    for i in 0..30 {
        random_request(&server, i).await;
    }
    series(&server).await;
    let before = series(&server).await;
    let server = &server;
    // Eight clients at once, 10,000 requests in all.
    let client = |first: u64| async move {
        for i in (first..10_030).step_by(8) {
            random_request(server, i).await;
        }
    };
    tokio::join!(client(30), client(31), client(32), client(33), client(34), client(35), client(36), client(37));
    assert_eq!(series(server).await, before, "10,000 random requests added no series");
    let text = server.request(Method::GET, "anything", "/metrics").send().await.unwrap().text().await.unwrap();
    for expected in [
        "userapi_http_requests_total{route=\"unmatched\",method=\"OTHER\",status=\"4xx\"}",
        "userapi_http_requests_total{route=\"/api/user/v1/accounts/{username}\",method=\"OTHER\",status=\"4xx\"}",
        "userapi_http_request_duration_seconds_bucket{le=\"0.005\",route=\"unmatched\",method=\"OTHER\"}",
        "userapi_db_connections ",
        "userapi_plugin_instances_capacity 128",
        "userapi_cache_entries ",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert_eq!(server.metric("userapi_http_requests_total").await, 10_030 + 4, "every request counted once");
}

async fn token_form(server: &TestServer, from: &str, form: &str) -> reqwest::Response {
    server
        .request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", from)
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
}

async fn token_endpoint_is_rate_limited(b: Backend) {
    let mut alpha = site("alpha", "alpha", ALPHA_SECRET);
    alpha["jwt"]["token_requests_per_address"] = json!(3);
    alpha["sessions"] = json!({"attempts_per_account": 2});
    let server = TestServer::start_with(b, vec![("alpha.json".into(), alpha)], &[]).await;
    server.create_user("alpha", "worker", &[]).await;
    server.create_user("alpha", "alice", &["--password", "Correct-Horse-9"]).await;
    server.create_client("alpha", "c1", "s3", "worker").await;
    let client = "grant_type=client_credentials&client_id=c1&client_secret=s3";
    // Per address: three requests a minute, whatever they ask.
    for _ in 0..3 {
        assert_eq!(token_form(&server, "203.0.113.1", client).await.status(), StatusCode::OK);
    }
    let refused = token_form(&server, "203.0.113.1", client).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = body_json(refused).await;
    assert_eq!(body["detail"], format!("Request was throttled. Expected available in {retry} seconds."));
    assert_eq!(token_form(&server, "203.0.113.2", client).await.status(), StatusCode::OK, "other addresses go on");
    // Per account: password attempts count as logins, from any address.
    let wrong = "grant_type=password&client_id=c1&client_secret=s3&username=alice&password=wrong";
    assert_eq!(token_form(&server, "198.51.100.1", wrong).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(token_form(&server, "198.51.100.2", wrong).await.status(), StatusCode::BAD_REQUEST);
    let right = "grant_type=password&client_id=c1&client_secret=s3&username=alice&password=Correct-Horse-9";
    let refused = token_form(&server, "198.51.100.3", right).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password, once the account is locked");
    assert_eq!(token_form(&server, "198.51.100.3", client).await.status(), StatusCode::OK);
}

backend_tests!(
    year_of_birth_is_range_checked,
    metrics_stay_bounded_under_random_methods_and_paths,
    token_endpoint_is_rate_limited
);
