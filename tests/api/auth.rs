//! Authentication over HTTP: JWT and Bearer headers, cookies with CSRF,
//! tenants, and every way a token can be wrong (errors.md §4–5).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const ME: &str = "/api/user/v1/me";

async fn me_with(server: &TestServer, host: &str, authorization: &str) -> (StatusCode, Value, Option<String>) {
    let response = server.request(Method::GET, host, ME).header("authorization", authorization).send().await.unwrap();
    let status = response.status();
    let www = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, body_json(response).await, www)
}

async fn me_answers_the_callers_username(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let token = server.token("alpha", "alice").await;
    for prefix in ["JWT", "jwt", "Bearer"] {
        let (status, body, _) = me_with(&server, "alpha.test", &format!("{prefix} {token}")).await;
        assert_eq!(status, StatusCode::OK, "{prefix}");
        assert_eq!(body, json!({"username": "alice"}));
    }
}

async fn no_credentials_is_401_with_www_authenticate(b: Backend) {
    let server = TestServer::start(b).await;
    let response = server.request(Method::GET, "alpha.test", ME).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "JWT realm=\"api\"");
    assert_eq!(body_json(response).await, json!({"detail": "Authentication credentials were not provided."}));
}

async fn expired_token_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let mut claims = alpha_claims("alice");
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 60);
    let (status, body, www) =
        me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Token has expired."}));
    assert_eq!(www.as_deref(), Some("JWT realm=\"api\""));
    let (status, body, _) =
        me_with(&server, "alpha.test", &format!("Bearer {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "token_expired");
}

async fn wrong_key_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let token = mint_hs256("not-the-alpha-secret-at-all-000", &alpha_claims("alice"));
    let (status, body, _) = me_with(&server, "alpha.test", &format!("JWT {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Error decoding token."}));
    let (status, body, _) = me_with(&server, "alpha.test", &format!("Bearer {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "token_nonexistent");
}

async fn wrong_issuer_or_audience_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    for (claim, value) in [("iss", "https://evil.test/oauth2"), ("aud", "other-api")] {
        let mut claims = alpha_claims("alice");
        claims[claim] = json!(value);
        let (status, body, _) =
            me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{claim}");
        assert_eq!(body, json!({"detail": "Invalid token."}), "{claim}");
    }
    // A newer major version than we support is refused too; a missing one is fine.
    let mut claims = alpha_claims("alice");
    claims["version"] = json!("2.0.0");
    let (status, _, _) = me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    claims.as_object_mut().unwrap().remove("version");
    let (status, _, _) = me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::OK);
}

/// A token signed with the site's key is still refused when it lacks a claim
/// we check, or is not valid yet (nbf) or issued in the future (iat), beyond
/// the site's leeway of one second.
async fn missing_or_premature_claims_are_401(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let jwt = |claims: &Value| format!("JWT {}", mint_hs256(ALPHA_SECRET, claims));
    for missing in ["iss", "aud", "exp"] {
        let mut claims = alpha_claims("alice");
        claims.as_object_mut().unwrap().remove(missing);
        let (status, body, _) = me_with(&server, "alpha.test", &jwt(&claims)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "without {missing}");
        assert_eq!(body, json!({"detail": "Invalid token."}), "without {missing}");
    }
    for (claim, offset) in [("nbf", 3600), ("iat", 3600), ("nbf", 30), ("iat", 30)] {
        let mut claims = alpha_claims("alice");
        claims[claim] = json!(now() + offset);
        let (status, body, _) = me_with(&server, "alpha.test", &jwt(&claims)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{claim} {offset}s ahead");
        assert_eq!(body, json!({"detail": "Invalid token."}), "{claim} {offset}s ahead");
    }
    // Within the leeway, and in the past, both are fine; so is a token without iat.
    let mut claims = alpha_claims("alice");
    claims["nbf"] = json!(now() - 10);
    claims["iat"] = json!(now());
    assert_eq!(me_with(&server, "alpha.test", &jwt(&claims)).await.0, StatusCode::OK);
    claims.as_object_mut().unwrap().remove("iat");
    assert_eq!(me_with(&server, "alpha.test", &jwt(&claims)).await.0, StatusCode::OK);
}

async fn alg_none_is_401(b: Backend) {
    use base64::Engine;
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    for alg in ["none", "None", "NONE"] {
        let token = format!("{}.{}.", enc(&json!({"alg": alg, "typ": "JWT"})), enc(&alpha_claims("alice")));
        let (status, body, _) = me_with(&server, "alpha.test", &format!("JWT {token}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{alg}");
        assert_eq!(body, json!({"detail": "Error decoding token."}));
    }
}

async fn token_from_another_tenant_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    server.create_user("beta", "alice", &[]).await;
    let alpha_token = server.token("alpha", "alice").await;
    let beta_token = server.token("beta", "alice").await;
    // Same username in both tenants: each token only works on its own tenant's sites.
    let (status, _, _) = me_with(&server, "beta.test", &format!("JWT {alpha_token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = me_with(&server, "alpha.test", &format!("JWT {beta_token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Sites of one tenant share accounts and tokens.
    let (status, body, _) = me_with(&server, "alpha2.test", &format!("JWT {alpha_token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "alice");
}

async fn token_for_unknown_user_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    let token = mint_hs256(ALPHA_SECRET, &alpha_claims("ghost"));
    let (status, body, _) = me_with(&server, "alpha.test", &format!("JWT {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Invalid token."}));
    let mut claims = alpha_claims("ghost");
    claims.as_object_mut().unwrap().remove("preferred_username");
    let (status, body, _) = me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "JWT must include a preferred_username or username claim!"}));
}

async fn malformed_authorization_headers_are_401(b: Backend) {
    let server = TestServer::start(b).await;
    let cases = [
        ("JWT", json!({"detail": "Invalid Authorization header. No credentials provided."})),
        ("JWT a b", json!({"detail": "Invalid Authorization header. Credentials string should not contain spaces."})),
        (
            "Bearer",
            json!({"error_code": "token_not_provided", "developer_message": "Invalid token header. No credentials provided."}),
        ),
        (
            "Bearer a b",
            json!({"error_code": "token_malformed", "developer_message": "Invalid token header. Token string should not contain spaces."}),
        ),
        ("JWT garbage", json!({"detail": "Error decoding token."})),
    ];
    for (header, expected) in cases {
        let (status, body, _) = me_with(&server, "alpha.test", header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(body, expected, "{header}");
    }
}

async fn revoked_tokens_stop_working(b: Backend) {
    let server = TestServer::start(b).await;
    let id = server.create_user("alpha", "alice", &[]).await;
    let token = server.token("alpha", "alice").await;
    assert_eq!(server.get_as("alpha.test", ME, &token).await.status(), StatusCode::OK);
    // Deactivation and retirement revoke every token issued up to now.
    server
        .sql("UPDATE users SET tokens_revoked_at = $1 WHERE id = $2", &[SqlValue::Int(now()), SqlValue::Int(id)])
        .await;
    let response = server.get_as("alpha.test", ME, &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await, json!({"detail": "Invalid token."}));
}

async fn restricted_tokens_are_403(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let mut claims = alpha_claims("alice");
    claims["is_restricted"] = json!(true);
    let (status, body, _) = me_with(&server, "alpha.test", &format!("JWT {}", mint_hs256(ALPHA_SECRET, &claims))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"detail": "You do not have permission to perform this action."}));
}

fn jwks_site() -> Value {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    let jwks: Value = serde_json::from_str(include_str!("fixtures/public_jwks.json")).unwrap();
    config["jwt"]["public_jwks"] = jwks;
    config
}

async fn asymmetric_tokens_verify_with_the_sites_jwks(b: Backend) {
    let server = TestServer::start_with(b, vec![("alpha.json".into(), jwks_site())], &[]).await;
    server.create_user("alpha", "alice", &[]).await;
    let claims = alpha_claims("alice");
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa_private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("fixtures/ec_private.pem")).unwrap();
    let mut rs256 = Header::new(Algorithm::RS256);
    rs256.kid = Some("test-rsa".into());
    let token = jsonwebtoken::encode(&rs256, &claims, &rsa).unwrap();
    assert_eq!(me_with(&server, "alpha.test", &format!("JWT {token}")).await.0, StatusCode::OK);
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &ec).unwrap();
    assert_eq!(me_with(&server, "alpha.test", &format!("JWT {token}")).await.0, StatusCode::OK);
    // The JWK pins RS256: the same key signing RS512 is refused.
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, &rsa).unwrap();
    assert_eq!(me_with(&server, "alpha.test", &format!("JWT {token}")).await.0, StatusCode::UNAUTHORIZED);
    // HS/RS confusion: HS256 keyed with the public key's text is refused.
    let public_pem = include_str!("fixtures/rsa_public.pem");
    let token = mint_hs256(public_pem, &claims);
    assert_eq!(me_with(&server, "alpha.test", &format!("JWT {token}")).await.0, StatusCode::UNAUTHORIZED);
}

/// The JWT cookie pair of the micro-frontends.
fn cookie_header(token: &str) -> String {
    let (header_payload, signature) = token.rsplit_once('.').unwrap();
    format!("edx-jwt-cookie-header-payload={header_payload}; edx-jwt-cookie-signature={signature}")
}

async fn cookies_authenticate_and_unsafe_methods_need_csrf(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "staff", &["--staff"]).await;
    let token = server.token("alpha", "staff").await;
    let cookies = cookie_header(&token);
    let response = server.request(Method::GET, "alpha.test", ME).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await, json!({"username": "staff"}));

    let search = "/api/user/v1/accounts/search_emails";
    let body = json!({"emails": ["staff@example.com"]}).to_string();
    let post = |cookie: String, csrf: Option<String>| {
        let mut r = server
            .request(Method::POST, "alpha.test", search)
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(c) = csrf {
            r = r.header("x-csrftoken", c);
        }
        r.send()
    };
    let response = post(cookies.clone(), None).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await, json!({"detail": "CSRF Failed: CSRF cookie not set."}));

    let response = server.request(Method::GET, "alpha.test", "/csrf/api/v1/token").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let csrf_cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf_token = body_json(response).await["csrfToken"].as_str().unwrap().to_owned();
    assert_eq!(csrf_token.len(), 64);

    let response = post(format!("{cookies}; {csrf_cookie}"), None).await.unwrap();
    assert_eq!(body_json(response).await, json!({"detail": "CSRF Failed: CSRF token missing."}));
    let wrong = "a".repeat(64);
    let response = post(format!("{cookies}; {csrf_cookie}"), Some(wrong)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post(format!("{cookies}; {csrf_cookie}"), Some(csrf_token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await[0]["username"], "staff");

    // Header authentication needs no CSRF token.
    let response = server
        .request(Method::POST, "alpha.test", search)
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn invalid_cookie_tokens_count_as_no_credentials(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let token = mint_hs256("not-the-alpha-secret-at-all-000", &alpha_claims("alice"));
    let response =
        server.request(Method::GET, "alpha.test", ME).header("cookie", cookie_header(&token)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await, json!({"detail": "Authentication credentials were not provided."}));
}

async fn cors_echoes_only_listed_origins(b: Backend) {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["cors"] = json!({"allowed_origins": ["https://apps.alpha.test"], "allow_credentials": true});
    let server = TestServer::start_with(b, vec![("alpha.json".into(), config)], &[]).await;
    let preflight = |origin: &'static str| {
        server
            .request(Method::OPTIONS, "alpha.test", ME)
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "content-type, x-csrftoken")
            .send()
    };
    let response = preflight("https://apps.alpha.test").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "https://apps.alpha.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("x-csrftoken"));
    let response = preflight("https://evil.test").await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let response =
        server.request(Method::GET, "alpha.test", ME).header("origin", "https://apps.alpha.test").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://apps.alpha.test");
}

/// Every answer to an allowed origin carries the CORS headers, including
/// those no handler wrote (unknown paths, 405, 413); other origins get none,
/// and a plain OPTIONS still gets DRF's metadata answer.
async fn cors_headers_on_every_answer(b: Backend) {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["cors"] = json!({"allowed_origins": ["https://apps.alpha.test"], "allow_credentials": true});
    let server =
        TestServer::start_with(b, vec![("alpha.json".into(), config)], &[("USERAPI_MAX_BODY_BYTES", "1000")]).await;
    let allowed = "https://apps.alpha.test";
    let token = {
        server.create_user("alpha", "alice", &[]).await;
        server.token("alpha", "alice").await
    };
    let cases: Vec<(Method, &str, Option<Vec<u8>>, StatusCode)> = vec![
        (Method::GET, "/no/such/path", None, StatusCode::NOT_FOUND),
        (Method::POST, "/no/such/path", Some(b"{}".to_vec()), StatusCode::NOT_FOUND),
        (Method::DELETE, ME, None, StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, ME, None, StatusCode::OK),
        (Method::PATCH, "/api/user/v1/accounts/alice", Some(vec![b'x'; 2000]), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (method, path, body, want) in cases {
        for (origin, expect_headers) in [(allowed, true), ("https://evil.test", false)] {
            let mut request = server
                .request(method.clone(), "alpha.test", path)
                .header("origin", origin)
                .header("authorization", format!("JWT {token}"));
            if let Some(body) = &body {
                request = request.header("content-type", "application/merge-patch+json").body(body.clone());
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), want, "{method} {path}");
            let h = response.headers();
            assert_eq!(h["content-type"], "application/json", "{method} {path}");
            if expect_headers {
                assert_eq!(h["access-control-allow-origin"], allowed, "{method} {path}");
                assert_eq!(h["access-control-allow-credentials"], "true", "{method} {path}");
            } else {
                assert!(h.get("access-control-allow-origin").is_none(), "{method} {path} from {origin}");
                assert!(h.get("access-control-allow-credentials").is_none(), "{method} {path} from {origin}");
            }
        }
    }
    // A preflight for a path that does not exist is still answered for the
    // allowed origin (the browser then sees the real 404).
    let response = server
        .request(Method::OPTIONS, "alpha.test", "/no/such/path")
        .header("origin", allowed)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    // OPTIONS without a preflight is DRF's metadata answer.
    let response = server.request(Method::OPTIONS, "alpha.test", ME).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["renders"], json!(["application/json"]));
}

backend_tests!(
    me_answers_the_callers_username,
    no_credentials_is_401_with_www_authenticate,
    expired_token_is_401,
    wrong_key_is_401,
    wrong_issuer_or_audience_is_401,
    missing_or_premature_claims_are_401,
    alg_none_is_401,
    token_from_another_tenant_is_401,
    token_for_unknown_user_is_401,
    malformed_authorization_headers_are_401,
    revoked_tokens_stop_working,
    restricted_tokens_are_403,
    asymmetric_tokens_verify_with_the_sites_jwks,
    cookies_authenticate_and_unsafe_methods_need_csrf,
    invalid_cookie_tokens_count_as_no_credentials,
    cors_echoes_only_listed_origins,
    cors_headers_on_every_answer,
);
