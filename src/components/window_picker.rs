//! Chooses how much history the charts show (the URL's `range`; choosing one goes back live).

use crate::client::{
    state::{DashboardState, TimeWindow},
    view::ViewState,
};
use leptos::prelude::*;

#[component]
pub fn WindowPicker() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    view! {
        <div class="window-picker" role="group" aria-label="Time range">
            {TimeWindow::ALL
                .into_iter()
                .map(|window| {
                    view! {
                        <button
                            type="button"
                            aria-pressed=move || (state.window.get() == window).to_string()
                            on:click=move |_| {
                                view.change(|view| {
                                    view.range = Some(window.token().to_owned());
                                    view.span = None;
                                })
                            }
                        >
                            {window.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
