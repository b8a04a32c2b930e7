//! The gate every request passes after the origin check: finds the credential (PROTOCOL.md's
//! order: `Authorization`, `access_token`, the session cookie), checks it once, and hands the
//! `Access` to the handlers as a request extension. What a request without a valid credential
//! gets is the `Policy` of its group of routes (`server::api` puts one on each sub-router as a
//! `route_layer`, so the router says which route needs what): open routes pass anonymously,
//! the API answers `401 unauthorized` with `WWW-Authenticate: Bearer`, ingest also needs a
//! credential that may write, before its body is read, and pages redirect to
//! `/login?next=...`.

use super::{authorize_writing, Access, Auth, Presented};
use crate::server::http::{error::ErrorCounter, ApiError};
use axum::{
    extract::{Query, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{collections::HashMap, sync::Arc};

/// What a group of routes asks of a request's credential.
#[derive(Clone, Copy)]
pub enum Policy {
    /// Sign-in, liveness, the site's files, and `/metrics` (which checks for itself): anyone
    /// passes, with the access a valid credential gives, else anonymously.
    Open,
    /// API calls and streams: a valid credential, else `401` in the API's shape.
    Api,
    /// Ingest: a credential that may write, checked before the body is read; refused in the
    /// endpoint's own error shape (InfluxDB's for line protocol).
    Write(fn(ApiError) -> Response),
    /// Pages a browser navigates to: without a credential, the sign-in form.
    Page,
}

/// The gate's state: the credential checker, where refusals are counted, and the policy of
/// the routes it stands in front of.
#[derive(Clone)]
pub struct Gate {
    auth: Arc<Auth>,
    errors: Arc<dyn ErrorCounter>,
    policy: Policy,
}

impl Gate {
    pub fn new(auth: Arc<Auth>, errors: Arc<dyn ErrorCounter>) -> Self {
        Gate { auth, errors, policy: Policy::Api }
    }

    /// The same gate for routes of another policy.
    pub fn with(&self, policy: Policy) -> Self {
        Gate { policy, ..self.clone() }
    }
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

/// The middleware (`axum::middleware::from_fn_with_state` with a `Gate`).
pub async fn require(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let open = matches!(gate.policy, Policy::Open);
    let credential = presented(request.headers(), request.uri());
    let credential_ref = credential.as_ref().map(|(is_cookie, token)| match is_cookie {
        true => Presented::Cookie(token),
        false => Presented::Bearer(token),
    });
    let checked = gate.auth.check(credential_ref);
    let (access, renewed_cookie) = match checked {
        Ok(checked) if open || checked.access != Access::Anonymous => (checked.access, checked.renewed_cookie),
        Err(_) if open => (Access::Anonymous, None),
        Ok(_) => return refuse(&gate, request.uri(), ApiError::Unauthorized("sign in or send a token".into()), false),
        Err(error) => {
            let from_cookie = credential.is_some_and(|(is_cookie, _)| is_cookie);
            return refuse(&gate, request.uri(), error, from_cookie);
        }
    };
    if let Policy::Write(_) = gate.policy {
        if let Err(error) = authorize_writing(&access) {
            return refuse(&gate, request.uri(), error, false);
        }
    }
    request.extensions_mut().insert(access);
    let mut response = next.run(request).await;
    // A handler that set the session cookie itself (sign-in, sign-out) has the last word: a
    // renewal of the old one after it would undo it.
    let handler_set_session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|value| value.as_bytes().starts_with(super::session::COOKIE.as_bytes()));
    if let Some(value) = renewed_cookie.filter(|_| !handler_set_session) {
        let cookie = gate.auth.sessions.cookie(Some(value));
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The refusal the routes' policy gives (a dead cookie is cleared in every case).
fn refuse(gate: &Gate, uri: &Uri, error: ApiError, dead_cookie: bool) -> Response {
    gate.errors.error("auth", error.code().as_str());
    let mut response = match gate.policy {
        Policy::Write(shape) => shape(error),
        Policy::Page => {
            let location = format!("/login?next={}", crate::model::url::encode_component(&next_of(uri)));
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        Policy::Api | Policy::Open => error.into_response(),
    };
    if dead_cookie {
        if let Ok(value) = HeaderValue::from_str(&gate.auth.sessions.cookie(None)) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Where the sign-in form sends the browser back to: the page asked for, without an
/// `access_token` (a credential must not travel on into the form, its links and history).
fn next_of(uri: &Uri) -> String {
    let Some(query) = uri.query() else { return uri.path().to_owned() };
    let kept: Vec<&str> =
        query.split('&').filter(|pair| pair.split('=').next() != Some("access_token") && !pair.is_empty()).collect();
    match kept.is_empty() {
        true => uri.path().to_owned(),
        false => format!("{}?{}", uri.path(), kept.join("&")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_after_sign_in_carries_no_token() {
        let next = |uri: &str| next_of(&uri.parse().unwrap());
        assert_eq!(next("/d/main?access_token=secret"), "/d/main");
        assert_eq!(next("/d/main?window=1h&access_token=secret&x=1"), "/d/main?window=1h&x=1");
        assert_eq!(next("/d/main?window=1h"), "/d/main?window=1h");
        assert_eq!(next("/"), "/");
    }

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
}
