//! Drawing a chart with plotters, on any `DrawingBackend`: the page passes a `CanvasBackend`
//! (`canvas::paint`), tests an `SVGBackend` and read the labels back. Time runs along the x
//! axis (`axis::TimeAxis`), values in the metric's format up the y axis. The alert rules on
//! the metric add, under the line: shaded spans where a rule was firing, each level's clear
//! band, and a dashed line at each threshold (`ChartAlerts`).

use super::axis::TimeAxis;
use super::geometry::{y_labels_width, MARGIN, MARGIN_RIGHT, X_LABELS};
use super::palette::Palette;
use crate::model::{
    alerts::{Direction, FiringSpan, Level, Severity},
    format::AxisLabels,
    series::Point,
};
use crate::protocol::{ChartKind, Format, Millis};
use plotters::coord::{
    ranged1d::{BoldPoints, Ranged},
    types::RangedCoordf64,
};
use plotters::prelude::*;

/// Value axis labels at most; plotters picks round numbers up to this many.
const Y_TICKS: usize = 4;

/// How to draw a chart, apart from its points.
#[derive(Clone, Copy, Debug)]
pub struct ChartSpec<'a> {
    /// The time span shown.
    pub from: Millis,
    pub to: Millis,
    pub format: Format,
    /// Written after the y axis values (see `geometry::axis_unit`).
    pub axis_unit: Option<&'a str>,
    /// `Area` fills under the line; anything else draws the line alone.
    pub kind: ChartKind,
    pub palette: Palette,
    /// Device pixels per CSS pixel: fonts and strokes scale with it to stay crisp.
    pub scale: f64,
    pub alerts: &'a ChartAlerts,
}

/// What the alert rules on a metric add to its chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartAlerts {
    /// Each rule's levels: a threshold line and its clear band.
    pub levels: Vec<(Severity, Level)>,
    /// Where the rules were firing.
    pub spans: Vec<FiringSpan>,
}

impl ChartAlerts {
    pub const NONE: &'static ChartAlerts = &ChartAlerts { levels: Vec::new(), spans: Vec::new() };
}

/// One line of a chart: its points (already reduced to the chart's width) and colour.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    pub points: &'a [Point],
    pub colour: RGBColor,
}

/// Draws `lines` as a line chart, or a lone line as an area chart when the spec says so.
pub fn draw_chart<DB: DrawingBackend>(
    backend: DB,
    lines: &[Line],
    spec: &ChartSpec,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    let Palette { background, grid, text, warning, critical, .. } = spec.palette;
    root.fill(&background)?;
    let scale = spec.scale.max(1.0);
    let px = |css: f64| (css * scale).round() as u32;
    let (low, high) = value_range(lines.iter().flat_map(|line| line.points), &spec.alerts.levels);
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let x_range = axis.position(spec.from, spec.to)..axis.position(spec.to, spec.to);
    // The same ticks plotters will mark, so their labels can be told apart.
    let y_ticks = RangedCoordf64::from(low..high).key_points(BoldPoints(Y_TICKS));
    let y_labels = AxisLabels::new(spec.format, &y_ticks);

    let mut chart = ChartBuilder::on(&root)
        .margin(px(MARGIN))
        .margin_right(px(MARGIN_RIGHT))
        .x_label_area_size(px(X_LABELS))
        .y_label_area_size(px(y_labels_width(spec.axis_unit)))
        .build_cartesian_2d(x_range.clone(), low..high)?;
    let font = ("sans-serif", 11.0 * scale).into_font().color(&text);
    chart
        .configure_mesh()
        // Clock axes ask for more ticks: their round numbers are coarser (every 5 or 10 hours).
        .x_labels(if axis == TimeAxis::Relative { 4 } else { 6 })
        .y_labels(Y_TICKS)
        .x_label_formatter(&|position| axis.label(*position))
        .y_label_formatter(&|value| match spec.axis_unit {
            Some(unit) => format!("{} {unit}", y_labels.label(*value)),
            None => y_labels.label(*value),
        })
        .label_style(font)
        .bold_line_style(grid.stroke_width(px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(grid.stroke_width(px(1.0)))
        .draw()?;

    let colour = |severity| if severity == Severity::Critical { critical } else { warning };
    let (left, right) = (x_range.start, x_range.end);
    let at = |ts: Millis| axis.position(ts.clamp(spec.from, spec.to), spec.to);
    let spans = spec.alerts.spans.iter().filter(|span| span.to > spec.from && span.from < spec.to);
    chart.draw_series(spans.map(|span| {
        Rectangle::new([(at(span.from), high), (at(span.to), low)], colour(span.severity).mix(0.16).filled())
    }))?;
    for (severity, level) in &spec.alerts.levels {
        // The clear band: between the threshold and where a breach ends.
        let (band_low, band_high) = match level.direction {
            Direction::Above => (level.clear, level.threshold),
            Direction::Below => (level.threshold, level.clear),
        };
        if band_high > band_low {
            let band = Rectangle::new([(left, band_high), (right, band_low)], colour(*severity).mix(0.10).filled());
            chart.draw_series(std::iter::once(band))?;
        }
        let threshold = [(left, level.threshold), (right, level.threshold)];
        let style = colour(*severity).stroke_width(px(1.0));
        chart.draw_series(DashedLineSeries::new(threshold, px(6.0), px(4.0), style))?;
    }

    let area = spec.kind == ChartKind::Area && lines.len() == 1;
    for line in lines {
        let placed = line.points.iter().map(|(ts, value)| (axis.position(*ts, spec.to), *value));
        let fill = if area { line.colour.mix(0.35) } else { TRANSPARENT };
        chart.draw_series(AreaSeries::new(placed, low, fill).border_style(line.colour.stroke_width(px(1.5))))?;
    }
    root.present()
}

/// A y range with some air around the data and the thresholds (so each line is in view);
/// non-negative data keeps a floor at zero.
fn value_range<'a>(points: impl Iterator<Item = &'a Point>, levels: &[(Severity, Level)]) -> (f64, f64) {
    let values = points.map(|(_, v)| *v).chain(levels.iter().flat_map(|(_, level)| [level.threshold, level.clear]));
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if max > min { (max - min) * 0.15 } else { max.abs().max(1.0) * 0.1 };
    let low = if min >= 0.0 { (min - pad).max(0.0) } else { min - pad };
    (low, max + pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::chart::geometry::axis_unit;

    fn spec(from: Millis, to: Millis, format: Format, axis_unit: Option<&str>) -> ChartSpec<'_> {
        ChartSpec {
            from,
            to,
            format,
            axis_unit,
            kind: ChartKind::Area,
            palette: Palette::DARK,
            scale: 1.0,
            alerts: ChartAlerts::NONE,
        }
    }

    fn line(points: &[Point]) -> Line<'_> {
        Line { points, colour: Palette::DARK.line }
    }

    fn render(points: &[Point], format: Format) -> String {
        render_with_unit(points, format, None)
    }

    fn render_with_unit(points: &[Point], format: Format, axis_unit: Option<&str>) -> String {
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_chart(backend, &[line(points)], &spec(0, 30_000, format, axis_unit)).unwrap();
        }
        svg
    }

    /// The text of every label in an SVG drawing.
    fn labels(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|rest| {
                let body = &rest[rest.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_owned())
            })
            .collect()
    }

    /// The y axis labels of a live (relative time) chart.
    fn value_labels(svg: &str) -> Vec<String> {
        labels(svg).into_iter().filter(|l| !(l.starts_with('-') && l.ends_with('s')) && l != "now").collect()
    }

    #[test]
    fn draws_the_line_and_labels_the_axes() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 100.0 + s as f64)).collect();
        let svg = render(&points, Format::Int);
        let labels = labels(&svg);
        assert!(labels.iter().any(|l| l == "now"), "the right edge is labelled now: {labels:?}");
        assert!(labels.iter().any(|l| l.starts_with('-') && l.ends_with('s')), "{labels:?}");
        assert!(labels.iter().any(|l| l.parse::<f64>().is_ok_and(|v| v > 90.0)), "{labels:?}");
        // The series: an outline polyline spanning the plot, in the line colour.
        assert!(svg.contains(r##"stroke="#4CC2FF""##), "the line is drawn");
    }

    #[test]
    fn a_family_draws_a_line_per_series_in_its_colour() {
        let cores: Vec<Vec<Point>> =
            (0..3).map(|core| (0..=30).map(|s| (s * 1000, core as f64 * 10.0 + s as f64)).collect()).collect();
        let palette = Palette::DARK;
        let lines: Vec<Line> =
            cores.iter().enumerate().map(|(i, points)| Line { points, colour: palette.series[i] }).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_chart(backend, &lines, &spec(0, 30_000, Format::Int, None)).unwrap();
        }
        for colour in &palette.series[..3] {
            let hex = format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2);
            assert!(svg.contains(&format!(r#"stroke="{hex}""#)), "{hex} drawn");
        }
        let first = palette.series[0];
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", first.0, first.1, first.2);
        assert!(!svg.contains(&fill), "no area under several lines");
    }

    #[test]
    fn percent_axes_read_as_percent_and_empty_data_still_draws() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 0.01 * s as f64)).collect();
        let percent = labels(&render(&points, Format::Percent));
        assert!(percent.iter().any(|l| l.ends_with('%')), "{percent:?}");
        let empty = labels(&render(&[], Format::Decimal));
        assert!(empty.iter().any(|l| l == "now"), "axes without data: {empty:?}");
    }

    #[test]
    fn value_ticks_are_distinct_and_no_more_precise_than_needed() {
        // An error rate wandering between 0.4% and 0.55% (it read "0.5%, 0.5%, 0.5%, 0.4%").
        let rates: Vec<Point> = (0..=30).map(|s| (s * 1000, 0.004 + 0.0015 * (s as f64 / 30.0))).collect();
        let ticks = value_labels(&render(&rates, Format::Percent));
        let distinct: std::collections::HashSet<_> = ticks.iter().collect();
        assert!(ticks.len() >= 2 && distinct.len() == ticks.len(), "{ticks:?}");
        // Network traffic around 300 KB/s: whole kilobytes.
        let traffic: Vec<Point> = (0..=30).map(|s| (s * 1000, 200e3 + 10e3 * s as f64)).collect();
        let ticks = value_labels(&render(&traffic, Format::Bytes));
        assert!(ticks.iter().all(|l| l.ends_with(" KB") && !l.contains('.')), "{ticks:?}");
    }

    fn render_span(from: Millis, to: Millis) -> Vec<String> {
        let points: Vec<Point> = (0..=100).map(|i| (from + (to - from) * i / 100, i as f64)).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (600, 160));
            let spec = ChartSpec { kind: ChartKind::Line, ..spec(from, to, Format::Int, None) };
            draw_chart(backend, &[line(&points)], &spec).unwrap();
        }
        // The x labels: the y ones are plain numbers here.
        labels(&svg).into_iter().filter(|label| label.parse::<f64>().is_err()).collect()
    }

    #[test]
    fn long_windows_read_the_clock_or_the_date_on_whole_units() {
        // 2023-11-14 22:13:20 UTC.
        let to: Millis = 1_700_000_000_000;
        let day = render_span(to - 86_400_000, to);
        assert!(day.len() >= 2 && day.iter().all(|l| l.len() == 5 && l.ends_with(":00")), "24 h: whole hours: {day:?}");
        let hour = render_span(to - 3_600_000, to);
        assert!(
            hour.len() >= 2 && hour.iter().all(|l| l.len() == 5 && l.ends_with('0')),
            "1 h: round minutes: {hour:?}"
        );
        let month = render_span(to - 30 * 86_400_000, to);
        assert!(
            month.len() >= 2 && month.iter().all(|l| l.ends_with(" Oct") || l.ends_with(" Nov")),
            "30 d: dates: {month:?}"
        );
    }

    #[test]
    fn the_y_axis_carries_the_unit_unless_the_format_does() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 100.0 + s as f64)).collect();
        let labels = labels(&render_with_unit(&points, Format::Decimal, axis_unit(Format::Decimal, "ms")));
        let values: Vec<_> = labels.iter().filter(|l| !l.starts_with('-') && *l != "now").collect();
        assert!(!values.is_empty() && values.iter().all(|l| l.ends_with(" ms")), "{labels:?}");
        assert_eq!(axis_unit(Format::Bytes, "B"), None, "bytes are written 1.2 KB already");
        assert_eq!(axis_unit(Format::Int, ""), None);
    }

    #[test]
    fn value_range_has_air_and_respects_zero() {
        assert_eq!(value_range([].iter(), &[]), (0.0, 1.0));
        let (low, high) = value_range([(0, 10.0), (1, 20.0)].iter(), &[]);
        assert!((0.0..10.0).contains(&low) && high > 20.0);
        let (low, high) = value_range([(0, 5.0)].iter(), &[]);
        assert!(low < 5.0 && high > 5.0);
        assert_eq!(value_range([(0, 0.0), (1, 100.0)].iter(), &[]).0, 0.0);
        let crit = Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 };
        let (_, high) = value_range([(0, 10.0), (1, 20.0)].iter(), &[(Severity::Critical, crit)]);
        assert!(high > 85.0, "the threshold is in view");
    }

    #[test]
    fn thresholds_clear_bands_and_firing_spans_are_drawn_in_their_severity() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 60.0 + s as f64)).collect();
        let alerts = ChartAlerts {
            levels: vec![
                (Severity::Warning, Level { direction: Direction::Above, threshold: 70.0, clear: 70.0 }),
                (Severity::Critical, Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 }),
            ],
            spans: vec![FiringSpan { from: 20_000, to: 40_000, severity: Severity::Critical }],
        };
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            let spec = ChartSpec { alerts: &alerts, ..spec(0, 30_000, Format::Int, None) };
            draw_chart(backend, &[line(&points)], &spec).unwrap();
        }
        let critical = format!(
            "#{:02X}{:02X}{:02X}",
            Palette::DARK.critical.0,
            Palette::DARK.critical.1,
            Palette::DARK.critical.2
        );
        let warning =
            format!("#{:02X}{:02X}{:02X}", Palette::DARK.warning.0, Palette::DARK.warning.1, Palette::DARK.warning.2);
        assert!(svg.contains(&format!(r#"stroke="{warning}""#)), "the warning line");
        assert!(svg.contains(&format!(r#"stroke="{critical}""#)), "the critical line");
        // Filled in the critical colour: the firing span and the clear band (none for warning,
        // whose clear is its threshold).
        let filled = svg.matches(&format!(r#"fill="{critical}""#)).count();
        assert_eq!(filled, 2, "{svg}");
        assert_eq!(svg.matches(&format!(r#"fill="{warning}""#)).count(), 0);
    }
}
