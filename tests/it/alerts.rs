//! Alert rules over real sockets (PROTOCOL.md "Alerts (version 1.1)"): a value crossing a
//! threshold changes the rule's state inside the very update that carried it, so a subscriber
//! sees it in order, a client resuming across the crossing gets it in the replay, snapshots list
//! what is active, flapping notifies once, silence becomes `nodata`, and a restart keeps it all.

use crate::common;

use common::*;
use livedash::protocol::{AlertPhase, Position, Severity, Update};
use livedash::server::settings::{file, Settings};

const RULES: &str = r#"
[[alerts]]
name = "hot_cpu"
dashboard = "servers"
metric = "cpu"
warn = { above = 70, clear = 60 }
crit = { above = 85, clear = 75 }
summary = "CPU {{value}}% above {{threshold}}%"

[[alerts]]
name = "silent"
dashboard = "servers"
metric = "heartbeat"
crit = { below = 1 }
no_data = "1s"
"#;

fn with_rules(mut settings: Settings) -> Settings {
    settings.alerts = file::parse(RULES, "rules.toml").unwrap().alerts;
    settings
}

async fn put(running: &livedash::server::Running, metric: &str, value: f64) {
    push_metric(running, "servers", metric, value).await;
}

/// The (state, severity) changes of one update.
fn changes(update: &Update) -> Vec<(AlertPhase, Severity)> {
    update.alerts.iter().map(|change| (change.state, change.severity)).collect()
}

#[tokio::test]
async fn a_crossing_changes_state_in_the_update_that_caused_it_and_resumes_with_it() {
    let running = start(with_rules(quiet_settings())).await;
    put(&running, "cpu", 50.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("servers", None)).await;
    let before = expect_snapshot(&mut socket).await;
    assert!(before.alerts.is_empty());

    for (value, expected) in [
        (65.0, vec![]),
        (72.0, vec![(AlertPhase::Firing, Severity::Warning)]),
        (90.0, vec![(AlertPhase::Firing, Severity::Critical)]),
        (80.0, vec![]),
        (74.0, vec![(AlertPhase::Firing, Severity::Warning)]),
        (40.0, vec![(AlertPhase::Resolved, Severity::Warning)]),
    ] {
        put(&running, "cpu", value).await;
        let update = expect_update(&mut socket).await;
        assert_eq!(update.metrics["cpu"], value);
        assert_eq!(changes(&update), expected, "at {value}");
    }

    // A client that was away across the crossings gets them in the replay, in order.
    let mut late = connect(&running).await;
    send(&mut late, &subscribe("servers", Some(before.position()))).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(changes(&expect_update(&mut late).await));
    }
    assert_eq!(seen.concat().len(), 4);
    assert_eq!(seen[2], vec![(AlertPhase::Firing, Severity::Critical)]);
    running.shutdown().await;
}

#[tokio::test]
async fn snapshots_list_what_is_active_and_flapping_notifies_once() {
    let running = start(with_rules(quiet_settings())).await;
    for value in [84.0, 86.0, 84.0, 86.0, 84.0, 86.0] {
        put(&running, "cpu", value).await;
    }
    let snapshot = snapshot(&running, "servers").await;
    let alerts = snapshot["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{snapshot}");
    assert_eq!(alerts[0]["rule"], "hot_cpu");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(alerts[0]["threshold"], 85.0);
    assert_eq!(alerts[0]["message"], "CPU 86% above 85%");

    let mut socket = connect(&running).await;
    let start = Position { epoch: snapshot["epoch"].as_str().unwrap().into(), seq: 0 };
    send(&mut socket, &subscribe("servers", Some(start))).await;
    let mut firings = 0;
    for _ in 0..6 {
        let update = expect_update(&mut socket).await;
        firings += update.alerts.iter().filter(|change| change.state == AlertPhase::Firing).count();
    }
    // 84 warns (above 70); 86 goes critical and 84 stays inside critical's band (clear 75).
    assert_eq!(firings, 2, "warning once, critical once, no flapping");
    running.shutdown().await;
}

#[tokio::test]
async fn silence_becomes_nodata_in_an_update_without_values() {
    let running = start(with_rules(quiet_settings())).await;
    put(&running, "heartbeat", 5.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("servers", None)).await;
    expect_snapshot(&mut socket).await;
    let update = tokio::time::timeout(std::time::Duration::from_secs(4), expect_update(&mut socket)).await.unwrap();
    assert!(update.metrics.is_empty(), "{update:?}");
    assert_eq!(update.alerts.len(), 1);
    assert_eq!((update.alerts[0].rule.as_str(), update.alerts[0].state), ("silent", AlertPhase::NoData));
    assert_eq!(update.alerts[0].value, None);
    // Values again: the no-data state ends.
    put(&running, "heartbeat", 5.0).await;
    let back = expect_update(&mut socket).await;
    assert_eq!(changes(&back), vec![(AlertPhase::Resolved, Severity::Critical)]);
    running.shutdown().await;
}

#[tokio::test]
async fn a_restart_keeps_the_alert_state() {
    let folder = tempfile::tempdir().unwrap();
    let running = start(with_rules(persisted_settings(folder.path()))).await;
    put(&running, "cpu", 95.0).await;
    running.shutdown().await;

    let running = start(with_rules(persisted_settings(folder.path()))).await;
    let snapshot = snapshot(&running, "servers").await;
    assert_eq!(snapshot["alerts"][0]["state"], "firing", "{snapshot}");
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("servers", None)).await;
    expect_snapshot(&mut socket).await;
    // Still firing, so 90 changes nothing and 10 resolves it.
    put(&running, "cpu", 90.0).await;
    assert!(expect_update(&mut socket).await.alerts.is_empty());
    put(&running, "cpu", 10.0).await;
    assert_eq!(changes(&expect_update(&mut socket).await), vec![(AlertPhase::Resolved, Severity::Critical)]);
    // The history holds both changes, across the restart.
    let (status, history) = get_json(http_url(&running, "/api/v1/alerts/history?dashboard=servers")).await;
    assert_eq!(status, 200, "{history}");
    let states: Vec<&str> = history.as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["firing", "resolved"]);
    assert!(history[0]["ts"].as_i64().unwrap() <= history[1]["ts"].as_i64().unwrap(), "{history}");
    let (_, rules) = get_json(http_url(&running, "/api/v1/alerts/rules")).await;
    assert_eq!(rules[0]["crit"]["clear"], 75.0);
    running.shutdown().await;
}

#[tokio::test]
async fn an_alert_that_fired_before_the_retained_log_is_still_firing_since_then_after_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let mut settings = with_rules(persisted_settings(folder.path()));
    settings.replay_capacity = 4;
    let running = start(settings.clone()).await;
    put(&running, "cpu", 95.0).await;
    let fired = snapshot(&running, "servers").await["alerts"][0].clone();
    // Ten more updates, still firing: the firing change leaves the retained log.
    for _ in 0..10 {
        put(&running, "cpu", 96.0).await;
    }
    running.shutdown().await;

    let running = start(settings).await;
    let after = snapshot(&running, "servers").await["alerts"][0].clone();
    assert_eq!(
        (after["state"].as_str(), after["since"].as_i64()),
        (Some("firing"), fired["since"].as_i64()),
        "{after}"
    );
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("servers", None)).await;
    expect_snapshot(&mut socket).await;
    put(&running, "cpu", 97.0).await;
    assert!(expect_update(&mut socket).await.alerts.is_empty(), "no second firing");
    put(&running, "cpu", 10.0).await;
    assert_eq!(changes(&expect_update(&mut socket).await), vec![(AlertPhase::Resolved, Severity::Critical)]);
    running.shutdown().await;
}

/// Revenue at `ts` (ms since the epoch), as its producer timestamped it.
async fn revenue_at(running: &livedash::server::Running, ts: i64, value: f64) {
    let body = format!(r#"{{"dashboard":"shop","ts":{ts},"metrics":{{"revenue":{value}}}}}"#);
    let (status, answer) = ingest(running, &body).await;
    assert_eq!(status, 202, "{answer}");
}

#[tokio::test]
async fn a_change_rule_fires_on_window_averages_gives_nodata_without_a_baseline_and_keeps_it_across_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let rule = r#"
[[alerts]]
name = "revenue_drop"
dashboard = "shop"
metric = "revenue"
crit = { change_below = 0.5, clear = 0.6, window = "1m", versus = "10m" }
"#;
    let mut settings = persisted_settings(folder.path());
    settings.alerts = file::parse(rule, "rules.toml").unwrap().alerts;
    // A log shorter than the baseline: after the restart it must come from the history tiers.
    settings.replay_capacity = 8;
    let running = start(settings.clone()).await;
    let t0 = livedash::server::Clock::system().now_millis() - 20 * 60_000;
    revenue_at(&running, t0, 100.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!(snapshot.alerts.len(), 1, "no baseline yet: nodata");
    assert_eq!(snapshot.alerts[0].state, AlertPhase::NoData);
    assert_eq!(snapshot.alerts[0].message, "revenue: no baseline to compare with");

    // Ten minutes of 100 every 10 s: no baseline ten minutes back yet, so nothing new.
    for step in 1..60 {
        revenue_at(&running, t0 + step * 10_000, 100.0).await;
        assert!(expect_update(&mut socket).await.alerts.is_empty(), "step {step}");
    }
    // Ten minutes after the first value there is a baseline: the ratio is 1, the nodata ends.
    revenue_at(&running, t0 + 600_000, 100.0).await;
    let back = expect_update(&mut socket).await;
    assert_eq!(changes(&back), vec![(AlertPhase::Resolved, Severity::Critical)]);
    revenue_at(&running, t0 + 610_000, 100.0).await;
    assert!(expect_update(&mut socket).await.alerts.is_empty());
    // One zero among a minute of 100s: an average, not a point, so nothing.
    revenue_at(&running, t0 + 615_000, 0.0).await;
    assert!(expect_update(&mut socket).await.alerts.is_empty());
    // Then revenue drops to 30: the one-minute average falls below half of ten minutes ago.
    let mut fired = None;
    for step in 0..8 {
        revenue_at(&running, t0 + 620_000 + step * 10_000, 30.0).await;
        let update = expect_update(&mut socket).await;
        if let Some(change) = update.alerts.first() {
            fired = Some(change.clone());
            break;
        }
    }
    let fired = fired.expect("the drop fires");
    assert_eq!((fired.state, fired.severity, fired.threshold), (AlertPhase::Firing, Severity::Critical, Some(0.5)));
    assert!(fired.value.unwrap() < 0.5, "{fired:?}");
    assert!(fired.message.starts_with("revenue: 1m average at "), "{}", fired.message);
    let last = t0 + 700_000;
    revenue_at(&running, last, 30.0).await;
    running.shutdown().await;

    // After a restart the baseline comes from the history store: still firing, no nodata.
    let running = start(settings).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", None)).await;
    let snapshot = expect_snapshot(&mut socket).await;
    assert_eq!(snapshot.alerts.iter().map(|a| a.state).collect::<Vec<_>>(), vec![AlertPhase::Firing]);
    revenue_at(&running, last + 10_000, 30.0).await;
    let update = expect_update(&mut socket).await;
    assert!(update.alerts.is_empty(), "still firing, with a baseline: {:?}", update.alerts);
    // Back to 100: the average climbs past the clear ratio and it resolves.
    let mut resolved = false;
    for step in 2..12 {
        revenue_at(&running, last + step * 10_000, 100.0).await;
        if changes(&expect_update(&mut socket).await) == vec![(AlertPhase::Resolved, Severity::Critical)] {
            resolved = true;
            break;
        }
    }
    assert!(resolved, "the recovery resolves it");
    running.shutdown().await;
}
