//! Delivering alert changes to receivers: once per change per receiver, never lost.
//!
//! ```text
//! store writer: update + its alert_events rows, one transaction
//!   └─> Outbox::fan_out: new events (after alert_cursor) -> alert_deliveries rows (pending, or
//!       silenced), cursor moved, and the next round of repeating alerts; one transaction
//!         └─> run: due rows -> webhook (Alertmanager's webhook payload) | alertmanager
//!             (/api/v2/alerts) | email (over its hourly limit: held for one digest)
//!               └─> delivered | retry later | failed
//! resend_to_alertmanagers: every --alert-resend-ms, what is firing, to alertmanager receivers
//! ```
//!
//! Everything is in the history store's SQLite file (`outbox`), so a restart or `kill -9`
//! mid-retry picks up where it was; the `Idempotency-Key`/`webhook-id` of a change is the same
//! on every attempt, so a receiver can drop a repeat (sent if the process died between the
//! answer and recording it). Retries: on 5xx, 429, timeouts, refused connections and
//! transient SMTP errors, with exponential backoff and jitter from `--alert-retry-min-ms`
//! (doubling, at most 5 minutes, at least `Retry-After`), for a day; any other 4xx or a
//! permanent SMTP error fails at once. Notified: `firing` (and escalation), and `resolved` of
//! an alert that fired, when the receiver lists the severity (and `send_resolved`).

mod email;
pub mod outbox;
mod webhook;

use super::{
    receivers::{ReceiverConfig, ReceiverKind},
    silences::Controls,
};
use crate::protocol::{AlertChange, AlertPhase, Millis};
use crate::server::alerts::eval::rules::AlertRule;
use crate::server::{broker::Broker, clock::Clock};
use outbox::Due;
pub use outbox::{DeliveryRecord, Outbox, SCHEMA as OUTBOX_SCHEMA};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How long a delivery is retried before it is given up.
const GIVE_UP_AFTER_MS: Millis = 24 * 3_600_000;
/// The longest wait between attempts.
const MAX_BACKOFF_MS: u64 = 300_000;
/// One attempt's time limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivery's pace: flags of their own, flattened into the server's settings.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct DeliveryTiming {
    /// The first retry of a failed alert delivery waits about this long, in milliseconds;
    /// each next one twice as long, at most five minutes.
    #[arg(long = "alert-retry-min-ms", env = "LIVEDASH_ALERT_RETRY_MIN_MS", default_value = "1000", value_parser = crate::server::config::parse_millis)]
    pub retry_min: Duration,
    /// How often firing alerts are sent again to `alertmanager` receivers, in milliseconds
    /// (Prometheus' `--rules.alert.resend-delay`); each says it holds four times as long.
    #[arg(long = "alert-resend-ms", env = "LIVEDASH_ALERT_RESEND_MS", default_value = "60000", value_parser = crate::server::config::parse_millis)]
    pub resend: Duration,
    /// How often alert delivery looks for new changes to send, in milliseconds.
    #[arg(long = "alert-poll-ms", env = "LIVEDASH_ALERT_POLL_MS", default_value = "250", value_parser = crate::server::config::parse_millis)]
    pub poll: Duration,
}

/// What delivery needs to know.
pub struct DeliveryConfig {
    pub receivers: Vec<ReceiverConfig>,
    pub rules: Vec<Arc<AlertRule>>,
    pub timing: DeliveryTiming,
    /// Where dashboards are, for `generatorURL` and mails (`http://host:port`).
    pub base_url: String,
    /// What time it is: due times, give-ups, mail digests and resends are read on it.
    pub clock: Clock,
}

impl DeliveryConfig {
    fn wanted(&self) -> Wanted<'_> {
        Wanted { receivers: &self.receivers, rules: &self.rules }
    }

    fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|receiver| receiver.name == name)
    }

    fn rule(&self, dashboard: &str, name: &str) -> Option<&AlertRule> {
        self.wanted().rule(dashboard, name)
    }

    /// Until when a firing alert sent to Alertmanager now holds: four resends (Prometheus'
    /// rule), so it expires there if livedash stops sending.
    fn firing_ends_at(&self) -> Millis {
        self.clock.now_millis() + 4 * self.timing.resend.as_millis() as Millis
    }
}

/// Who wants which change.
pub struct Wanted<'a> {
    pub receivers: &'a [ReceiverConfig],
    pub rules: &'a [Arc<AlertRule>],
}

impl<'a> Wanted<'a> {
    /// The receivers `change` goes to.
    pub fn receivers_of(&self, change: &'a AlertChange) -> impl Iterator<Item = &'a ReceiverConfig> + 'a {
        self.receivers.iter().filter(move |receiver| {
            receiver.severities.contains(&change.severity)
                && (change.state == AlertPhase::Firing || receiver.send_resolved)
        })
    }

    pub fn rule(&self, dashboard: &str, name: &str) -> Option<&'a AlertRule> {
        self.rules.iter().find(|rule| rule.dashboard == dashboard && rule.name == name).map(|rule| &**rule)
    }

    /// Whether any rule re-notifies.
    pub fn repeats(&self) -> bool {
        self.rules.iter().any(|rule| rule.repeat.is_some())
    }
}

impl ReceiverConfig {
    /// Whether livedash sends `repeat` rounds to it (an Alertmanager repeats by itself).
    pub fn repeats(&self) -> bool {
        !matches!(self.kind, ReceiverKind::Alertmanager { .. })
    }
}

/// What an attempt came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    Retry {
        after_ms: u64,
        error: String,
    },
    Failed(String),
    /// Over the receiver's hourly mail limit: waits for its digest.
    Held,
}

/// The wait before attempt `attempts + 1`: doubling from `min`, at most five minutes, with
/// jitter in its upper half (so waits still grow), and never less than `Retry-After`.
fn backoff(min: Duration, attempts: i64, retry_after: Option<Duration>) -> u64 {
    let ceiling = (min.as_millis() as u64).saturating_mul(1 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS);
    let jittered = ceiling / 2 + rand::random_range(0..=ceiling / 2);
    jittered.max(retry_after.map_or(0, |after| after.as_millis() as u64))
}

/// Runs `work` on the blocking pool (SQLite); `None`, logged, when it failed.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::warn!(%error, "alert outbox: cannot {what}");
            None
        }
        Err(_) => None,
    }
}

/// Runs delivery until shutdown: new changes fanned out every quarter second, each retry
/// attempted when it is due (not at the next quarter second, so its backoff is what was chosen).
pub async fn run(
    config: Arc<DeliveryConfig>,
    outbox: Arc<Outbox>,
    controls: Arc<Controls>,
    shutdown: CancellationToken,
) {
    let client = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().expect("an HTTP client");
    // When each email receiver's digest may next be tried (after a failed one).
    let mut digest_after: HashMap<String, Millis> = HashMap::new();
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = config.timing.poll;
        let (work, fanned, controlled) = (outbox.clone(), config.clone(), controls.clone());
        let now = config.clock.now_millis();
        let due = blocking("read due deliveries", move || {
            work.fan_out(&fanned.wanted(), &controlled, now)?;
            work.due(now)
        })
        .await
        .unwrap_or_default();
        for receiver in &config.receivers {
            if let ReceiverKind::Email(mail) = &receiver.kind {
                send_digest(&config, receiver, mail, &outbox, &mut digest_after).await;
            }
        }
        for delivery in due {
            let attempts = delivery.attempts + 1;
            let outcome = match attempt(&client, &config, &outbox, &delivery).await {
                Outcome::Retry { error, .. } if config.clock.now_millis() - delivery.created > GIVE_UP_AFTER_MS => {
                    Outcome::Failed(format!("gave up after a day: {error}"))
                }
                other => other,
            };
            if matches!(outcome, Outcome::Retry { .. } | Outcome::Failed(_)) {
                tracing::warn!(receiver = delivery.receiver, attempts, ?outcome, "alert delivery not done");
            }
            let (work, id, now) = (outbox.clone(), delivery.id, config.clock.now_millis());
            blocking("record a delivery", move || work.record(id, &outcome, attempts, now)).await;
        }
        let work = outbox.clone();
        if let Some(Some(next)) = blocking("read the next due delivery", move || work.next_due()).await {
            wait = Duration::from_millis(
                (next - config.clock.now_millis()).clamp(0, config.timing.poll.as_millis() as Millis) as u64,
            );
        }
    }
}

/// One attempt of one delivery.
async fn attempt(client: &reqwest::Client, config: &DeliveryConfig, outbox: &Arc<Outbox>, delivery: &Due) -> Outcome {
    let Some(receiver) = config.receiver(&delivery.receiver) else {
        return Outcome::Failed("the receiver is no longer configured".into());
    };
    let rule = config.rule(&delivery.dashboard, &delivery.change.rule);
    let retry = |after: Option<Duration>, error: String| Outcome::Retry {
        after_ms: backoff(config.timing.retry_min, delivery.attempts, after),
        error,
    };
    match &receiver.kind {
        ReceiverKind::Webhook { url, secret } => {
            let body =
                webhook::payload(receiver, &delivery.dashboard, &delivery.change, delivery.ts, rule, &config.base_url)
                    .to_string();
            webhook::post(client, url.clone(), body, Some(&delivery.idempotency_key()), secret.as_ref(), retry).await
        }
        ReceiverKind::Alertmanager { url } => {
            let (dashboard, change) = (&delivery.dashboard, &delivery.change);
            let alert = webhook::postable_alert(
                dashboard,
                change,
                delivery.ts,
                rule,
                &config.base_url,
                config.firing_ends_at(),
            );
            let body = serde_json::Value::Array(vec![alert]).to_string();
            webhook::post(
                client,
                webhook::alertmanager_alerts(url),
                body,
                Some(&delivery.idempotency_key()),
                None,
                retry,
            )
            .await
        }
        ReceiverKind::Email(mail) => {
            let (work, name, now) = (outbox.clone(), receiver.name.clone(), config.clock.now_millis());
            let (sent, held) =
                blocking("count mails", move || Ok((work.mails_in_last_hour(&name, now)?, work.has_held(&name)?)))
                    .await
                    .unwrap_or((u32::MAX, true));
            // Over the limit, or others already waiting for the digest: this one waits too.
            if sent >= mail.max_per_hour || held {
                return Outcome::Held;
            }
            let outcome = email::send(mail, email::single(receiver, mail, delivery, &config.base_url), retry).await;
            if outcome == Outcome::Delivered {
                let (work, name, now) = (outbox.clone(), receiver.name.clone(), config.clock.now_millis());
                blocking("record a mail", move || work.mail_sent(&name, now)).await;
            }
            outcome
        }
    }
}

/// Sends an email receiver's held deliveries as one mail, once its hourly count allows.
async fn send_digest(
    config: &DeliveryConfig,
    receiver: &ReceiverConfig,
    mail: &super::receivers::EmailReceiver,
    outbox: &Arc<Outbox>,
    digest_after: &mut HashMap<String, Millis>,
) {
    let now = config.clock.now_millis();
    if digest_after.get(&receiver.name).is_some_and(|after| now < *after) {
        return;
    }
    let (work, name) = (outbox.clone(), receiver.name.clone());
    let Some((sent, held)) =
        blocking("read held mails", move || Ok((work.mails_in_last_hour(&name, now)?, work.held(&name)?))).await
    else {
        return;
    };
    if held.is_empty() || sent >= mail.max_per_hour {
        return;
    }
    let attempts = held.iter().map(|delivery| delivery.attempts).max().unwrap_or(0);
    let retry = |after: Option<Duration>, error: String| Outcome::Retry {
        after_ms: backoff(config.timing.retry_min, attempts, after),
        error,
    };
    let outcome = email::send(mail, email::digest(receiver, mail, &held, &config.base_url), retry).await;
    let (work, name, now) = (outbox.clone(), receiver.name.clone(), config.clock.now_millis());
    match outcome {
        Outcome::Retry { after_ms, error } => {
            tracing::warn!(receiver = receiver.name, %error, "alert digest not sent");
            digest_after.insert(receiver.name.clone(), now + after_ms as Millis);
            let ids: Vec<i64> = held.iter().map(|delivery| delivery.id).collect();
            let waiting = Outcome::Held;
            blocking("record a digest attempt", move || {
                ids.iter().try_for_each(|id| work.record(*id, &waiting, attempts + 1, now))
            })
            .await;
        }
        outcome => {
            digest_after.remove(&receiver.name);
            let delivered = outcome == Outcome::Delivered;
            blocking("record a digest", move || {
                if delivered {
                    work.mail_sent(&name, now)?;
                }
                held.iter().try_for_each(|delivery| work.record(delivery.id, &outcome, delivery.attempts + 1, now))
            })
            .await;
        }
    }
}

/// Sends what is firing to every `alertmanager` receiver every `config.timing.resend`, as Prometheus
/// does, so that an Alertmanager that restarted or expired an alert learns it again; each
/// alert says it holds for four resends. Silenced alerts are not sent.
pub async fn resend_to_alertmanagers(
    config: Arc<DeliveryConfig>,
    broker: Arc<dyn Broker>,
    controls: Arc<Controls>,
    shutdown: CancellationToken,
) {
    let targets: Vec<&ReceiverConfig> =
        config.receivers.iter().filter(|receiver| matches!(receiver.kind, ReceiverKind::Alertmanager { .. })).collect();
    if targets.is_empty() {
        return;
    }
    let client = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().expect("an HTTP client");
    let dashboards: std::collections::BTreeSet<&str> =
        config.rules.iter().map(|rule| rule.dashboard.as_str()).collect();
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + config.timing.resend, config.timing.resend);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        // With several instances, one of them resends.
        if !broker.lease("alertmanager-resend", config.timing.resend * 2).await {
            continue;
        }
        let (now, ends_at) = (config.clock.now_millis(), config.firing_ends_at());
        let mut firing = Vec::new();
        for dashboard in &dashboards {
            let Ok(active) = broker.active_alerts(dashboard).await else { continue };
            firing.extend(
                active
                    .into_iter()
                    .filter(|change| change.state == AlertPhase::Firing)
                    .map(|change| (dashboard.to_string(), change)),
            );
        }
        for receiver in &targets {
            let ReceiverKind::Alertmanager { url } = &receiver.kind else { continue };
            let alerts: Vec<serde_json::Value> = firing
                .iter()
                .filter(|(dashboard, change)| {
                    let rule = config.rule(dashboard, &change.rule);
                    receiver.severities.contains(&change.severity)
                        && !controls.is_silenced(&super::labels(dashboard, change, rule), now)
                })
                .map(|(dashboard, change)| {
                    let rule = config.rule(dashboard, &change.rule);
                    webhook::postable_alert(dashboard, change, change.since, rule, &config.base_url, ends_at)
                })
                .collect();
            if alerts.is_empty() {
                continue;
            }
            let body = serde_json::Value::Array(alerts).to_string();
            let outcome = webhook::post(&client, webhook::alertmanager_alerts(url), body, None, None, |_, error| {
                Outcome::Failed(error)
            })
            .await;
            if outcome != Outcome::Delivered {
                tracing::warn!(receiver = receiver.name, ?outcome, "firing alerts not re-sent to Alertmanager");
            }
        }
    }
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
}
