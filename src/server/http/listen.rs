//! Accepting connections: HTTP/1.1 with upgrades, served by hyper directly, each request told
//! its peer's address (`ConnectInfo`, which `ClientAddr` reads).
//!
//! Not `axum::serve`: its protocol sniffing wraps every socket in a type private to
//! hyper-util, so an upgraded WebSocket could never take its `TcpStream` back, and the stream
//! writers need the bare socket to write one update to thousands of them without waking a
//! task per socket (`stream::ws::direct`). The server speaks HTTP/1.1 only (as it did:
//! axum's `http2` feature was never on).

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::Service;

/// How long an accept error that is not the peer's (out of file descriptors) pauses accepting.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown`, then lets the connections finish what they
/// are answering (a connection upgraded to a WebSocket is no longer hyper's: the stream's own
/// shutdown closes it).
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            // The peer gave up between its connect and our accept: nothing to do.
            Err(error) if is_peers(&error) => continue,
            Err(error) => {
                tracing::error!(%error, "accepting connections paused");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // A timer, so that hyper's 30 s limit on reading a request's head applies.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(socket), service)
                .with_upgrades();
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::trace!(%error, "connection ended");
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Whether an accept failed because of the peer (it reset or went away), not the server.
fn is_peers(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
