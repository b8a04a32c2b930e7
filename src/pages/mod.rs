//! One page per file, and the paths that lead to them (`Page`).

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

/// The app's pages, by path. The server serves these paths (`server::api`'s `pages`, each
/// rendered whole before it is sent) and renders any other as not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Home,
    /// `/d/{id}`: `dashboard_id` reads the id.
    Dashboard,
    RedrawBench,
    NotFound,
}

impl Page {
    /// The paths the server renders pages at, in axum's syntax.
    pub const PATHS: [&'static str; 3] = ["/", "/d/{id}", "/bench/redraw"];

    pub fn at(path: &str) -> Page {
        match path {
            "/" => Page::Home,
            "/bench/redraw" => Page::RedrawBench,
            _ if dashboard_id(path).is_some() => Page::Dashboard,
            _ => Page::NotFound,
        }
    }
}

/// The dashboard id in a `/d/{id}` path, decoded.
pub fn dashboard_id(path: &str) -> Option<String> {
    let id = path.strip_prefix("/d/").filter(|id| !id.is_empty() && !id.contains('/'))?;
    Some(leptos_router::location::Url::unescape(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lead_to_their_pages_and_dashboard_ids_are_decoded() {
        assert_eq!(Page::at("/"), Page::Home);
        assert_eq!(Page::at("/bench/redraw"), Page::RedrawBench);
        assert_eq!(Page::at("/d/main"), Page::Dashboard);
        assert_eq!(dashboard_id("/d/main").as_deref(), Some("main"));
        assert_eq!(dashboard_id("/d/a%20b%2Fc").as_deref(), Some("a b/c"));
        for elsewhere in ["/d/", "/d", "/d/main/", "/d/a/b", "/dashboards", "/bench/redraw/x", ""] {
            assert_eq!(Page::at(elsewhere), Page::NotFound, "{elsewhere}");
        }
    }
}
