//! Code a dashboard's first paint does not need, loaded when first used. The release build
//! (`cargo leptos build --split`) moves what only a split point reaches into a WASM module of
//! its own, which the browser fetches the first time the point is called (and the server asks
//! a page to preload when it renders one). The points, each in a `mod split` beside its code:
//! the home page and the redraw benchmark page (lazy routes: the router waits for the module
//! before it hydrates them, hence `hydrate_lazy` in `lib.rs`), the rule preview's form and the
//! alert list (made only after a click). `scripts/bundle-size.sh` prints the modules' sizes.
//!
//! Only those two kinds can be split points: a whole route, or a view made after the page has
//! hydrated. In leptos 0.8 only the router waits for a module before hydrating; a `Suspense`
//! on a page's first render hydrates at once, finds the module still on its way, and panics on
//! the server's markup (tried with the stat, gauge and table bodies: BENCHMARKS.md).
//!
//! A split point's `#[lazy]` or `#[lazy_route]` expands to wasm_split's `#[unsafe(no_mangle)]`
//! links between the modules, so each `mod split` allows `unsafe_code`; none is written by hand.

use leptos::prelude::*;
use std::future::Future;

/// Shows a split point's view once its module has arrived, nothing before. In the browser its
/// future (the module's fetch) is not `Send`, and needs not be: the browser has one thread.
#[cfg(feature = "hydrate")]
pub fn when_loaded(view: impl Future<Output = AnyView> + 'static) -> impl IntoView {
    let view = send_wrapper::SendWrapper::new(view);
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}

/// On the server a split point runs at once.
#[cfg(not(feature = "hydrate"))]
pub fn when_loaded(view: impl Future<Output = AnyView> + Send + 'static) -> impl IntoView {
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}
