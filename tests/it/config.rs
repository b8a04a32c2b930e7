//! The configuration file through the real binary: a bad file stops the server with the file,
//! line and key; a good one shapes the dashboards it serves.

use crate::common;

use common::*;
use livedash::server::settings::Settings;
use std::process::Command;

#[test]
fn the_server_refuses_to_start_half_configured() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("livedash.toml");
    std::fs::write(
        &path,
        "[[dashboards]]\nid = \"shop\"\n\n[[dashboards.metrics]]\nname = \"orders\"\nformat = \"roman\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_livedash"))
        .args(["--addr", "127.0.0.1:0", "--persist", "false"])
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:6:", path.display())), "{stderr}");
    assert!(stderr.contains("roman"), "{stderr}");
}

#[tokio::test]
async fn configured_dashboards_are_served_with_their_definitions() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("livedash.toml");
    std::fs::write(
        &path,
        r#"
[[dashboards]]
id = "shop"
title = "The shop"
sources = ["simulator"]

  [[dashboards.metrics]]
  name = "orders"
  label = "Orders placed"
  chart = "area"

[[dashboards]]
id = "edge"
title = "Edge routers"

  [[dashboards.metrics]]
  name = "rx"
  label = "Received"
  unit = "B/s"
  format = "bytes"
"#,
    )
    .unwrap();
    let mut settings = Settings::load(["livedash", "--config", path.to_str().unwrap()]).unwrap();
    settings.persist = false;
    settings.host_metrics = false;
    let running = start(settings).await;
    let list: serde_json::Value =
        reqwest::get(http_url(&running, "/api/v1/dashboards")).await.unwrap().json().await.unwrap();
    let ids: Vec<_> = list.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shop", "edge"]);
    let shop = &list[0];
    assert_eq!(shop["title"], "The shop");
    assert_eq!(shop["definitions"][0]["name"], "orders", "configured metrics come first");
    assert_eq!(shop["definitions"][0]["label"], "Orders placed");
    assert_eq!(shop["definitions"][0]["chart"], "area");
    assert_eq!(shop["definitions"][0]["format"], "int", "the simulator's format fills the gap");
    assert!(shop["definitions"].as_array().unwrap().len() > 1, "the simulator's other metrics follow");
    assert_eq!(list[1]["definitions"][0]["format"], "bytes");
    assert_eq!(list[1]["definitions"][0]["unit"], "B/s");
    running.shutdown().await;
}

#[test]
fn startup_says_what_was_configured() {
    use std::io::{BufRead, BufReader};
    let folder = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_livedash"))
        .args(["--addr", "127.0.0.1:0", "--simulator", "false", "--host-metrics", "true", "--retain-minutes", "90m"])
        .arg("--data")
        .arg(folder.path().join("livedash.sqlite"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("livedash listening"))
        .collect();
    child.kill().unwrap();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(text.contains("kept 24h per second, 90m per minute, 365d per hour, 1825d per day"), "{text}");
    assert!(text.contains("livedash dashboard: host (host + ingest)"), "{text}");
    assert!(!text.contains("dashboard: main"), "the simulator is off, so main is not served: {text}");
}
