//! HTTP conventions: error bodies for framework failures, body limits,
//! request ids, operations endpoints and graceful shutdown.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

const SEARCH: &str = "/api/user/v1/accounts/search_emails";

async fn staff(server: &TestServer) -> String {
    server.create_user("alpha", "staffer", &["--staff"]).await;
    server.token("alpha", "staffer").await
}

async fn over_size_body_is_413(b: Backend) {
    let server = TestServer::start_with(b, standard_sites(), &[("USERAPI_MAX_BODY_BYTES", "1000")]).await;
    let token = staff(&server).await;
    let big = json!({"emails": ["x".repeat(2000)]}).to_string();
    let response = server
        .request(Method::POST, "alpha.test", SEARCH)
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = body_json(response).await;
    assert_eq!(body["user_message"], "The request is too large.");
    // A streamed body without Content-Length is cut at the same limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b' '; 100])).collect();
    let response = server
        .request(Method::POST, "alpha.test", SEARCH)
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    tokio_stream::iter(chunks)
}

async fn invalid_json_is_400_with_a_json_body(b: Backend) {
    let server = TestServer::start(b).await;
    let token = staff(&server).await;
    for body in ["{\"emails\": [", "not json", "{\"emails\": NaN}"] {
        let response = server
            .request(Method::POST, "alpha.test", SEARCH)
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let detail = body_json(response).await["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }
    let response = server
        .request(Method::POST, "alpha.test", SEARCH)
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(response).await, json!({"detail": "Unsupported media type \"text/plain\" in request."}));
}

async fn search_emails_is_for_staff_and_scoped_to_the_tenant(b: Backend) {
    let server = TestServer::start(b).await;
    let token = staff(&server).await;
    server.create_user("alpha", "alice", &[]).await;
    server.create_user("beta", "bob", &[]).await;
    let search = |token: String, body: serde_json::Value| {
        server
            .request(Method::POST, "alpha.test", SEARCH)
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let response =
        search(token.clone(), json!({"emails": ["alice@example.com", "bob@example.com", "nobody@example.com"]}))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body.as_array().unwrap().len(), 1, "bob is in another tenant: {body}");
    assert_eq!(body[0]["username"], "alice");
    assert_eq!(body[0]["email"], "alice@example.com");
    assert!(body[0]["id"].is_i64());
    let response = search(token.clone(), json!({})).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(response).await,
        json!({"developer_message": "'emails' field is required", "user_message": "'emails' field is required"})
    );
    for not_a_list in [json!("alice@example.com"), json!({"a": 1}), json!(7), json!(null), json!(true)] {
        let response = search(token.clone(), json!({ "emails": not_a_list })).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{not_a_list}");
        let msg = "'emails' must be a list of email addresses";
        assert_eq!(body_json(response).await, json!({"developer_message": msg, "user_message": msg}));
    }
    let alice = server.token("alpha", "alice").await;
    let response = search(alice, json!({"emails": ["alice@example.com"]})).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(response).await, json!({"developer_message": "not_found", "user_message": "Not Found"}));
}

async fn unknown_paths_and_methods_answer_json(b: Backend) {
    let server = TestServer::start(b).await;
    let response = server.request(Method::GET, "alpha.test", "/api/user/v1/nope").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(response).await, json!({"detail": "Not found."}));
    // A static segment wins over a username: GET search_emails is 405, not an account.
    let response = server.request(Method::GET, "alpha.test", SEARCH).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body_json(response).await, json!({"detail": "Method \"GET\" not allowed."}));
    let response = server.request(Method::PUT, "alpha.test", "/api/user/v1/me").send().await.unwrap();
    assert_eq!(body_json(response).await, json!({"detail": "Method \"PUT\" not allowed."}));
    // The trailing slash matters (accounts.md §1).
    let response = server.request(Method::GET, "alpha.test", "/api/user/v1/me/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn operations_endpoints(b: Backend) {
    let server = TestServer::start(b).await;
    let health = server.request(Method::GET, "anything", "/health").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = server.request(Method::GET, "anything", "/ready").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(body_json(ready).await, json!({"database": true, "sites": true}));
    let response = server
        .request(Method::GET, "alpha.test", "/api/user/v1/me")
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let response = server.request(Method::GET, "alpha.test", "/api/user/v1/me").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36, "a uuid is made when none is sent");
    let metrics = server.request(Method::GET, "anything", "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("userapi_http_requests_total{route=\"/api/user/v1/me\",method=\"GET\",status=\"4xx\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("userapi_sites_loaded 3"), "{metrics}");
    let openapi = server.request(Method::GET, "anything", "/api/user/v1/openapi.json").send().await.unwrap();
    let doc = body_json(openapi).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/user/v1/me"].is_object());
}

async fn logs_never_contain_secrets(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &["--password", "Hunter2-Secret"]).await;
    server.create_client("alpha", "c1", "Client-Secret-42", "alice").await;
    let token = server.token("alpha", "alice").await;
    let me = server.get_as("alpha.test", "/api/user/v1/me?email=alice@example.com", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body_json(me).await["username"], "alice");
    // The password grant must succeed, or the secrets it carries were never
    // checked, and the token it issues is a secret too.
    let grant = server
        .request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&client_id=c1&client_secret=Client-Secret-42&username=alice&password=Hunter2-Secret")
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), StatusCode::OK);
    let grant = body_json(grant).await;
    let issued = grant["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {grant}")).to_owned();
    assert!(issued.len() > 20, "{grant}");
    // The access log is written after the answer: wait for the grant's line
    // (the bound only guards against a hang), so the scan covers it.
    let mut log = server.log();
    for _ in 0..500 {
        if log.contains("\"path\":\"/oauth2/access_token\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        log = server.log();
    }
    assert!(log.contains("\"path\":\"/api/user/v1/me\""), "requests are logged: {log}");
    assert!(log.contains("\"path\":\"/oauth2/access_token\""), "the grant is logged: {log}");
    for secret in ["Hunter2-Secret", "Client-Secret-42", &token, &issued, ALPHA_SECRET, "alice@example.com"] {
        assert!(!log.contains(secret), "log leaks {secret}");
    }
}

async fn sigterm_drains_and_exits_zero(b: Backend) {
    let mut server = TestServer::start(b).await;
    let status = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(server.wait().await, Some(0));
}

/// 100 POSTs with bodies, each refused before its handler reads the body
/// (401, 403, 404, 405), on one keep-alive connection: 100 answers, and the
/// connection stays open throughout.
async fn refused_posts_keep_the_connection(b: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let server = TestServer::start(b).await;
    server.create_user("alpha", "learner", &[]).await;
    let learner = server.token("alpha", "learner").await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = BufReader::new(tokio::net::TcpStream::connect(&address).await.unwrap());
    let body = format!("{{\"emails\": [\"{}\"]}}", "x".repeat(60_000));
    let cases = [
        (SEARCH, None, 401),
        ("/admin/v1/sites/reload", Some(learner.as_str()), 403),
        ("/no/such/path", None, 404),
        ("/api/user/v1/me", Some(learner.as_str()), 405),
    ];
    for i in 0..100 {
        let (path, token, want) = cases[i % cases.len()];
        let authorization = token.map(|t| format!("Authorization: JWT {t}\r\n")).unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: alpha.test\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.get_mut().write_all(request.as_bytes()).await.unwrap();
        let mut status_line = String::new();
        stream.read_line(&mut status_line).await.unwrap();
        assert!(status_line.starts_with(&format!("HTTP/1.1 {want} ")), "request {i}: {status_line:?}");
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            assert_ne!(line, "connection: close", "request {i}");
            if let Some(n) = line.strip_prefix("content-length:") {
                length = n.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0; length];
        stream.read_exact(&mut answer).await.unwrap();
        if length > 0 {
            serde_json::from_slice::<serde_json::Value>(&answer).expect("a JSON answer");
        }
    }
}

/// Path segments that do not decode and odd query strings never get axum's
/// plain-text rejections: every answer is JSON, and none is a 5xx.
async fn every_rejection_is_json(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "staffer", &["--staff", "--superuser"]).await;
    let token = server.token("alpha", "staffer").await;
    let paths = [
        "/api/user/v1/preferences/%FF",
        "/api/user/v1/preferences/staffer/%FF%FE",
        "/api/user/v1/preferences/%C0%AF/key",
        "/api/user/v1/accounts/%FF",
        "/api/user/v1/accounts/%FF/deactivate/",
        "/api/user/v1/accounts/%FF/image",
        "/api/user/v1/accounts/name_change/%FF/confirm/",
        "/api/user/v1/accounts/%FF/retirement_status/",
        "/admin/v1/users/%FF/orgs/%FE",
        "/media/profile-images/%FF",
        "/email_confirm/%FF",
        "/activate_secondary_email/%FF",
        "/api/user/v1/preferences/staffer?%FF=%FE&&=&a",
        "/api/user/v1/accounts?username=%FF&email=%",
        "/api/user/v1/preferences/time_zones/?country_code=%FF%",
    ];
    for path in paths {
        for method in [Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
            let response = server
                .request(method.clone(), "alpha.test", path)
                .header("authorization", format!("JWT {token}"))
                .header("content-type", "application/merge-patch+json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(status.as_u16() < 500, "{method} {path}: {status}");
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let bytes = response.bytes().await.unwrap();
            if !bytes.is_empty() {
                assert_eq!(content_type.as_deref(), Some("application/json"), "{method} {path}: {status}");
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|_| panic!("{method} {path}"));
            }
        }
    }
}

backend_tests!(
    every_rejection_is_json,
    refused_posts_keep_the_connection,
    over_size_body_is_413,
    invalid_json_is_400_with_a_json_body,
    search_emails_is_for_staff_and_scoped_to_the_tenant,
    unknown_paths_and_methods_answer_json,
    operations_endpoints,
    logs_never_contain_secrets,
    sigterm_drains_and_exits_zero,
);
