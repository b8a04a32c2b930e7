//! The HTTP edge that is not streaming: read-only endpoints (`api`: dashboard list, snapshots,
//! history, liveness; `alerts`: active alerts, rules, deliveries), the one error type every HTTP endpoint answers with (`error`), and the
//! security headers every response carries (`headers`).

pub mod alerts;
pub mod api;
pub mod error;
pub mod headers;

pub use error::ApiError;
