//! The badge that says whether the numbers on screen are live.

use crate::client::{connection::status::ConnectionStatus, state::ConnectionState};
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let connection = expect_context::<ConnectionState>();
    let status = move || connection.status.get();
    let title = move || match status() {
        ConnectionStatus::Reconnecting { attempt, .. } => format!("Connection lost, attempt {attempt}"),
        ConnectionStatus::Offline { refused: Some(code), .. } => format!("Offline: the server refused (code {code})"),
        ConnectionStatus::Offline { attempts, .. } => format!("Offline after {attempts} failed attempts"),
        other => format!("Connection {} over {}", other.label(), connection.transport.get().label()),
    };
    view! {
        <span
            class="badge"
            data-testid="connection-badge"
            data-state=move || status().label()
            data-transport=move || connection.transport.get().label()
            role="status"
            title=title
        >
            <span class="badge-dot" aria-hidden="true"></span>
            {move || status().label()}
        </span>
    }
}
