//! Which dashboards a credential covers: a list of names and `*` patterns (`main`, `ops-*`,
//! `*`), from a JWT's `dashboards` claim, a user's or an API token's `dashboards`. `*` stands
//! for any run of characters and is the only special character, so a pattern never covers more
//! than it reads: `shop` covers `shop` alone.

use crate::model::glob;
use serde::{Deserialize, Serialize};

/// Names and `*` patterns; an empty list covers nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DashboardPatterns(Vec<String>);

impl DashboardPatterns {
    /// Every dashboard.
    pub fn all() -> Self {
        DashboardPatterns(vec!["*".to_owned()])
    }

    pub fn new(patterns: Vec<String>) -> Self {
        DashboardPatterns(patterns)
    }

    /// What a credential listing `listed` covers: the list; without one, every dashboard for an
    /// admin and none for anyone else (PROTOCOL.md's `dashboards` claim, users and API tokens).
    pub fn listed_or_default(listed: Option<&DashboardPatterns>, admin: bool) -> Self {
        match (listed, admin) {
            (Some(patterns), _) => patterns.clone(),
            (None, true) => DashboardPatterns::all(),
            (None, false) => DashboardPatterns::default(),
        }
    }

    /// From a comma-separated list (`shop,servers`), as `livedash token create` takes it.
    pub fn from_list(text: &str) -> Self {
        DashboardPatterns(text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether some pattern covers `dashboard`.
    pub fn covers(&self, dashboard: &str) -> bool {
        self.0.iter().any(|pattern| glob::matches(pattern, dashboard))
    }

    /// A pattern that no dashboard id could match, to report in configuration (`Shop!`).
    pub fn first_invalid(&self) -> Option<&str> {
        let valid = |pattern: &str| {
            !pattern.is_empty()
                && pattern.len() <= 64
                && pattern
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*'))
        };
        self.0.iter().map(String::as_str).find(|pattern| !valid(pattern))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn patterns(list: &[&str]) -> DashboardPatterns {
        DashboardPatterns::new(list.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn names_and_stars() {
        let covered = patterns(&["main", "ops-*", "*-eu"]);
        for name in ["main", "ops-", "ops-db", "web-eu", "-eu"] {
            assert!(covered.covers(name), "{name}");
        }
        for name in ["mains", "xmain", "ops", "op-db", "web-us", ""] {
            assert!(!covered.covers(name), "{name}");
        }
        assert!(DashboardPatterns::all().covers("anything"));
        assert!(!DashboardPatterns::default().covers("main"), "nothing listed covers nothing");
        assert!(patterns(&["a*b*c"]).covers("aXXbYYc"));
        assert!(!patterns(&["a*b*c"]).covers("aXXcYYb"));
    }

    #[test]
    fn lists_and_invalid_patterns() {
        assert_eq!(DashboardPatterns::from_list(" shop, servers ,"), patterns(&["shop", "servers"]));
        assert_eq!(patterns(&["ok", "Shop!"]).first_invalid(), Some("Shop!"));
        assert_eq!(patterns(&["ok-*", "*"]).first_invalid(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn a_name_without_star_covers_only_itself(pattern in "[a-z0-9_-]{1,12}", name in "[a-z0-9_-]{1,12}") {
            prop_assert_eq!(patterns(&[&pattern]).covers(&name), pattern == name);
        }
    }
}
