//! Where alerts go: `[[receivers]]` in the config file, checked at load with file and line.
//!
//! ```toml
//! [[receivers]]
//! name = "ops-hook"
//! kind = "webhook"                 # webhook (alertmanager and email: to come)
//! url = "http://127.0.0.1:9000/hook"
//! severities = ["warning", "critical"]
//! send_resolved = true             # default true
//! secret = "..."                   # optional: X-Livedash-Signature: sha256=<HMAC of the body>
//! ```

use crate::model::alerts::Severity;
use crate::server::settings::{file::ConfigError, Secret};
use serde::Deserialize;
use toml::Spanned;

#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverConfig {
    pub name: String,
    pub url: reqwest::Url,
    pub severities: Vec<Severity>,
    pub send_resolved: bool,
    /// HMAC-SHA256 key for the signature header.
    pub secret: Option<Secret>,
}

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
    secret: Option<String>,
}

/// Checks the `[[receivers]]` of a file.
pub(crate) fn check(
    shapes: Vec<Spanned<ReceiverShape>>,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<Vec<ReceiverConfig>, ConfigError> {
    let mut receivers: Vec<ReceiverConfig> = Vec::new();
    for shape in shapes {
        let (span, shape) = (shape.span(), shape.into_inner());
        let name = shape.name.get_ref();
        if name.is_empty() || receivers.iter().any(|r| &r.name == name) {
            return Err(at(
                shape.name.span().start,
                format!("key 'name': receiver {name:?} is empty or defined twice"),
            ));
        }
        if shape.kind.get_ref() != "webhook" {
            return Err(at(
                shape.kind.span().start,
                format!("key 'kind': {:?}: this version delivers to webhook receivers only", shape.kind.get_ref()),
            ));
        }
        let Some(url) = shape.url else {
            return Err(at(span.start, format!("receiver '{name}': key 'url' is missing")));
        };
        let parsed = reqwest::Url::parse(url.get_ref())
            .ok()
            .filter(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some())
            .ok_or_else(|| at(url.span().start, format!("key 'url': {:?} is not an http(s) URL", url.get_ref())))?;
        receivers.push(ReceiverConfig {
            name: name.clone(),
            url: parsed,
            severities: shape.severities.unwrap_or_else(|| vec![Severity::Warning, Severity::Critical]),
            send_resolved: shape.send_resolved.unwrap_or(true),
            secret: shape.secret.as_deref().map(Secret::from),
        });
    }
    Ok(receivers)
}
