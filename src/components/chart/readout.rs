//! The crosshair's readout: with a pointer over any chart of the dashboard, every chart shows
//! the time under it and its series' values there (the drawn point nearest to it; the first
//! few series of a family), in a label kept inside the chart, and a line at that time.

use super::axis::clock_time;
use super::geometry::{axis_unit, nearest, x_at};
use super::Shown;
use crate::model::format::Reading;
use crate::protocol::Millis;
use leptos::prelude::*;

/// A family's series named in the readout, at most.
const MOST_SERIES: usize = 4;

/// Half the readout label's width: it is centred on the crosshair but kept inside the chart.
const HALF_READOUT: f64 = 75.0;

/// What the readout shows, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Readout {
    /// CSS pixels from the canvas' left edge: the crosshair, and the label's centre.
    pub x: f64,
    pub left: f64,
    pub text: String,
}

impl Readout {
    /// The readout of the chart that drew `shown`, at time `at`; `None` when `at` is outside
    /// what it shows.
    pub fn at(at: Millis, shown: StoredValue<Shown>, reading: &Reading) -> Option<Readout> {
        shown.with_value(|Shown { lines, from, to, width, .. }| {
            let width = *width;
            if at < *from || at > *to || width <= 0.0 {
                return None;
            }
            let x = x_at(at, width, *from, *to, axis_unit(reading.format, &reading.axis_unit()));
            let mut values = lines.iter().filter_map(|line| Some((line, nearest(&line.points, at)?)));
            let time = clock_time(at, *to - *from);
            let text = match values.next() {
                None => format!("{time} · no data"),
                Some((_, (_, value))) if lines.len() == 1 => format!("{time} · {}", reading.show(value)),
                Some((line, (_, value))) => {
                    let first = std::iter::once((line, value)).chain(values.map(|(line, (_, value))| (line, value)));
                    let parts: Vec<String> = first
                        .take(MOST_SERIES)
                        .map(|(line, value)| format!("{}: {}", line.legend, reading.show(value)))
                        .collect();
                    format!("{time} · {}", parts.join(" · "))
                }
            };
            let left = x.clamp(HALF_READOUT, (width - HALF_READOUT).max(HALF_READOUT));
            Some(Readout { x, left, text })
        })
    }
}
