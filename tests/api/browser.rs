//! The micro-frontends' sequence in a real headless browser (Debian's
//! chromium, driven over WebDriver by chromedriver): a static page on
//! another origin logs in through userapi's login page, then makes the MFE's
//! calls with `fetch(…, {credentials: "include"})`, as frontend-platform
//! does. Nothing comes from the npm registry.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::harness::*;

const PASSWORD: &str = "Correct-Horse-42";
/// Seconds the site's JWTs live: short, so the test sees one expire.
const TOKEN_LIFE: u64 = 5;

/// A chromedriver on a free port, stopped on drop.
struct Driver {
    _child: Child,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (scripts/test.sh installs chromium and chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true) {
                    return Driver { _child: child, url, http };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.expect("webdriver").json().await.expect("webdriver json");
        assert!(answer["value"]["error"].is_null(), "webdriver {path}: {answer}");
        answer["value"].clone()
    }
}

/// A browser session; closed explicitly at the end of the test.
struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl<'a> Browser<'a> {
    async fn open(driver: &'a Driver) -> Browser<'a> {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            },
        }}});
        let session = driver.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        let id = session["sessionId"].as_str().expect("session id").to_owned();
        let browser = Browser { driver, id };
        browser.post("/timeouts", json!({"script": 30_000, "pageLoad": 30_000})).await;
        browser
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver.call(reqwest::Method::POST, &format!("/session/{}{path}", self.id), Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.driver.call(reqwest::Method::GET, &format!("/session/{}{path}", self.id), None).await
    }

    async fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css})).await;
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("element id").to_owned()
    }

    async fn close(self) {
        self.driver.call(reqwest::Method::DELETE, &format!("/session/{}", self.id), None).await;
    }
}

/// A static page on its own origin: every request gets the same HTML.
async fn static_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let html = "<!doctype html><title>app</title><p id=\"app\">the micro-frontend</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{}", address.port())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What the page runs, as frontend-platform would: read the account, PATCH
/// it with the CSRF token, wait for the JWT cookie to expire, refresh it,
/// read again, log out, and try to refresh. Returns each step's outcome.
const MFE_SEQUENCE: &str = r#"
const [api, username, tokenLife, done] = arguments;
const call = async (method, path, init = {}) => {
  const response = await fetch(api + path, {method, credentials: "include", ...init});
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  return {status: response.status, body};
};
(async () => {
  const steps = {};
  steps.read = await call("GET", `/api/user/v1/accounts/${username}`);
  const csrf = await call("GET", "/csrf/api/v1/token");
  steps.patch = await call("PATCH", `/api/user/v1/accounts/${username}`, {
    headers: {"Content-Type": "application/merge-patch+json", "X-CSRFToken": csrf.body.csrfToken},
    body: JSON.stringify({bio: "Written from the browser"}),
  });
  await new Promise(r => setTimeout(r, (tokenLife + 2) * 1000));
  steps.expired = await call("GET", `/api/user/v1/accounts/${username}`);
  steps.refresh = await call("POST", "/login_refresh");
  steps.reread = await call("GET", `/api/user/v1/accounts/${username}`);
  steps.logout = await call("POST", "/logout");
  steps.refresh_after_logout = await call("POST", "/login_refresh");
  steps.read_after_logout = await call("GET", `/api/user/v1/accounts/${username}`);
  return steps;
})().then(done, e => done({error: String(e)}));
"#;

async fn micro_frontend_sequence_in_a_real_browser(b: Backend) {
    let app = static_page().await;
    let mut learn = site("learn", "alpha", ALPHA_SECRET);
    learn["domains"] = json!(["127.0.0.1"]);
    learn["jwt"]["expires_in"] = json!(TOKEN_LIFE);
    learn["cors"] = json!({"allowed_origins": [app], "allow_credentials": true});
    let server = TestServer::start_with(b, vec![("learn.json".into(), learn)], &[]).await;
    server.create_user("learn", "alice", &["--password", PASSWORD]).await;
    let api = server.base.clone();
    assert!(api.starts_with("http://127.0.0.1:"), "{api}");

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    // 1. Log in through the login page, which sends the browser back to the app.
    let next = format!("{app}/account/");
    browser
        .post("/url", json!({"url": format!("{api}/login?next={}", next.replace(':', "%3A").replace('/', "%2F"))}))
        .await;
    let field = browser.element("#email_or_username").await;
    browser.post(&format!("/element/{field}/value"), json!({"text": "alice"})).await;
    let field = browser.element("#password").await;
    browser.post(&format!("/element/{field}/value"), json!({"text": PASSWORD})).await;
    let button = browser.element("#submit").await;
    browser.post(&format!("/element/{button}/click"), json!({})).await;
    let mut url = String::new();
    for _ in 0..100 {
        url = browser.get("/url").await.as_str().unwrap_or_default().to_owned();
        if url.starts_with(&app) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(url, next, "the login page redirects to next");

    // 2–6. The MFE's calls, from the app's origin.
    let steps =
        browser.post("/execute/async", json!({"script": MFE_SEQUENCE, "args": [api, "alice", TOKEN_LIFE]})).await;
    browser.close().await;
    assert!(steps["error"].is_null(), "{steps}");
    assert_eq!(steps["read"]["status"], 200, "{steps}");
    assert_eq!(steps["read"]["body"]["username"], "alice");
    assert_eq!(steps["patch"]["status"], 200, "{steps}");
    assert_eq!(steps["patch"]["body"]["bio"], "Written from the browser");
    assert_eq!(steps["expired"]["status"], 401, "the JWT cookie expired: {steps}");
    assert_eq!(steps["refresh"]["status"], 204, "{steps}");
    assert_eq!(steps["reread"]["status"], 200, "{steps}");
    assert_eq!(steps["reread"]["body"]["bio"], "Written from the browser");
    assert_eq!(steps["logout"]["status"], 200, "{steps}");
    assert_eq!(steps["refresh_after_logout"]["status"], 401, "{steps}");
    assert_eq!(steps["refresh_after_logout"]["body"], "Unauthorized");
    assert_eq!(steps["read_after_logout"]["status"], 401, "{steps}");
}

/// Waits for RapiDoc to render the served document inside its shadow root.
const DOCS_RENDERED: &str = r#"
const [wanted, done] = arguments;
const started = Date.now();
const look = () => {
  const el = document.querySelector("rapi-doc");
  const text = el && el.shadowRoot ? el.shadowRoot.textContent : "";
  if (text.includes(wanted)) return done({found: true});
  if (Date.now() - started > 20000) return done({found: false, text: text.slice(0, 2000)});
  setTimeout(look, 200);
};
look();
"#;

/// The API page renders the generated document in a real browser, with its
/// bundled script under a policy that forbids anything from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_docs_page_renders_in_a_real_browser() {
    let server = TestServer::start(Backend::Sqlite).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.post("/url", json!({"url": format!("{}/api/user/v1/docs", server.base)})).await;
    let wanted = "One account, filtered for the caller";
    let seen = browser.post("/execute/async", json!({"script": DOCS_RENDERED, "args": [wanted]})).await;
    browser.close().await;
    assert_eq!(seen["found"], true, "the page did not render the document: {seen}");
}

backend_tests!(micro_frontend_sequence_in_a_real_browser);
