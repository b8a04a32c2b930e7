//! Server functions the pages load their first render from. On the server they read the
//! broker directly, so the HTML carries real values; in the browser they are HTTP calls.

use crate::protocol::{DashboardSummary, Snapshot};
use leptos::prelude::*;
use leptos::server_fn::{codec::Post, Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// JSON answers, decoded from text. The browser decodes every other JSON it gets (hydration
/// data, stream messages, history) from `&str`; server_fn's own `Json` decodes from bytes,
/// which compiles serde_json's decoder of each of our types a second time (about 28 KB of
/// the WASM bundle).
pub struct JsonText;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// The server's state, as every server function reads it.
#[cfg(feature = "ssr")]
fn app_state() -> Result<crate::server::AppState, ServerFnError> {
    use_context::<crate::server::AppState>().ok_or_else(|| ServerFnError::new("server state missing"))
}

#[cfg(feature = "ssr")]
fn broker() -> Result<std::sync::Arc<dyn crate::server::broker::Broker>, ServerFnError> {
    app_state().map(|state| state.broker)
}

/// Every dashboard with its metric definitions.
#[server(output = Post<JsonText>)]
pub async fn list_dashboards() -> Result<Vec<DashboardSummary>, ServerFnError> {
    Ok(broker()?.dashboards().await)
}

/// The snapshot of `dashboard`, or `None` when there is no such dashboard.
#[server(output = Post<JsonText>)]
pub async fn load_snapshot(dashboard: String) -> Result<Option<Snapshot>, ServerFnError> {
    use crate::server::broker::BrokerError;
    match broker()?.snapshot(&dashboard).await {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(BrokerError::UnknownDashboard(_)) => Ok(None),
        Err(error) => Err(ServerFnError::new(error.to_string())),
    }
}

/// What is wrong with the history store, when something is (a full disk): the page says so,
/// since values it cannot store are not shown either. `None` when all is well.
#[server(endpoint = "store_problem", output = Post<JsonText>)]
pub async fn store_problem() -> Result<Option<String>, ServerFnError> {
    use crate::server::store::Health;
    let state = app_state()?;
    Ok(match state.store.map(|store| store.health()) {
        Some(Health::Failing { error, refused, .. }) => {
            Some(format!("The history store cannot write ({error}); {refused} writes refused. New values are not saved or shown until it recovers."))
        }
        _ => None,
    })
}

/// What the top bar says about access: while there is no sign-in, that anyone who can reach
/// the server reads and writes everything; bound to loopback, that this is only this machine.
#[server(endpoint = "access_notice", output = Post<JsonText>)]
pub async fn access_notice() -> Result<String, ServerFnError> {
    let state = app_state()?;
    Ok(if state.leptos_options.site_addr.ip().is_loopback() {
        "Open access on this machine".to_owned()
    } else {
        "Open access: anyone who can reach this address can read and ingest".to_owned()
    })
}
