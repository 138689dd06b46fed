//! Site resolution by Host header, the default site, and reloads that
//! swap the whole set or keep the old one serving.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn unknown_host_without_default_site_is_404(b: Backend) {
    let server = TestServer::start(b).await;
    let response = server.request(Method::GET, "nowhere.test", "/api/user/v1/me").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(response).await, json!({"developer_message": "unknown site"}));
}

async fn unknown_host_falls_back_to_the_default_site(b: Backend) {
    let mut sites = standard_sites();
    sites[2].1["default"] = json!(true); // beta
    let server = TestServer::start_with(b, sites, &[]).await;
    server.create_user("beta", "bob", &[]).await;
    let token = server.token("beta", "bob").await;
    for host in ["nowhere.test", "beta.test:8000", "BETA.TEST"] {
        let response = server.get_as(host, "/api/user/v1/me", &token).await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
        assert_eq!(body_json(response).await, json!({"username": "bob"}));
    }
    // A known host of another tenant is not the default site.
    assert_eq!(server.get_as("alpha.test", "/api/user/v1/me", &token).await.status(), StatusCode::UNAUTHORIZED);
}

async fn reload_swaps_valid_sites_and_keeps_old_ones_on_error(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "root", &["--superuser"]).await;
    server.create_user("alpha", "alice", &[]).await;
    let root = server.token("alpha", "root").await;
    let alice = server.token("alpha", "alice").await;

    let (status, _) = server.reload_sites("alpha.test", &alice).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only superusers reload");

    // A valid change: a new site of tenant alpha appears.
    server.write_site("gamma.json", &site("gamma", "alpha", ALPHA_SECRET));
    let (status, body) = server.reload_sites("alpha.test", &root).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sites"], json!(["alpha", "alpha2", "beta", "gamma"]));
    assert_eq!(server.get_as("gamma.test", "/api/user/v1/me", &alice).await.status(), StatusCode::OK);

    // A broken file: refused whole, old set keeps serving (gamma included).
    let mut broken = site("delta", "alpha", ALPHA_SECRET);
    broken["jwt"]["expires_in"] = json!("soon");
    server.write_site("delta.json", &broken);
    server.write_site("alpha2.json", &json!({"site": "alpha2"}));
    let (status, body) = server.reload_sites("alpha.test", &root).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = body["errors"].to_string();
    assert!(errors.contains("delta.json") && errors.contains("/jwt/expires_in"), "{errors}");
    assert!(errors.contains("alpha2.json") && errors.contains("required"), "{errors}");
    assert_eq!(server.get_as("gamma.test", "/api/user/v1/me", &alice).await.status(), StatusCode::OK);
    assert_eq!(server.get_as("alpha2.test", "/api/user/v1/me", &alice).await.status(), StatusCode::OK);
    let response = server.get_as("delta.test", "/api/user/v1/me", &alice).await;
    assert_eq!(body_json(response).await, json!({"developer_message": "unknown site"}));
}

async fn sighup_reloads_the_sites(b: Backend) {
    let server = TestServer::start(b).await;
    server.create_user("alpha", "alice", &[]).await;
    let alice = server.token("alpha", "alice").await;
    server.write_site("gamma.json", &site("gamma", "alpha", ALPHA_SECRET));
    let status = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let mut served = false;
    for _ in 0..50 {
        if server.get_as("gamma.test", "/api/user/v1/me", &alice).await.status() == StatusCode::OK {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "gamma was not served after SIGHUP; log:\n{}", server.log());
}

backend_tests!(
    unknown_host_without_default_site_is_404,
    unknown_host_falls_back_to_the_default_site,
    reload_swaps_valid_sites_and_keeps_old_ones_on_error,
    sighup_reloads_the_sites,
);
