//! The operator CLI: exit codes and messages operators and scripts rely on.

use serde_json::json;

use crate::harness::*;

async fn users_are_unique_per_tenant_case_insensitively(b: Backend) {
    let server = TestServer::start(b).await;
    let id = server.create_user("alpha", "alice", &[]).await;
    assert!(id > 0);
    let out = server
        .cli(&["users", "create", "--site", "alpha2.test", "--username", "ALICE", "--email", "other@example.com"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server
        .cli(&["users", "create", "--site", "alpha", "--username", "alice2", "--email", "ALICE@example.com"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("email"));
    // Another tenant may have its own alice.
    assert!(server.create_user("beta", "alice", &[]).await > 0);
    for (username, email) in [("bad name", "x@example.com"), ("ok", "not-an-email")] {
        let out = server.cli(&["users", "create", "--site", "alpha", "--username", username, "--email", email]).await;
        assert_eq!(out.status.code(), Some(1), "{username} {email}");
    }
    let out = server.cli(&["users", "create", "--site", "nope", "--username", "x", "--email", "x@example.com"]).await;
    assert_eq!(out.status.code(), Some(1));
}

async fn tokens_issue_refuses_unknown_users(b: Backend) {
    let server = TestServer::start(b).await;
    let out = server.cli(&["tokens", "issue", "--site", "alpha", "--username", "ghost"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    server.create_user("alpha", "alice", &[]).await;
    let out = server.cli(&["tokens", "issue", "--site", "alpha", "--username", "alice", "--expires-in", "60"]).await;
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);
    let response = server.get_as("alpha.test", "/api/user/v1/me", &token).await;
    assert_eq!(body_json(response).await, json!({"username": "alice"}));
}

async fn sites_check_names_file_pointer_and_rule(b: Backend) {
    let server = TestServer::start(b).await;
    let out = server.cli(&["sites", "check"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let mut bad = site("broken", "alpha", ALPHA_SECRET);
    bad["domains"] = json!([]);
    bad["colour"] = json!("blue");
    server.write_site("broken.json", &bad);
    let out = server.cli(&["sites", "check"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("broken.json: at /domains: [minItems]"), "{report}");
    assert!(report.contains("[additionalProperties]") && report.contains("colour"), "{report}");
    // A secret shared across tenants is refused: tokens would cross tenants.
    std::fs::remove_file(server.sites_dir.join("broken.json")).unwrap();
    server.write_site("leak.json", &site("leak", "gamma", BETA_SECRET));
    let out = server.cli(&["sites", "check"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tenant_isolation"));
}

backend_tests!(
    users_are_unique_per_tenant_case_insensitively,
    tokens_issue_refuses_unknown_users,
    sites_check_names_file_pointer_and_rule,
);
