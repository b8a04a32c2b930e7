//! Pure data structures shared by server and browser: fixed-size ring buffers, per-metric time
//! series, the latest value of each metric, counters' rates, `*` patterns, seq continuity, value formatting, chart
//! decimation, bucket alignment, quantiles, sorting compiled once, URL encoding and the alert state machine. No I/O,
//! no signals.

pub mod alerts;
pub mod counter;
pub mod csv;
pub mod decimate;
pub mod family;
pub mod format;
pub mod glob;
pub mod histogram;
pub mod latest;
pub mod panel;
pub mod query;
pub mod ring;
pub mod sequence;
pub mod series;
pub mod sort;
pub mod stats;
pub mod time;
pub mod url;
pub mod view;

/// Test data: the metrics map of `(name, value)` pairs.
#[cfg(test)]
pub(crate) fn metrics(pairs: &[(&str, f64)]) -> crate::protocol::Metrics {
    pairs.iter().map(|(name, value)| (name.to_string(), *value)).collect()
}
