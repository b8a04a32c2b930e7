//! The Server-Sent Events fallback, `GET /api/v1/stream/{dashboard}`: the same feed as the
//! WebSocket, one event per message (`event:` its type, `data:` its JSON, `id:` the position
//! `epoch:seq`), resumable with the standard `Last-Event-ID` header or `?since=E:S`. A stream
//! ends when its credential expires or its session signs out.

use super::{feed::Feed, Since, StreamState};
use crate::server::{
    auth::{authorize, Access, Action, Lease},
    http::{ApiError, ApiPath, ClientAddr},
    telemetry::GaugeGuard,
};
use axum::{
    extract::State,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension,
};
use futures::{stream, StreamExt};
use std::convert::Infallible;

pub async fn stream(
    State(state): State<StreamState>,
    client: ClientAddr,
    ApiPath(dashboard): ApiPath<String>,
    Since(since): Since,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    authorize(&access, &dashboard, Action::Read)?;
    let admission = state.admit(client)?;
    let feed = Feed::open(state.broker.clone(), &dashboard, since.as_ref()).await?;
    // Counted, and holding its places, for as long as the stream lives.
    let subscribed = (GaugeGuard::new(&state.telemetry.subscriptions), admission);
    let events = stream::unfold((feed, subscribed), |(mut feed, subscribed)| async move {
        let frame = feed.next().await?;
        let event = Event::default()
            .event(if frame.is_snapshot { "snapshot" } else { "update" })
            .id(feed.position().to_string())
            .data(frame.json.as_str());
        Some((Ok::<_, Infallible>(event), (feed, subscribed)))
    })
    .take_until(ends(state.clone(), Lease::new(&access, &state.auth)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.limits.heartbeat)).into_response())
}

/// Resolves when the stream must end: shutdown, or its credential ending.
async fn ends(state: StreamState, lease: Lease) {
    tokio::select! {
        () = state.shutdown.cancelled() => {}
        _ = lease.ended() => {}
    }
}
