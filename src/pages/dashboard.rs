//! `/d/{id}`: one dashboard, rendered on the server from its snapshot (so the first paint has
//! real numbers), then kept live by the page's one connection, which subscribes it while it
//! is shown.

#[cfg(feature = "hydrate")]
use crate::client::theme::{Theme, ThemeState};
use crate::client::{
    live_edge::provide_live_edge,
    state::{ConnectionState, DashboardState},
    view::ViewState,
    visibility::track_page_visibility,
};
use crate::components::page_title::page_title;
use crate::components::{
    alert_toasts::AlertToasts, connection_badge::ConnectionBadge, connection_banner::ConnectionBanner,
    connection_panel::ConnectionPanel, metric_card::MetricCards, panel::Panel, store_banner::StoreBanner,
    window_picker::WindowPicker,
};
use crate::loaders::{read_dashboard, DashboardLoad};
use crate::model::{
    alerts::RuleSummary,
    panel::{default_panels, Compare, PanelSpec},
};
use crate::pages::{forbidden::Forbidden, not_found::NotFound};
use crate::protocol::Snapshot;
use leptos::either::EitherOf4;
use leptos::prelude::*;

/// The page, in a `<div class="dashboard-page">` the server renders whole (its load written in
/// beside the view, `served_load`) and the browser builds again in place (`lazily::rebuilt`):
/// from that load when it hydrates the page, from the server (`read_dashboard`) when it
/// opens another dashboard. No `Resource` or `Suspense` in the browser: their async views and
/// the hydration of every view the page can show were 12 KB of brotli in the first load.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let url = crate::client::location::use_url();
    // A URL without an id (the page is being left) keeps the last.
    let id = Memo::new(move |last: Option<&String>| {
        url.with(|url| crate::client::location::dashboard_id(&url.path)).or_else(|| last.cloned()).unwrap_or_default()
    });
    #[cfg(not(feature = "hydrate"))]
    return move || {
        let id = id.get();
        view! {
            <div class="dashboard-page">
                <Suspense fallback=|| ()>
                    {Suspend::new(async move {
                        let load = read_dashboard(id).await;
                        (load.as_ref().ok().map(served_load), shown(load))
                    })}
                </Suspense>
            </div>
        }
    };
    #[cfg(feature = "hydrate")]
    {
        let served = std::cell::Cell::new(crate::components::lazily::hydrating().then(read_served_load).flatten());
        move || {
            let id = id.get();
            let served = served.take();
            crate::components::lazily::rebuilt("dashboard-page", ".panel-body", LOADING, async move {
                let load = match served {
                    Some(load) => Ok(load),
                    None => read_dashboard(id).await,
                };
                shown(load)
            })
        }
    }
}

/// What the page says while a dashboard opened from another loads.
#[cfg(feature = "hydrate")]
const LOADING: &str = "Loading dashboard…";

/// What a load shows: the live dashboard, or why not.
fn shown(load: Result<DashboardLoad, String>) -> impl IntoView {
    match load {
        Ok(DashboardLoad::Ready(snapshot, rules, panels)) => {
            EitherOf4::A(view! { <LiveDashboard snapshot=*snapshot rules panels/> })
        }
        Ok(DashboardLoad::NotFound) => EitherOf4::B(view! { <NotFound/> }),
        Ok(DashboardLoad::Forbidden) => EitherOf4::C(view! { <Forbidden/> }),
        Err(error) => EitherOf4::D(view! { <p class="error">{error}</p> }),
    }
}

/// The load a page was rendered from, written into it for the browser as JSON in a data block
/// (`<script type="application/json">`, never run; it carries the response's nonce as every
/// script of the page does). A `<` in it (in a title, a label) is written `\u003c`, as JSON
/// allows, so nothing in the data can end the block.
#[cfg(not(feature = "hydrate"))]
fn served_load(load: &DashboardLoad) -> impl IntoView {
    let json = serde_json::to_string(load).unwrap_or_default().replace('<', "\\u003c");
    view! {
        <script type="application/json" class="dashboard-load" nonce=leptos::nonce::use_nonce() inner_html=json></script>
    }
}

/// The load the server wrote into the page it sent (`served_load`), if it is there and reads.
#[cfg(feature = "hydrate")]
fn read_served_load() -> Option<DashboardLoad> {
    let block = document().query_selector(".dashboard-page > script.dashboard-load").ok()??;
    crate::protocol::read::from_text(&block.text_content()?).ok()
}

/// The dashboard itself; owns its state, subscribed on the page's connection until it unmounts.
#[component]
fn LiveDashboard(snapshot: Snapshot, rules: Vec<RuleSummary>, panels: Vec<PanelSpec>) -> impl IntoView {
    let state = DashboardState::from_snapshot(snapshot).with_rules(rules);
    provide_context(state);
    // Where the rules fired before the page opened, for the charts (none without a store),
    // read by a module of its own: only a dashboard with rules asks.
    #[cfg(feature = "hydrate")]
    if !state.rules.with_value(Vec::is_empty) {
        crate::client::api::spawn(async move {
            match split::alert_history(state).await {
                Ok(added) => added.await,
                Err(error) => leptos::logging::warn!("alert history: {error}"),
            }
        });
    }
    let connection = expect_context::<ConnectionState>();
    connection.open(state);
    provide_live_edge(state);
    let view = ViewState::provide(state);
    track_page_visibility(state.visible);
    follow_view_keys(view);
    rotate_dashboards(view, state);
    apply_view_theme(view);

    // The configured panels, else one per family as the series come.
    let configured = !panels.is_empty();
    let all_panels = Memo::new(move |_| {
        if configured {
            panels.clone()
        } else {
            state.definitions.with(|definitions| default_panels(definitions))
        }
    });
    // The panel shown alone, apart from the rest of the view: a zoom or a return to live does
    // not list the panels again.
    let alone = Memo::new(move |_| view.view.with(|view| view.panel.clone()));
    let shown_panels = move || {
        let alone = alone.get();
        all_panels.with(|panels| match panels.iter().find(|panel| Some(&panel.id) == alone.as_ref()) {
            Some(panel) => vec![panel.clone()],
            None => panels.clone(),
        })
    };
    let kiosk = Memo::new(move |_| view.view.with(|view| view.kiosk));
    let chrome = move || !kiosk.get();
    let idle = pointer_idle();
    page_title(state.title);
    view! {
        <section
            class="dashboard"
            class:kiosk=move || kiosk.get()
            class:idle=move || kiosk.get() && idle.get()
            class:zoomed=move || !view.is_live()
            data-testid="dashboard"
            data-dashboard=state.id.get_value()
            data-epoch=move || state.position.with(|p| p.epoch.clone())
            data-seq=move || state.position.with(|p| p.seq)
            data-stale=move || connection.status.get().is_stale().to_string()
            data-live=move || view.is_live().to_string()
        >
            <Show when=chrome>
                <header class="dashboard-header">
                    <h1>{move || state.title.get()}</h1>
                    <WindowPicker/>
                    <ComparePicker/>
                    <LiveControl/>
                    <ConnectionBadge/>
                </header>
                <ConnectionBanner/>
                <StoreBanner/>
                <AlertToasts/>
                <ConnectionPanel/>
            </Show>
            // Configured panels are the whole layout (stat panels are its cards); without them,
            // a card per metric above a panel per family.
            <Show when=move || !configured && chrome() && alone.with(Option::is_none)>
                <MetricCards/>
            </Show>
            <div class="panels" class:alone=move || alone.with(Option::is_some)>
                <For each=shown_panels key=|panel| (panel.id.clone(), panel.metrics.len()) let:spec>
                    <Panel spec/>
                </For>
            </div>
        </section>
    }
}

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use crate::client::state::DashboardState;
    use futures::future::LocalBoxFuture;
    use leptos::prelude::*;
    use leptos::wasm_split::SplitLoaderError;

    /// Reads where `state`'s rules fired before the page opened into its alert log (nothing
    /// if the request fails).
    #[leptos::wasm_split::wasm_split(alert_history, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn alert_history(state: DashboardState) -> Result<LocalBoxFuture<'static, ()>, SplitLoaderError> {
        Ok(Box::pin(async move {
            let url = format!("/api/v1/alerts/history?dashboard={}", state.id.get_value());
            if let Ok(recorded) = crate::client::api::get(&url).await {
                state.add_alert_history(recorded);
            }
        }))
    }
}

/// Keys that walk the view: Escape goes back to live (or leaves a full-screen panel), and while
/// zoomed the left and right arrows pan by half the span. Not while typing in a field.
fn follow_view_keys(view: ViewState) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let listener = window_event_listener(leptos::ev::keydown, move |event| {
            let typing = event
                .target()
                .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|element| matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            if typing || event.ctrl_key() || event.meta_key() || event.alt_key() {
                return;
            }
            let span = view.view.with_untracked(|view| view.span);
            match (event.key().as_str(), span) {
                ("Escape", Some(_)) => view.go_live(),
                ("Escape", None) => view.change(|view| view.panel = None),
                ("ArrowLeft" | "ArrowRight", Some((from, to))) => {
                    let step = (to - from) / 2 * if event.key() == "ArrowLeft" { -1 } else { 1 };
                    view.change(|view| view.span = Some((from + step, to + step)));
                }
                _ => {}
            }
        });
        on_cleanup(move || listener.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = view;
}

/// A wall screen (`rotate=30s&dashboards=a,b`) goes to the next dashboard every so often,
/// keeping the rest of the view.
fn rotate_dashboards(view: ViewState, state: DashboardState) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let Some(every) = view.view.with(|view| view.rotate) else { return };
        crate::client::interval::use_interval(std::time::Duration::from_millis(every as u64), move || {
            let Some(current) = state.id.try_get_value() else { return };
            let next = view.view.try_with_untracked(|view| view.next_dashboard(&current).map(str::to_owned)).flatten();
            if let Some(next) = next {
                view.go_to_dashboard(&next);
            }
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (view, state);
}

/// `theme=light` or `theme=dark` in the URL wins over the remembered choice (not remembered).
fn apply_view_theme(view: ViewState) {
    #[cfg(feature = "hydrate")]
    {
        let theme = expect_context::<ThemeState>();
        Effect::new(move |_| {
            let wanted = view.view.with(|view| view.theme.clone());
            let Some(wanted) = wanted else { return };
            let wanted = if wanted == "light" { Theme::Light } else { Theme::Dark };
            if theme.0.get_untracked() != wanted {
                theme.0.set(wanted);
            }
            if let Some(html) = document().document_element() {
                let _ = html.set_attribute("data-theme", wanted.label());
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = view;
}

/// Whether the pointer has been still for three seconds (a kiosk hides it then).
fn pointer_idle() -> RwSignal<bool> {
    let idle = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        let last_move = StoredValue::new(js_sys::Date::now());
        let listener = window_event_listener(leptos::ev::pointermove, move |_| {
            last_move.set_value(js_sys::Date::now());
            if idle.get_untracked() {
                idle.set(false);
            }
        });
        on_cleanup(move || listener.remove());
        crate::client::interval::use_interval(std::time::Duration::from_millis(500), move || {
            let still = js_sys::Date::now() - last_move.get_value() > 3_000.0;
            if still != idle.get_untracked() {
                idle.set(still);
            }
        });
    }
    idle
}

/// The earlier period every panel compares with.
#[component]
fn ComparePicker() -> impl IntoView {
    let view = expect_context::<ViewState>();
    let choices = std::iter::once(None).chain(Compare::ALL.into_iter().map(Some));
    view! {
        <div class="compare-picker" role="group" aria-label="Compare with">
            {choices
                .map(|choice| {
                    view! {
                        <button
                            type="button"
                            data-compare=choice.map_or("off", Compare::as_str)
                            aria-pressed=move || (view.view.with(|view| view.compare) == choice).to_string()
                            on:click=move |_| view.change(|view| view.compare = choice)
                        >
                            {choice.map_or("No compare", Compare::label)}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// While zoomed: the span shown and the way back to the live edge.
#[component]
fn LiveControl() -> impl IntoView {
    let view = expect_context::<ViewState>();
    let span = move || {
        view.view.with(|view| view.span).map(|(from, to)| {
            let clock = |ts| crate::components::chart::clock_time(ts, to - from);
            format!("{} – {}", clock(from), clock(to))
        })
    };
    view! {
        <Show when=move || !view.is_live()>
            <span class="zoom-span" data-testid="zoom-span">{span}</span>
            <button type="button" class="live-button" data-action="live" title="Back to live (Escape, or double click a chart)" on:click=move |_| view.go_live()>
                "Back to live"
            </button>
        </Show>
    }
}
