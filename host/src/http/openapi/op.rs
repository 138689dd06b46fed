//! One operation's description: what it needs, what it reads and what it
//! answers, with Open edX's error bodies. Written next to the route that
//! serves it, turned into OpenAPI by `document.rs`.

use serde_json::Value;

use super::schema;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (the site still comes from the Host header).
    Anyone,
    /// A signed-in user: a JWT (header or the edX cookie pair with CSRF) or a session.
    User,
}

/// A body sent or answered, by media type.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body at all (or a zero-length one).
    Empty,
    /// `application/json` with this schema.
    Json(Value),
    /// Another media type with this schema.
    Media(&'static str, Value),
}

impl Body {
    /// A JSON body whose schema is the named component.
    pub fn of(component: &str) -> Body {
        Body::Json(schema::reference(component))
    }

    /// An HTML page.
    pub fn html() -> Body {
        Body::Media("text/html", schema::string())
    }
}

/// One answer of an operation.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub body: Body,
    /// Response headers that matter to a client, with their descriptions.
    pub headers: Vec<(&'static str, &'static str)>,
}

/// A query or path parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

/// How the operation answers an unexpected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// `{developer_message, user_message, request_id}`.
    Object,
    /// A bare JSON string, as Open edX's retirement views answer.
    String,
    /// The operation touches nothing that can fail.
    Never,
}

/// An operation, built by chaining.
#[derive(Debug, Clone)]
pub struct Op {
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub auth: Auth,
    pub params: Vec<Param>,
    /// Request bodies by media type; empty when the operation reads none.
    pub request: Vec<(&'static str, Value)>,
    pub request_required: bool,
    pub answers: Vec<Answer>,
    pub internal: Internal,
    pub deprecated: bool,
}

impl Op {
    /// An operation under `tag`, open to anyone until [`Op::user`] says otherwise.
    pub fn new(tag: &'static str, summary: &'static str) -> Op {
        Op {
            tag,
            summary,
            description: None,
            auth: Auth::Anyone,
            params: Vec::new(),
            request: Vec::new(),
            request_required: false,
            answers: Vec::new(),
            internal: Internal::Object,
            deprecated: false,
        }
    }

    /// A longer explanation (CommonMark).
    pub fn about(mut self, text: &'static str) -> Op {
        self.description = Some(text);
        self
    }

    /// Needs a signed-in caller; adds DRF's 401.
    pub fn user(mut self) -> Op {
        self.auth = Auth::User;
        self.answer(401, "No credentials, or credentials that are not valid", Body::of("Detail"))
    }

    /// A query parameter holding a string.
    pub fn query(self, name: &'static str, description: &'static str) -> Op {
        self.query_schema(name, description, schema::string())
    }

    /// A query parameter with its own schema.
    pub fn query_schema(mut self, name: &'static str, description: &'static str, schema: Value) -> Op {
        self.params.push(Param { name, location: "query", description, schema });
        self
    }

    /// Describes a path parameter more precisely than the default for its name.
    pub fn path(mut self, name: &'static str, description: &'static str) -> Op {
        self.params.push(Param { name, location: "path", description, schema: schema::string() });
        self
    }

    /// Reads a body of `media_type`. Adds the 413 of the body limit, and for
    /// JSON the parse error and the 415 of a wrong content type.
    pub fn reads(mut self, media_type: &'static str, schema: Value) -> Op {
        if self.request.is_empty() {
            self = self.answer(413, "The body is over the limit", Body::of("Messages"));
        }
        if media_type.ends_with("json") && !self.request.iter().any(|(m, _)| m.ends_with("json")) {
            self = self.answer(400, "The body is not valid JSON", Body::of("Detail")).answer(
                415,
                "A content type the route does not read",
                Body::of("Detail"),
            );
        }
        self.request.push((media_type, schema));
        self
    }

    /// Reads a JSON body.
    pub fn json(self, schema: Value) -> Op {
        self.reads("application/json", schema)
    }

    /// Reads an HTML form.
    pub fn form(self, schema: Value) -> Op {
        self.reads("application/x-www-form-urlencoded", schema)
    }

    /// The body is required (the default is optional: most routes read an
    /// absent body as `{}`, as Open edX does).
    pub fn body_required(mut self) -> Op {
        self.request_required = true;
        self
    }

    /// One possible answer. Several answers with one status are merged into one
    /// response whose body is any of theirs.
    pub fn answer(mut self, status: u16, description: &'static str, body: Body) -> Op {
        self.answers.push(Answer { status, description, body, headers: Vec::new() });
        self
    }

    /// A header of the last answer added.
    pub fn header(mut self, name: &'static str, description: &'static str) -> Op {
        if let Some(last) = self.answers.last_mut() {
            last.headers.push((name, description));
        }
        self
    }

    /// 200 with a JSON body of `schema`.
    pub fn ok(self, description: &'static str, schema: Value) -> Op {
        self.answer(200, description, Body::Json(schema))
    }

    /// 204, nothing in the body.
    pub fn no_content(self, description: &'static str) -> Op {
        self.answer(204, description, Body::Empty)
    }

    /// DRF's 403 `{"detail": "You do not have permission…"}`.
    pub fn denied(self, description: &'static str) -> Op {
        self.answer(403, description, Body::of("Detail"))
    }

    /// 404 with an empty body: the account is not there, or not for the caller.
    pub fn hidden(self, description: &'static str) -> Op {
        self.answer(404, description, Body::Empty)
    }

    /// DRF's 429, with `Retry-After`.
    pub fn throttled(self) -> Op {
        self.answer(429, "Too many requests", Body::of("Detail")).header("Retry-After", "Seconds to wait")
    }

    /// Unexpected failures are answered with a bare JSON string.
    pub fn internal_as_string(mut self) -> Op {
        self.internal = Internal::String;
        self
    }

    /// Nothing in the operation can fail unexpectedly.
    pub fn infallible(mut self) -> Op {
        self.internal = Internal::Never;
        self
    }

    /// Kept for clients that use it; a newer path does the same.
    pub fn deprecated(mut self) -> Op {
        self.deprecated = true;
        self
    }
}
