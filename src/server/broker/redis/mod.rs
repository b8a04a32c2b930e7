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
/// How long an instance decides a dashboard's alerts after it last renewed (every second): an
/// instance killed hands them over within this.
const ALERT_LEASE: Duration = Duration::from_secs(5);
/// An update must reach Redis this long after it was sent at most, or it is refused there: by
/// then its request has been answered 503 (see `publish.lua`). A margin under the timeout.
const PUBLISH_DEADLINE: Millis = 1_750;

/// A dashboard's keys, with its hash tag.
struct Keys {
    meta: String,
    log: String,
    latest: String,
    /// Each alert rule's last announced change (JSON), by rule name.
    alerts: String,
}

impl Keys {
    fn of(dashboard: &str) -> Keys {
        Keys {
            meta: format!("livedash:{{{dashboard}}}:meta"),
            log: format!("livedash:{{{dashboard}}}:log"),
            latest: format!("livedash:{{{dashboard}}}:latest"),
            alerts: format!("livedash:{{{dashboard}}}:alerts"),
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
    /// Dashboards whose alert lease this instance holds: it decides their alert changes.
    deciding: Mutex<HashSet<String>>,
    /// Alert changes decided here, to announce in the order they were decided.
    announcements: tokio::sync::mpsc::UnboundedSender<Announcement>,
}

/// Alert changes this instance decided on `dashboard` at `ts`.
struct Announcement {
    dashboard: String,
    ts: Millis,
    changes: Vec<AlertChange>,
}

/// Announces alert changes one after the other (an announcement takes a Redis round trip,
/// which `commit`, running under `applying`, cannot wait for).
async fn announce_all(
    broker: Arc<RedisBroker>,
    mut announced: tokio::sync::mpsc::UnboundedReceiver<Announcement>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let announcement = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = announced.recv() => match next { Some(next) => next, None => return },
        };
        let dashboard = announcement.dashboard.clone();
        if let Err(error) = broker.announce(announcement).await {
            // Redis down: nobody can announce; the rules decide again on the next updates.
            tracing::warn!(%error, dashboard, "alert changes not announced");
        }
    }
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
        let (announcements, announced) = tokio::sync::mpsc::unbounded_channel();
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
        });
        tokio::spawn(announce_all(broker.clone(), announced, shutdown.clone()));
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

    /// Appends `drafts` (updates without their seq) in Redis: one script per update, all in
    /// one transaction when there are several. Returns each one's epoch and frame, in order.
    async fn append(&self, drafts: Vec<Update>) -> Result<Vec<(String, Frame)>, redis::RedisError> {
        let tails: Vec<UpdateTail> =
            drafts.iter().map(|draft| UpdateTail::with_alerts(draft.ts, &draft.metrics, &draft.alerts)).collect();
        let capacity = self.cache.limits().replay_capacity;
        let mut connection = self.redis.clone();
        let answers: Vec<(String, u64, u8)> = if let [draft] = &drafts[..] {
            let keys = Keys::of(&draft.dashboard);
            let mut invocation = self.publish.prepare_invoke();
            invocation.key(&keys.meta).key(&keys.log).key(&keys.latest);
            for arg in script_args(draft, &tails[0], capacity) {
                invocation.arg(arg);
            }
            vec![invocation.invoke_async(&mut connection).await?]
        } else {
            // EVAL, not EVALSHA: inside MULTI a missing script could not be loaded and retried.
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (draft, tail) in drafts.iter().zip(&tails) {
                let keys = Keys::of(&draft.dashboard);
                pipe.cmd("EVAL")
                    .arg(include_str!("publish.lua"))
                    .arg(3)
                    .arg(&keys.meta)
                    .arg(&keys.log)
                    .arg(&keys.latest);
                for arg in script_args(draft, tail, capacity) {
                    pipe.arg(arg);
                }
            }
            pipe.query_async(&mut connection).await?
        };
        let created: Vec<&str> = drafts
            .iter()
            .zip(&answers)
            .filter(|(draft, (_, _, created))| *created == 1 || !self.is_listed(&draft.dashboard))
            .map(|(draft, _)| draft.dashboard.as_str())
            .collect();
        if !created.is_empty() {
            redis::cmd("SADD").arg(INDEX).arg(&created).exec_async(&mut connection).await?;
            self.listed.lock().expect("listed lock poisoned").extend(created.iter().map(|id| id.to_string()));
        }
        Ok(drafts
            .into_iter()
            .zip(tails)
            .zip(answers)
            .map(|((mut update, tail), (epoch, seq, _))| {
                update.seq = seq;
                // The same bytes the script published.
                (epoch, Frame::update_with_tail(Arc::new(update), &tail))
            })
            .collect())
    }

    /// Whether the update `json` of `epoch` is one this instance's hub already has, read from
    /// the head the script writes (`{"type":"update","dashboard":"<id>","seq":<n>,`) without
    /// parsing the rest. Seqs only grow, so a yes stays true; anything unexpected is a no.
    fn already_applied(&self, epoch: &str, json: &str) -> bool {
        let Some((dashboard, seq)) = update_head(json) else { return false };
        self.cache.hub(dashboard).is_ok_and(|hub| &*hub.epoch == epoch && seq <= hub.seq())
    }

    fn is_listed(&self, dashboard: &str) -> bool {
        self.listed.lock().expect("listed lock poisoned").contains(dashboard)
    }

    /// Applies an update of `epoch` to this instance's hub: the next seq is committed, an old
    /// one skipped, anything else (a hole, another epoch, an unknown dashboard) sends the hub
    /// to Redis' log first.
    async fn apply(&self, epoch: &str, frame: Frame) -> Result<(), redis::RedisError> {
        let _one = self.applying.lock().await;
        self.apply_locked(epoch, frame, None).await
    }

    /// `apply` with `applying` held; `own` is the seq of an alert update this instance
    /// announced (it delivers that one's changes).
    async fn apply_locked(&self, epoch: &str, frame: Frame, own: Option<u64>) -> Result<(), redis::RedisError> {
        let dashboard = frame.logged().dashboard.clone();
        match self.cache.hub(&dashboard) {
            Ok(hub) if &*hub.epoch == epoch => {
                let held = hub.seq();
                if frame.seq <= held {
                    return Ok(());
                }
                if frame.seq == held + 1 {
                    self.commit(&hub, frame, own);
                    return Ok(());
                }
            }
            Err(_) if frame.seq == 1 => {
                let hub = self.cache.hub_in_epoch(&dashboard, epoch);
                self.commit(&hub, frame, own);
                return Ok(());
            }
            _ => {}
        }
        self.catch_up(&dashboard, own).await
    }

    /// Makes `frame` current on `hub` and records it for history; runs the dashboard's alert
    /// rules over it, and if this instance decides them and something changed, announces it.
    fn commit(&self, hub: &super::hub::Hub, frame: Frame, own: Option<u64>) {
        let update = frame.logged_arc();
        let decided_here = own == Some(update.seq);
        if let Some(store) = self.cache.store() {
            store.follow(vec![Entry { epoch: hub.epoch.clone(), update: update.clone(), decided_here }]);
        }
        hub.commit(frame);
        if !update.alerts.is_empty() {
            hub.follow_alerts(&update.alerts, decided_here);
        }
        if !update.metrics.is_empty() {
            let changes = hub.evaluate(&update.metrics, update.ts);
            if !changes.is_empty() && self.decides(&update.dashboard) {
                let _ = self.announcements.send(Announcement {
                    dashboard: update.dashboard.clone(),
                    ts: update.ts,
                    changes,
                });
            }
        }
        self.cache.enforce_budget();
    }

    /// Whether this instance holds `dashboard`'s alert lease (renewed by `tick`).
    fn decides(&self, dashboard: &str) -> bool {
        self.deciding.lock().expect("deciding lock poisoned").contains(dashboard)
    }

    /// Publishes alert changes this instance decided, as an update without values, and
    /// applies it here as this instance's own (so it is the one delivering them). Also keeps
    /// each rule's last change in Redis, for an instance that starts later.
    async fn announce(&self, announcement: Announcement) -> Result<(), redis::RedisError> {
        let Announcement { dashboard, ts, changes } = announcement;
        let _one = self.applying.lock().await;
        let draft = Update {
            dashboard: dashboard.clone(),
            seq: 0,
            from_seq: None,
            ts,
            metrics: Default::default(),
            alerts: changes,
        };
        let Some((epoch, frame)) = self.append(vec![draft]).await?.pop() else { return Ok(()) };
        let mut states = redis::pipe();
        for change in &frame.logged().alerts {
            let json = serde_json::to_string(change).expect("alert changes serialize");
            states.hset(Keys::of(&dashboard).alerts, &change.rule, json);
        }
        states.exec_async(&mut self.redis.clone()).await?;
        let seq = frame.seq;
        self.apply_locked(&epoch, frame, Some(seq)).await
    }

    /// Brings the hub of `dashboard` to what Redis holds: the updates after its seq from the
    /// log when the log still has them all, otherwise the whole state again (`resync`).
    /// Called with `applying` held; `own` as in `apply_locked`.
    async fn catch_up(&self, dashboard: &str, own: Option<u64>) -> Result<(), redis::RedisError> {
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
            self.commit(&hub, frame, own);
        }
        Ok(())
    }

    /// Starts the hub of `dashboard` again from Redis: its epoch, seq, latest values and log,
    /// read in one transaction. Its subscribers get a snapshot (or, if the epoch changed,
    /// subscribe again and get one). Called with `applying` held.
    async fn resync(&self, dashboard: &str) -> Result<(), redis::RedisError> {
        let keys = Keys::of(dashboard);
        let mut connection = self.redis.clone();
        type Read = (
            (Option<String>, Option<u64>, Option<Millis>),
            Vec<LogEntry>,
            Vec<(String, String)>,
            Vec<(String, String)>,
        );
        let ((epoch, seq, ts), entries, latest, alerts): Read = redis::pipe()
            .atomic()
            .hmget(&keys.meta, &["epoch", "seq", "ts"])
            .xrange_all(&keys.log)
            .hgetall(&keys.latest)
            .hgetall(&keys.alerts)
            .query_async(&mut connection)
            .await?;
        let (Some(epoch), Some(seq), Some(ts)) = (epoch, seq, ts) else { return Ok(()) };
        let hub = self.cache.hub_in_epoch(dashboard, &epoch);
        let updates: Vec<Arc<Update>> = parse_entries(entries).into_iter().map(|frame| frame.logged_arc()).collect();
        let log = updates.iter().map(|update| &**update);
        hub.reset(seq, ts, parse_latest(&latest), log.clone(), self.cache.limits().history_window_ms);
        if hub.has_alert_rules() {
            // The rules' memory from the log, then their states as last announced.
            for update in log {
                hub.evaluate(&update.metrics, update.ts);
            }
            let changes: Vec<AlertChange> =
                alerts.iter().filter_map(|(_, json)| serde_json::from_str(json).ok()).collect();
            hub.follow_alerts(&changes, false);
        }
        if let Some(store) = self.cache.store() {
            let epoch: Arc<str> = epoch.as_str().into();
            let entries = updates.into_iter().map(|update| Entry { epoch: epoch.clone(), update, decided_here: false });
            store.follow(entries.collect());
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
                self.catch_up(dashboard, None).await?;
            }
        }
        Ok(())
    }
}

/// An entry of a dashboard's log as `XRANGE` answers: its id and its fields and values.
type LogEntry = (String, Vec<String>);

/// What instances tell each other besides updates (sign-outs, silences), kept in Redis and
/// announced on a channel: `hear` calls `reload` after every (re)subscription (so what was
/// announced while the link was down is not missed), then `take` with each announcement.
#[async_trait]
pub trait Listener: Send + Sync + 'static {
    async fn reload(&self) -> Result<(), redis::RedisError>;
    async fn take(&self, announcement: String);
}

/// Follows `channel` into `listener` until `shutdown`; a lost link is tried again every
/// second. `what` names it in the log.
pub async fn hear(
    client: redis::Client,
    channel: &'static str,
    what: &'static str,
    listener: Arc<dyn Listener>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use futures::StreamExt;
    loop {
        let heard = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            listener.reload().await?;
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                if let Ok(payload) = message.get_payload::<String>() {
                    listener.take(payload).await;
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            result = heard => if let Err(error) = result {
                tracing::debug!(%error, what, "Redis link lost; trying again");
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The script's arguments after its keys (see `publish.lua`).
fn script_args(draft: &Update, tail: &UpdateTail, capacity: usize) -> Vec<String> {
    let mut args = Vec::with_capacity(7 + 2 * draft.metrics.len());
    args.push(new_epoch());
    args.push(capacity.to_string());
    args.push(CHANNEL.to_owned());
    args.push(serde_json::to_string(&draft.dashboard).expect("strings serialize"));
    args.push(draft.ts.to_string());
    args.push(tail.after_brace().to_owned());
    args.push((crate::server::now_millis() + PUBLISH_DEADLINE).to_string());
    for (name, value) in &draft.metrics {
        args.push(name.clone());
        // Debug: the shortest text that reads back as the same f64.
        args.push(format!("{value:?}"));
    }
    args
}

/// The dashboard and seq at the head of an update's JSON as the script writes it.
fn update_head(json: &str) -> Option<(&str, u64)> {
    let rest = json.strip_prefix(r#"{"type":"update","dashboard":""#)?;
    let (dashboard, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","seq":"#)?;
    Some((dashboard, rest.split(',').next()?.parse().ok()?))
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
        let drafts = batch
            .into_iter()
            .map(|Publication { dashboard, ts, metrics }| Update {
                dashboard,
                seq: 0,
                from_seq: None,
                ts,
                metrics,
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
        Ok(())
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
            let held = self.lease(&format!("{{{}}}:alerts", hub.id), ALERT_LEASE).await;
            let mut deciding = self.deciding.lock().expect("deciding lock poisoned");
            if held {
                deciding.insert(hub.id.clone());
            } else {
                deciding.remove(&hub.id);
            }
            drop(deciding);
            if held && hub.no_data_due(now) {
                let changes = hub.evaluate(&Default::default(), now);
                if !changes.is_empty() {
                    let _ = self.announcements.send(Announcement { dashboard: hub.id.clone(), ts: now, changes });
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_of_an_update_is_read_as_the_script_writes_it() {
        let update = Update {
            dashboard: "web-1".into(),
            seq: 42,
            from_seq: None,
            ts: 1_000,
            metrics: [("x".to_owned(), 1.5)].into(),
            alerts: Vec::new(),
        };
        let tail = UpdateTail::new(update.ts, &update.metrics);
        // `publish.lua` writes exactly this head before the tail.
        let scripted = format!(r#"{{"type":"update","dashboard":"web-1","seq":42,{}"#, tail.after_brace());
        let frame = Frame::update_with_tail(Arc::new(update), &tail);
        assert_eq!(frame.json.as_str(), scripted);
        assert_eq!(update_head(&scripted), Some(("web-1", 42)));
        assert_eq!(update_head(r#"{"type":"snapshot","dashboard":"web-1","seq":42}"#), None);
        assert_eq!(update_head(r#"{"type":"update","dashboard":"d","seq":x,"#), None);
    }
}
