//! The HTML shell, the page of the path (`Pages`) and the `App` root component.

use crate::client::connection::provide_connection;
use crate::client::location::{provide_location, Location, Page, PageUrl};
use crate::client::theme::{provide_theme, toggle, PICK_BEFORE_PAINT};
use crate::components::alert_list::AlertBadge;
#[cfg(feature = "ssr")]
use crate::loaders::Visitor;
use crate::pages::{dashboard::DashboardPage, home::HomePage, not_found::NotFound, redraw_bench::RedrawBenchPage};
#[cfg(feature = "ssr")]
use leptos::either::EitherOf3;
use leptos::either::EitherOf4;
use leptos::prelude::*;

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's Content-Security-Policy allows the inline scripts carrying this response's nonce.
    #[cfg(feature = "ssr")]
    crate::server::http::headers::send_content_security_policy(&options);
    // The stylesheet and scripts load from the path of this server's build, which the page
    // names for `client::redeploy` (`server::http::bundle`).
    #[cfg(feature = "ssr")]
    let bundle = crate::server::http::bundle::of_page();
    #[cfg(feature = "ssr")]
    let (root, build) = (bundle.root(), bundle.id());
    #[cfg(not(feature = "ssr"))]
    let (root, build) = (String::new(), None::<String>);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                {build.map(|build| view! { <meta name="livedash-build" content=build/> })}
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" id="leptos" href=format!("{root}/pkg/livedash.css")/>
                <script nonce=leptos::nonce::use_nonce() inner_html=PICK_BEFORE_PAINT></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options root/>
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The top bar's word on access: the open-access notice, or who is signed in with a sign-out
/// button (a plain form, so it works before the WASM loads). Rendered by the server only: it
/// does not change in the page (signing in or out loads another), so the browser adopts the
/// markup as it stands (an element hydrated without children keeps the server's, as
/// `lazily::taken_over`'s slot does) and carries no code, decoder or request for it.
#[cfg(feature = "ssr")]
#[component]
fn AccessNote() -> impl IntoView {
    let note = crate::loaders::visitor().map(|visitor| match visitor {
        Visitor::Open(text) => EitherOf3::A(view! {
            <span class="access-notice" data-testid="access-notice" title="No sign-in is configured">{text}</span>
        }),
        Visitor::SignedIn { user } => EitherOf3::B(view! {
            <form class="signed-in" method="post" action="/logout">
                <span data-testid="signed-in-user" title="Signed in">{user}</span>
                <button type="submit" data-testid="sign-out">"Sign out"</button>
            </form>
        }),
        Visitor::Token { name } => EitherOf3::C(view! {
            <span class="signed-in" data-testid="signed-in-user" title="Using an API token">{name}</span>
        }),
    });
    view! { <span class="access">{note}</span> }
}

#[cfg(not(feature = "ssr"))]
#[component]
fn AccessNote() -> impl IntoView {
    view! { <span class="access"></span> }
}

/// For the panels benchmark: `window.livedashWasmBytes()`, the WASM module's memory (which the
/// browser's JS heap figures leave out), and `window.livedashDrawPasses()`, the chart drawing
/// passes so far, the ms they took and when the last began (`client::redraw`).
fn expose_for_benchmarks() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        let bytes = Closure::<dyn Fn() -> f64>::new(|| {
            let memory = wasm_bindgen::memory().dyn_into::<js_sys::WebAssembly::Memory>();
            memory
                .ok()
                .and_then(|memory| memory.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
                .map_or(0.0, |buffer| f64::from(buffer.byte_length()))
        });
        let _ = js_sys::Reflect::set(&window(), &"livedashWasmBytes".into(), bytes.as_ref());
        bytes.forget();
        let passes = Closure::<dyn Fn() -> js_sys::Array>::new(|| {
            let (count, ms, last) = crate::client::redraw::passes();
            js_sys::Array::of3(&(count as f64).into(), &ms.into(), &last.into())
        });
        let _ = js_sys::Reflect::set(&window(), &"livedashDrawPasses".into(), passes.as_ref());
        passes.forget();
    }
}

#[component]
pub fn App() -> impl IntoView {
    // The head the server writes: the title (`components::page_title`), `livedash` for a page
    // without its own (not found, forbidden), which a page's own, registered after, replaces.
    #[cfg(feature = "ssr")]
    {
        leptos_meta::provide_meta_context();
        crate::components::page_title::page_title(String::new());
    }
    let location = provide_location();
    let theme = provide_theme();
    let connection = provide_connection();
    let switch_label = move || format!("Switch to {} theme", theme.0.get().other().label());
    // Effects run only in the browser, after hydration: tests wait for this mark.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
        expose_for_benchmarks();
    });

    view! {
            <nav class="topbar" data-sockets-opened=move || connection.sockets_opened.get()>
                <a href="/" class="brand">"livedash"</a>
                <AccessNote/>
                <AlertBadge/>
                <button
                    type="button"
                    class="theme-toggle"
                    data-testid="theme-toggle"
                    aria-label=switch_label
                    title=switch_label
                    on:click=move |_| toggle(theme)
                >
                    {move || if theme.0.get() == crate::client::theme::Theme::Dark { "☀" } else { "☾" }}
                </button>
            </nav>
            <main>
                <Pages location/>
            </main>
    }
}

/// The page of the URL's path, made again when the path leads to another page (a dashboard
/// to another keeps its page, which follows the id). Matched here, not by leptos_router's
/// `FlatRoutes`: for three fixed paths, its route tree, matching and async route views were
/// 16.3 KB of brotli in a dashboard's first load (BENCHMARKS.md).
#[component]
fn Pages(location: Location) -> impl IntoView {
    let page = Memo::new(move |_| location.0.with(|url| Page::at(&url.path)));
    move || {
        let page = page.get();
        // A page reads the URL (`location::use_url`) from its own copy, which follows the
        // app's only while the path leads to it: one being left never sees the next page's
        // URL (a dashboard would load the home page's "id", or drop its zoom).
        let url = RwSignal::new(location.0.get_untracked());
        provide_context(PageUrl(url));
        Effect::new(move |_| {
            let next = location.0.get();
            if Page::at(&next.path) == page && url.with_untracked(|url| *url != next) {
                url.set(next);
            }
        });
        match page {
            Page::Home => EitherOf4::A(view! { <HomePage/> }),
            Page::Dashboard => EitherOf4::B(view! { <DashboardPage/> }),
            Page::RedrawBench => EitherOf4::C(view! { <RedrawBenchPage/> }),
            Page::NotFound => EitherOf4::D(view! { <NotFound/> }),
        }
    }
}
