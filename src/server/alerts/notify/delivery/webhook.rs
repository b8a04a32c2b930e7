//! Alerts over HTTP: Alertmanager's webhook payload (version 4) for `webhook` receivers, its
//! `/api/v2/alerts` body for `alertmanager` receivers, and what an answer means for a retry.

use super::Outcome;
use crate::protocol::{AlertChange, AlertPhase, Millis};
use crate::server::{
    alerts::{eval::rules::AlertRule, notify::receivers::ReceiverConfig},
    config::Secret,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, time::Duration};

/// `endsAt` of an alert still firing, in Alertmanager's webhook payload.
const STILL_FIRING: &str = "0001-01-01T00:00:00Z";

/// POSTs `body` (JSON) to `url`: delivered on 2xx, `retry` on 5xx, 429 (with its Retry-After),
/// timeouts and refused connections, failed on any other answer.
pub async fn post(
    client: &reqwest::Client,
    url: reqwest::Url,
    body: String,
    idempotency_key: Option<&str>,
    secret: Option<&Secret>,
    retry: impl Fn(Option<Duration>, String) -> Outcome,
) -> Outcome {
    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key).header("webhook-id", key);
    }
    if let Some(secret) = secret {
        request = request.header("X-Livedash-Signature", format!("sha256={}", sign(secret.expose(), &body)));
    }
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
        Err(error) => retry(None, failure(&error).to_owned()),
    }
}

/// What went wrong with a request that got no answer, by kind: never reqwest's own words,
/// which carry the URL (a Slack or Discord webhook URL is itself the secret, and a URL may
/// carry `user:pass@`). Shown in the API and the page, and logged.
pub fn failure(error: &reqwest::Error) -> &'static str {
    let refused = std::iter::successors(std::error::Error::source(error), |source| source.source()).any(|source| {
        source.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    let unresolved = std::iter::successors(std::error::Error::source(error), |source| source.source())
        .any(|source| source.to_string().contains("dns error") || source.to_string().contains("failed to lookup"));
    match () {
        _ if error.is_timeout() => "no answer in time",
        _ if unresolved => "the receiver's host name does not resolve",
        _ if refused => "connection refused",
        _ if error.is_connect() => "cannot connect to the receiver",
        _ if error.is_redirect() => "too many redirects",
        _ if error.is_body() || error.is_decode() => "the answer broke off",
        _ => "the request failed",
    }
}

/// `<alertmanager>/api/v2/alerts`.
pub fn alertmanager_alerts(alertmanager: &reqwest::Url) -> reqwest::Url {
    let mut url = alertmanager.clone();
    let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// HMAC-SHA256 of `body` with `secret`, hex.
fn sign(secret: &str, body: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: Millis) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Alertmanager's fingerprint idea: a hash of the sorted labels.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in labels {
        hasher.update(name.as_bytes());
        hasher.update([0xff]);
        hasher.update(value.as_bytes());
        hasher.update([0xff]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Alertmanager's webhook payload (version 4) for one change at `ts`: anything that consumes
/// Alertmanager's webhooks consumes livedash's.
pub fn payload(
    receiver: &ReceiverConfig,
    dashboard: &str,
    change: &AlertChange,
    ts: Millis,
    rule: Option<&AlertRule>,
    base_url: &str,
) -> Value {
    let labels = crate::server::alerts::notify::labels(dashboard, change, rule);
    let status = if change.state == AlertPhase::Resolved { "resolved" } else { "firing" };
    let ends_at = if status == "resolved" { rfc3339(ts) } else { STILL_FIRING.to_owned() };
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
            "generatorURL": dashboard_link(base_url, dashboard),
            "fingerprint": fingerprint(&labels),
        }],
    })
}

/// One alert as Alertmanager's `POST /api/v2/alerts` takes it. A firing one holds until
/// `firing_ends_at` (`DeliveryConfig::firing_ends_at`); a resolved one ends when it resolved
/// (`ts`).
pub fn postable_alert(
    dashboard: &str,
    change: &AlertChange,
    ts: Millis,
    rule: Option<&AlertRule>,
    base_url: &str,
    firing_ends_at: Millis,
) -> Value {
    let ends_at = match change.state {
        AlertPhase::Resolved => ts,
        _ => firing_ends_at,
    };
    json!({
        "labels": crate::server::alerts::notify::labels(dashboard, change, rule),
        "annotations": { "summary": change.message },
        "startsAt": rfc3339(change.since),
        "endsAt": rfc3339(ends_at),
        "generatorURL": dashboard_link(base_url, dashboard),
    })
}

/// The dashboard's page.
pub fn dashboard_link(base_url: &str, dashboard: &str) -> String {
    format!("{}/d/{dashboard}", base_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_signatures_and_paths() {
        assert_eq!(rfc3339(1_763_900_001_000), "2025-11-23T12:13:21.000Z");
        // RFC 4231 test case 2.
        let mac = sign("Jefe", "what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let at = |url: &str| alertmanager_alerts(&url.parse().unwrap()).to_string();
        assert_eq!(at("http://127.0.0.1:9093"), "http://127.0.0.1:9093/api/v2/alerts");
        assert_eq!(at("http://am.example/prefix/"), "http://am.example/prefix/api/v2/alerts");
    }
}
