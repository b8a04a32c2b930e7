//! The HTTP edge that is not streaming: read-only endpoints (`api`: dashboard list, snapshots,
//! history, liveness) and the one error type every HTTP endpoint answers with (`error`).

pub mod api;
pub mod error;

pub use error::ApiError;
