//! The WebSocket's bytes on the wire. The handshake is answered here rather than by axum's
//! `WebSocketUpgrade`, so that a connection owns its raw socket: server frames are unmasked,
//! so an update's frame (its `WsHeader` and JSON, made once in `broker::Frame`) is the same
//! bytes for every subscriber and is written as shared slices, never copied per socket.
//!
//! Reading stays with tungstenite (unmasking, fragments, UTF-8, size limits, the close
//! handshake): it reads the socket's read half through `ReadSide`, and what tungstenite writes
//! itself (pongs, the answer to a client's close) lands in `Control`, whole frames at a time.
//! tungstenite never writes to the socket: the connection's writer sends `Control`'s bytes
//! ahead of its next batch, so the two streams of frames never interleave inside a frame (the
//! groups of `direct` write only while the connection's writer is not writing, under its
//! outbox's lock).

use crate::server::broker::frame::WsHeader;
use crate::server::http::ApiError;
use axum::{
    body::{Body, Bytes},
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    response::Response,
};
use futures::{task::AtomicWaker, Stream, StreamExt};
use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Wake, Waker},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

/// Bytes of tungstenite's own frames (pongs, a close reply) waiting for the writer at most; a
/// client that makes more (pings faster than its socket drains) is dropped.
const CONTROL_BYTES: usize = 16 * 1024;

/// A valid WebSocket handshake (RFC 6455 4.2.1), answered with `accept`.
pub struct WsUpgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let refuse = |why: &str| ApiError::BadRequest(format!("not a WebSocket handshake: {why}"));
        if parts.method != Method::GET {
            return Err(refuse("the method must be GET"));
        }
        let has_token = |headers: &HeaderMap, name: header::HeaderName, token: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
        };
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(refuse("Connection must include upgrade"));
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return Err(refuse("Upgrade must be websocket"));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|version| version != "13") {
            return Err(refuse("Sec-WebSocket-Version must be 13"));
        }
        let key =
            parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned().ok_or_else(|| refuse("no Sec-WebSocket-Key"))?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| refuse("this connection cannot be upgraded"))?;
        Ok(WsUpgrade { key, on_upgrade })
    }
}

impl WsUpgrade {
    /// The `101 Switching Protocols` answer, and the socket once the client has it.
    pub fn accept(self) -> (Response, hyper::upgrade::OnUpgrade) {
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("static headers are valid");
        (response, self.on_upgrade)
    }
}

/// A whole small frame (a reply, a ping, a close) in one buffer.
pub fn small_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let header = WsHeader::new(opcode, payload.len());
    let mut bytes = Vec::with_capacity(header.as_bytes().len() + payload.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(payload);
    bytes.into()
}

/// A close frame with `code` and `reason` (at most 123 bytes, which every reason here is).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    small_frame(WsHeader::CLOSE, &payload)
}

/// Frames tungstenite wrote (pongs, a close reply), waiting for the connection's writer.
#[derive(Clone, Default)]
pub struct Control(Arc<ControlFrames>);

#[derive(Default)]
struct ControlFrames {
    waiting: Mutex<Vec<u8>>,
    /// Whether `waiting` has any, and the connection's task to wake when it gets some.
    any: AtomicBool,
    writer: AtomicWaker,
}

impl Control {
    /// Resolves once tungstenite has written frames (a read attempt writes the pong of the
    /// ping the read before it returned: nothing else would wake the connection for it).
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if self.0.any.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.0.writer.register(cx.waker());
            if self.0.any.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// The bytes written since the last call, whole frames only (tungstenite hands its
    /// frames over whole: `ReadSide` accepts every write entirely).
    pub fn take(&self) -> Option<Bytes> {
        if !self.0.any.swap(false, Ordering::Acquire) {
            return None;
        }
        let mut waiting = self.0.waiting.lock().expect("control lock");
        (!waiting.is_empty()).then(|| std::mem::take(&mut *waiting).into())
    }
}

/// The socket's read half as tungstenite sees it: reads from the socket, writes into `Control`.
pub struct ReadSide<R> {
    read: R,
    control: Control,
}

impl<R> ReadSide<R> {
    pub fn new(read: R, control: Control) -> Self {
        ReadSide { read, control }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut waiting = self.control.0.waiting.lock().expect("control lock");
        if waiting.len() + buf.len() > CONTROL_BYTES {
            return Poll::Ready(Err(io::Error::other("control frames pile up unsent")));
        }
        waiting.extend_from_slice(buf);
        self.control.0.any.store(true, Ordering::Release);
        self.control.0.writer.wake();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's messages as a connection reads them: tungstenite over the socket's read half
/// (its own frames into `control`), read when woken.
pub async fn client_messages<R: AsyncRead + Unpin>(
    read: R,
    control: Control,
    config: Option<WebSocketConfig>,
) -> WhenWoken<WebSocketStream<ReadSide<R>>> {
    WhenWoken::new(WebSocketStream::from_raw_socket(ReadSide::new(read, control), Role::Server, config).await)
}

/// The client's messages, read only when the socket has woken them (or the last read returned
/// one: more may be buffered, and a ping's pong is written at the read after it). A connection
/// wakes ten times a second per subscription for its feeds; reading tungstenite at each of
/// those wake-ups went through its whole read path to find nothing.
pub struct WhenWoken<S> {
    messages: S,
    woken: Arc<Woken>,
    /// `woken` as a waker, made once: what the socket wakes.
    waker: Waker,
}

struct Woken {
    since_last_read: AtomicBool,
    connection: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.since_last_read.store(true, Ordering::Release);
        self.connection.wake();
    }
}

impl<S> WhenWoken<S> {
    pub fn new(messages: S) -> Self {
        let woken = Arc::new(Woken { since_last_read: AtomicBool::new(true), connection: AtomicWaker::new() });
        WhenWoken { messages, waker: Waker::from(woken.clone()), woken }
    }
}

impl<S: Stream + Unpin> Stream for WhenWoken<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        this.woken.connection.register(cx.waker());
        if !this.woken.since_last_read.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let read = this.messages.poll_next_unpin(&mut Context::from_waker(&this.waker));
        if read.is_ready() {
            this.woken.since_last_read.store(true, Ordering::Release);
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_stream_when_woken_is_polled_only_after_a_wake_or_an_item() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (send, mut receive) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let counted = {
            let polls = polls.clone();
            futures::stream::poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                receive.poll_recv(cx)
            })
        };
        let mut messages = WhenWoken::new(counted);
        for _ in 0..5 {
            assert!(messages.next().now_or_never().is_none());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1, "not polled again without a wake");
        send.send(1).unwrap();
        send.send(2).unwrap();
        assert_eq!(messages.next().await, Some(1));
        // After an item it reads again at once: the second was buffered, with no wake of its own.
        assert_eq!(messages.next().now_or_never(), Some(Some(2)));
        assert!(messages.next().now_or_never().is_none());
        let polled = polls.load(Ordering::Relaxed);
        assert!(messages.next().now_or_never().is_none());
        assert_eq!(polls.load(Ordering::Relaxed), polled);
    }
}
