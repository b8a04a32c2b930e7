//! Signing in and out. `GET /login` is a plain server-rendered form (it works before, and
//! without, the WASM); `POST /login` (form fields `username`, `password`, `next`) checks the
//! password, sets a fresh `livedash_session` and goes to `next` (a path on this server only);
//! `POST /logout` ends the session everywhere: the cookie is cleared, the session id revoked
//! and every stream it holds closed with 4001. Failures re-render the form with 401, too many
//! of them (per user and address) 429 with `Retry-After`, an over-long password 400, every
//! core busy checking passwords 503 with `Retry-After` (the last three unhashed).

use super::{sign_outs::SharedSignOuts, users::MAX_PASSWORD_BYTES, Access, Auth};
use crate::server::http::{
    headers::{content_security_policy, FrameAncestors},
    ApiQuery, ClientAddr,
};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    Extension, Form,
};
use serde::Deserialize;
use std::sync::Arc;

/// What signing in and out needs of the server (`State<LoginState>`).
#[derive(Clone)]
pub struct LoginState {
    pub auth: Arc<Auth>,
    /// Sign-outs told to the other instances (`--redis`).
    pub sign_outs: Option<Arc<SharedSignOuts>>,
    /// `--frame-ancestors`, for the form's Content-Security-Policy.
    pub frame_ancestors: FrameAncestors,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `GET /login`. Without sign-in configured there is nothing to sign into: on to `next`.
pub async fn form(State(state): State<LoginState>, ApiQuery(query): ApiQuery<LoginQuery>) -> Response {
    let next = local_path(&query.next);
    if !state.auth.is_secured() {
        return redirect(next);
    }
    page(&state, StatusCode::OK, next, "", None)
}

/// `POST /login`.
pub async fn sign_in(State(state): State<LoginState>, client: ClientAddr, Form(form): Form<LoginForm>) -> Response {
    let next = local_path(&form.next);
    let Some(keys) = state.auth.keys() else { return redirect(next) };
    let name = form.username.trim();
    if form.password.len() > MAX_PASSWORD_BYTES {
        let message = format!("Passwords are at most {MAX_PASSWORD_BYTES} bytes.");
        return page(&state, StatusCode::BAD_REQUEST, next, name, Some(&message));
    }
    let wrong = || page(&state, StatusCode::UNAUTHORIZED, next, name, Some("Wrong user name or password."));
    if state.auth.users.is_empty() {
        // Tokens only: there is no password to check, and nothing to spend a core on.
        return wrong();
    }
    let Some(permit) = state.auth.users.hashing_permit() else {
        let message = "The server is busy checking other sign-ins. Try again in a second.";
        return with_retry_after(page(&state, StatusCode::SERVICE_UNAVAILABLE, next, name, Some(message)), 1);
    };
    if let Err(wait) = state.auth.logins.begin(name, client.ip) {
        tracing::warn!(user = name, client = %client.ip, "sign-in refused: too many failures");
        let seconds = wait.as_secs().max(1);
        let message = format!("Too many failed sign-ins for this user. Try again in {seconds} s.");
        return with_retry_after(page(&state, StatusCode::TOO_MANY_REQUESTS, next, name, Some(&message)), seconds);
    }
    let Some(user) = state.auth.users.check(name, &form.password, permit).await else {
        tracing::warn!(user = name, client = %client.ip, "sign-in failed");
        return wrong();
    };
    state.auth.logins.succeeded(name, client.ip);
    tracing::info!(user = user.name, "signed in");
    let fingerprint = super::session::password_fingerprint(&user.password_hash);
    let session = state.auth.sessions.start(keys, &user.name, fingerprint, state.auth.clock.now_secs());
    with_cookie(redirect(next), &state.auth.sessions.cookie(Some(session)))
}

/// `POST /logout`: whatever the cookie, it is cleared.
pub async fn sign_out(State(state): State<LoginState>, Extension(access): Extension<Access>) -> Response {
    if let Some(principal) = access.principal() {
        if let Some(session) = &principal.session {
            let (sid, until, now) = (session.id.clone(), session.last_valid, state.auth.clock.now_secs());
            state.auth.sessions.end(&sid, until, now);
            let auth = state.auth.clone();
            let kept = tokio::task::spawn_blocking(move || auth.sessions.keep_revocation(&sid, until, now)).await;
            if let Ok(Err(error)) = kept {
                // Signed out until a restart; said in the log.
                tracing::error!(%error, user = principal.name, "sign-out not kept in the store");
            }
            if let Some(shared) = &state.sign_outs {
                if let Err(error) = shared.announce(&session.id, until).await {
                    // Still signed out here; other instances would accept the cookie until it
                    // expires. Said in the log; the user's browser has dropped it already.
                    tracing::error!(%error, user = principal.name, "sign-out not shared with the other instances");
                }
            }
            tracing::info!(user = principal.name, "signed out");
        }
    }
    with_cookie(redirect("/login"), &state.auth.sessions.cookie(None))
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `next` if it is a path on this server, else `/`: never `//evil.example` or `https://...`.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.bytes().all(|b| b.is_ascii_graphic())
        && next.len() <= 2048;
    if local {
        next
    } else {
        "/"
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The sign-in page; no script at all, so its policy allows none.
fn page(state: &LoginState, status: StatusCode, next: &str, name: &str, error: Option<&str>) -> Response {
    let error = error.map_or(String::new(), |message| {
        format!(r#"<p class="login-error" role="alert" data-testid="login-error">{}</p>"#, escape(message))
    });
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark light"><title>Sign in · livedash</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/livedash.css"></head>
<body><nav class="topbar"><a class="brand" href="/">livedash</a></nav>
<main><form class="login" method="post" action="/login" data-testid="login-form">
<h1>Sign in</h1>{error}
<label>User name <input name="username" autocomplete="username" required autofocus value="{name}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></main></body></html>"#,
        name = escape(name),
        next = escape(next),
    );
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let policy = content_security_policy(&nonce, &state.frame_ancestors.0);
    let mut response = (status, Html(html)).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The form posts to this server: under `no-referrer` the browser would send `Origin: null`,
    // and over plain http to a name (not a trustworthy origin) no `Sec-Fetch-Site` to vouch
    // for it. `same-origin` sends our own origin with the post and still nothing elsewhere.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(local_path("/d/main?window=1h"), "/d/main?window=1h");
        for hostile in ["https://evil.example/", "//evil.example", "/\\evil.example", "", "d/main", "/a b", "/\n"] {
            assert_eq!(local_path(hostile), "/", "{hostile:?}");
        }
    }

    #[test]
    fn encoding_and_escaping() {
        assert_eq!(escape(r#""><script>"#), "&quot;&gt;&lt;script&gt;");
    }
}
