//! The page's one live connection, shared by every open dashboard: it subscribes each
//! dashboard with `since` (so a page rendered from a snapshot, or a reconnect, resumes without
//! gap or duplicate), unsubscribes the ones that close, routes every message to its
//! dashboard's state, and reconnects with capped exponential backoff and full jitter.
//!
//! - `policy`: what to do after a session ends (fallback, backoff, giving up); pure.
//! - `status`: what the connection tells the page (`ConnectionStatus`, `Recovery`).
//! - `dispatch`: one message path for every transport, into `DashboardState::apply`.
//! - `websocket`, `sse`, `long_poll`: one transport each. One WebSocket carries every
//!   dashboard; Server-Sent Events and long-polling are per dashboard by protocol, so they hold
//!   one stream or request per open dashboard.
//! - `options`: page parameters (`?transport=ws|sse|poll`, `?heartbeatMs=`, ...) and URLs.
//!
//! Browser only: on the server nothing is started.

#[cfg(feature = "hydrate")]
mod dispatch;
#[cfg(feature = "hydrate")]
mod long_poll;
#[cfg(feature = "hydrate")]
mod options;
pub mod policy;
#[cfg(feature = "hydrate")]
mod sse;
pub mod status;
#[cfg(feature = "hydrate")]
mod websocket;

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
        // An Effect runs once, in the browser only, after hydration: the one place to start a
        // task that must not run during server rendering. Scoped, so it dies with the app.
        let mut changes = Some(changes);
        Effect::new(move |_| {
            if let Some(changes) = changes.take() {
                leptos::task::spawn_local_scoped_with_cancellation(run(connection, changes));
            }
        });
    }
    connection
}

/// Wakes the connection when a dashboard opens or closes.
#[cfg(feature = "hydrate")]
type Changes = futures::channel::mpsc::UnboundedReceiver<()>;

/// Seconds a long-poll request may wait for news.
#[cfg(feature = "hydrate")]
const POLL_WAIT_SECS: u32 = 25;

/// Serves the open dashboards over one transport session after another, as `policy::Retry`
/// decides.
#[cfg(feature = "hydrate")]
async fn run(connection: ConnectionState, mut changes: Changes) {
    use dispatch::Dispatcher;
    use futures::StreamExt;
    use policy::{Next, Retry, Transport};
    use status::ConnectionStatus;

    // Nothing to serve until a dashboard opens (the home page needs no connection).
    while connection.dashboards.with_untracked(Vec::is_empty) {
        if changes.next().await.is_none() {
            return;
        }
    }
    let options = options::Options::from_page();
    let mut retry = Retry::new(options.transport, options.max_attempts);
    connection.transport.set(retry.transport());
    let mut dispatcher = Dispatcher::new(connection);
    let mut recover = false;
    loop {
        dispatcher.begin(recover);
        let ended = match retry.transport() {
            Transport::WebSocket => websocket::session(&mut dispatcher, &mut changes, options.heartbeat_ms).await,
            fallback => match split::fallback(fallback, &mut dispatcher, &mut changes, options.heartbeat_ms).await {
                Ok(session) => session.await,
                Err(_) => policy::Ended::Lost,
            },
        };
        // A session that follows one that was live tells how the page caught up.
        recover = connection.heard_at.get_untracked() > 0.0 && ended != policy::Ended::Restart;
        match retry.after(ended, dispatcher.heard()) {
            Next::Now => {}
            Next::Backoff { attempt } => {
                let delay = options.backoff.delay_ms(attempt, js_sys::Math::random());
                let retry_at = js_sys::Date::now() + f64::from(delay);
                connection.status.set(ConnectionStatus::Reconnecting { attempt, retry_at });
                wait_or_retry_now(&connection, Some(retry_at)).await;
            }
            Next::Offline { attempts, refused } => {
                connection.status.set(ConnectionStatus::Offline { attempts, refused });
                wait_or_retry_now(&connection, None).await;
                connection.status.set(ConnectionStatus::Connecting);
            }
        }
        if connection.transport.get_untracked() != retry.transport() {
            connection.transport.set(retry.transport());
        }
    }
}

/// The fallback transports, in a module of their own fetched the first time one runs
/// (`components::lazily`): a page whose WebSocket works never needs them.
#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::{dispatch::Dispatcher, long_poll, policy::Ended, policy::Transport, sse, Changes};
    use futures::future::LocalBoxFuture;
    use leptos::wasm_split::SplitLoaderError;

    /// A session over `transport` (Server-Sent Events or long-polling). A module that cannot
    /// be fetched (the server down, often why a fallback runs) is a lost session for the
    /// policy to retry.
    #[leptos::wasm_split::wasm_split(fallback_transports, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn fallback<'a>(
        transport: Transport,
        dispatcher: &'a mut Dispatcher,
        changes: &'a mut Changes,
        heartbeat_ms: u32,
    ) -> Result<LocalBoxFuture<'a, Ended>, SplitLoaderError> {
        Ok(match transport {
            Transport::Poll => Box::pin(long_poll::session(dispatcher, changes)),
            _ => Box::pin(sse::session(dispatcher, changes, heartbeat_ms)),
        })
    }
}

/// Waits until `until` (browser ms; forever when `None`) or until "Retry now" is pressed.
#[cfg(feature = "hydrate")]
async fn wait_or_retry_now(connection: &ConnectionState, until: Option<f64>) {
    // Short slices: a pressed button is seen within a tenth of a second.
    const SLICE_MS: u32 = 100;
    while until.is_none_or(|until| js_sys::Date::now() < until) {
        if connection.retry_now.get_untracked() {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(SLICE_MS).await;
    }
    connection.retry_now.set(false);
}
