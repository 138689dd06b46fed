//! WebAssembly plugins (plugins.md): the three example plugins wired into
//! their seams, and a purpose-built misbehaving plugin for every failure the
//! host must survive. Components are the real ones `host/build.rs` builds
//! from `plugins/`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{body_json, eventually, site, Backend, SqlValue, TestServer, ALPHA_SECRET, BETA_SECRET};

/// A component built from `plugins/` by the host's build script.
fn wasm(name: &str) -> String {
    format!("{}/{name}.wasm", env!("USERAPI_PLUGIN_DIR"))
}

const VALIDATOR_FIELDS: &str = r#"[
    {"name": "employer", "type": "text", "max_length": 20},
    {"name": "graduation_year", "type": "integer", "min": 1900, "max": 2100},
    {"name": "favorite_color", "type": "choice", "choices": ["red", "green"]}
]"#;

/// A site of tenant alpha whose slot `slot` holds `plugin` with `config`.
fn site_with(id: &str, slot: &str, plugin: &str, config: Value, limits: Value) -> (String, Value) {
    let mut config_file = site(id, "alpha", ALPHA_SECRET);
    config_file["extended_profile_fields"] =
        json!(["employer", "graduation_year", "favorite_color", "calls", "ambient"]);
    config_file["plugins"] = json!({ slot: {"path": wasm(plugin), "config": config, "limits": limits} });
    (format!("{id}.json"), config_file)
}

fn validator_site(id: &str, choices: &[&str]) -> (String, Value) {
    let mut fields: Value = serde_json::from_str(VALIDATOR_FIELDS).unwrap();
    fields[2]["choices"] = json!(choices);
    site_with(id, "extended_profile_validator", "profile_validator", json!({"fields": fields}), json!({}))
}

async fn patch(s: &TestServer, host: &str, username: &str, token: &str, body: Value) -> reqwest::Response {
    s.patch_account(host, username, token, body).await
}

async fn account(s: &TestServer, host: &str, username: &str, token: &str) -> Value {
    let r = s.get_account(host, username, token).await;
    assert_eq!(r.status(), StatusCode::OK);
    body_json(r).await
}

/// The extended-profile fields that hold a value (unset ones read as "").
fn extended(account: &Value) -> Vec<(String, Value)> {
    account["extended_profile"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["field_value"] != json!(""))
        .map(|f| (f["field_name"].as_str().unwrap().to_owned(), f["field_value"].clone()))
        .collect()
}

fn ext(fields: &[(&str, Value)]) -> Value {
    json!({"extended_profile": fields.iter().map(|(n, v)| json!({"field_name": n, "field_value": v})).collect::<Vec<_>>()})
}

async fn validator_normalises_what_is_stored(b: Backend) {
    let s = TestServer::start_with(b, vec![validator_site("alpha", &["red", "green"])], &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    let body = ext(&[
        ("employer", json!("  ACME Corp ")),
        ("graduation_year", json!("2012")),
        ("favorite_color", json!("GREEN")),
    ]);
    let r = patch(&s, "alpha.test", "jdoe", &t, body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fields = extended(&body_json(r).await);
    assert!(fields.contains(&("employer".into(), json!("ACME Corp"))), "{fields:?}");
    assert!(fields.contains(&("graduation_year".into(), json!(2012))), "{fields:?}");
    assert!(fields.contains(&("favorite_color".into(), json!("green"))), "{fields:?}");
    // What GET shows is what was stored.
    assert_eq!(extended(&account(&s, "alpha.test", "jdoe", &t).await), fields);
}

async fn validator_refusals_are_field_errors_and_change_nothing(b: Backend) {
    let s = TestServer::start_with(b, vec![validator_site("alpha", &["red", "green"])], &[]).await;
    s.create_user("alpha", "jdoe", &["--name", "Jane Doe"]).await;
    let t = s.token("alpha", "jdoe").await;
    let before = account(&s, "alpha.test", "jdoe", &t).await;
    let mut body = ext(&[("employer", json!("ACME")), ("favorite_color", json!("purple")), ("shoe_size", json!(44))]);
    body["name"] = json!("Someone Else");
    let r = patch(&s, "alpha.test", "jdoe", &t, body).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(r).await["field_errors"].clone();
    assert_eq!(
        errors["favorite_color"],
        json!({
            "developer_message": "Error in extended profile field [favorite_color]: Choose one of: red, green.",
            "user_message": "Choose one of: red, green."
        })
    );
    assert!(errors["shoe_size"]["user_message"].as_str().unwrap().contains("not a field"), "{errors}");
    assert!(errors.get("employer").is_none(), "{errors}");
    assert_eq!(account(&s, "alpha.test", "jdoe", &t).await, before, "a refused PATCH changes nothing");
}

async fn one_binary_serves_sites_differently(b: Backend) {
    let mut beta = validator_site("beta", &["blue"]);
    beta.1["tenant"] = json!("beta");
    beta.1["jwt"] = json!({"issuer": "https://beta.test/oauth2", "audience": "beta-api", "secret_keys": [BETA_SECRET]});
    let s = TestServer::start_with(b, vec![validator_site("alpha", &["red", "green"]), beta], &[]).await;
    s.create_user("alpha", "ann", &[]).await;
    s.create_user("beta", "bob", &[]).await;
    let (ta, tb) = (s.token("alpha", "ann").await, s.token("beta", "bob").await);
    let red = ext(&[("favorite_color", json!("red"))]);
    let blue = ext(&[("favorite_color", json!("Blue"))]);
    assert_eq!(patch(&s, "alpha.test", "ann", &ta, red.clone()).await.status(), StatusCode::OK);
    assert_eq!(patch(&s, "alpha.test", "ann", &ta, blue.clone()).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(patch(&s, "beta.test", "bob", &tb, red).await.status(), StatusCode::BAD_REQUEST);
    let r = patch(&s, "beta.test", "bob", &tb, blue).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(extended(&body_json(r).await), vec![("favorite_color".to_owned(), json!("blue"))]);
}

async fn schema_runs_before_the_validator(b: Backend) {
    let (name, mut config) = validator_site("alpha", &["red"]);
    config["extended_profile_schema"] =
        json!({"type": "object", "properties": {"employer": {"type": "string", "minLength": 3}}});
    let s = TestServer::start_with(b, vec![(name, config)], &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    // The schema refuses "AB"; the plugin (which would refuse "purple") is not asked.
    let r = patch(&s, "alpha.test", "jdoe", &t, ext(&[("employer", json!("AB")), ("favorite_color", json!("purple"))]))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(r).await["field_errors"].clone();
    assert!(errors.get("employer").is_some() && errors.get("favorite_color").is_none(), "{errors}");
}

/// Sites of tenant alpha, each with the misbehaving plugin in one mode.
fn misbehaving_sites() -> Vec<(String, Value)> {
    let bad = |id: &str, mode: &str, limits: Value| {
        site_with(id, "extended_profile_validator", "misbehaving", json!({"mode": mode}), limits)
    };
    vec![
        (String::from("alpha.json"), site("alpha", "alpha", ALPHA_SECRET)),
        bad("loop", "loop", json!({"timeout_ms": 100, "fuel": 1_000_000_000_000u64})),
        bad("fuel", "loop", json!({"timeout_ms": 5000, "fuel": 1_000_000})),
        bad("hog", "hog", json!({"memory_mib": 16})),
        bad("panic", "panic", json!({})),
        bad("flood", "flood", json!({"timeout_ms": 100})),
        bad("garbage", "garbage", json!({})),
        bad("addfield", "add-field", json!({})),
        bad("counter", "counter", json!({})),
        bad("log", "log", json!({})),
        bad("ambient", "ambient", json!({})),
    ]
}

async fn failing_validators_change_nothing_and_name_the_cause(b: Backend) {
    let s = TestServer::start_with(b, misbehaving_sites(), &[]).await;
    s.create_user("alpha", "jdoe", &["--name", "Jane Doe"]).await;
    let t = s.token("alpha", "jdoe").await;
    let before = account(&s, "alpha.test", "jdoe", &t).await;
    let cases = [
        ("loop.test", "ran out of time (limit 100 ms)"),
        ("fuel.test", "ran out of fuel (limit 1000000)"),
        ("hog.test", "exceeded its memory limit (16 MiB)"),
        ("panic.test", "deliberate panic"),
        ("garbage.test", "is not JSON"),
        ("addfield.test", "which the request did not submit"),
    ];
    for (host, cause) in cases {
        let mut body = ext(&[("employer", json!("ACME"))]);
        body["name"] = json!("Changed Name");
        body["bio"] = json!("changed bio");
        let r = patch(&s, host, "jdoe", &t, body).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{host}");
        let error = body_json(r).await;
        let message = error["developer_message"].as_str().unwrap();
        assert!(message.contains("plugin misbehaving (extended_profile_validator)"), "{host}: {message}");
        assert!(message.contains(cause), "{host}: {message}");
        assert!(error["user_message"].is_string(), "{error}");
        // Nothing was written, and the host keeps serving.
        assert_eq!(account(&s, "alpha.test", "jdoe", &t).await, before, "{host} changed the account");
    }
    let r = patch(&s, "alpha.test", "jdoe", &t, json!({"bio": "still works"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// While one call spins until its deadline, the host answers other requests:
/// they are all answered while that call still holds its plugin instance.
/// The deadline is the longest a site may set (10 s), so the assertion
/// does not depend on how fast a loaded machine answers five GETs.
async fn a_runaway_plugin_does_not_stall_other_requests(b: Backend) {
    let mut sites = misbehaving_sites();
    sites[1].1["plugins"]["extended_profile_validator"]["limits"]["timeout_ms"] = json!(10_000);
    let s = TestServer::start_with(b, sites, &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    assert_eq!(s.metric("userapi_plugin_instances_in_use").await, 0);
    let runaway_done = AtomicBool::new(false);
    let runaway = async {
        let r = patch(&s, "loop.test", "jdoe", &t, ext(&[("employer", json!("x"))])).await;
        runaway_done.store(true, Ordering::SeqCst);
        r
    };
    let others = async {
        // Wait until the runaway call is inside its plugin (a bound only against a hang).
        let waiting_since = Instant::now();
        while s.metric("userapi_plugin_instances_in_use").await != 1 {
            assert!(!runaway_done.load(Ordering::SeqCst), "the runaway call ended before it was seen running");
            assert!(waiting_since.elapsed() < Duration::from_secs(60), "the runaway call never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..5 {
            let r = s.get_as("alpha.test", "/api/user/v1/me", &t).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(body_json(r).await["username"], "jdoe");
        }
        let still_running = !runaway_done.load(Ordering::SeqCst);
        (still_running, s.metric("userapi_plugin_instances_in_use").await)
    };
    let (runaway, (still_running, in_use)) = tokio::join!(runaway, others);
    assert!(still_running && in_use == 1, "the other requests were answered only after the runaway call ended");
    assert_eq!(runaway.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error = body_json(runaway).await;
    assert!(error["developer_message"].as_str().unwrap().contains("ran out of time (limit 10000 ms)"), "{error}");
    assert_eq!(s.metric("userapi_plugin_instances_in_use").await, 0, "the instance went back to the pool");
}

/// A plugin printing megabytes on stdout and stderr neither fails the call
/// nor grows the host: what it printed is cut at 4 KiB per stream, on the
/// async worker, with no thread hand-off.
async fn a_flooding_plugin_is_cut_off_not_fatal(b: Backend) {
    let s = TestServer::start_with(b, misbehaving_sites(), &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    for round in 0..3 {
        let mut body = ext(&[("employer", json!("ACME"))]);
        body["bio"] = json!(format!("round {round}"));
        let r = patch(&s, "flood.test", "jdoe", &t, body).await;
        assert_eq!(r.status(), StatusCode::OK, "round {round}");
    }
    let r = patch(&s, "panic.test", "jdoe", &t, ext(&[("employer", json!("x"))])).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body_json(r).await["developer_message"].as_str().unwrap().contains("deliberate panic"));
    assert_eq!(account(&s, "alpha.test", "jdoe", &t).await["bio"], "round 2", "the host kept serving");
}

async fn every_call_gets_a_fresh_instance(b: Backend) {
    let s = TestServer::start_with(b, misbehaving_sites(), &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    for _ in 0..3 {
        let r = patch(&s, "counter.test", "jdoe", &t, ext(&[("calls", json!(0))])).await;
        assert_eq!(r.status(), StatusCode::OK);
        // The plugin counts its calls in a static: a reused instance would say 2, 3.
        assert_eq!(extended(&body_json(r).await), vec![("calls".to_owned(), json!(1))]);
    }
}

async fn plugins_have_no_clock_environment_or_filesystem(b: Backend) {
    let s = TestServer::start_with(b, misbehaving_sites(), &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    let r = patch(&s, "ambient.test", "jdoe", &t, ext(&[("ambient", json!(null))])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = extended(&body_json(r).await);
    assert_eq!(seen, vec![("ambient".to_owned(), json!({"clock_secs": 0, "env_vars": 0, "root_readable": false}))]);
}

async fn plugin_logs_reach_the_host_log_with_site_and_plugin(b: Backend) {
    let s = TestServer::start_with(b, misbehaving_sites(), &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    assert_eq!(patch(&s, "log.test", "jdoe", &t, ext(&[("employer", json!("x"))])).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = s
        .log()
        .lines()
        .find(|l| l.contains("hello from the misbehaving plugin"))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .expect("the plugin's log line");
    assert_eq!(line["site"], "log");
    assert_eq!(line["plugin"], "misbehaving");
    assert_eq!(line["level"], "WARN");
}

/// Tenant alpha with the example visibility policy (org mates see more).
fn visibility_sites(policy: &str, config: Value) -> Vec<(String, Value)> {
    vec![site_with("alpha", "visibility_policy", policy, config, json!({}))]
}

async fn org(s: &TestServer, username: &str, org: &str) {
    let out = s.cli(&["orgs", "add", "--site", "alpha", "--username", username, "--org", org]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn keys(account: &Value) -> Vec<String> {
    let mut keys: Vec<String> = account.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

async fn visibility_policy_decides_reads_by_others(b: Backend) {
    let s = TestServer::start_with(
        b,
        visibility_sites("visibility_policy", json!({"same_org_fields": ["name", "country"]})),
        &[],
    )
    .await;
    s.create_user("alpha", "owner", &["--name", "Owner Name"]).await;
    s.create_user("alpha", "mate", &[]).await;
    s.create_user("alpha", "stranger", &[]).await;
    org(&s, "owner", "MITx").await;
    org(&s, "mate", "MITx").await;
    org(&s, "stranger", "HarvardX").await;
    let owner = s.token("alpha", "owner").await;
    // An adult (no year of birth would mean "needs parental consent": private).
    let r = patch(&s, "alpha.test", "owner", &owner, json!({"account_privacy": "custom", "year_of_birth": 1990})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mate = account(&s, "alpha.test", "owner", &s.token("alpha", "mate").await).await;
    assert_eq!(keys(&mate), ["account_privacy", "country", "name", "profile_image", "username"]);
    assert_eq!(mate["name"], "Owner Name");
    let stranger = account(&s, "alpha.test", "owner", &s.token("alpha", "stranger").await).await;
    assert_eq!(keys(&stranger), ["account_privacy", "profile_image", "username"]);
    // The owner is not subject to the policy.
    assert!(account(&s, "alpha.test", "owner", &owner).await.get("email").is_some());
    // The list endpoint applies it per account too.
    let r =
        s.get_as("alpha.test", "/api/user/v1/accounts?username=owner,mate", &s.token("alpha", "stranger").await).await;
    let list = body_json(r).await;
    assert!(list.as_array().unwrap().iter().all(|a| a.get("name").is_none()), "{list}");
    // Memberships travel with the user record: a change is seen at once, and
    // (PostgreSQL) by another instance that had cached both records.
    let stranger = s.token("alpha", "stranger").await;
    let other = if b == Backend::Postgres { Some(s.another_instance().await) } else { None };
    if let Some(o) = &other {
        assert!(account(o, "alpha.test", "owner", &stranger).await.get("name").is_none());
    }
    s.create_user("alpha", "root", &["--superuser"]).await;
    let root = s.token("alpha", "root").await;
    let membership = |method: Method, user: &str| {
        s.request(method, "alpha.test", &format!("/admin/v1/users/{user}/orgs/MITx"))
            .header("authorization", format!("JWT {root}"))
            .send()
    };
    assert_eq!(membership(Method::PUT, "stranger").await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(account(&s, "alpha.test", "owner", &stranger).await["name"], "Owner Name");
    if let Some(o) = &other {
        eventually(Duration::from_secs(1), "the other instance seeing the membership", || async {
            account(o, "alpha.test", "owner", &stranger).await["name"] == "Owner Name"
        })
        .await;
    }
    assert_eq!(membership(Method::DELETE, "owner").await.unwrap().status(), StatusCode::NO_CONTENT);
    let mate = account(&s, "alpha.test", "owner", &s.token("alpha", "mate").await).await;
    assert!(mate.get("name").is_none(), "the owner left MITx: {mate}");
}

async fn failing_visibility_policies_fail_closed(b: Backend) {
    let mut sites = Vec::new();
    for (id, mode) in [("alpha", "panic"), ("alpha2", "garbage"), ("alpha3", "loop")] {
        let limits = if mode == "loop" { json!({"timeout_ms": 50}) } else { json!({}) };
        sites.push(site_with(id, "visibility_policy", "misbehaving", json!({"mode": mode}), limits));
    }
    let s = TestServer::start_with(b, sites, &[]).await;
    s.create_user("alpha", "owner", &[]).await;
    s.create_user("alpha", "reader", &[]).await;
    let owner = s.token("alpha", "owner").await;
    assert_eq!(
        patch(&s, "alpha.test", "owner", &owner, json!({"account_privacy": "all_users", "year_of_birth": 1990}))
            .await
            .status(),
        StatusCode::OK
    );
    let reader = s.token("alpha", "reader").await;
    for host in ["alpha.test", "alpha3.test"] {
        let seen = account(&s, host, "owner", &reader).await;
        assert_eq!(keys(&seen), ["account_privacy", "profile_image", "username"], "{host}");
    }
    // A policy cannot invent keys: its answer is limited to admin_fields.
    let seen = account(&s, "alpha2.test", "owner", &reader).await;
    assert_eq!(keys(&seen), ["email"], "garbage answer filtered to known fields");
}

async fn insert_report_row(s: &TestServer, user_id: i64, username: &str, orgs: Value) {
    s.sql(
        "INSERT INTO partner_reporting_status (user_id, original_username, original_email, original_name, orgs, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[
            SqlValue::Int(user_id),
            SqlValue::Text(username.into()),
            SqlValue::Text(format!("{username}@example.com")),
            SqlValue::Text(format!("Name, \"{username}\"")),
            SqlValue::Text(orgs.to_string()),
            SqlValue::Int(1_767_225_600_000_000),
        ],
    )
    .await;
}

async fn report(s: &TestServer, out: &std::path::Path) -> std::process::Output {
    s.cli(&["retirement", "partner-report", "--site", "alpha", "--out", out.to_str().unwrap()]).await
}

async fn formatter_plugin_writes_each_org(b: Backend) {
    let (name, mut site_file) =
        site_with("alpha", "partner_report_formatter", "partner_report", json!({"format": "jsonl"}), json!({}));
    site_file["orgs_config"] =
        json!([{"org": "OrgA", "field_headings": ["original_username", "original_name", "deletion_completed"]}]);
    let s = TestServer::start_with(b, vec![(name, site_file)], &[]).await;
    let out = tempfile::tempdir().unwrap();
    let a = s.create_user("alpha", "ann", &[]).await;
    let c = s.create_user("alpha", "cy", &[]).await;
    insert_report_row(&s, a, "ann", json!(["OrgA", "OrgB"])).await;
    insert_report_row(&s, c, "cy", json!(["OrgB"])).await;
    let run = report(&s, out.path()).await;
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let org_a = std::fs::read_to_string(out.path().join("OrgA.jsonl")).unwrap();
    let line: Value = serde_json::from_str(org_a.trim()).unwrap();
    assert_eq!(
        line,
        json!({"original_username": "ann", "original_name": "Name, \"ann\"", "deletion_completed": "2026-01-01T00:00:00Z"})
    );
    let org_b = std::fs::read_to_string(out.path().join("OrgB.jsonl")).unwrap();
    assert_eq!(org_b.lines().count(), 2, "{org_b}");
    assert!(org_b.contains("\"user_id\""), "default headings for an org without orgs_config: {org_b}");
}

/// A retired learner named like a spreadsheet formula: the cell comes out
/// as text from the built-in CSV and from the example formatter's CSV.
async fn report_cells_are_neutralised(b: Backend) {
    let (name, mut with_plugin) =
        site_with("alpha2", "partner_report_formatter", "partner_report", json!({"format": "csv"}), json!({}));
    let headings = json!([{"org": "OrgA", "field_headings": ["original_username", "original_name"]}]);
    with_plugin["orgs_config"] = headings.clone();
    let mut built_in = site("alpha", "alpha", ALPHA_SECRET);
    built_in["orgs_config"] = headings;
    let s = TestServer::start_with(b, vec![("alpha.json".into(), built_in), (name, with_plugin)], &[]).await;
    let id = s.create_user("alpha", "mallory", &[]).await;
    s.sql(
        "INSERT INTO partner_reporting_status (user_id, original_username, original_email, original_name, orgs, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[
            SqlValue::Int(id),
            SqlValue::Text("@mallory".into()),
            SqlValue::Text("mallory@example.com".into()),
            SqlValue::Text("=HYPERLINK(\"http://evil.test\",\"x\")".into()),
            SqlValue::Text(json!(["OrgA"]).to_string()),
            SqlValue::Int(1_767_225_600_000_000),
        ],
    )
    .await;
    for site_id in ["alpha", "alpha2"] {
        // A report run takes the rows; the second site's run needs them back.
        s.sql("UPDATE partner_reporting_status SET is_being_processed = 0", &[]).await;
        let out = tempfile::tempdir().unwrap();
        let run =
            s.cli(&["retirement", "partner-report", "--site", site_id, "--out", out.path().to_str().unwrap()]).await;
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let csv = std::fs::read_to_string(out.path().join("OrgA.csv")).unwrap();
        assert_eq!(
            csv.lines().nth(1),
            Some("'@mallory,\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\""),
            "{site_id}: {csv}"
        );
    }
}

async fn a_failing_formatter_fails_only_its_org(b: Backend) {
    let config = json!({"mode": "panic", "only_org": "OrgB"});
    let s = TestServer::start_with(
        b,
        vec![site_with("alpha", "partner_report_formatter", "misbehaving", config, json!({}))],
        &[],
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let a = s.create_user("alpha", "ann", &[]).await;
    insert_report_row(&s, a, "ann", json!(["OrgA", "OrgB", "OrgC"])).await;
    let run = report(&s, out.path()).await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("\"OrgB\"") && stderr.contains("plugin misbehaving") && stderr.contains("deliberate panic"),
        "{stderr}"
    );
    assert!(out.path().join("OrgA.txt").exists() && out.path().join("OrgC.txt").exists());
    assert!(!out.path().join("OrgB.txt").exists());
}

async fn reload_refuses_a_broken_plugin_and_keeps_serving(b: Backend) {
    let mut sites = vec![validator_site("alpha", &["red"])];
    let mut root_site = site("admin", "alpha", ALPHA_SECRET);
    root_site["domains"] = json!(["admin.test"]);
    sites.push(("admin.json".into(), root_site));
    let s = TestServer::start_with(b, sites, &[]).await;
    s.create_user("alpha", "root", &["--superuser"]).await;
    let root = s.token("alpha", "root").await;
    let (_, mut broken) = validator_site("alpha", &["red"]);
    broken["plugins"]["extended_profile_validator"]["path"] = json!(wasm("visibility_policy"));
    s.write_site("alpha.json", &broken);
    let r = s
        .request(Method::POST, "admin.test", "/admin/v1/sites/reload")
        .header("authorization", format!("JWT {root}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(r).await["errors"].to_string();
    assert!(errors.contains("userapi:plugins/validator@0.1.0"), "{errors}");
    // The old plugin still validates.
    let r = patch(&s, "alpha.test", "root", &root, ext(&[("favorite_color", json!("green"))])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// The repository's example sites, with plugin paths made absolute.
fn example_sites() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../site-config");
    let mut sites = Vec::new();
    for name in ["learn.json", "mobile.json", "acme.json"] {
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        if let Some(plugins) = config.get_mut("plugins").and_then(Value::as_object_mut) {
            for plugin in plugins.values_mut() {
                let path = dir.join(plugin["path"].as_str().unwrap());
                plugin["path"] = json!(path.display().to_string());
            }
        }
        sites.push((name.to_owned(), config));
    }
    sites
}

async fn example_sites_run_with_the_three_plugins(b: Backend) {
    let s = TestServer::start_with(b, example_sites(), &[]).await;
    for user in ["carol", "dave", "erin"] {
        s.create_user("acme", user, &[]).await;
    }
    for (user, org) in [("carol", "AcmeU"), ("dave", "AcmeU"), ("erin", "Other")] {
        let out = s.cli(&["orgs", "add", "--site", "acme", "--username", user, "--org", org]).await;
        assert!(out.status.success());
    }
    let carol = s.token("acme", "carol").await;
    let mut body =
        ext(&[("employee_id", json!(" ab1234 ")), ("department", json!("Sales")), ("cohort", json!("2024"))]);
    body["year_of_birth"] = json!(1990);
    body["account_privacy"] = json!("custom");
    body["name"] = json!("Carol C");
    let r = patch(&s, "acme.localhost", "carol", &carol, body).await;
    let status = r.status();
    let answer = body_json(r).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let stored = extended(&answer);
    assert_eq!(
        stored,
        vec![
            ("employee_id".to_owned(), json!("AB1234")),
            ("department".to_owned(), json!("sales")),
            ("cohort".to_owned(), json!(2024))
        ]
    );
    // acme's policy: org mates see the name, others do not.
    let dave = account(&s, "acme.localhost", "carol", &s.token("acme", "dave").await).await;
    assert_eq!(dave["name"], "Carol C");
    let erin = account(&s, "acme.localhost", "carol", &s.token("acme", "erin").await).await;
    assert!(erin.get("name").is_none(), "{erin}");
    // acme's formatter writes JSON Lines.
    insert_report_row(&s, s.create_user("acme", "gone", &[]).await, "gone", json!(["AcmeU"])).await;
    let out = tempfile::tempdir().unwrap();
    let run = s.cli(&["retirement", "partner-report", "--site", "acme", "--out", out.path().to_str().unwrap()]).await;
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = std::fs::read_to_string(out.path().join("acme-AcmeU.jsonl")).unwrap();
    assert_eq!(serde_json::from_str::<Value>(report.trim()).unwrap()["original_username"], "gone");
    // learn's validator refuses an over-long occupation; mobile (same tenant) has no plugin.
    s.create_user("learn", "lee", &[]).await;
    let lee = s.token("learn", "lee").await;
    let long = ext(&[("occupation", json!("x".repeat(101)))]);
    assert_eq!(patch(&s, "learn.localhost", "lee", &lee, long).await.status(), StatusCode::BAD_REQUEST);
}

/// `describe` reaches clients: the fields route, the registration form and
/// `sites check`, with a validator and without one.
async fn described_fields_reach_clients(b: Backend) {
    let mut plain = site("plain", "plain", "plain-secret-0123456789abcdef");
    plain["extended_profile_fields"] = json!(["employer"]);
    let sites = vec![validator_site("val", &["red", "green"]), ("plain.json".into(), plain)];
    let s = TestServer::start_with(b, sites, &[]).await;
    let get = |host: &'static str, path: &'static str| {
        let s = &s;
        async move {
            let r = s.request(Method::GET, host, path).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{host}{path}");
            body_json(r).await
        }
    };
    let described = get("val.test", "/api/user/v1/extended_profile_fields").await;
    let fields = described.as_array().unwrap();
    let summary: Vec<(&str, &str)> =
        fields.iter().map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap())).collect();
    assert_eq!(summary, [("employer", "text"), ("graduation_year", "integer"), ("favorite_color", "choice")]);
    let choices: Vec<&str> =
        fields[2]["choices"].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert_eq!(choices, ["red", "green"]);
    let form = get("val.test", "/user_api/v1/account/registration/").await;
    let form_fields = form["fields"].as_array().unwrap();
    let color = form_fields.iter().find(|f| f["name"] == "favorite_color").expect("favorite_color in the form");
    assert_eq!(color["type"], "select");
    let options: Vec<&str> =
        color["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert_eq!(options, ["", "red", "green"]);
    assert!(form_fields.iter().any(|f| f["name"] == "employer" && f["type"] == "text"));
    assert_eq!(form_fields[0]["name"], "email", "the standard fields come first");
    // Without a validator: the site's fields, as optional text.
    let described = get("plain.test", "/api/user/v1/extended_profile_fields").await;
    assert_eq!(
        described,
        json!([{"name": "employer", "label": "employer", "type": "text", "required": false, "choices": []}])
    );
    let form = get("plain.test", "/user_api/v1/account/registration/").await;
    assert!(form["fields"].as_array().unwrap().iter().any(|f| f["name"] == "employer" && f["required"] == false));
    let out = s.cli(&["sites", "check"]).await;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("extended profile field favorite_color"), "{report}");
    assert!(report.contains("choice): red | green"), "{report}");
    assert!(report.contains("extended profile field employer (\"employer\", text)"), "{report}");
}

backend_tests!(
    described_fields_reach_clients,
    example_sites_run_with_the_three_plugins,
    reload_refuses_a_broken_plugin_and_keeps_serving,
    validator_normalises_what_is_stored,
    validator_refusals_are_field_errors_and_change_nothing,
    one_binary_serves_sites_differently,
    schema_runs_before_the_validator,
    failing_validators_change_nothing_and_name_the_cause,
    a_runaway_plugin_does_not_stall_other_requests,
    a_flooding_plugin_is_cut_off_not_fatal,
    every_call_gets_a_fresh_instance,
    plugins_have_no_clock_environment_or_filesystem,
    plugin_logs_reach_the_host_log_with_site_and_plugin,
    visibility_policy_decides_reads_by_others,
    failing_visibility_policies_fail_closed,
    formatter_plugin_writes_each_org,
    report_cells_are_neutralised,
    a_failing_formatter_fails_only_its_org,
);

fn userapi(args: &[&str], sites: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_userapi"))
        .args(args)
        .env("USERAPI_SITES_DIR", sites)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run userapi")
}

#[test]
fn sites_check_refuses_components_that_cannot_serve_their_slot() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm this is not a component").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let cases: [(&str, &str, String, Value, &str); 8] = [
        ("wrongworld", "extended_profile_validator", wasm("visibility_policy"), json!({}),
            "needs the export `userapi:plugins/validator@0.1.0`, which is missing (it exports: userapi:plugins/visibility@0.1.0)"),
        ("future", "extended_profile_validator", wasm("future_version"), json!({}),
            "it exports `userapi:plugins/validator@0.2.0`, a WIT version this host cannot serve"),
        ("garbage", "visibility_policy", garbage.display().to_string(), json!({}), "is not a WebAssembly component"),
        ("missing", "partner_report_formatter", "no/such/file.wasm".into(), json!({}), "cannot read"),
        ("badconfig", "extended_profile_validator", wasm("profile_validator"), json!({"fields": [{"name": "x", "type": "colour"}]}),
            "unknown type"),
        ("bigmemory", "visibility_policy", wasm("visibility_policy"), json!({}), "256"),
        ("core", "extended_profile_validator", core.display().to_string(), json!({}),
            "is a core WebAssembly module, not a component: build the plugin for the wasm32-wasip2 target"),
        ("slowdescribe", "extended_profile_validator", wasm("misbehaving"), json!({"mode": "describe-loop"}),
            "ran out of time (limit 100 ms)"),
    ];
    for (id, slot, path, config, _) in &cases {
        let mut file = site(id, id, &format!("{id}-secret-0123456789abcdef"));
        let limits = match *id {
            "bigmemory" => json!({"memory_mib": 1024}),
            "slowdescribe" => json!({"timeout_ms": 100, "fuel": 1_000_000_000_000u64}),
            _ => json!({}),
        };
        file["plugins"] = json!({ *slot: {"path": path, "config": config, "limits": limits} });
        std::fs::write(dir.path().join(format!("{id}.json")), file.to_string()).unwrap();
    }
    let out = userapi(&["sites", "check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    for (id, slot, _, _, message) in &cases {
        let line =
            report.lines().find(|l| l.contains(&format!("{id}.json"))).unwrap_or_else(|| panic!("{id}: {report}"));
        assert!(line.contains(&format!("/plugins/{slot}")) && line.contains(message), "{id}: {line}");
    }
    let slow = report.lines().find(|l| l.contains("slowdescribe.json")).unwrap();
    assert!(
        slow.contains("/plugins/extended_profile_validator/limits"),
        "a budget overrun at load names the limits: {slow}"
    );
}

#[test]
fn plugin_wit_prints_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = userapi(&["plugin", "wit"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("package userapi:plugins@0.1.0;").count(), 1, "{text}");
    for world in ["extended-profile-validator", "visibility-policy", "partner-report-formatter"] {
        assert!(text.contains(&format!("world {world} {{")), "{world}");
    }
    let folder = dir.path().join("wit");
    let out = userapi(&["plugin", "wit", "--out", folder.to_str().unwrap()], dir.path());
    assert!(out.status.success());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/v0.1.0");
    for name in ["types.wit", "worlds.wit"] {
        let written = std::fs::read_to_string(folder.join(name)).unwrap();
        assert_eq!(written, std::fs::read_to_string(repo.join(name)).unwrap(), "{name}");
    }
}

#[test]
fn the_example_sites_check_clean() {
    let sites = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../site-config");
    let out = userapi(&["sites", "check"], &sites);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("acme (tenant acme"), "{report}");
    assert!(report.contains("visibility_policy (visibility_policy)"), "{report}");
}

#[test]
fn plugin_check_names_worlds_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = userapi(&["plugin", "check", &wasm("profile_validator")], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("implements userapi:plugins/extended-profile-validator@0.1.0"), "{text}");
    assert!(text.contains("does not implement userapi:plugins/visibility-policy@0.1.0"), "{text}");
    let out = userapi(&["plugin", "check", &wasm("misbehaving")], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("  implements").count(), 3);
    let out = userapi(&["plugin", "check", &wasm("future_version")], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("userapi:plugins/validator@0.2.0"));
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"garbage").unwrap();
    let out = userapi(&["plugin", "check", garbage.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("not a userapi plugin"));
}

/// A plugin made from `plugins/template` (on the SDK) is a component the
/// host accepts, and passes the fixtures it ships with.
#[test]
fn the_template_builds_a_plugin_that_passes_check_and_its_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let out = userapi(&["plugin", "check", &wasm("plugin_template")], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("implements userapi:plugins/extended-profile-validator@0.1.0"), "{text}");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/template/fixtures");
    let out = userapi(
        &["plugin", "run", &wasm("plugin_template"), "--world", "validator", "--fixtures", fixtures.to_str().unwrap()],
        dir.path(),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("2 passed, 0 failed"), "{table}");
}

/// Writes `fixtures` (name, JSON) into a new folder under `dir`.
fn fixture_dir(dir: &std::path::Path, name: &str, fixtures: &[(&str, Value)]) -> std::path::PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for (file, fixture) in fixtures {
        std::fs::write(folder.join(format!("{file}.json")), fixture.to_string()).unwrap();
    }
    folder
}

fn run_json(args: &[&str], dir: &std::path::Path) -> (Option<i32>, Value) {
    let out = userapi(args, dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

#[test]
fn plugin_run_calls_every_world_and_reports_what_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.display().to_string()
    };
    let config = write("config.json", json!({"fields": serde_json::from_str::<Value>(VALIDATOR_FIELDS).unwrap()}));
    let input =
        write("in.json", json!({"username": "jdoe", "submitted": {"employer": "  ACME ", "favorite_color": "Green"}}));
    let validator = wasm("profile_validator");
    let (code, report) = run_json(
        &["plugin", "run", &validator, "--world", "validator", "--input", &input, "--config", &config],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["output"], json!({"accepted": {"employer": "ACME", "favorite_color": "green"}}));
    assert!(report["fuel_used"].as_u64().unwrap() > 0, "{report}");
    assert!(report["peak_memory_bytes"].as_u64().unwrap() >= 65536, "{report}");
    assert!(report["wall_ms"].as_f64().unwrap() > 0.0, "{report}");

    let input = write(
        "vis.json",
        json!({"reader": "user", "reader_orgs": ["MITx"], "owner": "jane", "owner_orgs": ["MITx"],
               "account_privacy": "custom", "field_preferences": {"bio": "all_users"}}),
    );
    let (code, report) = run_json(
        &["plugin", "run", &wasm("visibility_policy"), "--world", "visibility", "--input", &input],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{report}");
    let fields = report["output"]["visible_fields"].as_array().unwrap();
    assert!(fields.contains(&json!("bio")) && fields.contains(&json!("name")), "org mates see name: {report}");

    let input = write(
        "rows.json",
        json!({"org": "MITx", "headings": ["user_id", "original_email"],
               "rows": [{"user_id": 7, "original_username": "jane", "original_email": "=cmd@x.test", "original_name": "Jane"}]}),
    );
    let (code, report) =
        run_json(&["plugin", "run", &wasm("partner_report"), "--world", "formatter", "--input", &input], dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["output"]["file_name"], "MITx.csv");
    assert_eq!(report["output"]["text"], "user_id,original_email\r\n7,'=cmd@x.test\r\n");

    // Log lines are reported; a trap fails the run.
    let log = write("log.json", json!({"mode": "log"}));
    let empty = write("empty.json", json!({"username": "jdoe", "submitted": {"a": 1}}));
    let misbehaving = wasm("misbehaving");
    let (code, report) = run_json(
        &["plugin", "run", &misbehaving, "--world", "validator", "--input", &empty, "--config", &log],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["logs"], json!(["warn: hello from the misbehaving plugin"]));
    let panic = write("panic.json", json!({"mode": "panic"}));
    let (code, report) = run_json(
        &["plugin", "run", &misbehaving, "--world", "validator", "--input", &empty, "--config", &panic],
        dir.path(),
    );
    assert_eq!(code, Some(1), "{report}");
    assert!(report["error"].as_str().unwrap().contains("deliberate panic"), "{report}");

    // Megabytes printed: the first 4 KiB of each stream are logged, the rest counted and dropped.
    let flood = write("flood.json", json!({"mode": "flood"}));
    let in_place = write("in_place.json", json!({"timeout_ms": 100}));
    let (code, report) = run_json(
        &[
            "plugin",
            "run",
            &misbehaving,
            "--world",
            "validator",
            "--input",
            &empty,
            "--config",
            &flood,
            "--limits",
            &in_place,
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{report}");
    let logs: Vec<&str> = report["logs"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let printed = 2 * 1024 * 1024;
    for stream in ["stdout", "stderr"] {
        assert!(logs.contains(&format!("{stream}: … {} more bytes dropped", printed - 4096).as_str()), "{logs:?}");
        let kept = logs.iter().filter(|l| l.starts_with(&format!("{stream}: x"))).count();
        assert!((1..=5).contains(&kept), "{stream}: {kept} lines kept of {logs:?}");
    }
}

#[test]
fn plugin_run_fixtures_print_a_table_and_fail_on_any_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"fields": serde_json::from_str::<Value>(VALIDATOR_FIELDS).unwrap()});
    let good = fixture_dir(
        dir.path(),
        "good",
        &[
            (
                "normalises",
                json!({"input": {"submitted": {"employer": " ACME "}}, "config": config,
                                   "expected": {"accepted": {"employer": "ACME"}}}),
            ),
            (
                "refuses",
                json!({"input": {"submitted": {"favorite_color": "purple"}}, "config": config,
                       "expected": {"refused": [{"field": "favorite_color",
                           "developer_message": "Error in extended profile field [favorite_color]: Choose one of: red, green.",
                           "user_message": "Choose one of: red, green."}]}}),
            ),
        ],
    );
    let out = userapi(
        &["plugin", "run", &wasm("profile_validator"), "--world", "validator", "--fixtures", good.to_str().unwrap()],
        dir.path(),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("2 passed, 0 failed"), "{table}");

    let bad = fixture_dir(
        dir.path(),
        "bad",
        &[
            (
                "a_wrong_expectation",
                json!({"input": {"submitted": {"employer": " ACME "}}, "config": config,
                                            "expected": {"accepted": {"employer": "Wrong"}}}),
            ),
            (
                "b_expected_overrun",
                json!({"input": {"submitted": {"employer": "x"}}, "config": {"mode": "loop"},
                                           "limits": {"timeout_ms": 50, "fuel": 1_000_000_000_000u64},
                                           "expected_error": "ran out of time (limit 50 ms)"}),
            ),
            (
                "c_budget_overrun",
                json!({"input": {"submitted": {"employer": "x"}}, "config": {"mode": "loop"},
                                         "limits": {"fuel": 1_000_000}}),
            ),
            ("d_trap", json!({"input": {"submitted": {"employer": "x"}}, "config": {"mode": "panic"}})),
        ],
    );
    // The misbehaving component for the last three; the first fails on its answer.
    let out = userapi(
        &["plugin", "run", &wasm("misbehaving"), "--world", "validator", "--fixtures", bad.to_str().unwrap()],
        dir.path(),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let line = |name: &str| {
        table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {table}")).to_owned()
    };
    assert!(line("a_wrong_expectation").contains("FAIL"), "{table}");
    assert!(line("b_expected_overrun").contains("pass"), "{table}");
    let overrun = line("c_budget_overrun");
    assert!(overrun.contains("FAIL") && overrun.contains("ran out of fuel (limit 1000000)"), "{table}");
    let trap = line("d_trap");
    assert!(trap.contains("FAIL") && trap.contains("deliberate panic"), "{table}");
    assert!(table.contains("1 passed, 3 failed"), "{table}");
}
