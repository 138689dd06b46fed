//! The browsable API page at `/api/user/v1/docs`: RapiDoc 9.3.8 (MIT,
//! `host/assets/rapidoc/`), served from the binary, no CDN, reading the
//! document at `/api/user/v1/openapi.json`.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// Where the page is served.
pub const PAGE_PATH: &str = "/api/user/v1/docs";
/// Where its script is served.
pub const SCRIPT_PATH: &str = "/api/user/v1/docs/rapidoc-min.js";

const RAPIDOC: &[u8] = include_bytes!("../../../assets/rapidoc/rapidoc-min.js");

/// Only this origin's script and document; inline styles are RapiDoc's own.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>userapi: Open edX User API</title>
<script type="module" src="/api/user/v1/docs/rapidoc-min.js"></script>
</head>
<body>
<rapi-doc spec-url="/api/user/v1/openapi.json" render-style="read" show-header="false"
  allow-server-selection="false" allow-authentication="true" schema-style="table"
  regular-font="system-ui, sans-serif" mono-font="ui-monospace, monospace"></rapi-doc>
</body>
</html>
"#;

/// `GET /api/user/v1/docs`.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /api/user/v1/docs/rapidoc-min.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        RAPIDOC,
    )
        .into_response()
}
