//! Browser sessions over HTTP: Open edX's login API, `/login_refresh`,
//! `/logout`, the login page and its redirects, rate limits, and sessions
//! ended by deactivation (clients.md §4).

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const LOGIN_API: &str = "/api/user/v2/account/login_session/";
const PASSWORD: &str = "Correct-Horse-42";
const APP_ORIGIN: &str = "https://apps.alpha.test";

/// Site alpha with a CORS origin for the micro-frontends; `extra` merged into
/// its `sessions` settings.
fn sites(sessions: Value) -> Vec<(String, Value)> {
    let mut alpha = site("alpha", "alpha", ALPHA_SECRET);
    alpha["cors"] = json!({"allowed_origins": [APP_ORIGIN], "allow_credentials": true});
    alpha["sessions"] = sessions;
    vec![("alpha.json".into(), alpha), ("beta.json".into(), site("beta", "beta", BETA_SECRET))]
}

/// The `Set-Cookie` headers of a response, by cookie name.
fn set_cookies(response: &Response) -> Vec<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .map(|c| (c.split('=').next().unwrap().to_owned(), c))
        .collect()
}

fn cookie<'a>(cookies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    cookies.iter().find(|(n, _)| n == name).map(|(_, c)| c.as_str())
}

/// The value of a `Set-Cookie` line.
fn value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// A CSRF token and the `csrftoken` cookie that goes with it.
async fn csrf(server: &TestServer, host: &str) -> (String, String) {
    let response = server.request(Method::GET, host, "/csrf/api/v1/token").send().await.unwrap();
    let cookies = set_cookies(&response);
    let secret = value(cookie(&cookies, "csrftoken").unwrap()).to_owned();
    let token = body_json(response).await["csrfToken"].as_str().unwrap().to_owned();
    (token, format!("csrftoken={secret}"))
}

async fn login(server: &TestServer, form: &str) -> Response {
    login_on(server, "alpha.test", form).await
}

async fn login_on(server: &TestServer, host: &str, form: &str) -> Response {
    let (token, csrf_cookie) = csrf(server, host).await;
    server
        .request(Method::POST, host, LOGIN_API)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrftoken", token)
        .header("cookie", csrf_cookie)
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
}

async fn refresh(server: &TestServer, session: Option<&str>) -> Response {
    let mut request = server.request(Method::POST, "alpha.test", "/login_refresh").header("origin", APP_ORIGIN);
    if let Some(key) = session {
        request = request.header("cookie", format!("sessionid={key}"));
    }
    request.send().await.unwrap()
}

/// The JWT cookie pair of a response, as a Cookie header.
fn jwt_cookie_header(cookies: &[(String, String)]) -> String {
    format!(
        "edx-jwt-cookie-header-payload={}; edx-jwt-cookie-signature={}",
        value(cookie(cookies, "edx-jwt-cookie-header-payload").unwrap()),
        value(cookie(cookies, "edx-jwt-cookie-signature").unwrap()),
    )
}

async fn me_with_cookies(server: &TestServer, cookies: &str) -> (StatusCode, Value) {
    let response =
        server.request(Method::GET, "alpha.test", "/api/user/v1/me").header("cookie", cookies).send().await.unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

async fn login_sets_the_session_and_jwt_cookies(b: Backend) {
    let server = TestServer::start_with(b, sites(json!({"cookie_domain": ".alpha.test"})), &[]).await;
    server.create_user("alpha", "alice", &["--password", PASSWORD]).await;
    let response = login(&server, &format!("email_or_username=alice&password={PASSWORD}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_eq!(body_json(response).await, json!({"success": true, "redirect_url": null}));
    let session = cookie(&cookies, "sessionid").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Domain=.alpha.test"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    assert_eq!(value(session).len(), 64);
    let header_payload = cookie(&cookies, "edx-jwt-cookie-header-payload").unwrap();
    assert!(!header_payload.contains("HttpOnly"), "the MFE reads it: {header_payload}");
    assert!(cookie(&cookies, "edx-jwt-cookie-signature").unwrap().contains("HttpOnly"));
    assert!(cookie(&cookies, "csrftoken").is_some(), "the CSRF secret is rotated at login");
    // The JWT cookies authenticate the user.
    let (status, body) = me_with_cookies(&server, &jwt_cookie_header(&cookies)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"username": "alice"})));
    // The session is stored hashed, never as its cookie value.
    let rows = server.query("SELECT key_hash FROM sessions", &[]).await;
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0][0].as_deref(), Some(value(session)));

    // By e-mail, with a JSON body, and over HTTPS (behind a proxy): Secure cookies.
    let (token, csrf_cookie) = csrf(&server, "alpha.test").await;
    let response = server
        .request(Method::POST, "alpha.test", LOGIN_API)
        .header("content-type", "application/json")
        .header("x-csrftoken", token)
        .header("cookie", csrf_cookie)
        .header("x-forwarded-proto", "https")
        .header("origin", APP_ORIGIN)
        .body(json!({"email_or_username": "alice@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(cookie(&set_cookies(&response), "sessionid").unwrap().contains("; Secure"));
}

async fn login_failures_answer_open_edx_shapes(b: Backend) {
    let server = TestServer::start_with(b, sites(json!({})), &[]).await;
    server.create_user("alpha", "alice", &["--password", PASSWORD]).await;
    let incorrect = |email: &str| {
        json!({"success": false, "value": "Email or password is incorrect.",
               "error_code": "incorrect-email-or-password", "context": {"failure_count": 0}, "email": email})
    };
    for (form, name) in
        [("email_or_username=alice&password=wrong", "alice"), ("email_or_username=nobody&password=x", "nobody")]
    {
        let response = login(&server, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form}");
        assert!(set_cookies(&response).iter().all(|(n, _)| n != "sessionid"), "{form}");
        assert_eq!(body_json(response).await, incorrect(name), "{form}");
    }
    let response = login(&server, "email_or_username=alice").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(response).await,
        json!({"success": false, "value": "There was an error receiving your login information. Please email us.",
               "email": "alice"})
    );
    // The right password for an account not yet activated: Open edX's inactive-user answer.
    server.create_user("alpha", "ivy", &["--password", PASSWORD, "--inactive"]).await;
    let response = login(&server, &format!("email_or_username=ivy&password={PASSWORD}")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(&response).iter().all(|(n, _)| n != "sessionid"));
    assert_eq!(
        body_json(response).await,
        json!({"success": false, "error_code": "inactive-user",
               "context": {"platformName": "Your Platform Name Here", "supportLink": ""}, "email": "ivy"})
    );
    // CSRF-protected, as in Open edX.
    let response = server
        .request(Method::POST, "alpha.test", LOGIN_API)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email_or_username=alice&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await, json!({"detail": "CSRF Failed: CSRF cookie not set."}));
    // Another tenant's site does not know alice.
    let response = login_on(&server, "beta.test", &format!("email_or_username=alice&password={PASSWORD}")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await, incorrect("alice"));
    assert!(server.query("SELECT key_hash FROM sessions", &[]).await.is_empty());
}

async fn login_attempts_are_rate_limited(b: Backend) {
    let server =
        TestServer::start_with(b, sites(json!({"attempts_per_account": 3, "attempts_per_address": 6})), &[]).await;
    server.create_user("alpha", "alice", &["--password", PASSWORD]).await;
    server.create_user("alpha", "bob", &["--password", PASSWORD]).await;
    for _ in 0..3 {
        assert_eq!(login(&server, "email_or_username=alice&password=wrong").await.status(), StatusCode::BAD_REQUEST);
    }
    // The account's fourth attempt is refused even with the right password.
    let response = login(&server, &format!("email_or_username=Alice&password={PASSWORD}")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(&response).iter().all(|(n, _)| n != "sessionid"));
    assert_eq!(
        body_json(response).await,
        json!({"success": false, "value": "Too many failed login attempts. Try again later.", "email": "Alice"})
    );
    // Another account from the same address still gets in, until the address's limit.
    assert_eq!(login(&server, &format!("email_or_username=bob&password={PASSWORD}")).await.status(), StatusCode::OK);
    assert_eq!(login(&server, "email_or_username=carol&password=x").await.status(), StatusCode::BAD_REQUEST);
    let response = login(&server, &format!("email_or_username=bob&password={PASSWORD}")).await;
    assert_eq!(body_json(response).await["value"], "Too many failed login attempts. Try again later.");
}

async fn refresh_needs_a_live_session(b: Backend) {
    let server = TestServer::start_with(b, sites(json!({})), &[]).await;
    server.create_user("alpha", "alice", &["--password", PASSWORD]).await;
    let response = refresh(&server, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(body_json(response).await, json!("Unauthorized"));
    assert_eq!(refresh(&server, Some(&"0".repeat(64))).await.status(), StatusCode::UNAUTHORIZED);

    let response = login(&server, &format!("email_or_username=alice&password={PASSWORD}")).await;
    let cookies = set_cookies(&response);
    let key = value(cookie(&cookies, "sessionid").unwrap()).to_owned();
    let response = refresh(&server, Some(&key)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["access-control-allow-origin"], APP_ORIGIN);
    let fresh = set_cookies(&response);
    assert_eq!(me_with_cookies(&server, &jwt_cookie_header(&fresh)).await.0, StatusCode::OK);
    // The session lives in the database: another instance honours it.
    let other = server.another_instance().await;
    assert_eq!(refresh(&other, Some(&key)).await.status(), StatusCode::NO_CONTENT);
    // A session of one tenant is nothing on another's sites.
    let response = server
        .request(Method::POST, "beta.test", "/login_refresh")
        .header("cookie", format!("sessionid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Logout ends it and clears the cookies.
    let response = server
        .request(Method::GET, "alpha.test", "/logout")
        .header("cookie", format!("sessionid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = set_cookies(&response);
    for name in ["sessionid", "edx-jwt-cookie-header-payload", "edx-jwt-cookie-signature"] {
        assert!(cookie(&cleared, name).unwrap().contains("Max-Age=0"), "{name}");
    }
    assert_eq!(refresh(&server, Some(&key)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&other, Some(&key)).await.status(), StatusCode::UNAUTHORIZED);
}

async fn deactivation_ends_every_session(b: Backend) {
    let server = TestServer::start_with(b, sites(json!({})), &[]).await;
    server.create_user("alpha", "dora", &["--password", PASSWORD]).await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let response = login(&server, &format!("email_or_username=dora&password={PASSWORD}")).await;
        keys.push(value(cookie(&set_cookies(&response), "sessionid").unwrap()).to_owned());
    }
    assert_eq!(refresh(&server, Some(&keys[0])).await.status(), StatusCode::NO_CONTENT);
    let dora = server.token("alpha", "dora").await;
    let response = server
        .request(Method::POST, "alpha.test", "/api/user/v1/accounts/deactivate_logout/")
        .header("authorization", format!("JWT {dora}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for key in &keys {
        assert_eq!(refresh(&server, Some(key)).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(server.query("SELECT key_hash FROM sessions", &[]).await.is_empty());
    // Staff deactivation too.
    server.create_user("alpha", "staffer", &["--staff"]).await;
    let out = server
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
    server.create_user("alpha", "eve", &["--password", PASSWORD]).await;
    let response = login(&server, &format!("email_or_username=eve&password={PASSWORD}")).await;
    let key = value(cookie(&set_cookies(&response), "sessionid").unwrap()).to_owned();
    let staffer = server.token("alpha", "staffer").await;
    let response = server
        .request(Method::POST, "alpha.test", "/api/user/v1/accounts/eve/deactivate/")
        .header("authorization", format!("JWT {staffer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(refresh(&server, Some(&key)).await.status(), StatusCode::UNAUTHORIZED);
}

async fn login_page_redirects_only_to_trusted_origins(b: Backend) {
    let server = &TestServer::start_with(b, sites(json!({})), &[]).await;
    server.create_user("alpha", "alice", &["--password", PASSWORD]).await;
    let submit = |next: &'static str, password: &'static str| async move {
        let page = server
            .request(Method::GET, "alpha.test", &format!("/login?next={}", urlencode(next)))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csrf_cookie = value(cookie(&set_cookies(&page), "csrftoken").unwrap()).to_owned();
        let html = page.text().await.unwrap();
        assert!(!html.contains("<script"), "a plain page");
        let token =
            html.split("name=\"csrfmiddlewaretoken\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        server
            .request(Method::POST, "alpha.test", "/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("csrftoken={csrf_cookie}"))
            .body(format!(
                "csrfmiddlewaretoken={token}&email_or_username=alice&password={password}&next={}",
                urlencode(next)
            ))
            .send()
            .await
            .unwrap()
    };
    for next in ["https://apps.alpha.test/account/", "/api/user/v1/me", "http://alpha.test:8000/x?y=1"] {
        let response = submit(next, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{next}");
        assert_eq!(response.headers()["location"], next);
        assert!(cookie(&set_cookies(&response), "sessionid").is_some());
    }
    for next in [
        "https://evil.test/",
        "//evil.test/",
        "/\\evil.test",
        "https://apps.alpha.test.evil.test/",
        "https://alpha.test@evil.test/",
        "javascript:alert(1)",
        "https://beta.test/",
    ] {
        let response = submit(next, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{next}");
        assert!(response.headers().get("location").is_none(), "{next}");
        assert!(response.text().await.unwrap().contains("signed in as alice"), "{next}");
    }
    let response = submit("https://apps.alpha.test/", "wrong").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(cookie(&set_cookies(&response), "sessionid").is_none());
    assert!(response.text().await.unwrap().contains("Email or password is incorrect."));
    // Without the form's CSRF token: refused, no session.
    let response = server
        .request(Method::POST, "alpha.test", "/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email_or_username=alice&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(cookie(&set_cookies(&response), "sessionid").is_none());
    // Logout redirects the same way.
    for (target, redirected) in [("https://apps.alpha.test/", true), ("https://evil.test/", false)] {
        let response = server
            .request(Method::GET, "alpha.test", &format!("/logout?redirect_url={}", urlencode(target)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status() == StatusCode::FOUND, redirected, "{target}");
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded_byte_serialize(text)
}

fn form_urlencoded_byte_serialize(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

backend_tests!(
    login_sets_the_session_and_jwt_cookies,
    login_failures_answer_open_edx_shapes,
    login_attempts_are_rate_limited,
    refresh_needs_a_live_session,
    deactivation_ends_every_session,
    login_page_redirects_only_to_trusted_origins,
);
