//! The data layer: caches that are never stale (across instances too),
//! group commit under load, and the two backends behaving alike.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

async fn bio(s: &TestServer, username: &str, token: &str) -> Value {
    let response = s.get_account("alpha.test", username, token).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await["bio"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_on_one_instance_is_read_on_another_within_a_second() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.another_instance().await;
    a.create_user("alpha", "alice", &[]).await;
    let token = a.token("alpha", "alice").await;
    // Both instances have read (and cached) the account before the change.
    assert!(bio(&a, "alice", &token).await.is_null());
    assert!(bio(&b, "alice", &token).await.is_null());
    let response = a.patch_account("alpha.test", "alice", &token, json!({"bio": "Written on A"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bio(&a, "alice", &token).await, "Written on A", "the writer reads its own write at once");
    eventually(Duration::from_secs(1), "B reading A's write", || async {
        bio(&b, "alice", &token).await == "Written on A"
    })
    .await;
    // And the other way round, for preferences.
    let response = b
        .request(Method::PATCH, "alpha.test", "/api/user/v1/preferences/alice")
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"time_zone": "Europe/Paris"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(1), "A reading B's preference", || async {
        let r = a.get_as("alpha.test", "/api/user/v1/preferences/alice", &token).await;
        body_json(r).await["time_zone"] == "Europe/Paris"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_accounts_token_is_refused_on_every_instance_within_a_second() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.another_instance().await;
    a.create_user("alpha", "alice", &[]).await;
    a.create_user("alpha", "admin", &["--superuser"]).await;
    let alice = a.token("alpha", "alice").await;
    let admin = a.token("alpha", "admin").await;
    for instance in [&a, &b] {
        let r = instance.get_as("alpha.test", "/api/user/v1/me", &alice).await;
        assert_eq!(r.status(), StatusCode::OK, "cached as a valid principal first");
    }
    let r = a
        .request(Method::POST, "alpha.test", "/api/user/v1/accounts/alice/deactivate/")
        .header("authorization", format!("JWT {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = a.get_as("alpha.test", "/api/user/v1/me", &alice).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "refused at once where it was deactivated");
    eventually(Duration::from_secs(1), "B refusing the token", || async {
        b.get_as("alpha.test", "/api/user/v1/me", &alice).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_loses_its_notifications_empties_its_cache_and_follows_again() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.another_instance().await;
    a.create_user("alpha", "alice", &[]).await;
    let token = a.token("alpha", "alice").await;
    assert!(bio(&b, "alice", &token).await.is_null());
    // Cut every instance's LISTEN connection; a change made now cannot be notified.
    let cut = a
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
            &[],
        )
        .await;
    assert_eq!(cut.len(), 2, "one listener per instance");
    let r = a.patch_account("alpha.test", "alice", &token, json!({"bio": "while B was deaf"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    eventually(Duration::from_secs(1), "B dropping what it may have missed", || async {
        bio(&b, "alice", &token).await == "while B was deaf"
    })
    .await;
    // B listens again: its cache serves hits again, and still sees A's changes.
    eventually(Duration::from_secs(5), "B caching again", || async {
        let before = b.metric("userapi_cache_hits_total").await;
        bio(&b, "alice", &token).await;
        b.metric("userapi_cache_hits_total").await > before
    })
    .await;
    let r = a.patch_account("alpha.test", "alice", &token, json!({"bio": "after B came back"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    eventually(Duration::from_secs(1), "B reading A's later write", || async {
        bio(&b, "alice", &token).await == "after B came back"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_all_land_once_and_a_failing_one_changes_nothing() {
    let s = TestServer::start_with(Backend::Sqlite, standard_sites(), &[("USERAPI_SQLITE_SYNCHRONOUS", "full")]).await;
    // A write that fails late, inside its job: the audit row of a change of
    // `goals` is refused, which must roll back only that request.
    s.sql(
        "CREATE TRIGGER refuse_goals BEFORE INSERT ON audit_log WHEN NEW.field = 'goals' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        &[],
    )
    .await;
    const USERS: usize = 10;
    const PER_USER: usize = 20;
    let mut tokens = Vec::new();
    for i in 0..USERS {
        s.create_user("alpha", &format!("writer{i}"), &[]).await;
        tokens.push(s.token("alpha", &format!("writer{i}")).await);
    }
    let commits_before = s.metric("userapi_sqlite_commits_total").await;
    let writes_before = s.metric("userapi_sqlite_committed_writes_total").await;
    let mut requests = tokio::task::JoinSet::new();
    for round in 0..PER_USER {
        for (i, token) in tokens.iter().enumerate() {
            let (s, token) =
                (s.request(Method::PATCH, "alpha.test", &format!("/api/user/v1/accounts/writer{i}")), token);
            let body = json!({"bio": format!("bio {round} of writer{i}")}).to_string();
            let send = s
                .header("authorization", format!("JWT {token}"))
                .header("content-type", "application/merge-patch+json")
                .body(body)
                .send();
            requests.spawn(async move { send.await.unwrap().status() });
        }
        if round == PER_USER / 2 {
            let send = s
                .request(Method::PATCH, "alpha.test", "/api/user/v1/accounts/writer0")
                .header("authorization", format!("JWT {}", tokens[0]))
                .header("content-type", "application/merge-patch+json")
                .body(
                    json!({"bio": "must not stay", "email": "writer0@new.example.com", "goals": "refused"}).to_string(),
                )
                .send();
            requests.spawn(async move { send.await.unwrap().status() });
        }
    }
    let mut statuses = Vec::new();
    while let Some(status) = requests.join_next().await {
        statuses.push(status.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), USERS * PER_USER);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count(), 1, "the refused one");
    // Every PATCH landed exactly once: one audit row each, none for the failed one.
    let rows = s
        .query(
            "SELECT u.username, COUNT(*) FROM audit_log a JOIN users u ON u.id = a.user_id \
             WHERE a.action = 'account_updated' AND a.field = 'bio' GROUP BY u.username ORDER BY u.username",
            &[],
        )
        .await;
    assert_eq!(rows.len(), USERS);
    assert!(rows.iter().all(|r| r[1].as_deref() == Some(&PER_USER.to_string()[..])), "{rows:?}");
    let pending = s.query("SELECT COUNT(*) FROM pending_email_changes", &[]).await;
    assert_eq!(pending[0][0].as_deref(), Some("0"), "the failed request left nothing");
    for (i, token) in tokens.iter().enumerate() {
        let bio = bio(&s, &format!("writer{i}"), token).await;
        let bio = bio.as_str().unwrap();
        assert!(bio.starts_with("bio ") && bio.ends_with(&format!("of writer{i}")), "{bio}");
    }
    // They were committed in groups, not one commit each.
    let commits = s.metric("userapi_sqlite_commits_total").await - commits_before;
    let writes = s.metric("userapi_sqlite_committed_writes_total").await - writes_before;
    assert_eq!(writes, (USERS * PER_USER) as u64, "the failed write is not counted as committed");
    assert!(commits < writes, "{writes} writes in {commits} commits");
}

async fn nul_characters_are_refused_alike(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let token = s.token("alpha", "alice").await;
    let refused = |field: &str| {
        json!({"field_errors": {field: {"developer_message": "Null characters are not allowed.",
                                        "user_message": "Null characters are not allowed."}}})
    };
    let r = s.patch_account("alpha.test", "alice", &token, json!({"bio": "a\u{0}b"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(r).await, refused("bio"));
    let r = s.get_as("alpha.test", "/api/user/v1/accounts?username=alice%00", &token).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(r).await, refused("username"));
    let r = s
        .request(Method::PUT, "alpha.test", "/api/user/v1/preferences/alice/time_zone")
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/json")
        .body(r#""Europe/Paris\u0000""#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(r).await, refused("non_field_errors"));
    let r = s
        .request(Method::POST, "alpha.test", "/oauth2/access_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=a%00b&client_secret=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(r).await, refused("client_id"));
    // A signed token whose username holds one names nobody.
    let token_with_nul = mint_hs256(ALPHA_SECRET, &alpha_claims("ali\u{0}ce"));
    let r = s.get_as("alpha.test", "/api/user/v1/me", &token_with_nul).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(r).await, json!({"detail": "Invalid token."}));
    let r = s.get_account("alpha.test", "alice", &token_with_nul).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A path segment the store would have to look up.
    let r = s.request(Method::GET, "alpha.test", "/email_confirm/abc%00def").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing changed, and the server is fine.
    let account = body_json(s.get_account("alpha.test", "alice", &token).await).await;
    assert!(account["bio"].is_null());
}

async fn unicode_usernames_and_emails_differing_in_case_collide(b: Backend) {
    let s = TestServer::start(b).await;
    let create = |username: &'static str, email: &'static str| {
        let s = &s;
        async move { s.cli(&["users", "create", "--site", "alpha", "--username", username, "--email", email]).await }
    };
    // Django's EmailValidator takes Unicode only in the domain part.
    assert!(create("Élodie", "elodie@éxample.com").await.status.success());
    let again = create("éLODIE", "other@example.com").await;
    assert!(!again.status.success(), "a username differing only in case is taken");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    let again = create("someone", "elodie@EXAMPLE.COM").await;
    assert!(again.status.success(), "É is not e: another address");
    let again = create("someone2", "ELODIE@ÉXAMPLE.com").await;
    assert!(!again.status.success(), "an address differing only in case is taken");
    // Lookups stay exact: the other case is another (unknown) name.
    let token = s.token("alpha", "Élodie").await;
    assert_eq!(s.get_account("alpha.test", "Élodie", &token).await.status(), StatusCode::OK);
    assert_eq!(s.get_account("alpha.test", "éLODIE", &token).await.status(), StatusCode::NOT_FOUND);
    let r = s.get_as("alpha.test", "/api/user/v1/accounts?username=%C3%89lodie,%C3%A9LODIE", &token).await;
    let list = body_json(r).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

async fn a_username_list_has_a_bound(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let token = s.token("alpha", "alice").await;
    let names: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let r = s.get_as("alpha.test", &format!("/api/user/v1/accounts?username={}", names.join(",")), &token).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let names: Vec<String> = (0..99).map(|i| format!("u{i}")).chain(["alice".to_owned()]).collect();
    let r = s.get_as("alpha.test", &format!("/api/user/v1/accounts?username={}", names.join(",")), &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_json(r).await[0]["username"], "alice");
}

async fn listed_accounts_keep_their_own_rows(b: Backend) {
    let s = TestServer::start(b).await;
    let mut tokens = Vec::new();
    for (name, language, privacy) in [("ann", "fr", "all_users"), ("ben", "de", "private"), ("cid", "es", "all_users")]
    {
        s.create_user("alpha", name, &["--staff"]).await;
        let token = s.token("alpha", name).await;
        let body = json!({
            "language_proficiencies": [{"code": language}],
            "social_links": [{"platform": "facebook", "social_link": format!("https://facebook.com/{name}")}],
            "bio": format!("I am {name}"),
            "account_privacy": privacy,
            "year_of_birth": 1990,
        });
        assert_eq!(s.patch_account("alpha.test", name, &token, body).await.status(), StatusCode::OK);
        tokens.push(token);
    }
    // Read together from the database (not the cache), each account still
    // shows only its own rows.
    s.flush_cache().await;
    let r = s.get_as("alpha.test", "/api/user/v1/accounts?username=cid,ann,ben", &tokens[0]).await;
    let list = body_json(r).await;
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 3);
    for (account, (name, language, privacy)) in
        list.iter().zip([("ann", "fr", "all_users"), ("ben", "de", "private"), ("cid", "es", "all_users")])
    {
        assert_eq!(account["username"], name);
        assert_eq!(account["language_proficiencies"], json!([{"code": language}]));
        assert_eq!(
            account["social_links"],
            json!([{"platform": "facebook", "social_link": format!("https://www.facebook.com/{name}")}])
        );
        assert_eq!(account["bio"], format!("I am {name}"));
        assert_eq!(account["account_privacy"], privacy);
    }
}

async fn writes_by_hand_are_seen_after_a_sighup(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let token = s.token("alpha", "alice").await;
    assert!(bio(&s, "alice", &token).await.is_null());
    // `sql` writes behind the server's back, then sends SIGHUP.
    s.sql("UPDATE profiles SET bio = 'by hand'", &[]).await;
    assert_eq!(bio(&s, "alice", &token).await, "by hand");
}

backend_tests!(
    nul_characters_are_refused_alike,
    unicode_usernames_and_emails_differing_in_case_collide,
    a_username_list_has_a_bound,
    listed_accounts_keep_their_own_rows,
    writes_by_hand_are_seen_after_a_sighup,
);
