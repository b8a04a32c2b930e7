//! Long time ranges (1 h to 30 d) come from the server's history store rather than the live
//! stream: each bucket's min and max become two points, so after per-column decimation a
//! 30-day chart shows the true envelope at the cost of a 30-second one. The live edge (points
//! newer than the last bucket) is appended from the stream. `client::panel_data` fetches a
//! panel's spans with them.

use crate::model::{series::Point, time::bucket_start};
use crate::protocol::{Bucket, Millis};

/// A bucket's min and max as points (in the order they would have been reached is unknown, so
/// min first, then max, half a step later), or one point when they are equal.
pub fn envelope(buckets: &[Bucket], step_ms: Millis) -> Vec<Point> {
    let mut points = Vec::with_capacity(buckets.len() * 2);
    for bucket in buckets {
        points.push((bucket.ts, bucket.min));
        if bucket.max != bucket.min {
            points.push((bucket.ts + step_ms / 2, bucket.max));
        }
    }
    points
}

/// A counter's buckets as their rates (the server's: the average over each bucket, reset-safe),
/// each at its bucket's middle.
pub fn bucket_rates(buckets: &[Bucket], step_ms: Millis) -> Vec<Point> {
    buckets.iter().filter_map(|bucket| Some((bucket.ts + step_ms / 2, bucket.rate?))).collect()
}

/// `history` followed by the live points after its last bucket.
pub fn with_live_edge<'a>(history: &[Point], step_ms: Millis, live: impl Iterator<Item = &'a Point>) -> Vec<Point> {
    let covered = history.last().map_or(Millis::MIN, |last| bucket_start(last.0, step_ms) + step_ms);
    history.iter().copied().chain(live.copied().filter(|point| point.0 >= covered)).collect()
}

/// Fetches `metric`'s history of the last `window_ms` before `to` at `step`.
#[cfg(feature = "hydrate")]
pub async fn fetch(
    dashboard: &str,
    metric: &str,
    to: Millis,
    window_ms: Millis,
    step: &str,
) -> Result<crate::protocol::HistoryAnswer, String> {
    let url =
        format!("/api/v1/dashboards/{dashboard}/history?metric={metric}&from={}&to={to}&step={step}", to - window_ms);
    crate::client::api::get(&url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(ts: Millis, min: f64, max: f64) -> Bucket {
        Bucket { ts, count: 2, sum: min + max, min, max, avg: (min + max) / 2.0, rate: None }
    }

    #[test]
    fn buckets_become_their_envelope_and_the_live_edge_follows() {
        let history = envelope(&[bucket(0, 1.0, 3.0), bucket(60_000, 2.0, 2.0)], 60_000);
        assert_eq!(history, vec![(0, 1.0), (30_000, 3.0), (60_000, 2.0)]);
        let live = [(100_000, 9.0), (120_000, 4.0), (125_000, 5.0)];
        let joined = with_live_edge(&history, 60_000, live.iter());
        assert_eq!(joined.last(), Some(&(125_000, 5.0)));
        assert_eq!(joined.len(), 5, "live points inside the last bucket are already in it");
        assert_eq!(with_live_edge(&[], 60_000, live.iter()).len(), 3);
    }

    #[test]
    fn a_counters_buckets_are_drawn_as_their_rates_and_the_live_edge_follows() {
        let rated = |ts, rate| Bucket { rate: Some(rate), ..bucket(ts, 0.0, 1.0) };
        let history = bucket_rates(&[rated(0, 1.0), bucket(60_000, 5.0, 5.0), rated(120_000, 2.0)], 60_000);
        assert_eq!(history, vec![(30_000, 1.0), (150_000, 2.0)], "a bucket without a rate is left out");
        let live = [(170_000, 3.0), (185_000, 4.0)];
        assert_eq!(with_live_edge(&history, 60_000, live.iter()).last(), Some(&(185_000, 4.0)));
        assert_eq!(with_live_edge(&history, 60_000, live.iter()).len(), 3, "from the last bucket's end");
    }
}
