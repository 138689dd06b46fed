//! `POST /oauth2/access_token`: both grants, right and wrong credentials,
//! and Django password hashes imported from Open edX.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

async fn post_form(server: &TestServer, host: &str, form: &str) -> (StatusCode, Value) {
    let response = server
        .request(Method::POST, host, "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "scripts.user_retirement")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

async fn setup(b: Backend) -> TestServer {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "retirement_worker", &[]).await;
    server.create_user("alpha", "alice", &["--password", "Correct-Horse-9"]).await;
    server.create_client("alpha", "retirement", "s3cret", "retirement_worker").await;
    server
}

async fn client_credentials_grant(b: Backend) {
    let server = setup(b).await;
    let (status, body) = post_form(
        &server,
        "alpha.test",
        "grant_type=client_credentials&client_id=retirement&client_secret=s3cret&token_type=jwt",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "JWT");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write email profile");
    let token = body["access_token"].as_str().unwrap();
    let me = server.get_as("alpha.test", "/api/user/v1/me", token).await;
    assert_eq!(body_json(me).await, json!({"username": "retirement_worker"}));

    // The same credentials as HTTP Basic.
    let basic = base64::engine::general_purpose::STANDARD.encode("retirement:s3cret");
    let response = server
        .request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    for form in [
        "grant_type=client_credentials&client_id=retirement&client_secret=wrong",
        "grant_type=client_credentials&client_id=nobody&client_secret=s3cret",
        "grant_type=client_credentials&client_id=retirement",
    ] {
        let (status, body) = post_form(&server, "alpha.test", form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form}");
        assert_eq!(body, json!({"error": "invalid_client"}), "{form}");
    }
    // Clients belong to a tenant.
    let (status, _) =
        post_form(&server, "beta.test", "grant_type=client_credentials&client_id=retirement&client_secret=s3cret")
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn password_grant(b: Backend) {
    let server = setup(b).await;
    let (status, body) = post_form(
        &server,
        "alpha.test",
        "grant_type=password&client_id=retirement&username=alice&password=Correct-Horse-9",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read write email profile user_id");
    let me = server.get_as("alpha.test", "/api/user/v1/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(body_json(me).await, json!({"username": "alice"}));

    for form in [
        "grant_type=password&client_id=retirement&username=alice&password=wrong",
        "grant_type=password&client_id=retirement&username=nobody&password=Correct-Horse-9",
        "grant_type=password&client_id=retirement&username=retirement_worker&password=",
    ] {
        let (status, body) = post_form(&server, "alpha.test", form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}");
        assert_eq!(
            body,
            json!({"error": "invalid_grant", "error_description": "Invalid credentials given."}),
            "{form}"
        );
    }
    let (status, body) = post_form(
        &server,
        "alpha.test",
        "grant_type=password&client_id=nobody&username=alice&password=Correct-Horse-9",
    )
    .await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})));
    let (status, body) = post_form(
        &server,
        "alpha.test",
        "grant_type=password&client_id=retirement&client_secret=wrong&username=alice&password=Correct-Horse-9",
    )
    .await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})));
    let (status, body) = post_form(&server, "alpha.test", "grant_type=authorization_code&client_id=retirement").await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"error": "unsupported_grant_type"})));
    let (status, body) = post_form(&server, "alpha.test", "client_id=retirement").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

async fn imported_pbkdf2_hash_is_accepted_and_rehashed(b: Backend) {
    let server = setup(b).await;
    let id = server.create_user("alpha", "imported", &[]).await;
    // Django 4.2: make_password("edx-Pass-1", salt="Qm9vdGNhbXBTYWx0", hasher=PBKDF2PasswordHasher(iterations=1000)).
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"edx-Pass-1", b"Qm9vdGNhbXBTYWx0", 1000, &mut out);
    let django =
        format!("pbkdf2_sha256$1000$Qm9vdGNhbXBTYWx0${}", base64::engine::general_purpose::STANDARD.encode(out));
    server
        .sql("UPDATE users SET password_hash = $1 WHERE id = $2", &[SqlValue::Text(django.clone()), SqlValue::Int(id)])
        .await;
    let form = "grant_type=password&client_id=retirement&username=imported&password=edx-Pass-1";
    let (status, _) = post_form(
        &server,
        "alpha.test",
        "grant_type=password&client_id=retirement&username=imported&password=edx-pass-1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.sql_text("SELECT password_hash FROM users WHERE id = $1", id).await, django);
    let (status, body) = post_form(&server, "alpha.test", form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = server.sql_text("SELECT password_hash FROM users WHERE id = $1", id).await;
    assert!(stored.starts_with("$argon2id$"), "not rehashed: {stored}");
    let (status, _) = post_form(&server, "alpha.test", form).await;
    assert_eq!(status, StatusCode::OK, "the rehashed password still works");
}

backend_tests!(client_credentials_grant, password_grant, imported_pbkdf2_hash_is_accepted_and_rehashed);
