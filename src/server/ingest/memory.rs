//! What producers' conversions remember between requests (`SeriesMemory`), in this
//! instance's memory, bounded: a new series past the bound is not remembered (a delta sum's
//! point is then refused; a histogram's quantiles cover everything since its start).

use crate::model::histogram::Buckets;
use std::collections::HashMap;
use std::sync::Mutex;

/// Series remembered, at most.
const MAX_REMEMBERED: usize = 100_000;

/// What a conversion remembers between requests, by dashboard and series: delta sums' totals
/// (OTLP) and histograms' last cumulative buckets (OTLP, remote write, scraping), so that
/// quantiles show the last interval.
#[derive(Default)]
pub struct SeriesMemory {
    entries: Mutex<HashMap<(String, String), Remembered>>,
}

enum Remembered {
    Total(f64),
    Buckets(Buckets),
}

impl SeriesMemory {
    /// Adds `delta` to the series' total; `None` when the memory is full and the series new.
    pub fn add(&self, dashboard: &str, key: &str, delta: f64) -> Option<f64> {
        let mut entries = self.entries.lock().expect("series memory lock poisoned");
        let full = entries.len() >= MAX_REMEMBERED;
        match entries.get_mut(&(dashboard.to_owned(), key.to_owned())) {
            Some(Remembered::Total(total)) => {
                *total += delta;
                Some(*total)
            }
            _ if full => None,
            _ => {
                entries.insert((dashboard.to_owned(), key.to_owned()), Remembered::Total(delta));
                Some(delta)
            }
        }
    }

    /// The buckets counted since the series' previous cumulative point (all of them for its
    /// first), remembering these.
    pub fn interval(&self, dashboard: &str, key: &str, cumulative: Buckets) -> Buckets {
        let mut entries = self.entries.lock().expect("series memory lock poisoned");
        let full = entries.len() >= MAX_REMEMBERED;
        let slot = (dashboard.to_owned(), key.to_owned());
        let interval = match entries.get(&slot) {
            Some(Remembered::Buckets(earlier)) => cumulative.since(earlier),
            _ => cumulative.clone(),
        };
        if !full || entries.contains_key(&slot) {
            entries.insert(slot, Remembered::Buckets(cumulative));
        }
        interval
    }
}
