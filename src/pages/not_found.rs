//! What an unknown address or dashboard shows.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    super::set_status(404);
    view! {
        <section class="not-found">
            <h1>"Not found"</h1>
            <p>"There is nothing here. " <A href="/">"See all dashboards"</A></p>
        </section>
    }
}
