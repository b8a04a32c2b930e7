//! Alert decisions with several instances: the instance holding a dashboard's alert lease
//! (renewed by `Broker::tick`) decides its changes and announces them as an update without
//! values; `announce_all` sends those announcements one after the other, off the path that
//! decided them.

use super::{append::Keys, RedisBroker};
use crate::protocol::{AlertChange, Millis, Update};
use std::sync::Arc;

/// Alert changes this instance decided on `dashboard` at `ts`.
pub(super) struct Announcement {
    pub(super) dashboard: String,
    pub(super) ts: Millis,
    pub(super) changes: Vec<AlertChange>,
}

/// Announces alert changes one after the other (an announcement takes a Redis round trip,
/// which `commit`, running under `applying`, cannot wait for).
pub(super) async fn announce_all(
    broker: Arc<RedisBroker>,
    mut announced: tokio::sync::mpsc::Receiver<Announcement>,
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
    /// Queues alert changes decided here for `announce_all` (never waits: it runs where
    /// updates are applied).
    pub(super) fn queue_announcement(&self, announcement: Announcement) {
        let dashboard = announcement.dashboard.clone();
        if let Err(error) = self.announcements.try_send(announcement) {
            tracing::warn!(%error, dashboard, "alert changes not announced: too many waiting for Redis");
        }
    }

    /// Whether this instance holds `dashboard`'s alert lease (renewed by `tick`).
    pub(super) fn decides(&self, dashboard: &str) -> bool {
        self.deciding.lock().expect("deciding lock poisoned").contains(dashboard)
    }

    /// Publishes alert changes this instance decided, as an update without values, and
    /// applies it here as this instance's own (so it is the one delivering them). Also keeps
    /// each rule's last change in Redis, for an instance that starts later.
    pub(super) async fn announce(&self, announcement: Announcement) -> Result<(), redis::RedisError> {
        let Announcement { dashboard, ts, changes } = announcement;
        let _one = self.applying.lock().await;
        let draft = Update {
            dashboard: dashboard.clone(),
            seq: 0,
            from_seq: None,
            ts,
            metrics: Default::default(),
            kinds: Default::default(),
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
}
