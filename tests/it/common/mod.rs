//! Test harness: a real server on port 0 and real WebSocket/HTTP clients talking to it.

#![allow(dead_code)]

pub mod redis;

use futures::{SinkExt, StreamExt};
use livedash::protocol::{ClientMessage, ErrorCode, Position, ServerMessage, Snapshot, Update};
use livedash::server::{self, settings::Settings, Running};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{
    tungstenite::{protocol::frame::coding::CloseCode, Message},
    MaybeTlsStream, WebSocketStream,
};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Held for its whole run by every test that has the server render a page (all tests share
/// one process). Each `#[tokio::test]` has its own runtime, and server rendering in several runtimes of one process at once stalled a page now and then
/// (the home page about one run in five with the CPU busy; never with one test at a time in
/// 40 runs, and never seen in the server, which has one runtime). Likely leptos' executor,
/// global and spawning on whichever runtime is current; not pinned down further.
pub static PAGE_RENDERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a test waits for something that should happen promptly.
pub const PROMPTLY: Duration = Duration::from_secs(5);

/// Settings for tests: no built-in sources unless a test turns them on, fast ticks.
pub fn quiet_settings() -> Settings {
    let mut settings = Settings::defaults();
    settings.simulator = false;
    settings.host_metrics = false;
    settings.tick = Duration::from_millis(50);
    // In memory: tests that need the history store give it a folder of their own.
    settings.persist = false;
    settings
}

/// `quiet_settings` with the history store in `folder`.
pub fn persisted_settings(folder: &std::path::Path) -> Settings {
    let mut settings = quiet_settings();
    settings.persist = true;
    settings.data = folder.join("livedash.sqlite");
    settings
}

pub async fn start(settings: Settings) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    server::start(settings, listener).await.unwrap()
}

/// `start`, on a clock the test moves (reading the present until moved).
pub async fn start_on_manual_clock(settings: Settings) -> (Running, server::Clock) {
    let clock = server::Clock::manual(server::Clock::system().now_millis());
    (start_on(settings, &clock).await, clock)
}

/// `start`, on `clock`.
pub async fn start_on(settings: Settings, clock: &server::Clock) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    server::start_on(settings, listener, clock.clone()).await.unwrap()
}

pub fn http_url(running: &Running, path: &str) -> String {
    format!("http://{}{path}", running.addr)
}

pub async fn connect(running: &Running) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws", running.addr)).await.expect("websocket connects");
    socket
}

/// `connect` with a 16 KB receive buffer: a client that stops reading stops the server's writes
/// soon, whatever the kernel's buffer autotuning would have let pile up in between.
pub async fn connect_with_small_buffer(running: &Running) -> Socket {
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = client.connect(running.addr).await.expect("connects");
    let url = format!("ws://{}/ws", running.addr);
    let (socket, _) =
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("websocket connects");
    socket
}

/// A `subscribe` message (not throttled).
pub fn subscribe(dashboard: &str, since: Option<Position>) -> ClientMessage {
    ClientMessage::Subscribe { dashboard: dashboard.into(), since, max_hz: None }
}

/// GETs `url`: the status and the JSON answer (`null` when the body is not JSON).
pub async fn get_json(url: String) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(serde_json::Value::Null))
}

/// The snapshot API's answer for `dashboard`.
pub async fn snapshot(running: &Running, dashboard: &str) -> serde_json::Value {
    get_json(http_url(running, &format!("/api/v1/dashboards/{dashboard}/snapshot"))).await.1
}

pub async fn send(socket: &mut Socket, message: &ClientMessage) {
    send_text(socket, &serde_json::to_string(message).unwrap()).await;
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.expect("send");
}

/// The next protocol message, skipping WebSocket control frames.
pub async fn next_message(socket: &mut Socket) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a message arrives in time")
            .expect("the socket stays open")
            .expect("the frame is readable");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
            Message::Close(close) => panic!("connection closed: {close:?}"),
            _ => continue,
        }
    }
}

pub async fn expect_snapshot(socket: &mut Socket) -> Snapshot {
    match next_message(socket).await {
        ServerMessage::Snapshot(snapshot) => snapshot,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

pub async fn expect_update(socket: &mut Socket) -> Update {
    match next_message(socket).await {
        ServerMessage::Update(update) => update,
        other => panic!("expected an update, got {other:?}"),
    }
}

pub async fn expect_error(socket: &mut Socket, code: ErrorCode) -> String {
    match next_message(socket).await {
        ServerMessage::Error(error) => {
            assert_eq!(error.code, code, "{}", error.message);
            error.message
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The current value of one of the server's `/metrics` series.
pub async fn metric(running: &livedash::server::Running, name: &str) -> f64 {
    let text = reqwest::get(http_url(running, "/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
}

/// Reads until the server's close frame and returns its code and reason.
pub async fn close_of(socket: &mut Socket) -> (CloseCode, String) {
    loop {
        match tokio::time::timeout(PROMPTLY, socket.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Asserts that nothing arrives for `wait`.
pub async fn expect_silence(socket: &mut Socket, wait: Duration) {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(text)))) => panic!("unexpected message: {text}"),
            Ok(Some(Ok(Message::Close(close)))) => panic!("connection closed: {close:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("socket failed: {other:?}"),
        }
    }
}

/// POSTs `body` to the ingest API, returning status and JSON answer.
pub async fn ingest(running: &Running, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(http_url(running, "/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("ingest request");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Ingests one value of metric `x` into `dashboard`.
pub async fn push(running: &Running, dashboard: &str, value: f64) {
    push_metric(running, dashboard, "x", value).await;
}

/// Ingests one value of `metric` into `dashboard`.
pub async fn push_metric(running: &Running, dashboard: &str, metric: &str, value: f64) {
    let body = format!(r#"{{"dashboard":"{dashboard}","metrics":{{"{metric}":{value}}}}}"#);
    let (status, answer) = ingest(running, &body).await;
    assert_eq!(status, 202, "{answer}");
}

/// `persisted_settings` in `folder` with the `[[alerts]]` and `[[receivers]]` of `config`, the
/// first delivery retry after about `retry_min`.
pub fn alerting_settings(folder: &std::path::Path, config: &str, retry_min: Duration) -> Settings {
    let file = livedash::server::settings::file::parse(config, "livedash.toml").unwrap();
    let mut settings = persisted_settings(folder);
    settings.alerts = file.alerts;
    settings.receivers = file.receivers;
    settings.delivery.retry_min = retry_min;
    settings
}

/// A raw TCP connection upgraded to a WebSocket by hand, so a test controls exactly what the
/// peer reads and answers (tungstenite would answer pings whenever it reads).
pub async fn raw_websocket(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        answer.push(stream.read_u8().await.unwrap());
    }
    assert!(answer.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&answer));
    stream
}

/// What the server logs on this thread (a `#[tokio::test]`'s runtime runs the server's tasks
/// here too) while the returned guard lives.
///
/// One global subscriber writes each event to the capture of the thread it happens on, if
/// any: scoped subscribers (`set_default`) missed events now and then with tests on other
/// threads (tracing caches each call site's interest process-wide).
pub fn capture_logs() -> (std::sync::Arc<std::sync::Mutex<Vec<u8>>>, LogCapture) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| ThreadSink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in the tests");
    });
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(written.clone()));
    (written, LogCapture)
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Ends this thread's capture when dropped.
pub struct LogCapture;

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Writes into the current thread's capture, or nowhere.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(written) = &*capture.borrow() {
                written.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `tests/producers/<script>` with the test venv's Python (`make python-deps`) and
/// `args`; panics with its output unless it succeeds.
pub async fn run_producer(script: &str, args: &[String]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/pyvenv/bin/python");
    assert!(python.exists(), "{} is missing: run `make python-deps`", python.display());
    let output = tokio::process::Command::new(&python)
        .arg(root.join("tests/producers").join(script))
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `dashboard`'s snapshot until `ready` holds for it (or `PROMPTLY` passes: panics
/// with the last one).
pub async fn snapshot_when(
    running: &Running,
    dashboard: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PROMPTLY * 2;
    loop {
        let snapshot = snapshot(running, dashboard).await;
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(tokio::time::Instant::now() < deadline, "not there in time: {snapshot:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port nothing listens on now, for a peer that takes its address on the command line.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when the test ends, however it ends.
pub struct Peer(pub tokio::process::Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// Waits until `check` says yes, or fails with what it last saw.
pub async fn eventually<T: std::fmt::Debug>(what: &str, mut check: impl AsyncFnMut() -> (bool, T)) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (done, seen) = check().await;
        if done {
            return seen;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: last saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `url` answers 200 (a peer process started by a test), or fails saying `what`.
pub async fn answering(what: &str, url: &str) {
    eventually(what, async || {
        let status = reqwest::get(url).await.map(|answer| answer.status().as_u16()).unwrap_or(0);
        (status == 200, status)
    })
    .await;
}
