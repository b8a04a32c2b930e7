//! `ApiError`: every HTTP answer that is not a success, in one JSON shape
//! `{"error": message, "code": code}` (plus `"index"` naming an ingest request's bad item),
//! with one status and one protocol error code per case. Each error answer is marked with its
//! code (`ErrorLabel`) so that one layer, `count_errors`, counts every endpoint's errors in
//! `/metrics` the same way. Line protocol writes keep InfluxDB's shape on purpose
//! (`ingest::influx::WriteError`) and are counted by the same layer.

use crate::protocol::ErrorCode;
use axum::{
    extract::{
        rejection::{BytesRejection, PathRejection, QueryRejection},
        Request, State,
    },
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Item `index` of a request that is applied whole or not at all.
    #[error("{reason}")]
    BadItem { index: usize, reason: String },
    #[error("{0}")]
    Unauthorized(String),
    /// Not from here: a foreign origin, a Host that is not this server's.
    #[error("{0}")]
    Forbidden(String),
    #[error("no dashboard named '{0}'")]
    UnknownDashboard(String),
    #[error("no history of metric '{metric}' on dashboard '{dashboard}'")]
    UnknownMetric { dashboard: String, metric: String },
    /// The request body is over a size or count limit.
    #[error("{0}")]
    TooLarge(String),
    /// Applying the request would pass a cardinality limit (dashboards, metrics).
    #[error("{0}")]
    LimitExceeded(String),
    #[error("too many connections; try again later")]
    TooManyConnections,
    #[error("too many connections from this address; close some first")]
    TooManyFromClient,
    /// A dependency (the history store) cannot answer now; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// No such silence, no such active alert.
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadItem { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownDashboard(_) | ApiError::UnknownMetric { .. } | ApiError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::LimitExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyConnections | ApiError::TooManyFromClient | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadItem { .. } => ErrorCode::BadRequest,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::UnknownDashboard(_) => ErrorCode::UnknownDashboard,
            ApiError::UnknownMetric { .. } => ErrorCode::UnknownMetric,
            ApiError::TooLarge(_) | ApiError::LimitExceeded(_) => ErrorCode::TooLarge,
            ApiError::TooManyConnections | ApiError::TooManyFromClient => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::NotFound(_) => ErrorCode::NotFound,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut body = json!({ "error": self.to_string(), "code": code });
        if let ApiError::BadItem { index, .. } = self {
            body["index"] = index.into();
        }
        let mut response = (self.status(), Json(body)).into_response();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            // Worth retrying soon: the store recovering, a connection slot freeing.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750: which scheme to answer with.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(ErrorLabel(code.as_str()));
        response
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(rejection.body_text())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

/// A query string that does not read as the endpoint's parameters.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// A path segment that does not read as what the route expects (a silence id that is not a
/// number).
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The protocol error code of an error answer, for `count_errors`.
#[derive(Clone, Copy, Debug)]
pub struct ErrorLabel(pub &'static str);

/// Where error answers are counted: the server's `Telemetry`, `livedash_errors_total`.
pub trait ErrorCounter: Send + Sync {
    fn error(&self, endpoint: &'static str, code: &'static str);
}

/// The state of `count_errors` for one endpoint: its short name in `/metrics`.
#[derive(Clone)]
pub struct CountErrors {
    pub counter: Arc<dyn ErrorCounter>,
    pub endpoint: &'static str,
}

/// Counts every error answer of the route it is layered on in
/// `livedash_errors_total{endpoint, code}`.
pub async fn count_errors(State(count): State<CountErrors>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorLabel(code)) = response.extensions().get::<ErrorLabel>() {
        count.counter.error(count.endpoint, code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_error_has_one_shape_with_its_code() {
        let (status, json) = body(ApiError::UnknownDashboard("nope".into())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json, json!({ "error": "no dashboard named 'nope'", "code": "unknown_dashboard" }));
        let (status, json) = body(ApiError::BadItem { index: 2, reason: "bad".into() }).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json, json!({ "error": "bad", "code": "bad_request", "index": 2 }));
        let missing = ApiError::UnknownMetric { dashboard: "main".into(), metric: "x".into() };
        assert_eq!(body(missing).await.1["code"], "unknown_metric");
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let retry = ApiError::Unavailable("x".into()).into_response();
        assert_eq!(retry.headers()[header::RETRY_AFTER], "1");
    }
}
