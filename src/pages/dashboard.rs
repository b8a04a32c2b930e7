//! `/d/{id}`: one dashboard, rendered on the server from its snapshot (so the first paint has
//! real numbers), then kept live by the page's one connection, which subscribes it while it
//! is shown.

use crate::client::{
    live_edge::provide_live_edge,
    state::{ConnectionState, DashboardState},
    visibility::track_page_visibility,
};
use crate::components::{
    alert_toasts::AlertToasts, chart::SeriesChart, connection_badge::ConnectionBadge,
    connection_banner::ConnectionBanner, connection_panel::ConnectionPanel, metric_card::MetricCard,
    store_banner::StoreBanner, window_picker::WindowPicker,
};
use crate::loaders::{load_snapshot, DashboardLoad};
use crate::model::{alerts::RuleSummary, family::chart_groups};
use crate::pages::{forbidden::Forbidden, not_found::NotFound};
use crate::protocol::Snapshot;
use leptos::either::EitherOf4;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let snapshot = Resource::new(move || id.get(), load_snapshot);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading dashboard…"</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(DashboardLoad::Ready(snapshot, rules)) => {
                        EitherOf4::A(view! { <LiveDashboard snapshot=*snapshot rules/> })
                    }
                    Ok(DashboardLoad::NotFound) => EitherOf4::B(view! { <NotFound/> }),
                    Ok(DashboardLoad::Forbidden) => EitherOf4::C(view! { <Forbidden/> }),
                    Err(error) => EitherOf4::D(view! { <p class="error">{error.to_string()}</p> }),
                }
            })}
        </Suspense>
    }
}

/// The dashboard itself; owns its state, subscribed on the page's connection until it unmounts.
#[component]
fn LiveDashboard(snapshot: Snapshot, rules: Vec<RuleSummary>) -> impl IntoView {
    let state = DashboardState::from_snapshot(snapshot).with_rules(rules);
    provide_context(state);
    #[cfg(feature = "hydrate")]
    if !state.rules.with_value(Vec::is_empty) {
        // Where the rules fired before the page opened, for the charts (none without a store).
        crate::client::api::spawn(async move {
            let url = format!("/api/v1/alerts/history?dashboard={}", state.id.get_value());
            if let Ok(recorded) = crate::client::api::get(&url).await {
                state.add_alert_history(recorded);
            }
        });
    }
    let connection = expect_context::<ConnectionState>();
    connection.open(state);
    provide_live_edge(state);
    track_page_visibility(state.visible);

    let definitions = move || state.definitions.get();
    let charted = move || state.definitions.with(|definitions| chart_groups(definitions));
    view! {
        <Title text=move || state.title.get()/>
        <section
            class="dashboard"
            data-testid="dashboard"
            data-dashboard=state.id.get_value()
            data-epoch=move || state.position.with(|p| p.epoch.clone())
            data-seq=move || state.position.with(|p| p.seq)
            data-stale=move || connection.status.get().is_stale().to_string()
        >
            <header class="dashboard-header">
                <h1>{move || state.title.get()}</h1>
                <WindowPicker/>
                <ConnectionBadge/>
            </header>
            <ConnectionBanner/>
            <StoreBanner/>
            <AlertToasts/>
            <ConnectionPanel/>
            <div class="cards">
                <For each=definitions key=|d| d.name.clone() let:definition>
                    <MetricCard definition/>
                </For>
            </div>
            <div class="charts">
                <For each=charted key=|group| (group.key.clone(), group.members.len()) let:group>
                    <SeriesChart group/>
                </For>
            </div>
        </section>
    }
}
