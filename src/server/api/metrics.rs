//! `GET /metrics`: the server's own metrics (`server::telemetry`) for an admin credential, a
//! local request (a Prometheus or sidecar on this machine, not a request a local proxy
//! forwards: `http::ClientAddr`), or anyone in local open mode.

use crate::server::{
    auth::Access,
    http::{ApiError, ClientAddr},
    state::AppState,
};
use axum::{extract::State, http::header, response::IntoResponse, Extension};

pub async fn metrics(
    State(state): State<AppState>,
    client: ClientAddr,
    Extension(access): Extension<Access>,
) -> Result<impl IntoResponse, ApiError> {
    may_read_metrics(&access, client)?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], state.telemetry.render()))
}

/// `/metrics` is for an admin, a local request, or anyone in local open mode.
fn may_read_metrics(access: &Access, client: ClientAddr) -> Result<(), ApiError> {
    if matches!(access, Access::Open { .. }) || access.is_admin() || client.is_local() {
        return Ok(());
    }
    Err(match access {
        Access::Anonymous => ApiError::Unauthorized("/metrics needs an admin credential".into()),
        _ => ApiError::Forbidden("/metrics needs admin scope".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_for_admins_and_loopback_peers() {
        use crate::server::auth::{patterns::DashboardPatterns, Principal, Scope};
        let remote = ClientAddr { ip: "203.0.113.9".parse().unwrap(), proxied: false };
        let local = ClientAddr { ip: "127.0.0.1".parse().unwrap(), proxied: false };
        let proxied = ClientAddr { ip: "127.0.0.1".parse().unwrap(), proxied: true };
        let with = |scope| {
            Access::Granted(std::sync::Arc::new(Principal {
                name: "x".into(),
                scope,
                dashboards: DashboardPatterns::all(),
                expires_at: None,
                session: None,
            }))
        };
        assert!(may_read_metrics(&with(Scope::Admin), remote).is_ok());
        assert_eq!(may_read_metrics(&with(Scope::Read), remote).unwrap_err().code().as_str(), "forbidden");
        assert_eq!(may_read_metrics(&Access::Anonymous, remote).unwrap_err().code().as_str(), "unauthorized");
        assert!(may_read_metrics(&Access::Anonymous, local).is_ok());
        assert!(may_read_metrics(&Access::Anonymous, proxied).is_err(), "through a local proxy is not local");
        assert!(may_read_metrics(&Access::Open { writes: false }, remote).is_ok());
    }
}
