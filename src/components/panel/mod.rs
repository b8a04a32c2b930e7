//! One panel of the dashboard grid: its frame (title, how fresh its series are, export and
//! full-screen controls) around the body its kind draws: a chart over time (`chart`), a stat,
//! a gauge or a table. Every panel carries `data-panel` and `data-kind`; a panel whose series
//! have all gone silent for three of their own intervals carries `data-stale`; a chart panel
//! carries `data-cursor-ts` while the pointer is over any chart.

mod gauge;
mod stat;
mod table;

use crate::client::{
    panel_data::{PanelData, PanelLine},
    state::DashboardState,
    view::ViewState,
};
use crate::components::chart::{ChartBody, Shown};
use crate::model::{
    format::Reading,
    panel::{stale_after, PanelKind, PanelSpec},
};
use crate::protocol::{Format, Millis, SeriesKind};
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;

/// How a panel's values read: its own format and unit, else those of the first series it
/// shows; a rate when it reads counters as rates. Kept (a memo): readouts and legends read it
/// at every update and pointer move, and finding the first series reads every series' key.
/// A query panel's is its metrics' until its engine runs (`PanelData::shape`).
fn panel_reading(state: DashboardState, spec: &PanelSpec, data: PanelData) -> Signal<Reading> {
    let spec = spec.clone();
    Memo::new(move |_| {
        let shape = data.shape.get();
        state.definitions.with(|definitions| {
            let first = match &shape {
                Some(shape) => definitions.iter().find(|definition| (shape.selects)(&definition.name)),
                None => spec.metrics.first().and_then(|name| definitions.iter().find(|d| &d.name == name)),
            };
            let counter = first.is_some_and(|d| d.kind == SeriesKind::Counter);
            let rate = match &shape {
                Some(shape) if counter => shape.rates_of_counter,
                Some(shape) => shape.rates_otherwise,
                None => counter,
            };
            Reading {
                format: spec.format.or(first.map(|d| d.format)).unwrap_or(Format::Decimal),
                unit: if spec.unit.is_empty() {
                    first.map(|d| d.unit.clone()).unwrap_or_default()
                } else {
                    spec.unit.clone()
                },
                rate,
            }
        })
    })
    .into()
}

/// A number's element, marked in `colour` (a threshold's) beside it while it has one: the
/// number keeps the text colour (threshold colours on a light page fail contrast). Set from the
/// browser: the pages' CSP refuses style attributes in markup.
fn marked_in(colour: Signal<Option<String>>) -> NodeRef<leptos::html::Output> {
    let number = NodeRef::<leptos::html::Output>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(element) = number.get() {
            let _ = web_sys::HtmlElement::style(&element)
                .set_property("border-left-color", &colour.get().unwrap_or_default());
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = colour;
    number
}

/// Points of each series read to judge how fresh it is (`stale_after` takes the median gap).
const FRESHNESS_POINTS: usize = 9;

/// The newest point of any of `lines`, and whether every series with points has gone silent
/// past three of its own intervals as of `now`.
fn freshness(lines: &[PanelLine], now: Millis) -> (Option<Millis>, bool) {
    let newest = lines.iter().filter_map(|line| line.points.last().map(|p| p.0)).max();
    let mut judged = lines.iter().filter_map(|line| stale_after(&line.points)).peekable();
    let stale = judged.peek().is_some() && judged.all(|after| after < now);
    (newest, stale)
}

/// "updated 2 s ago".
fn ago(newest: Option<Millis>, now: Millis) -> String {
    let Some(newest) = newest else { return "no data yet".into() };
    let seconds = ((now - newest).max(0) + 500) / 1_000;
    match seconds {
        0..=59 => format!("updated {seconds} s ago"),
        60..=3_599 => format!("updated {} min ago", seconds / 60),
        _ => format!("updated {} h ago", seconds / 3_600),
    }
}

#[component]
pub fn Panel(spec: PanelSpec) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    let data = PanelData::new(state, &spec);
    let reading = panel_reading(state, &spec, data);
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let shown = StoredValue::new(Shown::default());
    let kind = spec.kind;
    // How fresh the series are, judged once a second by the server's clock (not at every
    // update), from each series' last few points.
    let fresh = Memo::new(move |_| {
        let now = view.now.get();
        freshness(&data.recent(FRESHNESS_POINTS), now)
    });
    let id = spec.id.clone();
    let full = {
        let id = id.clone();
        Memo::new(move |_| view.view.with(|view| view.panel.as_deref() == Some(id.as_str())))
    };
    let toggle_full = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            view.change(move |view| {
                view.panel = if view.panel.as_deref() == Some(id.as_str()) { None } else { Some(id) }
            })
        }
    };
    let title = spec.title.clone();
    let caption = {
        let title = if title.is_empty() { spec.id.clone() } else { title.clone() };
        move || {
            let unit = reading.with(|reading| {
                crate::components::chart::axis_unit(reading.format, &reading.axis_unit()).map(str::to_owned)
            });
            match unit {
                Some(unit) => format!("{title} ({unit})"),
                None => title.clone(),
            }
        }
    };
    let exported = Exported { id: id.clone(), data, shown, kind, canvas };
    let csv = {
        let exported = exported.clone();
        move |_| exported.clone().start(Export::Csv)
    };
    let png = move |_| exported.clone().start(Export::Png);
    let has_canvas = kind.is_chart() || kind == PanelKind::Gauge;
    let body = if kind.is_chart() {
        Either::Left(view! { <ChartBody spec=spec.clone() data reading canvas shown/> })
    } else {
        Either::Right(value_body(spec.clone(), data, reading, canvas))
    };
    let label = title.clone();
    view! {
        <article
            class=format!("panel w-{} h-{}", spec.columns(), spec.rows())
            class:full=move || full.get()
            data-panel=id.clone()
            data-kind=kind.as_str()
            data-stale=move || fresh.with(|(_, stale)| stale.then_some(""))
            data-cursor-ts=move || view.cursor.get().filter(|_| kind.is_chart()).map(|ts| ts.to_string())
        >
            <header class="panel-head">
                <h2 class="panel-title">{caption}</h2>
                <span class="panel-fresh" data-testid="panel-freshness">
                    {move || fresh.with(|(newest, stale)| {
                        let text = ago(*newest, view.now.get());
                        if *stale { format!("stale · {text}") } else { text }
                    })}
                </span>
                <div class="panel-actions">
                    <button type="button" data-action="csv" title="Download the data shown as CSV" aria-label=format!("Download {label} as CSV") on:click=csv>
                        "CSV"
                    </button>
                    {has_canvas.then(|| view! {
                        <button type="button" data-action="png" title="Download the chart as PNG" aria-label=format!("Download {label} as PNG") on:click=png.clone()>
                            "PNG"
                        </button>
                    })}
                    <button
                        type="button"
                        data-action="full"
                        aria-pressed=move || full.get().to_string()
                        title="Show this panel alone"
                        on:click=toggle_full
                    >
                        {move || if full.get() { "Back to grid" } else { "Full screen" }}
                    </button>
                </div>
            </header>
            {move || data.error.get().map(|error| view! { <p class="panel-error" role="alert">{error}</p> })}
            {body}
        </article>
    }
}

/// The body of a stat, gauge or table panel: the current values, which the server renders in
/// full (a page's first paint has its numbers) and the browser brings to life from a module of
/// its own (`lazily`), loaded when a dashboard first shows one of them.
fn value_body(
    spec: PanelSpec,
    data: PanelData,
    reading: Signal<Reading>,
    canvas: NodeRef<leptos::html::Canvas>,
) -> impl IntoView {
    #[cfg(not(feature = "hydrate"))]
    return view! { <div class="panel-body">{value_view(spec, data, reading, canvas)}</div> };
    #[cfg(feature = "hydrate")]
    crate::components::lazily::taken_over("panel-body", move |slot| async move {
        match split::value_view(spec, data, reading, canvas, slot).await {
            Ok(live) => live.await,
            // The server's numbers stay, no longer live.
            Err(_) => data.error.set(Some(crate::client::NOT_LOADED.to_owned())),
        }
    })
}

/// A stat, gauge or table body by its kind.
fn value_view(
    spec: PanelSpec,
    data: PanelData,
    reading: Signal<Reading>,
    canvas: NodeRef<leptos::html::Canvas>,
) -> impl IntoView {
    match spec.kind {
        PanelKind::Stat => EitherOf3::A(view! { <stat::StatBody spec data reading/> }),
        PanelKind::Gauge => EitherOf3::B(view! { <gauge::GaugeBody spec data reading canvas/> }),
        _ => EitherOf3::C(view! { <table::TableBody data reading/> }),
    }
}

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(panel_bodies, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn value_view(
        spec: PanelSpec,
        data: PanelData,
        reading: Signal<Reading>,
        canvas: NodeRef<leptos::html::Canvas>,
        slot: NodeRef<leptos::html::Div>,
    ) -> Result<futures::future::LocalBoxFuture<'static, ()>, leptos::wasm_split::SplitLoaderError> {
        Ok(Box::pin(async move {
            // A query's engine loads beside this module; the server's numbers stay until it runs.
            data.ready().await;
            crate::components::lazily::replace_children(slot, super::value_view(spec, data, reading, canvas))
        }))
    }

    #[leptos::wasm_split::wasm_split(panel_export, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn export(format: Export, exported: Exported) -> Result<(), leptos::wasm_split::SplitLoaderError> {
        let Exported { id, data, shown, kind, canvas } = exported;
        match format {
            Export::Csv => export_csv(&id, data, shown, kind),
            Export::Png => export_png(&id, canvas),
        }
        Ok(())
    }
}

/// What a panel's export buttons download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Export {
    Csv,
    Png,
}

/// What a panel's exports read: its id (the file's name), its data, what its chart drew, its
/// kind and its canvas.
#[derive(Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the server makes no export
struct Exported {
    id: String,
    data: PanelData,
    shown: StoredValue<Shown>,
    kind: PanelKind,
    canvas: NodeRef<leptos::html::Canvas>,
}

impl Exported {
    /// Downloads the panel as `format`, from a module of its own (`lazily`): an export is made
    /// only when asked for. A module that cannot be fetched is said on the panel.
    fn start(self, format: Export) {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let data = self.data;
            if split::export(format, self).await.is_err() {
                data.error.set(Some(crate::client::NOT_LOADED.to_owned()));
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (format, self);
    }
}

/// Downloads what the panel shows as CSV (`ts,series,value`): a chart's drawn points, or the
/// current value of each series of a stat, gauge or table.
#[cfg(feature = "hydrate")]
fn export_csv(id: &str, data: PanelData, shown: StoredValue<Shown>, kind: PanelKind) {
    let table = if kind.is_chart() {
        shown.with_value(|shown| {
            crate::model::csv::series_table(shown.lines.iter().map(|line| (line.key.as_str(), line.points.as_slice())))
        })
    } else {
        let now = untrack(|| expect_context::<ViewState>().now.get());
        let lines = data.lines(now - crate::client::view::LIVE_MEMORY_MS, now);
        let last: Vec<(String, Vec<(Millis, f64)>)> =
            lines.into_iter().map(|line| (line.key, line.points.last().copied().into_iter().collect())).collect();
        crate::model::csv::series_table(last.iter().map(|(key, points)| (key.as_str(), points.as_slice())))
    };
    download(&format!("{id}.csv"), &format!("data:text/csv;charset=utf-8,{}", js_sys::encode_uri_component(&table)));
}

/// Downloads the panel's canvas as PNG.
#[cfg(feature = "hydrate")]
fn export_png(id: &str, canvas: NodeRef<leptos::html::Canvas>) {
    if let Some(url) = canvas.get_untracked().and_then(|canvas| canvas.to_data_url().ok()) {
        download(&format!("{id}.png"), &url);
    }
}

/// Saves `url` as `name` through a link clicked for the person.
#[cfg(feature = "hydrate")]
fn download(name: &str, url: &str) {
    use wasm_bindgen::JsCast;
    let Ok(link) = document().create_element("a") else { return };
    let _ = link.set_attribute("href", url);
    let _ = link.set_attribute("download", name);
    if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
        link.click();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(points: &[(Millis, f64)]) -> PanelLine {
        PanelLine { key: "a".into(), legend: "a".into(), labels: Default::default(), points: points.to_vec() }
    }

    #[test]
    fn a_panel_is_stale_when_all_its_series_are_silent_past_three_intervals() {
        let every_second = line(&[(0, 1.0), (1_000, 1.0), (2_000, 1.0)]);
        assert_eq!(freshness(std::slice::from_ref(&every_second), 4_000), (Some(2_000), false));
        assert_eq!(freshness(std::slice::from_ref(&every_second), 5_001), (Some(2_000), true));
        let every_minute = line(&[(0, 1.0), (60_000, 1.0)]);
        assert!(!freshness(&[every_second, every_minute], 100_000).1, "one series still within its intervals");
        assert!(!freshness(&[], 1).1, "nothing to judge is not stale");
        assert_eq!(ago(Some(1_000), 3_400), "updated 2 s ago");
        assert_eq!(ago(Some(0), 600_000), "updated 10 min ago");
    }
}
