//! The live connection of a dashboard page: subscribes with `since` (so a page rendered from a
//! snapshot, or a reconnect, resumes without gap or duplicate), applies every message to
//! `DashboardState`, and reconnects with capped exponential backoff and full jitter. It speaks
//! all three transports of PROTOCOL.md (WebSocket, Server-Sent Events, long-polling) through
//! one message path; `?transport=ws|sse|poll` picks one. Browser only: on the server the
//! effect that starts it never runs.

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

/// Reconnection delays: full jitter over a ceiling that doubles from `base_ms` up to `cap_ms`.
/// The page sets them with `?backoffMs=` and `?backoffCapMs=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base_ms: u32,
    pub cap_ms: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base_ms: 1000, cap_ms: 5000 }
    }
}

impl Backoff {
    /// Milliseconds to wait before reconnect `attempt` (1-based); `unit` is a uniform random
    /// number in [0, 1).
    pub fn delay_ms(self, attempt: u32, unit: f64) -> u32 {
        let doubled = self.base_ms.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let ceiling = doubled.min(self.cap_ms.max(self.base_ms));
        // Never hammer the server with an immediate retry.
        ((ceiling as f64 * unit) as u32).max(100)
    }
}

#[cfg(feature = "hydrate")]
mod live {
    use super::Backoff;
    use crate::client::state::{Applied, ConnectionStatus, DashboardState, Recovery, Transport};
    use crate::protocol::{ClientMessage, PollResponse, ServerMessage};
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;

    /// Seconds a long-poll request may wait for news.
    const POLL_WAIT_SECS: u32 = 25;

    /// How often a quiet WebSocket is pinged; two intervals without any message (or, over SSE,
    /// without an open source) mean dead. The server's own default heartbeat.
    const DEFAULT_HEARTBEAT_MS: u32 = 15_000;

    /// How a transport's session ended.
    enum Ended {
        /// Lost or refused: back off, then try again.
        Lost,
        /// A gap needs a fresh subscription from the held position, at once.
        Resubscribe,
    }

    /// Applies messages and decides when a gap calls for resubscribing. Shared by every
    /// transport so that they cannot differ in what they accept.
    struct Receiver {
        state: DashboardState,
        /// True between a resubscribe and the first message that fits again: updates already
        /// in flight from before it are dropped, not treated as new gaps.
        resyncing: bool,
        /// Whether this session has heard from the server.
        heard: bool,
        /// Set when this session follows a live one: its first data message tells how it
        /// caught up.
        recovering: bool,
        /// The last ping sent: its id and browser time.
        last_ping: Option<(u64, f64)>,
    }

    impl Receiver {
        fn new(state: DashboardState) -> Self {
            let recovering = state.heard_at.get_untracked() > 0.0;
            Receiver { state, resyncing: false, heard: false, recovering, last_ping: None }
        }

        /// Marks the connection live (the server answered).
        fn live(&mut self) {
            self.heard = true;
            self.state.heard_at.set(js_sys::Date::now());
            if self.state.connection.get_untracked() != ConnectionStatus::Live {
                self.state.connection.set(ConnectionStatus::Live);
            }
        }

        fn ping_sent(&mut self, id: u64) {
            self.last_ping = Some((id, js_sys::Date::now()));
        }

        /// Applies one message; true when the caller must resubscribe.
        fn receive(&mut self, message: ServerMessage) -> bool {
            self.live();
            match &message {
                ServerMessage::Pong { id } => {
                    if let Some((_, at)) = self.last_ping.filter(|(sent, _)| sent == id) {
                        self.state.rtt_ms.set(Some(js_sys::Date::now() - at));
                    }
                }
                ServerMessage::Snapshot(_) | ServerMessage::Update(_) if self.recovering => {
                    self.recovering = false;
                    let recovery = match &message {
                        ServerMessage::Snapshot(_) => Recovery::Snapshot,
                        _ => Recovery::Resumed { after_seq: self.state.position.with_untracked(|p| p.seq) },
                    };
                    self.state.recovery.set(Some(recovery));
                    self.state.reconnects.update(|count| *count += 1);
                }
                _ => {}
            }
            match self.state.apply(message) {
                Applied::Gap if !self.resyncing => {
                    self.resyncing = true;
                    true
                }
                Applied::Ok => {
                    self.resyncing = false;
                    false
                }
                Applied::Gap | Applied::Other => false,
            }
        }

        fn receive_text(&mut self, text: &str) -> bool {
            match serde_json::from_str::<ServerMessage>(text) {
                Ok(message) => self.receive(message),
                Err(_) => false,
            }
        }
    }

    /// Failed attempts in a row, without ever hearing from the server over a transport, after
    /// which the next one is tried (unless `?transport=` forced one).
    const FAILURES_BEFORE_FALLBACK: u32 = 2;

    pub async fn run(state: DashboardState) {
        let forced = requested_transport();
        let mut transport = forced.unwrap_or(Transport::WebSocket);
        state.transport.set(transport);
        // Once a transport has worked, losing it is an outage, not a reason to change.
        let mut proven = false;
        let mut unproven_failures = 0;
        let max_attempts = requested_max_attempts();
        let heartbeat_ms = requested_heartbeat_ms().unwrap_or(DEFAULT_HEARTBEAT_MS);
        let backoff = requested_backoff();
        let mut attempt: u32 = 0;
        loop {
            let mut receiver = Receiver::new(state);
            let ended = match transport {
                Transport::WebSocket => websocket(&mut receiver, heartbeat_ms).await,
                Transport::Sse => server_sent_events(&mut receiver, heartbeat_ms).await,
                Transport::Poll => long_poll(&mut receiver).await,
            };
            if receiver.heard {
                attempt = 0;
                proven = true;
            }
            if let Ended::Resubscribe = ended {
                continue;
            }
            if !proven && forced.is_none() {
                unproven_failures += 1;
                if let Some(next) = transport.fallback().filter(|_| unproven_failures >= FAILURES_BEFORE_FALLBACK) {
                    transport = next;
                    state.transport.set(next);
                    unproven_failures = 0;
                    // A new transport starts at once, not after a growing backoff.
                    attempt = 0;
                    continue;
                }
            }
            attempt = attempt.saturating_add(1);
            if max_attempts.is_some_and(|max| attempt > max) {
                state.connection.set(ConnectionStatus::Offline { attempts: attempt - 1 });
                wait_or_retry_now(&state, None).await;
                attempt = 0;
                state.connection.set(ConnectionStatus::Connecting);
                continue;
            }
            let delay = backoff.delay_ms(attempt, js_sys::Math::random());
            let retry_at = js_sys::Date::now() + f64::from(delay);
            state.connection.set(ConnectionStatus::Reconnecting { attempt, retry_at });
            wait_or_retry_now(&state, Some(retry_at)).await;
        }
    }

    /// Waits until `until` (browser ms; forever when `None`) or until "Retry now" is pressed.
    async fn wait_or_retry_now(state: &DashboardState, until: Option<f64>) {
        // Short slices: a pressed button is seen within a tenth of a second.
        const SLICE_MS: u32 = 100;
        while until.is_none_or(|until| js_sys::Date::now() < until) {
            if state.retry_now.get_untracked() {
                break;
            }
            gloo_timers::future::TimeoutFuture::new(SLICE_MS).await;
        }
        state.retry_now.set(false);
    }

    async fn websocket(receiver: &mut Receiver, heartbeat_ms: u32) -> Ended {
        use futures::future::{select, Either};
        use gloo_timers::future::TimeoutFuture;
        let Ok(socket) = WebSocket::open(&socket_url()) else { return Ended::Lost };
        let (mut sink, mut stream) = socket.split();
        let mut pings = 0u64;
        // Sending waits for the socket to open: one that never opens is as dead as a silent one.
        let opened = {
            let subscribing = std::pin::pin!(subscribe(&mut sink, &receiver.state, &mut pings));
            matches!(select(subscribing, TimeoutFuture::new(2 * heartbeat_ms)).await, Either::Left((true, _)))
        };
        if !opened {
            return Ended::Lost;
        }
        receiver.ping_sent(pings);
        // Heartbeat intervals in a row without a message; the browser does not report a
        // connection that silently died (a cut cable, a sleeping laptop), so two mean dead.
        let mut silent = 0;
        loop {
            match select(stream.next(), TimeoutFuture::new(heartbeat_ms)).await {
                Either::Left((Some(Ok(message)), _)) => {
                    silent = 0;
                    let Message::Text(text) = message else { continue };
                    if receiver.receive_text(&text) {
                        if !subscribe(&mut sink, &receiver.state, &mut pings).await {
                            break;
                        }
                        receiver.ping_sent(pings);
                    }
                }
                Either::Left(_) => break,
                Either::Right(_) => {
                    silent += 1;
                    if silent >= 2 || !ping(&mut sink, &mut pings).await {
                        break;
                    }
                    receiver.ping_sent(pings);
                }
            }
        }
        Ended::Lost
    }

    /// Asks the server for a `pong`, proof that the connection still carries messages.
    async fn ping(sink: &mut futures::stream::SplitSink<WebSocket, Message>, pings: &mut u64) -> bool {
        *pings += 1;
        let text = serde_json::to_string(&ClientMessage::Ping { id: *pings }).expect("client messages serialize");
        sink.send(Message::Text(text)).await.is_ok()
    }

    /// Subscribes from the held position, then pings so that an idle dashboard still
    /// confirms the connection. False when the socket is gone.
    async fn subscribe(
        sink: &mut futures::stream::SplitSink<WebSocket, Message>,
        state: &DashboardState,
        pings: &mut u64,
    ) -> bool {
        let subscribe = ClientMessage::Subscribe {
            dashboard: state.dashboard.get_value(),
            since: Some(state.position.get_untracked()),
            max_hz: None,
        };
        let text = serde_json::to_string(&subscribe).expect("client messages serialize");
        sink.send(Message::Text(text)).await.is_ok() && ping(sink, pings).await
    }

    async fn server_sent_events(receiver: &mut Receiver, heartbeat_ms: u32) -> Ended {
        use futures::future::{select, Either};
        use gloo_net::eventsource::State;
        let url = format!("{}?since={}", stream_url(&receiver.state, "stream"), since(&receiver.state));
        let Ok(mut source) = gloo_net::eventsource::futures::EventSource::new(&url) else {
            return Ended::Lost;
        };
        let (Ok(snapshots), Ok(updates)) = (source.subscribe("snapshot"), source.subscribe("update"))
        else {
            return Ended::Lost;
        };
        let mut events = futures::stream::select(snapshots, updates);
        // The browser reconnects an EventSource by itself (resuming with Last-Event-ID) and
        // may keep trying forever; a source not open for two heartbeat intervals is lost.
        let mut closed_intervals = 0;
        loop {
            match select(events.next(), gloo_timers::future::TimeoutFuture::new(heartbeat_ms)).await {
                Either::Left((Some(Ok((_, event))), _)) => {
                    let Some(text) = event.data().as_string() else { continue };
                    if receiver.receive_text(&text) {
                        return Ended::Resubscribe;
                    }
                }
                Either::Left(_) => return Ended::Lost,
                Either::Right(_) if source.state() == State::Open => closed_intervals = 0,
                Either::Right(_) => {
                    closed_intervals += 1;
                    if closed_intervals >= 2 {
                        return Ended::Lost;
                    }
                }
            }
        }
    }

    async fn long_poll(receiver: &mut Receiver) -> Ended {
        loop {
            let url = format!(
                "{}?since={}&timeout={POLL_WAIT_SECS}",
                stream_url(&receiver.state, "poll"),
                since(&receiver.state)
            );
            let response = match gloo_net::http::Request::get(&url).send().await {
                Ok(response) if response.ok() => response,
                _ => return Ended::Lost,
            };
            let Ok(answer) = response.json::<PollResponse>().await else { return Ended::Lost };
            receiver.live();
            for message in answer.messages {
                // The next poll asks from the held position anyway: a gap needs nothing more.
                receiver.receive(message);
            }
        }
    }

    fn since(state: &DashboardState) -> String {
        state.position.get_untracked().to_string()
    }

    fn stream_url(state: &DashboardState, kind: &str) -> String {
        format!("/api/v1/{kind}/{}", state.dashboard.get_value())
    }

    fn socket_url() -> String {
        let location = window().location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    }

    /// A query parameter of the page.
    fn page_parameter(name: &str) -> Option<String> {
        let search = window().location().search().ok()?;
        web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
    }

    /// `?transport=` of the page, if it names one.
    fn requested_transport() -> Option<Transport> {
        Transport::from_label(&page_parameter("transport")?)
    }

    /// `?heartbeatMs=N`: ping a quiet WebSocket every N ms, drop it after 2N ms of silence.
    fn requested_heartbeat_ms() -> Option<u32> {
        page_parameter("heartbeatMs")?.parse().ok().filter(|ms| *ms >= 100)
    }

    /// `?backoffMs=` and `?backoffCapMs=`: the first reconnection ceiling and its cap.
    fn requested_backoff() -> Backoff {
        let default = Backoff::default();
        let number = |name: &str| page_parameter(name).and_then(|text| text.parse::<u32>().ok());
        Backoff {
            base_ms: number("backoffMs").unwrap_or(default.base_ms),
            cap_ms: number("backoffCapMs").unwrap_or(default.cap_ms),
        }
    }

    /// `?maxAttempts=N`: give up (Offline, "Retry now") after N failed attempts in a row.
    /// Without it the page retries forever.
    fn requested_max_attempts() -> Option<u32> {
        page_parameter("maxAttempts")?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_ms(1, 0.999_999), 999);
        assert_eq!(backoff.delay_ms(2, 0.999_999), 1999);
        assert_eq!(backoff.delay_ms(3, 0.999_999), 3999);
        assert_eq!(backoff.delay_ms(4, 0.999_999), 4999);
        assert_eq!(backoff.delay_ms(40, 0.999_999), 4999);
        assert_eq!(backoff.delay_ms(3, 0.0), 100, "a floor keeps retries from hammering");
        assert_eq!(backoff.delay_ms(3, 0.5), 2000);
        let configured = Backoff { base_ms: 250, cap_ms: 30_000 };
        assert_eq!(configured.delay_ms(1, 0.999_999), 249);
        assert_eq!(configured.delay_ms(5, 0.999_999), 3999);
        assert_eq!(configured.delay_ms(20, 0.999_999), 29_999);
        let inverted = Backoff { base_ms: 2000, cap_ms: 500 };
        assert_eq!(inverted.delay_ms(3, 0.999_999), 1999, "a cap below the base means the base");
    }
}
