//! What a dashboard the visitor's credential does not cover shows (HTTP 403).

use leptos::prelude::*;

#[component]
pub fn Forbidden() -> impl IntoView {
    super::set_status(403);
    view! {
        <section class="not-found" data-testid="forbidden">
            <h1>"Not allowed"</h1>
            <p>
                "Your sign-in does not cover this dashboard. "
                <a href="/">"See the dashboards you can use"</a>
                ", or "
                <a href="/login" rel="external">"sign in as someone else"</a>
                "."
            </p>
        </section>
    }
}
