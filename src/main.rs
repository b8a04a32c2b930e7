//! The `livedash` server binary: settings, logging, serve, graceful shutdown.

/// mimalloc instead of the system allocator: see the note on the dependency in Cargo.toml.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use livedash::server::{
        self,
        settings::{LoadError, Settings},
    };
    use tracing_subscriber::EnvFilter;

    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `livedash hash-password`, `livedash token ...`: tools, not the server.
    if args.get(1).and_then(|arg| arg.to_str()).is_some_and(server::tools::is_tool) {
        return server::tools::run(&args);
    }
    let settings = match Settings::load(&args) {
        Ok(settings) => settings,
        Err(LoadError::Flags(error)) => error.exit(),
        Err(LoadError::File(error)) => {
            eprintln!("livedash: configuration error: {error}");
            eprintln!("livedash: not starting with a half-read configuration");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(refusal) = settings.refuses_to_start() {
        eprintln!("livedash: {refusal}");
        return std::process::ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(settings.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("livedash: cannot listen on {}: {error}", settings.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    print_startup(&settings);
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

/// What this run uses, so nobody has to guess: configuration, storage, dashboards.
#[cfg(feature = "ssr")]
fn print_startup(settings: &livedash::server::settings::Settings) {
    let config = settings.config.as_ref().map_or("built-in defaults".to_owned(), |path| path.display().to_string());
    println!("livedash configuration: {config}");
    if settings.persist {
        println!(
            "livedash history: {} (sync {:?}; kept {} per second, {} per minute, {} per hour, {} per day)",
            settings.data.display(),
            settings.sync,
            settings.retain_seconds,
            settings.retain_minutes,
            settings.retain_hours,
            settings.retain_days,
        );
    } else {
        println!("livedash history: in memory only (--persist false)");
    }
    println!(
        "livedash memory: at most {} of updates kept for resuming clients and charts (--retain-memory)",
        livedash::server::broker::budget::format_size(settings.retain_memory())
    );
    if settings.redis.is_some() {
        println!("livedash instances: one of several, through Redis (--redis)");
    }
    for dashboard in &settings.dashboards {
        let running = settings.running_sources(dashboard);
        if running.is_empty() && dashboard.built_in {
            continue;
        }
        let sources: Vec<String> = running.iter().map(|s| format!("{s:?}").to_lowercase()).collect();
        let fed = if sources.is_empty() { "ingest".to_owned() } else { format!("{} + ingest", sources.join(", ")) };
        println!("livedash dashboard: {} ({fed})", dashboard.id);
    }
    if settings.is_secured() {
        println!(
            "livedash access: sign-in required ({} users, {} API tokens{}; sessions last {} idle, {} at most)",
            settings.users.len(),
            settings.tokens.len(),
            if settings.ingest_token.is_some() { ", ingest token" } else { "" },
            settings.session_idle,
            settings.session_absolute,
        );
    } else if !settings.addr.ip().is_loopback() {
        println!("livedash access: OPEN TO EVERYONE who can reach {} (--insecure-open): no sign-in, every dashboard readable{}", settings.addr,
            if settings.ingest_token.is_some() { "" } else { " and writable" });
    } else {
        println!("livedash access: open on this machine only (add [[users]] to require sign-in; docs/security.md)");
        if settings.ingest_token.is_none() {
            println!("livedash ingest: open (set LIVEDASH_INGEST_TOKEN to require a token)");
        }
    }
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
