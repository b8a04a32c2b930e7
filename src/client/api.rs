//! The browser's one client for the JSON API: history, the alert list, alert history,
//! deliveries, acks, silences and the rule preview all go through `get` and `post`, and the
//! pages' server functions (`loaders`) through `call`. A request
//! is aborted when the future awaiting it is dropped, and `spawn` ties that future to the
//! reactive scope that started it, so a component that goes away takes its requests with it
//! and no answer lands in it afterwards. A refusal reads as the server's own message
//! (`ApiError`'s `error`), else the HTTP status. The server functions' answers and refusals
//! are read by `protocol::read` (the first load's reader); the JSON API's answers, which only
//! modules loaded when first used ask for, by serde.

use crate::protocol::read::{field, from_text, FromJson, Json, Misread};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// Runs `task` for as long as the current reactive scope lives (cancelled with it).
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    leptos::task::spawn_local_scoped_with_cancellation(task);
}

/// `GET url`, its JSON answer.
pub async fn get<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    serde_json::from_str(&get_text(url).await?).map_err(|error| error.to_string())
}

/// `GET url`, its answer's text. Apart from `get` so that the request's code is compiled once,
/// not once per type of answer.
async fn get_text(url: &str) -> Result<String, String> {
    let abort = Abort::new();
    let answer = gloo_net::http::Request::get(url).abort_signal(abort.signal()).send().await;
    text(answer).await
}

/// A server function's JSON answer (`loaders`): `POST url` with `arguments` form-encoded, as
/// server_fn's own client sends them. Not through that client: its request, form encoder and
/// error decoder were 7 KB of brotli in a dashboard's first load (BENCHMARKS.md).
pub async fn call<T: FromJson>(url: &str, arguments: &[(&str, &str)]) -> Result<T, String> {
    from_text(&call_text(url, arguments).await?).map_err(|misread| misread.to_string())
}

async fn call_text(url: &str, arguments: &[(&str, &str)]) -> Result<String, String> {
    use crate::model::url::encode_component;
    let form: Vec<String> = arguments
        .iter()
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect();
    let abort = Abort::new();
    let request = gloo_net::http::Request::post(url)
        .abort_signal(abort.signal())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.join("&"))
        .map_err(|error| error.to_string())?;
    text(request.send().await).await
}

/// `POST url` with `body` as JSON; what the server answered is not needed.
pub async fn post<B: Serialize>(url: &str, body: &B) -> Result<(), String> {
    let abort = Abort::new();
    let request = gloo_net::http::Request::post(url).abort_signal(abort.signal());
    let answer = request.json(body).map_err(|error| error.to_string())?.send().await;
    read(answer).await.map(drop)
}

/// The answer's text if it is a success, else what the server said.
async fn text(answer: Result<gloo_net::http::Response, gloo_net::Error>) -> Result<String, String> {
    read(answer).await?.text().await.map_err(|error| error.to_string())
}

/// The answer if it is a success, else what the server said.
async fn read(answer: Result<gloo_net::http::Response, gloo_net::Error>) -> Result<gloo_net::http::Response, String> {
    let answer = answer.map_err(|error| error.to_string())?;
    if answer.ok() {
        return Ok(answer);
    }
    let status = answer.status();
    let said = answer.text().await.ok().and_then(|text| from_text::<Refusal>(&text).ok()).map(|refusal| refusal.error);
    Err(said.unwrap_or_else(|| format!("HTTP {status}")))
}

/// What a refusal's body says (`{"error": message, "code": code}`, `server/http/error.rs`).
/// Read as this one field rather than as any JSON value, whose decoder the page would
/// otherwise carry for this alone.
struct Refusal {
    error: String,
}

impl FromJson for Refusal {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(Refusal { error: field(json, "error")? })
    }
}

/// Aborts its request when dropped (after the answer, aborting does nothing).
struct Abort(Option<(web_sys::AbortController, web_sys::AbortSignal)>);

impl Abort {
    fn new() -> Self {
        Abort(web_sys::AbortController::new().ok().map(|controller| {
            let signal = controller.signal();
            (controller, signal)
        }))
    }

    fn signal(&self) -> Option<&web_sys::AbortSignal> {
        self.0.as_ref().map(|(_, signal)| signal)
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        if let Some((controller, _)) = &self.0 {
            controller.abort();
        }
    }
}
