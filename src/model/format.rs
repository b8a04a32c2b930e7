//! How values read on screen: one function per `Format`, used by cards, charts and the server's
//! HTML alike so that the first paint and the live page never disagree.

use crate::protocol::Format;

/// `value` formatted for a card, with its unit.
pub fn format_value(value: f64, format: Format, unit: &str) -> String {
    let text = match format {
        Format::Int => group_thousands(value.round()),
        Format::Decimal => decimal(value),
        Format::Percent => format!("{:.1}%", value * 100.0),
        Format::Currency => currency(value),
        Format::Bytes => bytes(value),
        Format::Duration => duration(value),
    };
    // Units that the format already spells (%, $, B) are not repeated.
    if unit.is_empty() || matches!(format, Format::Percent | Format::Currency | Format::Duration) {
        text
    } else if format == Format::Bytes {
        // "B/s": the format wrote "12.3 KB", the unit adds the rate.
        match unit.strip_prefix('B') {
            Some(rest) => format!("{text}{rest}"),
            None => format!("{text} {unit}"),
        }
    } else {
        format!("{text} {unit}")
    }
}

/// How a series' values read: its format and unit, and whether they are a counter's rates
/// (`12.50/s`).
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub format: Format,
    pub unit: String,
    pub rate: bool,
}

impl Reading {
    pub fn show(&self, value: f64) -> String {
        let text = format_value(value, self.format, &self.unit);
        if self.rate {
            format!("{text}/s")
        } else {
            text
        }
    }

    /// The unit a chart's axis carries: a rate's is per second.
    pub fn axis_unit(&self) -> String {
        match (self.rate, self.unit.is_empty()) {
            (false, _) => self.unit.clone(),
            (true, true) => "/s".to_owned(),
            (true, false) => format!("{}/s", self.unit),
        }
    }
}

/// Labels for the ticks of a value axis: one unit for the whole axis (chosen by its largest
/// tick, so an axis never reads "900 KB, 1.0 MB") and just enough decimals to tell
/// neighbouring ticks apart ("0.45%, 0.50%", not "0.5%, 0.5%"; "300 KB", not "300.0 KB").
#[derive(Clone, Debug, PartialEq)]
pub struct AxisLabels {
    prefix: &'static str,
    /// Tick values are divided by this before they are written.
    divisor: f64,
    suffix: &'static str,
    decimals: usize,
}

impl AxisLabels {
    /// Labels for `ticks`, the evenly spaced values an axis marks (in any order).
    pub fn new(format: Format, ticks: &[f64]) -> Self {
        let largest = ticks.iter().fold(0.0_f64, |largest, tick| largest.max(tick.abs()));
        let (prefix, divisor, suffix) = match format {
            Format::Percent => ("", 0.01, "%"),
            Format::Bytes => {
                const UNITS: [&str; 6] = [" B", " KB", " MB", " GB", " TB", " PB"];
                let power =
                    (0..UNITS.len()).take_while(|&power| largest >= 1000_f64.powi(power as i32)).last().unwrap_or(0);
                ("", 1000_f64.powi(power as i32), UNITS[power])
            }
            Format::Duration => match largest {
                seconds if seconds < 1e-3 => ("", 1e-6, " µs"),
                seconds if seconds < 1.0 => ("", 1e-3, " ms"),
                seconds if seconds < 60.0 => ("", 1.0, " s"),
                seconds if seconds < 3600.0 => ("", 60.0, " min"),
                _ => ("", 3600.0, " h"),
            },
            Format::Currency | Format::Int | Format::Decimal => {
                let (divisor, suffix) = match largest {
                    value if value >= 1e9 => (1e9, "G"),
                    value if value >= 1e6 => (1e6, "M"),
                    value if value >= 1e3 => (1e3, "k"),
                    _ => (1.0, ""),
                };
                (if format == Format::Currency { "$" } else { "" }, divisor, suffix)
            }
        };
        let mut sorted: Vec<f64> = ticks.to_vec();
        super::sort::sort_by(&mut sorted, f64::total_cmp);
        let step =
            sorted.windows(2).map(|pair| pair[1] - pair[0]).filter(|step| *step > 0.0).fold(f64::INFINITY, f64::min);
        let decimals = if step.is_finite() {
            decimals_for(step / divisor)
        } else {
            // One tick: three significant digits, as a card would show it.
            let scaled = largest / divisor;
            if scaled == 0.0 || scaled >= 100.0 || scaled.fract() == 0.0 {
                0
            } else if scaled >= 10.0 {
                1
            } else {
                2
            }
        };
        AxisLabels { prefix, divisor, suffix, decimals }
    }

    pub fn label(&self, value: f64) -> String {
        let scaled = value / self.divisor;
        if format!("{:.*}", self.decimals, scaled.abs()).trim_start_matches(['0', '.']).is_empty() {
            // Zero: never "-0", and "0", not "0.0k", on an axis of thousands.
            return match self.suffix {
                "k" | "M" | "G" => format!("{}0", self.prefix),
                _ => format!("{}{:.*}{}", self.prefix, self.decimals, 0.0, self.suffix),
            };
        }
        let sign = if scaled < 0.0 && !self.prefix.is_empty() { "-" } else { "" };
        let number = if sign.is_empty() { scaled } else { -scaled };
        format!("{sign}{}{number:.*}{}", self.prefix, self.decimals, self.suffix)
    }
}

/// The fewest decimals that write `step` (and so its multiples) exactly, at most four.
fn decimals_for(step: f64) -> usize {
    (0..=4)
        .find(|&decimals| {
            let shifted = step * 10_f64.powi(decimals as i32);
            (shifted - shifted.round()).abs() < 1e-6 * shifted.max(1.0)
        })
        .unwrap_or(4)
}

/// How long `ms` is, for a person: `3 s`, `4 min 10 s`, `2 h 5 min`, `3 d 4 h` (seconds
/// rounded up: something 0.2 s old reads `1 s`).
pub fn format_age(ms: f64) -> String {
    let total = (ms / 1000.0).ceil().max(0.0) as u64;
    match total {
        0..60 => format!("{total} s"),
        60..3_600 => format!("{} min {} s", total / 60, total % 60),
        3_600..86_400 => format!("{} h {} min", total / 3_600, total % 3_600 / 60),
        _ => format!("{} d {} h", total / 86_400, total % 86_400 / 3_600),
    }
}

/// A signed percentage for trends: "+3.2%", "-0.4%".
pub fn format_trend(ratio: f64) -> String {
    format!("{:+.1}%", ratio * 100.0)
}

fn group_thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0.0 && digits != "0" {
        grouped.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn decimal(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        group_thousands(value)
    } else if magnitude >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn currency(value: f64) -> String {
    let cents = (value.abs() * 100.0).round();
    let sign = if value < 0.0 && cents > 0.0 { "-" } else { "" };
    format!("{sign}${}.{:02}", group_thousands((cents / 100.0).trunc()), (cents % 100.0) as u64)
}

fn bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1000.0 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{scaled:.0} B")
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

fn duration(seconds: f64) -> String {
    let magnitude = seconds.abs();
    if magnitude < 1e-3 {
        format!("{:.0} µs", seconds * 1e6)
    } else if magnitude < 1.0 {
        format!("{:.0} ms", seconds * 1e3)
    } else if magnitude < 60.0 {
        format!("{seconds:.1} s")
    } else if magnitude < 3600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_units_that_fit() {
        assert_eq!(format_age(200.0), "1 s");
        assert_eq!(format_age(59_000.0), "59 s");
        assert_eq!(format_age(125_000.0), "2 min 5 s");
        assert_eq!(format_age(7_500_000.0), "2 h 5 min");
        assert_eq!(format_age(3.0 * 86_400_000.0 + 3_600_000.0), "3 d 1 h");
        assert_eq!(format_age(-5.0), "0 s");
    }

    #[test]
    fn formats_each_kind_for_cards() {
        assert_eq!(format_value(812.4, Format::Int, ""), "812");
        assert_eq!(format_value(1_234_567.0, Format::Int, "users"), "1,234,567 users");
        assert_eq!(format_value(-1500.0, Format::Int, ""), "-1,500");
        assert_eq!(format_value(0.0712, Format::Percent, "%"), "7.1%");
        assert_eq!(format_value(1234.5, Format::Currency, "$"), "$1,234.50");
        assert_eq!(format_value(-0.5, Format::Currency, ""), "-$0.50");
        assert_eq!(format_value(12_345.0, Format::Bytes, "B/s"), "12.3 KB/s");
        assert_eq!(format_value(512.0, Format::Bytes, ""), "512 B");
        assert_eq!(format_value(0.25, Format::Duration, "s"), "250 ms");
        assert_eq!(format_value(2.34567, Format::Decimal, ""), "2.35");
        assert_eq!(format_value(1.5, Format::Decimal, "req/s"), "1.50 req/s");
    }

    #[test]
    fn axis_labels_tell_neighbouring_ticks_apart_with_no_more_precision_than_that() {
        let labels = |format, ticks: &[f64]| -> Vec<String> {
            let axis = AxisLabels::new(format, ticks);
            ticks.iter().map(|tick| axis.label(*tick)).collect()
        };
        // The error-rate chart that read "0.5%, 0.5%, 0.5%, 0.4%".
        assert_eq!(labels(Format::Percent, &[0.0040, 0.0045, 0.0050, 0.0055]), ["0.40%", "0.45%", "0.50%", "0.55%"]);
        assert_eq!(labels(Format::Percent, &[0.0, 0.25, 0.5]), ["0%", "25%", "50%"]);
        assert_eq!(labels(Format::Percent, &[0.05, 0.06]), ["5%", "6%"]);
        assert_eq!(labels(Format::Bytes, &[100e3, 200e3, 300e3]), ["100 KB", "200 KB", "300 KB"]);
        assert_eq!(labels(Format::Bytes, &[800e3, 900e3, 1e6, 1.1e6]), ["0.8 MB", "0.9 MB", "1.0 MB", "1.1 MB"]);
        assert_eq!(labels(Format::Int, &[1000.0, 1500.0, 2000.0]), ["1.0k", "1.5k", "2.0k"]);
        assert_eq!(labels(Format::Int, &[0.0, 2e6, 4e6]), ["0", "2M", "4M"]);
        assert_eq!(labels(Format::Decimal, &[99.0, 99.5, 100.0]), ["99.0", "99.5", "100.0"]);
        assert_eq!(labels(Format::Currency, &[-500.0, 0.0, 500.0]), ["-$500", "$0", "$500"]);
        assert_eq!(labels(Format::Duration, &[0.0, 0.2, 0.4]), ["0 ms", "200 ms", "400 ms"]);
        assert_eq!(labels(Format::Decimal, &[-0.1, 0.0, 0.1]), ["-0.1", "0.0", "0.1"]);
        assert_eq!(labels(Format::Decimal, &[1500.0]), ["1.50k"], "a lone tick keeps three digits");
    }

    #[test]
    fn formats_trends_with_a_sign() {
        assert_eq!(format_trend(0.032), "+3.2%");
        assert_eq!(format_trend(-0.004), "-0.4%");
    }
}
