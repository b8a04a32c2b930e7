//! A small panel of how the connection is doing: transport, round-trip time, reconnections,
//! and how the last reconnection caught up (every missed update replayed, or a snapshot).

use crate::client::{
    connection::status::Recovery,
    state::{ConnectionState, DashboardState},
};
use leptos::prelude::*;

#[component]
pub fn ConnectionPanel() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let connection = expect_context::<ConnectionState>();
    let rtt = move || connection.rtt_ms.get().map_or("–".to_owned(), |ms| format!("{ms:.0} ms"));
    let recovery = move || match connection.recovery.get() {
        None => "–".to_owned(),
        Some(Recovery::Resumed { after_seq }) => format!("resumed after seq {after_seq}"),
        Some(Recovery::Snapshot) => "full snapshot".to_owned(),
    };
    view! {
        <dl
            class="connection-panel"
            data-testid="connection-panel"
            data-seq-anomalies=move || state.seq_anomalies.get()
            aria-label="Connection details"
        >
            <div><dt>"Transport"</dt><dd data-testid="panel-transport">{move || connection.transport.get().label()}</dd></div>
            <div><dt>"Round trip"</dt><dd data-testid="panel-rtt">{rtt}</dd></div>
            <div><dt>"Reconnects"</dt><dd data-testid="panel-reconnects">{move || connection.reconnects.get()}</dd></div>
            <div><dt>"Last recovery"</dt><dd data-testid="panel-recovery">{recovery}</dd></div>
        </dl>
    }
}
