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
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use futures::{stream, Stream, StreamExt};
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Instant, Sleep};

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
    // Each frame's event is made once and shared by every SSE subscriber (`Frame::sse_event`).
    let events = stream::unfold((feed, subscribed), |(mut feed, subscribed)| async move {
        let frame = feed.next().await?;
        let event = frame.sse_event(feed.epoch());
        Some((event, (feed, subscribed)))
    });
    let body = KeepAlive::new(events.boxed(), state.limits.heartbeat)
        .take_until(ends(state.clone(), Lease::new(&access, &state.auth)))
        .map(Ok::<_, Infallible>);
    let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    Ok((headers, Body::from_stream(body)).into_response())
}

/// Resolves when the stream must end: shutdown, or its credential ending.
async fn ends(state: StreamState, lease: Lease) {
    tokio::select! {
        () = state.shutdown.cancelled() => {}
        _ = lease.ended() => {}
    }
}

/// `events`, with a comment line after every `interval` without one, so proxies and the
/// browser see a live stream. The events are polled as a stream, never a future dropped half
/// way: a keep-alive cannot cost a feed its place.
struct KeepAlive<S> {
    events: S,
    interval: Duration,
    quiet: Pin<Box<Sleep>>,
}

impl<S> KeepAlive<S> {
    fn new(events: S, interval: Duration) -> Self {
        KeepAlive { events, interval, quiet: Box::pin(tokio::time::sleep(interval)) }
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for KeepAlive<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let next = Instant::now() + self.interval;
        match self.events.poll_next_unpin(cx) {
            Poll::Ready(event) => {
                self.quiet.as_mut().reset(next);
                Poll::Ready(event)
            }
            Poll::Pending => {
                std::task::ready!(self.quiet.as_mut().poll(cx));
                self.quiet.as_mut().reset(next);
                Poll::Ready(Some(Bytes::from_static(b":\n\n")))
            }
        }
    }
}
