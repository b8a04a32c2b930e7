//! The words every stage's configuration is written in, below all of them: `Secret` (a value
//! never shown in a log) and `ConfigError` (a configuration error phrased for the person who
//! wrote the file), and the value parsers of flags more than one stage uses. `settings`
//! reads flags, environment and the file into each stage's own types with them.

use std::time::Duration;

/// A secret: shown as `Secret(..)` in any debug output, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(text.to_owned())
    }
}

/// A configuration error, already phrased for the person who wrote the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A file's `url` key: an http(s) URL with a host.
pub fn http_url(
    url: &toml::Spanned<String>,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<reqwest::Url, ConfigError> {
    reqwest::Url::parse(url.get_ref())
        .ok()
        .filter(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some())
        .ok_or_else(|| at(url.span().start, format!("key 'url': {:?} is not an http(s) URL", url.get_ref())))
}

/// A whole number of milliseconds, at least 1 (`--*-ms` flags).
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    let millis: u64 = text.parse().map_err(|_| format!("{text:?} is not a number of milliseconds"))?;
    if millis == 0 {
        return Err("must be at least 1 ms".into());
    }
    Ok(Duration::from_millis(millis))
}
