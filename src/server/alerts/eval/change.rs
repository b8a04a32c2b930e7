//! Change rules (`crit = { change_below = 0.5, window = "5m", versus = "1h" }`): the average of
//! the metric over the last `window`, divided by its average over the same span `versus`
//! earlier, is the value the rule's levels judge. Averages, never single points. Each rule
//! keeps the sums and counts of its metric in buckets of a sixtieth of the window (at least a
//! second) for `versus + window`, filled by the updates as they are published (so the ratio is
//! a function of the update log) and, after a restart, from the history store's tiers
//! (`seed`). No baseline (no value then, or an average of zero) gives `nodata`, never a
//! firing alert.

pub use crate::model::alerts::ChangeWindow;
use crate::protocol::Millis;
use std::collections::VecDeque;

/// The bucket width of `window`: a sixtieth of it, at least a second.
pub fn bucket_ms(window: &ChangeWindow) -> Millis {
    (window.window_ms / 60).max(1000)
}

/// One bucket: its start, the sum and the count of the values in it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    start: Millis,
    sum: f64,
    count: u64,
}

/// A change rule's memory of its metric.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSeries {
    window: ChangeWindow,
    buckets: VecDeque<Bucket>,
}

impl ChangeSeries {
    pub fn new(window: ChangeWindow) -> Self {
        ChangeSeries { window, buckets: VecDeque::new() }
    }

    /// Adds `count` values summing to `sum` at `ts` (one value, or a bucket of the history
    /// store); a value older than what is kept is dropped.
    pub fn add(&mut self, ts: Millis, sum: f64, count: u64) {
        if !sum.is_finite() || count == 0 {
            return;
        }
        let width = bucket_ms(&self.window);
        let start = ts - ts.rem_euclid(width);
        match self.buckets.iter().rposition(|bucket| bucket.start <= start) {
            Some(index) if self.buckets[index].start == start => {
                let bucket = &mut self.buckets[index];
                bucket.sum += sum;
                bucket.count += count;
            }
            Some(index) => self.buckets.insert(index + 1, Bucket { start, sum, count }),
            None => self.buckets.push_front(Bucket { start, sum, count }),
        }
        let newest = self.buckets.back().map_or(start, |bucket| bucket.start);
        let keep_from = newest - self.window.versus_ms - self.window.window_ms - width;
        while self.buckets.front().is_some_and(|bucket| bucket.start < keep_from) {
            self.buckets.pop_front();
        }
    }

    /// The average over the `window` ending at `ts`, over the average of the same span
    /// `versus` earlier; `None` without a baseline (no value then, or an average of zero).
    pub fn ratio(&self, ts: Millis) -> Option<f64> {
        let ChangeWindow { window_ms, versus_ms } = self.window;
        let now = self.average(ts - window_ms, ts)?;
        let then = self.average(ts - versus_ms - window_ms, ts - versus_ms)?;
        (then != 0.0).then(|| now / then)
    }

    /// The average of the buckets that hold a time in `(from, to]` (found by binary search:
    /// this runs on every update of the metric).
    fn average(&self, from: Millis, to: Millis) -> Option<f64> {
        let first = self.buckets.partition_point(|bucket| bucket.start <= from - bucket_ms(&self.window));
        let end = self.buckets.partition_point(|bucket| bucket.start <= to);
        let (sum, count) = self
            .buckets
            .range(first..end.max(first))
            .fold((0.0, 0), |(sum, count), bucket| (sum + bucket.sum, count + bucket.count));
        (count > 0).then(|| sum / count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Millis = 60_000;

    fn series() -> ChangeSeries {
        ChangeSeries::new(ChangeWindow { window_ms: 5 * MINUTE, versus_ms: 60 * MINUTE })
    }

    #[test]
    fn the_ratio_compares_window_averages_an_hour_apart() {
        let mut revenue = series();
        // An hour of 100 a second, then five minutes of 40.
        for second in 0..3600 {
            revenue.add(second * 1000, 100.0, 1);
        }
        assert_eq!(revenue.ratio(3_599_000), None, "no baseline an hour before the first value");
        for second in 3600..3900 {
            revenue.add(second * 1000, 40.0, 1);
        }
        let ratio = revenue.ratio(3_899_000).unwrap();
        assert!((ratio - 0.4).abs() < 0.02, "{ratio}");
        // A single spike does not move a five-minute average much.
        revenue.add(3_900_000, 10_000.0, 1);
        assert!(revenue.ratio(3_900_000).unwrap() < 1.0);
    }

    #[test]
    fn a_zero_or_missing_baseline_is_none_and_old_buckets_go() {
        let mut quiet = series();
        for second in 0..300 {
            quiet.add(second * 1000, 0.0, 1);
        }
        for second in 3600..3900 {
            quiet.add(second * 1000, 5.0, 1);
        }
        assert_eq!(quiet.ratio(3_899_000), None, "an average of zero an hour ago");
        quiet.add(10 * 3_600_000, 1.0, 1);
        assert_eq!(quiet.buckets.len(), 1, "only versus + window is kept");
    }

    #[test]
    fn history_buckets_and_late_values_land_in_order() {
        let mut seeded = series();
        seeded.add(60_000, 600.0, 10);
        seeded.add(0, 50.0, 1);
        seeded.add(30_000, 30.0, 1);
        let starts: Vec<Millis> = seeded.buckets.iter().map(|bucket| bucket.start).collect();
        assert_eq!(starts, vec![0, 30_000, 60_000]);
        assert_eq!(seeded.average(-1, 60_000), Some(680.0 / 12.0));
    }
}
