//! Time alignment shared by the history tiers, history reads and the browser's charts.

use crate::protocol::Millis;

/// The start of the `step_ms`-long bucket holding `ts` (buckets are aligned to the Unix epoch,
/// so times before 1970 round down too).
pub fn bucket_start(ts: Millis, step_ms: Millis) -> Millis {
    ts - ts.rem_euclid(step_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_on_whole_steps_from_the_epoch() {
        assert_eq!(bucket_start(61_500, 60_000), 60_000);
        assert_eq!(bucket_start(60_000, 60_000), 60_000);
        assert_eq!(bucket_start(-1, 1000), -1000);
    }
}
