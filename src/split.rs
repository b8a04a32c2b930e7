//! The split points: the code a dashboard's first paint does not need, which the release build
//! (`cargo leptos build --split`) moves into WASM modules of their own that the browser fetches
//! the first time they are used. Each point is a function marked `#[lazy]`, or a route marked
//! `#[lazy_route]`; what only it reaches goes with it.
//!
//! - The home page and the redraw benchmark page: routes a dashboard never shows.
//! - The rule preview's form: made when a chart's "Preview a rule" first opens.
//! - The alert list: made when the top bar's badge first opens.
//!
//! On the server, a split point is an `async fn` that runs at once (and asks the page to
//! preload its module when rendered); in the browser it fetches the module on first call.
//! Every page of the app still hydrates from one module: nothing here is on a page's first
//! render except the two routes, which the router waits for before hydrating.

// `#[lazy]` and `#[lazy_route]` expand to wasm_split's `#[unsafe(no_mangle)]` imports and
// exports, the links between the main module and the split ones. No hand-written unsafe here.
#![allow(unsafe_code)]

use crate::components::alert_list::AlertList;
use crate::components::chart::ChartAlerts;
use crate::components::rule_preview::RulePreviewForm;
use crate::model::alerts::RuleSubject;
use crate::pages::{home::HomePage, redraw_bench::RedrawBench};
use crate::protocol::AlertChange;
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};
use std::future::Future;

/// `/`.
pub struct Home;

#[lazy_route]
impl LazyRoute for Home {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <HomePage/> }.into_any()
    }
}

/// `/bench/redraw`.
pub struct RedrawBenchPage;

#[lazy_route]
impl LazyRoute for RedrawBenchPage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <RedrawBench/> }.into_any()
    }
}

/// A chart's rule preview form (`components::rule_preview`).
pub fn rule_preview_form(subject: RuleSubject, name: String, overlay: RwSignal<Option<ChartAlerts>>) -> impl IntoView {
    #[lazy]
    fn form(subject: RuleSubject, name: String, overlay: RwSignal<Option<ChartAlerts>>) -> AnyView {
        view! { <RulePreviewForm subject name overlay/> }.into_any()
    }
    when_loaded(form(subject, name, overlay))
}

/// The top bar's list of active alerts (`components::alert_list`).
pub fn alert_list(changed: Memo<Vec<AlertChange>>) -> impl IntoView {
    #[lazy]
    fn list(changed: Memo<Vec<AlertChange>>) -> AnyView {
        view! { <AlertList changed/> }.into_any()
    }
    when_loaded(list(changed))
}

/// Shows the view once its module has arrived, nothing before (a split point's future is the
/// browser's fetch of the module, which is not `Send`; the browser has one thread).
#[cfg(feature = "hydrate")]
fn when_loaded(view: impl Future<Output = AnyView> + 'static) -> impl IntoView {
    let view = send_wrapper::SendWrapper::new(view);
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}

#[cfg(not(feature = "hydrate"))]
fn when_loaded(view: impl Future<Output = AnyView> + Send + 'static) -> impl IntoView {
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}
