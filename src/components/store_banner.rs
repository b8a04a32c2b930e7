//! The banner that says the server cannot store new values (its history store is failing, for
//! example on a full disk), so that a dashboard that stopped moving does not look calm. Asked
//! every few seconds while a dashboard is open; hidden while all is well.

use leptos::prelude::*;

/// How often the page asks, in ms.
#[cfg(feature = "hydrate")]
const CHECK_EVERY_MS: u64 = 5_000;

#[component]
pub fn StoreBanner() -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    {
        let check = move || {
            leptos::task::spawn_local(async move {
                // Unreachable server: the connection banner says so already.
                if let Ok(answer) = crate::loaders::read_store_problem().await {
                    if problem.get_untracked() != answer {
                        problem.set(answer);
                    }
                }
            })
        };
        check();
        crate::client::interval::use_interval(std::time::Duration::from_millis(CHECK_EVERY_MS), check);
    }
    view! {
        <Show when=move || problem.with(Option::is_some)>
            <p class="banner store-banner" role="alert" data-testid="store-banner">
                {move || problem.get().unwrap_or_default()}
            </p>
        </Show>
    }
}
