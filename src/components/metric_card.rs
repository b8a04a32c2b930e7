//! A metric's card: label, current value in its format, the trend against 30 s ago, a
//! sparkline of the last minute, and its frame tinted by the worst alert on the metric (firing
//! critical or warning, nodata; dashed while pending). A counter (PROTOCOL.md 1.2) shows its
//! rate per second between its last two points ("/s"); its raw total is one click away.

use crate::client::state::DashboardState;
use crate::model::{
    counter,
    decimate::decimate,
    format::{format_trend, format_value, Reading},
    series::Point,
};
use crate::protocol::{AlertChange, AlertPhase, MetricDefinition, Millis, SeriesKind};
use leptos::prelude::*;

/// How far back the trend compares.
const TREND_MS: i64 = 30_000;

/// The span a sparkline shows.
const SPARKLINE_MS: Millis = 60_000;

/// The sparkline's drawing box: SVG user units, stretched to the card's width by CSS.
const SPARK_WIDTH: f64 = 120.0;
const SPARK_HEIGHT: f64 = 28.0;

/// The `points` attribute of an SVG polyline tracing `points` over `[from, to]` in the
/// sparkline's box, the lowest value at the bottom and the highest at the top (a flat line
/// sits in the middle); empty with fewer than two points.
pub fn sparkline<'a>(points: impl IntoIterator<Item = &'a Point>, from: Millis, to: Millis) -> String {
    let reduced = decimate(points, from, to, SPARK_WIDTH as usize / 2);
    if reduced.len() < 2 {
        return String::new();
    }
    let (low, high) =
        reduced.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let span = (to - from).max(1) as f64;
    // One unit of air above and below, so the stroke is never cut.
    let y = |value: f64| {
        if high > low {
            1.0 + (high - value) / (high - low) * (SPARK_HEIGHT - 2.0)
        } else {
            SPARK_HEIGHT / 2.0
        }
    };
    let mut out = String::with_capacity(reduced.len() * 12);
    for (ts, value) in reduced {
        let x = ((ts - from).max(0) as f64 / span * SPARK_WIDTH).min(SPARK_WIDTH);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{x:.1},{:.1}", y(value)));
    }
    out
}

/// A counter's rate per second between its last two points (`model::counter`).
pub fn last_rate<'a>(points: impl DoubleEndedIterator<Item = &'a Point>) -> Option<f64> {
    let mut newest = points.rev();
    let (last, before) = (*newest.next()?, *newest.next()?);
    counter::rate(before, last)
}

/// The alert that matters most for `metric`: firing before nodata before pending, critical
/// before warning.
pub fn worst_alert<'a>(active: &'a [AlertChange], metric: &str) -> Option<&'a AlertChange> {
    let rank = |change: &AlertChange| {
        let state = match change.state {
            AlertPhase::Firing => 3,
            AlertPhase::NoData => 2,
            AlertPhase::Pending => 1,
            AlertPhase::Resolved => 0,
        };
        (state, change.severity)
    };
    active.iter().filter(|change| change.metric == metric).max_by_key(|change| rank(change))
}

/// A card per metric of the dashboard. On the server, a keyed list. In the browser, where the
/// dashboard is built again (`lazily::rebuilt`), the list is made again whole when the metrics
/// change: a keyed list's code for this one item type was 1.7 KB of brotli in the first load.
/// The counters whose total is shown (not their rate) are kept here, so a card made again
/// keeps the person's choice.
#[component]
pub fn MetricCards() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let totals = RwSignal::new(Vec::<String>::new());
    #[cfg(not(feature = "hydrate"))]
    return view! {
        <div class="cards">
            <For each=move || state.definitions.get() key=|d| d.name.clone() let:definition>
                <MetricCard definition totals/>
            </For>
        </div>
    };
    #[cfg(feature = "hydrate")]
    {
        let list = NodeRef::<leptos::html::Div>::new();
        let names =
            Memo::new(move |_| state.definitions.with(|all| all.iter().map(|d| d.name.clone()).collect::<Vec<_>>()));
        Effect::new(move |_| {
            // Read, not only tracked: a memo nothing reads is never computed, so never changes.
            names.with(|_| ());
            let definitions = state.definitions.get_untracked();
            let cards = definitions.into_iter().map(|definition| view! { <MetricCard definition totals/> });
            crate::components::lazily::replace_children(list, cards.collect::<Vec<_>>());
        });
        view! { <div class="cards" node_ref=list></div> }
    }
}

#[component]
fn MetricCard(
    definition: MetricDefinition,
    /// The counters whose total is shown.
    totals: RwSignal<Vec<String>>,
) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let MetricDefinition { name, label, unit, format, kind, .. } = definition;
    let is_counter = kind == SeriesKind::Counter;
    // A counter shows its rate unless the person asked for the total.
    let show_total = {
        let name = name.clone();
        move || totals.with(|totals| totals.contains(&name))
    };
    let value = {
        let name = name.clone();
        let show_total = show_total.clone();
        move || {
            if is_counter && !show_total() {
                let rate = state.series.with(|series| series.get(&name).and_then(|ring| last_rate(ring.iter())));
                return match rate {
                    Some(rate) => Reading { format, unit: unit.clone(), rate: true }.show(rate),
                    None => "–/s".to_owned(),
                };
            }
            state.latest.with(|latest| match latest.values().get(&name) {
                Some(value) => format_value(*value, format, &unit),
                None => "–".to_owned(),
            })
        }
    };
    let toggle = {
        let name = name.clone();
        move || {
            is_counter.then(|| {
                let show_total = show_total.clone();
                let text = move || if show_total() { "show rate" } else { "show total" };
                let name = name.clone();
                let flip = move |_| {
                    totals.update(|totals| match totals.iter().position(|shown| *shown == name) {
                        Some(at) => _ = totals.remove(at),
                        None => totals.push(name.clone()),
                    })
                };
                view! {
                    <button class="card-toggle" type="button" data-testid="counter-toggle" on:click=flip>
                        {text}
                    </button>
                }
            })
        }
    };
    let trend = {
        let name = name.clone();
        Memo::new(move |_| state.series.with(|series| series.trend(&name, TREND_MS)))
    };
    let spark = {
        let name = name.clone();
        Memo::new(move |_| {
            let to = state.updated_at.get();
            state.series.with(|series| {
                series.get(&name).map(|ring| sparkline(ring.iter(), to - SPARKLINE_MS, to)).unwrap_or_default()
            })
        })
    };
    let alert = {
        let name = name.clone();
        Memo::new(move |_| {
            state.alerts.with(|active| worst_alert(active, &name).map(|c| (c.state, c.severity, c.message.clone())))
        })
    };
    let alert_state = move || alert.get().map(|(state, ..)| state.as_str());
    let alert_severity = move || alert.get().map(|(_, severity, _)| severity.as_str());
    let alert_message = move || alert.get().map(|(.., message)| message);
    let direction = move || match trend.get() {
        Some(ratio) if ratio > 0.0005 => "up",
        Some(ratio) if ratio < -0.0005 => "down",
        _ => "flat",
    };
    let trend_text = move || match trend.get() {
        Some(ratio) => {
            let arrow = match direction() {
                "up" => "▲",
                "down" => "▼",
                _ => "■",
            };
            format!("{arrow} {} vs 30 s ago", format_trend(ratio))
        }
        None => "no trend yet".to_owned(),
    };
    view! {
        <article
            class="card"
            data-testid=format!("card-{name}")
            data-metric=name.clone()
            data-kind=is_counter.then_some("counter")
            data-alert-state=alert_state
            data-alert-severity=alert_severity
            title=alert_message
        >
            <h2 class="card-label">{label}</h2>
            <p class="card-value" data-testid="metric-value">{value}</p>
            {toggle}
            <p class="card-trend" data-direction=direction>{trend_text}</p>
            <svg
                class="card-sparkline"
                data-testid="sparkline"
                viewBox=format!("0 0 {SPARK_WIDTH} {SPARK_HEIGHT}")
                preserveAspectRatio="none"
                aria-hidden="true"
            >
                <polyline points=move || spark.get()></polyline>
            </svg>
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinates(line: &str) -> Vec<(f64, f64)> {
        line.split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_sparkline_spans_the_box_with_the_highest_value_on_top() {
        let points: Vec<Point> = (0..=60).map(|s| (s * 1000, s as f64)).collect();
        let line = coordinates(&sparkline(&points, 0, 60_000));
        assert_eq!(line.first(), Some(&(0.0, SPARK_HEIGHT - 1.0)), "oldest and lowest: bottom left");
        assert_eq!(line.last(), Some(&(SPARK_WIDTH, 1.0)), "newest and highest: top right");
        assert!(line.windows(2).all(|pair| pair[0].0 <= pair[1].0), "left to right");
    }

    #[test]
    fn a_counter_card_reads_the_rate_between_the_last_two_points() {
        let points: Vec<Point> = vec![(0, 100.0), (1_000, 110.0), (3_000, 150.0)];
        assert_eq!(last_rate(points.iter()), Some(20.0));
        assert_eq!(last_rate(points[..1].iter()), None, "one point: no rate yet");
        assert_eq!(last_rate([(0, 900.0), (2_000, 4.0)].iter()), Some(2.0), "after a reset");
    }

    #[test]
    fn flat_and_sparse_data() {
        let flat: Vec<Point> = (0..10).map(|s| (s * 1000, 5.0)).collect();
        assert!(coordinates(&sparkline(&flat, 0, 9_000)).iter().all(|(_, y)| *y == SPARK_HEIGHT / 2.0));
        assert_eq!(sparkline(&[(0, 1.0)], 0, 1000), "", "one point draws nothing");
        assert_eq!(sparkline(&[], 0, 1000), "");
    }
}
