//! The top bar's alerts: a badge with the firing count on the dashboards open on the page
//! (its title lists them), opening the list of every active alert with who acked it and the
//! silences that hold it (`GET /api/v1/alerts`), an "Ack" and a "Silence 1 h" button each,
//! and the deliveries that failed (`GET /api/v1/alerts/deliveries`). The list is fetched when
//! it opens, after each action, and whenever the active alerts change while it is open.

use super::lazily::when_loaded;
#[cfg(feature = "hydrate")]
use crate::client::api;
use crate::client::state::ConnectionState;
use crate::model::alerts::{ActiveAlert, DeliveryRecord};
use crate::protocol::{AlertChange, AlertPhase};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// How long "Silence 1 h" silences.
#[cfg(feature = "hydrate")]
const SILENCE_MS: i64 = 3_600_000;

/// What the list shows, as last fetched.
#[derive(Clone, Debug, Default, PartialEq)]
struct Listed {
    active: BTreeMap<String, Vec<ActiveAlert>>,
    failed: Vec<DeliveryRecord>,
}

#[component]
pub fn AlertBadge() -> impl IntoView {
    let connection = expect_context::<ConnectionState>();
    let active = Memo::new(move |_| {
        connection.dashboards.with(|open| open.iter().flat_map(|dashboard| dashboard.alerts.get()).collect::<Vec<_>>())
    });
    let firing = Memo::new(move |_| {
        active.with(|active| {
            active
                .iter()
                .filter(|change| change.state == AlertPhase::Firing)
                .map(|change| format!("{}: {}", change.rule, change.message))
                .collect::<Vec<_>>()
        })
    });
    let open = RwSignal::new(false);
    let label = move || match firing.with(Vec::len) {
        0 => format!("{} active", active.with(Vec::len)),
        firing => format!("{firing} firing"),
    };
    view! {
        <Show when=move || !active.with(Vec::is_empty) || open.get()>
            <button
                type="button"
                class="alert-badge"
                data-testid="alert-badge"
                data-firing=move || firing.with(Vec::len)
                title=move || firing.get().join("\n")
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|open| *open = !*open)
            >
                {label}
            </button>
        </Show>
        <Show when=move || open.get()>{when_loaded(split::list(active))}</Show>
    }
}

#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(alert_list, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn list(changed: Memo<Vec<AlertChange>>) -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
        Ok(view! { <AlertList changed/> }.into_any())
    }
}

/// The list itself, shown under the badge; loaded the first time it opens (`lazily`).
#[component]
fn AlertList(changed: Memo<Vec<AlertChange>>) -> impl IntoView {
    let listed = RwSignal::new(None::<Listed>);
    let problem = RwSignal::new(None::<String>);
    let refresh = move || {
        #[cfg(feature = "hydrate")]
        api::spawn(async move {
            match fetch_listed().await {
                Ok(fetched) => listed.set(Some(fetched)),
                Err(error) => problem.set(Some(error)),
            }
        });
    };
    Effect::new(move |_| {
        changed.track();
        refresh();
    });
    let act = move |action: Action| {
        problem.set(None);
        #[cfg(feature = "hydrate")]
        api::spawn(async move {
            if let Err(error) = send(action).await {
                problem.set(Some(error));
            }
            refresh();
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = action;
    };
    let rows = move || {
        listed.with(|listed| {
            listed
                .iter()
                .flat_map(|listed| listed.active.iter())
                .flat_map(|(dashboard, alerts)| alerts.iter().map(move |alert| (dashboard.clone(), alert.clone())))
                .collect::<Vec<_>>()
        })
    };
    let failed = move || listed.with(|listed| listed.as_ref().map(|listed| listed.failed.clone()).unwrap_or_default());
    view! {
        <section class="alert-list" data-testid="alert-list" aria-label="Active alerts">
            <Show when=move || problem.with(Option::is_some)>
                <p class="alert-list-problem" role="alert">{move || problem.get()}</p>
            </Show>
            <Show when=move || listed.with(|listed| listed.as_ref().is_some_and(|listed| listed.active.is_empty()))>
                <p class="alert-list-empty">"No active alerts."</p>
            </Show>
            <ul>
                <For each=rows key=|(dashboard, alert)| format!("{dashboard}:{alert:?}") let:row>
                    <AlertRow dashboard=row.0 alert=row.1 act/>
                </For>
            </ul>
            <Show when=move || !failed().is_empty()>
                <p class="alert-list-failed" data-testid="failed-deliveries">
                    {move || {
                        let failed = failed();
                        let last = failed.first().and_then(|record| {
                            Some(format!(" (last: {} to {}: {})", record.rule, record.receiver, record.last_error.clone()?))
                        });
                        format!("{} deliveries failed{}", failed.len(), last.unwrap_or_default())
                    }}
                </p>
            </Show>
        </section>
    }
}

/// What a button asks of the server (sent by the browser build only).
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Action {
    Ack { dashboard: String, rule: String },
    Silence { dashboard: String, rule: String },
}

#[component]
fn AlertRow(
    dashboard: String,
    alert: ActiveAlert,
    act: impl Fn(Action) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ActiveAlert { change, acked, silenced_by } = alert;
    let rule = change.rule.clone();
    let (ack_dashboard, ack_rule) = (dashboard.clone(), rule.clone());
    let (silence_dashboard, silence_rule) = (dashboard.clone(), rule.clone());
    let silenced = !silenced_by.is_empty();
    let note = match (&acked, silenced) {
        (Some(ack), _) => format!("acked by {}", ack.by),
        (None, true) => "silenced".to_owned(),
        (None, false) => String::new(),
    };
    view! {
        <li
            class="alert-row"
            data-testid="alert-row"
            data-rule=rule.clone()
            data-state=change.state.as_str()
            data-severity=change.severity.as_str()
            data-acked=acked.is_some().to_string()
            data-silenced=silenced.to_string()
        >
            <span class="alert-row-what">
                <strong>{format!("{} · {}", dashboard, rule)}</strong>
                " "
                <span>{format!("{} ({})", change.state.as_str(), change.severity.as_str())}</span>
                " "
                <span class="alert-row-message">{change.message.clone()}</span>
            </span>
            <span class="alert-row-note" data-testid="alert-note">{note}</span>
            <button
                type="button"
                data-testid="ack"
                disabled=acked.is_some()
                on:click=move |_| act(Action::Ack { dashboard: ack_dashboard.clone(), rule: ack_rule.clone() })
            >
                "Ack"
            </button>
            <button
                type="button"
                data-testid="silence"
                disabled=silenced
                on:click=move |_| act(Action::Silence { dashboard: silence_dashboard.clone(), rule: silence_rule.clone() })
            >
                "Silence 1 h"
            </button>
        </li>
    }
}

#[cfg(feature = "hydrate")]
async fn fetch_listed() -> Result<Listed, String> {
    let active = api::get::<BTreeMap<String, Vec<ActiveAlert>>>("/api/v1/alerts").await?;
    let mut failed = api::get::<Vec<DeliveryRecord>>("/api/v1/alerts/deliveries").await?;
    failed.retain(|record| record.status == "failed");
    Ok(Listed { active, failed })
}

#[cfg(feature = "hydrate")]
async fn send(action: Action) -> Result<(), String> {
    let (url, body) = match action {
        Action::Ack { dashboard, rule } => {
            ("/api/v1/alerts/acks", serde_json::json!({ "dashboard": dashboard, "rule": rule }))
        }
        Action::Silence { dashboard, rule } => (
            "/api/v1/alerts/silences",
            serde_json::json!({
                "matchers": [
                    { "name": "alertname", "value": rule },
                    { "name": "dashboard", "value": dashboard },
                ],
                "endsAt": js_sys::Date::now() as i64 + SILENCE_MS,
                "comment": "Silenced for an hour from the dashboard",
            }),
        ),
    };
    api::post(url, &body).await
}
