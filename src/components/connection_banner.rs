//! The banner that says, while the connection is down, that the numbers are not live: which
//! attempt is next and when, how old the last data is, and (once the page has given up) a
//! "Retry now" button; when the session ended (close 4001), "Signed out" and a link to sign in
//! again instead, since retrying without signing in cannot help. Hidden while live.

use crate::client::{
    connection::{policy::refusal_reason, status::ConnectionStatus},
    state::ConnectionState,
};
use crate::model::{format::format_age, url::encode_component};
use leptos::prelude::*;

/// The close code of an ended credential (PROTOCOL.md): expired, or signed out elsewhere.
const SIGNED_OUT: u16 = 4001;

#[component]
pub fn ConnectionBanner() -> impl IntoView {
    let connection = expect_context::<ConnectionState>();
    // Browser time, ticking each second while the banner is up, for the countdown and age.
    let now = RwSignal::new(0.0);
    #[cfg(feature = "hydrate")]
    {
        use crate::client::interval::use_interval;
        now.set(js_sys::Date::now());
        use_interval(std::time::Duration::from_millis(250), move || {
            if connection.status.get_untracked().is_stale() {
                now.set(js_sys::Date::now());
            }
        });
    }
    let status = move || connection.status.get();
    let signed_out = move || matches!(status(), ConnectionStatus::Offline { refused: Some(SIGNED_OUT), .. });
    let url = crate::client::location::use_url();
    let sign_in = move || format!("/login?next={}", encode_component(&url.with(crate::client::location::Url::local)));
    let age = move || {
        let heard_at = connection.heard_at.get();
        (heard_at > 0.0).then(|| format!("Last data {} ago.", format_age(now.get() - heard_at)))
    };
    let message = move || match status() {
        ConnectionStatus::Reconnecting { attempt, retry_at } => {
            let wait = (retry_at - now.get()).max(0.0);
            format!("Reconnecting… attempt {attempt}, next try in {}.", format_age(wait))
        }
        ConnectionStatus::Offline { refused: Some(SIGNED_OUT), .. } => {
            "Signed out: the session ended or expired. These numbers are no longer live.".to_owned()
        }
        ConnectionStatus::Offline { refused: Some(code), .. } => {
            format!(
                "Offline: the server ended the connection ({}, code {code}) and asked not to retry.",
                refusal_reason(code)
            )
        }
        ConnectionStatus::Offline { attempts, .. } => {
            format!("Offline: the server could not be reached after {attempts} attempts.")
        }
        _ => String::new(),
    };
    view! {
        <Show when=move || status().is_stale()>
            <div
                class="connection-banner"
                data-testid="connection-banner"
                data-state=move || if signed_out() { "signed-out" } else { status().label() }
                role="alert"
            >
                <span data-testid="banner-message">{message}</span>
                " "
                <span class="banner-age" data-testid="banner-age">{age}</span>
                <Show
                    when=signed_out
                    fallback=move || view! {
                        <button type="button" on:click=move |_| connection.retry_now.set(true)>
                            "Retry now"
                        </button>
                    }
                >
                    <a href=sign_in rel="external" data-testid="sign-in-again">"Sign in again"</a>
                </Show>
            </div>
        </Show>
    }
}
