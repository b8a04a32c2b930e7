//! Where the page is: its path and query as a signal (`Location`), the page each path leads to
//! (`Page`), and going to another page of the app without loading it (`Location::go`, a
//! link's click, the browser's back and forward). What leptos_router's `Router` and
//! `FlatRoutes` did for this app, which has three fixed paths and needs none of their route
//! tree, nested routes or navigation that waits for a route: that code was in every first
//! load (BENCHMARKS.md).

use leptos::prelude::*;

/// A URL of the app: its path (as sent, percent-encoded) and its query (without the `?`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Url {
    pub path: String,
    pub query: String,
}

impl Url {
    /// The path and query of `local` (`/d/main?range=1h#top`); the fragment is left out.
    pub fn parse(local: &str) -> Url {
        let local = local.split('#').next().unwrap_or_default();
        let (path, query) = local.split_once('?').unwrap_or((local, ""));
        Url { path: path.to_owned(), query: query.to_owned() }
    }

    /// The query's pairs, decoded, in their order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }

    /// The path and query, as a link to it.
    pub fn local(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// The app's pages, by path (`src/pages/`). The server serves these paths (`server::api`'s
/// `pages`, each rendered whole before it is sent) and renders any other as not found.
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
    Some(percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned())
}

/// The page's URL, for the whole app (`provide_location`).
#[derive(Clone, Copy)]
pub struct Location(pub RwSignal<Url>);

/// A page's own copy of the URL (`app::Pages`), which follows the app's only while the URL
/// leads to that page.
#[derive(Clone, Copy)]
pub struct PageUrl(pub RwSignal<Url>);

/// The URL the page reads: its own copy inside a page, else the app's.
pub fn use_url() -> RwSignal<Url> {
    use_context::<PageUrl>().map(|page| page.0).unwrap_or_else(|| expect_context::<Location>().0)
}

/// Provides the page's URL: the request's on the server; in the browser the address bar's,
/// kept up with the browser's back and forward, and links to the app's pages followed
/// without loading them.
pub fn provide_location() -> Location {
    #[cfg(feature = "ssr")]
    let here = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.uri.path_and_query().map(|local| Url::parse(local.as_str())))
        .unwrap_or_default();
    #[cfg(not(feature = "ssr"))]
    let here = address_bar();
    let location = Location(RwSignal::new(here));
    provide_context(location);
    #[cfg(feature = "hydrate")]
    {
        let back_or_forward = window_event_listener(leptos::ev::popstate, move |_| location.0.set(address_bar()));
        let clicks = window_event_listener(leptos::ev::click, move |event| follow_link(location, &event));
        on_cleanup(move || {
            back_or_forward.remove();
            clicks.remove();
        });
    }
    location
}

impl Location {
    /// Goes to `local` (a path and query of the app): a new entry in the browser's history,
    /// and the top of the page when it is another page (a new view of the same page stays
    /// where the reader is).
    pub fn go(&self, local: &str) {
        let next = Url::parse(local);
        let Some(here) = self.0.try_get_untracked().filter(|here| *here != next) else { return };
        let another_page = here.path != next.path;
        #[cfg(feature = "hydrate")]
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(local));
        }
        self.0.set(next);
        #[cfg(feature = "hydrate")]
        if another_page {
            window().scroll_to_with_x_and_y(0.0, 0.0);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = another_page;
    }
}

/// The address bar's path and query.
#[cfg(not(feature = "ssr"))]
fn address_bar() -> Url {
    #[cfg(feature = "hydrate")]
    {
        let location = window().location();
        let (path, search) = (location.pathname().unwrap_or_default(), location.search().unwrap_or_default());
        Url { path, query: search.trim_start_matches('?').to_owned() }
    }
    #[cfg(not(feature = "hydrate"))]
    Url::default()
}

/// A click on a link to a page of the app (`pages::Page`) goes there without loading it;
/// everything else is the browser's: a modified or middle click, a link with a target, a
/// download or `rel="external"`, another origin, a path no page has (`/login`, the API), a
/// fragment of this page.
#[cfg(feature = "hydrate")]
fn follow_link(location: Location, event: &web_sys::MouseEvent) {
    use wasm_bindgen::JsCast;
    if event.default_prevented()
        || event.button() != 0
        || event.meta_key()
        || event.ctrl_key()
        || event.shift_key()
        || event.alt_key()
    {
        return;
    }
    let target = event.target().and_then(|target| target.dyn_into::<web_sys::Element>().ok());
    let Some(link) = target.and_then(|target| target.closest("a[href]").ok().flatten()) else { return };
    let elsewhere = link.get_attribute("target").is_some_and(|target| !target.is_empty() && target != "_self");
    let external = link.get_attribute("rel").is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r == "external"));
    if elsewhere || external || link.has_attribute("download") {
        return;
    }
    let (Some(href), Ok(base)) = (link.get_attribute("href"), window().location().href()) else { return };
    let Ok(url) = web_sys::Url::new_with_base(&href, &base) else { return };
    let here = window().location();
    let same_origin = here.origin().is_ok_and(|origin| origin == url.origin());
    if !same_origin || Page::at(&url.pathname()) == Page::NotFound {
        return;
    }
    let next = format!("{}{}", url.pathname(), url.search());
    let this_page = here.pathname().unwrap_or_default() + &here.search().unwrap_or_default();
    if !url.hash().is_empty() && next == this_page {
        return;
    }
    event.prevent_default();
    location.go(&next);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_its_path_and_query_and_reads_its_pairs() {
        let url = Url::parse("/d/main?range=1h&panel=a%20b&x=1+2#top");
        assert_eq!(url.path, "/d/main");
        assert_eq!(url.query, "range=1h&panel=a%20b&x=1+2");
        assert_eq!(
            url.pairs(),
            [("range", "1h"), ("panel", "a b"), ("x", "1 2")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(url.local(), "/d/main?range=1h&panel=a%20b&x=1+2");
        assert_eq!(Url::parse("/").local(), "/");
        assert_eq!(Url::parse("/d/a#b"), Url { path: "/d/a".into(), query: String::new() });
    }

    #[test]
    fn paths_lead_to_their_pages_and_dashboard_ids_are_decoded() {
        assert_eq!(Page::at("/"), Page::Home);
        assert_eq!(Page::at("/bench/redraw"), Page::RedrawBench);
        assert_eq!(Page::at("/d/main"), Page::Dashboard);
        assert_eq!(dashboard_id("/d/main").as_deref(), Some("main"));
        assert_eq!(dashboard_id("/d/a%20b%2Fc").as_deref(), Some("a b/c"));
        // Every path the server renders a page at leads to one.
        for path in Page::PATHS {
            assert_ne!(Page::at(&path.replace("{id}", "main")), Page::NotFound, "{path}");
        }
        for elsewhere in ["/d/", "/d", "/d/main/", "/d/a/b", "/dashboards", "/bench/redraw/x", ""] {
            assert_eq!(Page::at(elsewhere), Page::NotFound, "{elsewhere}");
        }
    }
}
