//! A page left open across a redeploy (a wall screen): the server no longer serves its build
//! (`server::http::bundle`), so a module it has not loaded yet cannot be fetched any more, and
//! it would run the old code for as long as it stays open. A redeploy restarts the server, so
//! when the page's connection comes back it asks whether its build (the shell's
//! `livedash-build` meta) is still served, and loads itself again from the server if not. Its
//! view is in its URL (`client::view`), so it comes back as it was.
//!
//! What the URL does not hold is a rule being typed into a preview: while one is open the page
//! says a new version is running and waits until it is closed (or the person reloads).

use leptos::prelude::*;

/// How often a page waiting for its rule previews to close looks again.
const WAIT_MS: u32 = 1_000;

/// Asks `/build/{id}` of the page's build and loads the page again on a 404, once no rule
/// preview is open. Nothing for a page without a build (a server run without a bundle) or
/// when the server does not answer.
pub fn reload_if_replaced() {
    let build = document()
        .query_selector("meta[name=livedash-build]")
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    let Some(build) = build else { return };
    leptos::task::spawn_local(async move {
        let asked = gloo_net::http::Request::get(&format!("/build/{build}")).send().await;
        if !asked.is_ok_and(|answer| answer.status() == 404) {
            return;
        }
        if holds_input() {
            // One page waits once: a reconnection during the wait finds the notice up.
            if !announce() {
                return;
            }
            while holds_input() {
                gloo_timers::future::TimeoutFuture::new(WAIT_MS).await;
            }
        }
        let _ = window().location().reload();
    });
}

/// Whether a reload would lose what the person is typing: a rule preview is open.
fn holds_input() -> bool {
    document().query_selector("details.rule-preview[open]").ok().flatten().is_some()
}

/// Puts up the notice of a new version, with a link that reloads now (`rel="external"`: the
/// page leaves it to the browser, `client::location`); false when it is up already. Made
/// once, outside the app's views: nothing in the page changes it until the page goes.
fn announce() -> bool {
    let document = document();
    if document.query_selector("[data-testid=redeploy-notice]").ok().flatten().is_some() {
        return false;
    }
    let (Some(body), Ok(notice), Ok(link)) =
        (document.body(), document.create_element("div"), document.create_element("a"))
    else {
        return true;
    };
    let _ = notice.set_attribute("class", "redeploy-notice");
    let _ = notice.set_attribute("role", "status");
    let _ = notice.set_attribute("data-testid", "redeploy-notice");
    notice.set_text_content(Some(
        "A new version of livedash is running. This page loads it when the rule preview is closed. ",
    ));
    let _ = link.set_attribute("href", &window().location().href().unwrap_or_default());
    let _ = link.set_attribute("rel", "external");
    link.set_text_content(Some("Reload now"));
    let _ = notice.append_child(&link);
    let _ = body.append_child(&notice);
    true
}
