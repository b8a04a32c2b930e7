//! The Server-Sent Events transport: one `EventSource` per open dashboard (the protocol
//! streams one dashboard per request). The browser reconnects an event source by itself,
//! resuming with `Last-Event-ID`; this side watches that the sources stay open and restarts
//! the session when the open dashboards change or a gap needs a fresh start.

use super::dispatch::Dispatcher;
use super::policy::Ended;
use super::{options::stream_url, Changes};
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

pub(super) async fn session(dispatcher: &mut Dispatcher, changes: &mut Changes, heartbeat_ms: u32) -> Ended {
    use gloo_net::eventsource::{futures::EventSource, State};
    let open = dispatcher.connection.dashboards.get_untracked();
    if open.is_empty() {
        changes.next().await;
        return Ended::Restart;
    }
    // One source per open dashboard (the protocol streams one dashboard per request).
    let mut sources = Vec::with_capacity(open.len());
    let mut streams = Vec::with_capacity(open.len());
    for dashboard in open {
        let Some(url) = stream_url(dashboard, "stream") else { continue };
        let Ok(mut source) = EventSource::new(&url) else { return Ended::Lost };
        let (Ok(snapshots), Ok(updates)) = (source.subscribe("snapshot"), source.subscribe("update")) else {
            return Ended::Lost;
        };
        streams.push(futures::stream::select(snapshots, updates));
        sources.push(source);
    }
    let mut events = futures::stream::select_all(streams);
    // The browser reconnects an EventSource by itself (resuming with Last-Event-ID) and
    // may keep trying forever; sources not all open for two heartbeat intervals are lost.
    // Until the server is heard from, the sources are checked often: a quiet dashboard
    // sends nothing, and an open source is the proof that it is connected.
    const OPENING_CHECK_MS: u32 = 250;
    let mut closed_ms = 0;
    loop {
        let check_ms = if dispatcher.heard() { heartbeat_ms } else { OPENING_CHECK_MS };
        // A message before the timer when both are ready (`select!` draws one at random).
        futures::select_biased! {
            event = events.next() => {
                let Some(Ok((_, event))) = event else { return Ended::Lost };
                let Some(text) = event.data().as_string() else { continue };
                if dispatcher.receive_text(&text).is_some() {
                    return Ended::Restart;
                }
            }
            _ = TimeoutFuture::new(check_ms).fuse() => {
                if sources.iter().all(|source| source.state() == State::Open) {
                    closed_ms = 0;
                    dispatcher.live();
                } else {
                    closed_ms += check_ms;
                    if closed_ms >= 2 * heartbeat_ms {
                        return Ended::Lost;
                    }
                }
            }
            _ = changes.next() => return Ended::Restart,
        }
    }
}
