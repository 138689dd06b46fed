//! Starting a real server for a test, and talking to it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Runs each named `async fn NAME(backend: Backend)` once on SQLite and once on PostgreSQL.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Secrets of the test sites (each tenant its own).
pub const ALPHA_SECRET: &str = "alpha-secret-0123456789abcdef";
pub const BETA_SECRET: &str = "beta-secret-0123456789abcdef";
pub const ALPHA_ISSUER: &str = "https://alpha.test/oauth2";
pub const ALPHA_AUDIENCE: &str = "alpha-api";

/// A site config for tests: `id` served at `<id>.test`.
pub fn site(id: &str, tenant: &str, secret: &str) -> Value {
    let issuer = if tenant == "alpha" { ALPHA_ISSUER.to_owned() } else { format!("https://{tenant}.test/oauth2") };
    let audience = if tenant == "alpha" { ALPHA_AUDIENCE.to_owned() } else { format!("{tenant}-api") };
    json!({
        "site": id,
        "domains": [format!("{id}.test")],
        "tenant": tenant,
        "jwt": {"issuer": issuer, "audience": audience, "secret_keys": [secret]},
    })
}

/// The standard test set: tenant alpha served by sites alpha and alpha2,
/// tenant beta by site beta. No default site.
pub fn standard_sites() -> Vec<(String, Value)> {
    vec![
        ("alpha.json".into(), site("alpha", "alpha", ALPHA_SECRET)),
        ("alpha2.json".into(), site("alpha2", "alpha", ALPHA_SECRET)),
        ("beta.json".into(), site("beta", "beta", BETA_SECRET)),
    ]
}

/// A running `userapi serve` with its own database and sites directory.
pub struct TestServer {
    child: Child,
    pub base: String,
    pub database_url: String,
    pub sites_dir: PathBuf,
    #[allow(dead_code)] // read by tests that differ per backend
    pub backend: Backend,
    pub extra_env: Vec<(String, String)>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn postgres_admin_url() -> String {
    std::env::var("USERAPI_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Prefix of every database the tests create; the test script drops stale ones.
pub const TEST_DB_PREFIX: &str = "userapi_test_";

/// A connection to the `postgres` maintenance database, or a panic that
/// says PostgreSQL is unreachable and how to start it.
pub async fn postgres_admin_connection() -> sqlx::PgConnection {
    admin_connection(&postgres_admin_url()).await.unwrap_or_else(|message| panic!("{message}"))
}

async fn admin_connection(admin: &str) -> Result<sqlx::PgConnection, String> {
    sqlx::PgConnection::connect(&format!("{admin}/postgres")).await.map_err(|e| postgres_unreachable(admin, &e))
}

/// What to tell the developer when the PostgreSQL server cannot be reached.
fn postgres_unreachable(url: &str, error: &sqlx::Error) -> String {
    // The cluster's version is the name of its directory under /etc/postgresql.
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|dir| dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).min())
        .unwrap_or_else(|| "<version>".into());
    format!(
        "PostgreSQL at {} is unreachable ({error}). The PostgreSQL tests need it: start it with \
         `pg_ctlcluster --skip-systemctl-redirect {version} main start`, or run ./scripts/test.sh, \
         which starts it (USERAPI_TEST_POSTGRES_URL names another server).",
        without_password(url)
    )
}

/// `url` with the password of its user info, if any, masked.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Creates an empty PostgreSQL database named `userapi_test_<uuid>`; returns its URL.
pub async fn fresh_postgres_database() -> String {
    let name = format!("{TEST_DB_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let mut conn = postgres_admin_connection().await;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    let _ = conn.close().await;
    format!("{}/{name}", postgres_admin_url())
}

async fn fresh_database(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("userapi.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    }
}

impl TestServer {
    /// A server with the standard test sites.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, standard_sites(), &[]).await
    }

    /// A server with the given site files and extra environment.
    pub async fn start_with(backend: Backend, sites: Vec<(String, Value)>, env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let sites_dir = dir.path().join("sites");
        std::fs::create_dir_all(&sites_dir).expect("sites dir");
        for (name, config) in &sites {
            write_json(&sites_dir.join(name), config);
        }
        let database_url = fresh_database(backend, dir.path()).await;
        let mut extra_env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        // PostgreSQL needs its tenant keys given (SQLite makes a keyring beside its file).
        if backend == Backend::Postgres && !extra_env.iter().any(|(k, _)| k == "USERAPI_KEYRING") {
            let path = dir.path().join("keyring.json");
            write_keyring(&path, sites.iter().map(|(_, config)| tenant_of(config)));
            extra_env.push(("USERAPI_KEYRING".into(), path.display().to_string()));
        }
        Self::launch(backend, dir, database_url, sites_dir, extra_env).await
    }

    /// Another instance of the service on this server's database and sites
    /// (as several stateless instances run on one PostgreSQL database).
    pub async fn another_instance(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::launch(self.backend, dir, self.database_url.clone(), self.sites_dir.clone(), self.extra_env.clone()).await
    }

    async fn launch(
        backend: Backend,
        dir: tempfile::TempDir,
        database_url: String,
        sites_dir: PathBuf,
        extra_env: Vec<(String, String)>,
    ) -> TestServer {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_userapi"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("USERAPI_BIND", "127.0.0.1:0")
            .env("USERAPI_DATABASE_URL", &database_url)
            .env("USERAPI_SITES_DIR", &sites_dir)
            .env("USERAPI_LOG", "json")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start userapi serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("server did not start within 30 s")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("server exited: {}", server_log(dir.path())));
        let base = line.strip_prefix("listening on ").expect("listening line").to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TestServer {
            child,
            base,
            database_url,
            sites_dir,
            backend,
            extra_env,
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
            _dir: dir,
        }
    }

    /// A counter of the server's `/metrics` (the sum of its series).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await.expect("metrics");
        let text = text.text().await.expect("metrics body");
        text.lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Registers an OAuth client of `site` whose tokens act as `username`.
    pub async fn create_client(&self, site: &str, id: &str, secret: &str, username: &str) {
        let out = self
            .cli(&[
                "clients",
                "create",
                "--site",
                site,
                "--client-id",
                id,
                "--client-secret",
                secret,
                "--username",
                username,
            ])
            .await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("server still running")
    }

    /// Waits for the server to exit and returns its exit code.
    pub async fn wait(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.ok()?.ok()?.code()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        server_log(self._dir.path())
    }

    /// A request to `path` on the site served at `host`.
    pub fn request(&self, method: Method, host: &str, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path)).header("host", host)
    }

    /// GET `path` on `host` with `Authorization: JWT <token>`.
    pub async fn get_as(&self, host: &str, path: &str, token: &str) -> Response {
        self.request(Method::GET, host, path)
            .header("authorization", format!("JWT {token}"))
            .send()
            .await
            .expect("send")
    }

    /// `GET /api/user/v1/accounts/{username}` on `host` as `token`.
    pub async fn get_account(&self, host: &str, username: &str, token: &str) -> Response {
        self.get_as(host, &format!("/api/user/v1/accounts/{username}"), token).await
    }

    /// `PATCH /api/user/v1/accounts/{username}` on `host` as `token`, with a merge-patch body.
    pub async fn patch_account(&self, host: &str, username: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, host, &format!("/api/user/v1/accounts/{username}"))
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .expect("send")
    }

    /// Runs the `userapi` CLI against this server's database and sites.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_userapi"))
            .args(args)
            .env("USERAPI_DATABASE_URL", &self.database_url)
            .env("USERAPI_SITES_DIR", &self.sites_dir)
            .env("USERAPI_LOG", "json")
            .env("RUST_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("run userapi")
    }

    /// Creates an account with `userapi users create`; returns its id.
    pub async fn create_user(&self, site: &str, username: &str, extra: &[&str]) -> i64 {
        let email = format!("{}@example.com", username.to_lowercase());
        let mut args = vec!["users", "create", "--site", site, "--username", username, "--email", &email];
        args.extend_from_slice(extra);
        let out = self.cli(&args).await;
        assert!(out.status.success(), "users create failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    }

    /// A token for `username` from `userapi tokens issue`.
    pub async fn token(&self, site: &str, username: &str) -> String {
        let out = self.cli(&["tokens", "issue", "--site", site, "--username", username]).await;
        assert!(out.status.success(), "tokens issue failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs one SQL statement against the server's database (test set-up
    /// only), then has the server drop its cached records (SIGHUP), since
    /// the change went around it.
    pub async fn sql(&self, statement: &str, binds: &[SqlValue]) {
        self.query(statement, binds).await;
        self.flush_cache().await;
    }

    /// Reads one text column of one row.
    pub async fn sql_text(&self, statement: &str, bind: i64) -> String {
        let rows = self.query(statement, &[SqlValue::Int(bind)]).await;
        rows.first().and_then(|r| r.first().cloned().flatten()).expect("one text value")
    }

    /// Every row of a query, each column as text (`None` for NULL).
    pub async fn query(&self, statement: &str, binds: &[SqlValue]) -> Vec<Vec<Option<String>>> {
        match self.backend {
            Backend::Sqlite => {
                let path = self.database_url.trim_start_matches("sqlite://").to_owned();
                let statement = numbered_parameters(statement);
                let binds: Vec<rusqlite::types::Value> = binds
                    .iter()
                    .map(|b| match b {
                        SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
                        SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
                    })
                    .collect();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(path).expect("open");
                    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
                    let mut stmt = conn.prepare(&statement).expect("prepare");
                    let columns = stmt.column_count();
                    let mut rows = stmt.query(rusqlite::params_from_iter(binds)).expect("query");
                    let mut out = Vec::new();
                    while let Some(row) = rows.next().expect("row") {
                        out.push(
                            (0..columns)
                                .map(|i| match row.get_ref(i).expect("column") {
                                    rusqlite::types::ValueRef::Null => None,
                                    rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                                    rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                        Some(String::from_utf8_lossy(t).into_owned())
                                    }
                                })
                                .collect(),
                        );
                    }
                    out
                })
                .await
                .expect("query thread")
            }
            Backend::Postgres => {
                use sqlx::{Column, Row, TypeInfo};
                let mut conn = sqlx::PgConnection::connect(&self.database_url).await.expect("connect");
                let mut q = sqlx::query(statement);
                for b in binds {
                    q = match b {
                        SqlValue::Int(i) => q.bind(*i),
                        SqlValue::Text(t) => q.bind(t.clone()),
                    };
                }
                let rows = q.fetch_all(&mut conn).await.expect("sql");
                let _ = conn.close().await;
                rows.iter()
                    .map(|row| {
                        (0..row.columns().len())
                            .map(|i| match row.column(i).type_info().name() {
                                "INT8" => row.get::<Option<i64>, _>(i).map(|v| v.to_string()),
                                "INT4" => row.get::<Option<i32>, _>(i).map(|v| v.to_string()),
                                "BOOL" => row.get::<Option<bool>, _>(i).map(|v| v.to_string()),
                                _ => row.get::<Option<String>, _>(i),
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// Empties the server's record cache (SIGHUP) and waits until it has.
    pub async fn flush_cache(&self) {
        let before = self.reloads().await;
        let status = std::process::Command::new("kill").args(["-HUP", &self.pid().to_string()]).status();
        assert!(status.expect("kill").success(), "cannot signal the server");
        for _ in 0..500 {
            if self.reloads().await > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not reload after SIGHUP");
    }

    /// How many site reloads the server has done.
    async fn reloads(&self) -> u64 {
        self.metric("userapi_site_reloads_total").await
    }

    /// `POST /admin/v1/sites/reload` on `host` as `token`'s user: the status and the body.
    pub async fn reload_sites(&self, host: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .request(Method::POST, host, "/admin/v1/sites/reload")
            .header("authorization", format!("JWT {token}"))
            .send()
            .await
            .expect("reload request");
        let status = response.status();
        (status, body_json(response).await)
    }

    /// Replaces a site file of this server's sites directory.
    pub fn write_site(&self, name: &str, config: &Value) {
        write_json(&self.sites_dir.join(name), config);
    }
}

/// A value bound into [`TestServer::sql`].
pub enum SqlValue {
    Int(i64),
    Text(String),
}

/// `$1`-style parameters as SQLite's `?1`.
fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) { '?' } else { c });
    }
    out
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write site");
}

fn server_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Reads a response as JSON (panics with the text when it is not JSON).
pub async fn body_json(response: Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Signs arbitrary claims with an HMAC secret.
pub fn mint_hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("sign")
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Claims like the ones Open edX puts in an access token, for `username` on tenant alpha.
pub fn alpha_claims(username: &str) -> Value {
    json!({
        "iss": ALPHA_ISSUER,
        "aud": ALPHA_AUDIENCE,
        "iat": now(),
        "exp": now() + 600,
        "preferred_username": username,
        "scopes": ["email", "profile"],
        "version": "1.2.0",
        "filters": [],
        "is_restricted": false,
    })
}

/// A PostgreSQL server that is down fails the test with a message that says
/// so and how to start it.
#[tokio::test]
async fn an_unreachable_postgres_is_reported_with_the_way_to_start_it() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    let message = admin_connection("postgres://postgres:hunter2@127.0.0.1:1").await.expect_err("no server on port 1");
    assert!(message.starts_with("PostgreSQL at postgres://postgres:***@127.0.0.1:1 is unreachable ("), "{message}");
    assert!(message.contains("`pg_ctlcluster --skip-systemctl-redirect "), "{message}");
    assert!(message.contains(" main start`, or run ./scripts/test.sh, which starts it"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// Asks `check` every 20 ms until it holds; fails after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tenant a site file names (its `site` id when it names none).
pub fn tenant_of(config: &Value) -> String {
    config.get("tenant").or_else(|| config.get("site")).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A base64 256-bit random key.
pub fn random_key() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = std::array::from_fn(|_| rand::random());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes a keyring with fresh keys for `tenants`.
pub fn write_keyring(path: &Path, tenants: impl IntoIterator<Item = String>) {
    let mut ring = serde_json::Map::new();
    for tenant in tenants {
        ring.insert(
            tenant,
            serde_json::json!({"index_key": random_key(), "keks": [{"id": "k-test", "key": random_key()}]}),
        );
    }
    write_json(path, &serde_json::json!({"format": "userapi-keyring/1", "tenants": ring}));
}

impl TestServer {
    /// `userapi users show`: the account's stored record, opened.
    pub async fn stored_user(&self, site: &str, username: &str) -> Value {
        let out = self.cli(&["users", "show", "--site", site, "--username", username]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("users show prints JSON")
    }

    /// The bodies of the outbox's messages to `to`, oldest first (`userapi mail outbox`).
    pub async fn outbox_to(&self, to: &str) -> Vec<String> {
        let out = self.cli(&["mail", "outbox"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let entries: Vec<Value> = serde_json::from_slice(&out.stdout).expect("mail outbox prints JSON");
        let mut found: Vec<(i64, String)> = entries
            .into_iter()
            .filter(|e| e["to"] == to)
            .map(|e| (e["id"].as_i64().unwrap_or(0), e["body"].as_str().unwrap_or_default().to_owned()))
            .collect();
        found.sort();
        found.into_iter().map(|(_, body)| body).collect()
    }

    /// The keyring file this server's tenant keys are in.
    pub fn keyring_path(&self) -> PathBuf {
        match self.extra_env.iter().find(|(k, _)| k == "USERAPI_KEYRING") {
            Some((_, path)) => PathBuf::from(path),
            None => PathBuf::from(format!("{}.keyring.json", self.database_url.trim_start_matches("sqlite://"))),
        }
    }

    /// The blind index `tenant` stores for an e-mail address (what `email_key` columns hold).
    pub fn email_index(&self, tenant: &str, address: &str) -> String {
        use base64::Engine as _;
        use hmac::Mac as _;
        let ring: Value = serde_json::from_slice(&std::fs::read(self.keyring_path()).expect("keyring")).unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(ring["tenants"][tenant]["index_key"].as_str().expect("index key"))
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(address.to_lowercase().as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("bi1:{hex}")
    }
}
