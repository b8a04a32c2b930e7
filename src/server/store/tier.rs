//! The four resolutions history is kept at (in the spirit of Netdata's tiers): per second, per
//! minute, per hour, per day. Every tier holds count, sum, min and max per bucket, so any tier
//! can answer any coarser step exactly, and each is a plain merge of the points that fell in it.
//! The rollup tiers also keep each bucket's counter `Run` (first and last value, increase), so
//! a counter's rate over a bucket survives resets inside it.

use crate::model::counter::{self, Run};
use crate::protocol::{Bucket, Millis};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Second,
    Minute,
    Hour,
    Day,
}

impl Tier {
    /// Finest first.
    pub const ALL: [Tier; 4] = [Tier::Second, Tier::Minute, Tier::Hour, Tier::Day];

    /// The tiers stored a row per bucket (`table`); the per-second tier is stored a minute
    /// per row (`seconds`).
    pub const ROLLUPS: [Tier; 3] = [Tier::Minute, Tier::Hour, Tier::Day];

    pub fn step_ms(self) -> Millis {
        match self {
            Tier::Second => 1_000,
            Tier::Minute => 60_000,
            Tier::Hour => 3_600_000,
            Tier::Day => 86_400_000,
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Tier::Second => "seconds",
            Tier::Minute => "points_1m",
            Tier::Hour => "points_1h",
            Tier::Day => "points_1d",
        }
    }

    /// The start of the bucket `ts` falls in (UTC, so days start at midnight UTC).
    pub fn bucket_start(self, ts: Millis) -> Millis {
        crate::model::time::bucket_start(ts, self.step_ms())
    }

    /// The coarsest tier whose buckets tile `step` exactly, the cheapest one to answer it from.
    pub fn for_step(step_ms: Millis) -> Option<Tier> {
        Tier::ALL.into_iter().rev().find(|tier| step_ms > 0 && step_ms % tier.step_ms() == 0)
    }
}

/// count, sum, min, max of the points in one bucket, and their run as a counter's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aggregate {
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub run: Run,
}

impl Aggregate {
    pub fn of(value: f64) -> Self {
        Aggregate { count: 1, sum: value, min: value, max: value, run: Run::of(value) }
    }

    /// Points kept without their order (a per-second cell, a row from before runs were kept).
    pub fn unordered(count: i64, sum: f64, min: f64, max: f64) -> Self {
        Aggregate { count, sum, min, max, run: Run::unordered(min, max) }
    }

    /// Merges `later`, whose points come after this one's.
    pub fn merge(&mut self, later: Aggregate) {
        // Saturating: a damaged row must not overflow it.
        self.count = self.count.saturating_add(later.count);
        self.sum += later.sum;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.run.then(later.run);
    }

    /// As the history API answers it, for the bucket starting at `ts`.
    pub fn to_bucket(self, ts: Millis) -> Bucket {
        let Aggregate { count, sum, min, max, .. } = self;
        Bucket { ts, count, sum, min, max, avg: sum / count as f64, rate: None }
    }
}

/// The buckets of `aggregates` (start and aggregate, in time order) as the history API answers
/// them: with each bucket's rate when the series is a counter. The first aggregate is the bucket
/// before `from`, read only for the rate of the first one asked for.
pub fn to_buckets(aggregates: &[(Millis, Aggregate)], from: Millis, step_ms: Millis, counter: bool) -> Vec<Bucket> {
    let rates = if counter {
        let runs: Vec<(Millis, Run)> = aggregates.iter().map(|&(ts, aggregate)| (ts, aggregate.run)).collect();
        counter::bucket_rates(&runs, step_ms).into_iter().map(Some).collect()
    } else {
        vec![None; aggregates.len()]
    };
    aggregates
        .iter()
        .zip(rates)
        .filter(|((ts, _), _)| *ts >= from)
        .map(|(&(ts, aggregate), rate)| Bucket { rate, ..aggregate.to_bucket(ts) })
        .collect()
}

/// How long each tier is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Retention {
    pub second: Duration,
    pub minute: Duration,
    pub hour: Duration,
    pub day: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Retention {
            second: Duration::from_secs(DAY),
            minute: Duration::from_secs(30 * DAY),
            hour: Duration::from_secs(365 * DAY),
            day: Duration::from_secs(5 * 365 * DAY),
        }
    }
}

impl Retention {
    pub fn of(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Second => self.second,
            Tier::Minute => self.minute,
            Tier::Hour => self.hour,
            Tier::Day => self.day,
        }
    }
}

/// Parses a step such as `1s`, `10s`, `5m`, `1h`, `1d` into milliseconds.
pub fn parse_step(text: &str) -> Result<Millis, String> {
    let invalid = || format!("step '{text}' is not a number followed by s, m, h or d (e.g. 1m)");
    let unit = match text.chars().last() {
        Some('s') => 1_000,
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        _ => return Err(invalid()),
    };
    let count: Millis = text[..text.len() - 1].parse().map_err(|_| invalid())?;
    if count <= 0 {
        return Err(invalid());
    }
    count.checked_mul(unit).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_the_step() {
        assert_eq!(Tier::Minute.bucket_start(125_000), 120_000);
        assert_eq!(Tier::Second.bucket_start(1_999), 1_000);
        assert_eq!(Tier::Day.bucket_start(86_400_000 + 5), 86_400_000);
    }

    #[test]
    fn steps_pick_the_coarsest_tier_that_tiles_them() {
        assert_eq!(Tier::for_step(1_000), Some(Tier::Second));
        assert_eq!(Tier::for_step(10_000), Some(Tier::Second));
        assert_eq!(Tier::for_step(300_000), Some(Tier::Minute));
        assert_eq!(Tier::for_step(7_200_000), Some(Tier::Hour));
        assert_eq!(Tier::for_step(7 * 86_400_000), Some(Tier::Day));
        assert_eq!(Tier::for_step(1_500), None);
        assert_eq!(parse_step("5m"), Ok(300_000));
        assert_eq!(parse_step("1d"), Ok(86_400_000));
        assert!(parse_step("0s").is_err());
        assert!(parse_step("m").is_err());
        assert!(parse_step("5w").is_err());
    }
}
