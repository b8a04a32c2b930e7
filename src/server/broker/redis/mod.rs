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

mod follow;

use super::{
    frame::UpdateTail, hub::new_epoch, Broker, BrokerError, Declaration, Frame, MemoryBroker, Publication,
    SnapshotFrame, Subscription,
};
use crate::model::latest::Latest;
use crate::protocol::{AlertChange, DashboardSummary, Millis, Position, ServerMessage, Snapshot, Update};
use crate::server::store::Entry;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The channel every instance listens on.
const CHANNEL: &str = "livedash:updates";
/// The set of dashboards Redis holds.
const INDEX: &str = "livedash:dashboards";

/// How long a Redis command may take before the request that needed it fails (503).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// An update must reach Redis this long after it was sent at most, or it is refused there: by
/// then its request has been answered 503 (see `publish.lua`). A margin under the timeout.
const PUBLISH_DEADLINE: Millis = 1_750;

/// A dashboard's keys, with its hash tag.
struct Keys {
    meta: String,
    log: String,
    latest: String,
}

impl Keys {
    fn of(dashboard: &str) -> Keys {
        Keys {
            meta: format!("livedash:{{{dashboard}}}:meta"),
            log: format!("livedash:{{{dashboard}}}:log"),
            latest: format!("livedash:{{{dashboard}}}:latest"),
        }
    }
}

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
}

impl RedisBroker {
    /// A broker on the Redis at `url` (`redis://host:6379/0`, `unix:///path`), with `cache`
    /// as this instance's hubs (recovered from its history store: where it left each log).
    /// Starts following; returns once the first catch-up is done, or after a few seconds if
    /// Redis does not answer (it catches up when Redis comes back).
    pub async fn start(
        url: &str,
        cache: MemoryBroker,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Arc<RedisBroker>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
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
        });
        let (ready, caught_up) = tokio::sync::oneshot::channel();
        tokio::spawn(follow::run(broker.clone(), ready, shutdown));
        if tokio::time::timeout(Duration::from_secs(5), caught_up).await.is_err() {
            tracing::warn!("Redis did not answer at startup; serving what this instance holds until it does");
        }
        Ok(broker)
    }

    /// The Redis this broker uses, for what else instances share through it (sign-outs).
    pub fn redis(&self) -> (redis::Client, ConnectionManager) {
        (self.client.clone(), self.redis.clone())
    }

    /// Appends the batch in Redis: one script per update, all in one transaction when the
    /// batch has several. Returns each update's epoch and frame, in the batch's order.
    async fn append(&self, batch: &[Publication]) -> Result<Vec<(String, Frame)>, redis::RedisError> {
        let tails: Vec<UpdateTail> = batch.iter().map(|p| UpdateTail::new(p.ts, &p.metrics)).collect();
        let capacity = self.cache.limits().replay_capacity;
        let mut connection = self.redis.clone();
        let answers: Vec<(String, u64, u8)> = if let [publication] = batch {
            let keys = Keys::of(&publication.dashboard);
            let mut invocation = self.publish.prepare_invoke();
            invocation.key(&keys.meta).key(&keys.log).key(&keys.latest);
            for arg in script_args(publication, &tails[0], capacity) {
                invocation.arg(arg);
            }
            vec![invocation.invoke_async(&mut connection).await?]
        } else {
            // EVAL, not EVALSHA: inside MULTI a missing script could not be loaded and retried.
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (publication, tail) in batch.iter().zip(&tails) {
                let keys = Keys::of(&publication.dashboard);
                pipe.cmd("EVAL")
                    .arg(include_str!("publish.lua"))
                    .arg(3)
                    .arg(&keys.meta)
                    .arg(&keys.log)
                    .arg(&keys.latest);
                for arg in script_args(publication, tail, capacity) {
                    pipe.arg(arg);
                }
            }
            pipe.query_async(&mut connection).await?
        };
        let created: Vec<&str> = batch
            .iter()
            .zip(&answers)
            .filter(|(publication, (_, _, created))| *created == 1 || !self.is_listed(&publication.dashboard))
            .map(|(publication, _)| publication.dashboard.as_str())
            .collect();
        if !created.is_empty() {
            redis::cmd("SADD").arg(INDEX).arg(&created).exec_async(&mut connection).await?;
            self.listed.lock().expect("listed lock poisoned").extend(created.iter().map(|id| id.to_string()));
        }
        Ok(batch
            .iter()
            .zip(tails)
            .zip(answers)
            .map(|((publication, tail), (epoch, seq, _))| {
                let update = Update {
                    dashboard: publication.dashboard.clone(),
                    seq,
                    from_seq: None,
                    ts: publication.ts,
                    metrics: publication.metrics.clone(),
                    alerts: Vec::new(),
                };
                // The same bytes the script published.
                (epoch, Frame::update_with_tail(Arc::new(update), &tail))
            })
            .collect())
    }

    fn is_listed(&self, dashboard: &str) -> bool {
        self.listed.lock().expect("listed lock poisoned").contains(dashboard)
    }

    /// Applies an update of `epoch` to this instance's hub: the next seq is committed, an old
    /// one skipped, anything else (a hole, another epoch, an unknown dashboard) sends the hub
    /// to Redis' log first.
    async fn apply(&self, epoch: &str, frame: Frame) -> Result<(), redis::RedisError> {
        let _one = self.applying.lock().await;
        let dashboard = frame.logged().dashboard.clone();
        match self.cache.hub(&dashboard) {
            Ok(hub) if &*hub.epoch == epoch => {
                let held = hub.seq();
                if frame.seq <= held {
                    return Ok(());
                }
                if frame.seq == held + 1 {
                    self.commit(&hub, frame);
                    return Ok(());
                }
            }
            Err(_) if frame.seq == 1 => {
                let hub = self.cache.hub_in_epoch(&dashboard, epoch);
                self.commit(&hub, frame);
                return Ok(());
            }
            _ => {}
        }
        self.catch_up(&dashboard).await
    }

    fn commit(&self, hub: &super::hub::Hub, frame: Frame) {
        if let Some(store) = self.cache.store() {
            store.follow(vec![Entry { epoch: hub.epoch.clone(), update: frame.logged_arc() }]);
        }
        hub.commit(frame);
        self.cache.enforce_budget();
    }

    /// Brings the hub of `dashboard` to what Redis holds: the updates after its seq from the
    /// log when the log still has them all, otherwise the whole state again (`resync`).
    /// Called with `applying` held.
    async fn catch_up(&self, dashboard: &str) -> Result<(), redis::RedisError> {
        let keys = Keys::of(dashboard);
        let hub = self.cache.hub(dashboard).ok();
        let after = hub.as_ref().map_or(0, |hub| hub.seq());
        let mut connection = self.redis.clone();
        let ((epoch, seq), entries): ((Option<String>, Option<u64>), Vec<LogEntry>) = redis::pipe()
            .atomic()
            .hmget(&keys.meta, &["epoch", "seq"])
            .xrange(&keys.log, format!("{}-0", after + 1), "+")
            .query_async(&mut connection)
            .await?;
        let (Some(epoch), Some(seq)) = (epoch, seq) else { return Ok(()) };
        let Some(hub) = hub.filter(|hub| *hub.epoch == *epoch) else { return self.resync(dashboard).await };
        if seq < after {
            // Redis went back (restarted from an older save, or failed over to a replica that
            // missed writes): seqs this instance served would be handed out again.
            tracing::warn!(dashboard, epoch, redis_seq = seq, held_seq = after, "Redis lost updates; new epoch");
            let _: String =
                self.new_epoch.key(&keys.meta).arg(&epoch).arg(new_epoch()).invoke_async(&mut connection).await?;
            return self.resync(dashboard).await;
        }
        let frames = parse_entries(entries);
        if seq > after && frames.first().map(|frame| frame.seq) != Some(after + 1) {
            // The log no longer reaches back to this hub's seq.
            return self.resync(dashboard).await;
        }
        for frame in frames {
            self.commit(&hub, frame);
        }
        Ok(())
    }

    /// Starts the hub of `dashboard` again from Redis: its epoch, seq, latest values and log,
    /// read in one transaction. Its subscribers get a snapshot (or, if the epoch changed,
    /// subscribe again and get one). Called with `applying` held.
    async fn resync(&self, dashboard: &str) -> Result<(), redis::RedisError> {
        let keys = Keys::of(dashboard);
        let mut connection = self.redis.clone();
        type Read = ((Option<String>, Option<u64>, Option<Millis>), Vec<LogEntry>, Vec<(String, String)>);
        let ((epoch, seq, ts), entries, latest): Read = redis::pipe()
            .atomic()
            .hmget(&keys.meta, &["epoch", "seq", "ts"])
            .xrange_all(&keys.log)
            .hgetall(&keys.latest)
            .query_async(&mut connection)
            .await?;
        let (Some(epoch), Some(seq), Some(ts)) = (epoch, seq, ts) else { return Ok(()) };
        let hub = self.cache.hub_in_epoch(dashboard, &epoch);
        let updates: Vec<Arc<Update>> = parse_entries(entries).into_iter().map(|frame| frame.logged_arc()).collect();
        let log: Vec<Update> = updates.iter().map(|update| (**update).clone()).collect();
        hub.reset(seq, ts, parse_latest(&latest), &log, self.cache.limits().history_window_ms);
        if let Some(store) = self.cache.store() {
            let epoch: Arc<str> = epoch.as_str().into();
            store.follow(updates.into_iter().map(|update| Entry { epoch: epoch.clone(), update }).collect());
        }
        self.cache.enforce_budget();
        tracing::info!(dashboard, epoch, seq, "caught up from Redis' latest values and log");
        Ok(())
    }

    /// Every dashboard Redis lists whose hub here is not where Redis is, caught up: after the
    /// pub/sub link (re)connects, and every few seconds for a link that died silently.
    async fn sweep(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.redis.clone();
        let listed: Vec<String> = redis::cmd("SMEMBERS").arg(INDEX).query_async(&mut connection).await?;
        if listed.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for dashboard in &listed {
            pipe.hmget(Keys::of(dashboard).meta, &["epoch", "seq"]);
        }
        let heads: Vec<(Option<String>, Option<u64>)> = pipe.query_async(&mut connection).await?;
        self.listed.lock().expect("listed lock poisoned").extend(listed.iter().cloned());
        for (dashboard, head) in listed.iter().zip(heads) {
            let (Some(epoch), Some(seq)) = head else { continue };
            let current = self.cache.hub(dashboard).is_ok_and(|hub| *hub.epoch == *epoch && hub.seq() == seq);
            if !current {
                let _one = self.applying.lock().await;
                self.catch_up(dashboard).await?;
            }
        }
        Ok(())
    }
}

/// An entry of a dashboard's log as `XRANGE` answers: its id and its fields and values.
type LogEntry = (String, Vec<String>);

/// The script's arguments after its keys (see `publish.lua`).
fn script_args(publication: &Publication, tail: &UpdateTail, capacity: usize) -> Vec<String> {
    let mut args = Vec::with_capacity(7 + 2 * publication.metrics.len());
    args.push(new_epoch());
    args.push(capacity.to_string());
    args.push(CHANNEL.to_owned());
    args.push(serde_json::to_string(&publication.dashboard).expect("strings serialize"));
    args.push(publication.ts.to_string());
    args.push(tail.after_brace().to_owned());
    args.push((crate::server::now_millis() + PUBLISH_DEADLINE).to_string());
    for (name, value) in &publication.metrics {
        args.push(name.clone());
        // Debug: the shortest text that reads back as the same f64.
        args.push(format!("{value:?}"));
    }
    args
}

/// The frames of log entries (`XRANGE`), in order; an entry that does not read as an update
/// (written by something else) is skipped with a warning.
fn parse_entries(entries: Vec<LogEntry>) -> Vec<Frame> {
    entries
        .into_iter()
        .filter_map(|(id, fields)| {
            let json = fields.into_iter().nth(1)?;
            let frame = Frame::received(json);
            if frame.is_none() {
                tracing::warn!(id, "a log entry in Redis is not an update; skipped");
            }
            frame
        })
        .collect()
}

/// The latest values Redis holds (`name -> "<ts> <value>"`), each at its own time.
fn parse_latest(latest: &[(String, String)]) -> Latest {
    let mut parsed = Latest::default();
    for (name, point) in latest {
        let Some((ts, value)) = point.split_once(' ') else { continue };
        if let (Ok(ts), Ok(value)) = (ts.parse::<Millis>(), value.parse::<f64>()) {
            parsed.apply(ts, &[(name.clone(), value)].into());
        }
    }
    parsed
}

/// Why a Redis failure refuses a publication: Redis is the only place a seq comes from.
fn unavailable(error: redis::RedisError) -> BrokerError {
    BrokerError::Unavailable(format!("Redis: {error}"))
}

#[async_trait]
impl Broker for RedisBroker {
    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError> {
        self.cache.declare(declaration).await
    }

    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.cache.admit(&batch)?;
        let appended = self.append(&batch).await.map_err(unavailable)?;
        for (epoch, frame) in appended {
            // Published already; this instance shows it now rather than after the round trip
            // through pub/sub (which then skips it).
            if let Err(error) = self.apply(&epoch, frame).await {
                tracing::warn!(%error, "published update not applied here yet; the sweep will");
            }
        }
        Ok(())
    }

    async fn subscribe(&self, dashboard: &str, since: Option<&Position>) -> Result<Subscription, BrokerError> {
        // A position ahead of this instance (the client came from one that was further): catch
        // up first, so it resumes rather than getting a snapshot.
        if let (Some(since), Ok(hub)) = (since, self.cache.hub(dashboard)) {
            if since.epoch == *hub.epoch && since.seq > hub.seq() {
                let _one = self.applying.lock().await;
                if let Err(error) = self.catch_up(dashboard).await {
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

    async fn tick(&self, _now: Millis) -> Result<(), BrokerError> {
        Ok(())
    }
}

impl Frame {
    /// An update frame from its JSON as Redis holds it, kept as received (the same bytes go
    /// to every subscriber).
    fn received(json: String) -> Option<Frame> {
        let ServerMessage::Update(update) = serde_json::from_str(&json).ok()? else { return None };
        Some(Frame { seq: update.seq, is_snapshot: false, json: json.into(), update: Some(Arc::new(update)) })
    }
}
