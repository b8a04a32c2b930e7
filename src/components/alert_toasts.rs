//! Toasts for a dashboard's alert changes: firing, escalation and the resolve of a fired
//! alert, each shown once (a reload or a resume does not repeat one), the newest last, critical
//! ones announced to screen readers at once (`role="alert"`), the others politely.
//!
//! A page opens with none (notices come from live changes), so the toasts' code is loaded
//! when the first one comes (`lazily`): the stream that carried it is up, and so is the fetch.

use super::lazily::when_loaded;
use crate::client::state::DashboardState;
use crate::protocol::{AlertPhase, Severity};
use leptos::prelude::*;

#[component]
pub fn AlertToasts() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    view! {
        <div class="alert-toasts" data-testid="alert-toasts">
            <Show when=move || state.notices.with(|notices| !notices.is_empty())>
                {when_loaded(split::toasts(state))}
            </Show>
        </div>
    }
}

#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(alert_toasts, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn toasts(state: DashboardState) -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
        Ok(view! { <Toasts state/> }.into_any())
    }
}

#[component]
fn Toasts(state: DashboardState) -> impl IntoView {
    let dismiss = move |key: String| state.notices.update(|notices| notices.retain(|notice| notice.key != key));
    view! {
        <For each=move || state.notices.get() key=|notice| notice.key.clone() let:notice>
            {
                let change = notice.change;
                let resolved = change.state == AlertPhase::Resolved;
                let urgent = change.severity == Severity::Critical && !resolved;
                let heading = if resolved {
                    format!("Resolved: {}", change.rule)
                } else {
                    format!("{}: {}", change.severity.as_str().to_ascii_uppercase(), change.rule)
                };
                let key = notice.key.clone();
                view! {
                    <div
                        class="alert-toast"
                        data-testid="alert-toast"
                        data-state=change.state.as_str()
                        data-severity=change.severity.as_str()
                        role=if urgent { "alert" } else { "status" }
                    >
                        <strong>{heading}</strong>
                        " "
                        <span>{change.message}</span>
                        <button type="button" aria-label="Dismiss" on:click=move |_| dismiss(key.clone())>
                            "×"
                        </button>
                    </div>
                }
            }
        </For>
    }
}
