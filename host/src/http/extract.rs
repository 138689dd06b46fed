//! axum's `Path` and `Query` with their rejections answered in Open edX's
//! JSON shapes instead of axum's plain text. Routes import these, never
//! axum's.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// Path parameters. A segment that does not decode (invalid UTF-8 after
/// percent-decoding, say) matches no Open edX URL pattern: 404 "Not found.".
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "path parameters refused");
                Err(crate::http::middleware::no_route())
            }
        }
    }
}

/// The query string. One that does not deserialise is a 400
/// `{"detail": "Malformed query string."}`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "query string refused");
                Err(ApiError::detail(StatusCode::BAD_REQUEST, "Malformed query string."))
            }
        }
    }
}
