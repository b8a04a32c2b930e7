//! The `livedash` server binary: settings, logging, serve, graceful shutdown.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;
    use livedash::server::{self, config::Settings};
    use tracing_subscriber::EnvFilter;

    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let settings = Settings::parse();
    let listener = match tokio::net::TcpListener::bind(settings.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("livedash: cannot listen on {}: {error}", settings.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(
        site_root = settings.site_root,
        simulator = settings.simulator,
        host_metrics = settings.host_metrics,
        "starting"
    );
    let running = match server::start(settings, listener).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("livedash: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("livedash listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
#[cfg(feature = "ssr")]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build has no binary; its entry point is `livedash::hydrate`.
}
