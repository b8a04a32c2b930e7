//! Secured mode over real sockets (PROTOCOL.md "Auth (version 1.1)"): every read and write
//! checks its credential before any upgrade or body; JWTs, API tokens, the ingest token and
//! sign-in sessions each reach exactly what they cover; a live connection learns who it is,
//! refreshes in flight, and closes with 4001 at expiry or sign-out; sign-in is rate limited.

use crate::common;

use common::*;
use livedash::protocol::{ErrorCode, ServerMessage};
use livedash::server::{
    auth::{
        api_tokens::{sha256_hex, TokenConfig},
        jwt::{Claims, Keys, AUDIENCE},
        patterns::DashboardPatterns,
        users::{hash_password, Role, UserConfig},
        Scope,
    },
    settings::Settings,
    Clock, Running,
};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode,
};

const SECRET: &str = "a test secret of at least thirty-two bytes";
const ALICE_PASSWORD: &str = "alice's correct horse";
const WRITER_TOKEN: &str = "ldt_writer-token-for-shop";
const ADMIN_TOKEN: &str = "ldt_admin-token";

fn patterns(list: &[&str]) -> Option<DashboardPatterns> {
    Some(DashboardPatterns::new(list.iter().map(|p| p.to_string()).collect()))
}

/// A secured server's settings: alice (a viewer of `main`), an admin token, a write token for
/// `shop`, and the ingest token.
fn secured_settings() -> Settings {
    let mut settings = quiet_settings();
    settings.auth_secret = Some(SECRET.into());
    settings.users = vec![UserConfig {
        name: "alice".into(),
        password_hash: hash_password(ALICE_PASSWORD),
        role: Role::Viewer,
        dashboards: patterns(&["main"]),
    }];
    let token = |name: &str, token: &str, scope, dashboards| TokenConfig {
        name: name.into(),
        sha256: sha256_hex(token),
        scope,
        dashboards,
    };
    settings.tokens = vec![
        token("admin", ADMIN_TOKEN, Scope::Admin, None),
        token("shop-writer", WRITER_TOKEN, Scope::Write, patterns(&["shop"])),
    ];
    settings.ingest_token = Some("legacy-ingest-token".into());
    settings
}

/// A secured server with `main`, `host` and `shop` holding one value each.
async fn start_secured(settings: Settings) -> Running {
    let running = start(settings).await;
    declare_dashboards(&running).await;
    running
}

/// `main`, `host` and `shop`, each with a value.
async fn declare_dashboards(running: &Running) {
    for dashboard in ["main", "host", "shop"] {
        let body = format!(r#"{{"dashboard":"{dashboard}","metrics":{{"x":1}}}}"#);
        assert_eq!(post_ingest(running, Some(ADMIN_TOKEN), &body).await.0, 202);
    }
}

fn jwt(sub: &str, scope: Scope, dashboards: &[&str], ttl_secs: u64) -> String {
    Keys::new(SECRET.as_bytes()).mint(&Claims {
        sub: sub.into(),
        aud: AUDIENCE.into(),
        exp: Clock::system().now_secs() + ttl_secs,
        scope: Some(scope),
        dashboards: patterns(dashboards),
        sid: None,
        auth_time: None,
        iat: None,
        pwd: None,
    })
}

async fn post_ingest(running: &Running, bearer: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(http_url(running, "/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

/// A GET with an optional bearer token and cookie, not following redirects.
async fn get(running: &Running, path: &str, bearer: Option<&str>, cookie: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.get(http_url(running, path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Opens `/ws` with a bearer token or cookie: the socket on 101, else the HTTP status.
async fn connect_as(running: &Running, bearer: Option<&str>, cookie: Option<&str>) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/ws", running.addr).into_client_request().unwrap();
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    }
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", HeaderValue::from_str(cookie).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

async fn expect_session(socket: &mut Socket) -> (String, Option<i64>) {
    match next_message(socket).await {
        ServerMessage::Session { user, expires_at } => (user, expires_at),
        other => panic!("expected a session message, got {other:?}"),
    }
}

#[tokio::test]
async fn without_a_credential_nothing_is_read_and_nothing_upgrades() {
    let running = start_secured(secured_settings()).await;
    for path in [
        "/api/v1/dashboards",
        "/api/v1/dashboards/main/snapshot",
        "/api/v1/dashboards/main/history?metric=x",
        "/api/v1/stream/main",
        "/api/v1/poll/main",
        "/api/list_dashboards",
    ] {
        let response = get(&running, path, None, None).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{path}: {body}");
    }
    assert_eq!(connect_as(&running, None, None).await.err(), Some(401), "never a 101");
    // Pages send a browser to the sign-in form, keeping where it was going.
    let page = get(&running, "/d/main?window=1h", None, None).await;
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=/d/main%3Fwindow%3D1h");
    assert_eq!(get(&running, "/", None, None).await.headers()["location"], "/login?next=/");
    // What signing in and orchestrators need stays open.
    assert_eq!(get(&running, "/healthz", None, None).await.status(), 200);
    let form = get(&running, "/login?next=/d/main", None, None).await;
    assert_eq!(form.status(), 200);
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = form.text().await.unwrap();
    assert!(html.contains(r#"<form class="login" method="post" action="/login""#), "{html}");
    assert!(html.contains(r#"name="next" value="/d/main""#), "{html}");
    // Ingest needs a credential before its body is read.
    let (status, body) = post_ingest(&running, None, r#"{"dashboard":"shop","metrics":{"x":2}}"#).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    running.shutdown().await;
}

#[tokio::test]
async fn a_jwt_reaches_exactly_the_dashboards_it_lists() {
    let running = start_secured(secured_settings()).await;
    let token = jwt("bob", Scope::Read, &["main", "ho*"], 600);
    let list: serde_json::Value = get(&running, "/api/v1/dashboards", Some(&token), None).await.json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["main", "host"], "shop is invisible");
    assert_eq!(get(&running, "/api/v1/dashboards/main/snapshot", Some(&token), None).await.status(), 200);
    let refused = get(&running, "/api/v1/dashboards/shop/snapshot", Some(&token), None).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], "forbidden");
    assert_eq!(get(&running, "/api/v1/dashboards/nope/snapshot", Some(&token), None).await.status(), 403);
    // RFC 6750's query parameter, for EventSource and cross-origin WebSockets.
    let path = format!("/api/v1/poll/main?access_token={token}");
    assert_eq!(get(&running, &path, None, None).await.status(), 200);
    // A read token cannot write.
    let (status, _) = post_ingest(&running, Some(&token), r#"{"dashboard":"main","metrics":{"x":2}}"#).await;
    assert_eq!(status, 403);

    let mut socket = connect_as(&running, Some(&token), None).await.unwrap();
    let (user, expires_at) = expect_session(&mut socket).await;
    assert_eq!(user, "bob");
    let expires_at = expires_at.expect("a JWT expires");
    assert!((expires_at - (Clock::system().now_secs() as i64 + 600) * 1000).abs() <= 2000, "{expires_at}");
    send(&mut socket, &subscribe("shop", None)).await;
    expect_error(&mut socket, ErrorCode::Forbidden).await;
    send(&mut socket, &subscribe("main", None)).await;
    assert_eq!(expect_snapshot(&mut socket).await.dashboard, "main", "the connection stayed open");
    running.shutdown().await;
}

/// base64url without padding, for hand-made hostile tokens.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A token with this header and claims, signed HS256 with `secret`.
fn hand_made(header: &str, claims: &str, secret: &[u8]) -> String {
    use hmac::{Mac, SimpleHmac};
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

#[tokio::test]
async fn hostile_tokens_are_refused_and_the_server_keeps_serving() {
    let running = start_secured(secured_settings()).await;
    let exp = Clock::system().now_secs() + 600;
    let claims = format!(r#"{{"sub":"eve","aud":"livedash","exp":{exp},"scope":"admin"}}"#);
    let secret = SECRET.as_bytes();
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
    assert_eq!(
        get(&running, "/api/v1/dashboards", Some(&hand_made(hs256, &claims, secret)), None).await.status(),
        200,
        "the hand-made signature is right, so each refusal below is for its own reason"
    );
    let cases = [
        ("garbage", "not.a.token".to_owned()),
        ("alg none", format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims.as_bytes()))),
        ("RS256 header", hand_made(r#"{"alg":"RS256"}"#, &claims, secret)),
        ("HS512 header", hand_made(r#"{"alg":"HS512"}"#, &claims, secret)),
        ("bad signature", hand_made(hs256, &claims, b"another secret entirely, 32 bytes!")),
        (
            "expired",
            hand_made(hs256, &claims.replace(&exp.to_string(), &(Clock::system().now_secs() - 5).to_string()), secret),
        ),
        ("wrong aud", hand_made(hs256, &claims.replace("livedash", "grafana"), secret)),
        ("exp as a string", hand_made(hs256, &claims.replace(&exp.to_string(), &format!("\"{exp}\"")), secret)),
        ("no sub", hand_made(hs256, &format!(r#"{{"aud":"livedash","exp":{exp}}}"#), secret)),
        ("16 KB", hand_made(hs256, &claims.replace("eve", &"e".repeat(16 * 1024)), secret)),
    ];
    for (case, token) in &cases {
        let response = get(&running, "/api/v1/dashboards", Some(token), None).await;
        assert_eq!(response.status(), 401, "{case}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{case}: {body}");
        assert!(!body["error"].as_str().unwrap().contains(token.as_str()), "{case}: the token is not echoed");
        assert_eq!(connect_as(&running, Some(token), None).await.err(), Some(401), "{case}");
    }
    assert_eq!(get(&running, "/api/v1/dashboards", Some(ADMIN_TOKEN), None).await.status(), 200, "still serving");
    running.shutdown().await;
}

#[tokio::test]
async fn a_connection_closes_with_4001_when_its_token_expires_unless_refreshed() {
    let (running, clock) = common::start_on_manual_clock(secured_settings()).await;
    declare_dashboards(&running).await;
    // Expiring in two seconds of the server's clock: closed within a second of reaching it.
    let mut socket = connect_as(&running, Some(&jwt("bob", Scope::Read, &["main"], 2)), None).await.unwrap();
    let (_, expires_at) = expect_session(&mut socket).await;
    clock.advance(Duration::from_millis((expires_at.unwrap() - clock.now_millis()) as u64));
    let expired = Instant::now();
    let (code, reason) = close_of(&mut socket).await;
    assert_eq!((code, reason.as_str()), (CloseCode::Library(4001), "token expired"));
    assert!(expired.elapsed() < Duration::from_millis(1500), "closed {:?} after expiry", expired.elapsed());

    // A refresh for the same user moves the expiry; one for the old token's narrower grant
    // ends the subscriptions it no longer covers.
    let mut socket = connect_as(&running, Some(&jwt("bob", Scope::Read, &["main", "host"], 2)), None).await.unwrap();
    expect_session(&mut socket).await;
    send(&mut socket, &subscribe("host", None)).await;
    expect_snapshot(&mut socket).await;
    let garbage = livedash::protocol::ClientMessage::Refresh { token: "garbage".into() };
    send(&mut socket, &garbage).await;
    expect_error(&mut socket, ErrorCode::Unauthorized).await;
    let refresh = livedash::protocol::ClientMessage::Refresh { token: jwt("bob", Scope::Read, &["main"], 3600) };
    send(&mut socket, &refresh).await;
    let (user, expires_at) = expect_session(&mut socket).await;
    assert_eq!(user, "bob");
    assert!(expires_at.unwrap() > clock.now_millis() + 3_000_000);
    expect_error(&mut socket, ErrorCode::Forbidden).await;
    clock.advance(Duration::from_millis(2500));
    // Past the old expiry, and past the lease's next look at the clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&mut socket, &livedash::protocol::ClientMessage::Ping { id: 9 }).await;
    assert_eq!(next_message(&mut socket).await, ServerMessage::Pong { id: 9 }, "alive past the old expiry");

    // Another user's token on the same connection: 4500.
    let other = livedash::protocol::ClientMessage::Refresh { token: jwt("mallory", Scope::Admin, &["*"], 3600) };
    send(&mut socket, &other).await;
    assert_eq!(close_of(&mut socket).await.0, CloseCode::Library(4500));
    running.shutdown().await;
}

/// POSTs the sign-in form; the status, `Location` and session cookie (`name=value`).
async fn sign_in(running: &Running, username: &str, password: &str, next: &str) -> (u16, String, Option<String>) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [("username", username), ("password", password), ("next", next)];
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", livedash::model::url::encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = client
        .post(http_url(running, "/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response.headers().get("location").map_or(String::new(), |v| v.to_str().unwrap().to_owned());
    let cookie = response.headers().get_all("set-cookie").iter().find_map(|value| {
        let value = value.to_str().unwrap();
        assert!(value.contains("HttpOnly") && value.contains("SameSite=Lax"), "{value}");
        assert!(!value.contains("Secure"), "plain http without a public https URL: {value}");
        value.split(';').next().filter(|pair| pair.len() > "livedash_session=".len()).map(str::to_owned)
    });
    (status, location, cookie)
}

#[tokio::test]
async fn signing_in_gives_a_session_that_signing_out_ends_everywhere() {
    let _serial = PAGE_RENDERS.lock().await;
    let running = start_secured(secured_settings()).await;
    let (status, _, cookie) = sign_in(&running, "alice", "wrong", "/").await;
    assert_eq!((status, cookie), (401, None));
    let (status, location, cookie) = sign_in(&running, "alice", ALICE_PASSWORD, "/d/main").await;
    assert_eq!((status, location.as_str()), (303, "/d/main"));
    let cookie = cookie.expect("a session cookie");
    let (_, _, second) = sign_in(&running, "alice", ALICE_PASSWORD, "https://evil.example/").await;
    assert_ne!(second.as_deref(), Some(cookie.as_str()), "a fresh session at each sign-in");
    assert_eq!(sign_in(&running, "alice", ALICE_PASSWORD, "//evil.example").await.1, "/", "next stays here");

    // alice sees main only.
    let list: serde_json::Value = get(&running, "/api/v1/dashboards", None, Some(&cookie)).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "main");
    assert_eq!(get(&running, "/d/main", None, Some(&cookie)).await.status(), 200);
    assert_eq!(get(&running, "/d/host", None, Some(&cookie)).await.status(), 403);

    let mut first = connect_as(&running, None, Some(&cookie)).await.unwrap();
    let mut other_tab = connect_as(&running, None, Some(&cookie)).await.unwrap();
    let mut other_session = connect_as(&running, None, second.as_deref()).await.unwrap();
    for socket in [&mut first, &mut other_tab, &mut other_session] {
        assert_eq!(expect_session(socket).await.0, "alice");
    }

    // Signing out closes that session's streams at once, and only that session's.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let started = Instant::now();
    let out = client.post(http_url(&running, "/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!((out.status().as_u16(), out.headers()["location"].to_str().unwrap()), (303, "/login"));
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    for socket in [&mut first, &mut other_tab] {
        assert_eq!(close_of(socket).await, (CloseCode::Library(4001), "signed out".to_owned()));
    }
    assert!(started.elapsed() < Duration::from_secs(1), "at once: {:?}", started.elapsed());
    send(&mut other_session, &subscribe("main", None)).await;
    expect_snapshot(&mut other_session).await;
    // The signed-out cookie is dead, replayed or not.
    assert_eq!(get(&running, "/api/v1/dashboards", None, Some(&cookie)).await.status(), 401);
    assert_eq!(connect_as(&running, None, Some(&cookie)).await.err(), Some(401));
    running.shutdown().await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_user_and_long_passwords_are_not_hashed() {
    let running = start_secured(secured_settings()).await;
    for _ in 0..5 {
        assert_eq!(sign_in(&running, "alice", "guess", "/").await.0, 401);
    }
    let client = reqwest::Client::new();
    let limited = client
        .post(http_url(&running, "/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=alice&password={}&next=/", livedash::model::url::encode_component(ALICE_PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429, "even the right password waits");
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((290..=300).contains(&wait), "{wait}");
    assert!(limited.text().await.unwrap().contains("Too many failed sign-ins"));
    // Other users are not held up; unknown users fail the same way.
    assert_eq!(sign_in(&running, "nobody", "guess", "/").await.0, 401);
    let long = "x".repeat(1025);
    assert_eq!(sign_in(&running, "bob", &long, "/").await.0, 400);
    running.shutdown().await;
}

#[tokio::test]
async fn ingest_applies_only_what_the_credential_covers_and_whole() {
    let running = start_secured(secured_settings()).await;
    let (status, _) = post_ingest(&running, Some(WRITER_TOKEN), r#"{"dashboard":"shop","metrics":{"x":5}}"#).await;
    assert_eq!(status, 202);
    let mixed = r#"[{"dashboard":"shop","metrics":{"x":6}},{"dashboard":"main","metrics":{"x":6}}]"#;
    let (status, body) = post_ingest(&running, Some(WRITER_TOKEN), mixed).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    let shop = get(&running, "/api/v1/dashboards/shop/snapshot", Some(ADMIN_TOKEN), None).await;
    assert_eq!(shop.json::<serde_json::Value>().await.unwrap()["metrics"]["x"], 5.0, "nothing applied");
    // The ingest token still writes anywhere; line protocol takes `Token`.
    let (status, _) =
        post_ingest(&running, Some("legacy-ingest-token"), r#"{"dashboard":"main","metrics":{"x":7}}"#).await;
    assert_eq!(status, 202);
    let write = |token: &'static str| {
        reqwest::Client::new()
            .post(http_url(&running, "/api/v2/write?bucket=shop"))
            .header("authorization", format!("Token {token}"))
            .body("cpu usage=1")
            .send()
    };
    assert_eq!(write(WRITER_TOKEN).await.unwrap().status(), 204);
    let refused = write("wrong").await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], "unauthorized", "InfluxDB's shape");
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_answer_an_admin_or_a_loopback_peer() {
    let running = start_secured(secured_settings()).await;
    // Tests reach the server over loopback: a local Prometheus needs no credential.
    assert_eq!(get(&running, "/metrics", None, None).await.status(), 200);
    assert_eq!(get(&running, "/metrics", Some(ADMIN_TOKEN), None).await.status(), 200);
    // Forwarded by a proxy on this machine (nginx): not a local request.
    let forwarded = reqwest::Client::new()
        .get(http_url(&running, "/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 401);
    // Refusals at the gate are counted like every other error.
    assert_eq!(get(&running, "/api/v1/dashboards", None, None).await.status(), 401);
    let text = get(&running, "/metrics", None, None).await.text().await.unwrap();
    assert!(text.contains(r#"livedash_errors_total{endpoint="auth",code="unauthorized"} 1"#), "{text}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_session_from_one_instance_works_on_another_sharing_the_secret() {
    // One configuration (one password hash), as a deployment's instances share.
    let settings = secured_settings();
    let first = start_secured(settings.clone()).await;
    let second = start_secured(settings).await;
    let (_, _, cookie) = sign_in(&first, "alice", ALICE_PASSWORD, "/").await;
    let cookie = cookie.unwrap();
    assert_eq!(get(&second, "/api/v1/dashboards/main/snapshot", None, Some(&cookie)).await.status(), 200);
    let mut socket = connect_as(&second, None, Some(&cookie)).await.unwrap();
    assert_eq!(expect_session(&mut socket).await.0, "alice");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn signing_out_on_one_instance_ends_the_session_on_every_instance_of_a_deployment() {
    let folder = tempfile::tempdir().unwrap();
    let redis = common::redis::RedisServer::start(folder.path());
    let mut settings = secured_settings();
    settings.redis = Some(livedash::server::settings::Secret::from(redis.url().as_str()));
    let first = start_secured(settings.clone()).await;
    let second = start(settings.clone()).await;
    let (_, _, cookie) = sign_in(&first, "alice", ALICE_PASSWORD, "/").await;
    let cookie = cookie.unwrap();
    let mut on_second = connect_as(&second, None, Some(&cookie)).await.unwrap();
    assert_eq!(expect_session(&mut on_second).await.0, "alice");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let out = client.post(http_url(&first, "/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(close_of(&mut on_second).await, (CloseCode::Library(4001), "signed out".to_owned()));
    assert_eq!(get(&second, "/api/v1/dashboards", None, Some(&cookie)).await.status(), 401);
    // An instance started after the sign-out knows it too.
    let third = start(settings).await;
    let mut refused = 0;
    for _ in 0..50 {
        refused = get(&third, "/api/v1/dashboards", None, Some(&cookie)).await.status().as_u16();
        if refused == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused, 401);
    for running in [first, second, third] {
        running.shutdown().await;
    }
}

#[tokio::test]
async fn behind_an_https_public_url_cookies_are_secure_and_hsts_is_sent() {
    let mut settings = secured_settings();
    settings.public_url = Some(livedash::server::auth::origin::Origin::parse("https://dash.example.com").unwrap());
    let running = start_secured(settings).await;
    assert_eq!(get(&running, "/healthz", None, None).await.headers()["strict-transport-security"], "max-age=31536000");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(http_url(&running, "/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=alice&password={}", livedash::model::url::encode_component(ALICE_PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    // Plain http without a public URL: no HSTS.
    let plain = start_secured(secured_settings()).await;
    assert!(get(&plain, "/healthz", None, None).await.headers().get("strict-transport-security").is_none());
    running.shutdown().await;
    plain.shutdown().await;
}

/// POSTs a form (and a cookie), not following redirects.
async fn post_form(running: &Running, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let body: Vec<String> =
        form.iter().map(|(k, v)| format!("{k}={}", livedash::model::url::encode_component(v))).collect();
    let mut request = client
        .post(http_url(running, path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// The session cookies a response sets, in order, as `name=value`.
fn session_cookies(response: &reqwest::Response) -> Vec<String> {
    let set = response.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned());
    set.filter(|value| value.starts_with("livedash_session="))
        .map(|value| value.split(';').next().unwrap().to_owned())
        .collect()
}

const BOB_PASSWORD: &str = "bob's battery staple";

/// `secured_settings` with bob (a viewer of `main`) too, persisting into `folder`.
fn settings_with_bob(folder: &std::path::Path) -> Settings {
    let mut settings = secured_settings();
    settings.users.push(UserConfig {
        name: "bob".into(),
        password_hash: hash_password(BOB_PASSWORD),
        role: Role::Viewer,
        dashboards: patterns(&["main"]),
    });
    settings.persist = true;
    settings.data = folder.join("livedash.sqlite");
    settings
}

#[tokio::test]
async fn signing_out_or_in_has_the_last_word_on_the_cookie_and_a_sign_out_outlives_every_cookie_of_it() {
    let folder = tempfile::tempdir().unwrap();
    let settings = settings_with_bob(folder.path());
    let (running, clock) = common::start_on_manual_clock(settings.clone()).await;
    declare_dashboards(&running).await;
    let (_, _, alice) = sign_in(&running, "alice", ALICE_PASSWORD, "/").await;
    let alice = alice.unwrap();

    // Older than the renewal age, any request renews it: a renewed cookie exists.
    clock.advance(Duration::from_secs(120));
    let renewing = get(&running, "/api/v1/dashboards", None, Some(&alice)).await;
    let renewed = session_cookies(&renewing).pop().expect("renewed after a minute");
    assert_ne!(renewed, alice);

    // Signing out with the old cookie: the clearing cookie is the only one, not followed by
    // a renewal of the cookie presented.
    let out = post_form(&running, "/logout", &[], Some(&alice)).await;
    assert_eq!(session_cookies(&out), ["livedash_session="], "cleared, and nothing after it");
    // Every cookie of the session is refused, the renewed one too, even past the presented
    // cookie's expiry (a revocation kept only that long would let the renewed one back in).
    clock.advance(Duration::from_secs(7 * 86_400 + 60));
    assert_eq!(get(&running, "/api/v1/dashboards", None, Some(&renewed)).await.status(), 401);

    // Signing in as bob while holding alice's cookie (old enough to renew): bob, not alice.
    let (_, _, alice_again) = sign_in(&running, "alice", ALICE_PASSWORD, "/").await;
    clock.advance(Duration::from_secs(120));
    let as_bob = post_form(
        &running,
        "/login",
        &[("username", "bob"), ("password", BOB_PASSWORD), ("next", "/")],
        alice_again.as_deref(),
    )
    .await;
    let bob = session_cookies(&as_bob).pop().expect("bob's session");
    assert_eq!(session_cookies(&as_bob).len(), 1, "no renewal of alice's after it");
    let mut socket = connect_as(&running, None, Some(&bob)).await.unwrap();
    assert_eq!(expect_session(&mut socket).await.0, "bob");
    running.shutdown().await;

    // A restart keeps the sign-out (the store has it): still refused.
    let running = common::start_on(settings.clone(), &clock).await;
    assert_eq!(get(&running, "/api/v1/dashboards", None, Some(&renewed)).await.status(), 401);
    assert_eq!(get(&running, "/api/v1/dashboards", None, Some(&bob)).await.status(), 200);
    running.shutdown().await;

    // bob's password changed in the configuration: sessions made with the old one end.
    let mut changed = settings;
    changed.users[1].password_hash = hash_password("bob's new password");
    let running = common::start_on(changed, &clock).await;
    let refused = get(&running, "/api/v1/dashboards", None, Some(&bob)).await;
    assert_eq!(refused.status(), 401);
    let refusal: serde_json::Value = refused.json().await.unwrap();
    assert!(refusal["error"].as_str().unwrap().contains("password changed"), "{refusal}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_token_in_a_page_address_does_not_travel_on_to_the_sign_in_form() {
    let running = start_secured(secured_settings()).await;
    let refused = get(&running, "/d/main?window=1h&access_token=ldt_not-a-real-token", None, None).await;
    assert_eq!(refused.status(), 303);
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/login?next="), "{location}");
    assert!(!location.contains("access_token") && !location.contains("ldt_"), "{location}");
    assert!(location.contains("window"), "the rest of the address is kept: {location}");
    running.shutdown().await;
}

#[tokio::test]
async fn only_an_admin_silences_or_acks_and_silences_are_listed_to_those_who_read_them() {
    let running = start_secured(secured_settings()).await;
    let silence = |dashboard: &str| {
        serde_json::json!({
            "matchers": [{"name": "dashboard", "value": dashboard}, {"name": "alertname", "value": "hot"}],
            "endsAt": Clock::system().now_millis() + 60_000,
        })
    };
    let client = reqwest::Client::new();
    let post = async |token: &str, body: serde_json::Value, path: &str| {
        let response = client.post(http_url(&running, path)).bearer_auth(token).json(&body).send().await.unwrap();
        response.status().as_u16()
    };
    // A leaked agent token (write scope) mutes nothing: not its dashboard's alerts, not all.
    assert_eq!(post(WRITER_TOKEN, silence("shop"), "/api/v1/alerts/silences").await, 403);
    let everything = serde_json::json!({"matchers": [{"name": "alertname", "value": "hot"}], "endsAt": Clock::system().now_millis() + 60_000});
    assert_eq!(post(WRITER_TOKEN, everything.clone(), "/api/v1/alerts/silences").await, 403);
    assert_eq!(post("legacy-ingest-token", everything, "/api/v1/alerts/silences").await, 403);
    let ack = serde_json::json!({"dashboard": "shop", "rule": "hot"});
    assert_eq!(post(WRITER_TOKEN, ack, "/api/v1/alerts/acks").await, 403);
    // An admin silences; a viewer of main sees main's silences only.
    assert_eq!(post(ADMIN_TOKEN, silence("shop"), "/api/v1/alerts/silences").await, 201);
    assert_eq!(post(ADMIN_TOKEN, silence("main"), "/api/v1/alerts/silences").await, 201);
    let viewer = jwt("carol", Scope::Read, &["main"], 600);
    let listed: serde_json::Value =
        get(&running, "/api/v1/alerts/silences", Some(&viewer), None).await.json().await.unwrap();
    let dashboards: Vec<&str> =
        listed.as_array().unwrap().iter().map(|s| s["matchers"][0]["value"].as_str().unwrap()).collect();
    assert_eq!(dashboards, ["main"], "{listed}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_secured_server_on_loopback_answers_to_its_public_name_behind_a_proxy() {
    let running = start_secured(secured_settings()).await;
    let port = running.addr.port();
    let as_host = async |host: &str| {
        let url = http_url(&running, "/api/v1/dashboards");
        let request = reqwest::Client::new().get(url).bearer_auth(ADMIN_TOKEN).header("host", host);
        request.header("origin", format!("https://{host}")).send().await.unwrap().status().as_u16()
    };
    // nginx passes the browser's Host: the server is on 127.0.0.1, the name is public.
    assert_eq!(as_host("dash.example.com").await, 200);
    assert_eq!(as_host(&format!("127.0.0.1:{port}")).await, 200);
    running.shutdown().await;

    // With --allowed-hosts given, only those names (and addresses) are answered to.
    let mut settings = secured_settings();
    settings.allowed_hosts = vec!["dash.example.com".into()];
    let running = start_secured(settings).await;
    let status = |host: &'static str| {
        let url = http_url(&running, "/healthz");
        async move { reqwest::Client::new().get(url).header("host", host).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("dash.example.com").await, 200);
    assert_eq!(status("other.example.com").await, 403);
    running.shutdown().await;
}
