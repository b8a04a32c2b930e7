//! The long-polling fallback, `GET /api/v1/poll/{dashboard}?since=E:S&timeout=25`: the same
//! feed as the WebSocket, answered as `{"messages":[...]}`. Without `since`, a snapshot at once;
//! with it, whatever is newer at once, or else the first message within `timeout` seconds
//! (capped by the server), or an empty list.

use super::{feed::Feed, Since, StreamState};
use crate::server::{
    auth::{authorize, Access, Action},
    http::{ApiError, ApiPath, ApiQuery, ClientAddr},
    telemetry::GaugeGuard,
};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use futures::FutureExt;
use serde::Deserialize;
use std::time::Duration;

/// Messages answered at most per poll; a client further behind gets the rest next time.
const MAX_MESSAGES: usize = 1000;

#[derive(Deserialize)]
pub struct PollQuery {
    /// Seconds to wait for something new.
    timeout: Option<u64>,
}

pub async fn poll(
    State(state): State<StreamState>,
    client: ClientAddr,
    ApiPath(dashboard): ApiPath<String>,
    Since(since): Since,
    ApiQuery(query): ApiQuery<PollQuery>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    // Each poll is checked on its own.
    authorize(&access, &dashboard, Action::Read)?;
    // A poll is a stream for as long as it waits: it takes the same places as a WebSocket.
    let _admission = state.admit(client)?;
    let mut feed = Feed::open(state.broker.clone(), &dashboard, since.as_ref()).await?;
    let _subscribed = GaugeGuard::new(&state.telemetry.subscriptions);
    let wait = Duration::from_secs(query.timeout.unwrap_or(25)).min(state.limits.max_poll_wait);

    let mut messages = Vec::new();
    let first = tokio::select! {
        // What is already there goes first, so `timeout=0` answers with it rather than nothing.
        biased;
        frame = feed.next() => frame,
        _ = tokio::time::sleep(wait) => None,
        _ = state.shutdown.cancelled() => None,
    };
    if let Some(frame) = first {
        messages.push(frame.json);
        // Everything else already available goes in the same answer.
        while messages.len() < MAX_MESSAGES {
            match feed.next().now_or_never() {
                Some(Some(frame)) => messages.push(frame.json),
                _ => break,
            }
        }
    }
    let mut body = String::with_capacity(16 + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    body.push_str(r#"{"messages":["#);
    for (index, message) in messages.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        body.push_str(message);
    }
    body.push_str("]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
