//! Server-rendered pages carry real data in their first HTML.

mod common;

use common::*;
use livedash::model::format::format_value;
use livedash::protocol::{Format, Snapshot};

async fn page(running: &livedash::server::Running, path: &str) -> (u16, String) {
    let response = reqwest::get(http_url(running, path)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn dashboard_html_contains_the_current_values() {
    let running = start(quiet_settings()).await;
    let body = r#"{"dashboard":"shop","metrics":{"orders":1234,"ratio":0.5}}"#;
    assert_eq!(ingest(&running, body).await.0, 202);
    let snapshot: Snapshot =
        reqwest::get(http_url(&running, "/api/v1/dashboards/shop/snapshot")).await.unwrap().json().await.unwrap();

    let (status, html) = page(&running, "/d/shop").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format_value(1234.0, Format::Decimal, "")), "{html}");
    assert!(html.contains(r#"data-testid="card-orders""#));
    assert!(html.contains(r#"data-testid="chart-ratio""#));
    assert!(html.contains(&format!(r#"data-seq="{}""#, snapshot.seq)));
    assert!(html.contains(">connecting<"), "the badge is honest before the client runs");
    running.shutdown().await;
}

#[tokio::test]
async fn home_lists_dashboards_and_unknown_ones_are_404() {
    let mut settings = quiet_settings();
    settings.simulator = true;
    let running = start(settings).await;
    assert_eq!(ingest(&running, r#"{"dashboard":"shop","metrics":{"x":1}}"#).await.0, 202);
    let (status, html) = page(&running, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"href="/d/main""#) && html.contains(r#"href="/d/shop""#), "{html}");
    assert!(html.contains("Shop (demo)"));
    let (status, html) = page(&running, "/d/nope").await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("Not found"));
    running.shutdown().await;
}
