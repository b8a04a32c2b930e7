//! The badge that says whether the numbers on screen are live.

use crate::client::state::{ConnectionStatus, DashboardState};
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let status = move || state.connection.get();
    let title = move || match status() {
        ConnectionStatus::Reconnecting { attempt, .. } => format!("Connection lost, attempt {attempt}"),
        ConnectionStatus::Offline { attempts } => format!("Offline after {attempts} failed attempts"),
        other => format!("Connection {} over {}", other.label(), state.transport.get().label()),
    };
    view! {
        <span
            class="badge"
            data-testid="connection-badge"
            data-state=move || status().label()
            data-transport=move || state.transport.get().label()
            role="status"
            title=title
        >
            <span class="badge-dot" aria-hidden="true"></span>
            {move || status().label()}
        </span>
    }
}
