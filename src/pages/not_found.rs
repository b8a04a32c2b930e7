//! What an unknown address or dashboard shows.

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    super::set_status(404);
    view! {
        <section class="not-found">
            <h1>"Not found"</h1>
            <p>"There is nothing here. " <a href="/">"See all dashboards"</a></p>
        </section>
    }
}
