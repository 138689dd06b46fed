//! The OpenAPI entries of the operator's routes: probes, metrics, the API
//! document and its page, and the sites reload.

use crate::http::openapi::schema::{array, boolean, record, string};
use crate::http::openapi::{Body, Op};

const TAG: &str = "operations";

pub fn health() -> Op {
    Op::new(TAG, "Liveness: the process answers").ok("Alive", record(&[("status", string())])).infallible()
}

pub fn ready() -> Op {
    let state = record(&[("database", boolean()), ("sites", boolean())]);
    Op::new(TAG, "Readiness: the database answers and sites are loaded")
        .ok("Ready", state.clone())
        .answer(503, "Not ready", Body::Json(state))
        .infallible()
}

pub fn metrics() -> Op {
    Op::new(TAG, "Prometheus metrics (OpenMetrics text)")
        .answer(200, "The metrics", Body::Media("application/openmetrics-text", string()))
        .infallible()
}

pub fn openapi() -> Op {
    Op::new(TAG, "This document (OpenAPI 3.1), generated from the router")
        .answer(200, "The document", Body::Json(serde_json::json!({"type": "object"})))
        .infallible()
}

pub fn docs_page() -> Op {
    Op::new(TAG, "This document as a browsable page").answer(200, "The page", Body::html()).infallible()
}

pub fn docs_script() -> Op {
    Op::new(TAG, "The page's script (RapiDoc, served from the binary)")
        .answer(200, "The script", Body::Media("text/javascript", string()))
        .infallible()
}

pub fn reload_sites() -> Op {
    Op::new(TAG, "Reload the sites directory (superuser)")
        .about("All or nothing: on any problem the previous sites keep serving and the answer lists why.")
        .user()
        .ok("The sites now served", record(&[("sites", array(string()))]))
        .answer(
            400,
            "The configuration is not valid; nothing changed",
            Body::Json(record(&[
                ("developer_message", string()),
                ("user_message", serde_json::json!({"type": "null"})),
                ("errors", array(string())),
            ])),
        )
        .denied("Not a superuser")
}
