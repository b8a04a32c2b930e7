//! The WebSocket transport, `GET /ws` (PROTOCOL.md). Meaning is in `Session::handle`; the
//! bytes on the wire in `wire` (the handshake, frames, tungstenite reading beside our
//! writing) and `writer` (a connection's subscriptions and batches).
//!
//! Each connection is one task running `connection`, on the fan-out runtime (`Fanout`, apart
//! from the requests' runtime so that ingest never queues behind it): it reads client messages (decoded by
//! tungstenite), polls its subscriptions' feeds directly, and writes what is ready in one
//! vectored write with one write deadline; it pings on an interval and closes with 1001 when
//! the server shuts down. Once an unthrottled subscription's start is queued, its updates are
//! written by its dashboard's writer groups (`direct`) without waking the connection, which
//! takes over what they hand it (socket full, or it was writing) or give back (out of order). Abuse ends a connection with a close code: 1009 for a message over
//! the size limit, 1008 for a message flood, silence past two heartbeats, or a socket that
//! accepts no data for the write timeout. With auth, the first message is `session`; a
//! subscription the credential does not cover is answered `forbidden`; `refresh` replaces the
//! credential (4500 if it names someone else); the connection closes with 4001 when its
//! credential expires or its session signs out.

mod direct;
mod wire;
mod writer;

pub use direct::Writers;

use super::{feed::Feed, rate_limit::RateLimiter, StreamState};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use crate::server::{
    auth::{authorize, Access, Action, Auth, Lease, Presented},
    broker::{frame::WsHeader, Broker},
    http::{ApiError, ClientAddr},
    telemetry::{GaugeGuard, Telemetry},
};
use axum::{body::Bytes, extract::State, response::Response, Extension};
use direct::Outbox;
use futures::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use std::{sync::Arc, time::Duration};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tokio::{io::AsyncWrite, time::Instant};
use tokio_util::sync::CancellationToken;
use tungstenite::{protocol::WebSocketConfig, Message};
use wire::{client_messages, close_frame, small_frame, Control, WsUpgrade};
use writer::{Batch, DirectPath, Feeds};

/// Close codes (RFC 6455 7.4.1) this server sends.
mod close_code {
    /// The server is shutting down.
    pub const AWAY: u16 = 1001;
    /// A limit was broken (flood, silence, a socket that takes no data).
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const SIZE: u16 = 1009;
}

/// Close code: the credential expired or its session signed out (sign in again, then reconnect).
pub const CLOSE_CREDENTIAL_ENDED: u16 = 4001;

/// Close code: a `refresh` carried another user's credential (do not retry with it).
pub const CLOSE_INVALID_CREDENTIAL: u16 = 4500;

/// How long the last frames (a close) may take before the socket is dropped anyway.
const CLOSING_TIME: Duration = Duration::from_secs(1);

pub async fn upgrade(
    upgrade: WsUpgrade,
    client: ClientAddr,
    State(state): State<StreamState>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    // Refused before the upgrade, so a full server costs a rejected request, not a socket.
    let admission = state.admit(client)?;
    let (response, upgraded) = upgrade.accept();
    let (tasks, fanout) = (state.tasks.clone(), state.fanout.clone());
    fanout.spawn(tasks.track_future(async move {
        match upgraded.await {
            Ok(upgraded) => serve(upgraded, state, access).await,
            Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
        }
        drop(admission);
    }));
    Ok(response)
}

/// Why a connection ended, and what to tell the client.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    Close(u16, &'static str),
}

/// The limits a connection enforces.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Pings go out this often; a client silent for two is dropped.
    heartbeat: Duration,
    /// A socket that takes no data for this long is dropped.
    write_timeout: Duration,
    max_messages_per_sec: f64,
    message_burst: f64,
}

async fn serve(upgraded: hyper::upgrade::Upgraded, state: StreamState, access: Access) {
    let telemetry = state.telemetry.clone();
    let _open = GaugeGuard::new(&telemetry.connections);
    let configured = state.limits;
    let limits = Limits {
        heartbeat: configured.heartbeat,
        write_timeout: configured.write_timeout,
        max_messages_per_sec: configured.max_messages_per_sec,
        message_burst: configured.message_burst,
    };
    let control = Control::default();
    // A small read buffer: client messages are tiny, and tungstenite zeroes the buffer's free
    // part at every read attempt, which is every time the connection wakes (4 KiB of it cost
    // 3.6% of the server's CPU at 100,000 deliveries a second). Nothing buffered for writing
    // (tungstenite writes only its control frames, straight into `control`).
    let max = configured.max_frame_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let session = Session {
        broker: state.broker.clone(),
        telemetry: telemetry.clone(),
        lease: Lease::new(&access, &state.auth),
        access,
        auth: state.auth.clone(),
    };
    let shutdown = &state.shutdown;
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        // The bare socket (what `http::listen` accepts): groups may write to it directly.
        Ok(hyper::upgrade::Parts { io, read_buf, .. }) => {
            let (read, write) = io.into_inner().into_split();
            // What hyper read past the handshake comes first, copied: `read_buf` holds hyper's
            // whole read buffer, which would otherwise stay for the connection's life.
            let early = std::io::Cursor::new(Bytes::copy_from_slice(&read_buf));
            drop(read_buf);
            let read = early.chain(read);
            let reader = client_messages(read, control.clone(), Some(config)).await;
            let outbox = Outbox::new(write);
            let direct = DirectPath { outbox: outbox.clone(), writers: state.fanout.writers() };
            connection(reader, outbox.writer(), Some(direct), control, session, limits, shutdown).await;
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            let reader = client_messages(read, control.clone(), Some(config)).await;
            connection(reader, write, None, control, session, limits, shutdown).await;
        }
    }
}

/// Serves one connection until it ends: reads `reader` into `session`, writes the feeds'
/// frames, replies, pings and `control`'s frames to `socket` in batches, and says goodbye
/// with a close frame when the ending calls for one.
async fn connection<R, W>(
    mut reader: R,
    mut socket: W,
    direct: Option<DirectPath>,
    control: Control,
    mut session: Session,
    limits: Limits,
    shutdown: &CancellationToken,
) where
    R: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    W: AsyncWrite + Unpin,
{
    let telemetry = session.telemetry.clone();
    let outbox = direct.as_ref().map(|direct| direct.outbox.clone());
    let mut feeds = Feeds::new(telemetry.clone(), direct);
    // Whether groups hand their frames to this task rather than write them (`direct`): true
    // while it has frames queued.
    let mut claimed = false;
    // What is being written, and what came meanwhile (replies, control frames).
    let (mut batch, mut next) = (Batch::default(), Batch::default());
    let mut limiter = RateLimiter::new(limits.max_messages_per_sec, limits.message_burst, Instant::now());
    // When the client was last heard from.
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(limits.heartbeat);
    ping.reset();
    // One deadline for the connection, moved at each write, rather than a timer per frame;
    // one shutdown waiter, rather than one registered and dropped per frame.
    let deadline = tokio::time::sleep(limits.write_timeout);
    tokio::pin!(deadline);
    let shutdown = shutdown.cancelled();
    tokio::pin!(shutdown);
    // Made again only after a client message (a `refresh` renews the lease).
    let mut lease_ended = Box::pin(session.lease.ended());
    if session.auth.is_secured() {
        session.announce(&mut batch);
    }
    // Whether the deadline runs for the batch being written: set when one starts, moved at
    // each write that makes progress, never by other events (a client sending messages to a
    // socket it does not read must not keep it alive).
    let mut armed = false;
    let ending = loop {
        if let Some(outbox) = &outbox {
            if batch.is_empty() {
                batch.append(&mut next);
            }
            let queued = !batch.is_empty() || !next.is_empty();
            if queued != claimed {
                claimed = sync(outbox, &mut batch, &mut next, &mut session, &mut feeds).await;
            }
            feeds.join_waiting();
        }
        let writing = !batch.is_empty();
        if writing && !armed {
            deadline.as_mut().reset(Instant::now() + limits.write_timeout);
            armed = true;
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => break Ending::Close(close_code::AWAY, "server shutting down"),
            end = &mut lease_ended => break Ending::Close(CLOSE_CREDENTIAL_ENDED, end.reason()),
            read = reader.next() => {
                heard = Instant::now();
                let out = if writing { &mut next } else { &mut batch };
                if let Some(ending) = session.read(read, &mut limiter, &mut feeds, out).await {
                    break ending;
                }
                lease_ended.set(session.lease.ended());
            }
            () = ready(&outbox), if !writing => {
                // A group handed frames or gave a subscription back. Not taken while a batch
                // is being written (the loop's top takes them after it): what a slow socket
                // is behind by stays bounded, `HANDED_FRAMES`, then its feed's resync.
                if let Some(outbox) = &outbox {
                    claimed = sync(outbox, &mut batch, &mut next, &mut session, &mut feeds).await;
                }
            }
            () = control.ready() => {
                // Pongs and close replies tungstenite wrote while reading go out next.
                if let Some(frames) = control.take() {
                    if writing { &mut next } else { &mut batch }.push_control(frames);
                }
            }
            written = batch.write_once(&mut socket, &telemetry), if writing => match written {
                Ok(true) => {
                    batch.append(&mut next);
                    armed = false;
                }
                Ok(false) => deadline.as_mut().reset(Instant::now() + limits.write_timeout),
                Err(_) => break Ending::Gone,
            },
            _ = &mut deadline, if writing => {
                // Hopelessly behind: its socket took no data for the whole timeout.
                telemetry.dropped_clients.inc();
                break Ending::Close(close_code::POLICY, "client too slow");
            }
            frame = feeds.next(), if !writing => {
                batch.push_frame(frame);
                while !batch.is_full() {
                    let Some(frame) = feeds.ready() else { break };
                    batch.push_frame(frame);
                }
            }
            _ = ping.tick(), if !writing => {
                if heard.elapsed() > 2 * limits.heartbeat {
                    telemetry.dropped_clients.inc();
                    break Ending::Close(close_code::POLICY, "no answer to pings");
                }
                batch.push_control(small_frame(WsHeader::PING, &[]));
            }
        }
    };
    // The last words, in the second it may take: what was ready (a frame may be half
    // written), tungstenite's control frames (a client's close answered), then our close.
    if let Some(outbox) = &outbox {
        outbox.close(&mut batch, &mut next);
    }
    batch.append(&mut next);
    if let Some(frames) = control.take() {
        batch.push_control(frames);
    }
    if let Ending::Close(code, reason) = ending {
        batch.push_control(close_frame(code, reason));
    }
    let _ = tokio::time::timeout(CLOSING_TIME, batch.write_all(&mut socket, &telemetry)).await;
}

/// Takes what the groups handed into the connection's queue and the subscriptions they gave
/// back (their feeds reopened); whether the connection now writes (holds the socket).
async fn sync(outbox: &Outbox, batch: &mut Batch, next: &mut Batch, session: &mut Session, feeds: &mut Feeds) -> bool {
    loop {
        let given_back = outbox.sync(batch, next);
        if given_back.is_empty() {
            return !batch.is_empty() || !next.is_empty();
        }
        // Reopening may queue a reply: synced again, so the outbox knows.
        session.take_back(given_back, feeds, next).await;
    }
}

/// Resolves when `outbox` has news for the connection; never without one.
async fn ready(outbox: &Option<Arc<Outbox>>) {
    match outbox {
        Some(outbox) => outbox.ready().await,
        None => std::future::pending().await,
    }
}

/// What one connection's credential allows, and what answers its messages.
struct Session {
    broker: Arc<dyn Broker>,
    telemetry: Arc<Telemetry>,
    /// What the connection's credential allows, and when it ends.
    access: Access,
    lease: Lease,
    auth: Arc<Auth>,
}

/// Whether a read failed because the client sent a frame over the size limit.
fn is_too_large(error: &tungstenite::Error) -> bool {
    matches!(error, tungstenite::Error::Capacity(_))
}

impl Session {
    /// Takes what the reader read: a message is handled (its replies into `out`), a message
    /// over the size limit ends the connection with 1009, a flood with 1008; the client's
    /// close or a failed socket end it.
    async fn read(
        &mut self,
        read: Option<Result<Message, tungstenite::Error>>,
        limiter: &mut RateLimiter,
        feeds: &mut Feeds,
        out: &mut Batch,
    ) -> Option<Ending> {
        let message = match read? {
            Ok(message) => message,
            Err(error) if is_too_large(&error) => return Some(Ending::Close(close_code::SIZE, "message too large")),
            Err(_) => return Some(Ending::Gone),
        };
        if !limiter.allow(Instant::now()) {
            return Some(Ending::Close(close_code::POLICY, "message rate limit exceeded"));
        }
        match message {
            Message::Text(text) => self.handle(&text, feeds, out).await,
            Message::Binary(_) => {
                let message = "binary frames are not part of the protocol; send JSON text";
                self.reply(out, ServerMessage::error(ErrorCode::BadRequest, message, None));
                None
            }
            Message::Close(_) => Some(Ending::Gone),
            // Pongs to pings are tungstenite's (`wire::Control`).
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
        }
    }

    /// Handles one client message; the connection's end, when the message ends it.
    async fn handle(&mut self, text: &str, feeds: &mut Feeds, out: &mut Batch) -> Option<Ending> {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                self.telemetry.error("ws", "bad_request");
                self.reply(out, ServerMessage::error(ErrorCode::BadRequest, error.to_string(), None));
                return None;
            }
        };
        match message {
            ClientMessage::Subscribe { dashboard, since, max_hz } => {
                let throttle = match max_hz.map(super::feed::throttle_for).transpose() {
                    Ok(throttle) => throttle,
                    Err(message) => {
                        self.telemetry.error("ws", "bad_request");
                        self.reply(out, ServerMessage::error(ErrorCode::BadRequest, message, Some(&dashboard)));
                        return None;
                    }
                };
                if let Err(error) = authorize(&self.access, &dashboard, Action::Read) {
                    self.refuse(out, error, Some(&dashboard));
                    return None;
                }
                // Replacing an existing subscription restarts it from `since`.
                feeds.remove(&dashboard);
                match Feed::open_throttled(self.broker.clone(), &dashboard, since.as_ref(), throttle).await {
                    Ok(feed) => feeds.insert(feed, out),
                    Err(_) => {
                        self.telemetry.error("ws", "unknown_dashboard");
                        self.reply(out, ServerMessage::unknown_dashboard(&dashboard))
                    }
                }
            }
            ClientMessage::Unsubscribe { dashboard } => feeds.remove(&dashboard),
            ClientMessage::Ping { id } => self.reply(out, ServerMessage::Pong { id }),
            ClientMessage::Refresh { token } => return self.refresh(&token, feeds, out),
        }
        None
    }

    /// Reopens the feeds of subscriptions their groups gave back, at the seq each client
    /// holds (a replay, or a snapshot when that is gone).
    async fn take_back(&self, given_back: Vec<(u64, u64)>, feeds: &mut Feeds, out: &mut Batch) {
        for (id, held) in given_back {
            let Some((dashboard, position)) = feeds.given_back(id, held) else { continue };
            // It fell behind: a longer backlog than a group hands over comes as a snapshot.
            match Feed::open_behind(self.broker.clone(), &dashboard, &position, direct::HANDED_FRAMES).await {
                Ok(feed) => feeds.insert_feed(feed),
                Err(_) => self.reply(out, ServerMessage::unknown_dashboard(&dashboard)),
            }
        }
    }

    /// Tells the client who its credential names and until when (`session`).
    fn announce(&self, out: &mut Batch) {
        if let Some(principal) = self.access.principal() {
            let user = principal.name.clone();
            self.reply(out, ServerMessage::Session { user, expires_at: principal.expires_at });
        }
    }

    /// Replaces the credential in flight: the same user's new token extends the connection
    /// and may narrow it (subscriptions it no longer covers end `forbidden`); another user's
    /// closes it with 4500; an invalid one changes nothing.
    fn refresh(&mut self, token: &str, feeds: &mut Feeds, out: &mut Batch) -> Option<Ending> {
        if !self.auth.is_secured() {
            self.refuse(out, ApiError::BadRequest("no sign-in is configured: nothing to refresh".into()), None);
            return None;
        }
        let checked = self.auth.check(Some(Presented::Bearer(token)));
        let principal = match checked.map(|checked| checked.access) {
            Ok(Access::Granted(principal)) => principal,
            Ok(_) => return None,
            Err(error) => {
                self.refuse(out, error, None);
                return None;
            }
        };
        if self.access.principal().map(|current| current.name.as_str()) != Some(principal.name.as_str()) {
            return Some(Ending::Close(CLOSE_INVALID_CREDENTIAL, "refresh for another user"));
        }
        self.access = Access::Granted(principal);
        self.lease.renew(&self.access, &self.auth);
        self.announce(out);
        let uncovered: Vec<String> = feeds
            .dashboards()
            .filter(|id| authorize(&self.access, id, Action::Read).is_err())
            .map(str::to_owned)
            .collect();
        for dashboard in uncovered {
            feeds.remove(&dashboard);
            if let Err(error) = authorize(&self.access, &dashboard, Action::Read) {
                self.refuse(out, error, Some(&dashboard));
            }
        }
        None
    }

    /// Answers a refused request with its error, counted.
    fn refuse(&self, out: &mut Batch, error: ApiError, dashboard: Option<&str>) {
        let code = error.code();
        self.telemetry.error("ws", code.as_str());
        self.reply(out, ServerMessage::error(code, error.to_string(), dashboard));
    }

    fn reply(&self, out: &mut Batch, message: ServerMessage) {
        out.push_message(small_frame(WsHeader::TEXT, message.to_json().as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Metrics;
    use crate::server::broker::{HubLimits, MemoryBroker, Publication};
    use crate::server::clock::Clock;
    use futures::SinkExt;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tungstenite::protocol::{frame::coding::CloseCode, Role};

    const HEARTBEAT: Duration = Duration::from_secs(15);
    const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

    fn limits() -> Limits {
        Limits { heartbeat: HEARTBEAT, write_timeout: WRITE_TIMEOUT, max_messages_per_sec: 20.0, message_burst: 50.0 }
    }

    fn session(broker: Arc<dyn Broker>, telemetry: Arc<Telemetry>) -> Session {
        let auth = Arc::new(
            Auth::new(&crate::server::settings::Settings::defaults().auth_options(), Clock::system()).unwrap(),
        );
        let access = Access::Open { writes: true };
        Session { broker, telemetry, lease: Lease::new(&access, &auth), access, auth }
    }

    /// A connection over an in-memory socket of `buffer` bytes each way, served as `serve`
    /// does (tungstenite reading beside the writer), and a tungstenite client on the other end.
    async fn connect(
        broker: Arc<dyn Broker>,
        telemetry: Arc<Telemetry>,
        buffer: usize,
        shutdown: CancellationToken,
    ) -> (tokio::task::JoinHandle<()>, WebSocketStream<DuplexStream>) {
        let (served, client_end) = connect_raw(broker, telemetry, buffer, shutdown);
        (served, WebSocketStream::from_raw_socket(client_end, Role::Client, None).await)
    }

    /// `connect`, the client's end left raw: what the server wrote, byte for byte.
    fn connect_raw(
        broker: Arc<dyn Broker>,
        telemetry: Arc<Telemetry>,
        buffer: usize,
        shutdown: CancellationToken,
    ) -> (tokio::task::JoinHandle<()>, DuplexStream) {
        let (server_end, client_end) = tokio::io::duplex(buffer);
        let served = tokio::spawn(async move {
            let (read, write) = tokio::io::split(server_end);
            let control = Control::default();
            let reader = client_messages(read, control.clone(), None).await;
            connection(reader, write, None, control, session(broker, telemetry), limits(), &shutdown).await;
        });
        (served, client_end)
    }

    /// The frames in `bytes` (unmasked, as a server writes them): opcode and payload.
    fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        use tungstenite::protocol::frame::FrameHeader;
        let mut cursor = std::io::Cursor::new(bytes);
        let mut frames = Vec::new();
        while let Some((header, length)) = FrameHeader::parse(&mut cursor).unwrap() {
            assert!(header.is_final && header.mask.is_none(), "{header:?}");
            let start = cursor.position() as usize;
            let payload = bytes[start..start + length as usize].to_vec();
            cursor.set_position((start + length as usize) as u64);
            frames.push((u8::from(header.opcode), payload));
        }
        assert_eq!(cursor.position() as usize, bytes.len(), "nothing but whole frames");
        frames
    }

    /// A connection over a real loopback socket, as `serve` runs one accepted by
    /// `http::listen` (the direct path on), and a tungstenite client on the other end.
    async fn connect_direct(
        broker: Arc<dyn Broker>,
        telemetry: Arc<Telemetry>,
        writers: Arc<Writers>,
    ) -> (tokio::task::JoinHandle<()>, WebSocketStream<TcpStream>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A small receive buffer: a client that stops reading stops the server's writes soon.
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(16 * 1024).unwrap();
        let client = client.connect(listener.local_addr().unwrap()).await.unwrap();
        let (server_end, _) = listener.accept().await.unwrap();
        let served = tokio::spawn(async move {
            let (read, write) = server_end.into_split();
            let control = Control::default();
            let reader = client_messages(read, control.clone(), None).await;
            let outbox = Outbox::new(write);
            let direct = DirectPath { outbox: outbox.clone(), writers };
            let (session, limits) = (session(broker, telemetry), limits());
            connection(reader, outbox.writer(), Some(direct), control, session, limits, &CancellationToken::new())
                .await;
        });
        (served, WebSocketStream::from_raw_socket(client, Role::Client, None).await)
    }

    /// A client subscribed to dashboard `a` (one update published) over `connect_direct`,
    /// its snapshot read: the subscription is then its group's (`groups` per dashboard).
    async fn subscribed_direct(
        groups: usize,
    ) -> (tokio::task::JoinHandle<()>, WebSocketStream<TcpStream>, Arc<dyn Broker>, Arc<Telemetry>, Arc<Writers>) {
        let (broker, telemetry) = (memory_broker(), Arc::new(Telemetry::new()));
        let writers = Arc::new(Writers::new(groups, tokio::runtime::Handle::current()));
        publish_sized(&*broker, 1, 1).await;
        let (served, mut client) = connect_direct(broker.clone(), telemetry.clone(), writers.clone()).await;
        client.send(Message::text(r#"{"type":"subscribe","dashboard":"a"}"#)).await.unwrap();
        assert_eq!(read_seqs(&mut client, 1).await, vec![-1], "the start, written by the connection");
        assert_eq!(writers.members("a"), 1, "then a group's");
        (served, client, broker, telemetry, writers)
    }

    /// `count` updates of dashboard `a`, each with a value `size` bytes long.
    async fn publish_sized(broker: &dyn Broker, count: usize, size: usize) {
        for i in 0..count {
            let metrics: Metrics = [(format!("m{}", "x".repeat(size)), i as f64)].into();
            broker.publish(vec![Publication::new("a", i as i64, metrics)]).await.unwrap();
        }
    }

    /// The seqs of the next `count` frames the client reads (a snapshot's marked negative).
    async fn read_seqs<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        client: &mut WebSocketStream<S>,
        count: usize,
    ) -> Vec<i64> {
        let mut seqs = Vec::new();
        while seqs.len() < count {
            let Some(Ok(Message::Text(text))) = client.next().await else { panic!("ended after {seqs:?}") };
            match serde_json::from_str(&text).unwrap() {
                ServerMessage::Update(update) => seqs.push(update.seq as i64),
                ServerMessage::Snapshot(snapshot) => seqs.push(-(snapshot.seq as i64)),
                other => panic!("{other:?}"),
            }
        }
        seqs
    }

    #[tokio::test]
    async fn a_caught_up_subscription_is_written_by_its_group_in_order_and_leaves_it_when_the_client_goes() {
        let (served, mut client, broker, telemetry, writers) = subscribed_direct(2).await;
        publish_sized(&*broker, 200, 10).await;
        assert_eq!(read_seqs(&mut client, 200).await, (2..=201).collect::<Vec<_>>());
        assert_eq!(telemetry.messages_sent.get(), 201);
        client.close(None).await.unwrap();
        served.await.unwrap();
        assert_eq!(writers.members("a"), 0, "a connection that ended leaves its group at once");
    }

    #[tokio::test]
    async fn a_socket_that_falls_behind_is_handed_over_then_given_back_to_its_feed_its_backlog_coalesced() {
        let (_served, mut client, broker, _, writers) = subscribed_direct(1).await;
        // 400 updates of 30 KB the client does not read: 12 MB, past what the socket's
        // buffers hold (the server's send buffer grows to 4 MB at most), so the group hands
        // frames over, then more than it may (64).
        publish_sized(&*broker, 400, 30_000).await;
        tokio::time::timeout(Duration::from_secs(10), async {
            while writers.members("a") > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("given back to its feed");
        publish_sized(&*broker, 5, 10).await;
        // In order, without a gap: what the group wrote and handed over, then (the backlog
        // past the bound, coalesced: PROTOCOL.md) one snapshot, then live, up to the last.
        let (mut seqs, mut held) = (Vec::new(), 1);
        while held < 406 {
            let seq = read_seqs(&mut client, 1).await[0];
            if seq > 0 {
                assert_eq!(seq, held + 1, "no gap without a snapshot: {seqs:?}");
            }
            held = seq.abs();
            seqs.push(seq);
        }
        let snapshots: Vec<i64> = seqs.iter().copied().filter(|seq| *seq < 0).collect();
        assert_eq!(snapshots.len(), 1, "the backlog as one snapshot: {seqs:?}");
        assert!(seqs.len() < 300, "not replayed one by one: {} frames", seqs.len());
        assert_eq!(writers.members("a"), 0, "a subscription given back stays with its feed");
    }

    #[tokio::test]
    async fn unsubscribe_stops_the_groups_writes_and_a_throttled_subscription_stays_a_feed() {
        let (_served, mut client, broker, _, writers) = subscribed_direct(2).await;
        client.send(Message::text(r#"{"type":"unsubscribe","dashboard":"a"}"#)).await.unwrap();
        client.send(Message::text(r#"{"type":"ping","id":1}"#)).await.unwrap();
        let Some(Ok(Message::Text(pong))) = client.next().await else { panic!("no pong") };
        assert!(pong.contains("pong"), "{pong}");
        assert_eq!(writers.members("a"), 0);
        publish_sized(&*broker, 3, 1).await;
        client.send(Message::text(r#"{"type":"subscribe","dashboard":"a","maxHz":1000}"#)).await.unwrap();
        assert_eq!(read_seqs(&mut client, 1).await, vec![-4], "nothing of the unsubscribed updates, then the snapshot");
        assert_eq!(writers.members("a"), 0, "maxHz merges updates: its feed writes them");
        publish_sized(&*broker, 1, 1).await;
        assert_eq!(read_seqs(&mut client, 1).await, vec![5]);
    }

    fn memory_broker() -> Arc<dyn Broker> {
        Arc::new(MemoryBroker::new(HubLimits::default()))
    }

    /// Everything the client reads until the connection closes.
    async fn read_all(client: &mut WebSocketStream<DuplexStream>) -> Vec<Message> {
        let mut read = Vec::new();
        while let Some(Ok(message)) = client.next().await {
            read.push(message);
        }
        read
    }

    fn close_code_of(messages: &[Message]) -> Option<(u16, String)> {
        messages.iter().find_map(|message| match message {
            Message::Close(Some(close)) => Some((u16::from(close.code), close.reason.to_string())),
            _ => None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_dropped_after_two_heartbeats() {
        use tokio::io::AsyncReadExt;
        let telemetry = Arc::new(Telemetry::new());
        let (served, mut client) = connect_raw(memory_broker(), telemetry.clone(), 64 * 1024, CancellationToken::new());
        let started = Instant::now();
        // The client reads nothing (so answers no ping) until the server is done.
        served.await.unwrap();
        assert_eq!(started.elapsed(), 3 * HEARTBEAT, "pings at 15 s and 30 s, silence past 30 s seen at 45 s");
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        let mut close = 1008u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"no answer to pings");
        assert_eq!(frames(&written), vec![(0x9, vec![]), (0x9, vec![]), (0x8, close)]);
        assert_eq!(telemetry.dropped_clients.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_stays_until_shutdown_closes_with_1001() {
        let telemetry = Arc::new(Telemetry::new());
        let shutdown = CancellationToken::new();
        let (served, mut client) = connect(memory_broker(), telemetry.clone(), 64 * 1024, shutdown.clone()).await;
        let started = Instant::now();
        // Reading answers the pings (tungstenite's pongs).
        let reading = tokio::spawn(async move { read_all(&mut client).await });
        tokio::time::sleep(Duration::from_secs(200)).await;
        shutdown.cancel();
        served.await.unwrap();
        let read = reading.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(200), "alive for as long as it answered");
        assert_eq!(read.iter().filter(|message| matches!(message, Message::Ping(_))).count(), 13);
        assert_eq!(close_code_of(&read), Some((1001, "server shutting down".into())));
        assert_eq!(telemetry.dropped_clients.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_takes_no_data_is_dropped_after_the_write_timeout() {
        let telemetry = Arc::new(Telemetry::new());
        // 256 bytes of room towards the client, which asks for pongs and never reads them.
        let (served, mut client) = connect(memory_broker(), telemetry.clone(), 256, CancellationToken::new()).await;
        for id in 0..20 {
            client.send(Message::text(format!(r#"{{"type":"ping","id":{id}}}"#))).await.unwrap();
        }
        let started = Instant::now();
        served.await.unwrap();
        assert_eq!(started.elapsed(), WRITE_TIMEOUT + CLOSING_TIME, "dropped, after a second's try at a close");
        assert_eq!(telemetry.dropped_clients.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_sends_but_never_reads_is_dropped_after_the_write_timeout() {
        let telemetry = Arc::new(Telemetry::new());
        let (served, mut client) = connect(memory_broker(), telemetry.clone(), 256, CancellationToken::new()).await;
        let started = Instant::now();
        // Within the message rate, on and on: its messages must not keep the stalled write alive.
        let sending = tokio::spawn(async move {
            for id in 0.. {
                if client.send(Message::text(format!(r#"{{"type":"ping","id":{id}}}"#))).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        served.await.unwrap();
        // The socket fills within its first second; then the timeout, then a second's try at a close.
        let took = started.elapsed();
        assert!(took >= WRITE_TIMEOUT + CLOSING_TIME && took < WRITE_TIMEOUT + CLOSING_TIME * 3, "{took:?}");
        assert_eq!(telemetry.dropped_clients.get(), 1);
        sending.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_and_a_flood_closes_with_1008() {
        let telemetry = Arc::new(Telemetry::new());
        let ping = || Message::text(r#"{"type":"ping","id":1}"#);
        // The burst allowance (50), then one a tenth of a second apart (the sustained 20/s).
        let (served, client) = connect(memory_broker(), telemetry.clone(), 64 * 1024, CancellationToken::new()).await;
        let (mut sending, mut receiving) = client.split();
        let reading = tokio::spawn(async move {
            let mut pongs = 0;
            while let Some(Ok(message)) = receiving.next().await {
                if let Message::Text(text) = message {
                    assert!(text.contains("pong"), "{text}");
                    pongs += 1;
                }
            }
            pongs
        });
        for _ in 0..50 {
            sending.send(ping()).await.unwrap();
        }
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sending.send(ping()).await.unwrap();
        }
        sending.send(Message::Close(None)).await.unwrap();
        served.await.unwrap();
        assert_eq!(reading.await.unwrap(), 70, "nothing was refused");

        let (served, mut client) = connect(memory_broker(), telemetry, 64 * 1024, CancellationToken::new()).await;
        for _ in 0..51 {
            client.send(ping()).await.unwrap();
        }
        served.await.unwrap();
        let read = read_all(&mut client).await;
        assert_eq!(close_code_of(&read), Some((1008, "message rate limit exceeded".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn a_clients_ping_is_answered_at_once() {
        let (_served, mut client) =
            connect(memory_broker(), Arc::new(Telemetry::new()), 64 * 1024, CancellationToken::new()).await;
        let started = Instant::now();
        client.send(Message::Ping("hi".into())).await.unwrap();
        let answer = client.next().await.unwrap().unwrap();
        assert_eq!(answer, Message::Pong("hi".into()));
        assert!(started.elapsed() < Duration::from_secs(1), "not at the next heartbeat: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn updates_reach_the_client_whole_in_order_and_a_close_is_answered() {
        let telemetry = Arc::new(Telemetry::new());
        let broker = memory_broker();
        let (served, mut client) =
            connect(broker.clone(), telemetry.clone(), 64 * 1024, CancellationToken::new()).await;
        // A long value makes frames of 16-bit and 64-bit lengths, written in one batch.
        let publish = |i: usize, size: usize| {
            let metrics: Metrics = [(format!("m{}", "x".repeat(size)), i as f64)].into();
            vec![Publication::new("a", i as i64, metrics)]
        };
        broker.publish(publish(0, 1)).await.unwrap();
        client.send(Message::text(r#"{"type":"subscribe","dashboard":"a"}"#)).await.unwrap();
        let Some(Ok(Message::Text(first))) = client.next().await else { panic!("no snapshot") };
        assert!(first.starts_with(r#"{"type":"snapshot""#), "{first}");
        for (i, size) in [(1, 10), (2, 200), (3, 70_000), (4, 5)] {
            broker.publish(publish(i, size)).await.unwrap();
        }
        for seq in 2..=5 {
            let Some(Ok(Message::Text(text))) = client.next().await else { panic!("update {seq} missing") };
            let ServerMessage::Update(update) = serde_json::from_str(&text).unwrap() else { panic!("{text}") };
            assert_eq!(update.seq, seq);
        }
        client
            .send(Message::Close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await
            .unwrap();
        served.await.unwrap();
        let read = read_all(&mut client).await;
        assert!(read.is_empty() || close_code_of(&read) == Some((1000, String::new())), "{read:?}");
        assert_eq!(telemetry.messages_sent.get(), 5);
    }
}
