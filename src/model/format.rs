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

/// A short label for chart axes: three significant digits and an SI suffix.
pub fn format_axis(value: f64, format: Format) -> String {
    match format {
        // Small ratios need a decimal, or neighbouring ticks read the same ("1%", "1%").
        Format::Percent if value.abs() < 0.1 => format!("{:.1}%", value * 100.0),
        Format::Percent => format!("{:.0}%", value * 100.0),
        Format::Bytes => bytes(value),
        Format::Duration => duration(value),
        Format::Currency => format!("${}", si(value)),
        Format::Int | Format::Decimal => si(value),
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

fn si(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = if scaled.abs() >= 100.0 || scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn formats_axes_and_trends_compactly() {
        assert_eq!(format_axis(1500.0, Format::Int), "1.50k");
        assert_eq!(format_axis(2_000_000.0, Format::Decimal), "2M");
        assert_eq!(format_axis(0.05, Format::Percent), "5.0%");
        assert_eq!(format_axis(0.012, Format::Percent), "1.2%");
        assert_eq!(format_axis(0.5, Format::Percent), "50%");
        assert_eq!(format_trend(0.032), "+3.2%");
        assert_eq!(format_trend(-0.004), "-0.4%");
    }
}
