//! The OpenAPI 3.1 document of a [`RouteTable`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::op::{Answer, Auth, Body, Internal, Op};
use super::{schema, RouteTable};

const DESCRIPTION: &str = "Open edX's User API, path for path, served per site: the site is the one \
whose `hosts` list the request's `Host` (an unknown host is answered 404 `{\"developer_message\": \
\"unknown site\"}`).\n\nAuthenticate with `Authorization: JWT <token>` (or `Bearer`) from \
`/oauth2/access_token`, with the edX JWT cookie pair plus the `X-CSRFToken` header, or with the \
`sessionid` cookie of `/login`.\n\nErrors come in Open edX's shapes: `{\"detail\"}` for the framework's, \
`{\"developer_message\", \"user_message\"}`, `{\"field_errors\"}` for account and preference fields, \
and bare JSON strings on the retirement routes.";

/// The whole document.
pub fn build(table: &RouteTable) -> Value {
    let mut paths = Map::new();
    for operation in &table.operations {
        let item = paths.entry(operation.path.clone()).or_insert_with(|| json!({}));
        item[operation.method.as_str().to_ascii_lowercase()] =
            describe(&operation.path, operation.method.as_str(), &operation.op);
    }
    let mut schemas = Map::new();
    for (name, s) in schema::error_components().into_iter().chain(table.components.iter().cloned()) {
        schemas.insert(name.to_owned(), s);
    }
    let mut tags: Vec<&str> = table.operations.iter().map(|o| o.op.tag).collect();
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(*t));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "userapi: Open edX User API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "AGPL-3.0-only", "identifier": "AGPL-3.0-only"},
        },
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "jwt": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`JWT <token>` or `Bearer <token>`, from `/oauth2/access_token`.",
                },
                "jwtCookie": {
                    "type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE_HEADER_PAYLOAD,
                    "description": "The edX JWT cookie pair (with `edx-jwt-cookie-signature`); \
                        unsafe methods also need `X-CSRFToken` matching the `csrftoken` cookie.",
                },
                "session": {
                    "type": "apiKey", "in": "cookie", "name": crate::auth::sessions::SESSION_COOKIE,
                    "description": "The session of `/login` or `login_session`.",
                },
            },
        },
    })
}

/// One operation object.
fn describe(path: &str, method: &str, op: &Op) -> Value {
    let mut o = Map::new();
    o.insert("tags".into(), json!([op.tag]));
    o.insert("summary".into(), json!(op.summary));
    if let Some(d) = op.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("operationId".into(), json!(operation_id(method, path)));
    let parameters = parameters(path, op);
    if !parameters.is_empty() {
        o.insert("parameters".into(), Value::Array(parameters));
    }
    if !op.request.is_empty() {
        let content: Map<String, Value> =
            op.request.iter().map(|(media, s)| ((*media).to_owned(), json!({ "schema": s }))).collect();
        o.insert("requestBody".into(), json!({"required": op.request_required, "content": content}));
    }
    o.insert("responses".into(), responses(op));
    if op.auth == Auth::User {
        o.insert("security".into(), json!([{"jwt": []}, {"jwtCookie": []}, {"session": []}]));
    }
    if op.deprecated {
        o.insert("deprecated".into(), json!(true));
    }
    Value::Object(o)
}

/// `get_api_user_v1_accounts_username`, with `_slash` for a trailing slash
/// so that the two spellings Open edX serves stay distinct.
pub fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let slash = if path.len() > 1 && path.ends_with('/') { "_slash" } else { "" };
    format!("{}_{}{slash}", method.to_ascii_lowercase(), words.join("_"))
}

/// The path template's parameters (each declared, as OpenAPI requires),
/// then the query parameters.
fn parameters(path: &str, op: &Op) -> Vec<Value> {
    let mut out = Vec::new();
    for name in path_params(path) {
        let given = op.params.iter().find(|p| p.location == "path" && p.name == name);
        let description = given.map_or_else(|| default_path_doc(name), |p| p.description);
        out.push(json!({"name": name, "in": "path", "required": true, "description": description,
                        "schema": schema::string()}));
    }
    for p in op.params.iter().filter(|p| p.location == "query") {
        out.push(json!({"name": p.name, "in": "query", "required": false, "description": p.description,
                        "schema": p.schema}));
    }
    out
}

/// The `{name}` segments of an axum path template.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).collect()
}

fn default_path_doc(name: &str) -> &'static str {
    match name {
        "username" => "The account's username (`[\\w .@_+-]+`); another pattern answers as if no route matched.",
        "org" => "An organisation's short name.",
        _ => "A path parameter.",
    }
}

/// Answers grouped by status; several bodies for one status become `anyOf`.
fn responses(op: &Op) -> Value {
    let mut by_status: BTreeMap<u16, Vec<&Answer>> = BTreeMap::new();
    for a in &op.answers {
        by_status.entry(a.status).or_default().push(a);
    }
    let internal = match op.internal {
        Internal::Object => Some(Body::of("InternalError")),
        Internal::String => Some(Body::of("JsonString")),
        Internal::Never => None,
    };
    let internal_answer = internal.map(|body| Answer {
        status: 500,
        description: "An unexpected failure, logged with the request id",
        body,
        headers: Vec::new(),
    });
    if let Some(a) = &internal_answer {
        by_status.entry(500).or_default().push(a);
    }
    let mut out = Map::new();
    for (status, answers) in by_status {
        // When a status answers with and without a body, say which is empty.
        let mixed = answers.iter().any(|a| matches!(a.body, Body::Empty))
            && answers.iter().any(|a| !matches!(a.body, Body::Empty));
        let mut descriptions: Vec<String> = Vec::new();
        for a in &answers {
            let d = if mixed && matches!(a.body, Body::Empty) {
                format!("{} (empty body)", a.description)
            } else {
                a.description.to_owned()
            };
            if !descriptions.contains(&d) {
                descriptions.push(d);
            }
        }
        let mut response = json!({"description": descriptions.join("; ")});
        let mut content: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for a in &answers {
            match &a.body {
                Body::Empty => {}
                Body::Json(s) => content.entry("application/json").or_default().push(s.clone()),
                Body::Media(media, s) => content.entry(media).or_default().push(s.clone()),
            }
        }
        if !content.is_empty() {
            let content: Map<String, Value> = content
                .into_iter()
                .map(|(media, all)| {
                    let mut schemas: Vec<Value> = Vec::new();
                    for s in all {
                        if !schemas.contains(&s) {
                            schemas.push(s);
                        }
                    }
                    let s = if schemas.len() == 1 { schemas.remove(0) } else { schema::any_of(schemas) };
                    (media.to_owned(), json!({ "schema": s }))
                })
                .collect();
            response["content"] = Value::Object(content);
        }
        let headers: Map<String, Value> = answers
            .iter()
            .flat_map(|a| a.headers.iter())
            .map(|(name, d)| ((*name).to_owned(), json!({"description": d, "schema": schema::string()})))
            .collect();
        if !headers.is_empty() {
            response["headers"] = Value::Object(headers);
        }
        out.insert(status.to_string(), response);
    }
    Value::Object(out)
}
