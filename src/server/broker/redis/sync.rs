//! Keeping this instance's hubs where Redis is: `apply` takes an update (from pub/sub, a
//! publish's answer or the log) in seq order, `catch_up` fills a hole from Redis' log,
//! `resync` starts a hub again from Redis' latest values and log when the log no longer
//! reaches back, and `sweep` checks every dashboard Redis lists (after every (re)subscription
//! and every few seconds). All of it runs under `RedisBroker::applying`, the one async lock
//! held across Redis round trips (docs/architecture.md says why).

use super::{alerts::Announcement, append::Keys, RedisBroker, INDEX};
use crate::model::latest::Latest;
use crate::protocol::{AlertChange, Millis, Update};
use crate::server::broker::{
    hub::{new_epoch, Hub},
    Frame,
};
use crate::server::store::Entry;
use std::sync::Arc;

impl RedisBroker {
    /// Applies an update of `epoch` to this instance's hub: the next seq is committed, an old
    /// one skipped, anything else (a hole, another epoch, an unknown dashboard) sends the hub
    /// to Redis' log first.
    pub(super) async fn apply(&self, epoch: &str, frame: Frame) -> Result<(), redis::RedisError> {
        let _one = self.applying.lock().await;
        self.apply_locked(epoch, frame, None).await
    }

    /// `apply` with `applying` held; `own` is the seq of an alert update this instance
    /// announced (it delivers that one's changes).
    pub(super) async fn apply_locked(
        &self,
        epoch: &str,
        frame: Frame,
        own: Option<u64>,
    ) -> Result<(), redis::RedisError> {
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
    pub(super) fn commit(&self, hub: &Hub, frame: Frame, own: Option<u64>) {
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
            let changes = hub.evaluate(&update.metrics, &update.kinds, update.ts);
            if !changes.is_empty() && self.decides(&update.dashboard) {
                self.queue_announcement(Announcement { dashboard: update.dashboard.clone(), ts: update.ts, changes });
            }
        }
        self.cache.enforce_budget();
    }

    /// Brings the hub of `dashboard` to what Redis holds: the updates after its seq from the
    /// log when the log still has them all, otherwise the whole state again (`resync`).
    /// Called with `applying` held; `own` as in `apply_locked`.
    pub(super) async fn catch_up(&self, dashboard: &str, own: Option<u64>) -> Result<(), redis::RedisError> {
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
    pub(super) async fn resync(&self, dashboard: &str) -> Result<(), redis::RedisError> {
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
                hub.evaluate(&update.metrics, &update.kinds, update.ts);
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
    pub(super) async fn sweep(&self) -> Result<(), redis::RedisError> {
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
