//! The client's address, for per-address limits.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::http::error::ApiError;

/// The address a request came from: the peer's, or the first
/// `X-Forwarded-For` entry when the peer is a reverse proxy on this host
/// (from anyone else a fresh header per request would dodge every limit).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("served without connection info"))?;
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .filter(|_| peer.is_loopback())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        Ok(ClientAddress(forwarded.unwrap_or(peer)))
    }
}
