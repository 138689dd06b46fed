//! The ceiling of `scripts/bench.sh`: what a request costs with no data
//! layer at all. An axum server that checks the JWT exactly as userapi does
//! (the same `SiteKeys`) and answers fixed JSON.
//!
//! `ceiling SITE.json [ADDR]` serves the site's `jwt` settings on ADDR
//! (default 127.0.0.1:0) and prints `listening on http://ADDR`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::Router;
use userapi::auth::jwt::SiteKeys;
use userapi::sites::config::JwtConfig;

const BODY: &str = r#"{"username":"user","name":"A Name","email":"user@example.com","bio":null,"country":null}"#;

async fn answer(State(keys): State<Arc<SiteKeys>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("JWT "))
        .unwrap_or("");
    match keys.verify(token) {
        Ok(_) => ([(header::CONTENT_TYPE, "application/json")], BODY).into_response(),
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let site = args.next().ok_or("usage: ceiling SITE.json [ADDR]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&site)?)?;
    let jwt: JwtConfig = serde_json::from_value(config["jwt"].clone())?;
    let keys = Arc::new(SiteKeys::from_config(&jwt)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/api/user/v1/accounts/{username}", get(answer).patch(answer))
            .route("/api/user/v1/preferences/{username}", get(answer))
            .route("/api/user/v1/me", patch(answer).get(answer))
            .with_state(keys);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
