//! The API document, generated from the router.
//!
//! Routes are registered through [`Routes`], which takes each handler
//! together with its [`Op`]: a route cannot be served without its entry, and
//! the OpenAPI 3.1 document (`document.rs`) is built from the same table the
//! router is. Nothing else in the host adds routes (a test checks the source).

mod document;
mod op;
pub mod page;
pub mod schema;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use serde_json::Value;

use crate::app::AppState;

pub use document::build as document;
pub use op::{Answer, Auth, Body, Internal, Op, Param};

/// One documented operation: a method on a path template.
#[derive(Debug, Clone)]
pub struct Operation {
    pub path: String,
    pub method: Method,
    pub op: Op,
}

/// What the router serves, as the document describes it.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub operations: Vec<Operation>,
    /// Paths that answer as if no route matched (kept out of the document).
    pub shadows: Vec<String>,
    /// Named schemas the operations refer to.
    pub components: Vec<(&'static str, Value)>,
}

impl RouteTable {
    /// Adds `other`'s entries after these.
    pub fn extend(&mut self, other: RouteTable) {
        self.operations.extend(other.operations);
        self.shadows.extend(other.shadows);
        self.components.extend(other.components);
    }
}

/// The handlers of one path, each with its operation.
pub struct Endpoint {
    router: MethodRouter<AppState>,
    ops: Vec<(Method, Op)>,
}

macro_rules! methods {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("An endpoint answering `", stringify!($method), "` with `handler`, described by `op`.")]
            pub fn $name<H, T>(handler: H, op: Op) -> Endpoint
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Endpoint { router: MethodRouter::new(), ops: Vec::new() }.$name(handler, op)
            }
        )*

        impl Endpoint {
            $(
                #[doc = concat!("Also answers `", stringify!($method), "` with `handler`, described by `op`.")]
                pub fn $name<H, T>(mut self, handler: H, op: Op) -> Endpoint
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.ops.push((Method::$method, op));
                    self
                }
            )*
        }
    };
}

methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Endpoint {
    /// Raises the request body limit of these handlers to `bytes`.
    pub fn body_limit(mut self, bytes: usize) -> Endpoint {
        self.router = self.router.layer(axum::extract::DefaultBodyLimit::max(bytes));
        self
    }
}

/// A router whose every route carries its documentation.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: RouteTable,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Serves `endpoint` at `path` (axum's `{param}` syntax).
    pub fn route(mut self, path: impl Into<String>, endpoint: Endpoint) -> Routes {
        let path = path.into();
        for (method, op) in endpoint.ops {
            self.table.operations.push(Operation { path: path.clone(), method, op });
        }
        self.router = self.router.route(&path, endpoint.router);
        self
    }

    /// Answers every method at `path` as if no route matched: keeps a path
    /// from falling into a wider template (`accounts/{username}`).
    pub fn not_found(mut self, path: impl Into<String>) -> Routes {
        let path = path.into();
        self.router = self.router.route(&path, axum::routing::any(|| async { crate::http::middleware::no_route() }));
        self.table.shadows.push(path);
        self
    }

    /// Schemas the operations refer to as `#/components/schemas/{name}`.
    pub fn components(mut self, schemas: Vec<(&'static str, Value)>) -> Routes {
        self.table.components.extend(schemas);
        self
    }

    /// Adds `other`'s routes and entries.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The router and the table describing it.
    pub fn into_parts(self) -> (Router<AppState>, RouteTable) {
        (self.router, self.table)
    }
}
