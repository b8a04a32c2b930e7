//! The latest value of each metric, by that metric's own time. An update carrying an older
//! point of a metric (a backfill: an agent flushing what it buffered through an outage, or
//! pushing late) does not replace the newer value already known, so what a card says is always
//! the newest value of each metric, whatever order points arrive in.

use crate::protocol::{Metrics, Millis};
use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latest {
    values: Metrics,
    /// When each value was measured.
    at: HashMap<String, Millis>,
}

impl Latest {
    /// Values known as of `ts`, without their own times (as the store keeps them): each is
    /// taken to be from `ts`, so only points at least that new replace them.
    pub fn as_of(values: Metrics, ts: Millis) -> Self {
        let at = values.keys().map(|name| (name.clone(), ts)).collect();
        Latest { values, at }
    }

    /// Takes the values of an update measured at `ts` that are at least as new as those held.
    pub fn apply(&mut self, ts: Millis, metrics: &Metrics) {
        for (name, &value) in metrics {
            match self.at.get_mut(name) {
                Some(held) if *held > ts => {}
                Some(held) => {
                    *held = ts;
                    // Known metric: replaced in place, no key allocated (the common case).
                    if let Some(held_value) = self.values.get_mut(name) {
                        *held_value = value;
                    }
                }
                None => {
                    self.at.insert(name.clone(), ts);
                    self.values.insert(name.clone(), value);
                }
            }
        }
    }

    pub fn values(&self) -> &Metrics {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metrics;

    #[test]
    fn an_older_point_does_not_replace_a_newer_value() {
        let mut latest = Latest::default();
        latest.apply(2000, &metrics(&[("a", 2.0), ("b", 20.0)]));
        latest.apply(1000, &metrics(&[("a", 1.0), ("c", 3.0)]));
        assert_eq!(
            latest.values(),
            &metrics(&[("a", 2.0), ("b", 20.0), ("c", 3.0)]),
            "a new metric is taken at any time"
        );
        latest.apply(2000, &metrics(&[("a", 2.5)]));
        assert_eq!(latest.values()["a"], 2.5, "a point as new as the held one replaces it");
        let mut restored = Latest::as_of(metrics(&[("a", 9.0)]), 5000);
        restored.apply(4000, &metrics(&[("a", 1.0)]));
        assert_eq!(restored.values()["a"], 9.0);
        restored.apply(6000, &metrics(&[("a", 1.0)]));
        assert_eq!(restored.values()["a"], 1.0);
    }
}
