//! Retirement over HTTP (retirement.md): the stock driver's call sequence
//! with a client-credentials token, verified erasure, and each endpoint's
//! refusals, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const BASE: &str = "/api/user/v1/accounts";
const STATES: &[&str] = &[
    "PENDING",
    "LOCKING_ACCOUNT",
    "LOCKING_COMPLETE",
    "RETIRING_EMAIL_LISTS",
    "EMAIL_LISTS_COMPLETE",
    "RETIRING_LMS_MISC",
    "LMS_MISC_COMPLETE",
    "RETIRING_LMS",
    "LMS_COMPLETE",
    "ADDING_TO_PARTNER_QUEUE",
    "PARTNER_QUEUE_COMPLETE",
    "ERRORED",
    "ABORTED",
    "COMPLETE",
];
/// The learner's values; none may survive retirement + cleanup.
const LEARNER: &str = "jdoe_sentinel_7q";
const EMAIL: &str = "jdoe_sentinel_7q@example.com";
const SENTINELS: &[&str] = &[
    LEARNER,
    EMAIL,
    "Jane Sentinel Doe",
    "BioSentinel4242",
    "GoalsSentinel4242",
    "Sentinel Street 9",
    "SentinelCity",
    "PrefSentinel4242",
    "fbsentinel4242",
    "OccupationSentinel",
    "recovery.sentinel.7q@example.org",
    "4155550142",
];

fn retirement_site() -> Value {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["retirement"] =
        json!({"states": STATES, "service_username": "retirement_worker", "salts": ["old-salt", "new-salt"]});
    config["extended_profile_fields"] = json!(["occupation"]);
    config["enable_secondary_email"] = json!(true);
    config["orgs_config"] =
        json!([{"org": "SpecialOrg", "field_headings": ["original_username", "deletion_completed"]}]);
    config
}

struct Driver<'a> {
    server: &'a TestServer,
    token: String,
}

impl Driver<'_> {
    /// The driver's transport: JWT header and a JSON content type on every request.
    fn call(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .request(method, "alpha.test", &format!("{BASE}/{path}"))
            .header("authorization", format!("JWT {}", self.token))
            .header("content-type", "application/json")
            .header("user-agent", "scripts.user_retirement")
    }

    async fn patch_state(&self, username: &str, state: &str, response: &str) {
        let r = self
            .call(Method::PATCH, "update_retirement_status/")
            .body(json!({"username": username, "new_state": state, "response": response}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "move to {state}: {}", r.text().await.unwrap());
    }

    async fn action(&self, method: Method, path: &str, username: &str) {
        let r = self.call(method, path).body(json!({"username": username}).to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}: {}", r.text().await.unwrap());
    }
}

async fn setup(b: Backend) -> (TestServer, String) {
    let s = TestServer::start_with(b, vec![("alpha.json".into(), retirement_site())], &[]).await;
    s.create_user("alpha", "retirement_worker", &[]).await;
    s.create_client("alpha", "retirement", "s3cret", "retirement_worker").await;
    s.create_user("alpha", LEARNER, &["--password", "Learner-Pass-1", "--name", "Jane Sentinel Doe"]).await;
    let token = s
        .request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=retirement&client_secret=s3cret&token_type=jwt")
        .send()
        .await
        .unwrap();
    let token = body_json(token).await["access_token"].as_str().unwrap().to_owned();
    (s, token)
}

/// Gives the learner personal data everywhere the store keeps it.
async fn fill_learner(s: &TestServer, worker: &str) {
    let learner = s.token("alpha", LEARNER).await;
    let patch = |path: String, body: Value| {
        s.request(Method::PATCH, "alpha.test", &path)
            .header("authorization", format!("JWT {learner}"))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let r = patch(format!("{BASE}/{LEARNER}"), json!({
        "bio": "BioSentinel4242", "goals": "GoalsSentinel4242", "mailing_address": "Sentinel Street 9", "city": "SentinelCity",
        "phone_number": "+1 415 555 0142", "year_of_birth": 1990, "country": "US", "state": "CA", "gender": "f",
        "language_proficiencies": [{"code": "en"}], "social_links": [{"platform": "facebook", "social_link": "fbsentinel4242"}],
        "extended_profile": [{"field_name": "occupation", "field_value": "OccupationSentinel"}],
        "secondary_email": "recovery.sentinel.7q@example.org",
    })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = patch(
        format!("/api/user/v1/preferences/{LEARNER}"),
        json!({"custom_pref": "PrefSentinel4242", "time_zone": "Asia/Tokyo"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Org memberships: the e-mail opt-in and a trusted service's record.
    let r = s
        .request(Method::POST, "alpha.test", "/user_api/v1/preferences/email_opt_in/")
        .header("authorization", format!("JWT {learner}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("course_id=course-v1:DemoX%2BD101%2B2024&email_opt_in=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for org in ["SpecialOrg", "OtherOrg"] {
        let r = s
            .request(Method::PUT, "alpha.test", &format!("/admin/v1/users/{LEARNER}/orgs/{org}"))
            .header("authorization", format!("JWT {worker}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let r = s
        .request(Method::POST, "alpha.test", &format!("{BASE}/name_change/"))
        .header("authorization", format!("JWT {learner}"))
        .header("content-type", "application/json")
        .body(json!({"name": "Jane Sentinel Doe Jr"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Delete my account.
    let r = s
        .request(Method::POST, "alpha.test", &format!("{BASE}/deactivate_logout/"))
        .header("authorization", format!("JWT {learner}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("password=Learner-Pass-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn sqlite_files_contain(s: &TestServer, needle: &str) -> Vec<String> {
    let path = s.database_url.trim_start_matches("sqlite://").to_owned();
    let mut hits = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let file = format!("{path}{suffix}");
        if let Ok(bytes) = std::fs::read(&file) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(file);
            }
        }
    }
    hits
}

async fn postgres_columns_contain(s: &TestServer, needle: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&s.database_url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() > 20, "scanned {} columns", columns.len());
    let mut hits = Vec::new();
    for (table, column) in columns {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM \"{table}\" WHERE position(lower($1) in lower(\"{column}\")) > 0"
        ))
        .bind(needle)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if n > 0 {
            hits.push(format!("{table}.{column}"));
        }
    }
    hits
}

async fn store_contains(s: &TestServer, needle: &str) -> Vec<String> {
    match s.backend {
        Backend::Sqlite => sqlite_files_contain(s, needle).await,
        Backend::Postgres => postgres_columns_contain(s, needle).await,
    }
}

async fn driver_sequence_retires_and_erases(b: Backend) {
    let (s, token) = setup(b).await;
    let worker = s.token("alpha", "retirement_worker").await;
    fill_learner(&s, &worker).await;
    // Before: the sentinels are in the store (so the scan can see them).
    // (Personal values are sealed, never in clear: a preference is what the scan can see.)
    assert!(!store_contains(&s, "PrefSentinel4242").await.is_empty(), "the scan must find live data");
    // Sealed: no personal value is in clear in any file of the data or its
    // keys (SQLite's files; PostgreSQL's relation files after a CHECKPOINT).
    assert!(!crate::crypto::raw_files_containing(&s, "PrefSentinel4242").await.is_empty(), "the raw scan sees");
    for needle in SENTINELS.iter().filter(|n| **n != LEARNER && **n != "PrefSentinel4242") {
        let hits = crate::crypto::raw_files_containing(&s, needle).await;
        assert!(hits.is_empty(), "{needle:?} in clear in {hits:?}");
    }
    // A copy of the data taken now opens with the keys as they are now.
    let copy = crate::crypto::Probe::capture(&s, LEARNER).await;
    assert_eq!(copy.open(&s, "alpha").await.as_deref(), Some("BioSentinel4242"));
    let (_, wrapped) = crate::crypto::keystore_row(&s, &copy.key_id).await.expect("the learner key is stored");
    let driver = Driver { server: &s, token };

    // get_learners_to_retire: PENDING plus every end state of the pipeline.
    let queue = driver
        .call(Method::GET, "retirement_queue/?cool_off_days=0&states=PENDING&states=EMAIL_LISTS_COMPLETE&states=LMS_MISC_COMPLETE&states=LMS_COMPLETE&states=PARTNER_QUEUE_COMPLETE&limit=200")
        .send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let queue = body_json(queue).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["original_username"], LEARNER);
    assert_eq!(queue[0]["current_state"]["state_name"], "PENDING");
    assert!(
        queue[0]["user"]["email"].as_str().unwrap().starts_with("retired__user_"),
        "e-mail retired at deactivation"
    );
    assert_eq!(queue[0]["user"]["username"], LEARNER, "username not yet");

    // retire_one_learner.
    let status =
        body_json(driver.call(Method::GET, &format!("{LEARNER}/retirement_status/")).send().await.unwrap()).await;
    assert_eq!(status["current_state"]["state_name"], "PENDING");
    let pipeline: &[(&str, &str, Method, &str)] = &[
        ("RETIRING_EMAIL_LISTS", "EMAIL_LISTS_COMPLETE", Method::POST, "retire_mailings/"),
        ("RETIRING_LMS_MISC", "LMS_MISC_COMPLETE", Method::POST, "retire_misc/"),
        ("RETIRING_LMS", "LMS_COMPLETE", Method::POST, "retire/"),
        ("ADDING_TO_PARTNER_QUEUE", "PARTNER_QUEUE_COMPLETE", Method::PUT, "retirement_partner_report/"),
    ];
    for (start, end, method, path) in pipeline {
        driver.patch_state(LEARNER, start, &format!("Starting: {start}")).await;
        driver.action(method.clone(), path, LEARNER).await;
        // Every step is idempotent: a retry after a timeout succeeds too.
        driver.action(method.clone(), path, LEARNER).await;
        driver.patch_state(LEARNER, end, &format!("Ending: {end} with response:\nNone")).await;
    }
    driver.patch_state(LEARNER, "COMPLETE", "Learner retirement complete.").await;
    // The status is found by the original name even though the account is renamed.
    let status =
        body_json(driver.call(Method::GET, &format!("{LEARNER}/retirement_status/")).send().await.unwrap()).await;
    assert_eq!(status["current_state"]["state_name"], "COMPLETE");
    assert_eq!(status["last_state"]["state_name"], "PARTNER_QUEUE_COMPLETE");
    assert_eq!(status["user"]["username"], status["retired_username"]);
    assert_eq!(status["user"]["profile"]["name"], "");
    // A superuser, who may read any account, finds the learner only by the retired name.
    let admin = s.create_user("alpha", "root", &["--superuser", "--staff"]).await;
    let admin_row =
        s.query("SELECT username, is_staff, is_superuser FROM users WHERE id = $1", &[SqlValue::Int(admin)]).await;
    assert_eq!(admin_row, [[Some("root".to_owned()), Some("1".to_owned()), Some("1".to_owned())]]);
    let root = s.token("alpha", "root").await;
    assert_eq!(s.get_as("alpha.test", &format!("{BASE}/{LEARNER}"), &root).await.status(), StatusCode::NOT_FOUND);
    let retired_username = status["retired_username"].as_str().unwrap();
    let retired = s.get_as("alpha.test", &format!("{BASE}/{retired_username}"), &root).await;
    assert_eq!(retired.status(), StatusCode::OK);
    let retired = body_json(retired).await;
    assert_eq!((&retired["username"], &retired["name"]), (&json!(retired_username), &json!("")));

    // retirement_partner_report: no body, JSON content type.
    let report = driver.call(Method::POST, "retirement_partner_report/").send().await.unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    let report = body_json(report).await;
    assert_eq!(report.as_array().unwrap().len(), 1);
    let row = &report[0];
    assert_eq!(row["original_username"], LEARNER);
    assert_eq!(row["original_email"], EMAIL);
    assert_eq!(row["original_name"], "Jane Sentinel Doe");
    assert_eq!(row["orgs"], json!(["DemoX", "OtherOrg"]), "snapshot at request time ∪ tags; sorted");
    assert_eq!(
        row["orgs_config"],
        json!([{"org": "SpecialOrg", "field_headings": ["original_username", "deletion_completed"]}])
    );
    let created = row["created"].as_str().unwrap();
    assert!(created.contains('T') && created.ends_with('Z'));
    // Handed out once: a second fetch is empty.
    assert_eq!(
        body_json(driver.call(Method::POST, "retirement_partner_report/").send().await.unwrap()).await,
        json!([])
    );
    let r = driver
        .call(Method::POST, "retirement_partner_report_cleanup/")
        .body(json!([{"original_username": LEARNER}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // retirement_archive_and_cleanup.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let rows = body_json(
        driver
            .call(
                Method::GET,
                &format!("retirements_by_status_and_date/?start_date=2018-01-01&end_date={today}&state=COMPLETE"),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let r = driver
        .call(Method::POST, "retirement_cleanup/")
        .body(json!({"usernames": [LEARNER]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = driver
        .call(Method::POST, "retirement_cleanup/")
        .body(json!({"usernames": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        driver.call(Method::GET, &format!("{LEARNER}/retirement_status/")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // The learner key is destroyed: the copy taken before retirement no
    // longer opens, and the key store's files keep no trace of the key.
    assert_eq!(copy.open(&s, "alpha").await, None, "the learner key outlived the retirement");
    let hits = crate::crypto::raw_files_containing(&s, &wrapped).await;
    assert!(hits.is_empty(), "the wrapped learner key survives in {hits:?}");

    // Verified erasure: no personal value of the learner is anywhere in the store.
    for needle in SENTINELS {
        let hits = store_contains(&s, needle).await;
        assert!(hits.is_empty(), "{needle:?} survives in {hits:?}");
    }
    // The original username still counts as taken (a retired form exists).
    let decision = s
        .request(Method::POST, "alpha.test", "/api/user/v1/validation/registration")
        .header("content-type", "application/json")
        .body(json!({"username": "JDOE_SENTINEL_7Q"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_json(decision).await["validation_decisions"]["username"],
        "It looks like this username is already taken"
    );
}

async fn queue_and_date_refusals(b: Backend) {
    let (s, token) = setup(b).await;
    let driver = Driver { server: &s, token };
    let cases = [
        ("retirement_queue/?states=PENDING", "Missing required parameter: 'cool_off_days'"),
        ("retirement_queue/?cool_off_days=abc&states=PENDING", "Invalid cool_off_days, should be integer."),
        ("retirement_queue/?cool_off_days=1.5&states=PENDING", "Invalid cool_off_days, should be integer."),
        (
            "retirement_queue/?cool_off_days=-1&states=PENDING",
            "Invalid argument for cool_off_days, must be greater than 0.",
        ),
        ("retirement_queue/?cool_off_days=7", "Param \"states\" required with at least one state."),
        (
            "retirement_queue/?cool_off_days=7&states=PENDING&states=FOO",
            "Unknown state. Requested: ['PENDING', 'FOO'] Found: ['PENDING']",
        ),
        (
            "retirement_queue/?cool_off_days=7&states=PENDING&states=PENDING",
            "Unknown state. Requested: ['PENDING', 'PENDING'] Found: ['PENDING']",
        ),
        (
            "retirement_queue/?cool_off_days=7&states=PENDING&limit=x",
            "Limit could not be parsed: x, please ensure this is an integer",
        ),
        (
            "retirements_by_status_and_date/?end_date=2018-01-01&state=COMPLETE",
            "Missing required parameter: 'start_date'",
        ),
        (
            "retirements_by_status_and_date/?start_date=2018-13-01&end_date=2018-01-01&state=COMPLETE",
            "Invalid start or end date: time data '2018-13-01' does not match format '%Y-%m-%d'",
        ),
        (
            "retirements_by_status_and_date/?start_date=2018-01-01x&end_date=2018-01-01&state=COMPLETE",
            "Invalid start or end date: unconverted data remains: x",
        ),
        (
            "retirements_by_status_and_date/?start_date=2019-01-01&end_date=2018-01-01&state=COMPLETE",
            "Dates must be today or earlier, and start must be earlier than end.",
        ),
        (
            "retirements_by_status_and_date/?start_date=2018-01-01&end_date=2018-01-01",
            "Missing required parameter: 'state'",
        ),
        (
            "retirements_by_status_and_date/?start_date=2018-01-01&end_date=2018-01-01&state=NOPE",
            "Unknown retirement state.",
        ),
    ];
    for (path, message) in cases {
        let r = driver.call(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body_json(r).await, json!(message), "{path}");
    }
    let r = driver.call(Method::GET, "retirement_queue/?cool_off_days=0&states=PENDING&limit=0").send().await.unwrap();
    assert_eq!(body_json(r).await, json!([]));
    // Permission: the learner is neither the worker nor a superuser; staff alone is not enough.
    s.create_user("alpha", "staffer", &["--staff"]).await;
    let staff = s.token("alpha", "staffer").await;
    let r = s.get_as("alpha.test", &format!("{BASE}/retirement_queue/?cool_off_days=0&states=PENDING"), &staff).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.request(Method::GET, "alpha.test", &format!("{BASE}/retirement_queue/")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn state_moves_follow_the_rules(b: Backend) {
    let (s, token) = setup(b).await;
    fill_learner(&s, &s.token("alpha", "retirement_worker").await).await;
    let driver = Driver { server: &s, token };
    let patch = |body: Value| driver.call(Method::PATCH, "update_retirement_status/").body(body.to_string()).send();
    let r = patch(json!({"new_state": "LOCKING_ACCOUNT", "response": "x"})).await.unwrap();
    assert_eq!(
        (r.status(), body_json(r).await),
        (StatusCode::NOT_FOUND, json!({"message": "The user was not specified."}))
    );
    let r = patch(json!({"username": "nobody", "new_state": "LOCKING_ACCOUNT", "response": "x"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = patch(json!({"username": LEARNER, "response": "x"})).await.unwrap();
    assert_eq!(body_json(r).await, json!("RetirementStatus: Required key new_state missing from update"));
    let r = patch(json!({"username": LEARNER, "new_state": "LOCKING_ACCOUNT", "response": "x", "colour": 1}))
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!("RetirementStatus: Unknown key colour in update"));
    let r = patch(json!({"username": LEARNER, "new_state": "PENDING", "response": "x"})).await.unwrap();
    assert_eq!(
        body_json(r).await,
        json!("PENDING does not exist or is an eariler state than current state PENDING (step 1)")
    );
    let r = patch(json!({"username": LEARNER, "new_state": null, "response": "x", "force": true})).await.unwrap();
    assert_eq!(
        body_json(r).await,
        json!("None does not exist or is an eariler state than current state PENDING (step 1)")
    );
    driver.patch_state(LEARNER, "ERRORED", "boom").await;
    driver.patch_state(LEARNER, "ABORTED", "later dead ends are allowed").await;
    let r = patch(json!({"username": LEARNER, "new_state": "RETIRING_LMS", "response": "x"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // force rewinds to any known state; actions refuse non-working states.
    let r = patch(json!({"username": LEARNER, "new_state": "LMS_MISC_COMPLETE", "response": "rewind", "force": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = driver.call(Method::POST, "retire/").body(json!({"username": LEARNER}).to_string()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let message = body_json(r).await.as_str().unwrap().to_owned();
    assert!(
        message.starts_with("User: ")
            && message.contains(" State: LMS_MISC_COMPLETE (step 61) Last Updated: 20")
            && message.ends_with("+00:00 is in LMS_MISC_COMPLETE, not a valid state to perform retirement actions on."),
        "{message}"
    );
    let r = driver.call(Method::POST, "retire/").body(json!({"username": ""}).to_string()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .request(Method::POST, "alpha.test", &format!("{BASE}/retire/"))
        .header("authorization", format!("JWT {}", driver.token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Action paths need their trailing slash.
    for path in ["retire", "retire_misc", "update_retirement_status", "cancel_retirement"] {
        let r = driver.call(Method::POST, path).body(json!({"username": LEARNER}).to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Cleanup refusals.
    let r = driver
        .call(Method::POST, "retirement_cleanup/")
        .body(json!({"usernames": [LEARNER]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!("Not all usernames exist in the COMPLETE state."));
    let r = driver.call(Method::POST, "retirement_cleanup/").body(json!({}).to_string()).send().await.unwrap();
    assert_eq!(body_json(r).await, json!("Missing required parameter: 'usernames'"));
    let r = driver.call(Method::POST, "retirement_partner_report_cleanup/").body("[]").send().await.unwrap();
    assert_eq!(body_json(r).await, json!("No original_usernames given."));
    let r = driver
        .call(Method::POST, "retirement_partner_report_cleanup/")
        .body(json!([{"original_username": "u1"}, {"original_username": "u2"}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!("2 original_usernames given, 0 found!\nGiven usernames:\n['u1', 'u2']\nFound UserRetirementReportingStatuses:\n"));
}

async fn cancel_restores_a_pending_account(b: Backend) {
    let (s, _token) = setup(b).await;
    fill_learner(&s, &s.token("alpha", "retirement_worker").await).await;
    s.create_user("alpha", "root", &["--superuser", "--staff"]).await;
    let root = s.token("alpha", "root").await;
    let (status, body) = {
        let r = s.get_as("alpha.test", &format!("{BASE}?email={EMAIL}"), &root).await;
        (r.status(), body_json(r).await)
    };
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["can_cancel_retirement"], true);
    let id = body["retirement_id"].as_i64().unwrap();
    let post = |token: &str, body: String| {
        s.request(Method::POST, "alpha.test", &format!("{BASE}/cancel_retirement/"))
            .header("authorization", format!("JWT {token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let worker = s.token("alpha", "retirement_worker").await;
    assert_eq!(post(&worker, format!("retirement_id={id}")).await.unwrap().status(), StatusCode::FORBIDDEN);
    let r = post(&root, String::new()).await.unwrap();
    assert_eq!(body_json(r).await, json!({"message": "retirement_id must be specified."}));
    let r = s
        .request(Method::POST, "alpha.test", &format!("{BASE}/cancel_retirement/"))
        .header("authorization", format!("JWT {root}"))
        .header("content-type", "application/json")
        .body(r#"{"retirement_id": null}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!({"message": "Retirement does not exist!"}));
    let r = post(&root, "retirement_id=abc".into()).await.unwrap();
    assert_eq!(body_json(r).await, json!({"message": "Retirement does not exist!"}));
    let r = post(&root, format!("retirement_id={id}")).await.unwrap();
    assert_eq!((r.status(), body_json(r).await), (StatusCode::OK, json!({"success": true})));
    let found = body_json(s.get_as("alpha.test", &format!("{BASE}?email={EMAIL}"), &root).await).await;
    assert_eq!(found[0]["username"], LEARNER, "the original address is back");
    // The learner can ask again later: the request marker went with the row.
    let r = post(&root, format!("retirement_id={id}")).await.unwrap();
    assert_eq!(body_json(r).await, json!({"message": "Retirement does not exist!"}));
}

async fn concurrent_partner_fetches_never_share_rows(b: Backend) {
    let (s, token) = setup(b).await;
    let worker = s.token("alpha", "retirement_worker").await;
    // Twelve learners queued for partner reporting.
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("learner{i}");
        s.create_user("alpha", &name, &["--password", "Pass-word-123"]).await;
        let r = s
            .request(Method::PUT, "alpha.test", &format!("/admin/v1/users/{name}/orgs/OrgX"))
            .header("authorization", format!("JWT {worker}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let t = s.token("alpha", &name).await;
        let r = s
            .request(Method::POST, "alpha.test", &format!("{BASE}/deactivate_logout/"))
            .header("authorization", format!("JWT {t}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("password=Pass-word-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        names.push(name);
    }
    let driver = Driver { server: &s, token };
    for name in &names {
        driver.patch_state(name, "ADDING_TO_PARTNER_QUEUE", "go").await;
        driver.action(Method::PUT, "retirement_partner_report/", name).await;
    }
    let fetches: Vec<_> = (0..4).map(|_| driver.call(Method::POST, "retirement_partner_report/").send()).collect();
    let mut seen = Vec::new();
    for f in fetches {
        let rows = body_json(f.await.unwrap()).await;
        seen.extend(rows.as_array().unwrap().iter().map(|r| r["original_username"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(seen, expected, "every row handed out exactly once");
    // Reset to false (CLI) hands them out again; the admin route sets true.
    let out = s
        .cli(&[
            "retirement",
            "reset-partner-report",
            "--processing",
            "false",
            "--username",
            "learner0",
            "--username",
            "learner1",
        ])
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let again = body_json(driver.call(Method::POST, "retirement_partner_report/").send().await.unwrap()).await;
    assert_eq!(again.as_array().unwrap().len(), 2);
    s.create_user("alpha", "root", &["--superuser"]).await;
    let root = s.token("alpha", "root").await;
    let r = s
        .request(Method::POST, "alpha.test", "/admin/v1/retirement/partner_reporting/reset")
        .header("authorization", format!("JWT {root}"))
        .header("content-type", "application/json")
        .body(json!({"is_being_processed": false}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!({"updated": 12}));
    let r = s
        .request(Method::POST, "alpha.test", "/admin/v1/retirement/partner_reporting/reset")
        .header("authorization", format!("JWT {root}"))
        .header("content-type", "application/json")
        .body(json!({"is_being_processed": true, "usernames": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await, json!({"updated": 0}), "an empty list names nobody");
    // The per-org report file through the formatter (CLI).
    let out_dir = tempfile::tempdir().unwrap();
    let out =
        s.cli(&["retirement", "partner-report", "--site", "alpha", "--out", out_dir.path().to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(out_dir.path().join("OrgX.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "user_id,original_username,original_email,original_name,deletion_completed");
    assert_eq!(lines.len(), 13);
}

backend_tests!(
    driver_sequence_retires_and_erases,
    queue_and_date_refusals,
    state_moves_follow_the_rules,
    cancel_restores_a_pending_account,
    concurrent_partner_fetches_never_share_rows,
);

async fn state_list_changes_wait_for_idle_pipelines(b: Backend) {
    let (s, token) = setup(b).await;
    fill_learner(&s, &s.token("alpha", "retirement_worker").await).await;
    s.create_user("alpha", "root", &["--superuser"]).await;
    let root = s.token("alpha", "root").await;
    let driver = Driver { server: &s, token };
    driver.patch_state(LEARNER, "RETIRING_LMS", "working").await;
    let reload = || {
        s.request(Method::POST, "alpha.test", "/admin/v1/sites/reload")
            .header("authorization", format!("JWT {root}"))
            .send()
    };
    let mut changed = retirement_site();
    changed["retirement"]["states"] =
        json!(["PENDING", "RETIRING_LMS", "LMS_COMPLETE", "ERRORED", "ABORTED", "COMPLETE"]);
    s.write_site("alpha.json", &changed);
    let r = reload().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(r).await["errors"].to_string();
    assert!(errors.contains("Users are currently being processed"), "{errors}");
    // The old states keep serving.
    let r = driver.call(Method::GET, "retirement_queue/?cool_off_days=0&states=LOCKING_COMPLETE").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Once the learner is in a required state, the change goes through.
    driver.patch_state(LEARNER, "ERRORED", "stopped").await;
    assert_eq!(reload().await.unwrap().status(), StatusCode::OK);
    let r = driver.call(Method::GET, "retirement_queue/?cool_off_days=0&states=LOCKING_COMPLETE").send().await.unwrap();
    assert_eq!(body_json(r).await, json!("Unknown state. Requested: ['LOCKING_COMPLETE'] Found: []"));
}

backend_tests!(state_list_changes_wait_for_idle_pipelines);
