//! The top floor of the HTTP server: the read API's handlers (`dashboards`: list, snapshots,
//! history, liveness; `alerts`: active alerts, history, rules, deliveries, silences, acks;
//! `metrics`) and `router`, which puts every stage's endpoints behind their policy.
//!
//! The router is built from sub-routers, one per kind of route, each carrying what it asks of
//! a request as `route_layer`s: the gate's `Policy` (who may come in, and how a refusal looks)
//! and the name its errors are counted under in `/metrics`. The origin check, the security
//! headers and the request span wrap them all. To add an endpoint, add its route to the
//! sub-router of its kind: nothing else matches on paths.
//!
//! | sub-router | routes | policy |
//! |---|---|---|
//! | `public` | `/healthz`, `/metrics`, `/login`, `/logout`, the site's files | open |
//! | `ingest` | `/api/v1/ingest`, `/api/v2/write` | may write, before the body is read |
//! | `streams` | `/ws`, `/api/v1/stream/{dashboard}`, `/api/v1/poll/{dashboard}` | a credential (401) |
//! | `api` | `/api/v1/dashboards...`, `/api/v1/alerts...`, server functions | a credential (401) |
//! | `pages` | the app's routes and every other path (its 404 page) | a credential, else `/login` |

pub mod alerts;
pub mod dashboards;
pub mod metrics;
pub mod query;

use super::{
    auth::{
        self,
        gate::{Gate, Policy},
    },
    http::{
        self,
        error::{count_errors, CountErrors},
        headers::FrameAncestors,
        ApiError,
    },
    ingest,
    state::AppState,
    stream::{poll, sse, ws},
};
use crate::app::shell;
use crate::client::location::Page;
use axum::{
    extract::DefaultBodyLimit,
    middleware,
    response::{IntoResponse, Response},
    routing::{any, delete, get, post, MethodRouter},
    Router,
};
use leptos::prelude::provide_context;
use std::{convert::Infallible, sync::Arc};
use tower_http::{classify::ServerErrorsFailureClass, decompression::RequestDecompressionLayer};

/// Every route of the server, behind the origin check and with the security headers.
pub fn router(state: AppState) -> Router {
    let gate = Gate::new(state.auth.clone(), state.telemetry.clone());
    let gated = |policy| middleware::from_fn_with_state(gate.with(policy), auth::gate::require);
    Router::new()
        .merge(public(&state).route_layer(gated(Policy::Open)))
        .merge(ingest(&state, &gate))
        .merge(streams(&state).route_layer(gated(Policy::Api)))
        .merge(api(&state).route_layer(gated(Policy::Api)))
        .merge(pages(&state, &gate))
        .layer(middleware::from_fn_with_state(origin_policy(&state), auth::origin::check_origin))
        .layer(http::headers::layers(state.settings.public_url.as_ref().is_some_and(|url| url.is_https())))
        // Method and path only: a query may carry `access_token`, which must never reach a log.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_failure(log_failure),
        )
        .with_state(state)
}

/// Logs a failed response, except a 503: what refuses (a failing store, a full server, a
/// lost Redis) logs its episode once, with a count, not once per request refused.
fn log_failure(failure: ServerErrorsFailureClass, latency: std::time::Duration, _span: &tracing::Span) {
    let refused = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    if !matches!(failure, ServerErrorsFailureClass::StatusCode(status) if status == refused) {
        tracing::error!(%failure, ?latency, "response failed");
    }
}

/// Counts the route's error answers under `endpoint` in `livedash_errors_total`.
fn counted(route: MethodRouter<AppState>, state: &AppState, endpoint: &'static str) -> MethodRouter<AppState> {
    let count = CountErrors { counter: state.telemetry.clone(), endpoint };
    route.route_layer(middleware::from_fn_with_state(count, count_errors))
}

/// What anyone may request: signing in, liveness, `/metrics` (which checks for itself), and
/// the site's files (the client bundle, at `/pkg` and under its build's path, and the icon).
fn public(state: &AppState) -> Router<AppState> {
    let files = leptos_axum::file_and_error_handler_with_context::<AppState, _>(page_context(state), shell);
    Router::new()
        .route("/healthz", get(dashboards::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/login", get(auth::login::form).post(auth::login::sign_in).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/logout", post(auth::login::sign_out))
        .route("/pkg/{*file}", get(files.clone()))
        .route("/favicon.svg", get(files))
        .merge(state.bundle.routes(&state.settings.site_root))
}

/// The ingest endpoints (JSON, line protocol, OTLP, remote write): the gate checks that the
/// credential may write before anything reads the body; gzip bodies (Telegraf's default) are
/// inflated first, so the size limit counts what they inflate to (remote write's snappy
/// blocks by its handler, within the same limit).
fn ingest(state: &AppState, gate: &Gate) -> Router<AppState> {
    let limit = state.settings.max_ingest_bytes;
    let write = |route, endpoint, refusal: fn(ApiError) -> Response| -> MethodRouter<AppState> {
        counted(route, state, endpoint)
            .layer::<_, Infallible>(DefaultBodyLimit::max(limit))
            .layer::<_, Infallible>(RequestDecompressionLayer::new())
            .route_layer(middleware::from_fn_with_state(gate.with(Policy::Write(refusal)), auth::gate::require))
    };
    Router::new()
        .route("/api/v1/ingest", write(post(ingest::json::ingest), "ingest", ApiError::into_response))
        .route("/api/v2/write", write(post(ingest::influx::write), "write", ingest::influx::refusal))
        .route("/v1/metrics", write(post(ingest::otlp::export), "otlp", ApiError::into_response))
        // Snappy, not an HTTP content coding: inflated by the handler, within the same limit.
        .route(
            "/api/v1/write",
            counted(post(ingest::remote_write::write), state, "remote_write")
                .layer::<_, Infallible>(DefaultBodyLimit::max(limit))
                .route_layer(middleware::from_fn_with_state(
                    gate.with(Policy::Write(ApiError::into_response)),
                    auth::gate::require,
                )),
        )
}

/// The live transports.
fn streams(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ws", counted(get(ws::upgrade), state, "ws"))
        .route("/api/v1/stream/{dashboard}", counted(get(sse::stream), state, "sse"))
        .route("/api/v1/poll/{dashboard}", counted(get(poll::poll), state, "poll"))
}

/// The read API, alerts, and the server functions pages call.
fn api(state: &AppState) -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/v1/dashboards", counted(get(dashboards::dashboards), state, "dashboards"))
        .route("/api/v1/dashboards/{id}/snapshot", counted(get(dashboards::snapshot), state, "snapshot"))
        .route("/api/v1/dashboards/{id}/history", counted(get(dashboards::history), state, "history"))
        .route("/api/v1/dashboards/{id}/query", counted(get(query::query), state, "query"))
        .route("/api/v1/targets", counted(get(dashboards::targets), state, "targets"))
        .route("/api/v1/alerts", counted(get(alerts::active), state, "alerts"))
        .route("/api/v1/alerts/rules", counted(get(alerts::rules), state, "alerts"))
        .route("/api/v1/alerts/history", counted(get(alerts::history), state, "alerts"))
        .route("/api/v1/alerts/deliveries", counted(get(alerts::deliveries), state, "alerts"))
        .route(
            "/api/v1/alerts/silences",
            counted(get(alerts::silences).post(alerts::create_silence), state, "alerts")
                .layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/api/v1/alerts/silences/{id}", counted(delete(alerts::expire_silence), state, "alerts"))
        .route(
            "/api/v1/alerts/acks",
            counted(post(alerts::ack), state, "alerts").layer(DefaultBodyLimit::max(16 * 1024)),
        );
    // Any other path under /api/ is the API's too: a credential first, then a JSON 404, never
    // a page.
    router = router.route("/api/{*path}", any(|| async { ApiError::NotFound("no such API endpoint".into()) }));
    // Any method: a request to a server function's path needs a credential whatever it asks
    // (the function answers a method it does not take itself).
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        let context = page_context(state);
        router = router.route(path, any(move |request| leptos_axum::handle_server_fns_with_context(context, request)));
    }
    router
}

/// The app's pages, rendered on the server, and every path no other route has (its 404 page,
/// a page too).
fn pages(state: &AppState, gate: &Gate) -> Router<AppState> {
    let gated = || middleware::from_fn_with_state(gate.with(Policy::Page), auth::gate::require);
    // A page's resources and `Suspense`s run as tasks on leptos' executor: tokio's, here.
    let _ = any_spawner::Executor::init_tokio();
    // Rendered whole before sending (leptos' `SsrMode::Async`): a page's first render waits
    // for its data, so the HTML carries real values.
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_async_with_context(page_context(state), move || shell(options.clone()));
    let rendered = Page::PATHS.into_iter().fold(Router::new(), |router, path| router.route(path, get(render.clone())));
    let rendered = rendered.route_layer(gated());
    let not_found = leptos_axum::file_and_error_handler_with_context::<AppState, _>(page_context(state), shell);
    rendered.fallback_service(Router::new().fallback(not_found).layer(gated()).with_state(state.clone()))
}

/// What every page rendering and server function can read besides the request: the server's
/// state (server functions, `loaders`) and the framing policy (the page's CSP).
fn page_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let state = state.clone();
    move || {
        provide_context(state.clone());
        provide_context(FrameAncestors(state.settings.frame_ancestors.clone()));
        provide_context(state.bundle.clone());
    }
}

/// Where requests may come from: bound to a loopback address (local open mode), only a
/// loopback `Host`; from a browser, only this server's own origin or an allowed one.
fn origin_policy(state: &AppState) -> Arc<auth::origin::OriginPolicy> {
    Arc::new(auth::origin::OriginPolicy {
        hosts: state.settings.host_allowlist(),
        allowed: state.settings.allowed_origins.clone(),
        errors: state.telemetry.clone(),
    })
}
