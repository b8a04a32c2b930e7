//! The Redis broker: several livedash instances as one deployment (`--redis`). Redis holds
//! each dashboard's truth: its epoch and seq, a log of its last `--replay-capacity` updates
//! and its latest values, written with the publish in one Lua script (`publish.lua`), so
//! concurrent ingest through any instances makes one gap-free sequence. Every instance keeps
//! its hubs (`MemoryBroker`) as caches of those logs, fed by pub/sub (`follow.rs`), and serves
//! subscribers from them exactly as a single process does:
//!
//! ```text
//! publish(batch) ── publish.lua per update (seq, log, latest, PUBLISH) ──> Redis
//!        │                                                                  │ pub/sub
//!        └─ apply (the script's answer) ──┐          follow: message ───────┤
//!                                         ▼                                 │ sweep (every 2 s)
//!     apply: next seq -> Hub::commit (+ history store) │ hole -> catch_up from the log
//!            log no longer holds it -> resync (latest + log, subscribers get a snapshot)
//! ```
//!
//! Keys (PROTOCOL.md "Several server instances"): `livedash:{<dashboard>}:meta`, `:log`,
//! `:latest` share the dashboard's hash tag; `livedash:dashboards` lists them; updates go out
//! on the `livedash:updates` channel as `<epoch> <frame JSON>`.

mod alerts;
mod append;
mod follow;
mod sync;

use super::{
    hub::new_epoch, Admission, Broker, BrokerError, Declaration, MemoryBroker, Publication, SnapshotFrame, Subscription,
};
use crate::protocol::{
    AlertChange, DashboardSummary, MetricDefinition, Millis, Position, SeriesKind, Snapshot, Update,
};
use crate::server::cluster::Link;
use alerts::Announcement;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The channel every instance listens on.
const CHANNEL: &str = "livedash:updates";
/// The set of dashboards Redis holds.
const INDEX: &str = "livedash:dashboards";

/// How long a Redis command may take before the request that needed it fails (503).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Alert announcements waiting for Redis at most; past it (Redis stalled for that many
/// decisions) the newest are dropped with a warning, as when Redis refuses them.
const ANNOUNCEMENTS_QUEUED: usize = 1024;
/// An update must reach Redis this long after it was sent at most, or it is refused there: by
/// then its request has been answered 503 (see `publish.lua`). A margin under the timeout.
const PUBLISH_DEADLINE: Millis = 1_750;

pub struct RedisBroker {
    /// This instance's hubs: caches of the logs in Redis.
    cache: MemoryBroker,
    client: redis::Client,
    /// Commands (reconnects by itself); pub/sub has its own connection (`follow`).
    redis: ConnectionManager,
    publish: redis::Script,
    new_epoch: redis::Script,
    lease: redis::Script,
    /// This process among the deployment's instances (for leases): random at each start.
    node: String,
    /// Held while updates are applied to the hubs, so each hub takes its updates once and in
    /// seq order whether they come from pub/sub, a publish's answer or the log.
    applying: tokio::sync::Mutex<()>,
    /// Dashboards this instance has seen listed in `INDEX`.
    listed: Mutex<HashSet<String>>,
    /// Dashboards whose alert lease this instance holds: it decides their alert changes.
    deciding: Mutex<HashSet<String>>,
    /// Alert changes decided here, to announce in the order they were decided.
    announcements: tokio::sync::mpsc::Sender<Announcement>,
    timing: RedisTiming,
}

/// How often an instance checks on Redis and how long its claims last: flags of their own,
/// flattened into the server's settings (tests make them short).
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct RedisTiming {
    /// With several instances: how long one decides a dashboard's alerts after it last
    /// renewed its claim (each second), in milliseconds; one that dies hands them over within
    /// this.
    #[arg(long = "alert-lease-ms", env = "LIVEDASH_ALERT_LEASE_MS", default_value = "5000", value_parser = crate::server::config::parse_millis)]
    pub alert_lease: Duration,
    /// With several instances: how often every dashboard is checked against Redis, in
    /// milliseconds (catches up after a pub/sub link that died silently).
    #[arg(long = "redis-sweep-ms", env = "LIVEDASH_REDIS_SWEEP_MS", default_value = "2000", value_parser = crate::server::config::parse_millis)]
    pub sweep_every: Duration,
}

impl RedisBroker {
    /// A broker on the Redis at `url` (`redis://host:6379/0`, `unix:///path`), with `cache`
    /// as this instance's hubs (recovered from its history store: where it left each log).
    /// Starts following; returns once the first catch-up is done, or after a few seconds if
    /// Redis does not answer (it catches up when Redis comes back).
    pub async fn start(
        url: &str,
        cache: MemoryBroker,
        timing: RedisTiming,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Arc<RedisBroker>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let (announcements, announced) = tokio::sync::mpsc::channel(ANNOUNCEMENTS_QUEUED);
        let broker = Arc::new(RedisBroker {
            cache,
            client,
            redis,
            publish: redis::Script::new(include_str!("publish.lua")),
            new_epoch: redis::Script::new(include_str!("new_epoch.lua")),
            lease: redis::Script::new(include_str!("lease.lua")),
            node: format!("{}-{}", std::process::id(), new_epoch()),
            applying: tokio::sync::Mutex::new(()),
            listed: Mutex::new(HashSet::new()),
            deciding: Mutex::new(HashSet::new()),
            announcements,
            timing,
        });
        tasks.spawn(alerts::announce_all(broker.clone(), announced, shutdown.clone()));
        let (ready, caught_up) = tokio::sync::oneshot::channel();
        tasks.spawn(follow::run(broker.clone(), ready, shutdown));
        if tokio::time::timeout(Duration::from_secs(5), caught_up).await.is_err() {
            tracing::warn!("Redis did not answer at startup; serving what this instance holds until it does");
        }
        Ok(broker)
    }

    /// The Redis this broker uses, for what else instances share through it (sign-outs,
    /// silences and acks).
    pub fn link(&self, shutdown: CancellationToken, tasks: TaskTracker) -> Link {
        Link::new(self.client.clone(), self.redis.clone(), shutdown, tasks)
    }
}

/// Why a Redis failure refuses a publication: Redis is the only place a seq comes from.
fn unavailable(error: redis::RedisError) -> BrokerError {
    BrokerError::Unavailable(format!("Redis: {error}"))
}

impl RedisBroker {
    /// `Broker::publish` and `publish_partial`: admits the batch against this instance's view
    /// of the limits, then appends it in Redis.
    async fn publish_admitted(&self, mut batch: Vec<Publication>, admission: Admission) -> Result<usize, BrokerError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let refused = self.cache.admit(&mut batch, admission)?;
        if batch.is_empty() {
            return Ok(refused);
        }
        let drafts = batch
            .into_iter()
            .map(|Publication { dashboard, ts, metrics, kinds }| Update {
                dashboard,
                seq: 0,
                from_seq: None,
                ts,
                metrics,
                kinds,
                alerts: Vec::new(),
            })
            .collect();
        let appended = self.append(drafts).await.map_err(unavailable)?;
        for (epoch, frame) in appended {
            // Published already; this instance shows it now rather than after the round trip
            // through pub/sub (which then skips it).
            if let Err(error) = self.apply(&epoch, frame).await {
                tracing::warn!(%error, "published update not applied here yet; the sweep will");
            }
        }
        Ok(refused)
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError> {
        self.cache.declare(declaration).await
    }

    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError> {
        self.publish_admitted(batch, Admission::Whole).await.map(|_| ())
    }

    async fn publish_partial(&self, batch: Vec<Publication>) -> Result<usize, BrokerError> {
        self.publish_admitted(batch, Admission::Partial).await
    }

    async fn subscribe(&self, dashboard: &str, since: Option<&Position>) -> Result<Subscription, BrokerError> {
        // A position ahead of this instance (the client came from one that was further): catch
        // up first, so it resumes rather than getting a snapshot.
        if let (Some(since), Ok(hub)) = (since, self.cache.hub(dashboard)) {
            if since.epoch == *hub.epoch && since.seq > hub.seq() {
                let _one = self.applying.lock().await;
                if let Err(error) = self.catch_up(dashboard, None).await {
                    tracing::warn!(%error, dashboard, "cannot catch up before a resume");
                }
            }
        }
        self.cache.subscribe(dashboard, since).await
    }

    async fn snapshot(&self, dashboard: &str) -> Result<Snapshot, BrokerError> {
        self.cache.snapshot(dashboard).await
    }

    async fn active_alerts(&self, dashboard: &str) -> Result<Vec<AlertChange>, BrokerError> {
        self.cache.active_alerts(dashboard).await
    }

    async fn snapshot_frame(&self, dashboard: &str) -> Result<SnapshotFrame, BrokerError> {
        self.cache.snapshot_frame(dashboard).await
    }

    async fn definitions(&self, dashboard: &str) -> Result<Vec<MetricDefinition>, BrokerError> {
        self.cache.definitions(dashboard).await
    }

    async fn kind(&self, dashboard: &str, metric: &str) -> Option<SeriesKind> {
        self.cache.kind(dashboard, metric).await
    }

    async fn dashboards(&self) -> Vec<DashboardSummary> {
        self.cache.dashboards().await
    }

    async fn lease(&self, name: &str, ttl: Duration) -> bool {
        let mut connection = self.redis.clone();
        let held: Result<u8, _> = self
            .lease
            .key(format!("livedash:lease:{name}"))
            .arg(&self.node)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut connection)
            .await;
        // Redis unreachable: nobody can be sure to be the only one, so nobody is.
        held.is_ok_and(|held| held == 1)
    }

    /// Renews this instance's alert leases (one per dashboard with rules: the instance holding
    /// it decides and announces that dashboard's changes), and runs the no-data timers of the
    /// dashboards it decides.
    async fn tick(&self, now: Millis) -> Result<(), BrokerError> {
        for hub in self.cache.all_hubs().into_iter().filter(|hub| hub.has_alert_rules()) {
            let held = self.lease(&format!("{{{}}}:alerts", hub.id), self.timing.alert_lease).await;
            let mut deciding = self.deciding.lock().expect("deciding lock poisoned");
            if held {
                deciding.insert(hub.id.clone());
            } else {
                deciding.remove(&hub.id);
            }
            drop(deciding);
            if held && hub.no_data_due(now) {
                let changes = hub.evaluate(&Default::default(), &Default::default(), now);
                if !changes.is_empty() {
                    self.queue_announcement(Announcement { dashboard: hub.id.clone(), ts: now, changes });
                }
            }
        }
        Ok(())
    }
}
