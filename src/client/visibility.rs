//! Whether the page is visible. Charts skip drawing while the tab is hidden (messages keep
//! flowing into the state) and draw once, with the latest state, when it shows again.

use leptos::prelude::*;

/// Keeps `visible` equal to `!document.hidden` until the calling component is cleaned up.
pub fn track_page_visibility(visible: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    {
        use send_wrapper::SendWrapper;
        use wasm_bindgen::{closure::Closure, JsCast};
        let document = document();
        visible.set(!document.hidden());
        let listener = Closure::<dyn Fn()>::new({
            let document = document.clone();
            move || visible.set(!document.hidden())
        });
        let callback = listener.as_ref().unchecked_ref::<js_sys::Function>().clone();
        if document.add_event_listener_with_callback("visibilitychange", &callback).is_err() {
            return;
        }
        let registration = SendWrapper::new((document, callback, listener));
        on_cleanup(move || {
            let (document, callback, _listener) = registration.take();
            let _ = document.remove_event_listener_with_callback("visibilitychange", &callback);
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = visible;
}
