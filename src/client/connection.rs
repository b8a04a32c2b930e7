//! The live connection of a dashboard page: opens `/ws`, subscribes with `since` (so a page
//! rendered from a snapshot, or a reconnect, resumes without gap or duplicate), applies every
//! message to `DashboardState`, and reconnects with capped exponential backoff and full jitter.
//! Browser only: on the server the effect that starts it never runs.

use super::state::DashboardState;
#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Keeps `state` live for as long as the calling component is mounted.
pub fn use_live_connection(state: DashboardState) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        leptos::task::spawn_local_scoped_with_cancellation(live::run(state));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
}

/// Milliseconds to wait before reconnect `attempt` (1-based): full jitter over a cap that
/// doubles from 1 s to 5 s. `unit` is a uniform random number in [0, 1).
pub fn backoff_ms(attempt: u32, unit: f64) -> u32 {
    const BASE_MS: u32 = 1000;
    const CAP_MS: u32 = 5000;
    let ceiling = BASE_MS.saturating_mul(1 << attempt.saturating_sub(1).min(8)).min(CAP_MS);
    // Never hammer the server with an immediate retry.
    ((ceiling as f64 * unit) as u32).max(100)
}

#[cfg(feature = "hydrate")]
mod live {
    use super::backoff_ms;
    use crate::client::state::{Applied, ConnectionStatus, DashboardState};
    use crate::protocol::{ClientMessage, ServerMessage};
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;

    pub async fn run(state: DashboardState) {
        let mut attempt: u32 = 0;
        let mut pings = 0u64;
        loop {
            if let Ok(socket) = WebSocket::open(&socket_url()) {
                let (mut sink, mut stream) = socket.split();
                pings += 1;
                // True between a resubscribe and the first message that fits again: updates
                // already in flight from before it are dropped, not treated as new gaps.
                let mut resyncing = false;
                if subscribe(&mut sink, &state, pings).await {
                    while let Some(Ok(message)) = stream.next().await {
                        let Message::Text(text) = message else { continue };
                        let Ok(message) = serde_json::from_str::<ServerMessage>(&text) else {
                            continue;
                        };
                        attempt = 0;
                        if state.connection.get_untracked() != ConnectionStatus::Live {
                            state.connection.set(ConnectionStatus::Live);
                        }
                        match state.apply(message) {
                            Applied::Gap if !resyncing => {
                                resyncing = true;
                                pings += 1;
                                if !subscribe(&mut sink, &state, pings).await {
                                    break;
                                }
                            }
                            Applied::Ok => resyncing = false,
                            Applied::Gap | Applied::Other => {}
                        }
                    }
                }
            }
            attempt = attempt.saturating_add(1);
            state.connection.set(ConnectionStatus::Reconnecting { attempt });
            gloo_timers::future::TimeoutFuture::new(backoff_ms(attempt, js_sys::Math::random())).await;
        }
    }

    /// Subscribes from the held position, then pings so that an idle dashboard still
    /// confirms the connection. False when the socket is gone.
    async fn subscribe(
        sink: &mut futures::stream::SplitSink<WebSocket, Message>,
        state: &DashboardState,
        ping_id: u64,
    ) -> bool {
        let subscribe = ClientMessage::Subscribe {
            dashboard: state.dashboard.get_value(),
            since: Some(state.position.get_untracked()),
            max_hz: None,
        };
        let ping = ClientMessage::Ping { id: ping_id };
        for message in [subscribe, ping] {
            let text = serde_json::to_string(&message).expect("client messages serialize");
            if sink.send(Message::Text(text)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn socket_url() -> String {
        let location = window().location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        assert_eq!(backoff_ms(1, 0.999_999), 999);
        assert_eq!(backoff_ms(2, 0.999_999), 1999);
        assert_eq!(backoff_ms(3, 0.999_999), 3999);
        assert_eq!(backoff_ms(4, 0.999_999), 4999);
        assert_eq!(backoff_ms(40, 0.999_999), 4999);
        assert_eq!(backoff_ms(3, 0.0), 100, "a floor keeps retries from hammering");
        assert_eq!(backoff_ms(3, 0.5), 2000);
    }
}
