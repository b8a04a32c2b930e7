//! `/`: the list of dashboards.

use crate::loaders::list_dashboards;
use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    let dashboards = Resource::new(|| (), |_| list_dashboards());
    view! {
        <Title text="Dashboards"/>
        <section class="home">
            <h1>"Dashboards"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading dashboards…"</p> }>
                {move || Suspend::new(async move {
                    match dashboards.await {
                        Ok(list) if list.is_empty() => {
                            EitherOf3::A(view! { <p>"No dashboards yet: push metrics to /api/v1/ingest."</p> })
                        }
                        Ok(list) => EitherOf3::B(
                            view! {
                                <ul class="dashboard-list" data-testid="dashboard-list">
                                    {list
                                        .into_iter()
                                        .map(|dashboard| {
                                            let metrics = dashboard
                                                .definitions
                                                .iter()
                                                .map(|d| d.label.clone())
                                                .collect::<Vec<_>>()
                                                .join(", ");
                                            view! {
                                                <li>
                                                    <A href=format!("/d/{}", dashboard.id)>
                                                        <span class="dashboard-title">{dashboard.title}</span>
                                                        <span class="dashboard-id">{dashboard.id}</span>
                                                    </A>
                                                    <p class="dashboard-metrics">{metrics}</p>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            },
                        ),
                        Err(error) => EitherOf3::C(view! { <p class="error">{error.to_string()}</p> }),
                    }
                })}
            </Suspense>
        </section>
    }
}
