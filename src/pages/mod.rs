//! One page per file (the paths that lead to them: `client::location::Page`).

pub mod dashboard;
pub mod forbidden;
pub mod home;
pub mod not_found;
pub mod redraw_bench;

/// Sets the HTTP status of the page being rendered on the server (a 404 or 403 page); nothing
/// in the browser, where the page is already loaded.
pub(crate) fn set_status(_code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(code)) =
        (leptos::prelude::use_context::<leptos_axum::ResponseOptions>(), axum::http::StatusCode::from_u16(_code))
    {
        response.set_status(code);
    }
}
