//! Streaming to clients: one `feed::Feed` per subscriber applies the resume and coalescing
//! rules (PROTOCOL.md 2-4) for every transport, and each transport only frames what the feed
//! hands out: `ws` (the WebSocket, with its reader/writer loops and abuse limits from
//! `rate_limit`), `sse` (Server-Sent Events) and `poll` (long-polling).
//!
//! A new transport takes a `Feed` and writes its frames; it never reads the broker itself.

pub mod feed;
pub mod per_client;
pub mod poll;
pub mod rate_limit;
pub mod sse;
pub mod ws;

use super::http::ApiError;
use crate::protocol::Position;
use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::Deserialize;

/// Where a subscriber resumes from, for the HTTP transports: the `Last-Event-ID` header (sent
/// by browsers when an event source reconnects; it wins over the query the page was first
/// opened with), else `?since=E:S`. Absent: a snapshot first.
pub struct Since(pub Option<Position>);

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Since {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get("last-event-id").and_then(|value| value.to_str().ok()).filter(|value| !value.is_empty());
        let text = match header {
            Some(header) => Some(header.to_owned()),
            None => {
                Query::<SinceQuery>::try_from_uri(&parts.uri)
                    .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?
                    .0
                    .since
            }
        };
        let since = text.map(|text| text.parse::<Position>()).transpose();
        since.map(Since).map_err(|error| ApiError::BadRequest(error.to_string()))
    }
}
