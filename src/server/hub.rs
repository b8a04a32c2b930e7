//! The in-memory broker: one hub per dashboard holding its epoch, seq, latest values, metric
//! definitions and a ring of recent updates for replay and chart history. Updates are
//! serialized once and the same bytes go to every subscriber through a `broadcast` channel.
//!
//! With a history store, publishing is persist-then-broadcast: seqs are assigned in one order
//! (the `sequencer`), the store commits, and only then do the updates reach the hubs' logs and
//! subscribers, so a client never sees a seq that a crash could take back. On start the hubs are
//! rebuilt from the store with their epoch, seq and retained updates.

use super::broker::{Broker, BrokerError, Declaration, Frame, Publication, Subscription};
use super::store::{Entry, RecoveredDashboard, Store};
use crate::model::{latest::Latest, ring::Ring};
use crate::protocol::{
    DashboardSummary, HistoryWindow, MetricDefinition, Metrics, Millis, Position, ServerMessage,
    Snapshot, Update,
};
use async_trait::async_trait;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
};
use tokio::sync::broadcast;

/// Sizes of what each hub retains, and how many hubs and metrics there may be.
#[derive(Clone, Debug)]
pub struct HubLimits {
    /// Updates kept for replay and history (per dashboard).
    pub replay_capacity: usize,
    /// How far back a snapshot's history window reaches, in ms.
    pub history_window_ms: Millis,
    /// Updates buffered for a subscriber that is not keeping up before it is resynced with a
    /// snapshot.
    pub live_capacity: usize,
    /// Dashboards at most; publishing that would create more is refused.
    pub max_dashboards: usize,
    /// Metrics per dashboard at most; publishing that would add more is refused.
    pub max_metrics_per_dashboard: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        // 4096 updates: over an hour at one update per second, 6.8 minutes at ten.
        HubLimits {
            replay_capacity: 4096,
            history_window_ms: 300_000,
            live_capacity: 1024,
            max_dashboards: 1_000,
            max_metrics_per_dashboard: 10_000,
        }
    }
}

pub struct MemoryBroker {
    /// Hubs by dashboard id. A std lock: never held across an `.await`.
    hubs: RwLock<HashMap<String, Arc<Hub>>>,
    limits: HubLimits,
    /// Where updates are persisted before they are broadcast, if anywhere.
    store: Option<Arc<Store>>,
    /// Held while a batch is checked and its seqs assigned, so batches reach the store (and
    /// then subscribers) in seq order. Never held across an `.await`.
    sequencer: Mutex<()>,
}

struct Hub {
    id: String,
    epoch: Arc<str>,
    /// Order of creation, for listing.
    rank: usize,
    live: broadcast::Sender<Frame>,
    /// A std lock: held only for in-memory work, never across an `.await`.
    state: Mutex<HubState>,
}

struct HubState {
    title: String,
    /// In display order.
    definitions: Vec<MetricDefinition>,
    /// The names in `definitions`, for quick membership checks.
    known: HashSet<String>,
    declared: bool,
    /// The last seq assigned; ahead of `seq` while a batch is being persisted.
    assigned: u64,
    /// The last seq committed and broadcast.
    seq: u64,
    /// The newest update time seen (a late update does not move it back).
    ts: Millis,
    latest: Latest,
    /// The most recent updates, oldest first, as frames (each carries its update).
    log: Ring<Frame>,
}

impl MemoryBroker {
    pub fn new(limits: HubLimits) -> Self {
        MemoryBroker { hubs: RwLock::new(HashMap::new()), limits, store: None, sequencer: Mutex::new(()) }
    }

    /// A broker that persists to `store`, starting from the dashboards it recovered.
    pub fn with_store(limits: HubLimits, store: Arc<Store>, recovered: Vec<RecoveredDashboard>) -> Self {
        let hubs = recovered
            .into_iter()
            .enumerate()
            .map(|(rank, dashboard)| (dashboard.id.clone(), Arc::new(Hub::restore(dashboard, rank, &limits))))
            .collect();
        MemoryBroker { hubs: RwLock::new(hubs), limits, store: Some(store), sequencer: Mutex::new(()) }
    }

    fn hub(&self, dashboard: &str) -> Result<Arc<Hub>, BrokerError> {
        self.hubs
            .read()
            .expect("hub map lock poisoned")
            .get(dashboard)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownDashboard(dashboard.to_owned()))
    }

    fn hub_or_create(&self, dashboard: &str) -> Arc<Hub> {
        if let Ok(hub) = self.hub(dashboard) {
            return hub;
        }
        let mut hubs = self.hubs.write().expect("hub map lock poisoned");
        let rank = hubs.len();
        hubs.entry(dashboard.to_owned())
            .or_insert_with(|| Arc::new(Hub::new(dashboard, new_epoch().into(), rank, &self.limits)))
            .clone()
    }

    /// Refuses a batch that would pass the dashboard or metric limits.
    fn admit(&self, batch: &[Publication]) -> Result<(), BrokerError> {
        let hubs = self.hubs.read().expect("hub map lock poisoned");
        let mut new_dashboards = HashSet::new();
        let mut new_metrics: HashMap<&str, HashSet<&str>> = HashMap::new();
        for publication in batch {
            let dashboard = publication.dashboard.as_str();
            let hub = hubs.get(dashboard);
            if hub.is_none() {
                new_dashboards.insert(dashboard);
            }
            let state = hub.map(|hub| hub.lock());
            let known = |name: &str| state.as_ref().is_some_and(|state| state.known.contains(name));
            let added = new_metrics.entry(dashboard).or_default();
            added.extend(publication.metrics.keys().map(String::as_str).filter(|name| !known(name)));
        }
        let dashboards = hubs.len() + new_dashboards.len();
        if dashboards > self.limits.max_dashboards {
            return Err(BrokerError::LimitExceeded(format!(
                "this would make {dashboards} dashboards; the limit is {}",
                self.limits.max_dashboards
            )));
        }
        for (dashboard, added) in new_metrics {
            let existing = hubs.get(dashboard).map_or(0, |hub| hub.lock().known.len());
            if existing + added.len() > self.limits.max_metrics_per_dashboard {
                return Err(BrokerError::LimitExceeded(format!(
                    "dashboard '{dashboard}' would have {} metrics; the limit is {}",
                    existing + added.len(),
                    self.limits.max_metrics_per_dashboard
                )));
            }
        }
        Ok(())
    }
}

impl Hub {
    fn new(id: &str, epoch: Arc<str>, rank: usize, limits: &HubLimits) -> Self {
        let (live, _) = broadcast::channel(limits.live_capacity.max(1));
        Hub {
            id: id.to_owned(),
            epoch,
            rank,
            live,
            state: Mutex::new(HubState {
                title: id.to_owned(),
                definitions: Vec::new(),
                known: HashSet::new(),
                declared: false,
                assigned: 0,
                seq: 0,
                ts: 0,
                latest: Latest::default(),
                log: Ring::with_capacity(limits.replay_capacity),
            }),
        }
    }

    /// A hub as the store last saw it; metric definitions are inferred (in the order the metrics
    /// first appeared) until declared again.
    fn restore(dashboard: RecoveredDashboard, rank: usize, limits: &HubLimits) -> Self {
        let hub = Hub::new(&dashboard.id, dashboard.epoch.into(), rank, limits);
        {
            let mut state = hub.lock();
            for name in dashboard.metrics.iter().chain(dashboard.latest.keys()) {
                state.define(name);
            }
            state.assigned = dashboard.seq;
            state.seq = dashboard.seq;
            state.ts = dashboard.ts;
            state.latest = Latest::as_of(dashboard.latest, dashboard.ts);
            for frame in dashboard.log {
                state.log.push(frame);
            }
        }
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("hub lock poisoned")
    }

    /// Gives an update the next seq and serializes it; it reaches subscribers on `commit`.
    fn assign(&self, ts: Millis, metrics: Metrics) -> Frame {
        let mut state = self.lock();
        for name in metrics.keys() {
            state.define(name);
        }
        state.assigned += 1;
        let update =
            Update { dashboard: self.id.clone(), seq: state.assigned, from_seq: None, ts, metrics };
        update_frame(update)
    }

    /// Makes an assigned (and, with a store, persisted) update current and sends it out.
    fn commit(&self, frame: Frame) {
        let mut state = self.lock();
        let update = logged(&frame);
        state.seq = update.seq;
        state.ts = state.ts.max(update.ts);
        state.latest.apply(update.ts, &update.metrics);
        // No receiver is not an error: nobody is watching this dashboard right now.
        let _ = self.live.send(frame.clone());
        state.log.push(frame);
    }

    fn subscribe(&self, since: Option<&Position>, window_ms: Millis) -> Subscription {
        let (live, replay_or_snapshot) = {
            let state = self.lock();
            // Taken under the lock: `live` sees exactly the updates after `state.seq`.
            let live = self.live.subscribe();
            let start = match since.and_then(|since| replay_after(&state, &self.epoch, since)) {
                Some(replay) => Ok(replay),
                None => Err(self.snapshot_locked(&state, window_ms)),
            };
            (live, start)
        };
        // Serialized after the lock is released: a snapshot carries the whole history window,
        // and publishers must not wait for it.
        let start = replay_or_snapshot.unwrap_or_else(|snapshot| vec![snapshot_frame(snapshot)]);
        Subscription { epoch: self.epoch.to_string(), start, live }
    }

    fn snapshot_locked(&self, state: &HubState, window_ms: Millis) -> Snapshot {
        let from = state.ts - window_ms;
        let first = state.log.partition_point(|frame| logged(frame).ts < from);
        let mut history = HistoryWindow::default();
        for name in state.definitions.iter().map(|d| &d.name) {
            history.series.insert(name.clone(), Vec::new());
        }
        for update in state.log.iter_from(first).map(logged) {
            history.ts.push(update.ts);
            for (name, values) in history.series.iter_mut() {
                values.push(update.metrics.get(name).copied());
            }
        }
        Snapshot {
            dashboard: self.id.clone(),
            title: state.title.clone(),
            epoch: self.epoch.to_string(),
            seq: state.seq,
            ts: state.ts,
            metrics: state.latest.values().clone(),
            history,
            definitions: state.definitions.clone(),
            alerts: Vec::new(),
        }
    }

    fn summary(&self) -> DashboardSummary {
        let state = self.lock();
        DashboardSummary {
            id: self.id.clone(),
            title: state.title.clone(),
            definitions: state.definitions.clone(),
        }
    }
}

impl HubState {
    /// Adds an inferred definition for a metric not seen before.
    fn define(&mut self, name: &str) {
        if !self.known.contains(name) {
            self.known.insert(name.to_owned());
            self.definitions.push(MetricDefinition::inferred(name));
        }
    }
}

/// The retained updates after `since`, or `None` when they cannot all be served: another
/// epoch, a seq from the future, or updates already evicted from the ring.
fn replay_after(state: &HubState, epoch: &str, since: &Position) -> Option<Vec<Frame>> {
    if since.epoch != epoch || since.seq > state.seq {
        return None;
    }
    if since.seq == state.seq {
        return Some(Vec::new());
    }
    let oldest = state.log.first()?.seq;
    if since.seq + 1 < oldest {
        return None;
    }
    let start = state.log.partition_point(|frame| frame.seq <= since.seq);
    Some(state.log.iter_from(start).cloned().collect())
}

/// The update a logged frame carries (every frame in the log is an update).
fn logged(frame: &Frame) -> &Update {
    frame.update.as_deref().expect("the log holds update frames")
}

/// Serializes an update as a frame that keeps the update for merging.
pub fn update_frame(update: Update) -> Frame {
    let json = ServerMessage::Update(update.clone()).to_json();
    Frame { seq: update.seq, is_snapshot: false, json: json.into(), update: Some(Arc::new(update)) }
}

/// Serializes a snapshot as a frame.
pub fn snapshot_frame(snapshot: Snapshot) -> Frame {
    let seq = snapshot.seq;
    let json = ServerMessage::Snapshot(snapshot).to_json();
    Frame { seq, is_snapshot: true, json: json.into(), update: None }
}

/// A fresh epoch: eight base-36 characters, so restarts never reuse one by chance.
fn new_epoch() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..8).map(|_| DIGITS[rand::random_range(0..DIGITS.len())] as char).collect()
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError> {
        let hub = self.hub_or_create(&declaration.dashboard);
        let mut state = hub.lock();
        state.title = declaration.title;
        // Declared metrics first, in their order; metrics seen before but not declared stay.
        let mut definitions = declaration.definitions;
        for existing in std::mem::take(&mut state.definitions) {
            if !definitions.iter().any(|d| d.name == existing.name) {
                definitions.push(existing);
            }
        }
        state.known = definitions.iter().map(|d| d.name.clone()).collect();
        state.definitions = definitions;
        state.declared = true;
        Ok(())
    }

    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError> {
        let committed = {
            let _order = self.sequencer.lock().expect("sequencer lock poisoned");
            self.admit(&batch)?;
            let assigned: Vec<(Arc<Hub>, Frame)> = batch
                .into_iter()
                .map(|publication| {
                    let hub = self.hub_or_create(&publication.dashboard);
                    let frame = hub.assign(publication.ts, publication.metrics);
                    (hub, frame)
                })
                .collect();
            let Some(store) = &self.store else {
                for (hub, frame) in assigned {
                    hub.commit(frame);
                }
                return Ok(());
            };
            let entries = assigned
                .iter()
                .map(|(hub, frame)| Entry { epoch: hub.epoch.clone(), frame: frame.clone() })
                .collect();
            store.append(
                entries,
                Box::new(move || {
                    for (hub, frame) in assigned {
                        hub.commit(frame);
                    }
                }),
            )
        };
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(BrokerError::Unavailable(error.to_string())),
            Err(_) => Err(BrokerError::Unavailable("the history store is closed".into())),
        }
    }

    async fn subscribe(
        &self,
        dashboard: &str,
        since: Option<&Position>,
    ) -> Result<Subscription, BrokerError> {
        Ok(self.hub(dashboard)?.subscribe(since, self.limits.history_window_ms))
    }

    async fn snapshot(&self, dashboard: &str) -> Result<Snapshot, BrokerError> {
        let hub = self.hub(dashboard)?;
        let state = hub.lock();
        Ok(hub.snapshot_locked(&state, self.limits.history_window_ms))
    }

    async fn dashboards(&self) -> Vec<DashboardSummary> {
        let mut hubs: Vec<Arc<Hub>> =
            self.hubs.read().expect("hub map lock poisoned").values().cloned().collect();
        hubs.sort_by_key(|hub| (!hub.lock().declared, hub.rank));
        hubs.iter().map(|hub| hub.summary()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(replay_capacity: usize) -> MemoryBroker {
        MemoryBroker::new(HubLimits {
            replay_capacity,
            history_window_ms: 10_000,
            live_capacity: 16,
            ..HubLimits::default()
        })
    }

    async fn publish(broker: &MemoryBroker, dashboard: &str, ts: Millis, value: f64) {
        let metrics = [("x".to_string(), value)].into();
        broker.publish(vec![Publication { dashboard: dashboard.into(), ts, metrics }]).await.unwrap();
    }

    fn parse(frame: &Frame) -> ServerMessage {
        serde_json::from_str(&frame.json).unwrap()
    }

    #[tokio::test]
    async fn seq_counts_updates_per_dashboard() {
        let broker = broker(8);
        for i in 0..3 {
            publish(&broker, "a", i, 1.0).await;
        }
        publish(&broker, "b", 0, 1.0).await;
        assert_eq!(broker.snapshot("a").await.unwrap().seq, 3);
        assert_eq!(broker.snapshot("b").await.unwrap().seq, 1);
        assert_eq!(
            broker.snapshot("c").await.unwrap_err(),
            BrokerError::UnknownDashboard("c".into())
        );
    }

    #[tokio::test]
    async fn a_late_point_is_delivered_in_order_but_does_not_roll_latest_back() {
        let broker = broker(8);
        publish(&broker, "a", 5_000, 5.0).await;
        // An agent flushing what it buffered: older than what is shown.
        publish(&broker, "a", 2_000, 2.0).await;
        let snapshot = broker.snapshot("a").await.unwrap();
        assert_eq!(snapshot.seq, 2, "the late update still has its seq: subscribers see it");
        assert_eq!(snapshot.metrics["x"], 5.0, "the card keeps the newest value");
        assert_eq!(snapshot.ts, 5_000, "the dashboard's time does not go back");
        publish(&broker, "a", 6_000, 6.0).await;
        assert_eq!(broker.snapshot("a").await.unwrap().metrics["x"], 6.0);
    }

    #[tokio::test]
    async fn resume_replays_exactly_the_missed_updates_then_goes_live() {
        let broker = broker(8);
        for i in 1..=5 {
            publish(&broker, "a", i * 1000, i as f64).await;
        }
        let epoch = broker.snapshot("a").await.unwrap().epoch;
        let since = Position { epoch, seq: 2 };
        let mut subscription = broker.subscribe("a", Some(&since)).await.unwrap();
        let seqs: Vec<u64> = subscription.start.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert!(subscription.start.iter().all(|f| !f.is_snapshot));
        publish(&broker, "a", 6000, 6.0).await;
        assert_eq!(subscription.live.recv().await.unwrap().seq, 6);
    }

    #[tokio::test]
    async fn resume_at_the_head_sends_nothing_until_the_next_update() {
        let broker = broker(8);
        publish(&broker, "a", 0, 1.0).await;
        let epoch = broker.snapshot("a").await.unwrap().epoch;
        let subscription = broker.subscribe("a", Some(&Position { epoch, seq: 1 })).await.unwrap();
        assert!(subscription.start.is_empty());
    }

    #[tokio::test]
    async fn unservable_positions_get_a_snapshot() {
        let broker = broker(4);
        for i in 1..=10 {
            publish(&broker, "a", i, i as f64).await;
        }
        let epoch = broker.snapshot("a").await.unwrap().epoch;
        let cases = [
            Position { epoch: "other".into(), seq: 9 }, // foreign epoch
            Position { epoch: epoch.clone(), seq: 2 },  // evicted: ring holds 7..=10
            Position { epoch: epoch.clone(), seq: 11 }, // from the future
        ];
        for since in cases {
            let subscription = broker.subscribe("a", Some(&since)).await.unwrap();
            assert_eq!(subscription.start.len(), 1, "{since}");
            assert!(subscription.start[0].is_snapshot);
            assert_eq!(subscription.start[0].seq, 10);
        }
        // The oldest retained boundary still replays.
        let subscription =
            broker.subscribe("a", Some(&Position { epoch, seq: 6 })).await.unwrap();
        assert_eq!(subscription.start.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
    }

    #[tokio::test]
    async fn snapshot_history_covers_the_window_with_gaps_as_nulls() {
        let broker = broker(100);
        for i in 0..30 {
            publish(&broker, "a", i * 1000, i as f64).await;
        }
        let metrics = [("y".to_string(), 7.0)].into();
        broker.publish(vec![Publication { dashboard: "a".into(), ts: 30_000, metrics }]).await.unwrap();
        let snapshot = broker.snapshot("a").await.unwrap();
        // Window of 10 s before the newest update at 30 s.
        assert_eq!(snapshot.history.ts.first(), Some(&20_000));
        assert_eq!(snapshot.history.ts.len(), 11);
        assert_eq!(snapshot.history.series["x"].last(), Some(&None));
        assert_eq!(snapshot.history.series["y"].last(), Some(&Some(7.0)));
        assert_eq!(snapshot.metrics["x"], 29.0);
        let ServerMessage::Snapshot(decoded) = parse(&snapshot_frame(snapshot.clone())) else {
            panic!()
        };
        assert_eq!(decoded, snapshot);
    }

    #[tokio::test]
    async fn declared_dashboards_list_first_with_their_definitions() {
        let broker = broker(8);
        publish(&broker, "ingested", 0, 1.0).await;
        broker
            .declare(Declaration {
                dashboard: "main".into(),
                title: "Main".into(),
                definitions: vec![MetricDefinition::inferred("z"), MetricDefinition::inferred("x")],
            })
            .await
            .unwrap();
        publish(&broker, "main", 0, 1.0).await;
        let list = broker.dashboards().await;
        assert_eq!(list.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["main", "ingested"]);
        let names: Vec<_> = list[0].definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["z", "x"]);
    }
}
