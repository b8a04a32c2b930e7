//! What a live chart keeps of the picture it drew last. Its right end moves by whole pixel
//! columns (`PlotRect::snap`), so while nothing else changed (size, theme, y range, labels,
//! thresholds, the lines shown, where alerts fired, and every point already drawn) the picture
//! can be moved left by those columns and only the last few drawn again: a dozen charts of ten
//! series at ten updates a second each draw a handful of columns per update instead of seven
//! hundred (BENCHMARKS.md "Panels"). `canvas` does the moving and drawing; this decides.

use super::geometry::PlotRect;
use super::palette::Palette;
use crate::model::{
    alerts::{FiringSpan, Level, Severity},
    panel::PanelKind,
    series::Point,
};
use crate::protocol::{Format, Millis};
use plotters::style::RGBColor;
use std::rc::Rc;

/// Everything a chart's frame shows (`draw::draw_frame`), and what else a picture cannot be
/// shifted across: when any of it changes, the chart is drawn whole.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameKey {
    /// The canvas in device pixels, and device pixels per CSS pixel.
    pub size: (u32, u32),
    pub scale: f64,
    pub span: Millis,
    /// The right end, for axes that read the clock: their ticks move with time (a live
    /// window's axis counts back from "now" and stays put).
    pub clock_to: Option<Millis>,
    pub low: f64,
    pub high: f64,
    pub palette: Palette,
    pub format: Format,
    pub axis_unit: Option<String>,
    pub thresholds: Vec<(f64, RGBColor)>,
    pub levels: Vec<(Severity, Level)>,
    pub kind: PanelKind,
    pub stack: bool,
    /// Ghosts of an earlier period: dashed lines, whose dashes would not meet where the
    /// columns drawn again begin.
    pub ghosts: bool,
    /// A bar chart's smallest gap between points: with the size and span, what its bars'
    /// slots and widths are made of (`draw::bar_slot`).
    pub bar_gap: Option<Millis>,
}

/// A chart as drawn: its frame, span, lines as placed and where alerts fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub frame: FrameKey,
    pub from: Millis,
    pub to: Millis,
    pub lines: Rc<Vec<(Vec<Point>, RGBColor)>>,
    pub spans: Vec<FiringSpan>,
}

/// How to bring a picture up to date: move it left by `columns`, then draw `strip` again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    pub columns: i32,
    pub strip: Strip,
}

/// Pixel columns `x.0..x.1` of the plot to clear and draw again, with what lies in `times`
/// (and a point either side, so that every line crosses the whole strip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strip {
    pub x: (i32, i32),
    pub times: (Millis, Millis),
}

/// How `before` becomes `now` on a plot at `plot`, if it can without drawing it whole.
pub fn update(before: &Picture, now: &Picture, plot: PlotRect) -> Option<Update> {
    // Ghosts are dashed lines moving with time: their dashes would not meet the ones drawn
    // again.
    if before.frame != now.frame || now.frame.ghosts || !same_spans(before, now) {
        return None;
    }
    // An axis reading the clock moves its grid and labels with time.
    if now.frame.clock_to.is_some() && before.to != now.to {
        return None;
    }
    if before.lines.len() != now.lines.len() || before.lines.iter().zip(now.lines.iter()).any(|(a, b)| a.1 != b.1) {
        return None;
    }
    let span = now.to - now.from;
    let columns = plot.shift(before.to, now.to, span)?;
    if !(0..=plot.columns() / 2).contains(&columns) {
        return None;
    }
    // Each line's last segment is drawn again: a new point joins it, and more points in its
    // last column may have changed what decimation keeps there.
    let mut stable = now.to;
    for (points, _) in before.lines.iter() {
        let [.., second_last, _] = points[..] else { return None };
        stable = stable.min(second_last.0);
    }
    // A bar stands for its slot, drawn as wide as most of it (and one slot holds several
    // points when they are dense): the bars from the slot before that one are drawn again
    // whole.
    if let Some(gap) = now.frame.bar_gap.filter(|_| now.frame.kind == PanelKind::Bar) {
        let across = if now.frame.stack { 1.0 } else { now.lines.len().max(1) as f64 };
        // The plot's columns are at most its width: a slot as wide as drawn, or wider, so a
        // whole slot back is before the drawn slot's start.
        let (slot, _) = super::draw::bar_slot(span, across, f64::from(plot.columns()), Some(gap));
        stable = (stable - slot).div_euclid(slot) * slot;
    }
    if stable <= now.from {
        return None;
    }
    // Everything before that must be as it was drawn: nothing arrived late, nothing replaced.
    fn kept(points: &[Point], (from, to): (Millis, Millis)) -> &[Point] {
        let start = points.partition_point(|point| point.0 < from);
        &points[start..points.partition_point(|point| point.0 < to).max(start)]
    }
    let shown = (now.from, stable);
    if before.lines.iter().zip(now.lines.iter()).any(|(a, b)| kept(&a.0, shown) != kept(&b.0, shown)) {
        return None;
    }
    // Two columns of room for a line's width and its antialiasing; the points drawn start a
    // column further left, so every line crosses the whole strip.
    let x = ((plot.x_of(stable, now.from, now.to) - 2).max(plot.x0), plot.x1);
    let column_ms = span as f64 / f64::from(plot.columns().max(1));
    let since = now.from + (f64::from(x.0 - 1 - plot.x0) * column_ms).floor() as Millis;
    Some(Update { columns, strip: Strip { x, times: (since.min(stable), now.to) } })
}

/// Whether alerts fired where they did when `before` was drawn: the same spans, except that
/// one still firing ends at each picture's own end.
fn same_spans(before: &Picture, now: &Picture) -> bool {
    before.spans.len() == now.spans.len()
        && before.spans.iter().zip(&now.spans).all(|(was, is)| {
            let open = was.to == before.to && is.to == now.to;
            was.from == is.from && was.severity == is.severity && (was.to == is.to || open)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Millis = 30_000;

    fn frame() -> FrameKey {
        FrameKey {
            size: (780, 180),
            scale: 1.0,
            span: SPAN,
            clock_to: None,
            low: 0.0,
            high: 100.0,
            palette: Palette::DARK,
            format: Format::Int,
            axis_unit: None,
            thresholds: Vec::new(),
            levels: Vec::new(),
            kind: PanelKind::Line,
            stack: false,
            ghosts: false,
            bar_gap: None,
        }
    }

    /// Two lines of a point every 100 ms (on whole tenths of a second) up to `to`, snapped.
    fn picture(plot: PlotRect, to: Millis) -> Picture {
        let to = plot.snap(to, SPAN);
        let first = (to - SPAN) / 100 * 100 - 100;
        let line = |offset: f64| -> Vec<Point> {
            (first..=to).step_by(100).map(|ts| (ts, (ts / 100 % 70) as f64 + offset)).collect()
        };
        let lines = vec![(line(0.0), RGBColor(1, 2, 3)), (line(10.0), RGBColor(4, 5, 6))];
        Picture { frame: frame(), from: to - SPAN, to, lines: Rc::new(lines), spans: Vec::new() }
    }

    #[test]
    fn a_live_chart_moves_by_whole_columns_and_draws_from_its_last_stable_points() {
        let plot = PlotRect::new((780, 180), 1.0, None);
        let before = picture(plot, 1_764_000_000_000);
        let now = picture(plot, before.to + 100);
        let shifted = update(&before, &now, plot).expect("shifted");
        assert_eq!(shifted.columns, plot.shift(before.to, now.to, SPAN).unwrap());
        assert!(shifted.columns >= 2, "{shifted:?}");
        // From the second-to-last point drawn before, with room for the line's width, to the end.
        let second_last = before.lines[0].0[before.lines[0].0.len() - 2].0;
        let Strip { x, times } = shifted.strip;
        assert_eq!(x, (plot.x_of(second_last, now.from, now.to) - 2, plot.x1));
        assert!(times.0 <= second_last && plot.x_of(times.0, now.from, now.to) < x.0);
        assert_eq!(times.1, now.to);
        assert!(x.0 > plot.x1 - 20, "only the last columns: {shifted:?}");

        let same = update(&before, &before, plot).expect("nothing moved");
        assert_eq!(same.columns, 0);

        // An alert still firing ends at each picture's end: the picture still shifts.
        let mut firing = (before.clone(), now.clone());
        firing.0.spans.push(FiringSpan { from: before.to - 5_000, to: before.to, severity: Severity::Warning });
        firing.1.spans.push(FiringSpan { from: before.to - 5_000, to: now.to, severity: Severity::Warning });
        assert_eq!(update(&firing.0, &firing.1, plot), Some(shifted));
    }

    #[test]
    fn a_bar_chart_draws_again_the_whole_slots_of_its_last_points() {
        let plot = PlotRect::new((780, 180), 1.0, None);
        let bars = |picture: Picture| Picture {
            frame: FrameKey { kind: PanelKind::Bar, bar_gap: Some(100), ..picture.frame },
            ..picture
        };
        let (before, now) = (picture(plot, 1_764_000_000_000), picture(plot, 1_764_000_000_100));
        let line_strip = update(&before, &now, plot).expect("a line chart shifts").strip;
        let (before, now) = (bars(before), bars(now));
        let strip = update(&before, &now, plot).expect("a bar chart shifts").strip;
        let (slot, _) = super::super::draw::bar_slot(SPAN, 2.0, f64::from(plot.columns()), Some(100));
        assert!(slot > 100, "dense: a slot holds points {slot} ms apart");
        let second_last = before.lines[0].0[before.lines[0].0.len() - 2].0;
        // The bar of the second-to-last point's slot starts a tenth of a slot in; its point may
        // sit anywhere in it.
        assert!(strip.times.0 <= second_last.div_euclid(slot) * slot, "{strip:?}");
        assert!(strip.x.0 < line_strip.x.0 && strip.x == (strip.x.0, plot.x1), "{strip:?} beside {line_strip:?}");

        let mut denser = now.clone();
        denser.frame.bar_gap = Some(90);
        assert_eq!(update(&before, &denser, plot), None, "another smallest gap: other slots and widths");
    }

    #[test]
    fn anything_else_changed_draws_the_chart_whole() {
        let plot = PlotRect::new((780, 180), 1.0, None);
        let before = picture(plot, 1_764_000_000_000);
        let now = picture(plot, before.to + 100);
        let whole = |now: &Picture| update(&before, now, plot);

        let mut late = now.clone();
        Rc::make_mut(&mut late.lines)[1].0[100].1 += 1.0;
        assert_eq!(whole(&late), None, "a point already drawn changed");
        let mut y = now.clone();
        y.frame.high = 120.0;
        assert_eq!(whole(&y), None, "the y range moved");
        let mut colours = now.clone();
        Rc::make_mut(&mut colours.lines)[0].1 = RGBColor(9, 9, 9);
        assert_eq!(whole(&colours), None, "a line's colour");
        let mut fewer = now.clone();
        Rc::make_mut(&mut fewer.lines).pop();
        assert_eq!(whole(&fewer), None, "a line hidden");
        let mut ghosts = now.clone();
        ghosts.frame.ghosts = true;
        assert_eq!(whole(&ghosts), None, "ghosts are dashed");
        let mut thresholds = now.clone();
        thresholds.frame.thresholds.push((50.0, RGBColor(1, 1, 1)));
        assert_eq!(whole(&thresholds), None, "a threshold added");
        let mut clock = (before.clone(), now.clone());
        clock.0.frame.clock_to = Some(0);
        clock.1.frame.clock_to = Some(0);
        assert_eq!(update(&clock.0, &clock.1, plot), None, "an axis reading the clock moved");
        assert_eq!(whole(&picture(plot, before.to + SPAN / 2 + 1_000)), None, "moved more than half the chart");
        assert_eq!(whole(&picture(plot, before.to - 1_000)), None, "moved back");
        let mut fired = now.clone();
        fired.spans.push(FiringSpan { from: now.to - 500, to: now.to, severity: Severity::Warning });
        assert_eq!(whole(&fired), None, "an alert fired");
        let mut escalated = (before.clone(), now.clone());
        escalated.0.spans.push(FiringSpan { from: before.to - 500, to: before.to, severity: Severity::Warning });
        escalated.1.spans.push(FiringSpan { from: before.to - 500, to: now.to, severity: Severity::Critical });
        assert_eq!(update(&escalated.0, &escalated.1, plot), None, "an alert escalated");
        let mut ended = escalated.clone();
        ended.1.spans[0] = FiringSpan { from: before.to - 500, to: before.to - 100, severity: Severity::Warning };
        assert_eq!(update(&ended.0, &ended.1, plot), None, "an alert resolved");
    }
}
