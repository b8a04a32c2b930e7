//! Per-metric time series in ring buffers: what the browser keeps for charts and trends, and
//! what a snapshot's history window turns into.

use super::ring::Ring;
use crate::protocol::{HistoryWindow, Metrics, Millis};
use std::collections::BTreeMap;

/// One point of one metric.
pub type Point = (Millis, f64);

/// The recent points of every metric of one dashboard.
#[derive(Clone, Debug)]
pub struct SeriesSet {
    series: BTreeMap<String, Ring<Point>>,
    capacity: usize,
}

impl SeriesSet {
    /// Keeps at most `capacity` points per metric.
    pub fn new(capacity: usize) -> Self {
        SeriesSet { series: BTreeMap::new(), capacity }
    }

    /// Builds the series from a snapshot's column-oriented window.
    pub fn from_window(window: &HistoryWindow, capacity: usize) -> Self {
        let mut set = SeriesSet::new(capacity);
        for (name, values) in &window.series {
            let ring = set.ring_mut(name);
            for (ts, value) in window.ts.iter().zip(values) {
                if let Some(value) = value {
                    ring.insert_by_key((*ts, *value), |point| point.0);
                }
            }
        }
        set
    }

    /// Adds one update's values, each in time order within its metric (a late point goes
    /// where its time puts it, not at the end).
    pub fn push(&mut self, ts: Millis, metrics: &Metrics) {
        for (name, value) in metrics {
            self.ring_mut(name).insert_by_key((ts, *value), |point| point.0);
        }
    }

    /// Adds one point of metric `name` in its time order; whether the metric is new.
    pub fn push_point(&mut self, name: &str, point: Point) -> bool {
        let new = !self.series.contains_key(name);
        self.ring_mut(name).insert_by_key(point, |point| point.0);
        new
    }

    fn ring_mut(&mut self, name: &str) -> &mut Ring<Point> {
        if !self.series.contains_key(name) {
            self.series.insert(name.to_owned(), Ring::with_capacity(self.capacity));
        }
        self.series.get_mut(name).expect("inserted above")
    }

    /// Every metric's points, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Ring<Point>)> {
        self.series.iter()
    }

    /// Every metric's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.series.keys()
    }

    pub fn get(&self, name: &str) -> Option<&Ring<Point>> {
        self.series.get(name)
    }

    /// The newest point at or before `ts`: what a metric read then.
    pub fn value_at(&self, name: &str, ts: Millis) -> Option<f64> {
        let ring = self.series.get(name)?;
        let after = ring.partition_point(|(t, _)| *t <= ts);
        after.checked_sub(1).and_then(|index| ring.get(index)).map(|(_, value)| *value)
    }

    /// Relative change of `name` between `ago` ms before its newest point and that point.
    /// `None` when there is no older point or it was zero.
    pub fn trend(&self, name: &str, ago: Millis) -> Option<f64> {
        let (newest_ts, newest) = *self.series.get(name)?.last()?;
        let before = self.value_at(name, newest_ts - ago)?;
        (before != 0.0).then(|| (newest - before) / before.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metrics;

    #[test]
    fn window_nulls_become_absent_points() {
        let window = HistoryWindow {
            ts: vec![1000, 2000, 3000],
            series: [("a".to_string(), vec![Some(1.0), None, Some(3.0)])].into(),
        };
        let set = SeriesSet::from_window(&window, 10);
        let points: Vec<_> = set.get("a").unwrap().iter().copied().collect();
        assert_eq!(points, vec![(1000, 1.0), (3000, 3.0)]);
    }

    #[test]
    fn each_metric_keeps_its_own_bounded_ring() {
        let mut set = SeriesSet::new(2);
        set.push(1, &metrics(&[("a", 1.0), ("b", 10.0)]));
        set.push(2, &metrics(&[("a", 2.0)]));
        set.push(3, &metrics(&[("a", 3.0)]));
        assert_eq!(set.get("a").unwrap().iter().copied().collect::<Vec<_>>(), vec![(2, 2.0), (3, 3.0)]);
        assert_eq!(set.get("b").unwrap().len(), 1);
    }

    #[test]
    fn trend_compares_with_the_value_that_was_current_then() {
        let mut set = SeriesSet::new(100);
        for second in 0..=60 {
            set.push(second * 1000, &metrics(&[("users", 100.0 + second as f64)]));
        }
        // 30 s before t=60 s the value was 130.
        let trend = set.trend("users", 30_000).unwrap();
        assert!((trend - (160.0 - 130.0) / 130.0).abs() < 1e-12);
        assert_eq!(set.value_at("users", 30_500), Some(130.0));
        assert_eq!(set.value_at("users", -1), None);
        assert_eq!(set.trend("missing", 30_000), None);
    }
}
