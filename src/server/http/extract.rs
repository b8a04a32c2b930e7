//! Extractors whose rejections answer as `ApiError`: a query string or path segment that does
//! not read gets the API's JSON error shape (and is counted like every other error), never
//! axum's plain-text rejection.

use super::ApiError;
use axum::extract::FromRequestParts;

/// `axum::extract::Query`, refusing with `400 bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path`, refusing with `400 bad_request`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);
