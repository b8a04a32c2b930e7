//! A chart's legend: a line per series in its colour, named by the labels that tell it from
//! the others, with its last, lowest and highest value over the span shown (a counter's
//! rates); click to show that series alone (again to show all), shift-click to hide it. The
//! values are summarised by the chart's draw over the points it has in hand (`summarise`),
//! not read again: live, once a second (ten texts a second per series cannot be read, and
//! rewriting them costs a layout per frame); a zoomed span's as its data comes.

use super::palette::Palette;
use crate::client::panel_data::PanelLine;
use crate::model::{family::colour_index, format::Reading, series::Point};
use crate::protocol::Millis;
use leptos::prelude::*;

/// A series as its legend reads it: its key, its name, and its last, lowest and highest value
/// over the span drawn (`None`: no point in it).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub key: String,
    pub name: String,
    pub values: Option<(f64, f64, f64)>,
}

/// Each of `lines`' summary over its points from `from` on.
pub fn summarise(lines: &[PanelLine], from: Millis) -> Vec<Summary> {
    lines
        .iter()
        .map(|line| Summary {
            key: line.key.clone(),
            name: line.legend.clone(),
            values: last_low_high(line.points.iter().filter(|(ts, _)| *ts >= from)),
        })
        .collect()
}

/// Last, lowest and highest of `points`.
fn last_low_high<'a>(points: impl IntoIterator<Item = &'a Point>) -> Option<(f64, f64, f64)> {
    points.into_iter().fold(None, |seen, &(_, value)| {
        let (low, high) =
            seen.map_or((value, value), |(_, low, high): (f64, f64, f64)| (low.min(value), high.max(value)));
        Some((value, low, high))
    })
}

#[component]
pub fn Legend(
    /// The series and their values, as the chart's draw last summarised them.
    summaries: RwSignal<Vec<Summary>>,
    reading: Signal<Reading>,
    hidden: RwSignal<Vec<String>>,
    isolated: RwSignal<Option<String>>,
) -> impl IntoView {
    let entries = Memo::new(move |_| {
        let reading = reading.get();
        summaries.with(|summaries| {
            summaries
                .iter()
                .map(|summary| {
                    let values = summary.values.map_or_else(
                        || "no data".to_owned(),
                        |(last, low, high)| {
                            format!(
                                "last {} · min {} · max {}",
                                reading.show(last),
                                reading.show(low),
                                reading.show(high)
                            )
                        },
                    );
                    (summary.key.clone(), summary.name.clone(), values)
                })
                .collect::<Vec<_>>()
        })
    });
    // The entries' keys and names apart from their values: the list is walked again only when
    // the series change, not at every summary.
    let names = Memo::new(move |_| {
        entries.with(|entries| entries.iter().map(|e| (e.0.clone(), e.1.clone())).collect::<Vec<_>>())
    });
    let entry = move |(name, legend): (String, String)| {
        let values = {
            let name = name.clone();
            move || {
                entries.with(|entries| entries.iter().find(|e| e.0 == name).map(|e| e.2.clone()).unwrap_or_default())
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
    };
    // On the server, the entries as a keyed list. In the browser the list the server rendered
    // is adopted as it stands (an element hydrated without children keeps the server's) and
    // built again whole whenever the series change: without a keyed list's hydrate and rebuild
    // paths for this one view, the first load is 1.7 KB of brotli smaller (BENCHMARKS.md).
    #[cfg(not(feature = "hydrate"))]
    return view! {
        <ul class="chart-legend" data-testid="chart-legend">
            <For each=move || names.get() key=|entry| entry.clone() children=entry/>
        </ul>
    };
    #[cfg(feature = "hydrate")]
    {
        let list = NodeRef::<leptos::html::Ul>::new();
        Effect::new(move |_| {
            let entries = names.get().into_iter().map(entry).collect::<Vec<_>>();
            crate::components::lazily::replace_children(list, entries);
        });
        view! { <ul class="chart-legend" data-testid="chart-legend" node_ref=list></ul> }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &str, points: &[Point]) -> PanelLine {
        PanelLine {
            key: key.into(),
            legend: format!("{key} name"),
            labels: Default::default(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn a_summary_reads_the_span_only_and_says_when_it_has_no_point() {
        // The draw's lines keep the point before the span (a line reaches its edge): not the legend's.
        let lines = [line("a", &[(900, 100.0), (1_000, 3.0), (1_100, 1.0), (1_200, 2.0)]), line("b", &[(900, 5.0)])];
        assert_eq!(
            summarise(&lines, 1_000),
            [
                Summary { key: "a".into(), name: "a name".into(), values: Some((2.0, 1.0, 3.0)) },
                Summary { key: "b".into(), name: "b name".into(), values: None },
            ]
        );
    }
}
