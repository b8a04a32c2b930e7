//! What the page's URL says about the connection (`?transport=`, `?heartbeatMs=`,
//! `?backoffMs=`, `?backoffCapMs=`, `?maxAttempts=`), and the URLs each transport opens.

use super::policy::{Backoff, Transport};
use crate::client::state::DashboardState;
use leptos::prelude::*;

/// How often a quiet WebSocket is pinged; two intervals without any message (or, over SSE,
/// without an open source) mean dead. The server's own default heartbeat.
const DEFAULT_HEARTBEAT_MS: u32 = 15_000;

pub(super) struct Options {
    /// `?transport=ws|sse|poll`: use only this one.
    pub transport: Option<Transport>,
    /// `?heartbeatMs=N`: ping a quiet WebSocket every N ms, drop it after 2N ms of silence.
    pub heartbeat_ms: u32,
    /// `?backoffMs=` and `?backoffCapMs=`: the first reconnection ceiling and its cap.
    pub backoff: Backoff,
    /// `?maxAttempts=N`: give up (Offline, "Retry now") after N failed attempts in a row.
    /// Without it the page retries forever.
    pub max_attempts: Option<u32>,
}

impl Options {
    pub fn from_page() -> Self {
        let number = |name: &str| page_parameter(name).and_then(|text| text.parse::<u32>().ok());
        let default = Backoff::default();
        Options {
            transport: page_parameter("transport").and_then(|label| Transport::from_label(&label)),
            heartbeat_ms: number("heartbeatMs").filter(|ms| *ms >= 100).unwrap_or(DEFAULT_HEARTBEAT_MS),
            backoff: Backoff {
                base_ms: number("backoffMs").unwrap_or(default.base_ms),
                cap_ms: number("backoffCapMs").unwrap_or(default.cap_ms),
            },
            max_attempts: number("maxAttempts"),
        }
    }
}

/// A query parameter of the page.
fn page_parameter(name: &str) -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

/// `/api/v1/{kind}/{dashboard}?since=E:S` from the dashboard's held position; `None` once
/// the dashboard has closed.
pub(super) fn stream_url(dashboard: DashboardState, kind: &str) -> Option<String> {
    let id = dashboard.id.try_get_value()?;
    let since = dashboard.position.try_get_untracked()?;
    Some(format!("/api/v1/{kind}/{id}?since={since}"))
}

/// `ws://` or `wss://` (as the page was loaded) to this server's `/ws`.
pub(super) fn socket_url() -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}
