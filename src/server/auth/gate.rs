//! The gate every request passes after the origin check: finds the credential (PROTOCOL.md's
//! order: `Authorization`, `access_token`, the session cookie), checks it once, and hands the
//! `Access` to the handlers as a request extension. In secured mode a request without a valid
//! credential stops here: `401 unauthorized` with `WWW-Authenticate: Bearer` for the API, a
//! redirect to `/login?next=...` for a page. Public paths (sign-in, health, assets, and
//! `/metrics`, which checks for itself) pass with whatever access they have.

use super::{authorize_writing, Access, Presented};
use crate::server::{http::ApiError, ingest::influx::WriteError, now_secs, AppState};
use axum::{
    extract::{Query, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::collections::HashMap;

/// Paths anyone may request: what signing in needs, liveness, and `/metrics` (admin or a
/// loopback peer, checked by its handler).
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/logout" | "/healthz" | "/metrics" | "/favicon.svg") || path.starts_with("/pkg/")
}

/// The ingest endpoints: refused before their body is read unless the access may write.
fn is_write(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/api/v1/ingest" | "/api/v2/write")
}

/// Paths a browser navigates to (pages), as opposed to API calls and streams.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/ws")
}

/// The credential a request carries, owned (the query parameter must be decoded).
fn presented(headers: &HeaderMap, uri: &Uri) -> Option<(bool, String)> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if let Some(value) = authorization {
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("Token ")).unwrap_or(value);
        return Some((false, token.trim().to_owned()));
    }
    if uri.query().is_some_and(|query| query.contains("access_token=")) {
        let Query(query) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
        if let Some(token) = query.get("access_token") {
            return Some((false, token.clone()));
        }
    }
    let cookies = headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok());
    cookies.filter_map(super::session::from_cookie_header).next().map(|token| (true, token.to_owned()))
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let public = is_public(path);
    let credential = presented(request.headers(), request.uri());
    let credential_ref = credential.as_ref().map(|(is_cookie, token)| match is_cookie {
        true => Presented::Cookie(token),
        false => Presented::Bearer(token),
    });
    let checked = state.auth.check(credential_ref, now_secs());
    let (access, renewed_cookie) = match checked {
        Ok(checked) if public || checked.access != Access::Anonymous => (checked.access, checked.renewed_cookie),
        Err(_) if public => (Access::Anonymous, None),
        Ok(_) => return refuse(&state, request.uri(), ApiError::Unauthorized("sign in or send a token".into()), false),
        Err(error) => {
            let from_cookie = credential.is_some_and(|(is_cookie, _)| is_cookie);
            return refuse(&state, request.uri(), error, from_cookie);
        }
    };
    if is_write(request.method(), request.uri().path()) {
        if let Err(error) = authorize_writing(&access) {
            return refuse(&state, request.uri(), error, false);
        }
    }
    request.extensions_mut().insert(access);
    let mut response = next.run(request).await;
    if let Some(value) = renewed_cookie {
        let cookie = state.auth.sessions.cookie(Some(value));
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page goes to the sign-in form (and a dead cookie is cleared); anything else gets the
/// error (401, or 403 for a read-only credential writing).
fn refuse(state: &AppState, uri: &Uri, error: ApiError, dead_cookie: bool) -> Response {
    state.telemetry.error("auth", error.code().as_str());
    let mut response = if uri.path() == "/api/v2/write" {
        // InfluxDB's clients read InfluxDB's error shape.
        WriteError::from(error).into_response()
    } else if is_page(uri.path()) {
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        let location = format!("/login?next={}", crate::model::url::encode_component(next));
        (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
    } else {
        error.into_response()
    };
    if dead_cookie {
        if let Ok(value) = HeaderValue::from_str(&state.auth.sessions.cookie(None)) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_protocol_order() {
        let uri: Uri = "/ws?access_token=from%20query".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; livedash_session=from-cookie".parse().unwrap());
        assert_eq!(presented(&headers, &"/ws".parse().unwrap()), Some((true, "from-cookie".into())));
        assert_eq!(presented(&headers, &uri), Some((false, "from query".into())));
        headers.insert(header::AUTHORIZATION, "Token from-header".parse().unwrap());
        assert_eq!(presented(&headers, &uri), Some((false, "from-header".into())));
        assert_eq!(presented(&HeaderMap::new(), &"/ws?x=access_token=".parse().unwrap()), None);
    }

    #[test]
    fn public_paths_and_pages() {
        assert!(is_public("/login") && is_public("/pkg/livedash.wasm") && is_public("/healthz"));
        assert!(!is_public("/") && !is_public("/d/main") && !is_public("/api/v1/dashboards"));
        assert!(is_page("/d/main") && !is_page("/api/list_dashboards") && !is_page("/ws"));
    }
}
