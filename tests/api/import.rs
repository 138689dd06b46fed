//! `userapi import openedx` against a real MariaDB holding Open edX's LMS
//! tables as Django's MySQL backend creates them (fixtures/openedx-lms.sql),
//! checked through the HTTP API on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, MySqlConnection};

use crate::harness::*;

/// Retirement states of the site (Open edX's defaults, as the driver uses them).
const STATES: &[&str] = &[
    "PENDING",
    "LOCKING_ACCOUNT",
    "LOCKING_COMPLETE",
    "RETIRING_LMS",
    "LMS_COMPLETE",
    "ERRORED",
    "ABORTED",
    "COMPLETE",
];

fn mysql_admin_url() -> String {
    std::env::var("USERAPI_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A MariaDB database with the LMS schema, dropped when the test ends.
struct Lms {
    url: String,
    name: String,
}

impl Lms {
    async fn create() -> Lms {
        let name = format!("{TEST_DB_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let admin = mysql_admin_url();
        let mut conn = MySqlConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("MariaDB at {admin} is unreachable ({e}); ./scripts/test.sh starts it"));
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
        let lms = Lms { url: format!("{admin}/{name}"), name };
        lms.run(include_str!("fixtures/openedx-lms.sql")).await;
        lms
    }

    async fn run(&self, sql: &str) {
        let mut conn = MySqlConnection::connect(&self.url).await.expect("connect to the LMS database");
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
        let _ = conn.close().await;
    }
}

impl Drop for Lms {
    fn drop(&mut self) {
        let drop_it = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        let _ =
            std::process::Command::new("mariadb").args(["-h127.0.0.1", "-P3306", "-uroot", "-e", &drop_it]).status();
    }
}

/// The LMS's learners:
/// 7 alice_lms: everything filled in; her password is Django's
///   `make_password("Imported-Pass-1", "abcdefghijklmnop", "pbkdf2_sha256")` at 1000 iterations.
/// 8 a retired learner (status COMPLETE, request, partner-reporting row).
/// 9 CAROL: her username is taken here (by `carol`), case-insensitively.
/// 10 dave: `meta` is not JSON; 11 erin: country "XX" (both refused whole).
/// 12 frank: a retirement status in a state the site does not have (that row refused).
/// 13 gina: a bcrypt password (imported unusable).
/// 1 hank: his LMS id is taken here (by retirement_worker), so he gets another.
const SEED: &str = r#"
INSERT INTO user_api_retirementstate (id, state_name, state_execution_order, is_dead_end_state, required) VALUES
 (1, 'PENDING', 1, 0, 1), (2, 'LOCKING_ACCOUNT', 11, 0, 0), (3, 'COMPLETE', 71, 1, 1), (4, 'WEIRD_STATE', 81, 0, 0);
INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES
 (7, 'pbkdf2_sha256$1000$abcdefghijklmnop$mTQfWm2AopoGNEmDdmTgfFQPdAUvQXct9WhnNVSaE/0=', '2024-03-01 10:00:00.250000', 0, 'alice_lms', 'Alice', 'Liddell', 'Alice.Liddell@example.com', 0, 1, '2019-05-04 03:02:01.123456'),
 (8, '!retiredUnusable0123456789', NULL, 0, 'retired__user_0a1b2c', '', '', 'retired__user_0a1b2c@retired.invalid', 0, 0, '2018-01-01 00:00:00'),
 (9, 'pbkdf2_sha256$1000$abcdefghijklmnop$mTQfWm2AopoGNEmDdmTgfFQPdAUvQXct9WhnNVSaE/0=', NULL, 0, 'CAROL', '', '', 'carol.lms@example.com', 0, 1, '2020-01-01 00:00:00'),
 (10, '!x', NULL, 0, 'dave', '', '', 'dave@example.com', 0, 1, '2020-01-01 00:00:00'),
 (11, '!x', NULL, 0, 'erin', '', '', 'erin@example.com', 0, 1, '2020-01-01 00:00:00'),
 (12, '!x', NULL, 0, 'frank', '', '', 'frank@example.com', 0, 1, '2020-01-01 00:00:00'),
 (13, 'bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', NULL, 0, 'gina', '', '', 'gina@example.com', 1, 1, '2020-01-01 00:00:00'),
 (1, '!x', NULL, 0, 'hank', '', '', 'hank@example.com', 0, 1, '2020-01-01 00:00:00');
INSERT INTO auth_userprofile (id, name, meta, courseware, language, location, year_of_birth, gender, level_of_education, mailing_address, city, country, state, goals, bio, profile_image_uploaded_at, phone_number, user_id) VALUES
 (107, 'Alice Liddell', '{"occupation": "Explorer", "old_names": []}', 'course.xml', 'English', '', 1990, 'f', 'b', '1 Rabbit Hole', 'Oxford', 'GB', NULL, '', 'Curious, and curiouser.', '2023-06-07 08:09:10', '+44 1865 000000', 7),
 (108, '', '', 'course.xml', '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 8),
 (110, 'Dave', '{not json', 'course.xml', '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 10),
 (111, 'Erin', '', 'course.xml', '', '', NULL, NULL, NULL, NULL, NULL, 'XX', NULL, NULL, NULL, NULL, NULL, 11),
 (112, 'Frank', '', 'course.xml', '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 12),
 (113, 'Gina', '', 'course.xml', '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 13);
INSERT INTO student_sociallink (id, platform, social_link, user_profile_id) VALUES (1, 'twitter', 'https://twitter.com/alice_lms', 107);
INSERT INTO student_languageproficiency (id, code, user_profile_id) VALUES (1, 'fr', 107), (2, 'en', 107);
INSERT INTO user_api_userpreference (id, `key`, value, user_id) VALUES
 (1, 'pref-lang', 'en', 7), (2, 'time_zone', 'Europe/London', 7), (3, 'account_privacy', 'all_users', 7),
 (4, 'dark-mode', 'on', 7), (5, 'visibility.bio', 'all_users', 7), (6, 'pref-lang', 'fr', 12);
INSERT INTO user_api_userorgtag (id, created, modified, `key`, org, value, user_id) VALUES
 (1, '2021-01-01 00:00:00', '2021-01-01 00:00:00', 'email-optin', 'MITx', 'True', 7),
 (2, '2021-01-01 00:00:00', '2021-01-02 00:00:00', 'email-optin', 'HarvardX', 'False', 8);
INSERT INTO student_pendingnamechange (id, new_name, rationale, user_id) VALUES (1, 'Alice P. Liddell', 'Married', 7);
INSERT INTO auth_accountrecovery (id, secondary_email, is_active, user_id) VALUES (1, 'alice.recovery@example.org', 1, 7);
INSERT INTO student_pendingemailchange (id, new_email, activation_key, user_id) VALUES (1, 'alice.new@example.com', '0123456789abcdef0123456789abcdef', 7);
INSERT INTO user_api_userretirementstatus (id, created, modified, original_username, original_email, original_name, retired_username, retired_email, responses, current_state_id, last_state_id, user_id) VALUES
 (1, '2022-02-02 00:00:00', '2022-02-03 00:00:00', 'bob_gone', 'bob@example.com', 'Bob Gone', 'retired__user_0a1b2c', 'retired__user_0a1b2c@retired.invalid', 'all done', 3, 2, 8),
 (2, '2022-02-02 00:00:00', '2022-02-03 00:00:00', 'frank', 'frank@example.com', 'Frank', 'retired__user_ffff', 'retired__user_ffff@retired.invalid', '', 4, 1, 12);
INSERT INTO user_api_userretirementrequest (id, created, modified, user_id) VALUES (1, '2022-02-01 00:00:00', '2022-02-01 00:00:00', 8);
INSERT INTO user_api_userretirementpartnerreportingstatus (id, created, modified, original_username, original_email, original_name, is_being_processed, user_id) VALUES
 (1, '2022-02-03 00:00:00', '2022-02-03 00:00:00', 'bob_gone', 'bob@example.com', 'Bob Gone', 0, 8);
"#;

fn import_site() -> Value {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["retirement"] = json!({"states": STATES, "service_username": "retirement_worker"});
    config["extended_profile_fields"] = json!(["occupation"]);
    config["enable_secondary_email"] = json!(true);
    config
}

/// A server on `b` with the import site, a retirement worker, a client for
/// password logins and a native account `carol`; and the seeded LMS.
async fn setup(b: Backend) -> (TestServer, Lms, i64) {
    let s = TestServer::start_with(b, vec![("alpha.json".into(), import_site())], &[]).await;
    s.create_user("alpha", "retirement_worker", &["--superuser"]).await;
    s.create_client("alpha", "web", "Client-Secret-42", "retirement_worker").await;
    let carol = s.create_user("alpha", "carol", &[]).await;
    let lms = Lms::create().await;
    lms.run(SEED).await;
    (s, lms, carol)
}

/// Runs the import (extra flags appended); returns the exit code and the JSON report.
async fn import(s: &TestServer, lms: &Lms, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["import", "openedx", "--site", "alpha", "--json", "--batch-size", "3"];
    args.extend_from_slice(extra);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_userapi"));
    cmd.args(&args)
        .env("USERAPI_DATABASE_URL", &s.database_url)
        .env("USERAPI_SITES_DIR", &s.sites_dir)
        .env("USERAPI_IMPORT_FROM", &lms.url)
        .env("USERAPI_LOG", "json")
        .envs(s.extra_env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().await.expect("run userapi import");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{stderr}"));
    assert!(stderr.contains("auth_userprofile"), "the summary table goes to stderr: {stderr}");
    // The SQLite server was not told of writes made around it: drop its cache.
    s.flush_cache().await;
    (out.status.code().unwrap_or(-1), report)
}

/// The counts of an LMS table in a report.
fn counts(report: &Value, table: &str) -> Value {
    report["tables"].get(table).unwrap_or_else(|| panic!("no {table} in {report}")).clone()
}

async fn password_login(s: &TestServer, username: &str, password: &str) -> reqwest::Response {
    s.request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&client_id=web&client_secret=Client-Secret-42&username={username}&password={password}&token_type=jwt"
        ))
        .send()
        .await
        .unwrap()
}

async fn an_lms_is_imported_and_read_through_the_api(b: Backend) {
    let (s, lms, carol) = setup(b).await;
    let (code, report) = import(&s, &lms, &[]).await;
    assert_eq!(code, 1, "refused and conflicting rows make the exit code 1: {report}");

    // Counts: 8 learners read; dave and erin refused, CAROL conflicting.
    assert_eq!(
        counts(&report, "auth_user"),
        json!({"read": 8, "imported": 5, "updated": 0, "unchanged": 0, "refused": 2, "conflicting": 1})
    );
    assert_eq!(counts(&report, "user_api_userpreference")["imported"], 6);
    assert_eq!(counts(&report, "user_api_userretirementstatus")["refused"], 1, "frank's unknown state");
    let reasons: Vec<String> = report["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}: {}", r["table"].as_str().unwrap(), r["id"], r["reason"].as_str().unwrap()))
        .collect();
    assert!(reasons.contains(&"auth_userprofile 110: meta is not a JSON object".to_owned()), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("auth_userprofile 111: \"XX\" is not a valid country")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("user_api_userretirementstatus 2: unknown retirement state \"WEIRD_STATE\"")),
        "{reasons:?}"
    );
    assert_eq!(
        report["conflicts"],
        json!([{"lms_user_id": 9, "userapi_id": carol, "field": "username", "value": "CAROL"}])
    );
    assert_eq!(report["unusable_passwords"], json!({"bcrypt_sha256": 1}));

    // A migrated pbkdf2 password logs in, and is rehashed to argon2id.
    let r = password_login(&s, "alice_lms", "Imported-Pass-1").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let token = body_json(r).await["access_token"].as_str().unwrap().to_owned();
    let rehashed = s.query("SELECT password_hash FROM users WHERE lms_user_id = 7", &[]).await;
    let rehashed = rehashed[0][0].clone().unwrap();
    assert!(rehashed.starts_with("$argon2id$"), "{rehashed}");
    assert_eq!(password_login(&s, "alice_lms", "wrong").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(password_login(&s, "gina", "anything").await.status(), StatusCode::BAD_REQUEST);

    // The account, field for field.
    let account = body_json(s.get_account("alpha.test", "alice_lms", &token).await).await;
    assert_eq!(account["id"], 7, "the LMS id is kept when it is free");
    // Staff find learners by their LMS id, whether or not it was kept.
    let worker = s.token("alpha", "retirement_worker").await;
    for (lms_id, username) in [(7, "alice_lms"), (1, "hank")] {
        let r = s.get_as("alpha.test", &format!("/api/user/v1/accounts?lms_user_id={lms_id}"), &worker).await;
        let found = body_json(r).await;
        assert_eq!(found[0]["username"], username, "{found}");
    }
    let hank = s.query("SELECT id FROM users WHERE lms_user_id = 1", &[]).await;
    assert_ne!(hank[0][0].as_deref(), Some("1"), "id 1 was taken");
    for (field, value) in [
        ("username", json!("alice_lms")),
        ("email", json!("Alice.Liddell@example.com")),
        ("name", json!("Alice Liddell")),
        ("date_joined", json!("2019-05-04T03:02:01Z")),
        ("is_active", json!(true)),
        ("year_of_birth", json!(1990)),
        ("gender", json!("f")),
        ("level_of_education", json!("b")),
        ("mailing_address", json!("1 Rabbit Hole")),
        ("country", json!("GB")),
        ("state", Value::Null),
        ("goals", json!("")),
        ("bio", json!("Curious, and curiouser.")),
        ("phone_number", json!("+44 1865 000000")),
        ("account_privacy", json!("all_users")),
        ("pending_name_change", json!("Alice P. Liddell")),
        ("secondary_email", json!("alice.recovery@example.org")),
        ("social_links", json!([{"platform": "twitter", "social_link": "https://twitter.com/alice_lms"}])),
        ("language_proficiencies", json!([{"code": "en"}, {"code": "fr"}])),
        ("extended_profile", json!([{"field_name": "occupation", "field_value": "Explorer"}])),
    ] {
        assert_eq!(account[field], value, "{field}: {account}");
    }
    assert_eq!(account["profile_image"]["has_image"], true, "{account}");
    // The account object shows no city; the profile holds it.
    let language = s.query("SELECT language FROM profiles WHERE user_id = 7", &[]).await;
    assert_eq!(language, vec![vec![Some("English".to_owned())]]);
    assert_eq!(s.stored_user("alpha", "alice_lms").await["city"], "Oxford", "sealed, and opens");

    // Preferences and org tags.
    let prefs = body_json(s.get_as("alpha.test", "/api/user/v1/preferences/alice_lms", &token).await).await;
    assert_eq!(prefs["pref-lang"], "en");
    assert_eq!(prefs["time_zone"], "Europe/London");
    assert_eq!(prefs["dark-mode"], "on");
    assert_eq!(prefs.as_object().unwrap().len(), 5, "{prefs}");
    let tags = s.query("SELECT org, key, value FROM org_tags WHERE user_id = 7", &[]).await;
    assert_eq!(tags, vec![vec![Some("MITx".to_owned()), Some("email-optin".to_owned()), Some("True".to_owned())]]);

    // The retired learner's status, through the retirement API (found by the
    // username the LMS left them; the seed's is not a salted hash of the original).
    let r = s.get_as("alpha.test", "/api/user/v1/accounts/retired__user_0a1b2c/retirement_status/", &worker).await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = body_json(r).await;
    assert_eq!(status["current_state"]["state_name"], "COMPLETE", "{status}");
    assert_eq!(status["last_state"]["state_name"], "LOCKING_ACCOUNT", "{status}");
    assert_eq!(status["original_email"], "bob@example.com");
    assert_eq!(status["retired_username"], "retired__user_0a1b2c");
    let responses = s.query("SELECT responses, orgs FROM retirement_status WHERE user_id = 8", &[]).await;
    assert_eq!(responses, vec![vec![Some("all done".to_owned()), Some(r#"["HarvardX"]"#.to_owned())]]);
    // frank was imported, without the status row that was refused.
    assert_eq!(s.query("SELECT id FROM users WHERE username = 'frank'", &[]).await.len(), 1);
    let r = s.get_as("alpha.test", "/api/user/v1/accounts/frank/retirement_status/", &worker).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Refused and conflicting learners are not here; carol is untouched.
    assert!(s
        .query("SELECT id FROM users WHERE username IN ('dave', 'erin') OR lms_user_id = 9", &[])
        .await
        .is_empty());
    assert_eq!(s.stored_user("alpha", "carol").await["email"], "carol@example.com");
}

async fn a_second_run_changes_nothing_and_since_reads_recent_changes(b: Backend) {
    let (s, lms, _) = setup(b).await;
    // A dry run reports what it would do and writes nothing.
    let (_, dry) = import(&s, &lms, &["--dry-run"]).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry, "auth_user")["imported"], 5);
    assert!(s.query("SELECT id FROM users WHERE lms_user_id IS NOT NULL", &[]).await.is_empty(), "dry run wrote");

    let (_, first) = import(&s, &lms, &[]).await;
    assert_eq!(counts(&first, "auth_user")["imported"], 5);
    let count = "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM preferences) \
                 + (SELECT COUNT(*) FROM org_tags) + (SELECT COUNT(*) FROM retirement_status)";
    let before = s.query(count, &[]).await;

    // A second run: everything unchanged, nothing duplicated.
    let (_, second) = import(&s, &lms, &[]).await;
    let tables = first["tables"].as_object().unwrap();
    assert_eq!(tables.len(), 13, "every LMS table is reported: {first}");
    for (name, a) in tables {
        let b = &second["tables"][name];
        assert_eq!(b["imported"], 0, "{second}");
        assert_eq!(b["updated"], 0, "{second}");
        assert_eq!(b["unchanged"], a["imported"], "{second}");
    }
    assert_eq!(s.query(count, &[]).await, before);

    // Changes in the LMS: alice logs in and edits her bio; a new learner joins.
    lms.run(
        "UPDATE auth_user SET last_login = '2030-01-02 00:00:00' WHERE id = 7; \
         UPDATE auth_userprofile SET bio = 'Changed in the LMS' WHERE user_id = 7; \
         UPDATE user_api_userpreference SET value = 'de' WHERE id = 1; \
         INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) \
         VALUES (20, '!x', 0, 'newcomer', '', '', 'newcomer@example.com', 0, 1, '2030-01-01 12:00:00');",
    )
    .await;
    let (code, since) = import(&s, &lms, &["--since", "2029-12-31"]).await;
    assert_eq!(code, 0, "{since}");
    assert_eq!(
        counts(&since, "auth_user"),
        json!({"read": 2, "imported": 1, "updated": 1, "unchanged": 0, "refused": 0, "conflicting": 0})
    );
    assert_eq!(counts(&since, "auth_userprofile")["updated"], 1);
    assert_eq!(counts(&since, "user_api_userpreference")["updated"], 1);
    let token = s.token("alpha", "alice_lms").await;
    let account = body_json(s.get_account("alpha.test", "alice_lms", &token).await).await;
    assert_eq!(account["bio"], "Changed in the LMS");
    let prefs = body_json(s.get_as("alpha.test", "/api/user/v1/preferences/alice_lms", &token).await).await;
    assert_eq!(prefs["pref-lang"], "de");
    assert_eq!(s.query("SELECT id FROM users WHERE username = 'newcomer'", &[]).await.len(), 1);

    // Bad input to the command itself: a clear message, nothing written.
    let out = s.cli(&["import", "openedx", "--site", "alpha", "--from", &lms.url, "--since", "last tuesday"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"), "{}", String::from_utf8_lossy(&out.stderr));
}

backend_tests!(
    an_lms_is_imported_and_read_through_the_api,
    a_second_run_changes_nothing_and_since_reads_recent_changes
);
