//! Alert delivery against real local receivers: an HTTP server on 127.0.0.1:0 that answers
//! what each test scripts. Retries keep the same id with growing delays, a 4xx is not retried,
//! the body is Alertmanager's webhook payload, resolved follows firing, and a restart in the
//! middle of retrying still delivers exactly once. A repeating rule notifies again while firing
//! until someone acks it; a silence keeps its alerts from receivers until it ends.

use crate::common;

use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use common::*;
use livedash::server::{settings::Settings, Running};
use serde_json::Value;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// What the receiver saw: when, which headers, which body.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    raw: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Receiver {
    /// Statuses to answer, in order; 200 once they run out.
    script: Arc<Mutex<VecDeque<u16>>>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let receiver =
            Receiver { script: Arc::new(Mutex::new(script.iter().copied().collect())), ..Default::default() };
        async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
            let parsed = serde_json::from_str(&body).unwrap_or(Value::Null);
            receiver.seen.lock().unwrap().push(Received { at: Instant::now(), headers, raw: body, body: parsed });
            let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
            StatusCode::from_u16(status).unwrap()
        }
        let app = Router::new().route("/hook", post(hook)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived.
    async fn until(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(Instant::now() < deadline, "only {} of {count} requests arrived", seen.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn settings(folder: &std::path::Path, url: &str) -> Settings {
    settings_with(folder, url, "")
}

/// `settings` with more keys on the rule.
fn settings_with(folder: &std::path::Path, url: &str, rule: &str) -> Settings {
    let text = format!(
        r#"
[[alerts]]
name = "hot_cpu"
dashboard = "servers"
metric = "cpu"
crit = {{ above = 85, clear = 75 }}
{rule}
labels = {{ team = "infra" }}
summary = "CPU {{{{value}}}}% above {{{{threshold}}}}%"

[[receivers]]
name = "ops-hook"
kind = "webhook"
url = "{url}"
severities = ["critical"]
secret = "hook-secret"
"#
    );
    alerting_settings(folder, &text, Duration::from_millis(300))
}

async fn cpu(running: &Running, value: f64) {
    push_metric(running, "servers", "cpu", value).await;
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received.headers.get(name).map_or("", |value| value.to_str().unwrap())
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_one_id_and_growing_delays_and_alertmanagers_payload() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[500, 500, 200]).await;
    let running = start(settings(folder.path(), &url)).await;
    cpu(&running, 50.0).await;
    cpu(&running, 91.5).await;
    let seen = receiver.until(3).await;
    let key = header(&seen[0], "idempotency-key");
    assert!(key.starts_with("livedash-servers-"), "{key}");
    for attempt in &seen {
        assert_eq!(header(attempt, "idempotency-key"), key);
        assert_eq!(header(attempt, "webhook-id"), key);
        assert_eq!(attempt.body, seen[0].body, "the same body every time");
    }
    let (first, second) = (seen[1].at - seen[0].at, seen[2].at - seen[1].at);
    // Backoff 150-300 ms, then 300-600 ms.
    assert!(first >= Duration::from_millis(140) && second > first, "{first:?} then {second:?}");

    let body = &seen[0].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "ops-hook");
    assert_eq!(body["groupKey"], r#"{}:{alertname="hot_cpu", dashboard="servers"}"#);
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "hot_cpu");
    assert_eq!(alert["labels"]["dashboard"], "servers");
    assert_eq!(alert["labels"]["metric"], "cpu");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["team"], "infra");
    assert_eq!(alert["annotations"]["summary"], "CPU 91.5% above 85%");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(alert["startsAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(alert["generatorURL"], format!("http://{}/d/servers", running.addr));
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    // The signature is the HMAC of the body with the receiver's secret.
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(seen[0].raw.as_bytes());
    assert_eq!(
        header(&seen[0], "x-livedash-signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );

    // Visible in the API once delivered.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, deliveries) = get_json(http_url(&running, "/api/v1/alerts/deliveries")).await;
        if deliveries[0]["status"] == "delivered" {
            assert_eq!(deliveries[0]["attempts"], 3);
            assert_eq!(deliveries[0]["rule"], "hot_cpu");
            break;
        }
        assert!(Instant::now() < deadline, "{deliveries}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Resolved follows, with its end time.
    cpu(&running, 10.0).await;
    let seen = receiver.until(4).await;
    assert_eq!(seen[3].body["status"], "resolved");
    assert_ne!(seen[3].body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_ne!(header(&seen[3], "idempotency-key"), key, "another change, another id");
    running.shutdown().await;
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_shows_as_failed() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[400]).await;
    let (running, clock) = start_on_manual_clock(quick_polls(settings(folder.path(), &url))).await;
    cpu(&running, 99.0).await;
    receiver.until(1).await;
    let failed = latest_delivery(&running, "failed").await;
    assert!(failed["lastError"].as_str().unwrap().contains("400"), "{failed}");
    // Long past when a retry would have come, and a few polls later: nothing more.
    clock.advance(Duration::from_secs(60));
    tokio::time::sleep(QUICK_POLL * 4).await;
    assert_eq!(receiver.seen().len(), 1, "one attempt only");
    running.shutdown().await;
}

/// How often the tests on a manual clock have the outbox looked at (`--alert-poll-ms`).
const QUICK_POLL: Duration = Duration::from_millis(50);

fn quick_polls(mut settings: Settings) -> Settings {
    settings.delivery.poll = QUICK_POLL;
    settings
}

#[tokio::test]
async fn a_restart_in_the_middle_of_retrying_still_delivers_once() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[503]).await;
    let mut config = quick_polls(settings(folder.path(), &url));
    // The retry is due after the restart: once the clock is moved past it.
    config.delivery.retry_min = Duration::from_secs(60);
    let (running, clock) = start_on_manual_clock(config.clone()).await;
    cpu(&running, 99.0).await;
    receiver.until(1).await;
    latest_delivery_where(&running, |delivery| delivery["attempts"] == 1).await;
    running.shutdown().await;

    let running = start_on(config, &clock).await;
    tokio::time::sleep(QUICK_POLL * 4).await;
    assert_eq!(receiver.seen().len(), 1, "not before it is due");
    clock.advance(Duration::from_secs(60));
    let seen = receiver.until(2).await;
    assert_eq!(header(&seen[1], "idempotency-key"), header(&seen[0], "idempotency-key"));
    clock.advance(Duration::from_secs(600));
    tokio::time::sleep(QUICK_POLL * 4).await;
    assert_eq!(receiver.seen().len(), 2, "delivered once, nothing replayed after the restart");
    running.shutdown().await;
}

/// POSTs (or DELETEs, with `body` None) JSON: the status and the JSON answer.
async fn send_json(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
}

/// Waits until the latest delivery has `status`.
async fn latest_delivery(running: &Running, status: &str) -> Value {
    latest_delivery_where(running, |delivery| delivery["status"] == status).await
}

/// Waits until the latest delivery is as `wanted`.
async fn latest_delivery_where(running: &Running, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, deliveries) = get_json(http_url(running, "/api/v1/alerts/deliveries")).await;
        if wanted(&deliveries[0]) {
            return deliveries[0].clone();
        }
        assert!(Instant::now() < deadline, "{deliveries}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_repeating_alert_notifies_again_until_acked_and_a_silence_holds_notifications_until_it_ends() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[]).await;
    let config = quick_polls(settings_with(folder.path(), &url, r#"repeat = "1s""#));
    let (running, clock) = start_on_manual_clock(config).await;
    let ack_url = http_url(&running, "/api/v1/alerts/acks");
    cpu(&running, 50.0).await;
    let (status, refused) = send_json(
        reqwest::Method::POST,
        ack_url.clone(),
        Some(serde_json::json!({"dashboard": "servers", "rule": "hot_cpu"})),
    )
    .await;
    assert_eq!((status, refused["code"].as_str()), (404, Some("not_found")), "nothing to ack yet: {refused}");

    cpu(&running, 99.0).await;
    receiver.until(1).await;
    tokio::time::sleep(QUICK_POLL * 4).await;
    assert_eq!(receiver.seen().len(), 1, "not again before a second has passed");
    clock.advance(Duration::from_secs(1));
    let seen = receiver.until(2).await;
    let key = header(&seen[0], "idempotency-key").to_owned();
    assert_eq!(header(&seen[1], "idempotency-key"), format!("{key}-repeat-1"));
    assert_eq!(seen[1].body["status"], "firing");

    let ack = serde_json::json!({"dashboard": "servers", "rule": "hot_cpu", "comment": "on it"});
    let (status, acked) = send_json(reqwest::Method::POST, ack_url, Some(ack)).await;
    assert_eq!(status, 201, "{acked}");
    assert_eq!(acked["by"], "anonymous");
    let (_, active) = get_json(http_url(&running, "/api/v1/alerts")).await;
    assert_eq!(active["servers"][0]["acked"]["comment"], "on it", "{active}");
    let after_ack = receiver.seen().len();
    clock.advance(Duration::from_millis(2500));
    tokio::time::sleep(QUICK_POLL * 4).await;
    assert_eq!(receiver.seen().len(), after_ack, "no repeat once acked");

    // A silence on the rule: the resolve is recorded as silenced, not sent.
    let silences = http_url(&running, "/api/v1/alerts/silences");
    let (status, bad) =
        send_json(reqwest::Method::POST, silences.clone(), Some(serde_json::json!({"matchers": [], "endsAt": 1})))
            .await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("bad_request")), "{bad}");
    let ends_at = clock.now_millis() + 60_000;
    let silence = serde_json::json!({
        "matchers": [{"name": "alertname", "value": "hot_cpu"}, {"name": "dashboard", "value": "servers"}],
        "endsAt": ends_at,
        "comment": "maintenance",
    });
    let (status, made) = send_json(reqwest::Method::POST, silences.clone(), Some(silence)).await;
    assert_eq!(status, 201, "{made}");
    let (_, listed) = get_json(silences.clone()).await;
    assert_eq!(listed[0]["comment"], "maintenance");
    assert_eq!(listed[0]["createdBy"], "anonymous");
    let (_, active) = get_json(http_url(&running, "/api/v1/alerts")).await;
    assert_eq!(active["servers"][0]["silencedBy"], serde_json::json!([made["id"]]), "{active}");
    let before = receiver.seen().len();
    cpu(&running, 10.0).await;
    let silenced = latest_delivery(&running, "silenced").await;
    assert_eq!(silenced["state"], "resolved");

    // Expired: the next firing is sent again.
    let (status, expired) = send_json(reqwest::Method::DELETE, format!("{silences}/{}", made["id"]), None).await;
    assert_eq!(status, 200, "{expired}");
    assert!(expired["endsAt"].as_i64().unwrap() < ends_at);
    cpu(&running, 99.0).await;
    let seen = receiver.until(before + 1).await;
    assert_eq!(seen[before].body["status"], "firing");
    assert_eq!(receiver.seen().len(), before + 1, "the silenced resolve was never sent");
    running.shutdown().await;
}

/// How long an instance keeps deciding a dashboard's alerts without renewing (`--alert-lease-ms`).
const ALERT_LEASE: Duration = Duration::from_secs(2);

/// Two instances sharing a Redis (all in `folder`), with `settings`, their alert leases taken.
async fn deployment(folder: &std::path::Path, url: &str) -> (common::redis::RedisServer, Vec<Running>) {
    let redis = common::redis::RedisServer::start(folder);
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        let mut settings = settings(&folder.join(name), url);
        settings.redis = Some(livedash::server::settings::Secret::from(redis.url().as_str()));
        // Renewed every second (the alert tick); a dead holder's lease runs out in two.
        settings.redis_timing.alert_lease = ALERT_LEASE;
        instances.push(start(settings).await);
    }
    // Leases are taken on the first ticks.
    cpu(&instances[0], 50.0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (redis, instances)
}

#[tokio::test]
async fn with_several_instances_one_decides_and_each_change_is_delivered_once_even_when_it_dies() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[]).await;
    let (_redis, mut instances) = deployment(folder.path(), &url).await;
    for (i, value) in [60.0, 91.0, 92.0, 93.0].into_iter().enumerate() {
        cpu(&instances[i % 2], value).await;
    }
    let firing = receiver.until(1).await;
    assert_eq!(firing[0].body["status"], "firing");
    for running in &instances {
        let (_, active) = get_json(http_url(running, "/api/v1/alerts")).await;
        assert_eq!(active["servers"][0]["rule"], "hot_cpu", "every instance shows it: {active}");
    }
    for (i, value) in [70.0, 60.0].into_iter().enumerate() {
        cpu(&instances[i % 2], value).await;
    }
    let seen = receiver.until(2).await;
    assert_eq!(seen[1].body["status"], "resolved");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.seen().len(), 2, "once each, not once per instance");

    // The instance that delivered goes away; the other decides from then on.
    let mut delivered_by = None;
    for (index, running) in instances.iter().enumerate() {
        let (_, deliveries) = get_json(http_url(running, "/api/v1/alerts/deliveries")).await;
        if !deliveries.as_array().unwrap().is_empty() {
            delivered_by = Some(index);
        }
    }
    let gone = instances.remove(delivered_by.expect("one instance delivered"));
    gone.shutdown().await;
    tokio::time::sleep(ALERT_LEASE + Duration::from_millis(500)).await;
    let survivor = &instances[0];
    cpu(survivor, 95.0).await;
    let seen = receiver.until(3).await;
    assert_eq!(seen[2].body["status"], "firing");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.seen().len(), 3);
}

#[tokio::test]
async fn with_several_instances_a_silence_or_ack_made_through_any_instance_holds_on_all() {
    let folder = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[]).await;
    let (_redis, instances) = deployment(folder.path(), &url).await;
    // Through each instance, one silence: whichever decides honours both, and ids never clash.
    let mut ids = Vec::new();
    for (i, running) in instances.iter().enumerate() {
        let silence = serde_json::json!({
            "matchers": [{"name": "alertname", "value": "hot_cpu"}],
            "endsAt": livedash::server::Clock::system().now_millis() + 60_000,
            "comment": format!("made through instance {i}"),
        });
        let (status, made) =
            send_json(reqwest::Method::POST, http_url(running, "/api/v1/alerts/silences"), Some(silence)).await;
        assert_eq!(status, 201, "{made}");
        ids.push(made["id"].as_i64().unwrap());
    }
    assert_ne!(ids[0], ids[1]);
    for running in &instances {
        let listed = async || get_json(http_url(running, "/api/v1/alerts/silences")).await.1;
        let deadline = Instant::now() + Duration::from_secs(5);
        while listed().await.as_array().unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "both silences on every instance: {}", listed().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cpu(&instances[1], 99.0).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    'silenced: loop {
        for running in &instances {
            let (_, deliveries) = get_json(http_url(running, "/api/v1/alerts/deliveries")).await;
            if deliveries.as_array().unwrap().iter().any(|delivery| delivery["status"] == "silenced") {
                break 'silenced;
            }
        }
        assert!(Instant::now() < deadline, "the firing recorded as silenced by the instance deciding");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An ack through one instance shows on the other.
    let ack = serde_json::json!({"dashboard": "servers", "rule": "hot_cpu", "comment": "on it"});
    let (status, acked) =
        send_json(reqwest::Method::POST, http_url(&instances[0], "/api/v1/alerts/acks"), Some(ack)).await;
    assert_eq!(status, 201, "{acked}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, active) = get_json(http_url(&instances[1], "/api/v1/alerts")).await;
        if active["servers"][0]["acked"]["comment"] == "on it" {
            break;
        }
        assert!(Instant::now() < deadline, "the ack reaches the other instance: {active}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.seen().is_empty(), "nothing sent while silenced");
}

#[tokio::test]
async fn a_failed_delivery_is_described_by_kind_never_with_its_url() {
    let folder = tempfile::tempdir().unwrap();
    // A webhook URL is itself a secret (Slack's, Discord's), and may carry a password.
    let url = "http://ops:hunter2@livedash-test.invalid/hooks/T0SECRET";
    let (running, _clock) = start_on_manual_clock(quick_polls(settings(folder.path(), url))).await;
    let (logs, logging) = capture_logs();
    cpu(&running, 99.0).await;
    let tried = latest_delivery_where(&running, |delivery| delivery["attempts"].as_i64() >= Some(1)).await;
    drop(logging);
    let said = tried["lastError"].as_str().unwrap();
    // What a resolver without an answer says (".invalid" never resolves); a slow one times out.
    let kinds = ["the receiver's host name does not resolve", "no answer in time"];
    assert!(kinds.contains(&said), "described by kind: {tried}");
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("alert delivery not done"), "the failure is logged: {logged}");
    for secret in ["hunter2", "T0SECRET", "livedash-test.invalid"] {
        assert!(!tried.to_string().contains(secret), "not in the API: {tried}");
        assert!(!logged.contains(secret), "not in the log: {logged}");
    }
    running.shutdown().await;
}
