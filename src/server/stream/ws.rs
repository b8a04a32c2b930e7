//! The WebSocket transport, `GET /ws` (PROTOCOL.md). Framing lives here; meaning is in
//! `Session::handle`. Each connection runs two loops side by side, generic over the socket's
//! `Stream` and `Sink` halves so that tests drive them over channels with paused time:
//! `read_loop` decodes client messages and starts or stops one `Feed` task per subscribed
//! dashboard; `write_loop` drains an outbox bounded in frames and in bytes into the socket,
//! pings on an interval, and closes with 1001 when the server shuts down. Abuse ends a
//! connection with a close code: 1009 for a message over the size limit, 1008 for a message
//! flood, silence past two heartbeats, or a socket that accepts no data for the write timeout.
//! With auth, the first message is `session`; a subscription the credential does not cover is
//! answered `forbidden`; `refresh` replaces the credential (4500 if it names someone else); the
//! connection closes with 4001 when its credential expires or its session signs out.

use super::{feed::Feed, rate_limit::RateLimiter, StreamState};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use crate::server::{
    auth::{authorize, Access, Action, Auth, Lease, Presented},
    broker::Broker,
    http::{ApiError, ClientAddr},
    telemetry::{GaugeGuard, Telemetry},
};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
    Extension,
};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::AbortOnDropHandle};

/// Frames queued for one connection before its feeds wait (and, if it stays slow, fall behind
/// and get resynced with a snapshot).
const OUTBOX_FRAMES: usize = 64;

/// Bytes of feed frames queued for one connection at most; a frame larger than this (a big
/// snapshot) goes alone.
const OUTBOX_BYTES: usize = 256 * 1024;

/// Close code: the credential expired or its session signed out (sign in again, then reconnect).
pub const CLOSE_CREDENTIAL_ENDED: u16 = 4001;

/// Close code: a `refresh` carried another user's credential (do not retry with it).
pub const CLOSE_INVALID_CREDENTIAL: u16 = 4500;

/// A message for the socket, holding its share of the connection's byte budget until written.
type Outgoing = (Message, Option<OwnedSemaphorePermit>);

pub async fn upgrade(
    ws: WebSocketUpgrade,
    client: ClientAddr,
    State(state): State<StreamState>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    // Refused before the upgrade, so a full server costs a rejected request, not a socket.
    let admission = state.admit(client)?;
    let max = state.limits.max_frame_bytes;
    // Small codec buffers: tungstenite's 128 KiB defaults would dominate per-connection memory,
    // and client messages here are tiny.
    let ws = ws.read_buffer_size(4096).write_buffer_size(0).max_message_size(max).max_frame_size(max);
    Ok(ws.on_upgrade(move |socket| {
        let tasks = state.tasks.clone();
        tasks.track_future(async move {
            serve(socket, state, access).await;
            drop(admission);
        })
    }))
}

/// Whether a read failed because the client sent a frame over the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    use std::error::Error;
    matches!(
        error.source().and_then(|source| source.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Why a connection ended, and what to tell the client.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    Close(u16, &'static str),
}

/// When the client was last heard from, shared by the two loops of a connection.
struct Heard {
    since: Instant,
    /// Milliseconds after `since`. Atomic only because the connection's future must be `Send`;
    /// both loops run in one task.
    at_ms: AtomicU64,
}

impl Heard {
    fn new() -> Self {
        Heard { since: Instant::now(), at_ms: AtomicU64::new(0) }
    }

    fn now(&self) {
        self.at_ms.store(self.since.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        Duration::from_millis(
            (self.since.elapsed().as_millis() as u64).saturating_sub(self.at_ms.load(Ordering::Relaxed)),
        )
    }
}

/// The limits a connection's loops enforce.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Pings go out this often; a client silent for two is dropped.
    heartbeat: Duration,
    /// A socket that takes no data for this long is dropped.
    write_timeout: Duration,
    max_messages_per_sec: f64,
    message_burst: f64,
}

async fn serve(socket: WebSocket, state: StreamState, access: Access) {
    let telemetry = state.telemetry.clone();
    let _open = GaugeGuard::new(&telemetry.connections);
    let (mut sink, stream) = socket.split();
    let (outbox, mut outgoing) = mpsc::channel::<Outgoing>(OUTBOX_FRAMES);
    let configured = state.limits;
    let limits = Limits {
        heartbeat: configured.heartbeat,
        write_timeout: configured.write_timeout,
        max_messages_per_sec: configured.max_messages_per_sec,
        message_burst: configured.message_burst,
    };
    let mut session = Session {
        broker: state.broker.clone(),
        telemetry: telemetry.clone(),
        outbox,
        bytes: Arc::new(Semaphore::new(OUTBOX_BYTES)),
        feeds: HashMap::new(),
        lease: Lease::new(&access, &state.auth),
        access,
        auth: state.auth.clone(),
    };
    if state.auth.is_secured() {
        session.announce().await;
    }
    let heard = Heard::new();
    let ending = tokio::select! {
        ending = read_loop(stream, &mut session, limits, &heard) => ending,
        ending = write_loop(&mut sink, &mut outgoing, limits, &heard, &state.shutdown, &telemetry) => ending,
    };
    if let Ending::Close(code, reason) = ending {
        let close = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
    }
}

/// Reads client messages into `session` until the client leaves or breaks a limit: a message
/// over the size limit (1009) or a flood (1008).
async fn read_loop<R>(mut stream: R, session: &mut Session, limits: Limits, heard: &Heard) -> Ending
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let mut limiter = RateLimiter::new(limits.max_messages_per_sec, limits.message_burst, Instant::now());
    loop {
        let read = tokio::select! {
            read = stream.next() => read,
            end = session.lease.ended() => return Ending::Close(CLOSE_CREDENTIAL_ENDED, end.reason()),
        };
        let Some(read) = read else { break };
        let message = match read {
            Ok(message) => message,
            Err(error) if is_too_large(&error) => return Ending::Close(close_code::SIZE, "message too large"),
            Err(_) => return Ending::Gone,
        };
        heard.now();
        if !limiter.allow(Instant::now()) {
            return Ending::Close(close_code::POLICY, "message rate limit exceeded");
        }
        match message {
            Message::Text(text) => {
                if let Some(ending) = session.handle(&text).await {
                    return ending;
                }
            }
            Message::Binary(_) => {
                let message = "binary frames are not part of the protocol; send JSON text";
                session.reply(ServerMessage::error(ErrorCode::BadRequest, message, None)).await
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    Ending::Gone
}

/// Writes the outbox into `sink` and pings every heartbeat, until the outbox closes, the
/// server shuts down (1001), the client stays silent for two heartbeats (1008) or its socket
/// takes no data for the write timeout (1008).
async fn write_loop<W>(
    sink: &mut W,
    outgoing: &mut mpsc::Receiver<Outgoing>,
    limits: Limits,
    heard: &Heard,
    shutdown: &CancellationToken,
    telemetry: &Telemetry,
) -> Ending
where
    W: Sink<Message> + Unpin,
{
    let mut ping = tokio::time::interval(limits.heartbeat);
    ping.reset();
    // Made once: a fresh `cancelled()` per frame registered and unregistered a waiter on
    // the token each time (measurable at 100,000 frames/s).
    let shutdown = shutdown.cancelled();
    tokio::pin!(shutdown);
    loop {
        // A frame's share of the byte budget is released once the socket has taken it.
        let (message, _budget) = tokio::select! {
            _ = &mut shutdown => return Ending::Close(close_code::AWAY, "server shutting down"),
            message = outgoing.recv() => match message {
                Some(outgoing) => outgoing,
                None => return Ending::Gone,
            },
            _ = ping.tick() => {
                if heard.silent_for() > 2 * limits.heartbeat {
                    telemetry.dropped_clients.inc();
                    return Ending::Close(close_code::POLICY, "no answer to pings");
                }
                (Message::Ping(Default::default()), None)
            }
        };
        let is_protocol_message = matches!(message, Message::Text(_));
        tokio::select! {
            _ = &mut shutdown => return Ending::Close(close_code::AWAY, "server shutting down"),
            sent = tokio::time::timeout(limits.write_timeout, sink.send(message)) => match sent {
                Ok(Ok(())) => {
                    if is_protocol_message {
                        telemetry.messages_sent.inc();
                    }
                }
                Ok(Err(_)) => return Ending::Gone,
                // Hopelessly behind: its socket took no data for the whole timeout.
                Err(_) => {
                    telemetry.dropped_clients.inc();
                    return Ending::Close(close_code::POLICY, "client too slow");
                }
            },
        }
    }
}

/// What one connection has subscribed to, and where its messages go.
struct Session {
    broker: Arc<dyn Broker>,
    telemetry: Arc<Telemetry>,
    outbox: mpsc::Sender<Outgoing>,
    /// The connection's byte budget for queued feed frames (`OUTBOX_BYTES`).
    bytes: Arc<Semaphore>,
    /// One forwarding task per subscribed dashboard, stopped when dropped.
    feeds: HashMap<String, AbortOnDropHandle<()>>,
    /// What the connection's credential allows, and when it ends.
    access: Access,
    lease: Lease,
    auth: Arc<Auth>,
}

impl Session {
    /// Handles one client message; the connection's end, when the message ends it.
    async fn handle(&mut self, text: &str) -> Option<Ending> {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                self.telemetry.error("ws", "bad_request");
                let reply = ServerMessage::error(ErrorCode::BadRequest, error.to_string(), None);
                self.reply(reply).await;
                return None;
            }
        };
        match message {
            ClientMessage::Subscribe { dashboard, since, max_hz } => {
                let throttle = match max_hz.map(super::feed::throttle_for).transpose() {
                    Ok(throttle) => throttle,
                    Err(message) => {
                        self.telemetry.error("ws", "bad_request");
                        let reply = ServerMessage::error(ErrorCode::BadRequest, message, Some(&dashboard));
                        self.reply(reply).await;
                        return None;
                    }
                };
                if let Err(error) = authorize(&self.access, &dashboard, Action::Read) {
                    self.refuse(error, Some(&dashboard)).await;
                    return None;
                }
                // Replacing an existing subscription restarts it from `since`.
                self.feeds.remove(&dashboard);
                match Feed::open_throttled(self.broker.clone(), &dashboard, since.as_ref(), throttle).await {
                    Ok(feed) => {
                        let task = tokio::spawn(forward(
                            feed,
                            self.outbox.clone(),
                            self.bytes.clone(),
                            self.telemetry.clone(),
                        ));
                        self.feeds.insert(dashboard, AbortOnDropHandle::new(task));
                    }
                    Err(_) => {
                        self.telemetry.error("ws", "unknown_dashboard");
                        self.reply(ServerMessage::unknown_dashboard(&dashboard)).await
                    }
                }
            }
            ClientMessage::Unsubscribe { dashboard } => {
                self.feeds.remove(&dashboard);
            }
            ClientMessage::Ping { id } => self.reply(ServerMessage::Pong { id }).await,
            ClientMessage::Refresh { token } => return self.refresh(&token).await,
        }
        None
    }

    /// Tells the client who its credential names and until when (`session`).
    async fn announce(&self) {
        if let Some(principal) = self.access.principal() {
            let user = principal.name.clone();
            self.reply(ServerMessage::Session { user, expires_at: principal.expires_at }).await;
        }
    }

    /// Replaces the credential in flight: the same user's new token extends the connection
    /// and may narrow it (subscriptions it no longer covers end `forbidden`); another user's
    /// closes it with 4500; an invalid one changes nothing.
    async fn refresh(&mut self, token: &str) -> Option<Ending> {
        if !self.auth.is_secured() {
            self.refuse(ApiError::BadRequest("no sign-in is configured: nothing to refresh".into()), None).await;
            return None;
        }
        let checked = self.auth.check(Some(Presented::Bearer(token)));
        let principal = match checked.map(|checked| checked.access) {
            Ok(Access::Granted(principal)) => principal,
            Ok(_) => return None,
            Err(error) => {
                self.refuse(error, None).await;
                return None;
            }
        };
        if self.access.principal().map(|current| current.name.as_str()) != Some(principal.name.as_str()) {
            return Some(Ending::Close(CLOSE_INVALID_CREDENTIAL, "refresh for another user"));
        }
        self.access = Access::Granted(principal);
        self.lease.renew(&self.access, &self.auth);
        self.announce().await;
        let uncovered: Vec<String> =
            self.feeds.keys().filter(|id| authorize(&self.access, id, Action::Read).is_err()).cloned().collect();
        for dashboard in uncovered {
            self.feeds.remove(&dashboard);
            if let Err(error) = authorize(&self.access, &dashboard, Action::Read) {
                self.refuse(error, Some(&dashboard)).await;
            }
        }
        None
    }

    /// Answers a refused request with its error, counted.
    async fn refuse(&self, error: ApiError, dashboard: Option<&str>) {
        let code = error.code();
        self.telemetry.error("ws", code.as_str());
        self.reply(ServerMessage::error(code, error.to_string(), dashboard)).await;
    }

    async fn reply(&self, message: ServerMessage) {
        let _ = self.outbox.send((Message::Text(message.to_json().into()), None)).await;
    }
}

/// Moves one feed's frames into the connection's outbox. Waiting here when the outbox is full
/// (64 frames or 256 KiB) is the backpressure: the feed falls behind the live channel and
/// resyncs with a snapshot.
async fn forward(mut feed: Feed, outbox: mpsc::Sender<Outgoing>, bytes: Arc<Semaphore>, telemetry: Arc<Telemetry>) {
    let _subscribed = GaugeGuard::new(&telemetry.subscriptions);
    let mut started = false;
    while let Some(frame) = feed.next().await {
        // Every snapshot after the first replaces updates this reader could not take.
        if frame.is_snapshot && started {
            telemetry.resync_snapshots.inc();
        }
        started = true;
        let share = frame.json.len().clamp(1, OUTBOX_BYTES) as u32;
        let Ok(budget) = bytes.clone().acquire_many_owned(share).await else { break };
        if outbox.send((Message::Text(frame.json), Some(budget))).await.is_err() {
            break;
        }
    }
    tracing::debug!(dashboard = feed.dashboard(), "feed ended");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::broker::{HubLimits, MemoryBroker};
    use crate::server::clock::Clock;
    use futures::channel::mpsc as channel;
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    const HEARTBEAT: Duration = Duration::from_secs(15);
    const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

    fn limits() -> Limits {
        Limits { heartbeat: HEARTBEAT, write_timeout: WRITE_TIMEOUT, max_messages_per_sec: 20.0, message_burst: 50.0 }
    }

    /// A session whose replies queue up (room for 256) for the test to read afterwards.
    fn new_session(telemetry: Arc<Telemetry>) -> (Session, mpsc::Receiver<Outgoing>) {
        let (outbox, outgoing) = mpsc::channel(256);
        let broker = Arc::new(MemoryBroker::new(HubLimits::default()));
        let auth = Arc::new(
            Auth::new(&crate::server::settings::Settings::defaults().auth_options(), Clock::system()).unwrap(),
        );
        let access = Access::Open { writes: true };
        let session = Session {
            broker,
            telemetry,
            outbox,
            bytes: Arc::new(Semaphore::new(OUTBOX_BYTES)),
            feeds: HashMap::new(),
            lease: Lease::new(&access, &auth),
            access,
            auth,
        };
        (session, outgoing)
    }

    /// A socket that never takes a byte.
    struct Stuck;

    impl Sink<Message> for Stuck {
        type Error = ();
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Pending
        }
        fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), ()> {
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_dropped_after_two_heartbeats() {
        let (mut sink, mut written) = channel::unbounded::<Message>();
        let (_outbox, mut outgoing) = mpsc::channel::<Outgoing>(4);
        let (heard, telemetry, shutdown) = (Heard::new(), Telemetry::new(), CancellationToken::new());
        let started = Instant::now();
        let ending = write_loop(&mut sink, &mut outgoing, limits(), &heard, &shutdown, &telemetry).await;
        assert_eq!(ending, Ending::Close(close_code::POLICY, "no answer to pings"));
        assert_eq!(started.elapsed(), 3 * HEARTBEAT, "pings at 15 s and 30 s, silence past 30 s seen at 45 s");
        let mut pings = 0;
        while let Ok(message) = written.try_recv() {
            assert!(matches!(message, Message::Ping(_)), "{message:?}");
            pings += 1;
        }
        assert_eq!(pings, 2);
        assert_eq!(telemetry.dropped_clients.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_stays_until_shutdown_closes_with_1001() {
        let (mut sink, _written) = channel::unbounded::<Message>();
        let (_outbox, mut outgoing) = mpsc::channel::<Outgoing>(4);
        let (heard, telemetry, shutdown) = (Heard::new(), Telemetry::new(), CancellationToken::new());
        let started = Instant::now();
        let answering = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                heard.now();
            }
            shutdown.cancel();
            std::future::pending::<()>().await
        };
        let ending = tokio::select! {
            ending = write_loop(&mut sink, &mut outgoing, limits(), &heard, &shutdown, &telemetry) => ending,
            _ = answering => unreachable!(),
        };
        assert_eq!(ending, Ending::Close(close_code::AWAY, "server shutting down"));
        assert_eq!(started.elapsed(), Duration::from_secs(200), "alive for as long as it answered");
        assert_eq!(telemetry.dropped_clients.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_takes_no_data_is_dropped_after_the_write_timeout() {
        let (outbox, mut outgoing) = mpsc::channel::<Outgoing>(4);
        outbox.send((Message::Text("{}".into()), None)).await.unwrap();
        let (heard, telemetry, shutdown) = (Heard::new(), Telemetry::new(), CancellationToken::new());
        let started = Instant::now();
        let ending = write_loop(&mut Stuck, &mut outgoing, limits(), &heard, &shutdown, &telemetry).await;
        assert_eq!(ending, Ending::Close(close_code::POLICY, "client too slow"));
        assert_eq!(started.elapsed(), WRITE_TIMEOUT);
        assert_eq!(telemetry.dropped_clients.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_and_a_flood_closes_with_1008() {
        let telemetry = Arc::new(Telemetry::new());
        let ping = || Ok(Message::Text(r#"{"type":"ping","id":1}"#.into()));
        // The burst allowance (50), then one a tenth of a second apart (the sustained 20/s).
        let (mut session, mut replies) = new_session(telemetry.clone());
        let (client, stream) = channel::unbounded();
        for _ in 0..50 {
            client.unbounded_send(ping()).unwrap();
        }
        let heard = Heard::new();
        let reading = read_loop(stream, &mut session, limits(), &heard);
        let paced = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.unbounded_send(ping()).unwrap();
            }
            client.close_channel();
        };
        let (ending, ()) = tokio::join!(reading, paced);
        assert_eq!(ending, Ending::Gone, "the client left; nothing was refused");
        let mut pongs = 0;
        while let Ok((Message::Text(text), _)) = replies.try_recv() {
            assert!(text.contains("pong"), "{text}");
            pongs += 1;
        }
        assert_eq!(pongs, 70);

        let (mut session, _replies) = new_session(telemetry);
        let (client, stream) = channel::unbounded();
        for _ in 0..51 {
            client.unbounded_send(ping()).unwrap();
        }
        let ending = read_loop(stream, &mut session, limits(), &Heard::new()).await;
        assert_eq!(ending, Ending::Close(close_code::POLICY, "message rate limit exceeded"));
    }
}
