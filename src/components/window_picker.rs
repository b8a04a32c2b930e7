//! Chooses how much history the charts show.

use crate::client::state::{DashboardState, TimeWindow};
use leptos::prelude::*;

#[component]
pub fn WindowPicker() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    view! {
        <div class="window-picker" role="group" aria-label="Time range">
            {TimeWindow::ALL
                .into_iter()
                .map(|window| {
                    view! {
                        <button
                            type="button"
                            aria-pressed=move || (state.window.get() == window).to_string()
                            on:click=move |_| state.window.set(window)
                        >
                            {window.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
