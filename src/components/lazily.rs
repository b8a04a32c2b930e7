//! Code a dashboard's first paint does not need, loaded when first used. The release build
//! (`cargo leptos build --split`) moves what only a split point reaches into a WASM module of
//! its own, which the browser fetches the first time the point is called. The points, each in
//! a `mod split` beside its code: the home page's list and the redraw benchmark page (`page`,
//! below), the rule preview's form and the alert list (made only after a click), the alert
//! toasts (made when the first one comes), the stat, gauge and table bodies (taken over,
//! below), the status and heatmap panels' rows (`components::chart::canvas`'s
//! `rows_painter`, asked for by their first draw), the alert history of a dashboard with rules
//! (`pages::dashboard`'s `alert_history`), a panel's CSV and PNG exports (`panel_export`, on a
//! click), a query panel's engine (`client::panel_data::start_query`, started by the panel),
//! the history and query requests of a span the stream does not hold (`client::panel_data`'s
//! `fetch`), the fallback transports (`client::connection`'s `fallback`), and what the charts
//! draw over themselves under the pointer (`components::chart`'s `Pointer`: the crosshair's
//! readout and a drag's band).
//! `scripts/bundle-size.sh` prints the modules' sizes.
//!
//! A view on a page's first render cannot wait for its module inside a `Suspense`: a
//! `Suspense` hydrates at once, finds the module still on its way, and panics on the server's
//! markup. Such a view (the stat, gauge and table bodies, whose numbers the server already
//! shows; the two pages) is `taken_over`: hydration adopts the server's markup as it stands,
//! and the module's code puts the live view in its place once it has arrived. So the app
//! hydrates at once (`hydrate_body` in `lib.rs`): leptos' lazy routes would have it hydrate
//! asynchronously, and their waiting (`hydrate_lazy`, the router's lazy views) cost the first
//! load more than the pages' own glue (BENCHMARKS.md).
//!
//! The dashboard itself is not hydrated either, for the first load's sake (`rebuilt`): the
//! browser builds it again in place of the server's markup, so its views carry build code only.
//!
//! Code the main module calls directly stays in the main module: a split point's code must be
//! reached only through the point, or through what the point hands back (a closure it made).
//!
//! A module may fail to arrive (the network drops, the server restarts), and leptos' `#[lazy]`
//! then panics, which ends the page's WASM. So each point is wasm_split's `fallible` form
//! (`#[leptos::wasm_split::wasm_split(module, ..., fallible)]`, a `Result` out of the load): a
//! view says `NOT_LOADED` in its place (`when_loaded`), a panel's body or query engine says it
//! on the panel, a history fetch is a failed fetch, a fallback transport's session is lost and
//! retried, a page is loaded from the server (`page`). The next call fetches again.
//!
//! The split attributes expand to wasm_split's `#[unsafe(no_mangle)]` links between the
//! modules, so each `mod split` allows `unsafe_code`; none is written by hand.

use crate::client::NOT_LOADED;
use leptos::prelude::*;
use leptos::wasm_split::SplitLoaderError;
use std::future::Future;

/// Room for wasm-split to lay the constant data out again. It moves each piece of the linked
/// module's constant data (one data segment) into the module whose code uses it, each
/// module's pieces packed and aligned after the last's. When that takes more room than the
/// segment had, it gives up and leaves the whole segment in the main module: 38 KB of the
/// split modules' data (regex-lite's messages, the rule preview's markup) in the first load
/// (its "Overlong segment 0" warning; BENCHMARKS.md, "Room for the split's data"). Whether
/// it fits was luck: a few hundred bytes of alignment either way. These bytes are in that
/// segment, used by no code, so wasm-split drops them and they leave it that much room; no
/// module carries them. `#[used]` keeps them through the link.
#[cfg(feature = "hydrate")]
#[used]
static SPLIT_DATA_ROOM: [u8; 16 * 1024] = [0x5A; 16 * 1024];

/// Shows a split point's view once its module has arrived, nothing before, and `NOT_LOADED` if
/// it cannot be fetched. In the browser its future (the module's fetch) is not `Send`, and
/// needs not be: the browser has one thread. No `Suspense`: these views are made after the
/// page hydrated (a click, a notice), and a `Suspense`'s async views were its only one in the
/// first load (BENCHMARKS.md); the view arrives once, through a flag, into an `Option`.
#[cfg(feature = "hydrate")]
pub fn when_loaded(view: impl Future<Output = Result<AnyView, SplitLoaderError>> + 'static) -> impl IntoView {
    let arrived = StoredValue::new_local(None::<AnyView>);
    let ready = RwSignal::new(false);
    leptos::task::spawn_local_scoped_with_cancellation(async move {
        arrived.set_value(Some(view.await.unwrap_or_else(|_| not_loaded())));
        ready.set(true);
    });
    move || {
        ready.track();
        arrived.try_update_value(Option::take).flatten()
    }
}

/// On the server a split point runs at once.
#[cfg(not(feature = "hydrate"))]
pub fn when_loaded(view: impl Future<Output = Result<AnyView, SplitLoaderError>> + Send + 'static) -> impl IntoView {
    let view = async move { view.await.unwrap_or_else(|_| not_loaded()) };
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}

/// A route's page, which the server renders in full inside `<div class={class}>` and the
/// browser brings to life from a module of its own, `module`: `take_over` is its split point
/// (wasm_split's `fallible` form), handed the element's ref as `taken_over`'s is. A page whose
/// markup needs no code once hydrated (`adopt`: the home page's list, whose links
/// `client::location` follows as they stand) leaves the module to a page the browser makes
/// (opened from another); any other page takes over at once, and the server asks it to
/// preload the module.
///
/// A module that cannot be fetched is most often one of a build no longer served
/// (`server::http::bundle`: the page was opened before a redeploy), so the page is then loaded
/// from the server, as a plain link would be: once, so that a module still missing after that
/// shows `NOT_LOADED` instead of a page reloading without end.
#[cfg(feature = "hydrate")]
pub fn page<F>(
    module: &'static str,
    class: &'static str,
    adopt: bool,
    take_over: impl FnOnce(NodeRef<leptos::html::Div>) -> F + 'static,
) -> impl IntoView
where
    F: Future<Output = Result<(), SplitLoaderError>> + 'static,
{
    let hydrating = hydrating();
    let url = crate::client::location::use_url().with_untracked(crate::client::location::Url::local);
    let needed = !(adopt && hydrating);
    taken_over(class, move |slot| async move {
        if !needed {
            return;
        }
        match take_over(slot).await {
            Ok(()) => loaded_from_server::forget(module),
            Err(_) => {
                replace_children(slot, not_loaded_note());
                loaded_from_server::once(module, &url);
            }
        }
    })
}

/// On the server a page is rendered whole, and one the browser takes over at once asks it to
/// preload its module.
#[cfg(not(feature = "hydrate"))]
pub fn page(module: &'static str, class: &'static str, adopt: bool, view: impl IntoView) -> impl IntoView {
    if !adopt {
        leptos::prefetch_lazy_fn_on_server(module);
    }
    view! { <div class=class>{view}</div> }
}

/// Whether a route's page was already loaded from the server because its module could not be
/// fetched: kept for the tab's session.
#[cfg(feature = "hydrate")]
mod loaded_from_server {
    fn key(module: &str) -> String {
        format!("livedash-module-missing-{module}")
    }

    /// Loads `url` from the server unless that was tried for `module` already.
    pub fn once(module: &str, url: &str) {
        let Ok(Some(session)) = leptos::prelude::window().session_storage() else { return };
        if session.get_item(&key(module)).ok().flatten().is_some() {
            leptos::logging::error!("the module of {url} could not be fetched, again after loading the page");
            return;
        }
        let _ = session.set_item(&key(module), url);
        let _ = leptos::prelude::window().location().assign(url);
    }

    /// The module arrived: a later failure may load the page again.
    pub fn forget(module: &str) {
        if let Ok(Some(session)) = leptos::prelude::window().session_storage() {
            let _ = session.remove_item(&key(module));
        }
    }
}

fn not_loaded() -> AnyView {
    not_loaded_note().into_any()
}

fn not_loaded_note() -> impl IntoView {
    view! { <p class="panel-error" role="alert">{NOT_LOADED}</p> }
}

/// A view the server rendered in full inside `<div class={class}>`, taken over in the browser
/// when its module has arrived. Hydration adopts the server's markup as it stands: the element
/// is hydrated without children, and tachys does not walk into an element it has no children
/// for. `take_over` (a split point, handed the element's ref) then puts its live view in place
/// of that markup with `replace_children`. Made in the browser instead (a dashboard opened
/// from another), the element stays empty until the module is there (at once after the first
/// time). `take_over` starts once the element is in the page: a slot `app::Pages` reuses for
/// the next page (the same view type) is set only after the new view is made.
#[cfg(feature = "hydrate")]
pub fn taken_over<F>(
    class: &'static str,
    take_over: impl FnOnce(NodeRef<leptos::html::Div>) -> F + 'static,
) -> impl IntoView
where
    F: Future<Output = ()> + 'static,
{
    let slot = NodeRef::<leptos::html::Div>::new();
    once_in_page(slot, Box::new(move || leptos::task::spawn_local_scoped_with_cancellation(take_over(slot))));
    view! { <div class=class node_ref=slot></div> }
}

/// Runs `start` as the caller's owner once `slot` is in the page: what it makes is the
/// caller's, and goes with it. Not generic, so every slot shares one effect's code.
#[cfg(feature = "hydrate")]
fn once_in_page(slot: NodeRef<leptos::html::Div>, start: Box<dyn FnOnce()>) {
    let owner = Owner::current();
    let start = std::cell::Cell::new(Some(start));
    Effect::new(move |_| {
        if slot.get().is_none() {
            return;
        }
        let Some(start) = start.take() else { return };
        match &owner {
            Some(owner) => owner.with(start),
            None => start(),
        }
    });
}

/// Whether the page is being hydrated (the code running makes views for the server's markup).
#[cfg(feature = "hydrate")]
pub fn hydrating() -> bool {
    Owner::current_shared_context().is_some_and(|context| context.during_hydration())
}

/// A view the server rendered in full inside `<div class={class}>`, built again by the browser
/// in its place instead of hydrated: hydrating would bring every one of its view types'
/// hydrate code into the first load beside their build code (the dashboard's: 6 KB of brotli,
/// BENCHMARKS.md). `view` is the view once its data is there: when hydrating, it is built
/// (`taken_over`, with no module to wait for) within the task that follows hydration, so no
/// frame shows it empty (its data must then be at hand, as the served dashboard's load is).
/// After hydrating, the slots in it still waiting for a module (`taken_over`, found by the
/// selector `waiting`, in the same order in both, as the same code made them from the same
/// data) keep the server's markup until it arrives, as hydrated ones do. Made in the browser
/// (another page opened), the slot says `loading` until the view is there.
#[cfg(feature = "hydrate")]
pub fn rebuilt<V>(
    class: &'static str,
    waiting: &'static str,
    loading: &'static str,
    view: impl Future<Output = V> + 'static,
) -> impl IntoView
where
    V: IntoView + 'static,
{
    let hydrating = hydrating();
    taken_over(class, move |slot| async move {
        let Some(element) = slot.get_untracked() else { return };
        let served = element.query_selector_all(waiting).ok().filter(|_| hydrating);
        if !hydrating {
            // What the slot held before (the dashboard before this one) goes at once.
            replace_children(slot, view! { <p class="loading">{loading}</p> });
        }
        replace_children(slot, view.await);
        let (Some(served), Ok(built)) = (served, element.query_selector_all(waiting)) else { return };
        for index in 0..served.length().min(built.length()) {
            let (Some(served), Some(built)) = (served.item(index), built.item(index)) else { continue };
            // The slot as built holds only its empty view's placeholder.
            built.set_text_content(None);
            while let Some(child) = served.first_child() {
                let _ = built.append_child(&child);
            }
        }
    })
}

/// Puts `view` in place of what the server rendered in `slot`, within one task (no frame shows
/// it empty), and marks the slot `data-taken-over` (until then its controls, rendered by the
/// server, do nothing; tests wait for the mark before they use them). Generic over the view,
/// so that only the view's build is compiled: called from a split point's code, in the split
/// module (an `AnyView` handed back would compile its every way of rendering); called again
/// by an effect, a list rebuilt whole when its keys change, without a keyed list's hydrate
/// and rebuild paths (the chart legend). What the last call built goes with the caller's
/// owner, or at the effect's next run.
#[cfg(feature = "hydrate")]
pub fn replace_children<E>(slot: NodeRef<E>, view: impl IntoView + 'static)
where
    E: leptos::html::ElementType,
    E::Output: wasm_bindgen::JsCast + Clone + AsRef<web_sys::Element> + 'static,
{
    use leptos::tachys::view::{Mountable, Render};
    let Some(element) = slot.get_untracked() else { return };
    let element: &web_sys::Element = element.as_ref();
    let mut state = untrack(|| view.into_view().build());
    element.set_inner_html("");
    state.mount(element, None);
    let _ = element.set_attribute("data-taken-over", "");
    let state = send_wrapper::SendWrapper::new(state);
    on_cleanup(move || drop(state));
}
