//! Seq continuity (PROTOCOL.md rules 2 and 3): which incoming update is the next one, which is
//! a duplicate to ignore, and which reveals a gap. The browser resubscribes on a gap; the
//! server's feed heals it with a snapshot.

/// What to do with an update carrying `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continuity {
    /// `seq` is exactly one past the last one held: apply it.
    Next,
    /// Already held: drop it.
    Duplicate,
    /// Something between was lost: resubscribe with `since`.
    Gap { expected: u64 },
}

/// Classifies an update covering seqs `first..=last` (one seq unless it is a merge of a
/// throttled subscription) against `held`, the last seq its reader holds.
pub fn continuity(held: u64, first: u64, last: u64) -> Continuity {
    if last <= held {
        Continuity::Duplicate
    } else if first <= held + 1 {
        Continuity::Next
    } else {
        Continuity::Gap { expected: held + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_next_duplicate_and_gap() {
        let held = 10;
        assert_eq!(continuity(held, 11, 11), Continuity::Next);
        assert_eq!(continuity(held, 10, 10), Continuity::Duplicate);
        assert_eq!(continuity(held, 3, 3), Continuity::Duplicate);
        assert_eq!(continuity(held, 13, 13), Continuity::Gap { expected: 11 });
    }

    #[test]
    fn merged_ranges_continue_when_they_start_at_or_before_the_next_seq() {
        let held = 10;
        assert_eq!(continuity(held, 11, 20), Continuity::Next);
        // Overlapping what is held: the newer values still apply.
        assert_eq!(continuity(held, 8, 20), Continuity::Next);
        assert_eq!(continuity(held, 5, 10), Continuity::Duplicate);
        assert_eq!(continuity(held, 12, 20), Continuity::Gap { expected: 11 });
    }
}
