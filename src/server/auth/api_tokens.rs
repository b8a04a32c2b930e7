//! Opaque API tokens for agents and scripts: `[[tokens]]` in the config file, each stored as the
//! SHA-256 of the token (never the token), with a scope and the dashboards it covers.
//! `livedash token create` makes one and prints it once.

use super::{patterns::DashboardPatterns, Scope};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What every token `livedash token create` makes starts with, so leaked ones are searchable.
pub const PREFIX: &str = "ldt_";

/// One `[[tokens]]` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    pub scope: Scope,
    #[serde(default)]
    pub dashboards: Option<DashboardPatterns>,
}

impl TokenConfig {
    /// The dashboards this token may use: those listed; absent, every one for `admin`.
    pub fn dashboards(&self) -> DashboardPatterns {
        DashboardPatterns::listed_or_default(self.dashboards.as_ref(), self.scope == Scope::Admin)
    }
}

/// Whether `text` is 64 hex digits.
pub fn check_sha256(text: &str) -> Result<(), String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("sha256 must be the 64 hex digits `livedash token create` prints".into())
    }
}

pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits).
pub fn create() -> String {
    format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// The configured tokens, by hash.
#[derive(Default)]
pub struct ApiTokens {
    by_hash: HashMap<String, TokenConfig>,
}

impl ApiTokens {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        ApiTokens { by_hash: tokens.iter().map(|token| (token.sha256.to_ascii_lowercase(), token.clone())).collect() }
    }

    /// The entry `token` hashes to. A hash lookup reveals nothing useful through timing: finding
    /// a token from it would take finding a SHA-256 preimage.
    pub fn find(&self, token: &str) -> Option<&TokenConfig> {
        self.by_hash.get(&sha256_hex(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_is_found_by_its_hash() {
        let token = create();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        let entry = TokenConfig {
            name: "ci".into(),
            sha256: sha256_hex(&token).to_uppercase(),
            scope: Scope::Write,
            dashboards: Some(DashboardPatterns::from_list("shop,servers")),
        };
        check_sha256(&entry.sha256).unwrap();
        let tokens = ApiTokens::new(&[entry]);
        assert_eq!(tokens.find(&token).map(|t| t.name.as_str()), Some("ci"));
        assert!(tokens.find(&create()).is_none());
        assert!(check_sha256("abc").is_err());
    }
}
