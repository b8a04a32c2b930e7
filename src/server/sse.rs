//! The Server-Sent Events fallback, `GET /api/v1/stream/{dashboard}`: the same feed as the
//! WebSocket, one event per message (`event:` its type, `data:` its JSON, `id:` the position
//! `epoch:seq`), resumable with the standard `Last-Event-ID` header or `?since=E:S`.

use super::{
    api::{broker_error_response, error_response},
    feed::Feed,
    AppState,
};
use crate::protocol::{ErrorCode, Position};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::{stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;

#[derive(Deserialize)]
pub struct StreamQuery {
    since: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    Path(dashboard): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    // The browser's reconnect header wins over the query the page was first opened with.
    let since = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .or(query.since.as_deref());
    let since = match since.map(str::parse::<Position>).transpose() {
        Ok(since) => since,
        Err(error) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, error.to_string())
        }
    };
    let feed = match Feed::open(state.broker.clone(), &dashboard, since.as_ref()).await {
        Ok(feed) => feed,
        Err(error) => return broker_error_response(error),
    };
    let events = stream::unfold(feed, |mut feed| async move {
        let frame = feed.next().await?;
        let event = Event::default()
            .event(if frame.is_snapshot { "snapshot" } else { "update" })
            .id(feed.position().to_string())
            .data(frame.json.as_str());
        Some((Ok::<_, Infallible>(event), feed))
    })
    .take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(state.settings.heartbeat))
        .into_response()
}
