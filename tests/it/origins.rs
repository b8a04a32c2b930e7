//! Origins and hosts over real sockets (PROTOCOL.md "Auth"): a foreign or look-alike Origin is
//! refused with 403 before any upgrade or body, so is a DNS-rebound Host when the server is
//! bound to loopback, and a cross-site write; the server's own origin, listed origins and
//! clients that send no Origin (agents, curl) pass.

use crate::common;

use common::*;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

/// POSTs one ingest item with `headers`; the status.
async fn post_with(running: &livedash::server::Running, headers: &[(&str, String)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(http_url(running, "/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(r#"{"dashboard":"shop","metrics":{"x":1}}"#);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Opens `/ws` with `headers`: `Ok` on 101, else the HTTP status.
async fn upgrade_with(running: &livedash::server::Running, headers: &[(&str, String)]) -> Result<(), u16> {
    let mut request = format!("ws://{}/ws", running.addr).into_client_request().unwrap();
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().unwrap();
        request.headers_mut().insert(name, HeaderValue::from_str(value).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn foreign_origins_and_rebound_hosts_are_refused_before_anything_happens() {
    let running = start(quiet_settings()).await;
    let own = format!("http://{}", running.addr);
    let port = running.addr.port();

    // Agents and curl send no Origin; the page sends its own.
    assert_eq!(post_with(&running, &[]).await, 202);
    assert_eq!(post_with(&running, &[("origin", own.clone())]).await, 202);
    assert_eq!(
        post_with(&running, &[("host", format!("localhost:{port}")), ("origin", format!("http://LocalHost:{port}"))])
            .await,
        202
    );
    assert_eq!(upgrade_with(&running, &[("origin", own.clone())]).await, Ok(()));

    let foreign = [
        "http://evil.example".to_owned(),
        "null".to_owned(),
        format!("http://127.0.0.1.evil.example:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
    ];
    for origin in &foreign {
        assert_eq!(post_with(&running, &[("origin", origin.clone())]).await, 403, "{origin}");
        assert_eq!(upgrade_with(&running, &[("origin", origin.clone())]).await, Err(403), "{origin}: no 101");
    }
    // A page on a rebound name reaches 127.0.0.1 with the attacker's Host.
    let rebound = format!("rebind.evil.example:{port}");
    assert_eq!(post_with(&running, &[("host", rebound.clone())]).await, 403);
    let (status, page) = {
        let response =
            reqwest::Client::new().get(http_url(&running, "/d/main")).header("host", rebound).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 403);
    assert!(page.contains("forbidden") && page.contains("Host"), "{page}");
    // A cross-site form post carries no Origin in old browsers, but says it is cross-site.
    assert_eq!(post_with(&running, &[("sec-fetch-site", "cross-site".into())]).await, 403);

    // Nothing refused was applied: only the three accepted posts made updates.
    assert_eq!(snapshot(&running, "shop").await["seq"], 3);
    assert!(metric(&running, "livedash_errors_total{endpoint=\"origin\",code=\"forbidden\"}").await >= 1.0);
    running.shutdown().await;
}

#[tokio::test]
async fn allowed_origins_pass_and_only_known_hosts_are_served_without_sign_in_off_loopback() {
    let mut settings = quiet_settings();
    settings.allowed_origins = vec![livedash::server::auth::origin::Origin::parse("https://dash.example.com").unwrap()];
    let running = start(settings).await;
    assert_eq!(post_with(&running, &[("origin", "https://dash.example.com".into())]).await, 202);
    assert_eq!(upgrade_with(&running, &[("origin", "https://dash.example.com".into())]).await, Ok(()));
    assert_eq!(post_with(&running, &[("origin", "https://dash.example.com.evil".into())]).await, 403);
    running.shutdown().await;

    // Open on every address (`--insecure-open`): by its addresses and the names it was given,
    // never by a name a page elsewhere could rebind to it.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = quiet_settings();
    settings.insecure_open = true;
    settings.allowed_hosts = vec!["dash.internal".into()];
    let running = livedash::server::start(settings, listener).await.unwrap();
    let status_as = async |host: String| {
        let url = format!("http://127.0.0.1:{port}/healthz");
        reqwest::Client::new().get(url).header("host", host).send().await.unwrap().status().as_u16()
    };
    assert_eq!(status_as(format!("dash.internal:{port}")).await, 200);
    assert_eq!(status_as(format!("192.0.2.7:{port}")).await, 200, "an address: nothing to rebind");
    assert_eq!(status_as(format!("rebind.evil.example:{port}")).await, 403);
    running.shutdown().await;
}
