//! `*` patterns, the one wildcard livedash reads wherever a name may be a pattern: the
//! dashboards a credential covers (`ops-*`), configured kinds of metric families
//! (`node_*_bytes_total`). `*` stands for any run of characters and is the only special
//! character, so a pattern never matches more than it reads.

/// Glob match with `*` only: iterative, with one backtracking point, so a hostile pattern
/// (`*a*a*a*...`) costs time linear in pattern times name, never exponential.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
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

    #[test]
    fn a_hostile_pattern_is_fast() {
        let pattern = "*a".repeat(32) + "b";
        let name = "a".repeat(64);
        let started = std::time::Instant::now();
        assert!(!matches(&pattern, &name));
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
        fn matches_what_the_pattern_says(pattern in "[ab*-]{0,8}", name in "[ab-]{0,10}") {
            prop_assert_eq!(matches(&pattern, &name), reference(&pattern, &name));
        }
    }
}
