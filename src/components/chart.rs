//! A metric's chart: a canvas drawn with plotters. `draw_chart` takes any `DrawingBackend`
//! (the page passes a `CanvasBackend`, tests an `SVGBackend`); the component sizes the canvas
//! for the device pixel ratio and asks for a redraw (at most one per animation frame, shared
//! by all charts: `client::frames`) when the data, the window, the theme or the page size
//! changes.

use crate::client::live_edge::LiveEdge;
use crate::client::state::{DashboardState, TimeWindow};
use crate::client::theme::{Theme, ThemeState};
use crate::model::{
    format::{format_axis, format_value},
    series::Point,
};
use crate::protocol::{ChartKind, Format, MetricDefinition, Millis};
use leptos::prelude::*;
use plotters::prelude::*;

/// A theme's chart colours (style/main.css: --panel, --border, --muted, --accent).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub background: RGBColor,
    pub grid: RGBColor,
    pub text: RGBColor,
    pub line: RGBColor,
}

impl Palette {
    pub const DARK: Palette = Palette {
        background: RGBColor(0x15, 0x1b, 0x26),
        grid: RGBColor(0x26, 0x30, 0x40),
        text: RGBColor(0x8b, 0x98, 0xab),
        line: RGBColor(0x4c, 0xc2, 0xff),
    };
    pub const LIGHT: Palette = Palette {
        background: RGBColor(0xff, 0xff, 0xff),
        grid: RGBColor(0xdd, 0xe3, 0xeb),
        text: RGBColor(0x4f, 0x5e, 0x72),
        line: RGBColor(0x0a, 0x6f, 0xb0),
    };

    pub fn of(theme: Theme) -> Palette {
        match theme {
            Theme::Dark => Palette::DARK,
            Theme::Light => Palette::LIGHT,
        }
    }
}

/// The plot area's distances from the canvas edges, in CSS pixels: drawing and the hover
/// readout (which maps a pointer position back to a time) share them.
const MARGIN: f64 = 6.0;
/// Room for the centred "now" label at the right edge.
const MARGIN_RIGHT: f64 = 16.0;
const X_LABELS: f64 = 18.0;
const Y_LABELS: f64 = 52.0;
/// Room per character of a unit written after the y axis values.
const UNIT_CHAR: f64 = 6.5;

/// The unit the y axis writes after its values: formats that do not carry their own (bytes,
/// durations, percent and currency do), when the metric has one.
pub fn axis_unit(format: Format, unit: &str) -> Option<&str> {
    (matches!(format, Format::Int | Format::Decimal) && !unit.is_empty()).then_some(unit)
}

/// Width of the y axis labels, in CSS pixels: wider when they carry a unit.
fn y_labels_width(axis_unit: Option<&str>) -> f64 {
    Y_LABELS + axis_unit.map_or(0.0, |unit| (unit.chars().count() as f64 + 1.0) * UNIT_CHAR).min(60.0)
}

/// The time under horizontal position `x` (CSS pixels from the canvas' left edge) of a chart
/// `width` CSS pixels wide showing `[from, to]`, clamped to that span.
pub fn time_at(x: f64, width: f64, from: Millis, to: Millis, axis_unit: Option<&str>) -> Millis {
    let left = MARGIN + y_labels_width(axis_unit);
    let plot_width = (width - left - MARGIN_RIGHT).max(1.0);
    let fraction = ((x - left) / plot_width).clamp(0.0, 1.0);
    from + ((to - from) as f64 * fraction).round() as Millis
}

/// The point of `points` (sorted by time) nearest to `ts`.
pub fn nearest(points: &[Point], ts: Millis) -> Option<Point> {
    let after = points.partition_point(|point| point.0 < ts);
    let candidates = [after.checked_sub(1), Some(after)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|index| points.get(index).copied())
        .min_by_key(|point| (point.0 - ts).abs())
}

/// What to draw: points already reduced to the chart's width, and the time span shown.
pub struct ChartSpec<'a> {
    pub points: &'a [Point],
    pub from: Millis,
    pub to: Millis,
    pub format: Format,
    /// Written after the y axis values (see `axis_unit`).
    pub axis_unit: Option<&'a str>,
    /// `Area` fills under the line; anything else draws the line alone.
    pub kind: ChartKind,
    pub palette: Palette,
    /// Device pixels per CSS pixel: fonts and strokes scale with it to stay crisp.
    pub scale: f64,
}

/// How the x axis reads: live windows count back from "now"; longer ones show the clock (or
/// the date), with ticks on whole minutes, hours or days.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TimeAxis {
    /// Seconds before the right edge.
    Relative,
    /// Absolute time in units of `unit_ms`, so the axis' round numbers are whole units.
    Clock { unit_ms: Millis },
}

impl TimeAxis {
    fn for_span(span_ms: Millis) -> TimeAxis {
        const MINUTE: Millis = 60_000;
        match span_ms {
            span if span <= 10 * MINUTE => TimeAxis::Relative,
            span if span <= 3 * 60 * MINUTE => TimeAxis::Clock { unit_ms: MINUTE },
            span if span <= 3 * 24 * 60 * MINUTE => TimeAxis::Clock { unit_ms: 60 * MINUTE },
            _ => TimeAxis::Clock { unit_ms: 24 * 60 * MINUTE },
        }
    }

    /// Where `ts` sits on the axis of a chart ending at `to`.
    fn position(self, ts: Millis, to: Millis) -> f64 {
        match self {
            TimeAxis::Relative => (ts - to) as f64 / 1000.0,
            TimeAxis::Clock { unit_ms } => ts as f64 / unit_ms as f64,
        }
    }

    fn label(self, position: f64) -> String {
        match self {
            TimeAxis::Relative if position > -0.5 => "now".to_owned(),
            TimeAxis::Relative => relative_label(-position),
            TimeAxis::Clock { unit_ms } => axis_clock_label((position * unit_ms as f64).round() as Millis, unit_ms),
        }
    }
}

/// Draws a line (or area) chart of `spec` on `backend`: time on the x axis (counting back
/// from "now" for live windows, clock or date for long ones), values in the metric's format on
/// the y axis.
pub fn draw_chart<DB: DrawingBackend>(
    backend: DB,
    spec: &ChartSpec,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    let Palette { background, grid, text, line } = spec.palette;
    root.fill(&background)?;
    let scale = spec.scale.max(1.0);
    let px = |css: f64| (css * scale).round() as u32;
    let (low, high) = value_range(spec.points);
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let x_range = axis.position(spec.from, spec.to)..axis.position(spec.to, spec.to);

    let mut chart = ChartBuilder::on(&root)
        .margin(px(MARGIN))
        .margin_right(px(MARGIN_RIGHT))
        .x_label_area_size(px(X_LABELS))
        .y_label_area_size(px(y_labels_width(spec.axis_unit)))
        .build_cartesian_2d(x_range, low..high)?;
    let font = ("sans-serif", 11.0 * scale).into_font().color(&text);
    chart
        .configure_mesh()
        // Clock axes ask for more ticks: their round numbers are coarser (every 5 or 10 hours).
        .x_labels(if axis == TimeAxis::Relative { 4 } else { 6 })
        .y_labels(4)
        .x_label_formatter(&|position| axis.label(*position))
        .y_label_formatter(&|value| match spec.axis_unit {
            Some(unit) => format!("{} {unit}", format_axis(*value, spec.format)),
            None => format_axis(*value, spec.format),
        })
        .label_style(font)
        .bold_line_style(grid.stroke_width(px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(grid.stroke_width(px(1.0)))
        .draw()?;

    let placed = spec.points.iter().map(|(ts, value)| (axis.position(*ts, spec.to), *value));
    let fill = if spec.kind == ChartKind::Area { line.mix(0.35) } else { TRANSPARENT };
    chart.draw_series(AreaSeries::new(placed, low, fill).border_style(line.stroke_width(px(1.5))))?;
    root.present()
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

/// A y range with some air around the data; non-negative data keeps a floor at zero.
fn value_range(points: &[Point]) -> (f64, f64) {
    let (min, max) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if max > min { (max - min) * 0.15 } else { max.abs().max(1.0) * 0.1 };
    let low = if min >= 0.0 { (min - pad).max(0.0) } else { min - pad };
    (low, max + pad)
}

#[component]
pub fn MetricChart(definition: MetricDefinition) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let edge = expect_context::<LiveEdge>();
    let theme = expect_context::<ThemeState>();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let MetricDefinition { name, label, unit, format, chart: kind } = definition;
    // History fetched for the chosen long window: (window, envelope points, step).
    let history = RwSignal::new(None::<(TimeWindow, Vec<Point>, Millis)>);
    // Points drawn last time, and where they came from; how many draws, the seq and the right
    // edge drawn last: for tests and the curious.
    let drawn = RwSignal::new((0usize, "live"));
    let draws = RwSignal::new((0u64, 0u64, 0 as Millis));
    // The points last drawn and their span, for the hover readout; the readout itself.
    let shown = StoredValue::new((Vec::<Point>::new(), 0 as Millis, 0 as Millis));
    let readout = RwSignal::new(None::<(f64, String)>);

    #[cfg(feature = "hydrate")]
    {
        use crate::client::history::{envelope, fetch, with_live_edge};
        // Long windows read the history store when chosen, then again each minute.
        let minute = Memo::new(move |_| state.updated_at.get() / 60_000);
        let metric = name.clone();
        Effect::new(move |_| {
            let window = state.window.get();
            minute.track();
            let Some(step) = window.history_step() else { return };
            let (dashboard, metric) = (state.dashboard.get_value(), metric.clone());
            let to = state.updated_at.get_untracked();
            leptos::task::spawn_local(async move {
                match fetch(&dashboard, &metric, to, window.millis(), step).await {
                    Ok(answer) => {
                        let points = envelope(&answer.buckets, answer.step_ms);
                        history.set(Some((window, points, answer.step_ms)));
                    }
                    Err(error) => leptos::logging::warn!("{metric}: {error}"),
                }
            });
        });
        let name = name.clone();
        let axis_unit = axis_unit(format, &unit).map(str::to_owned);
        // The draw itself runs at the next animation frame, reading the state of that moment;
        // the chart may have been removed by then.
        let mounted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        on_cleanup({
            let mounted = mounted.clone();
            move || mounted.store(false, std::sync::atomic::Ordering::Relaxed)
        });
        let draw: crate::client::frames::Draw = std::rc::Rc::new(move || {
            if !mounted.load(std::sync::atomic::Ordering::Relaxed) || !state.visible.get_untracked() {
                return;
            }
            let Some(canvas) = canvas.get_untracked() else { return };
            let look = Look { format, axis_unit: axis_unit.as_deref(), kind, palette: Palette::of(theme.0.get_untracked()) };
            let window = state.window.get_untracked();
            let to = edge.0.get_untracked();
            let from = to - window.millis();
            state.series.with_untracked(|series| {
                let empty = crate::model::ring::Ring::with_capacity(1);
                let ring = series.get(&name).unwrap_or(&empty);
                history.with_untracked(|history| match history {
                    Some((fetched, points, step)) if window.history_step().is_some() && *fetched == window => {
                        let joined = with_live_edge(points, *step, ring.iter());
                        let reduced = paint(&canvas, joined.iter(), from, to, &look);
                        drawn.set((reduced.len(), "history"));
                        shown.set_value((reduced, from, to));
                    }
                    _ => {
                        let reduced = paint(&canvas, ring.iter(), from, to, &look);
                        drawn.set((reduced.len(), "live"));
                        shown.set_value((reduced, from, to));
                    }
                });
            });
            let seq = state.position.with_untracked(|position| position.seq);
            draws.update(|(count, drawn_seq, drawn_edge)| (*count, *drawn_seq, *drawn_edge) = (*count + 1, seq, to));
        });
        // A new size (window resized, phone turned) needs a new canvas resolution.
        let resized = RwSignal::new(0u32);
        let listener = window_event_listener(leptos::ev::resize, move |_| resized.update(|count| *count += 1));
        on_cleanup(move || listener.remove());
        let key = crate::client::frames::new_key();
        Effect::new(move |_| {
            // Hidden tab: track nothing else, so updates do not even wake this effect; showing
            // the tab again reruns it once with the latest state.
            if !state.visible.get() || canvas.get().is_none() {
                return;
            }
            theme.0.track();
            state.window.track();
            edge.0.track();
            state.series.track();
            history.track();
            resized.track();
            crate::client::frames::request_draw(key, draw.clone());
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (state, format, kind, history, draws, theme, shown, edge);

    // Pointer (mouse, pen or touch) over the chart: the value at that time.
    let show_readout = {
        let unit = unit.clone();
        move |event: leptos::ev::PointerEvent| {
            let (width, offset) = canvas.get_untracked().map_or((0.0, 0.0), |canvas| {
                (f64::from(canvas.client_width()), f64::from(canvas.offset_left()))
            });
            let x = f64::from(event.offset_x());
            let text = shown.with_value(|(points, from, to)| {
                let (ts, value) = nearest(points, time_at(x, width, *from, *to, axis_unit(format, &unit)))?;
                Some(format!("{} · {}", clock_time(ts, *to - *from), format_value(value, format, &unit)))
            });
            // Centred on the pointer, but kept inside the chart.
            const HALF_READOUT: f64 = 75.0;
            let left = offset + x.clamp(HALF_READOUT, (width - HALF_READOUT).max(HALF_READOUT));
            readout.set(text.map(|text| (left, text)));
        }
    };

    let caption = if unit.is_empty() { label.clone() } else { format!("{label} ({unit})") };
    view! {
        <figure
            class="chart"
            data-testid=format!("chart-{name}")
            data-range=move || state.window.get().label()
            data-source=move || drawn.get().1
            data-points=move || drawn.get().0
            data-draws=move || draws.get().0
            data-drawn-seq=move || draws.get().1
            data-edge=move || draws.get().2
        >
            <figcaption>{caption}</figcaption>
            <canvas
                node_ref=canvas
                role="img"
                aria-label=format!("Chart of {label}")
                on:pointerdown=show_readout.clone()
                on:pointermove=show_readout
                on:pointerleave=move |_| readout.set(None)
            ></canvas>
            <Show when=move || readout.with(Option::is_some)>
                <output
                    class="chart-readout"
                    data-testid="chart-readout"
                    style:left=move || readout.with(|r| r.as_ref().map_or(String::new(), |(x, _)| format!("{x}px")))
                >
                    {move || readout.with(|r| r.as_ref().map(|(_, text)| text.clone()).unwrap_or_default())}
                </output>
            </Show>
        </figure>
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
fn clock_time(ts: Millis, span: Millis) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        let text = if span > 86_400_000 {
            date.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
        } else {
            date.to_locale_time_string("en-GB")
        };
        String::from(text)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = span;
        format!("{ts}")
    }
}

/// How a chart looks, apart from its data.
pub struct Look<'a> {
    pub format: Format,
    pub axis_unit: Option<&'a str>,
    pub kind: ChartKind,
    pub palette: Palette,
}

/// Sizes `canvas` for the device pixel ratio (only when that changed, since resizing clears
/// it) and draws the points inside `[from, to]`, at most four per pixel column. Returns the
/// points it drew.
#[cfg(feature = "hydrate")]
pub fn paint<'a>(
    canvas: &web_sys::HtmlCanvasElement,
    points: impl Iterator<Item = &'a Point>,
    from: Millis,
    to: Millis,
    look: &Look,
) -> Vec<Point> {
    let scale = window().device_pixel_ratio().max(1.0);
    let css_width = f64::from(canvas.client_width().max(1));
    let css_height = f64::from(canvas.client_height().max(1));
    let (width, height) = ((css_width * scale).round() as u32, (css_height * scale).round() as u32);
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let Some(backend) = plotters_canvas::CanvasBackend::with_canvas_object(canvas.clone()) else {
        return Vec::new();
    };
    let reduced = crate::model::decimate::decimate(points, from, to, width as usize);
    let &Look { format, axis_unit, kind, palette } = look;
    let spec = ChartSpec { points: &reduced, from, to, format, axis_unit, kind, palette, scale };
    if let Err(error) = draw_chart(backend, &spec) {
        leptos::logging::warn!("chart draw failed: {error:?}");
    }
    reduced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_positions_map_to_times_and_the_nearest_point() {
        let width = MARGIN + Y_LABELS + 100.0 + MARGIN_RIGHT;
        assert_eq!(time_at(MARGIN + Y_LABELS, width, 0, 30_000, None), 0);
        assert_eq!(time_at(MARGIN + Y_LABELS + 50.0, width, 0, 30_000, None), 15_000);
        assert_eq!(time_at(width, width, 0, 30_000, None), 30_000, "clamped to the span");
        assert_eq!(time_at(0.0, width, 0, 30_000, None), 0);
        let labelled = y_labels_width(Some("ms"));
        assert!(labelled > Y_LABELS, "a unit widens the labels");
        assert_eq!(time_at(MARGIN + labelled, width + labelled - Y_LABELS, 0, 30_000, Some("ms")), 0);
        let points = [(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
        assert_eq!(nearest(&points, 14_000), Some((10_000, 2.0)));
        assert_eq!(nearest(&points, 16_000), Some((20_000, 3.0)));
        assert_eq!(nearest(&points, 99_000), Some((20_000, 3.0)));
        assert_eq!(nearest(&[], 5), None);
    }

    fn render(points: &[Point], format: Format) -> String {
        render_with_unit(points, format, None)
    }

    fn render_with_unit(points: &[Point], format: Format, axis_unit: Option<&str>) -> String {
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            let spec = ChartSpec { points, from: 0, to: 30_000, format, axis_unit, kind: ChartKind::Area, palette: Palette::DARK, scale: 1.0 };
            draw_chart(backend, &spec).unwrap();
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
    fn percent_axes_read_as_percent_and_empty_data_still_draws() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 0.01 * s as f64)).collect();
        let percent = labels(&render(&points, Format::Percent));
        assert!(percent.iter().any(|l| l.ends_with('%')), "{percent:?}");
        let empty = labels(&render(&[], Format::Decimal));
        assert!(empty.iter().any(|l| l == "now"), "axes without data: {empty:?}");
    }

    fn render_span(from: Millis, to: Millis) -> Vec<String> {
        let points: Vec<Point> = (0..=100).map(|i| (from + (to - from) * i / 100, i as f64)).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (600, 160));
            let spec = ChartSpec { points: &points, from, to, format: Format::Int, axis_unit: None, kind: ChartKind::Line, palette: Palette::DARK, scale: 1.0 };
            draw_chart(backend, &spec).unwrap();
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
        assert!(hour.len() >= 2 && hour.iter().all(|l| l.len() == 5 && l.ends_with('0')), "1 h: round minutes: {hour:?}");
        let month = render_span(to - 30 * 86_400_000, to);
        assert!(month.len() >= 2 && month.iter().all(|l| l.ends_with(" Oct") || l.ends_with(" Nov")), "30 d: dates: {month:?}");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(axis_clock_label(to, 60_000), "22:13");
        assert_eq!(axis_clock_label(to, 86_400_000), "14 Nov");
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
        assert_eq!(value_range(&[]), (0.0, 1.0));
        let (low, high) = value_range(&[(0, 10.0), (1, 20.0)]);
        assert!((0.0..10.0).contains(&low) && high > 20.0);
        let (low, high) = value_range(&[(0, 5.0)]);
        assert!(low < 5.0 && high > 5.0);
        assert_eq!(value_range(&[(0, 0.0), (1, 100.0)]).0, 0.0);
    }
}
