//! Server settings: command-line flags with `LIVEDASH_*` environment fallbacks (and Leptos'
//! own `LEPTOS_SITE_ADDR` / `LEPTOS_SITE_ROOT`), each documented in `livedash --help`.

pub mod file;

use super::alerts::{eval::rules::AlertRule, notify::receivers::ReceiverConfig};
use super::auth::{api_tokens::TokenConfig, origin::Origin, secret::MIN_SECRET_BYTES, users::UserConfig};
use super::clock::Clock;
use super::store::{tier::Retention, StoreOptions, SyncMode};
pub use crate::server::config::{parse_millis, ConfigError, Secret};
use crate::server::sources::dashboards::{DashboardConfig, SourceKind};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use std::{ffi::OsString, net::SocketAddr, path::PathBuf, time::Duration};

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{text:?}: {error} (e.g. 24h, 30d)"))
}

/// A duration as it was written (`365d`), so that startup can say what was configured rather
/// than humantime's `11months 30days 3h 50m 24s`.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenDuration {
    pub duration: Duration,
    text: String,
}

impl std::fmt::Display for WrittenDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_written_duration(text: &str) -> Result<WrittenDuration, String> {
    Ok(WrittenDuration { duration: parse_duration(text)?, text: text.trim().to_owned() })
}

/// CSP source expressions separated by spaces; nothing that could end the directive.
fn parse_frame_ancestors(text: &str) -> Result<String, String> {
    let sources: Vec<&str> = text.split_whitespace().collect();
    let valid = !sources.is_empty()
        && sources.iter().all(|source| source.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',')));
    if valid {
        Ok(sources.join(" "))
    } else {
        Err(format!("{text:?} is not a list of CSP sources like 'self' https://portal.example.com"))
    }
}

fn parse_token(text: &str) -> Result<Secret, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::from(text.trim()))
}

fn parse_auth_secret(text: &str) -> Result<Secret, String> {
    if text.len() < MIN_SECRET_BYTES {
        return Err(format!("must be at least {MIN_SECRET_BYTES} bytes (try `openssl rand -hex 32`)"));
    }
    Ok(Secret::from(text))
}

/// A Redis URL the client library accepts; kept secret (it may carry a password).
fn parse_redis_url(text: &str) -> Result<Secret, String> {
    match redis::Client::open(text.trim()) {
        Ok(_) => Ok(Secret::from(text.trim())),
        // The library's message, without the URL (it may carry a password).
        Err(error) => {
            Err(format!("not a Redis URL like redis://host:6379/0 or unix:///run/redis.sock ({:?})", error.kind()))
        }
    }
}

/// A dashboard id as given on the command line.
fn parse_dashboard_id(text: &str) -> Result<String, String> {
    crate::protocol::check_dashboard_id(text.trim()).map_err(|error| error.to_string())?;
    Ok(text.trim().to_owned())
}

/// What goes after `host-` in a dashboard id.
fn parse_instance_name(text: &str) -> Result<String, String> {
    let name = text.trim().to_ascii_lowercase();
    if crate::protocol::is_valid_dashboard_id(&format!("host-{name}")) {
        Ok(name)
    } else {
        Err(format!("{text:?}: letters, digits, '-' and '_' only (it names the dashboard host-<name>)"))
    }
}

/// The public origin; a trailing `/` is forgiven.
fn parse_public_url(text: &str) -> Result<Origin, String> {
    parse_origin(text.trim().trim_end_matches('/'))
}

fn parse_origin(text: &str) -> Result<Origin, String> {
    Origin::parse(text.trim()).ok_or_else(|| format!("{text:?} is not an origin like https://dash.example.com"))
}

/// `normal` or `full`; the store itself knows nothing of flags.
fn parse_sync(text: &str) -> Result<SyncMode, String> {
    match text {
        "normal" => Ok(SyncMode::Normal),
        "full" => Ok(SyncMode::Full),
        other => Err(format!("{other:?} is not one of normal, full")),
    }
}

#[derive(Clone, Debug, Parser)]
#[command(name = "livedash", version, about = "A real-time metrics dashboard: ingest, stream, chart.")]
pub struct Settings {
    /// A TOML file of settings (by flag name) and dashboards; flags and LIVEDASH_* variables
    /// override what it says.
    #[arg(long, env = "LIVEDASH_CONFIG")]
    pub config: Option<PathBuf>,

    /// The dashboards to serve: from `--config`, else the built-in `main` and `host`.
    #[arg(skip = crate::server::sources::dashboards::default_dashboards())]
    pub dashboards: Vec<DashboardConfig>,

    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder with the built client (WASM, JS, CSS, public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Run the demo business simulator on the `main` dashboard.
    #[arg(long, env = "LIVEDASH_SIMULATOR", default_value_t = true, action = ArgAction::Set)]
    pub simulator: bool,

    /// Collect this machine's metrics on the `host` dashboard.
    #[arg(long, env = "LIVEDASH_HOST_METRICS", default_value_t = true, action = ArgAction::Set)]
    pub host_metrics: bool,

    /// How often the built-in sources sample, in milliseconds.
    #[arg(long = "tick-ms", env = "LIVEDASH_TICK_MS", default_value = "1000", value_parser = parse_millis)]
    pub tick: Duration,

    /// With several instances: how long one keeps running a built-in source after it last
    /// renewed its claim (each tick), in milliseconds; one that dies hands it over within this.
    /// Default: three ticks and two seconds.
    #[arg(long = "source-lease-ms", env = "LIVEDASH_SOURCE_LEASE_MS", value_parser = parse_millis)]
    pub source_lease: Option<Duration>,

    /// Updates kept per dashboard for resuming clients and chart history.
    #[arg(long, env = "LIVEDASH_REPLAY_CAPACITY", default_value_t = 4096)]
    pub replay_capacity: usize,

    /// Memory for what the server retains for resuming clients and chart history, across all
    /// dashboards (`512MiB`, `2GB`); past it the oldest updates go first. Default: a quarter
    /// of this machine's memory.
    #[arg(long, env = "LIVEDASH_RETAIN_MEMORY", value_parser = crate::server::broker::budget::parse_size)]
    pub retain_memory: Option<usize>,

    /// How much history a snapshot carries for charts, in seconds.
    #[arg(long, env = "LIVEDASH_HISTORY_WINDOW_SECS", default_value_t = 300)]
    pub history_window_secs: u32,

    /// Updates buffered per subscriber before a slow one is resynced with a snapshot.
    #[arg(long, env = "LIVEDASH_LIVE_BUFFER", default_value_t = 1024)]
    pub live_buffer: usize,

    /// The transports' limits (`--heartbeat-ms`, `--max-frame-bytes`, ...), owned by `stream`.
    #[command(flatten)]
    pub stream: crate::server::stream::StreamLimits,

    /// Open WebSocket connections at most; more are refused with 503.
    #[arg(long, env = "LIVEDASH_MAX_CONNECTIONS", default_value_t = 16384)]
    pub max_connections: usize,

    /// WebSocket connections and SSE streams one client address may hold open; more get 503.
    /// Behind a proxy every client shares its address: raise it there.
    #[arg(long, env = "LIVEDASH_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 1000)]
    pub max_connections_per_client: usize,

    /// Largest ingest request body, in bytes (after gzip decompression).
    #[arg(long, env = "LIVEDASH_MAX_INGEST_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_ingest_bytes: usize,

    /// Metric values one ingest request may carry at most.
    #[arg(long, env = "LIVEDASH_MAX_VALUES_PER_REQUEST", default_value_t = 200_000)]
    pub max_values_per_request: usize,

    /// Dashboards at most; ingest that would create more is refused (422).
    #[arg(long, env = "LIVEDASH_MAX_DASHBOARDS", default_value_t = 1_000)]
    pub max_dashboards: usize,

    /// Metrics per dashboard at most; ingest that would add more is refused (422).
    #[arg(long, env = "LIVEDASH_MAX_METRICS_PER_DASHBOARD", default_value_t = 10_000)]
    pub max_metrics_per_dashboard: usize,

    /// The OpenTelemetry resource attribute whose value names the dashboard of its metrics
    /// (`POST /v1/metrics`; made a valid dashboard id).
    #[arg(long, env = "LIVEDASH_OTLP_DASHBOARD_ATTRIBUTE", default_value = "service.name")]
    pub otlp_dashboard_attribute: String,

    /// Where to listen for StatsD and DogStatsD over UDP (`127.0.0.1:8125`); off when not given.
    #[arg(long, env = "LIVEDASH_STATSD_ADDR")]
    pub statsd_addr: Option<std::net::SocketAddr>,

    /// The dashboard StatsD metrics are flushed into, every second.
    #[arg(long, env = "LIVEDASH_STATSD_DASHBOARD", default_value = "statsd", value_parser = parse_dashboard_id)]
    pub statsd_dashboard: String,

    /// Origins allowed to call the server from a browser besides its own, comma-separated
    /// (`https://dash.example.com`); requests from any other origin get 403.
    #[arg(long, env = "LIVEDASH_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub allowed_origins: Vec<Origin>,

    /// Host names the server answers to besides loopback names, IP addresses and the
    /// `--public-url`'s, comma-separated (`dash.example.com,dash.internal`). Without sign-in
    /// these are the only names it answers to (no page can rebind a name of its own to this
    /// server); with sign-in, when given, they are checked too.
    #[arg(long, env = "LIVEDASH_ALLOWED_HOSTS", value_delimiter = ',', value_parser = crate::server::auth::origin::parse_host_name)]
    pub allowed_hosts: Vec<String>,

    /// Who may show the pages in a frame: the CSP `frame-ancestors` sources (`'self'`,
    /// `https://portal.example.com`); `'none'` forbids framing.
    #[arg(long, env = "LIVEDASH_FRAME_ANCESTORS", default_value = "'none'", value_parser = parse_frame_ancestors)]
    pub frame_ancestors: String,

    /// Token ingest requests must carry (`Authorization: Token <t>` or `Bearer <t>`);
    /// without one, ingest is open to whoever can reach the address.
    #[arg(long, env = "LIVEDASH_INGEST_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub ingest_token: Option<Secret>,

    /// The HS256 secret that signs sessions and JWTs (at least 32 bytes). Setting it turns
    /// sign-in on; without it a secured server keeps a generated one beside `--data`.
    /// Instances that share sessions share it.
    #[arg(long, env = "LIVEDASH_AUTH_SECRET", hide_env_values = true, value_parser = parse_auth_secret)]
    pub auth_secret: Option<Secret>,

    /// People who sign in: `[[users]]` in the config file (docs/security.md).
    #[arg(skip)]
    pub users: Vec<UserConfig>,

    /// API tokens for agents and scripts: `[[tokens]]` in the config file (docs/security.md).
    #[arg(skip)]
    pub tokens: Vec<TokenConfig>,

    /// Alert rules: `[[alerts]]` in the config file (docs/alerts.md).
    #[arg(skip)]
    pub alerts: Vec<AlertRule>,

    /// Where alerts are delivered: `[[receivers]]` in the config file (docs/alerts.md).
    #[arg(skip)]
    pub receivers: Vec<ReceiverConfig>,

    /// Prometheus targets to scrape: `[[scrape]]` in the config file (docs/protocol.md).
    #[arg(skip)]
    pub scrape: Vec<crate::server::ingest::scrape::ScrapeConfig>,

    /// Alert delivery's pace (`--alert-retry-min-ms`, `--alert-resend-ms`, `--alert-poll-ms`),
    /// owned by `alerts::notify::delivery`.
    #[command(flatten)]
    pub delivery: crate::server::alerts::notify::delivery::DeliveryTiming,

    /// This server's public origin when a proxy terminates TLS (`https://dash.example.com`):
    /// session cookies become `Secure` and HSTS is sent.
    #[arg(long, env = "LIVEDASH_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<Origin>,

    /// Serve without sign-in on an address other than loopback: anyone who can reach it reads
    /// and writes everything.
    #[arg(long, env = "LIVEDASH_INSECURE_OPEN", action = ArgAction::SetTrue)]
    pub insecure_open: bool,

    /// A sign-in session unused for this long ends.
    #[arg(long, env = "LIVEDASH_SESSION_IDLE", default_value = "7d", value_parser = parse_written_duration)]
    pub session_idle: WrittenDuration,

    /// A sign-in session ends this long after signing in, used or not.
    #[arg(long, env = "LIVEDASH_SESSION_ABSOLUTE", default_value = "30d", value_parser = parse_written_duration)]
    pub session_absolute: WrittenDuration,

    /// The Redis that makes this instance one of a deployment (`redis://host:6379/0`,
    /// `unix:///run/redis.sock`): seqs, recent updates and latest values live there, and every
    /// instance serves every dashboard (docs/deploy.md). Without it this process is alone.
    #[arg(long, env = "LIVEDASH_REDIS", hide_env_values = true, value_parser = parse_redis_url)]
    pub redis: Option<Secret>,

    /// This instance's name among several (`--redis`): its host metrics go to the dashboard
    /// `host-<name>`. Default: the machine's host name and the port it listens on.
    #[arg(long, env = "LIVEDASH_INSTANCE_NAME", value_parser = parse_instance_name)]
    pub instance_name: Option<String>,

    /// How often an instance of several checks on Redis and how long its claims last
    /// (`--alert-lease-ms`, `--redis-sweep-ms`), owned by the Redis broker.
    #[command(flatten)]
    pub redis_timing: crate::server::broker::redis::RedisTiming,

    /// Keep history in the embedded store at `--data`; `false` keeps everything in memory only.
    #[arg(long, env = "LIVEDASH_PERSIST", default_value_t = true, action = ArgAction::Set)]
    pub persist: bool,

    /// The history store's SQLite file (its folder is created).
    #[arg(long, env = "LIVEDASH_DATA", default_value = "data/livedash.sqlite")]
    pub data: PathBuf,

    /// What an acknowledged ingest survives: `normal` a killed server, `full` also power loss
    /// (an fsync per commit).
    #[arg(long, env = "LIVEDASH_SYNC", default_value = "normal", value_parser = parse_sync)]
    pub sync: SyncMode,

    /// How long per-second history is kept.
    #[arg(long, env = "LIVEDASH_RETAIN_SECONDS", default_value = "24h", value_parser = parse_written_duration)]
    pub retain_seconds: WrittenDuration,

    /// How long per-minute rollups are kept.
    #[arg(long, env = "LIVEDASH_RETAIN_MINUTES", default_value = "30d", value_parser = parse_written_duration)]
    pub retain_minutes: WrittenDuration,

    /// How long per-hour rollups are kept.
    #[arg(long, env = "LIVEDASH_RETAIN_HOURS", default_value = "365d", value_parser = parse_written_duration)]
    pub retain_hours: WrittenDuration,

    /// How long per-day rollups are kept.
    #[arg(long, env = "LIVEDASH_RETAIN_DAYS", default_value = "1825d", value_parser = parse_written_duration)]
    pub retain_days: WrittenDuration,

    /// How often old history is deleted.
    #[arg(long, env = "LIVEDASH_RETENTION_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub retention_interval: Duration,

    /// How long shutdown waits for connections to close, in milliseconds.
    #[arg(long = "shutdown-grace-ms", env = "LIVEDASH_SHUTDOWN_GRACE_MS", default_value = "3000", value_parser = parse_millis)]
    pub shutdown_grace: Duration,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Bad flags or variables, or `--help`/`--version`: clap prints and exits.
    #[error(transparent)]
    Flags(#[from] clap::Error),
    #[error(transparent)]
    File(#[from] ConfigError),
}

/// A refused value of a secret setting (those whose environment values `--help` hides: the
/// Redis URL, the auth secret, the ingest token) told without the value, which may carry a
/// password; other errors as clap words them.
fn without_secret_values(error: clap::Error) -> LoadError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(error.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        return error.into();
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else { return error.into() };
    let command = Settings::command();
    let secret = command.get_arguments().find(|candidate| {
        candidate.is_hide_env_values_set()
            && candidate.get_long().is_some_and(|long| arg.split([' ', '=']).next() == Some(&format!("--{long}")))
    });
    let Some(secret) = secret else { return error.into() };
    let reason = std::error::Error::source(&error).map_or_else(|| "not a valid value".to_owned(), ToString::to_string);
    let flag = secret.get_long().unwrap_or_default();
    ConfigError(format!("invalid value for '--{flag}' (not shown: it is secret): {reason}")).into()
}

impl Settings {
    /// The defaults, as `livedash` with no flags and no environment would run.
    /// `--instance-name`, or this machine's host name and `port`, the one it listens on.
    pub fn instance(&self, port: u16) -> String {
        self.instance_name.clone().unwrap_or_else(|| {
            let host = sysinfo::System::host_name().unwrap_or_default().to_ascii_lowercase();
            let host: String =
                host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).take(40).collect();
            format!("{}-{}", if host.is_empty() { "node" } else { host.trim_matches('-') }, port)
        })
    }

    /// `--retain-memory`, or a quarter of this machine's memory when not given.
    pub fn retain_memory(&self) -> usize {
        self.retain_memory.unwrap_or_else(|| {
            let system = sysinfo::System::new_with_specifics(
                sysinfo::RefreshKind::nothing().with_memory(sysinfo::MemoryRefreshKind::nothing().with_ram()),
            );
            match system.total_memory() as usize {
                // A machine that does not say: 1 GiB.
                0 => 1 << 30,
                total => (total / 4).max(64 << 20),
            }
        })
    }

    pub fn defaults() -> Self {
        Settings::parse_from(["livedash"])
    }

    /// Settings from `args` (flags), the environment and the `--config` file they name.
    pub fn load<I, T>(args: I) -> Result<Settings, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let first = Settings::try_parse_from(&args).map_err(without_secret_values)?;
        let Some(path) = first.config.clone() else { return Ok(first) };
        let file = file::load(&path)?;
        let origin = path.display();
        // The file's values become the flags' defaults, below the environment and the flags.
        let mut command = Settings::command();
        for setting in &file.settings {
            let id = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(setting.flag.as_str()) && setting.flag != "config")
                .map(|arg| arg.get_id().clone())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{origin}:{}: unknown key '{}' (keys are the flags of `livedash --help`, or [[dashboards]])",
                        setting.line,
                        setting.flag.replace('-', "_")
                    ))
                })?;
            // Checked alone first, so a bad value is reported with its line.
            let flag = format!("--{}", setting.flag);
            if let Err(error) = Settings::try_parse_from(["livedash", flag.as_str(), setting.value.as_str()]) {
                let reason = match without_secret_values(error) {
                    LoadError::Flags(error) => error.to_string(),
                    LoadError::File(error) => error.0,
                };
                let reason = reason.lines().next().unwrap_or_default().trim_start_matches("error: ");
                return Err(ConfigError(format!(
                    "{origin}:{}: key '{}': {reason}",
                    setting.line,
                    setting.flag.replace('-', "_")
                ))
                .into());
            }
            command = command.mut_arg(id, |arg| arg.default_value(setting.value.clone()));
        }
        let matches = command.try_get_matches_from(&args).map_err(without_secret_values)?;
        let mut settings = Settings::from_arg_matches(&matches)?;
        if !file.dashboards.is_empty() {
            settings.dashboards = file.dashboards;
        }
        settings.users = file.users;
        settings.tokens = file.tokens;
        settings.alerts = file.alerts;
        settings.receivers = file.receivers;
        settings.scrape = file.scrape;
        Ok(settings)
    }

    /// Secured mode: a secret, a user or an API token is configured, so every read and write
    /// needs a credential. (`--ingest-token` alone guards ingest only, as before.)
    pub fn is_secured(&self) -> bool {
        self.auth_secret.is_some() || !self.users.is_empty() || !self.tokens.is_empty()
    }

    /// How long a built-in source's lease lasts (`--source-lease-ms`): held over a few missed
    /// ticks, so a slow tick does not hand it over.
    pub fn source_lease(&self) -> Duration {
        self.source_lease.unwrap_or(self.tick * 3 + Duration::from_secs(2))
    }

    /// What auth is configured with.
    pub fn auth_options(&self) -> crate::server::auth::AuthOptions<'_> {
        crate::server::auth::AuthOptions {
            secured: self.is_secured(),
            auth_secret: self.auth_secret.as_ref(),
            data: &self.data,
            secure_cookies: self.public_url.as_ref().is_some_and(|url| url.is_https()),
            lifetimes: crate::server::auth::Lifetimes {
                idle: self.session_idle.duration,
                absolute: self.session_absolute.duration,
            },
            users: &self.users,
            tokens: &self.tokens,
            ingest_token: self.ingest_token.as_ref(),
            revocations: self.persist.then_some(self.data.as_path()),
        }
    }

    /// The `Host` names answered to, when they are checked: always without sign-in (DNS
    /// rebinding), with sign-in only when `--allowed-hosts` lists some.
    pub fn host_allowlist(&self) -> Option<crate::server::auth::origin::HostAllowlist> {
        if self.is_secured() && self.allowed_hosts.is_empty() {
            return None;
        }
        let public = self.public_url.as_ref().map(|url| url.host().to_owned());
        let names = self.allowed_hosts.iter().cloned().chain(public).collect();
        Some(crate::server::auth::origin::HostAllowlist { names })
    }

    /// Why this server must not start as configured: open to every reader on an address other
    /// than loopback, unless `--insecure-open` says that is wanted.
    pub fn refuses_to_start(&self) -> Option<String> {
        if self.redis.is_some() && self.is_secured() && self.auth_secret.is_none() {
            return Some(
                "several instances (--redis) sign sessions and tokens with one secret: give each the same \
                 --auth-secret (LIVEDASH_AUTH_SECRET, e.g. `openssl rand -hex 32`)"
                    .to_owned(),
            );
        }
        if self.is_secured() || self.insecure_open || self.addr.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "refusing to serve {} without sign-in: anyone who can reach it would read and write every dashboard.\n\
             Add a user: `livedash hash-password` reads a password and prints its hash; put it in the config file as\n\
             \n  [[users]]\n  name = \"admin\"\n  password_hash = \"<the hash>\"\n  role = \"admin\"\n\n\
             (or set LIVEDASH_AUTH_SECRET, or add [[tokens]]); or pass --insecure-open to serve it open anyway.",
            self.addr
        ))
    }

    /// The sources of `dashboard` that run: those not turned off by `--simulator false` or
    /// `--host-metrics false`.
    pub fn running_sources(&self, dashboard: &DashboardConfig) -> Vec<SourceKind> {
        let on = |kind: &SourceKind| match kind {
            SourceKind::Simulator => self.simulator,
            SourceKind::Host => self.host_metrics,
        };
        dashboard.sources.iter().copied().filter(on).collect()
    }

    /// The history store's options, when persistence is on.
    pub fn store_options(&self, clock: &Clock) -> Option<StoreOptions> {
        self.persist.then(|| StoreOptions {
            path: self.data.clone(),
            sync: self.sync,
            retention: Retention {
                second: self.retain_seconds.duration,
                minute: self.retain_minutes.duration,
                hour: self.retain_hours.duration,
                day: self.retain_days.duration,
            },
            replay_capacity: self.replay_capacity,
            maintenance_interval: self.retention_interval,
            tables: vec![
                crate::server::alerts::notify::delivery::OUTBOX_SCHEMA,
                crate::server::alerts::notify::silences::SCHEMA,
                crate::server::auth::session::REVOCATIONS_SCHEMA,
            ],
            clock: clock.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_defaults() {
        let settings = Settings::try_parse_from([
            "livedash",
            "--addr",
            "0.0.0.0:8080",
            "--simulator",
            "false",
            "--tick-ms",
            "100",
        ])
        .unwrap();
        assert_eq!(settings.addr.port(), 8080);
        assert!(!settings.simulator);
        assert!(settings.host_metrics);
        assert_eq!(settings.tick, Duration::from_millis(100));
        assert!(Settings::try_parse_from(["livedash", "--tick-ms", "0"]).is_err());
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn a_config_file_sets_defaults_that_flags_override() {
        let config = file("tick_ms = 250\nmax-dashboards = 7\nsync = \"full\"\n[[dashboards]]\nid = \"shop\"\n");
        let path = config.path().to_str().unwrap();
        let settings = Settings::load(["livedash", "--config", path, "--max-dashboards", "9"]).unwrap();
        assert_eq!(settings.tick, Duration::from_millis(250), "from the file");
        assert_eq!(settings.max_dashboards, 9, "the flag wins");
        assert_eq!(settings.sync, SyncMode::Full);
        assert_eq!(settings.dashboards.len(), 1);
        assert_eq!(settings.dashboards[0].id, "shop");
        // Without a file: the built-in dashboards.
        let ids: Vec<_> = Settings::defaults().dashboards.into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["main", "host"]);
    }

    #[test]
    fn config_errors_name_file_line_and_key() {
        let cases = [
            ("addr = \"127.0.0.1:1\"\ncolour = \"red\"\n", ":2: unknown key 'colour'"),
            ("\n\ntick_ms = 0\n", ":3: key 'tick_ms': "),
            ("sync = \"sometimes\"\n", ":1: key 'sync': "),
            ("config = \"other.toml\"\n", ":1: unknown key 'config'"),
        ];
        for (text, expected) in cases {
            let config = file(text);
            let path = config.path().to_str().unwrap().to_owned();
            let Err(LoadError::File(error)) = Settings::load(["livedash", "--config", &path]) else {
                panic!("{text:?} was accepted");
            };
            assert!(error.0.starts_with(&path), "{error}");
            assert!(error.0.contains(expected), "{text:?}: {error}");
        }
        let missing = Settings::load(["livedash", "--config", "/nonexistent/livedash.toml"]);
        assert!(matches!(missing, Err(LoadError::File(error)) if error.0.contains("cannot read")));
    }

    #[test]
    fn a_refused_secret_is_reported_without_its_value() {
        let cases = [
            ["livedash", "--redis", "redis//:hunter2@cache.internal"],
            ["livedash", "--auth-secret", "hunter2-too-short"],
            ["livedash", "--ingest-token", "   "],
        ];
        for args in cases {
            let error = Settings::load(args).expect_err("refused").to_string();
            assert!(error.contains(args[1]), "names the setting: {error}");
            assert!(args[2].trim().is_empty() || !error.contains(args[2]), "the value is not shown: {error}");
        }
        let env_error = {
            let file = file("redis = \"redis//:hunter2@cache.internal\"\n");
            Settings::load(["livedash", "--config", file.path().to_str().unwrap()]).err().unwrap().to_string()
        };
        assert!(env_error.contains("redis") && !env_error.contains("hunter2"), "{env_error}");
        let plain = Settings::load(["livedash", "--tick-ms", "soon"]).err().unwrap().to_string();
        assert!(plain.contains("soon"), "other values are shown as typed: {plain}");
    }

    #[test]
    fn allowed_origins_come_as_a_list_or_comma_separated_and_are_checked() {
        let config = file("allowed_origins = [\"https://dash.example.com\", \"http://app.localhost:8080\"]\n");
        let path = config.path().to_str().unwrap();
        let settings = Settings::load(["livedash", "--config", path]).unwrap();
        let shown: Vec<String> = settings.allowed_origins.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["https://dash.example.com:443", "http://app.localhost:8080"]);
        let flags =
            Settings::try_parse_from(["livedash", "--allowed-origins", "https://a.example,https://b.example:8443"])
                .unwrap();
        assert_eq!(flags.allowed_origins.len(), 2);
        let bad =
            Settings::try_parse_from(["livedash", "--allowed-origins", "dash.example.com"]).unwrap_err().to_string();
        assert!(bad.contains("not an origin like https://dash.example.com"), "{bad}");
    }
}
