//! Alerts by mail (SMTP through lettre over rustls): one plain-text mail per change, subject
//! `[CRITICAL] main: revenue_drop`, and the digest of what an hourly limit held back.

use super::{outbox::Due, webhook, Outcome, ATTEMPT_TIMEOUT};
use crate::protocol::AlertPhase;
use crate::server::alerts::notify::receivers::{EmailReceiver, ReceiverConfig};
use lettre::{message::header::ContentType, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::{fmt::Write, time::Duration};

/// The mail of one change.
pub fn single(
    receiver: &ReceiverConfig,
    mail: &EmailReceiver,
    delivery: &Due,
    base_url: &str,
) -> Result<Message, String> {
    let change = &delivery.change;
    let label = match change.state {
        AlertPhase::Resolved => "RESOLVED".to_owned(),
        _ => change.severity.as_str().to_uppercase(),
    };
    let repeat = if delivery.round > 0 { " (still firing)" } else { "" };
    let subject = format!("[{label}] {}: {}{repeat}", delivery.dashboard, change.rule);
    let mut body = String::new();
    describe(&mut body, delivery);
    let _ = write!(
        body,
        "\nDashboard: {}\n\n-- \nlivedash, receiver '{}'\n",
        webhook::dashboard_link(base_url, &delivery.dashboard),
        receiver.name
    );
    build(mail, subject, body)
}

/// One mail for every held change, oldest first.
pub fn digest(
    receiver: &ReceiverConfig,
    mail: &EmailReceiver,
    held: &[Due],
    base_url: &str,
) -> Result<Message, String> {
    let subject =
        format!("[livedash] {} alert changes held back (at most {} mails per hour)", held.len(), mail.max_per_hour);
    let mut body = format!(
        "Receiver '{}' reached its limit of {} mails per hour; these changes came since:\n\n",
        receiver.name, mail.max_per_hour
    );
    for delivery in held {
        let _ = writeln!(
            body,
            "[{}] {}: {}",
            delivery.change.state.as_str().to_uppercase(),
            delivery.dashboard,
            delivery.change.rule
        );
        describe(&mut body, delivery);
        let _ = writeln!(body, "Dashboard: {}\n", webhook::dashboard_link(base_url, &delivery.dashboard));
    }
    build(mail, subject, body)
}

/// What a change says: its message, value, threshold and since.
fn describe(body: &mut String, delivery: &Due) {
    let change = &delivery.change;
    let shown = |value: Option<f64>| value.map_or_else(|| "none".to_owned(), |value| value.to_string());
    let _ = writeln!(body, "{}", change.message);
    let _ = writeln!(body, "State:     {} ({})", change.state.as_str(), change.severity.as_str());
    let _ = writeln!(body, "Metric:    {}", change.metric);
    let _ = writeln!(body, "Value:     {}", shown(change.value));
    let _ = writeln!(body, "Threshold: {}", shown(change.threshold));
    let _ = writeln!(body, "Since:     {}", webhook::rfc3339(change.since));
}

fn build(mail: &EmailReceiver, subject: String, body: String) -> Result<Message, String> {
    let mut builder = Message::builder().from(mail.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
    for to in &mail.to {
        builder = builder.to(to.clone());
    }
    builder.body(body).map_err(|error| format!("cannot build the mail: {error}"))
}

/// Sends `message` through the receiver's SMTP server: transient SMTP answers (4xx), timeouts
/// and connection errors are retried, permanent ones (5xx) fail.
pub async fn send(
    mail: &EmailReceiver,
    message: Result<Message, String>,
    retry: impl Fn(Option<Duration>, String) -> Outcome,
) -> Outcome {
    let message = match message {
        Ok(message) => message,
        Err(error) => return Outcome::Failed(error),
    };
    // Checked when the configuration was read.
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(mail.smtp.expose()) {
        Ok(builder) => builder.timeout(Some(ATTEMPT_TIMEOUT)).build(),
        Err(_) => return Outcome::Failed("the SMTP URL does not read".into()),
    };
    match transport.send(message).await {
        Ok(_) => Outcome::Delivered,
        Err(error) if error.is_permanent() => Outcome::Failed(failure(&error)),
        Err(error) => retry(None, failure(&error)),
    }
}

/// What the SMTP server or the connection said, by kind and code: never lettre's own words,
/// which may quote the server's reply (addresses) or its name.
fn failure(error: &lettre::transport::smtp::Error) -> String {
    let code = error.status().map_or(String::new(), |code| format!(" {code}"));
    let kind = match () {
        _ if error.is_permanent() => "permanent error",
        _ if error.is_transient() => "temporary error",
        _ if error.is_timeout() => "no answer in time",
        _ if error.is_tls() => "TLS failed",
        _ => "cannot reach the server",
    };
    format!("SMTP: {kind}{code}")
}
