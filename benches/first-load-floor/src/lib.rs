//! The first load's floor: the smallest leptos 0.8 client that does what a livedash
//! dashboard's first load does, for `scripts/bench-first-load-floor.sh` to weigh. A router with
//! a lazy route and meta tags; a page loaded by a server function and read in a `Suspense`; a
//! keyed list of cards whose numbers are formatted; a WebSocket whose JSON messages (a tagged
//! enum) update signals; a plotters line chart with labelled axes on a canvas. Everything a
//! real dashboard adds (panel kinds, the connection's fallbacks and resume, alerts, time
//! ranges, zoom, themes, legends, readouts) is left out, so what the product weighs above this
//! is what its own features cost.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Stylesheet, Title};
use leptos_router::{
    components::{FlatRoutes, Route, Router, A},
    lazy_route, path, Lazy, LazyRoute,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub unit: String,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub title: String,
    pub metrics: Vec<Metric>,
}

/// What the stream sends: a snapshot, then updates, and heartbeats between.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Message {
    Snapshot { seq: u64, values: Vec<(String, f64)> },
    Update { seq: u64, values: Vec<(String, f64)> },
    Heartbeat { seq: u64 },
}

#[server]
pub async fn load_page(name: String) -> Result<Page, ServerFnError> {
    Ok(Page { title: name, metrics: Vec::new() })
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet href="/pkg/floor.css"/>
        <Title text="floor"/>
        <Router>
            <nav>
                <A href="/">"Dashboards"</A>
            </nav>
            <FlatRoutes fallback=|| "Not found">
                <Route path=path!("/") view={Lazy::<HomeRoute>::new()}/>
                <Route path=path!("/d/:name") view=Dashboard/>
            </FlatRoutes>
        </Router>
    }
}

#[derive(Debug)]
struct HomeRoute;

#[lazy_route]
impl LazyRoute for HomeRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <p>"Dashboards"</p> }.into_any()
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let page = Resource::new(move || params.read().get("name").unwrap_or_default(), load_page);
    view! {
        <Suspense fallback=|| "Loading">
            {move || Suspend::new(async move { page.await.map(|page| view! { <Live page/> }) })}
        </Suspense>
    }
}

#[component]
fn Live(page: Page) -> impl IntoView {
    let metrics = RwSignal::new(page.metrics.clone());
    let history = RwSignal::new(Vec::<f64>::new());
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(follow(metrics, history));
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| history.with(|points| draw(canvas, points)));
    view! {
        <Title text=page.title.clone()/>
        <h1>{page.title}</h1>
        <For each=move || metrics.get() key=|metric| metric.name.clone() let:metric>
            <section class="card">
                <h2>{metric.name.clone()}</h2>
                <p>{format!("{:.2} {}", metric.value, metric.unit)}</p>
            </section>
        </For>
        <canvas node_ref=canvas width=600 height=200></canvas>
    }
}

/// Reads the stream and applies each snapshot or update to the cards and the chart's line.
#[cfg(feature = "hydrate")]
async fn follow(metrics: RwSignal<Vec<Metric>>, history: RwSignal<Vec<f64>>) {
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message as Frame};
    let Ok(mut socket) = WebSocket::open("/ws") else { return };
    while let Some(Ok(Frame::Text(text))) = socket.next().await {
        let values = match serde_json::from_str::<Message>(&text) {
            Ok(Message::Snapshot { values, .. } | Message::Update { values, .. }) => values,
            Ok(Message::Heartbeat { .. }) | Err(_) => continue,
        };
        metrics.update(|metrics| {
            for (name, value) in values {
                if let Some(metric) = metrics.iter_mut().find(|metric| metric.name == name) {
                    metric.value = value;
                }
            }
        });
        let first = metrics.with_untracked(|metrics| metrics.first().map_or(0.0, |metric| metric.value));
        history.update(|points| points.push(first));
    }
}

#[cfg(feature = "hydrate")]
fn draw(canvas: NodeRef<leptos::html::Canvas>, points: &[f64]) {
    use plotters::prelude::*;
    let Some(element) = canvas.get() else { return };
    let Some(backend) = plotters_canvas::CanvasBackend::with_canvas_object(element) else { return };
    let root = backend.into_drawing_area();
    let _ = root.fill(&WHITE);
    let top = points.iter().copied().fold(1.0, f64::max);
    let Ok(mut chart) = ChartBuilder::on(&root)
        .x_label_area_size(20)
        .y_label_area_size(30)
        .build_cartesian_2d(0.0..points.len().max(1) as f64, 0.0..top)
    else {
        return;
    };
    let _ = chart.configure_mesh().draw();
    let line = points.iter().enumerate().map(|(at, value)| (at as f64, *value));
    let _ = chart.draw_series(LineSeries::new(line, &BLUE));
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_lazy(App);
}
