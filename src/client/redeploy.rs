//! A page left open across a redeploy (a wall screen): the server no longer serves its build
//! (`server::http::bundle`), so a module it has not loaded yet cannot be fetched any more, and
//! it would run the old code for as long as it stays open. A redeploy restarts the server, so
//! when the page's connection comes back it asks whether its build (the shell's
//! `livedash-build` meta) is still served, and loads itself again from the server if not. Its
//! view is in its URL (`client::view`), so it comes back as it was.

use leptos::prelude::*;

/// Asks `/build/{id}` of the page's build and loads the page again on a 404. Nothing for a
/// page without a build (a server run without a bundle) or when the server does not answer.
pub fn reload_if_replaced() {
    let build = document()
        .query_selector("meta[name=livedash-build]")
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    let Some(build) = build else { return };
    leptos::task::spawn_local(async move {
        let asked = gloo_net::http::Request::get(&format!("/build/{build}")).send().await;
        if asked.is_ok_and(|answer| answer.status() == 404) {
            let _ = window().location().reload();
        }
    });
}
