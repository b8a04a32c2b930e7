//! The router without a socket (`tower::ServiceExt::oneshot`, as axum's testing example):
//! the policy each kind of route carries (open, API, ingest, pages, server functions), the
//! origin check in front of all of them, and the one error shape of every refusal, including
//! query strings and path segments that do not read. Sockets, streams and sign-in flows are in
//! `auth.rs`, `origins.rs` and `hostile.rs`.

use crate::common::quiet_settings;
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Method, Request, StatusCode},
    Router,
};
use livedash::server::{api::router, assemble, auth::users::hash_password, settings::Settings, AppState};
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

const SECRET: &str = "router-test-secret-router-test-secret";

/// An app as `server::start` builds it, without binding a socket or starting sources.
async fn app(settings: Settings) -> (Router, AppState) {
    let addr: SocketAddr = "127.0.0.1:3999".parse().unwrap();
    let state = assemble(settings, addr, livedash::server::Clock::system()).await.unwrap();
    (router(state.clone()), state)
}

fn secured() -> Settings {
    let mut settings = quiet_settings();
    settings.auth_secret = Some(SECRET.into());
    settings.users = vec![livedash::server::auth::users::UserConfig {
        name: "alice".into(),
        password_hash: hash_password("correct horse battery"),
        role: livedash::server::auth::users::Role::Viewer,
        dashboards: None,
    }];
    settings
}

/// An admin's JWT for `secured()`.
fn admin_jwt() -> String {
    use livedash::server::auth::{
        jwt::{Claims, Keys, AUDIENCE},
        Scope,
    };
    Keys::new(SECRET.as_bytes()).mint(&Claims {
        sub: "root".into(),
        aud: AUDIENCE.into(),
        exp: livedash::server::Clock::system().now_secs() + 600,
        scope: Some(Scope::Admin),
        dashboards: None,
        sid: None,
        auth_time: None,
        iat: None,
        pwd: None,
    })
}

/// Sends `request` from a loopback peer; the status, headers and body.
async fn send(app: &Router, mut request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    // As a client names this server (bound to loopback, it answers only loopback names).
    request.headers_mut().entry(header::HOST).or_insert(header::HeaderValue::from_static("127.0.0.1:3999"));
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path).header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())).unwrap()
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn each_kind_of_route_refuses_a_stranger_in_its_own_way() {
    let (app, state) = app(secured()).await;
    // The API, streams and server functions: 401 in the API's shape.
    for path in ["/api/v1/dashboards", "/api/v1/alerts", "/api/v1/poll/main", "/ws", "/api/list_dashboards"] {
        let (status, headers, body) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer", "{path}");
        assert_eq!(json(&body)["code"], "unauthorized", "{path}");
    }
    // Ingest: refused before the body is read, JSON ingest in the API's shape and line
    // protocol in InfluxDB's.
    let (status, _, body) = send(&app, post("/api/v1/ingest", r#"{"dashboard":"x","metrics":{"a":1}}"#)).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _, body) = send(&app, post("/api/v2/write?bucket=x", "cpu value=1")).await;
    let body = json(&body);
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    assert!(body["message"].is_string(), "InfluxDB's shape: {body}");
    // Pages, known or not: the sign-in form, keeping where the browser was going.
    for (path, next) in [("/d/main?window=1h", "/d/main%3Fwindow%3D1h"), ("/nowhere", "/nowhere")] {
        let (status, headers, _) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], format!("/login?next={next}"));
    }
    // Open: liveness, the sign-in form, `/metrics` from a loopback peer.
    for path in ["/healthz", "/login", "/metrics"] {
        assert_eq!(send(&app, get(path)).await.0, StatusCode::OK, "{path}");
    }
    // Signed in, an unknown API path is a JSON 404, not a page.
    let mut request = get("/api/v1/nothing-here");
    request.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {}", admin_jwt()).parse().unwrap());
    let (status, _, body) = send(&app, request).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    state.shutdown.cancel();
}

#[tokio::test]
async fn a_query_or_path_that_does_not_read_answers_in_the_error_shape_and_is_counted() {
    let (app, state) = app(quiet_settings()).await;
    let (status, _, body) = send(&app, get("/api/v1/dashboards/main/history?metric=x&from=yesterday")).await;
    let body = json(&body);
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("from"), "says what: {body}");
    let (status, _, body) = send(&app, get("/api/v1/dashboards/main/history")).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let expire = Request::builder().method(Method::DELETE).uri("/api/v1/alerts/silences/seven").body(Body::empty());
    let (status, _, body) = send(&app, expire.unwrap()).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (status, _, body) = send(&app, get("/api/v1/poll/main?timeout=soon")).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    // Line protocol keeps InfluxDB's shape for its query too.
    let (status, _, body) = send(&app, post("/api/v2/write?bucket=a&bucket=b", "cpu value=1")).await;
    assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid")));

    let (_, _, metrics) = send(&app, get("/metrics")).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        r#"livedash_errors_total{endpoint="history",code="bad_request"} 2"#,
        r#"livedash_errors_total{endpoint="alerts",code="bad_request"} 1"#,
        r#"livedash_errors_total{endpoint="poll",code="bad_request"} 1"#,
        r#"livedash_errors_total{endpoint="write",code="bad_request"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    state.shutdown.cancel();
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_any_route() {
    let (app, state) = app(quiet_settings()).await;
    for (method, path) in [(Method::POST, "/api/v1/ingest"), (Method::GET, "/ws"), (Method::GET, "/nowhere")] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::from(r#"{"dashboard":"x","metrics":{"a":1}}"#))
            .unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!((status, json(&body)["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{path}");
    }
    // The same request from this server's own origin goes through.
    let own = Request::post("/api/v1/ingest")
        .header(header::ORIGIN, "http://127.0.0.1:3999")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"dashboard":"x","metrics":{"a":1}}"#))
        .unwrap();
    assert_eq!(send(&app, own).await.0, StatusCode::ACCEPTED);
    state.shutdown.cancel();
}

/// The pages' server functions answer at paths fixed by name (`loaders`), not by the folder the
/// build was made in: a page open across a redeploy, or served by an instance built
/// elsewhere, still reaches them.
#[tokio::test]
async fn the_pages_server_functions_answer_at_fixed_paths() {
    let (app, _state) = app(quiet_settings()).await;
    let form = |path: &str, body: &str| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, _, body) = send(&app, form("/api/load_snapshot", "dashboard=nope")).await;
    assert_eq!((status, json(&body)), (StatusCode::OK, serde_json::json!("NotFound")));
    let (status, _, body) = send(&app, form("/api/list_dashboards", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json(&body)["dashboards"].is_array(), "{}", json(&body));
    let (status, _, body) = send(&app, form("/api/store_problem", "")).await;
    assert_eq!((status, json(&body)), (StatusCode::OK, Value::Null));
}
