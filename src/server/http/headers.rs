//! Security headers. Every response: `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`, and `Strict-Transport-Security` when the public URL is https
//! (`layers`). Every page: a Content-Security-Policy that lets
//! scripts run only from this origin or inline with the response's nonce (Leptos puts it on
//! its hydration and resource scripts; `app::shell` on its own), WASM compile
//! (`'wasm-unsafe-eval'`), styles and connections to this origin only (and, under `make dev`,
//! cargo-leptos' live-reload port), no plugins, no `<base>`, and framing only by
//! `--frame-ancestors` (`'none'` by default).

use axum::http::{header, HeaderValue};
use leptos::prelude::use_context;
use tower_http::set_header::SetResponseHeaderLayer;

/// The headers every response carries (unless a handler set its own); HSTS only when served
/// over https (`hsts`), since browsers ignore it over plain http anyway.
pub fn layers(
    hsts: bool,
) -> (
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<Option<HeaderValue>>,
) {
    let transport_security = hsts.then(|| HeaderValue::from_static("max-age=31536000"));
    (
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, transport_security),
    )
}

/// The policy of a page whose inline scripts carry `nonce`.
pub fn content_security_policy(nonce: &str, frame_ancestors: &str) -> String {
    policy(nonce, frame_ancestors, "")
}

/// The policy, with `connect_also` (space-separated sources) allowed besides this origin.
fn policy(nonce: &str, frame_ancestors: &str, connect_also: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'{connect_also}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// Under `cargo leptos watch` (`make dev`, which sets `LEPTOS_WATCH`) the page's live-reload
/// script connects to cargo-leptos' own port: allowed then, never in a release run.
fn live_reload_sources(watching: bool, reload_port: u32) -> String {
    if watching {
        format!(" ws://*:{reload_port} wss://*:{reload_port}")
    } else {
        String::new()
    }
}

/// `--frame-ancestors`, provided to every page rendering as context.
#[derive(Clone)]
pub struct FrameAncestors(pub String);

/// Adds the page's Content-Security-Policy to the response being rendered (call from the
/// shell, during server rendering).
pub fn send_content_security_policy(options: &leptos::config::LeptosOptions) {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let frame_ancestors =
        use_context::<FrameAncestors>().map_or_else(|| "'none'".to_owned(), |FrameAncestors(value)| value);
    let reload_port = options.reload_external_port.unwrap_or(options.reload_port);
    let live_reload = live_reload_sources(std::env::var_os("LEPTOS_WATCH").is_some(), reload_port);
    if let Ok(value) = HeaderValue::from_str(&policy(&nonce, &frame_ancestors, &live_reload)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_this_origin_and_the_nonce() {
        let policy = content_security_policy("abc123", "'none'");
        assert!(policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"), "{policy}");
        assert!(policy.contains("connect-src 'self';"), "{policy}");
    }

    #[test]
    fn only_a_watched_build_lets_the_page_reach_the_live_reload_port() {
        assert_eq!(live_reload_sources(false, 3001), "");
        let watched = policy("abc123", "'none'", &live_reload_sources(true, 3001));
        assert!(watched.contains("connect-src 'self' ws://*:3001 wss://*:3001;"), "{watched}");
    }
}
