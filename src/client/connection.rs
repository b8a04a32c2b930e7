//! The page's one live connection, shared by every open dashboard: it subscribes each
//! dashboard with `since` (so a page rendered from a snapshot, or a reconnect, resumes without
//! gap or duplicate), unsubscribes the ones that close, routes every message to its
//! dashboard's state, and reconnects with capped exponential backoff and full jitter. It speaks
//! all three transports of PROTOCOL.md through one message path: one WebSocket carries every
//! dashboard; Server-Sent Events and long-polling are per dashboard by protocol, so they hold
//! one stream or request per open dashboard. `?transport=ws|sse|poll` forces one. Browser
//! only: on the server nothing is started.

use super::state::ConnectionState;
use leptos::prelude::*;

/// Creates the page's connection state, provides it as context and, in the browser, starts the
/// connection, which serves the dashboards opened with `ConnectionState::open` for as long as
/// the calling component (the app root) lives.
pub fn provide_connection() -> ConnectionState {
    let connection = ConnectionState::new();
    provide_context(connection);
    #[cfg(feature = "hydrate")]
    {
        let (notify, changes) = futures::channel::mpsc::unbounded();
        // Opening or closing a dashboard wakes the connection to subscribe or unsubscribe.
        Effect::new(move |_| {
            connection.dashboards.track();
            let _ = notify.unbounded_send(());
        });
        let mut changes = Some(changes);
        Effect::new(move |_| {
            if let Some(changes) = changes.take() {
                leptos::task::spawn_local_scoped_with_cancellation(live::run(connection, changes));
            }
        });
    }
    connection
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
    use crate::client::state::{
        refuses_retry, Applied, ConnectionState, ConnectionStatus, DashboardState, Recovery, Transport,
    };
    use crate::protocol::{ClientMessage, PollResponse, ServerMessage};
    use futures::channel::mpsc::UnboundedReceiver;
    use futures::future::{select, Either, LocalBoxFuture};
    use futures::{FutureExt, SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use gloo_timers::future::TimeoutFuture;
    use leptos::prelude::*;
    use std::collections::HashSet;

    /// Seconds a long-poll request may wait for news.
    const POLL_WAIT_SECS: u32 = 25;

    /// How often a quiet WebSocket is pinged; two intervals without any message (or, over SSE,
    /// without an open source) mean dead. The server's own default heartbeat.
    const DEFAULT_HEARTBEAT_MS: u32 = 15_000;

    /// Failed attempts in a row, without ever hearing from the server over a transport, after
    /// which the next one is tried (unless `?transport=` forced one).
    const FAILURES_BEFORE_FALLBACK: u32 = 2;

    /// Wakes the connection when a dashboard opens or closes.
    type Changes = UnboundedReceiver<()>;

    /// How a transport's session ended.
    enum Ended {
        /// Lost, or never got through: back off, then try again.
        Lost,
        /// The server closed with a code that says not to come back as we are.
        Refused(u16),
        /// The open dashboards changed, or a gap needs a fresh subscription from the held
        /// position, on a transport that cannot do either in place: start again at once.
        Restart,
    }

    /// Routes messages to their dashboards and decides when a gap calls for resubscribing.
    /// Shared by every transport so that they cannot differ in what they accept.
    struct Receiver {
        connection: ConnectionState,
        /// Dashboards between a resubscribe and the first message that fits again: updates
        /// already in flight from before it are dropped, not treated as new gaps.
        resyncing: HashSet<String>,
        /// Whether this session has heard from the server.
        heard: bool,
        /// Set when this session follows a lost live one: the first message counts a reconnect.
        reconnecting: bool,
        /// Dashboards whose first data message of this session tells how they caught up.
        recovering: HashSet<String>,
        /// The last ping sent: its id and browser time.
        last_ping: Option<(u64, f64)>,
    }

    impl Receiver {
        fn new(connection: ConnectionState) -> Self {
            Receiver {
                connection,
                resyncing: HashSet::new(),
                heard: false,
                reconnecting: false,
                recovering: HashSet::new(),
                last_ping: None,
            }
        }

        /// Starts a session; `recover` when it follows one that was lost after being live.
        fn begin(&mut self, recover: bool) {
            self.heard = false;
            self.resyncing.clear();
            self.last_ping = None;
            if recover {
                self.reconnecting = true;
                self.recovering = self.connection.open_ids().into_iter().collect();
            }
        }

        /// Marks the connection live (the server answered).
        fn live(&mut self) {
            self.heard = true;
            self.connection.heard_at.set(js_sys::Date::now());
            if self.connection.status.get_untracked() != ConnectionStatus::Live {
                self.connection.status.set(ConnectionStatus::Live);
            }
            if std::mem::take(&mut self.reconnecting) {
                self.connection.reconnects.update(|count| *count += 1);
            }
        }

        fn ping_sent(&mut self, id: u64) {
            self.last_ping = Some((id, js_sys::Date::now()));
        }

        /// Applies one message to its dashboard; the dashboard to resubscribe, if a gap showed.
        fn receive(&mut self, message: ServerMessage) -> Option<String> {
            self.live();
            let id = match &message {
                ServerMessage::Pong { id } => {
                    if let Some((_, at)) = self.last_ping.filter(|(sent, _)| sent == id) {
                        self.connection.rtt_ms.set(Some(js_sys::Date::now() - at));
                    }
                    return None;
                }
                ServerMessage::Snapshot(snapshot) => &snapshot.dashboard,
                ServerMessage::Update(update) => &update.dashboard,
                ServerMessage::Alert { dashboard, .. } => dashboard,
                ServerMessage::Error(error) => {
                    leptos::logging::warn!("server: {} ({:?})", error.message, error.code);
                    return None;
                }
            };
            // Messages for a dashboard closed a moment ago may still be in flight.
            let dashboard = self.connection.find(id)?;
            if matches!(message, ServerMessage::Snapshot(_) | ServerMessage::Update(_)) && self.recovering.remove(id) {
                self.connection.recovery.set(Some(recovery_by(&message, dashboard)));
            }
            let resyncing = self.resyncing.contains(id);
            // The id is copied only when a gap opens or closes, not for every update.
            match dashboard.apply(message) {
                Applied::Gap if !resyncing => {
                    let id = dashboard.dashboard.get_value();
                    self.resyncing.insert(id.clone());
                    Some(id)
                }
                Applied::Ok if resyncing => {
                    dashboard.dashboard.with_value(|id| self.resyncing.remove(id));
                    None
                }
                Applied::Ok | Applied::Gap | Applied::Other => None,
            }
        }

        fn receive_text(&mut self, text: &str) -> Option<String> {
            serde_json::from_str::<ServerMessage>(text).ok().and_then(|message| self.receive(message))
        }
    }

    /// How the first data message after a reconnection caught `dashboard` up.
    fn recovery_by(message: &ServerMessage, dashboard: DashboardState) -> Recovery {
        match message {
            ServerMessage::Snapshot(_) => Recovery::Snapshot,
            _ => Recovery::Resumed { after_seq: dashboard.position.with_untracked(|p| p.seq) },
        }
    }

    pub async fn run(connection: ConnectionState, mut changes: Changes) {
        // Nothing to serve until a dashboard opens (the home page needs no connection).
        while connection.dashboards.with_untracked(Vec::is_empty) {
            if changes.next().await.is_none() {
                return;
            }
        }
        let forced = requested_transport();
        let mut transport = forced.unwrap_or(Transport::WebSocket);
        connection.transport.set(transport);
        // Once a transport has worked, losing it is an outage, not a reason to change.
        let mut proven = false;
        let mut unproven_failures = 0;
        let max_attempts = requested_max_attempts();
        let heartbeat_ms = requested_heartbeat_ms().unwrap_or(DEFAULT_HEARTBEAT_MS);
        let backoff = requested_backoff();
        let mut attempt: u32 = 0;
        let mut receiver = Receiver::new(connection);
        let mut recover = false;
        loop {
            receiver.begin(recover);
            let ended = match transport {
                Transport::WebSocket => websocket(&mut receiver, &mut changes, heartbeat_ms).await,
                Transport::Sse => server_sent_events(&mut receiver, &mut changes, heartbeat_ms).await,
                Transport::Poll => long_poll(&mut receiver, &mut changes).await,
            };
            if receiver.heard {
                attempt = 0;
                proven = true;
            }
            recover = connection.heard_at.get_untracked() > 0.0;
            match ended {
                Ended::Restart => {
                    recover = false;
                    continue;
                }
                Ended::Refused(code) => {
                    connection.status.set(ConnectionStatus::Offline { attempts: attempt, refused: Some(code) });
                    wait_or_retry_now(&connection, None).await;
                    attempt = 0;
                    connection.status.set(ConnectionStatus::Connecting);
                    continue;
                }
                Ended::Lost => {}
            }
            if !proven && forced.is_none() {
                unproven_failures += 1;
                if let Some(next) = transport.fallback().filter(|_| unproven_failures >= FAILURES_BEFORE_FALLBACK) {
                    transport = next;
                    connection.transport.set(next);
                    unproven_failures = 0;
                    // A new transport starts at once, not after a growing backoff.
                    attempt = 0;
                    continue;
                }
            }
            attempt = attempt.saturating_add(1);
            if max_attempts.is_some_and(|max| attempt > max) {
                connection.status.set(ConnectionStatus::Offline { attempts: attempt - 1, refused: None });
                wait_or_retry_now(&connection, None).await;
                attempt = 0;
                connection.status.set(ConnectionStatus::Connecting);
                continue;
            }
            let delay = backoff.delay_ms(attempt, js_sys::Math::random());
            let retry_at = js_sys::Date::now() + f64::from(delay);
            connection.status.set(ConnectionStatus::Reconnecting { attempt, retry_at });
            wait_or_retry_now(&connection, Some(retry_at)).await;
        }
    }

    /// Waits until `until` (browser ms; forever when `None`) or until "Retry now" is pressed.
    async fn wait_or_retry_now(connection: &ConnectionState, until: Option<f64>) {
        // Short slices: a pressed button is seen within a tenth of a second.
        const SLICE_MS: u32 = 100;
        while until.is_none_or(|until| js_sys::Date::now() < until) {
            if connection.retry_now.get_untracked() {
                break;
            }
            TimeoutFuture::new(SLICE_MS).await;
        }
        connection.retry_now.set(false);
    }

    /// One WebSocket and what it is subscribed to.
    struct Socket {
        sink: futures::stream::SplitSink<WebSocket, Message>,
        /// The dashboards subscribed on this socket, each state with its id (kept here: a
        /// closed dashboard's state is gone by the time it is unsubscribed). States, not just
        /// ids: a dashboard reopened under the same id is subscribed again from its position.
        subscribed: Vec<(DashboardState, String)>,
        pings: u64,
    }

    impl Socket {
        async fn send(&mut self, message: &ClientMessage) -> bool {
            let text = serde_json::to_string(message).expect("client messages serialize");
            self.sink.send(Message::Text(text)).await.is_ok()
        }

        /// Asks the server for a `pong`, proof that the connection still carries messages.
        async fn ping(&mut self, receiver: &mut Receiver) -> bool {
            self.pings += 1;
            receiver.ping_sent(self.pings);
            self.send(&ClientMessage::Ping { id: self.pings }).await
        }

        /// Subscribes `dashboard` from its held position.
        async fn subscribe(&mut self, dashboard: DashboardState) -> bool {
            let Some(id) = dashboard.dashboard.try_get_value() else { return true };
            let since = dashboard.position.try_get_untracked();
            self.send(&ClientMessage::Subscribe { dashboard: id, since, max_hz: None }).await
        }

        /// Brings the subscriptions in line with the open dashboards, then pings so that an
        /// idle dashboard still confirms the connection. False when the socket is gone.
        async fn sync(&mut self, receiver: &mut Receiver) -> bool {
            let open = receiver.connection.dashboards.get_untracked();
            let open_ids = receiver.connection.open_ids();
            let (kept, closed): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.subscribed).into_iter().partition(|(state, _)| open.contains(state));
            self.subscribed = kept;
            for (_, id) in closed {
                // Reopened under the same id: its new subscription below replaces this one.
                if !open_ids.contains(&id) && !self.send(&ClientMessage::Unsubscribe { dashboard: id }).await {
                    return false;
                }
            }
            for dashboard in open {
                if self.subscribed.iter().any(|(state, _)| *state == dashboard) {
                    continue;
                }
                let Some(id) = dashboard.dashboard.try_get_value() else { continue };
                if !self.subscribe(dashboard).await {
                    return false;
                }
                self.subscribed.push((dashboard, id));
            }
            self.ping(receiver).await
        }
    }

    async fn websocket(receiver: &mut Receiver, changes: &mut Changes, heartbeat_ms: u32) -> Ended {
        let Ok(socket) = WebSocket::open(&socket_url()) else { return Ended::Lost };
        receiver.connection.sockets_opened.update(|count| *count += 1);
        let (sink, mut stream) = socket.split();
        let mut socket = Socket { sink, subscribed: Vec::new(), pings: 0 };
        // Sending waits for the socket to open: one that never opens is as dead as a silent one.
        let opened = {
            let subscribing = std::pin::pin!(socket.sync(receiver));
            matches!(select(subscribing, TimeoutFuture::new(2 * heartbeat_ms)).await, Either::Left((true, _)))
        };
        if !opened {
            return refusal(&mut stream).map_or(Ended::Lost, Ended::Refused);
        }
        // Heartbeat intervals in a row without a message; the browser does not report a
        // connection that silently died (a cut cable, a sleeping laptop), so two mean dead.
        let mut silent = 0;
        loop {
            futures::select! {
                message = stream.next().fuse() => {
                    silent = 0;
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            let Some(gap) = receiver.receive_text(&text) else { continue };
                            let Some(dashboard) = receiver.connection.find(&gap) else { continue };
                            if !(socket.subscribe(dashboard).await && socket.ping(receiver).await) {
                                break;
                            }
                        }
                        Some(Ok(Message::Bytes(_))) => {}
                        Some(Err(WebSocketError::ConnectionClose(event))) if refuses_retry(event.code) => {
                            return Ended::Refused(event.code);
                        }
                        _ => break,
                    }
                }
                _ = TimeoutFuture::new(heartbeat_ms).fuse() => {
                    silent += 1;
                    if silent >= 2 || !socket.ping(receiver).await {
                        break;
                    }
                }
                _ = changes.next() => {
                    if !socket.sync(receiver).await {
                        break;
                    }
                }
            }
        }
        Ended::Lost
    }

    /// The close code of a refusal already queued on a socket that failed to open: a server
    /// (or proxy) may answer the upgrade and close at once, before a message could be sent.
    fn refusal(stream: &mut futures::stream::SplitStream<WebSocket>) -> Option<u16> {
        while let Some(Some(event)) = stream.next().now_or_never() {
            if let Err(WebSocketError::ConnectionClose(close)) = event {
                return refuses_retry(close.code).then_some(close.code);
            }
        }
        None
    }

    async fn server_sent_events(receiver: &mut Receiver, changes: &mut Changes, heartbeat_ms: u32) -> Ended {
        use gloo_net::eventsource::{futures::EventSource, State};
        let open = receiver.connection.dashboards.get_untracked();
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
            let (Ok(snapshots), Ok(updates)) = (source.subscribe("snapshot"), source.subscribe("update"))
            else {
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
            let check_ms = if receiver.heard { heartbeat_ms } else { OPENING_CHECK_MS };
            futures::select! {
                event = events.next() => {
                    let Some(Ok((_, event))) = event else { return Ended::Lost };
                    let Some(text) = event.data().as_string() else { continue };
                    if receiver.receive_text(&text).is_some() {
                        return Ended::Restart;
                    }
                }
                _ = TimeoutFuture::new(check_ms).fuse() => {
                    if sources.iter().all(|source| source.state() == State::Open) {
                        closed_ms = 0;
                        receiver.live();
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

    /// One long-poll answer for a dashboard, or how it failed (a refusal's close code).
    type PollAnswer = (DashboardState, Result<PollResponse, Option<u16>>);

    /// Aborts its fetch when dropped: a long-poll left waiting (its dashboard closed, the
    /// session restarted) must not hold one of the browser's few connections per server for
    /// the rest of its wait.
    struct AbortOnDrop(web_sys::AbortController);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    /// Asks for `dashboard`'s news from its held position, waiting up to `wait_secs` for some.
    fn poll(dashboard: DashboardState, wait_secs: u32) -> LocalBoxFuture<'static, PollAnswer> {
        async move {
            let Some(url) = stream_url(dashboard, "poll").map(|url| format!("{url}&timeout={wait_secs}")) else {
                // Closed already: the change that closed it restarts the session.
                return std::future::pending().await;
            };
            let abort = web_sys::AbortController::new().ok().map(AbortOnDrop);
            let signal = abort.as_ref().map(|abort| abort.0.signal());
            let request = gloo_net::http::Request::get(&url).abort_signal(signal.as_ref());
            let answer = match request.send().await {
                Ok(response) if response.ok() => response.json::<PollResponse>().await.map_err(|_| None),
                // HTTP 401 and 403 refuse like the WebSocket close codes 4001 and 4003 do.
                Ok(response) if response.status() == 401 => Err(Some(4001)),
                Ok(response) if response.status() == 403 => Err(Some(4003)),
                _ => Err(None),
            };
            (dashboard, answer)
        }
        .boxed_local()
    }

    async fn long_poll(receiver: &mut Receiver, changes: &mut Changes) -> Ended {
        let open = receiver.connection.dashboards.get_untracked();
        if open.is_empty() {
            changes.next().await;
            return Ended::Restart;
        }
        // One request in flight per open dashboard. The first ones answer at once, so a quiet
        // dashboard is known to be connected without waiting for its first news.
        let mut pending: Vec<_> = open.into_iter().map(|dashboard| poll(dashboard, 0)).collect();
        loop {
            match select(futures::future::select_all(pending), changes.next()).await {
                Either::Left((((dashboard, answer), _, rest), _)) => {
                    pending = rest;
                    match answer {
                        Ok(answer) => {
                            receiver.live();
                            for message in answer.messages {
                                // The next poll asks from the held position anyway: a gap
                                // needs nothing more.
                                receiver.receive(message);
                            }
                            pending.push(poll(dashboard, POLL_WAIT_SECS));
                        }
                        Err(Some(code)) => return Ended::Refused(code),
                        Err(None) => return Ended::Lost,
                    }
                }
                Either::Right(_) => return Ended::Restart,
            }
        }
    }

    /// `/api/v1/{kind}/{dashboard}?since=E:S` from the dashboard's held position; `None` once
    /// the dashboard has closed.
    fn stream_url(dashboard: DashboardState, kind: &str) -> Option<String> {
        let id = dashboard.dashboard.try_get_value()?;
        let since = dashboard.position.try_get_untracked()?;
        Some(format!("/api/v1/{kind}/{id}?since={since}"))
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
