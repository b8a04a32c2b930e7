//! Delivering alert changes to receivers: once per change per receiver, never lost.
//!
//! ```text
//! store writer: update + its alert_events rows, one transaction
//!   └─> fan_out: new events (after alert_cursor) -> alert_deliveries rows, cursor moved, one transaction
//!         └─> send: due rows -> POST (Alertmanager's webhook payload) -> delivered | retry later | failed
//! ```
//!
//! Everything is in the history store's SQLite file, so a restart or `kill -9` mid-retry picks
//! up where it was; the `Idempotency-Key`/`webhook-id` of a change is the same on every attempt,
//! so a receiver can drop a repeat (sent if the process died between the answer and recording
//! it). Retries: on 5xx, 429, timeouts and refused connections, with exponential backoff and
//! jitter from `--alert-retry-min-ms` (doubling, at most 5 minutes, at least `Retry-After`), for
//! a day; any other 4xx fails at once. Notified: `firing` (and escalation), and `resolved` of
//! an alert that fired, when the receiver lists the severity (and `send_resolved`).

use super::{receivers::ReceiverConfig, rules::AlertRule};
use crate::protocol::{AlertChange, AlertPhase, Millis};
use crate::server::now_millis;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// How long a delivery is retried before it is given up.
const GIVE_UP_AFTER_MS: Millis = 24 * 3_600_000;
/// The longest wait between attempts.
const MAX_BACKOFF_MS: u64 = 300_000;
/// One attempt's time limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What delivery needs to know.
pub struct DeliveryConfig {
    pub receivers: Vec<ReceiverConfig>,
    pub rules: Vec<Arc<AlertRule>>,
    /// The history store's file.
    pub path: std::path::PathBuf,
    /// The first retry's delay; each next one doubles.
    pub retry_min: Duration,
    /// Where dashboards are, for `generatorURL` (`http://host:port`).
    pub base_url: String,
}

/// One delivery's state, as the API shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub receiver: String,
    pub dashboard: String,
    pub rule: String,
    pub state: String,
    pub status: String,
    pub attempts: i64,
    #[serde(rename = "nextAt")]
    pub next_at: Millis,
    #[serde(rename = "lastError")]
    pub last_error: Option<String>,
}

/// The delivery worker's handle to its table.
pub struct Outbox {
    connection: Mutex<Connection>,
}

impl Outbox {
    /// Opens the outbox (tables of the history store, which the store made); the cursor starts
    /// after every change already recorded, so configuring a receiver does not replay the past
    /// to it.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.execute(
            "INSERT OR IGNORE INTO alert_cursor (id, event) SELECT 1, COALESCE(MAX(id), 0) FROM alert_events",
            [],
        )?;
        Ok(Outbox { connection: Mutex::new(connection) })
    }

    /// Hands new alert changes to the receivers that want them.
    fn fan_out(&self, receivers: &[ReceiverConfig], now: Millis) -> rusqlite::Result<usize> {
        let mut connection = self.connection.lock().expect("outbox lock poisoned");
        let transaction = connection.transaction()?;
        let cursor: i64 = transaction.query_row("SELECT event FROM alert_cursor WHERE id = 1", [], |row| row.get(0))?;
        let events: Vec<(i64, String, String, String)> = {
            let mut select = transaction
                .prepare("SELECT id, dashboard, rule, json FROM alert_events WHERE id > ?1 ORDER BY id LIMIT 500")?;
            let rows = select.query_map([cursor], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut queued = 0;
        for (id, dashboard, rule, json) in &events {
            let Ok(change) = serde_json::from_str::<AlertChange>(json) else { continue };
            let notify = match change.state {
                AlertPhase::Firing => true,
                // Only an alert that fired is resolved for receivers.
                AlertPhase::Resolved => {
                    let before: Option<String> = transaction
                        .query_row(
                            "SELECT state FROM alert_events WHERE dashboard = ?1 AND rule = ?2 AND id < ?3
                             ORDER BY id DESC LIMIT 1",
                            params![dashboard, rule, id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    before.as_deref() == Some("firing")
                }
                AlertPhase::Pending | AlertPhase::NoData => false,
            };
            if !notify {
                continue;
            }
            for receiver in receivers {
                let wanted = receiver.severities.contains(&change.severity)
                    && (change.state == AlertPhase::Firing || receiver.send_resolved);
                if wanted {
                    queued += transaction.execute(
                        "INSERT OR IGNORE INTO alert_deliveries (event, receiver, attempts, next_at, status, created, updated)
                         VALUES (?1, ?2, 0, ?3, 'pending', ?3, ?3)",
                        params![id, receiver.name, now],
                    )?;
                }
            }
        }
        if let Some((last, ..)) = events.last() {
            transaction.execute("UPDATE alert_cursor SET event = ?1 WHERE id = 1", [last])?;
        }
        transaction.commit()?;
        Ok(queued)
    }

    /// Deliveries whose time has come.
    fn due(&self, now: Millis) -> rusqlite::Result<Vec<Due>> {
        let connection = self.connection.lock().expect("outbox lock poisoned");
        let mut select = connection.prepare(
            "SELECT d.id, d.receiver, d.attempts, d.created, e.dashboard, e.epoch, e.seq, e.ts, e.json
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event
             WHERE d.status = 'pending' AND d.next_at <= ?1 ORDER BY d.next_at LIMIT 32",
        )?;
        let rows = select.query_map([now], |row| {
            Ok(Due {
                id: row.get(0)?,
                receiver: row.get(1)?,
                attempts: row.get(2)?,
                created: row.get(3)?,
                dashboard: row.get(4)?,
                epoch: row.get(5)?,
                seq: row.get(6)?,
                ts: row.get(7)?,
                json: row.get(8)?,
            })
        })?;
        rows.collect()
    }

    /// When the next pending delivery is due, if any.
    fn next_due(&self) -> rusqlite::Result<Option<Millis>> {
        let connection = self.connection.lock().expect("outbox lock poisoned");
        connection.query_row("SELECT MIN(next_at) FROM alert_deliveries WHERE status = 'pending'", [], |row| row.get(0))
    }

    fn record(&self, id: i64, outcome: &Outcome, attempts: i64, now: Millis) -> rusqlite::Result<()> {
        let (status, next_at, error) = match outcome {
            Outcome::Delivered => ("delivered", now, None),
            Outcome::Retry { after_ms, error } => ("pending", now + *after_ms as Millis, Some(error.as_str())),
            Outcome::Failed(error) => ("failed", now, Some(error.as_str())),
        };
        self.connection.lock().expect("outbox lock poisoned").execute(
            "UPDATE alert_deliveries SET status = ?1, attempts = ?2, next_at = ?3, last_error = ?4, updated = ?5
             WHERE id = ?6",
            params![status, attempts, next_at, error, now, id],
        )?;
        Ok(())
    }

    /// The most recent deliveries, newest first.
    pub fn recent(&self, limit: usize) -> rusqlite::Result<Vec<DeliveryRecord>> {
        let connection = self.connection.lock().expect("outbox lock poisoned");
        let mut select = connection.prepare(
            "SELECT d.id, d.receiver, e.dashboard, e.rule, e.state, d.status, d.attempts, d.next_at, d.last_error
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event ORDER BY d.id DESC LIMIT ?1",
        )?;
        let rows = select.query_map([limit as i64], |row| {
            Ok(DeliveryRecord {
                id: row.get(0)?,
                receiver: row.get(1)?,
                dashboard: row.get(2)?,
                rule: row.get(3)?,
                state: row.get(4)?,
                status: row.get(5)?,
                attempts: row.get(6)?,
                next_at: row.get(7)?,
                last_error: row.get(8)?,
            })
        })?;
        rows.collect()
    }
}

/// A delivery to attempt.
struct Due {
    id: i64,
    receiver: String,
    attempts: i64,
    created: Millis,
    dashboard: String,
    epoch: String,
    seq: i64,
    ts: Millis,
    json: String,
}

/// What an attempt came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Delivered,
    Retry { after_ms: u64, error: String },
    Failed(String),
}

/// The wait before attempt `attempts + 1`: doubling from `min`, at most five minutes, with
/// jitter in its upper half (so waits still grow), and never less than `Retry-After`.
fn backoff(min: Duration, attempts: i64, retry_after: Option<Duration>) -> u64 {
    let ceiling = (min.as_millis() as u64).saturating_mul(1 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS);
    let jittered = ceiling / 2 + rand::random_range(0..=ceiling / 2);
    jittered.max(retry_after.map_or(0, |after| after.as_millis() as u64))
}

/// How often new changes are looked for.
const POLL: Duration = Duration::from_millis(250);

/// Runs delivery until shutdown: new changes fanned out every quarter second, each retry
/// attempted when it is due (not at the next quarter second, so its backoff is what was chosen).
pub async fn run(config: DeliveryConfig, outbox: Arc<Outbox>, shutdown: CancellationToken) {
    let client = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().expect("an HTTP client");
    let config = Arc::new(config);
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = POLL;
        let (work, receivers) = (outbox.clone(), config.receivers.clone());
        let due = tokio::task::spawn_blocking(move || {
            let now = now_millis();
            work.fan_out(&receivers, now)?;
            work.due(now)
        })
        .await;
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(error)) => {
                tracing::warn!(%error, "alert outbox unreadable");
                continue;
            }
            Err(_) => continue,
        };
        for delivery in due {
            let outcome = attempt(&client, &config, &delivery).await;
            let attempts = delivery.attempts + 1;
            let outcome = match outcome {
                Outcome::Retry { error, .. } if now_millis() - delivery.created > GIVE_UP_AFTER_MS => {
                    Outcome::Failed(format!("gave up after a day: {error}"))
                }
                other => other,
            };
            if !matches!(outcome, Outcome::Delivered) {
                tracing::warn!(receiver = delivery.receiver, attempts, ?outcome, "alert delivery not done");
            }
            let work = outbox.clone();
            let id = delivery.id;
            let recorded = tokio::task::spawn_blocking(move || work.record(id, &outcome, attempts, now_millis())).await;
            if let Ok(Err(error)) = recorded {
                tracing::warn!(%error, "cannot record an alert delivery");
            }
        }
        let work = outbox.clone();
        if let Ok(Ok(Some(next))) = tokio::task::spawn_blocking(move || work.next_due()).await {
            wait = Duration::from_millis((next - now_millis()).clamp(0, POLL.as_millis() as Millis) as u64);
        }
    }
}

/// One attempt of one delivery.
async fn attempt(client: &reqwest::Client, config: &DeliveryConfig, delivery: &Due) -> Outcome {
    let Some(receiver) = config.receivers.iter().find(|r| r.name == delivery.receiver) else {
        return Outcome::Failed("the receiver is no longer configured".into());
    };
    let Ok(change) = serde_json::from_str::<AlertChange>(&delivery.json) else {
        return Outcome::Failed("unreadable alert change".into());
    };
    let rule = config.rules.iter().find(|rule| rule.name == change.rule && rule.dashboard == delivery.dashboard);
    let body = webhook_payload(receiver, &change, &delivery.dashboard, delivery.ts, rule, &config.base_url).to_string();
    let key = format!("livedash-{}-{}-{}-{}", delivery.dashboard, delivery.epoch, delivery.seq, change.rule);
    let mut request = client
        .post(receiver.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &key)
        .header("webhook-id", &key);
    if let Some(secret) = &receiver.secret {
        request = request.header("X-Livedash-Signature", format!("sha256={}", sign(secret.expose(), &body)));
    }
    let retry = |after: Option<Duration>, error: String| Outcome::Retry {
        after_ms: backoff(config.retry_min, delivery.attempts, after),
        error,
    };
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Outcome::Delivered,
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs);
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                retry(retry_after, format!("HTTP {status}"))
            } else {
                Outcome::Failed(format!("HTTP {status}"))
            }
        }
        Err(error) => retry(None, error.to_string()),
    }
}

/// HMAC-SHA256 of `body` with `secret`, hex.
fn sign(secret: &str, body: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(ms: Millis) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Alertmanager's webhook payload (version 4) for one change: anything that consumes
/// Alertmanager's webhooks consumes livedash's.
fn webhook_payload(
    receiver: &ReceiverConfig,
    change: &AlertChange,
    dashboard: &str,
    ts: Millis,
    rule: Option<&Arc<AlertRule>>,
    base_url: &str,
) -> Value {
    let mut labels: BTreeMap<String, String> = rule.map(|rule| rule.labels.clone()).unwrap_or_default();
    labels.insert("alertname".into(), change.rule.clone());
    labels.insert("dashboard".into(), dashboard.to_owned());
    labels.insert("metric".into(), change.metric.clone());
    labels.insert("severity".into(), change.severity.as_str().to_owned());
    let fingerprint = {
        let mut hasher = Sha256::new();
        for (name, value) in &labels {
            hasher.update(name.as_bytes());
            hasher.update([0xff]);
            hasher.update(value.as_bytes());
            hasher.update([0xff]);
        }
        hex::encode(&hasher.finalize()[..8])
    };
    let status = if change.state == AlertPhase::Resolved { "resolved" } else { "firing" };
    let ends_at = if status == "resolved" { rfc3339(ts) } else { "0001-01-01T00:00:00Z".to_owned() };
    let group_labels = json!({ "alertname": change.rule, "dashboard": dashboard });
    let annotations = json!({ "summary": change.message });
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\", dashboard=\"{dashboard}\"}}", change.rule),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver.name,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": base_url,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(change.since),
            "endsAt": ends_at,
            "generatorURL": format!("{base_url}/d/{dashboard}"),
            "fingerprint": fingerprint,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let min = Duration::from_millis(100);
        for attempts in 0..4 {
            let ceiling = 100u64 << attempts;
            let wait = backoff(min, attempts, None);
            assert!((ceiling / 2..=ceiling).contains(&wait), "{attempts}: {wait}");
        }
        let capped = backoff(min, 30, None);
        assert!((MAX_BACKOFF_MS / 2..=MAX_BACKOFF_MS).contains(&capped), "{capped}");
        assert!(backoff(min, 0, Some(Duration::from_secs(7))) >= 7000);
    }

    #[test]
    fn timestamps_and_signatures() {
        assert_eq!(rfc3339(1_763_900_001_000), "2025-11-23T12:13:21.000Z");
        // RFC 4231 test case 2.
        let mac = sign("Jefe", "what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
