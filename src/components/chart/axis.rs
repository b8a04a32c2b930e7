//! What the axes say. The x axis counts back from "now" on live windows and reads the clock
//! (or the date) on long ones, with ticks on whole minutes, hours or days, in the browser's
//! time zone. The y axis labels come from `model::format::AxisLabels`.

use crate::protocol::Millis;

/// How the x axis reads: live windows count back from "now"; longer ones show the clock (or
/// the date), with ticks on whole minutes, hours or days.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeAxis {
    /// Seconds before the right edge.
    Relative,
    /// Absolute time in units of `unit_ms`, so the axis' round numbers are whole units.
    Clock { unit_ms: Millis },
}

impl TimeAxis {
    pub fn for_span(span_ms: Millis) -> TimeAxis {
        const MINUTE: Millis = 60_000;
        match span_ms {
            span if span <= 10 * MINUTE => TimeAxis::Relative,
            span if span <= 3 * 60 * MINUTE => TimeAxis::Clock { unit_ms: MINUTE },
            span if span <= 3 * 24 * 60 * MINUTE => TimeAxis::Clock { unit_ms: 60 * MINUTE },
            _ => TimeAxis::Clock { unit_ms: 24 * 60 * MINUTE },
        }
    }

    /// Where `ts` sits on the axis of a chart ending at `to`.
    pub fn position(self, ts: Millis, to: Millis) -> f64 {
        match self {
            TimeAxis::Relative => (ts - to) as f64 / 1000.0,
            TimeAxis::Clock { unit_ms } => ts as f64 / unit_ms as f64,
        }
    }

    pub fn label(self, position: f64) -> String {
        match self {
            TimeAxis::Relative if position > -0.5 => "now".to_owned(),
            TimeAxis::Relative => relative_label(-position),
            TimeAxis::Clock { unit_ms } => axis_clock_label((position * unit_ms as f64).round() as Millis, unit_ms),
        }
    }
}

/// "30s", "2m", "1h" ago.
fn relative_label(secs_ago: f64) -> String {
    if secs_ago < 90.0 {
        format!("-{secs_ago:.0}s")
    } else if secs_ago < 5400.0 {
        format!("-{:.0}m", secs_ago / 60.0)
    } else if secs_ago < 2.0 * 86_400.0 {
        format!("-{:.0}h", secs_ago / 3600.0)
    } else {
        format!("-{:.0}d", secs_ago / 86_400.0)
    }
}

/// An x axis tick of a long window: "14:20" on minute and hour axes, "20 Nov" on day axes. In
/// the browser's time zone; UTC where there is no browser (tests).
fn axis_clock_label(ts: Millis, unit_ms: Millis) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    #[cfg(feature = "hydrate")]
    let (month, day, hour, minute) = {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        (date.get_month() as usize, date.get_date(), date.get_hours(), date.get_minutes())
    };
    #[cfg(not(feature = "hydrate"))]
    let (month, day, hour, minute) = {
        let days = ts.div_euclid(86_400_000);
        let minutes_of_day = ts.rem_euclid(86_400_000) / 60_000;
        let (_, month, day) = civil_from_days(days);
        (month as usize - 1, day, (minutes_of_day / 60) as u32, (minutes_of_day % 60) as u32)
    };
    if unit_ms >= 86_400_000 {
        format!("{day} {}", MONTHS[month % 12])
    } else {
        format!("{hour:02}:{minute:02}")
    }
}

/// The (year, month 1-12, day 1-31) of a count of days since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
#[cfg(not(feature = "hydrate"))]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Local clock time of `ts`; with the date when the chart spans more than a day.
pub fn clock_time(ts: Millis, span: Millis) -> String {
    #[cfg(feature = "hydrate")]
    {
        use std::cell::RefCell;
        thread_local! {
            /// The last time written: the crosshair asks every chart for the same one, and the
            /// browser's locale formatting is the slowest part of a readout.
            static LAST: RefCell<Option<(Millis, bool, String)>> = const { RefCell::new(None) };
        }
        let dated = span > 86_400_000;
        if let Some(text) = LAST.with_borrow(|last| {
            last.as_ref().filter(|(at, with_date, _)| (*at, *with_date) == (ts, dated)).map(|(_, _, text)| text.clone())
        }) {
            return text;
        }
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        let text = String::from(if dated {
            date.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
        } else {
            date.to_locale_time_string("en-GB")
        });
        LAST.set(Some((ts, dated, text.clone())));
        text
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = span;
        format!("{ts}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_and_clock_labels() {
        // 2023-11-14 22:13:20 UTC.
        let to: Millis = 1_700_000_000_000;
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(axis_clock_label(to, 60_000), "22:13");
        assert_eq!(axis_clock_label(to, 86_400_000), "14 Nov");
    }

    #[test]
    fn live_windows_count_back_from_now() {
        let axis = TimeAxis::for_span(30_000);
        assert_eq!(axis, TimeAxis::Relative);
        assert_eq!(axis.label(axis.position(30_000, 30_000)), "now");
        assert_eq!(axis.label(axis.position(0, 30_000)), "-30s");
        assert_eq!(relative_label(600.0), "-10m");
    }
}
