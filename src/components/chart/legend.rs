//! A family chart's legend: a line per series in its colour, named by the labels that tell it
//! from the others, with its last, lowest and highest value over the window (a counter's
//! rates); click to show that series alone (again to show all), shift-click to hide it.

use super::palette::Palette;
use crate::client::state::DashboardState;
use crate::model::{counter::rates, family::colour_index, format::Reading, series::Point};
use leptos::prelude::*;

/// Last, lowest and highest of `points`.
fn summary(points: &[Point]) -> Option<(f64, f64, f64)> {
    let last = points.last()?.1;
    let (low, high) =
        points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), (_, v)| (low.min(*v), high.max(*v)));
    Some((last, low, high))
}

#[component]
pub fn Legend(
    metrics: Vec<String>,
    legends: Vec<String>,
    reading: Reading,
    hidden: RwSignal<Vec<String>>,
    isolated: RwSignal<Option<String>>,
) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let entries = metrics.into_iter().zip(legends).map(|(name, legend)| {
        let reading = reading.clone();
        let values = {
            let name = name.clone();
            move || {
                let window = state.window.get().millis();
                let text = state.series.with(|series| {
                    let live = series.get(&name)?;
                    let newest = live.iter().last()?.0;
                    let recent = live.iter().filter(|(ts, _)| *ts >= newest - window);
                    let points: Vec<Point> = if reading.rate { rates(recent) } else { recent.copied().collect() };
                    let (last, low, high) = summary(&points)?;
                    let shown = |value| reading.show(value);
                    Some(format!("last {} · min {} · max {}", shown(last), shown(low), shown(high)))
                });
                text.unwrap_or_else(|| "no data".to_owned())
            }
        };
        // A class, not an inline style (the pages' CSP allows none): style/main.css gives each
        // `series-N` the colour `Palette::series[N]` has in each theme.
        let swatch = format!("legend-swatch series-{}", colour_index(&name, Palette::DARK.series.len()));
        let is_hidden = {
            let name = name.clone();
            move || {
                hidden.with(|hidden| hidden.contains(&name))
                    || isolated.with(|one| one.as_ref().is_some_and(|one| *one != name))
            }
        };
        let is_isolated = {
            let name = name.clone();
            Signal::derive(move || isolated.with(|one| one.as_ref() == Some(&name)))
        };
        let toggle = {
            let name = name.clone();
            move |event: leptos::ev::MouseEvent| {
                if event.shift_key() {
                    isolated.set(None);
                    hidden.update(|hidden| match hidden.iter().position(|h| *h == name) {
                        Some(at) => _ = hidden.remove(at),
                        None => hidden.push(name.clone()),
                    });
                } else {
                    hidden.set(Vec::new());
                    isolated.update(|one| *one = if one.as_ref() == Some(&name) { None } else { Some(name.clone()) });
                }
            }
        };
        view! {
            <li>
                <button
                    type="button"
                    class="legend-entry"
                    data-series=name
                    data-hidden=move || is_hidden().to_string()
                    data-isolated=move || is_isolated.get().to_string()
                    aria-pressed=move || is_isolated.get().to_string()
                    title="Click: show it alone. Shift-click: hide it."
                    on:click=toggle
                >
                    <span class=swatch></span>
                    <span class="legend-name">{legend}</span>
                    <span class="legend-values">{values}</span>
                </button>
            </li>
        }
    });
    view! { <ul class="chart-legend" data-testid="chart-legend">{entries.collect_view()}</ul> }
}
