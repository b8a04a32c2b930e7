//! `/bench/redraw`: the chart redraw benchmark (BENCHMARKS.md, `make bench-redraw`). Draws
//! `?charts=` charts (6) of `?points=` synthetic points each (300), through the dashboard's own
//! path (one frame pass of `client::redraw`, per-column decimation, plotters on a canvas),
//! `?rounds=` times (60), and shows the time per full redraw of all charts: median, p95, max.
//! Then a panel's query over 1,000 live series, in WASM (`LiveQuery::apply_changes`, as a
//! query panel runs it): the time per update carrying all of them, and carrying one.
//! Nothing here talks to the server.

use crate::components::page_title::page_title;
use leptos::prelude::*;

/// Times of the full redraws, in ms, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
struct Timings(Vec<f64>);

impl Timings {
    fn quantile(&self, q: f64) -> f64 {
        crate::model::stats::quantile(&self.0, q).unwrap_or(0.0)
    }
}

/// The page, which the browser makes from a module of its own (`lazily::page`): the server
/// renders it, asks the browser to preload the module, and the module's page takes its place.
#[component]
pub fn RedrawBenchPage() -> impl IntoView {
    page_title("Redraw benchmark".to_owned());
    #[cfg(not(feature = "hydrate"))]
    return crate::components::lazily::page("redraw_bench", "bench-page", false, view! { <RedrawBench/> });
    #[cfg(feature = "hydrate")]
    crate::components::lazily::page("redraw_bench", "bench-page", false, split::redraw_bench)
}

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(redraw_bench, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn redraw_bench(slot: NodeRef<leptos::html::Div>) -> Result<(), leptos::wasm_split::SplitLoaderError> {
        crate::components::lazily::replace_children(slot, view! { <RedrawBench/> });
        Ok(())
    }
}

#[component]
fn RedrawBench() -> impl IntoView {
    let query = crate::client::location::use_url().with_untracked(crate::client::location::Url::pairs);
    let number = |name: &str, default: usize| {
        query.iter().find(|(key, _)| key == name).and_then(|(_, text)| text.parse().ok()).unwrap_or(default)
    };
    let (charts, points, rounds) =
        (number("charts", 6).clamp(1, 24), number("points", 300).max(2), number("rounds", 60).max(1));
    let canvases: Vec<NodeRef<leptos::html::Canvas>> = (0..charts).map(|_| NodeRef::new()).collect();
    let timings = RwSignal::new(None::<Timings>);
    let drawn_points = RwSignal::new(0usize);
    // µs per update of a query over 1,000 series: all of them in it, one of them.
    let query_us = RwSignal::new(None::<(f64, f64)>);

    #[cfg(feature = "hydrate")]
    {
        let canvases = canvases.clone();
        Effect::new(move |_| {
            let mounted: Option<Vec<_>> = canvases.iter().map(|canvas| canvas.get()).collect();
            let Some(mounted) = mounted else { return };
            leptos::task::spawn_local(async move {
                measure(mounted, points, rounds, timings, drawn_points).await;
                query_us.set(Some(measure_query()));
            });
        });
    }
    let figure =
        move |q: f64| timings.with(|t| t.as_ref().map(|t| format!("{:.2}", t.quantile(q))).unwrap_or_default());
    view! {
        <section
            class="bench"
            data-testid="redraw-bench"
            data-done=move || timings.with(Option::is_some).to_string()
            data-median-ms=move || figure(0.5)
            data-p95-ms=move || figure(0.95)
            data-max-ms=move || figure(1.0)
            data-drawn-points=move || drawn_points.get()
            data-query-all-us=move || query_us.get().map(|(all, _)| format!("{all:.1}"))
            data-query-one-us=move || query_us.get().map(|(_, one)| format!("{one:.1}"))
        >
            <h1>"Chart redraw benchmark"</h1>
            <p>
                {format!("{charts} charts × {points} points, {rounds} full redraws: ")}
                {move || match timings.get() {
                    Some(t) => format!("median {:.2} ms, p95 {:.2} ms, max {:.2} ms per redraw.", t.quantile(0.5), t.quantile(0.95), t.quantile(1.0)),
                    None => "running…".to_owned(),
                }}
            </p>
            <p>
                {move || query_us.get().map(|(all, one)| format!("sum by (host) (rate(requests_total)) over 1,000 series: {all:.1} µs an update carrying all, {one:.1} µs carrying one."))}
            </p>
            <div class="charts">
                {canvases
                    .into_iter()
                    .map(|canvas| view! { <figure class="chart"><canvas node_ref=canvas></canvas></figure> })
                    .collect_view()}
            </div>
        </section>
    }
}

/// A random walk of `count` points, one per second.
#[cfg(feature = "hydrate")]
fn synthetic_series(count: usize, seed: f64) -> Vec<crate::model::series::Point> {
    let mut value = 100.0 + seed;
    (0..count)
        .map(|index| {
            value = (value + (js_sys::Math::random() - 0.5) * 4.0).max(0.0);
            (index as i64 * 1000, value)
        })
        .collect()
}

#[cfg(feature = "hydrate")]
async fn measure(
    canvases: Vec<web_sys::HtmlCanvasElement>,
    points: usize,
    rounds: usize,
    timings: RwSignal<Option<Timings>>,
    drawn_points: RwSignal<usize>,
) {
    use crate::client::redraw::{draw_now, new_key, request_draw};
    use crate::components::chart::{
        canvas::{paint, CanvasBox, Reuse},
        ChartSpec, Palette,
    };
    use crate::protocol::Format;
    use std::{cell::Cell, rc::Rc};

    let series: Rc<Vec<Vec<_>>> =
        Rc::new((0..canvases.len()).map(|chart| synthetic_series(points, chart as f64 * 10.0)).collect());
    let (from, to) = (0, (points as i64 - 1) * 1000);
    let drawn = Rc::new(Cell::new(0usize));
    // As the dashboard does: measured once (it follows resizes), not at every draw.
    let sizes: Vec<CanvasBox> = canvases.iter().map(CanvasBox::measure).collect();
    let mut times = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        drawn.set(0);
        for (chart, canvas) in canvases.iter().enumerate() {
            let (canvas, series, drawn, size) = (canvas.clone(), series.clone(), drawn.clone(), sizes[chart]);
            request_draw(
                new_key(),
                Rc::new(move || {
                    let spec = ChartSpec { axis_unit: Some("ms"), ..ChartSpec::plain(from, to, Format::Decimal) };
                    let line: Box<dyn Iterator<Item = &_>> = Box::new(series[chart].iter());
                    let (reduced, _) =
                        paint(&canvas, size, vec![(line, Palette::DARK.line)], Vec::new(), &spec, Reuse::Nothing);
                    drawn.set(drawn.get() + reduced.iter().map(Vec::len).sum::<usize>());
                }),
            );
        }
        // The first round sizes the canvases and warms up: not counted.
        let took = draw_now();
        if round > 0 {
            times.push(took);
        }
        // Let the browser paint between rounds, as it does between frames.
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
    times.sort_by(f64::total_cmp);
    drawn_points.set(drawn.get());
    timings.set(Some(Timings(times)));
}

/// A grouped sum of rates over 1,000 counters (50 hosts x 20 codes) through `LiveQuery`, as a
/// query panel runs it: µs per update carrying all of them, and carrying one (timed in batches:
/// the page's clock is coarse).
#[cfg(feature = "hydrate")]
fn measure_query() -> (f64, f64) {
    use crate::model::query::{LiveQuery, Query};
    use crate::protocol::Metrics;
    let names: Vec<String> = (0..50)
        .flat_map(|host| (0..20).map(move |code| format!(r#"requests_total{{code="{code}",host="h{host}"}}"#)))
        .collect();
    let query = Query::parse("sum by (host) (rate(requests_total))").expect("a valid query");
    let mut live = LiveQuery::new(query);
    let update = |ts: i64| -> Metrics {
        names.iter().enumerate().map(|(i, name)| (name.clone(), (ts / 1000 * i as i64) as f64)).collect()
    };
    let now = || window().performance().map_or(0.0, |performance| performance.now());
    let mut ts = 0;
    for _ in 0..3 {
        ts += 1000;
        live.apply_changes(ts, &update(ts), |_| true);
    }
    let (rounds, whole) = (200, update(ts + 1000));
    let started = now();
    for _ in 0..rounds {
        ts += 1000;
        std::hint::black_box(live.apply_changes(ts, &whole, |_| true).map(|changes| changes.len()));
    }
    let all = (now() - started) * 1000.0 / f64::from(rounds);
    let one: Metrics = [(names[7].clone(), 1e9)].into();
    let started = now();
    for _ in 0..rounds * 10 {
        ts += 1000;
        std::hint::black_box(live.apply_changes(ts, &one, |_| true).map(|changes| changes.len()));
    }
    (all, (now() - started) * 1000.0 / f64::from(rounds * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_timings() {
        let timings = Timings((1..=100).map(f64::from).collect());
        assert_eq!(timings.quantile(0.5), 51.0);
        assert_eq!(timings.quantile(0.95), 95.0);
        assert_eq!(timings.quantile(1.0), 100.0);
        assert_eq!(Timings::default().quantile(0.5), 0.0);
    }
}
