//! Extractors whose rejections answer as `ApiError`: a query string or path segment that does
//! not read gets the API's JSON error shape (and is counted like every other error), never
//! axum's plain-text rejection. Also the checks of query values several endpoints share
//! (`time_range`).

use super::ApiError;
use crate::protocol::Millis;
use axum::extract::FromRequestParts;

/// `axum::extract::Query`, refusing with `400 bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path`, refusing with `400 bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The latest time an API takes (9999-12-31T23:59:59.999Z, as ISO 8601 can write it): with
/// every time in `0..=MAX_TIME`, a span (`to - from`) cannot overflow.
pub const MAX_TIME: Millis = 253_402_300_799_999;

/// A time range from a query's `from` and `to` (milliseconds): `to` defaults to `now`, `from`
/// to `default_span` before `to`; each must lie in `0..=MAX_TIME` and `from` not after `to`.
pub fn time_range(
    from: Option<Millis>,
    to: Option<Millis>,
    now: Millis,
    default_span: Millis,
) -> Result<(Millis, Millis), ApiError> {
    let in_range = |name: &str, at: Millis| match (0..=MAX_TIME).contains(&at) {
        true => Ok(at),
        false => Err(ApiError::BadRequest(format!("{name} ({at}) must be between 0 and {MAX_TIME} ms"))),
    };
    let to = in_range("to", to.unwrap_or(now))?;
    let from = in_range("from", from.unwrap_or((to - default_span).max(0)))?;
    if from > to {
        return Err(ApiError::BadRequest(format!("from ({from}) is after to ({to})")));
    }
    Ok((from, to))
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn ranges_at_the_limits_of_i64_are_refused_not_overflowed() {
        assert_eq!(time_range(None, Some(5_000), 0, 3_000).unwrap(), (2_000, 5_000));
        assert_eq!(time_range(None, Some(1_000), 0, 3_000).unwrap(), (0, 1_000), "never before 1970");
        for (from, to) in [(Some(Millis::MIN), Some(0)), (Some(0), Some(Millis::MAX)), (None, Some(Millis::MIN))] {
            let error = time_range(from, to, 0, 3_600_000).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{from:?}..{to:?}: {error:?}");
        }
        assert!(time_range(Some(2), Some(1), 0, 1).is_err());
    }
}
