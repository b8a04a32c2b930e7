//! The pointer readout: with a mouse, pen or finger over a chart, the time and value of the
//! drawn point nearest to it (for a family, each drawn series' value, the first few), in a
//! label that follows the pointer but stays inside the chart.

use super::axis::clock_time;
use super::geometry::{axis_unit, nearest, time_at};
use super::Shown;
use crate::model::format::Reading;
use leptos::prelude::*;

/// A family's series named in the readout, at most.
const MOST_SERIES: usize = 4;

/// Half the readout label's width: it is centred on the pointer but kept inside the chart.
const HALF_READOUT: f64 = 75.0;

/// What the readout shows, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Readout {
    /// CSS pixels from the figure's left edge.
    pub left: f64,
    pub text: String,
}

/// A pointer handler that sets `readout` to what lies under the pointer on `canvas`.
pub fn on_pointer(
    canvas: NodeRef<leptos::html::Canvas>,
    shown: StoredValue<Shown>,
    reading: Reading,
    names: Vec<(String, String)>,
    readout: RwSignal<Option<Readout>>,
) -> impl Fn(leptos::ev::PointerEvent) + Clone {
    move |event| {
        let (width, offset) = canvas
            .get_untracked()
            .map_or((0.0, 0.0), |canvas| (f64::from(canvas.client_width()), f64::from(canvas.offset_left())));
        let x = f64::from(event.offset_x());
        let text = shown.with_value(|Shown { lines, from, to }| {
            let at = time_at(x, width, *from, *to, axis_unit(reading.format, &reading.axis_unit()));
            let mut values = lines.iter().filter_map(|(name, points)| Some((name, nearest(points, at)?)));
            let (name, (ts, value)) = values.next()?;
            let time = clock_time(ts, *to - *from);
            if names.len() == 1 {
                return Some(format!("{time} · {}", reading.show(value)));
            }
            let legend = |name: &str| -> String {
                names.iter().find(|(key, _)| key == name).map_or(name, |(_, legend)| legend.as_str()).to_owned()
            };
            let first = std::iter::once((name, value)).chain(values.map(|(name, (_, value))| (name, value)));
            let parts: Vec<String> = first
                .take(MOST_SERIES)
                .map(|(name, value)| format!("{}: {}", legend(name), reading.show(value)))
                .collect();
            Some(format!("{time} · {}", parts.join(" · ")))
        });
        let left = offset + x.clamp(HALF_READOUT, (width - HALF_READOUT).max(HALF_READOUT));
        readout.set(text.map(|text| Readout { left, text }));
    }
}
