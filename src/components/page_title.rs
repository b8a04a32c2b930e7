//! The document's title: `{page} · livedash`, or `livedash` for a page without one. The
//! server writes it into the head with leptos_meta (`MetaTags` in the shell); the browser keeps
//! it with an effect on `document.title`, so the client carries none of leptos_meta: the title
//! is all it would use it for. Not a view: a page calls `page_title` as it is made, so the
//! server's markup and the browser's hydration have nothing to agree on.

use leptos::prelude::*;

/// The title of a page called `page` (empty: none).
fn titled(page: &str) -> String {
    if page.is_empty() {
        "livedash".to_owned()
    } else {
        format!("{page} · livedash")
    }
}

/// The document's title is `page`'s while the calling page is shown; after it, `livedash`
/// until another page names itself.
pub fn page_title(page: impl Into<Signal<String>>) {
    let page = page.into();
    #[cfg(feature = "ssr")]
    {
        // leptos_meta takes the title when the component is called; the view it returns
        // renders nothing in the body.
        let props = leptos_meta::TitleProps::builder().text(titled(&page.get_untracked())).build();
        let _ = leptos_meta::Title(props);
    }
    #[cfg(feature = "hydrate")]
    {
        // The title belongs to the document, which outlives the page: read the page's value
        // only while it is there.
        Effect::new(move |_| {
            if let Some(page) = page.try_get() {
                document().set_title(&titled(&page));
            }
        });
        on_cleanup(|| document().set_title(&titled("")));
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let _ = page;
}
