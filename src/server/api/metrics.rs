//! `GET /metrics`: the server's own metrics (`server::telemetry`) for an admin credential, a
//! loopback peer (a local Prometheus or sidecar), or anyone in local open mode.

use crate::server::{auth::Access, http::ApiError, state::AppState};
use axum::{
    extract::{ConnectInfo, State},
    http::header,
    response::IntoResponse,
    Extension,
};
use std::net::SocketAddr;

pub async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(access): Extension<Access>,
) -> Result<impl IntoResponse, ApiError> {
    may_read_metrics(&access, peer)?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], state.telemetry.render()))
}

/// `/metrics` is for an admin, a loopback peer, or anyone in local open mode.
fn may_read_metrics(access: &Access, peer: SocketAddr) -> Result<(), ApiError> {
    if matches!(access, Access::Open { .. }) || access.is_admin() || peer.ip().is_loopback() {
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
        let remote: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
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
        assert!(may_read_metrics(&Access::Open { writes: false }, remote).is_ok());
    }
}
