//! `/`: the list of dashboards, each with where its data comes from (the producers that fed
//! it and how long ago, its series count) and the health of the Prometheus targets scraped
//! into it.

use crate::components::page_title::page_title;
use crate::loaders::read_dashboard_list;
use crate::model::format::format_age;
use crate::protocol::{DashboardSummary, Millis, TargetHealth};
use leptos::either::EitherOf3;
use leptos::prelude::*;

/// The page. Its list, which the server renders in full, is all a hydrated page needs (the
/// page follows its links' clicks, `client::location`); a page opened from another makes the
/// list from a module of its own (`lazily::page`).
#[component]
pub fn HomePage() -> impl IntoView {
    page_title("Dashboards".to_owned());
    #[cfg(not(feature = "hydrate"))]
    let list = crate::components::lazily::page("home_list", "home-list", true, view! { <DashboardList/> });
    #[cfg(feature = "hydrate")]
    let list = crate::components::lazily::page("home_list", "home-list", true, split::home_list);
    view! {
        <section class="home">
            <h1>"Dashboards"</h1>
            {list}
        </section>
    }
}

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(home_list, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn home_list(slot: NodeRef<leptos::html::Div>) -> Result<(), leptos::wasm_split::SplitLoaderError> {
        crate::components::lazily::replace_children(slot, view! { <DashboardList/> });
        Ok(())
    }
}

/// The dashboards, loaded from the server.
#[component]
fn DashboardList() -> impl IntoView {
    let dashboards = read_dashboard_list();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading dashboards…"</p> }>
            {Suspend::new(async move {
                match dashboards.await {
                    Ok(list) if list.dashboards.is_empty() => {
                        EitherOf3::A(view! { <p>"No dashboards yet: push metrics to /api/v1/ingest."</p> })
                    }
                    Ok(list) => EitherOf3::B(
                        view! {
                            <ul class="dashboard-list" data-testid="dashboard-list">
                                {list
                                    .dashboards
                                    .into_iter()
                                    .map(|dashboard| view! { <DashboardItem dashboard now=list.now/> })
                                    .collect_view()}
                            </ul>
                        },
                    ),
                    Err(error) => EitherOf3::C(view! { <p class="error">{error}</p> }),
                }
            })}
        </Suspense>
    }
}

/// One dashboard: its title, series and sources, its targets.
#[component]
fn DashboardItem(dashboard: DashboardSummary, now: Millis) -> impl IntoView {
    let metrics = dashboard.definitions.iter().take(12).map(|d| d.label.clone()).collect::<Vec<_>>().join(", ");
    let more = dashboard.definitions.len().saturating_sub(12);
    let metrics = if more > 0 { format!("{metrics} and {more} more") } else { metrics };
    let series = match dashboard.series {
        1 => "1 series".to_owned(),
        count => format!("{count} series"),
    };
    let sources = dashboard
        .sources
        .iter()
        .map(|source| format!("{}, {} ago", source.kind.label(), format_age((now - source.last_received) as f64)))
        .collect::<Vec<_>>();
    let fed = match sources.is_empty() {
        true => String::new(),
        false => format!(" · from {}", sources.join("; ")),
    };
    let (id, href) = (dashboard.id.clone(), format!("/d/{}", dashboard.id));
    view! {
        <li data-dashboard=dashboard.id>
            <a href=href>
                <span class="dashboard-title">{dashboard.title}</span>
                <span class="dashboard-id">{id}</span>
            </a>
            <p class="dashboard-sources" data-testid="dashboard-sources">{series}{fed}</p>
            <p class="dashboard-metrics">{metrics}</p>
            {(!dashboard.targets.is_empty())
                .then(|| {
                    view! {
                        <ul class="dashboard-targets" aria-label="Scraped targets">
                            {dashboard.targets.into_iter().map(|target| view! { <TargetItem target now/> }).collect_view()}
                        </ul>
                    }
                })}
        </li>
    }
}

/// A scraped target: up or down, when it was last scraped, what went wrong.
#[component]
fn TargetItem(target: TargetHealth, now: Millis) -> impl IntoView {
    let (state, class) = match target.up {
        Some(true) => ("up", "target-up"),
        Some(false) => ("down", "target-down"),
        None => ("not scraped yet", "target-pending"),
    };
    let when =
        target.last_scrape.map(|at| format!(", scraped {} ago", format_age((now - at) as f64))).unwrap_or_default();
    let elsewhere = if target.scraped_here { "" } else { " (by another instance)" };
    let error = target.last_error.map(|error| format!(": {error}")).unwrap_or_default();
    let url = target.url.clone();
    view! {
        <li class=class data-target=url>
            <span class="target-state">{state}</span>
            " "
            <span class="target-url">{target.url}</span>
            {format!("{when}{elsewhere}{error}")}
        </li>
    }
}
