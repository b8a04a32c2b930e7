//! Which dashboards a credential covers: a list of names and `*` patterns (`main`, `ops-*`,
//! `*`), from a JWT's `dashboards` claim, a user's or an API token's `dashboards`. `*` stands
//! for any run of characters and is the only special character, so a pattern never covers more
//! than it reads: `shop` covers `shop` alone.

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
        self.0.iter().any(|pattern| matches(pattern.as_bytes(), dashboard.as_bytes()))
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

/// Glob match with `*` only: iterative, with one backtracking point, so a hostile pattern
/// (`*a*a*a*...`) costs time linear in pattern times name, never exponential.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            // Let the last `*` take one more character.
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
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

    #[test]
    fn a_hostile_pattern_is_fast() {
        let pattern = "*a".repeat(32) + "b";
        let name = "a".repeat(64);
        let started = std::time::Instant::now();
        assert!(!patterns(&[&pattern]).covers(&name));
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    /// What the pattern means, spelled out as a regular-language check by brute force: split on
    /// `*`, the pieces must appear in order, the first at the start and the last at the end.
    fn reference(pattern: &str, name: &str) -> bool {
        let pieces: Vec<&str> = pattern.split('*').collect();
        if pieces.len() == 1 {
            return pattern == name;
        }
        let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
        if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
            return false;
        }
        let mut rest = &name[first.len()..name.len() - last.len()];
        for piece in &pieces[1..pieces.len() - 1] {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn never_grants_more_than_the_pattern_says(pattern in "[ab*-]{0,8}", name in "[ab-]{0,10}") {
            prop_assert_eq!(patterns(&[&pattern]).covers(&name), reference(&pattern, &name));
        }

        #[test]
        fn a_name_without_star_covers_only_itself(pattern in "[a-z0-9_-]{1,12}", name in "[a-z0-9_-]{1,12}") {
            prop_assert_eq!(patterns(&[&pattern]).covers(&name), pattern == name);
        }
    }
}
