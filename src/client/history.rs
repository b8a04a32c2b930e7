//! Long time ranges (1 h to 30 d) come from the server's history store rather than the live
//! stream: each bucket's min and max become two points, so after per-column decimation a
//! 30-day chart shows the true envelope at the cost of a 30-second one. The live edge (points
//! newer than the last bucket) is appended from the stream. `use_metric_history` keeps one
//! chart's long-window history fetched.

use super::state::{DashboardState, TimeWindow};
use crate::model::{series::Point, time::bucket_start};
use crate::protocol::{Bucket, Millis};
use leptos::prelude::*;

/// A metric's history as fetched for one long window.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchedHistory {
    pub window: TimeWindow,
    /// The buckets' envelope (`envelope`), or a counter's totals at their ends (`bucket_ends`).
    pub points: Vec<Point>,
    pub step_ms: Millis,
}

/// `metric`'s history for the dashboard's chosen window while that window is a long one:
/// fetched when it is chosen, then again each minute; a counter's as `bucket_ends`, anything
/// else as its `envelope`. A fetch still running when the window changes or the chart goes
/// away is cancelled with it. Always `None` on the server.
pub fn use_metric_history(state: DashboardState, metric: String, counter: bool) -> ReadSignal<Option<FetchedHistory>> {
    let (history, set_history) = signal(None::<FetchedHistory>);
    #[cfg(feature = "hydrate")]
    {
        let minute = Memo::new(move |_| state.updated_at.get() / 60_000);
        Effect::new(move |_| {
            let window = state.window.get();
            minute.track();
            let Some(step) = window.history_step() else { return };
            let (dashboard, metric) = (state.id.get_value(), metric.clone());
            let to = state.updated_at.get_untracked();
            // Scoped to this run of the effect: the next run, or the chart's removal, cancels it.
            leptos::task::spawn_local_scoped_with_cancellation(async move {
                match fetch(&dashboard, &metric, to, window.millis(), step).await {
                    Ok(answer) => {
                        let points = match counter {
                            true => bucket_ends(&answer.buckets, answer.step_ms),
                            false => envelope(&answer.buckets, answer.step_ms),
                        };
                        set_history.set(Some(FetchedHistory { window, points, step_ms: answer.step_ms }));
                    }
                    Err(error) => leptos::logging::warn!("{metric}: {error}"),
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (state, metric, counter, set_history);
    history
}

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

/// A counter's buckets as its total at each bucket's end (a total that only grows is highest
/// there): consecutive points give the average rate over each bucket (`model::counter::rates`),
/// where the envelope's min and max half a step apart would not.
pub fn bucket_ends(buckets: &[Bucket], step_ms: Millis) -> Vec<Point> {
    buckets.iter().map(|bucket| (bucket.ts + step_ms, bucket.max)).collect()
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
        Bucket { ts, count: 2, sum: min + max, min, max, avg: (min + max) / 2.0 }
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
    fn a_counters_buckets_give_the_average_rate_over_each() {
        // 60 per minute, then 120: a minute's rate is 1/s, then 2/s.
        let totals =
            bucket_ends(&[bucket(0, 0.0, 59.0), bucket(60_000, 60.0, 179.0), bucket(120_000, 180.0, 299.0)], 60_000);
        assert_eq!(totals, vec![(60_000, 59.0), (120_000, 179.0), (180_000, 299.0)]);
        assert_eq!(crate::model::counter::rates(&totals), vec![(120_000, 2.0), (180_000, 2.0)]);
    }
}
