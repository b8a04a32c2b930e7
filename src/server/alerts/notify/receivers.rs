//! Where alerts go: `[[receivers]]` in the config file, checked at load with file and line.
//!
//! ```toml
//! [[receivers]]
//! name = "ops-hook"
//! kind = "webhook"                 # webhook | alertmanager | email
//! url = "http://127.0.0.1:9000/hook"
//! severities = ["warning", "critical"]
//! send_resolved = true             # default true
//! secret = "..."                   # webhook only: X-Livedash-Signature: sha256=<HMAC of the body>
//!
//! [[receivers]]
//! name = "am"
//! kind = "alertmanager"
//! url = "http://127.0.0.1:9093"    # the Alertmanager; livedash POSTs to <url>/api/v2/alerts
//!
//! [[receivers]]
//! name = "oncall-mail"
//! kind = "email"
//! smtp = "smtps://user:password@mail.example.com"   # smtp://host[:port][?tls=required] or smtps://
//! from = "livedash@example.com"
//! to = ["oncall@example.com"]
//! severities = ["critical"]
//! max_per_hour = 20                # then one digest
//! ```

use crate::model::alerts::Severity;
use crate::server::config::{http_url, ConfigError, Secret};
use serde::Deserialize;
use toml::Spanned;

#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverConfig {
    pub name: String,
    pub kind: ReceiverKind,
    pub severities: Vec<Severity>,
    pub send_resolved: bool,
}

/// How a receiver is reached.
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverKind {
    /// Alertmanager's webhook payload, POSTed to `url`.
    Webhook {
        url: reqwest::Url,
        /// HMAC-SHA256 key for the signature header.
        secret: Option<Secret>,
    },
    /// An Alertmanager: alerts POSTed to its `/api/v2/alerts`, re-sent while firing.
    Alertmanager {
        url: reqwest::Url,
    },
    Email(EmailReceiver),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailReceiver {
    /// The SMTP server's URL, as lettre reads it; a secret, since it may hold a password.
    pub smtp: Secret,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    /// Mails per rolling hour; what comes after waits for one digest.
    pub max_per_hour: u32,
}

/// Mails per hour when `max_per_hour` is not given.
const DEFAULT_MAX_PER_HOUR: u32 = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiverShape {
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    severities: Option<Vec<Severity>>,
    #[serde(default)]
    send_resolved: Option<bool>,
    #[serde(default)]
    secret: Option<Spanned<String>>,
    #[serde(default)]
    smtp: Option<Spanned<String>>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    to: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    max_per_hour: Option<Spanned<u32>>,
}

/// Checks the `[[receivers]]` of a file.
pub(crate) fn check(
    shapes: Vec<Spanned<ReceiverShape>>,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<Vec<ReceiverConfig>, ConfigError> {
    let mut receivers: Vec<ReceiverConfig> = Vec::new();
    for shape in shapes {
        let (span, shape) = (shape.span(), shape.into_inner());
        let name = shape.name.get_ref().clone();
        if name.is_empty() || receivers.iter().any(|r| r.name == name) {
            return Err(at(
                shape.name.span().start,
                format!("key 'name': receiver {name:?} is empty or defined twice"),
            ));
        }
        let missing = |key: &str| at(span.start, format!("receiver '{name}': key '{key}' is missing"));
        let kind_name = shape.kind.get_ref().as_str();
        // Each kind refuses the keys of the others, so a misplaced key is not silently ignored.
        let foreign = |keys: &[(&str, Option<usize>)]| match keys.iter().find_map(|(key, at)| Some((key, (*at)?))) {
            Some((key, offset)) => Err(at(offset, format!("key '{key}': not a key of {kind_name:?} receivers"))),
            None => Ok(()),
        };
        let offset = |span: Option<std::ops::Range<usize>>| span.map(|span| span.start);
        let email_keys = [
            ("smtp", offset(shape.smtp.as_ref().map(Spanned::span))),
            ("from", offset(shape.from.as_ref().map(Spanned::span))),
            ("to", offset(shape.to.as_ref().map(Spanned::span))),
            ("max_per_hour", offset(shape.max_per_hour.as_ref().map(Spanned::span))),
        ];
        let url_key = ("url", offset(shape.url.as_ref().map(Spanned::span)));
        let secret_key = ("secret", offset(shape.secret.as_ref().map(Spanned::span)));
        let kind = match shape.kind.get_ref().as_str() {
            "webhook" => {
                foreign(&email_keys)?;
                let url = http_url(shape.url.as_ref().ok_or_else(|| missing("url"))?, at)?;
                ReceiverKind::Webhook {
                    url,
                    secret: shape.secret.as_ref().map(|secret| Secret::from(secret.get_ref().as_str())),
                }
            }
            "alertmanager" => {
                foreign(&email_keys)?;
                foreign(&[secret_key])?;
                let url = http_url(shape.url.as_ref().ok_or_else(|| missing("url"))?, at)?;
                ReceiverKind::Alertmanager { url }
            }
            "email" => {
                foreign(&[url_key, secret_key])?;
                let smtp = shape.smtp.as_ref().ok_or_else(|| missing("smtp"))?;
                check_smtp(smtp, at)?;
                let from = shape.from.as_ref().ok_or_else(|| missing("from"))?;
                let from = mailbox(from.get_ref(), from.span().start, "from", at)?;
                let to = shape.to.as_ref().ok_or_else(|| missing("to"))?;
                let addresses = to
                    .get_ref()
                    .iter()
                    .map(|address| mailbox(address, to.span().start, "to", at))
                    .collect::<Result<Vec<_>, _>>()?;
                if addresses.is_empty() {
                    return Err(at(to.span().start, "key 'to': no address".into()));
                }
                let max_per_hour = shape.max_per_hour.as_ref().map_or(DEFAULT_MAX_PER_HOUR, |max| *max.get_ref());
                if max_per_hour == 0 {
                    let at_max = shape.max_per_hour.as_ref().map_or(span.start, |max| max.span().start);
                    return Err(at(at_max, "key 'max_per_hour': must be at least 1".into()));
                }
                ReceiverKind::Email(EmailReceiver {
                    smtp: Secret::from(smtp.get_ref().as_str()),
                    from,
                    to: addresses,
                    max_per_hour,
                })
            }
            other => {
                return Err(at(
                    shape.kind.span().start,
                    format!("key 'kind': {other:?} is not one of webhook, alertmanager, email"),
                ))
            }
        };
        receivers.push(ReceiverConfig {
            name,
            kind,
            severities: shape.severities.unwrap_or_else(|| vec![Severity::Warning, Severity::Critical]),
            send_resolved: shape.send_resolved.unwrap_or(true),
        });
    }
    Ok(receivers)
}

/// An SMTP URL lettre accepts; a password only over TLS, or to this machine. Never repeats
/// the URL (it may hold the password).
fn check_smtp(smtp: &Spanned<String>, at: &impl Fn(usize, String) -> ConfigError) -> Result<(), ConfigError> {
    let refuse = |why: &str| at(smtp.span().start, format!("key 'smtp': {why}"));
    let url =
        reqwest::Url::parse(smtp.get_ref()).map_err(|_| refuse("not a URL (smtp://host:port or smtps://host)"))?;
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(smtp.get_ref()).map_err(|_| {
        refuse("not an SMTP URL: smtp://host[:port][?tls=required|opportunistic] or smtps://host[:port]")
    })?;
    let tls = url.scheme() == "smtps" || url.query_pairs().any(|(key, value)| key == "tls" && value == "required");
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if url.password().is_some() && !tls && !loopback {
        return Err(refuse("a password would cross the network in clear: use smtps:// or ?tls=required"));
    }
    Ok(())
}

fn mailbox(
    address: &str,
    offset: usize,
    key: &str,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<lettre::message::Mailbox, ConfigError> {
    address.parse().map_err(|_| at(offset, format!("key '{key}': {address:?} is not an email address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::settings::file::parse;

    #[test]
    fn the_documented_receivers_read_as_written() {
        let text = r#"
[[receivers]]
name = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
severities = ["warning", "critical"]
secret = "s3cret"

[[receivers]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
send_resolved = false

[[receivers]]
name = "oncall-mail"
kind = "email"
smtp = "smtps://user:hunter2@mail.example.com"
from = "livedash@example.com"
to = ["oncall@example.com", "Ops <ops@example.com>"]
severities = ["critical"]
"#;
        let receivers = parse(text, "livedash.toml").unwrap().receivers;
        assert!(matches!(&receivers[0].kind, ReceiverKind::Webhook { secret: Some(_), .. }));
        assert!(matches!(&receivers[1].kind, ReceiverKind::Alertmanager { .. }));
        assert!(!receivers[1].send_resolved);
        let ReceiverKind::Email(mail) = &receivers[2].kind else { panic!("{receivers:?}") };
        assert_eq!((mail.to.len(), mail.max_per_hour), (2, 20));
        assert_eq!(receivers[2].severities, vec![Severity::Critical]);
        let shown = format!("{receivers:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "secrets stay out of logs: {shown}");
    }

    #[test]
    fn mistakes_are_reported_with_file_and_line() {
        let receiver = |body: &str| format!("[[receivers]]\nname = \"r\"\n{body}\n");
        let mail = "kind = \"email\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]";
        let cases = [
            (receiver("kind = \"pager\""), ":3:", "not one of webhook, alertmanager, email"),
            (receiver("kind = \"webhook\""), ":1:", "key 'url' is missing"),
            (receiver("kind = \"alertmanager\"\nurl = \"ftp://x\""), ":4:", "not an http(s) URL"),
            (
                receiver("kind = \"webhook\"\nurl = \"http://x\"\nsmtp = \"smtp://x\""),
                ":5:",
                "not a key of \"webhook\"",
            ),
            (receiver("kind = \"alertmanager\"\nurl = \"http://x\"\nsecret = \"s\""), ":5:", "key 'secret'"),
            (receiver(&format!("{mail}\nurl = \"http://x\"\nsmtp = \"smtp://x\"")), ":6:", "key 'url'"),
            (receiver(mail), ":1:", "key 'smtp' is missing"),
            (receiver(&format!("{mail}\nsmtp = \"imap://x\"")), ":6:", "not an SMTP URL"),
            (
                receiver(&format!("{mail}\nsmtp = \"smtp://u:hunter2@mail.example.com\"")),
                ":6:",
                "in clear: use smtps:// or ?tls=required",
            ),
            (receiver(&format!("{mail}\nsmtp = \"smtp://x\"\nmax_per_hour = 0")), ":7:", "at least 1"),
            (
                receiver("kind = \"email\"\nsmtp = \"smtp://x\"\nfrom = \"nobody\"\nto = [\"b@example.com\"]"),
                ":5:",
                "not an email address",
            ),
            (receiver("kind = \"webhook\"\nurl = \"http://x\"").repeat(2), ":6:", "defined twice"),
        ];
        for (text, line, expected) in cases {
            let error = parse(&text, "livedash.toml").unwrap_err().0;
            assert!(
                error.starts_with("livedash.toml") && error.contains(line) && error.contains(expected),
                "{text:?}: {error}"
            );
            assert!(!error.contains("hunter2"), "the password is never repeated: {error}");
        }
        // A password in clear to this machine is allowed (a local relay).
        let local = receiver(&format!("{mail}\nsmtp = \"smtp://u:p@127.0.0.1:2525\""));
        assert!(parse(&local, "livedash.toml").is_ok());
    }
}
