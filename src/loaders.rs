//! Server functions the pages load their first render from. On the server they read the
//! broker directly, so the HTML carries real values; in the browser they are HTTP calls to
//! their endpoints, made by `client::api::call` rather than server_fn's own client (its
//! request, form encoder and error decoder were 7 KB of brotli in a dashboard's first load).
//! The pages read them through the `read_*` functions, which choose.

use crate::protocol::read::{field, FromJson, Json, Misread};
use crate::protocol::{DashboardSummary, Snapshot};
use leptos::prelude::*;
use leptos::server_fn::{codec::Post, Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// JSON answers, written and read as text by server_fn (the server's side). The browser
/// reads them with `client::api::call`, through `protocol::read` (`FromJson`), as it reads
/// the stream's messages.
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
fn app_state() -> Result<crate::server::state::AppState, ServerFnError> {
    use_context::<crate::server::state::AppState>().ok_or_else(|| ServerFnError::new("server state missing"))
}

/// What the request's credential allows, as the gate decided (`server::auth::gate`).
#[cfg(feature = "ssr")]
fn access() -> crate::server::auth::Access {
    use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::server::auth::Access>().cloned())
        .unwrap_or(crate::server::auth::Access::Anonymous)
}

/// The dashboards the visitor may see, and the server's time when it looked (ages shown are
/// counted from it, the same in the server's render and the browser's).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DashboardList {
    pub now: crate::protocol::Millis,
    pub dashboards: Vec<DashboardSummary>,
}

/// The dashboards the visitor may see, with their metric definitions, sources and targets.
/// Its path is fixed, as every server function's here: leptos' default adds a hash of the
/// folder the build was made in, so a page open across a redeploy (or served by an instance
/// built elsewhere) would call a path that is gone.
#[server(endpoint = "list_dashboards", output = Post<JsonText>)]
pub async fn list_dashboards() -> Result<DashboardList, ServerFnError> {
    let state = app_state()?;
    let dashboards = state.dashboard_list(&access()).await;
    Ok(DashboardList { now: state.clock.now_millis(), dashboards })
}

/// The dashboards the visitor may see, as the home page reads them.
pub fn read_dashboard_list() -> impl std::future::Future<Output = Result<DashboardList, String>> + Send {
    #[cfg(not(feature = "hydrate"))]
    return async { list_dashboards().await.map_err(|error| error.to_string()) };
    // The browser has one thread: its request needs not be `Send`.
    #[cfg(feature = "hydrate")]
    send_wrapper::SendWrapper::new(crate::client::api::call(<ListDashboards as leptos::server_fn::ServerFn>::PATH, &[]))
}

/// What a dashboard page shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DashboardLoad {
    /// The snapshot, the alert rules on the dashboard (for the charts' thresholds) and its
    /// configured panels (none: one per family).
    Ready(Box<Snapshot>, Vec<crate::model::alerts::RuleSummary>, Vec<crate::model::panel::PanelSpec>),
    NotFound,
    /// The visitor's credential does not cover it.
    Forbidden,
}

impl FromJson for DashboardList {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        Ok(DashboardList { now: field(json, "now")?, dashboards: field(json, "dashboards")? })
    }
}

/// As serde writes an enum: a unit variant by its name, `Ready` as `{"Ready": [..., ..., ...]}`.
impl FromJson for DashboardLoad {
    fn from_json<J: Json>(json: &J) -> Result<Self, Misread> {
        match json.text().as_deref() {
            Some("NotFound") => return Ok(DashboardLoad::NotFound),
            Some("Forbidden") => return Ok(DashboardLoad::Forbidden),
            _ => {}
        }
        match json.field("Ready").and_then(|ready| ready.items()).as_deref() {
            Some([snapshot, rules, panels]) => {
                Ok(DashboardLoad::Ready(Box::from_json(snapshot)?, Vec::from_json(rules)?, Vec::from_json(panels)?))
            }
            _ => Err(Misread::expected("Ready, NotFound or Forbidden")),
        }
    }
}

/// The snapshot of `dashboard`, if there is one the visitor may see.
#[server(endpoint = "load_snapshot", output = Post<JsonText>)]
pub async fn load_snapshot(dashboard: String) -> Result<DashboardLoad, ServerFnError> {
    use crate::server::{
        auth::{authorize, Action},
        broker::BrokerError,
    };
    if authorize(&access(), &dashboard, Action::Read).is_err() {
        return Ok(DashboardLoad::Forbidden);
    }
    match app_state()?.broker.snapshot(&dashboard).await {
        Ok(snapshot) => {
            let state = app_state()?;
            let rules = state.settings.alerts.iter().filter(|rule| rule.dashboard == dashboard);
            let panels = state.settings.dashboards.iter().find(|d| d.id == dashboard).map(|d| d.panels.clone());
            Ok(DashboardLoad::Ready(
                Box::new(snapshot),
                rules.map(|rule| rule.summary()).collect(),
                panels.unwrap_or_default(),
            ))
        }
        Err(BrokerError::UnknownDashboard(_)) => Ok(DashboardLoad::NotFound),
        Err(error) => Err(ServerFnError::new(error.to_string())),
    }
}

/// What the dashboard page shows of `dashboard`, as it reads it.
pub fn read_dashboard(dashboard: String) -> impl std::future::Future<Output = Result<DashboardLoad, String>> + Send {
    #[cfg(not(feature = "hydrate"))]
    return async move { load_snapshot(dashboard).await.map_err(|error| error.to_string()) };
    #[cfg(feature = "hydrate")]
    send_wrapper::SendWrapper::new(async move {
        crate::client::api::call(<LoadSnapshot as leptos::server_fn::ServerFn>::PATH, &[("dashboard", &dashboard)])
            .await
    })
}

/// What is wrong with the history store, as the browser asks every few seconds.
#[cfg(feature = "hydrate")]
pub async fn read_store_problem() -> Result<Option<String>, String> {
    crate::client::api::call(<StoreProblem as leptos::server_fn::ServerFn>::PATH, &[]).await
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

/// Who the visitor is, for the top bar (`app::AccessNote`, rendered by the server only).
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, PartialEq)]
pub enum Visitor {
    /// No sign-in: anyone who can reach the server reads and writes everything (on loopback,
    /// only this machine).
    Open(String),
    /// Someone signed in with a session (who can sign out).
    SignedIn { user: String },
    /// A token (no session to end).
    Token { name: String },
}

/// Who the page's request comes from, as the gate decided (`server::auth::gate`).
#[cfg(feature = "ssr")]
pub fn visitor() -> Option<Visitor> {
    use crate::server::auth::Access;
    let state = app_state().ok()?;
    Some(match access() {
        Access::Granted(principal) if principal.session.is_some() => Visitor::SignedIn { user: principal.name.clone() },
        Access::Granted(principal) => Visitor::Token { name: principal.name.clone() },
        _ if state.leptos_options.site_addr.ip().is_loopback() => {
            Visitor::Open("Open access on this machine".to_owned())
        }
        _ => Visitor::Open("Open access: anyone who can reach this address can read and ingest".to_owned()),
    })
}
