//! Server functions the pages load their first render from. On the server they read the
//! broker directly, so the HTML carries real values; in the browser they are HTTP calls.

use crate::protocol::{DashboardSummary, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn broker() -> Result<std::sync::Arc<dyn crate::server::broker::Broker>, ServerFnError> {
    use_context::<crate::server::AppState>()
        .map(|state| state.broker)
        .ok_or_else(|| ServerFnError::new("server state missing"))
}

/// Every dashboard with its metric definitions.
#[server]
pub async fn list_dashboards() -> Result<Vec<DashboardSummary>, ServerFnError> {
    Ok(broker()?.dashboards().await)
}

/// The snapshot of `dashboard`, or `None` when there is no such dashboard.
#[server]
pub async fn load_snapshot(dashboard: String) -> Result<Option<Snapshot>, ServerFnError> {
    use crate::server::broker::BrokerError;
    match broker()?.snapshot(&dashboard).await {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(BrokerError::UnknownDashboard(_)) => Ok(None),
        Err(error) => Err(ServerFnError::new(error.to_string())),
    }
}
