//! The served OpenAPI document (issue 15): valid OpenAPI 3.1, every route
//! of the router in it and nothing more, and real answers matching the
//! schemas it gives.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::{body_json, Backend, TestServer};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(server: &TestServer) -> Value {
    let response = server.request(Method::GET, "anything", "/api/user/v1/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await
}

/// Every `(path, method, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// Every JSON pointer `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().expect("$ref is a string").to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Every Schema Object of the document: components, parameters, bodies.
fn schemas(doc: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas")
        .iter()
        .map(|(name, s)| (format!("components/{name}"), s.clone()))
        .collect();
    for (path, method, op) in operations(doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            out.push((format!("{method} {path} parameter {}", p["name"]), p["schema"].clone()));
        }
        for (media, c) in op["requestBody"]["content"].as_object().into_iter().flatten() {
            out.push((format!("{method} {path} body {media}"), c["schema"].clone()));
        }
        for (status, r) in op["responses"].as_object().expect("responses") {
            for (media, c) in r["content"].as_object().into_iter().flatten() {
                out.push((format!("{method} {path} {status} {media}"), c["schema"].clone()));
            }
        }
    }
    out
}

/// The document validates against the OpenAPI 3.1 schema, every schema in
/// it is a valid JSON Schema 2020-12, every `$ref` resolves, every path
/// parameter is declared, operation ids are unique, and every operation
/// describes its answers.
async fn document_is_valid_openapi_3_1(b: Backend) {
    let server = TestServer::start(b).await;
    let doc = document(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let printed = server.cli(&["openapi"]).await;
    assert!(printed.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&printed.stdout).expect("JSON"), doc, "the CLI prints what is served");

    let oas: Value =
        serde_json::from_str(include_str!("fixtures/oas-3.1-schema.json")).expect("the OpenAPI 3.1 schema");
    let validator = jsonschema::draft202012::new(&oas).expect("the OpenAPI 3.1 schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1: {errors:#?}");

    for (where_, schema) in schemas(&doc) {
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{where_}: not a JSON Schema 2020-12: {e}");
        }
    }

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r}: only local references"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }

    let mut ids = HashSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} repeated");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
        let templated: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("parameter name"))
            .collect();
        assert_eq!(templated, declared, "{method} {path}: path parameters");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path}: no success answer documented"
        );
        for (status, r) in responses {
            assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} {status}");
        }
        if op.get("security").is_some() {
            assert!(responses.contains_key("401"), "{method} {path}: needs a user but documents no 401");
        }
    }
}

/// `path` with each `{param}` filled with a value its route accepts.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{username}" => "someone",
            "{key}" => "some_key",
            "{file}" => "missing_50.jpg",
            "{org}" => "SomeOrg",
            other => {
                assert!(!other.starts_with('{'), "no sample value for {other}");
                other
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The route templates the server's metrics saw for `method`.
fn metric_routes(metrics: &str, method: &str) -> HashSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("userapi_http_requests_total{"))
        .filter(|l| l.contains(&format!("method=\"{method}\"")))
        .filter_map(|l| Some(l.split("route=\"").nth(1)?.split('"').next()?.to_owned()))
        .collect()
}

/// Every documented operation is served: calling it is matched by its own
/// route template (not by the fallback, not answered 405). And no route
/// escapes the document: the host adds routes only through the documented
/// router (`http/openapi`), which the source is checked for.
async fn every_route_is_documented(b: Backend) {
    let server = TestServer::start(b).await;
    let doc = document(&server).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 50, "only {} operations documented", ops.len());
    for (path, method, _) in &ops {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = server.request(m, "alpha.test", &concrete(path)).send().await.unwrap();
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented, not served");
    }
    let metrics = server.request(Method::GET, "anything", "/metrics").send().await.unwrap().text().await.unwrap();
    for (path, method, _) in &ops {
        let seen = metric_routes(&metrics, &method.to_uppercase());
        assert!(seen.contains(path), "{method} {path}: documented but no route with that template answered");
    }

    // Routes reach axum only through `http::openapi::Routes`, which takes a
    // handler together with its documentation.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bypasses = Vec::new();
    scan(&src, &mut |file, text| {
        if file.components().any(|c| c.as_os_str() == "openapi") {
            return;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let bypass = ["routing::", "MethodRouter", "route_service(", ".nest(", "nest_service(", "Router::route("]
                .iter()
                .any(|needle| code.contains(needle));
            if bypass {
                bypasses.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    });
    assert!(bypasses.is_empty(), "routes added outside the documented router: {bypasses:#?}");
}

fn scan(dir: &Path, visit: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            scan(&path, visit);
        } else if path.extension().is_some_and(|e| e == "rs") {
            visit(&path, &std::fs::read_to_string(&path).expect("read source"));
        }
    }
}

/// Checks `response` against what the document says `method path` answers
/// with its status: the body matches the schema, or is empty when the
/// document gives none.
async fn conforms(doc: &Value, method: &str, path: &str, response: Response) -> Value {
    let status = response.status().as_u16().to_string();
    let answer = &doc["paths"][path][method]["responses"][&status];
    assert!(answer.is_object(), "{method} {path} answered {status}, which the document does not list");
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
    let bytes = response.bytes().await.unwrap();
    let Some(content) = answer["content"].as_object() else {
        assert!(bytes.is_empty(), "{method} {path} {status}: documented without a body, got one");
        return Value::Null;
    };
    if bytes.is_empty() {
        assert!(answer["description"].as_str().unwrap().contains("empty"), "{method} {path} {status}: empty body");
        return Value::Null;
    }
    let media = media.unwrap_or_default();
    let schema =
        &content.get(&media).unwrap_or_else(|| panic!("{method} {path} {status}: {media} not documented"))["schema"];
    if media != "application/json" {
        return Value::Null;
    }
    let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
    let root = json!({"components": doc["components"], "allOf": [schema]});
    let validator = jsonschema::draft202012::options().should_validate_formats(true).build(&root).expect("schema");
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}: {errors:#?}\nbody: {body}");
    body
}

/// Real answers, successes and errors, match the schemas the document gives.
async fn answers_match_the_document(b: Backend) {
    let server = TestServer::start(b).await;
    let doc = document(&server).await;
    server.create_user("alpha", "alice", &["--password", "Correct-Horse-9"]).await;
    server.create_user("alpha", "staffer", &["--staff"]).await;
    let alice = server.token("alpha", "alice").await;
    let staff = server.token("alpha", "staffer").await;
    let as_user = |m: Method, path: &str, token: &str| {
        server.request(m, "alpha.test", path).header("authorization", format!("JWT {token}"))
    };
    let send = |r: reqwest::RequestBuilder| async move { r.send().await.unwrap() };

    let patched = send(
        as_user(Method::PATCH, "/api/user/v1/accounts/alice", &alice)
            .header("content-type", "application/merge-patch+json")
            .body(
                json!({"bio": "Hi", "country": "FR", "year_of_birth": 1990,
                       "language_proficiencies": [{"code": "fr"}],
                       "social_links": [{"platform": "facebook", "social_link": "https://www.facebook.com/alice"}]})
                .to_string(),
            ),
    )
    .await;
    let account = conforms(&doc, "patch", "/api/user/v1/accounts/{username}", patched).await;
    assert_eq!(account["country"], "FR", "{account}");
    assert_eq!(account.as_object().unwrap().len(), 28, "the owner sees every key");
    let bad = send(
        as_user(Method::PATCH, "/api/user/v1/accounts/alice", &alice)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"country": "XX", "username": "bob"}).to_string()),
    )
    .await;
    let errors = conforms(&doc, "patch", "/api/user/v1/accounts/{username}", bad).await;
    assert!(errors["field_errors"]["country"].is_object(), "{errors}");
    let wrong_type = send(
        as_user(Method::PATCH, "/api/user/v1/accounts/alice", &alice).header("content-type", "text/plain").body("x"),
    )
    .await;
    conforms(&doc, "patch", "/api/user/v1/accounts/{username}", wrong_type).await;

    let path = "/api/user/v1/accounts/{username}";
    conforms(&doc, "get", path, send(as_user(Method::GET, "/api/user/v1/accounts/alice", &alice)).await).await;
    let other = conforms(&doc, "get", path, send(as_user(Method::GET, "/api/user/v1/accounts/alice", &staff)).await);
    other.await;
    let shared = send(as_user(Method::GET, "/api/user/v1/accounts/staffer?view=shared", &alice)).await;
    conforms(&doc, "get", path, shared).await;
    conforms(&doc, "get", path, send(as_user(Method::GET, "/api/user/v1/accounts/nobody", &alice)).await).await;
    conforms(&doc, "get", path, send(server.request(Method::GET, "alpha.test", "/api/user/v1/accounts/alice")).await)
        .await;
    let list = send(as_user(Method::GET, "/api/user/v1/accounts?username=alice,staffer", &alice)).await;
    conforms(&doc, "get", "/api/user/v1/accounts", list).await;
    let by_email = send(as_user(Method::GET, "/api/user/v1/accounts?email=alice@example.com", &alice)).await;
    conforms(&doc, "get", "/api/user/v1/accounts", by_email).await;
    conforms(&doc, "get", "/api/user/v1/me", send(as_user(Method::GET, "/api/user/v1/me", &alice)).await).await;
    let search = send(
        as_user(Method::POST, "/api/user/v1/accounts/search_emails", &staff)
            .header("content-type", "application/json")
            .body(json!({"emails": ["alice@example.com"]}).to_string()),
    )
    .await;
    conforms(&doc, "post", "/api/user/v1/accounts/search_emails", search).await;
    let not_json = send(
        as_user(Method::POST, "/api/user/v1/accounts/search_emails", &staff)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    conforms(&doc, "post", "/api/user/v1/accounts/search_emails", not_json).await;

    let prefs = "/api/user/v1/preferences/{username}";
    let set = send(
        as_user(Method::PATCH, "/api/user/v1/preferences/alice", &alice)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"pref-lang": "fr"}).to_string()),
    )
    .await;
    conforms(&doc, "patch", prefs, set).await;
    conforms(&doc, "get", prefs, send(as_user(Method::GET, "/api/user/v1/preferences/alice", &alice)).await).await;
    let denied = send(as_user(Method::GET, "/api/user/v1/preferences/staffer", &alice)).await;
    conforms(&doc, "get", prefs, denied).await;
    let one = send(as_user(Method::GET, "/api/user/v1/preferences/alice/time_zone", &alice)).await;
    conforms(&doc, "get", "/api/user/v1/preferences/{username}/{key}", one).await;
    let zones = send(server.request(Method::GET, "alpha.test", "/api/user/v1/preferences/time_zones/?country_code=fr"));
    conforms(&doc, "get", "/api/user/v1/preferences/time_zones/", zones.await).await;

    let token = send(
        server
            .request(Method::POST, "alpha.test", "/oauth2/access_token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=nope&client_secret=nope"),
    )
    .await;
    conforms(&doc, "post", "/oauth2/access_token", token).await;
    let csrf = send(server.request(Method::GET, "alpha.test", "/csrf/api/v1/token")).await;
    conforms(&doc, "get", "/csrf/api/v1/token", csrf).await;
    let validation = send(
        server
            .request(Method::POST, "alpha.test", "/api/user/v1/validation/registration")
            .header("content-type", "application/json")
            .body(json!({"username": "alice", "email": "not-an-email"}).to_string()),
    )
    .await;
    conforms(&doc, "post", "/api/user/v1/validation/registration", validation).await;
    let form = send(server.request(Method::GET, "alpha.test", "/user_api/v1/account/registration/")).await;
    conforms(&doc, "get", "/user_api/v1/account/registration/", form).await;
    let fields = send(server.request(Method::GET, "alpha.test", "/api/user/v1/extended_profile_fields")).await;
    conforms(&doc, "get", "/api/user/v1/extended_profile_fields", fields).await;

    let status = send(as_user(Method::GET, "/api/user/v1/accounts/alice/retirement_status/", &alice)).await;
    conforms(&doc, "get", "/api/user/v1/accounts/{username}/retirement_status/", status).await;
    let reset = send(
        as_user(Method::POST, "/admin/v1/retirement/partner_reporting/reset", &alice)
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    conforms(&doc, "post", "/admin/v1/retirement/partner_reporting/reset", reset).await;
    let deactivate = send(
        as_user(Method::POST, "/api/user/v1/accounts/deactivate_logout/", &alice)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("password=wrong"),
    )
    .await;
    conforms(&doc, "post", "/api/user/v1/accounts/deactivate_logout/", deactivate).await;

    for path in ["/health", "/ready"] {
        conforms(&doc, "get", path, send(server.request(Method::GET, "anything", path)).await).await;
    }
    let unknown_site = send(server.request(Method::GET, "nowhere.test", "/api/user/v1/me")).await;
    assert_eq!(unknown_site.status(), StatusCode::NOT_FOUND, "described in the document's introduction");
}

/// The browsable page and its script are served from the binary, with a
/// policy that allows nothing from elsewhere.
async fn docs_page_is_bundled(b: Backend) {
    let server = TestServer::start(b).await;
    let page = server.request(Method::GET, "anything", "/api/user/v1/docs").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("spec-url=\"/api/user/v1/openapi.json\""), "{html}");
    assert!(!html.contains("https://"), "no CDN: {html}");
    let script = server.request(Method::GET, "anything", "/api/user/v1/docs/rapidoc-min.js").send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.bytes().await.unwrap().len() > 500_000, "the whole RapiDoc bundle");
}

backend_tests!(
    document_is_valid_openapi_3_1,
    every_route_is_documented,
    answers_match_the_document,
    docs_page_is_bundled
);
