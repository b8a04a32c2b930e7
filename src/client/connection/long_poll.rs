//! The long-polling transport: one request in flight per open dashboard, each asking for news
//! after the dashboard's held position and waiting up to `POLL_WAIT_SECS` for some. Works
//! wherever plain HTTP does.

use super::dispatch::Dispatcher;
use super::policy::Ended;
use super::{options::stream_url, Changes, POLL_WAIT_SECS};
use crate::client::state::DashboardState;
use crate::protocol::PollResponse;
use futures::future::{select, Either, LocalBoxFuture};
use futures::{FutureExt, StreamExt};
use leptos::prelude::*;

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
            Ok(response) if response.ok() => match response.text().await {
                Ok(text) => crate::protocol::read::from_text::<PollResponse>(&text).map_err(|_| None),
                Err(_) => Err(None),
            },
            // HTTP 401 and 403 refuse like the WebSocket close codes 4001 and 4003 do.
            Ok(response) if response.status() == 401 => Err(Some(4001)),
            Ok(response) if response.status() == 403 => Err(Some(4003)),
            _ => Err(None),
        };
        (dashboard, answer)
    }
    .boxed_local()
}

pub(super) async fn session(dispatcher: &mut Dispatcher, changes: &mut Changes) -> Ended {
    let open = dispatcher.connection.dashboards.get_untracked();
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
                        dispatcher.live();
                        for message in answer.messages {
                            // The next poll asks from the held position anyway: a gap
                            // needs nothing more.
                            dispatcher.receive(message);
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
