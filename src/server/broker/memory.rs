//! The in-memory broker: one `Hub` per dashboard in this process, with the cardinality limits
//! and the order in which updates become visible.
//!
//! Publishing is persist-then-broadcast, so a client never sees a seq that a crash could take
//! back:
//!
//! ```text
//! publish(batch)
//!   UpdateTail per update (JSON of all but the seq, in parallel across publishers)
//!   sequencer lock ── admit (limits) ── Hub::assign (next seq) ── Frame::update_with_tail
//!   │                                                              │
//!   └─ no store: Hub::commit ──────────────────────────────────────┤
//!   └─ store: Store::append(entries, on_commit) ── writer thread commits the transaction
//!                                                  └─ on_commit: Hub::commit (log + broadcast)
//!   the publisher's future resolves after on_commit ran
//! ```
//!
//! Seqs are assigned under the `sequencer`, and appends are queued in that order, so the
//! store commits and subscribers see updates in seq order. On start the hubs are rebuilt from
//! the store with their epoch, seq and retained updates.

use super::frame::UpdateTail;
use super::hub::{new_epoch, Hub};
use super::{
    budget::RetainBudget, Admission, Broker, BrokerError, Declaration, Frame, Publication, SnapshotFrame, Subscription,
};
use crate::protocol::{AlertChange, DashboardSummary, MetricDefinition, Millis, Position, SeriesKind, Snapshot};
use crate::server::alerts::eval::{rules::AlertRule, DashboardAlerts, LogStart};
use crate::server::clock::Clock;
use crate::server::store::{Entry, RecoveredDashboard, Store};
use async_trait::async_trait;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
};

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
    /// What every hub's retained updates count against (`--retain-memory`).
    pub budget: RetainBudget,
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
            budget: RetainBudget::unlimited(),
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
    /// Every alert rule; each hub holds the states of its dashboard's.
    alert_rules: Vec<Arc<AlertRule>>,
    /// Held by the one publisher enforcing the retention budget; others go on.
    evicting: Mutex<()>,
    /// What time it is, for a hub whose log is empty.
    clock: Clock,
}

impl MemoryBroker {
    pub fn new(limits: HubLimits) -> Self {
        MemoryBroker {
            hubs: RwLock::new(HashMap::new()),
            limits,
            store: None,
            sequencer: Mutex::new(()),
            alert_rules: Vec::new(),
            evicting: Mutex::new(()),
            clock: Clock::system(),
        }
    }

    /// Reads the time on `clock` (the system's unless told).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Evaluates `rules` on every update of their dashboards from now on (and on the updates
    /// already retained, to rebuild their states after a restart).
    pub fn with_alert_rules(mut self, rules: Vec<Arc<AlertRule>>) -> Self {
        let hubs = std::mem::take(self.hubs.get_mut().expect("hub map lock poisoned"));
        let (store, now) = (self.store.clone(), self.clock.now_millis());
        let hubs = hubs
            .into_iter()
            .map(|(id, hub)| {
                let hub = Arc::into_inner(hub).expect("hubs are not shared before the broker is");
                let alerts = DashboardAlerts::for_dashboard(&id, &rules);
                let restore = |alerts: &mut DashboardAlerts, start: &LogStart| {
                    let Some(store) = &store else { return };
                    match store.readers().last_alert_changes(&id, &start.epoch, start.seq) {
                        Ok(changes) => alerts.restore(changes),
                        Err(error) => tracing::warn!(%error, dashboard = id, "alert states before the log unreadable"),
                    }
                    alerts.seed(start.ts, |metric, from, to, step_ms| {
                        stored_buckets(store, &id, metric, from, to, step_ms)
                    });
                };
                let hub = hub.with_alerts(alerts, restore, now);
                (id, Arc::new(hub))
            })
            .collect();
        *self.hubs.get_mut().expect("hub map lock poisoned") = hubs;
        self.alert_rules = rules;
        self
    }

    /// A broker that persists to `store`, starting from the dashboards it recovered.
    pub fn with_store(limits: HubLimits, store: Arc<Store>, recovered: Vec<RecoveredDashboard>) -> Self {
        let hubs = recovered
            .into_iter()
            .enumerate()
            .map(|(rank, dashboard)| (dashboard.id.clone(), Arc::new(Hub::restore(dashboard, rank, &limits))))
            .collect();
        let broker = MemoryBroker {
            hubs: RwLock::new(hubs),
            limits,
            store: Some(store),
            sequencer: Mutex::new(()),
            alert_rules: Vec::new(),
            evicting: Mutex::new(()),
            clock: Clock::system(),
        };
        // What was recovered counts against the budget too.
        broker.enforce_budget();
        broker
    }

    pub(super) fn hub(&self, dashboard: &str) -> Result<Arc<Hub>, BrokerError> {
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
        hubs.entry(dashboard.to_owned()).or_insert_with(|| self.new_hub(dashboard, &new_epoch(), rank)).clone()
    }

    /// An empty hub with this server's limits and `dashboard`'s alert rules (new: no history
    /// to seed change rules from).
    fn new_hub(&self, dashboard: &str, epoch: &str, rank: usize) -> Arc<Hub> {
        let hub = Hub::new(dashboard, epoch.into(), rank, &self.limits);
        let alerts = DashboardAlerts::for_dashboard(dashboard, &self.alert_rules);
        Arc::new(hub.with_alerts(alerts, |_, _| {}, self.clock.now_millis()))
    }

    /// Every hub, in no order.
    pub(super) fn all_hubs(&self) -> Vec<Arc<Hub>> {
        self.hubs.read().expect("hub map lock poisoned").values().cloned().collect()
    }

    /// The hub of `dashboard` in `epoch` (the Redis broker's): the one held when it has that
    /// epoch, otherwise a new empty one in its place, with the old one's rank and declaration.
    /// Subscribers of a replaced hub see their live channel close and subscribe again.
    pub(super) fn hub_in_epoch(&self, dashboard: &str, epoch: &str) -> Arc<Hub> {
        if let Ok(hub) = self.hub(dashboard) {
            if &*hub.epoch == epoch {
                return hub;
            }
        }
        let mut hubs = self.hubs.write().expect("hub map lock poisoned");
        let held = hubs.get(dashboard).cloned();
        if let Some(hub) = held.as_ref().filter(|hub| &*hub.epoch == epoch) {
            return hub.clone();
        }
        let rank = held.as_ref().map_or(hubs.len(), |hub| hub.rank);
        let hub = self.new_hub(dashboard, epoch, rank);
        if let Some(old) = &held {
            let (title, definitions, declared) = old.declaration();
            if declared {
                hub.declare(title, definitions);
            }
            old.evict(usize::MAX);
            // What the old hub retained no longer counts once its subscribers let go of it.
            self.limits.budget.add(-(old.retained() as isize));
        }
        hubs.insert(dashboard.to_owned(), hub.clone());
        hub
    }

    pub(super) fn limits(&self) -> &HubLimits {
        &self.limits
    }

    pub(super) fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Keeps what the hubs retain within the budget: while over it, the hub holding the most
    /// gives back its oldest updates, down to the next biggest hub's size (so the largest
    /// shrink first and evenly), until 95% of the limit. One publisher at a time does it.
    pub(super) fn enforce_budget(&self) {
        let budget = &self.limits.budget;
        if !budget.is_over() {
            return;
        }
        let Ok(_one) = self.evicting.try_lock() else { return };
        let hubs = self.all_hubs();
        // Biggest first: (bytes retained, index in `hubs`).
        let mut by_size: std::collections::BinaryHeap<(usize, usize)> =
            hubs.iter().enumerate().map(|(index, hub)| (hub.retained(), index)).collect();
        while budget.used() > budget.target() {
            let Some((_, index)) = by_size.pop() else { break };
            let biggest = &hubs[index];
            let next = by_size.peek().map_or(0, |(bytes, _)| *bytes);
            let excess = budget.used() - budget.target();
            let wanted = excess.min(biggest.retained().saturating_sub(next)).max(1);
            let dropped = biggest.evict(wanted);
            budget.evicted(dropped);
            if dropped > 0 {
                by_size.push((biggest.retained(), index));
            }
        }
    }

    /// Refuses a batch that would pass the dashboard limit, and one that would pass a
    /// dashboard's series limit when `admission` is `Whole`; when it is `Partial`, takes out
    /// the new series past the limit instead. Returns how many series it took out.
    pub(super) fn admit(&self, batch: &mut Vec<Publication>, admission: Admission) -> Result<usize, BrokerError> {
        let limit = self.limits.max_metrics_per_dashboard;
        // The names to take out, by publication: rare, so only they are copied.
        let mut taken_out: Vec<(usize, Vec<String>)> = Vec::new();
        {
            let hubs = self.hubs.read().expect("hub map lock poisoned");
            let mut new_dashboards = HashSet::new();
            // Each dashboard's series count so far and the new names it takes, in batch order.
            let mut counts: HashMap<&str, (usize, HashSet<&str>)> = HashMap::new();
            let mut first_refusal = None;
            for (index, publication) in batch.iter().enumerate() {
                let dashboard = publication.dashboard.as_str();
                let hub = hubs.get(dashboard);
                if hub.is_none() {
                    new_dashboards.insert(dashboard);
                }
                let state = hub.map(|hub| hub.lock());
                let known = |name: &str| state.as_ref().is_some_and(|state| state.known.contains_key(name));
                let (count, added) = counts
                    .entry(dashboard)
                    .or_insert_with(|| (state.as_ref().map_or(0, |state| state.known.len()), HashSet::new()));
                let mut past_limit = Vec::new();
                for name in publication.metrics.keys() {
                    if known(name) || added.contains(name.as_str()) {
                        continue;
                    }
                    if *count < limit || admission == Admission::Whole {
                        *count += 1;
                        added.insert(name);
                    } else {
                        past_limit.push(name.clone());
                    }
                }
                if admission == Admission::Whole && *count > limit && first_refusal.is_none() {
                    first_refusal = Some(dashboard);
                }
                if !past_limit.is_empty() {
                    taken_out.push((index, past_limit));
                }
            }
            let dashboards = hubs.len() + new_dashboards.len();
            if dashboards > self.limits.max_dashboards {
                return Err(BrokerError::LimitExceeded(format!(
                    "this would make {dashboards} dashboards; the limit is {}",
                    self.limits.max_dashboards
                )));
            }
            if let Some(dashboard) = first_refusal {
                let (count, added) = &counts[dashboard];
                let (would_have, refused) = (*count, added.len());
                return Err(BrokerError::SeriesLimit { dashboard: dashboard.to_owned(), would_have, limit, refused });
            }
        }
        let refused = taken_out.iter().map(|(_, names)| names.len()).sum();
        for (index, names) in taken_out {
            let publication = &mut batch[index];
            for name in names {
                publication.metrics.remove(&name);
                publication.kinds.remove(&name);
            }
        }
        if refused > 0 {
            // An update that had only refused series is not sent empty.
            batch.retain(|publication| !publication.metrics.is_empty());
        }
        Ok(refused)
    }
}

impl MemoryBroker {
    /// `Broker::publish` and `publish_partial`: admits the batch, then appends it.
    async fn publish_admitted(&self, mut batch: Vec<Publication>, admission: Admission) -> Result<usize, BrokerError> {
        // Serialized before the sequencer, all but the seq: publishers do this in parallel.
        // (A partial admission that takes series out serializes again.)
        let mut tails: Vec<UpdateTail> =
            batch.iter().map(|p| UpdateTail::new(p.ts, &p.metrics, &p.kinds, &[])).collect();
        let committed = {
            let _order = self.sequencer.lock().expect("sequencer lock poisoned");
            let refused = self.admit(&mut batch, admission)?;
            if refused > 0 {
                tails = batch.iter().map(|p| UpdateTail::new(p.ts, &p.metrics, &p.kinds, &[])).collect();
            }
            let assigned: Vec<(Arc<Hub>, Frame)> = batch
                .into_iter()
                .zip(&tails)
                .map(|(publication, tail)| {
                    let hub = self.hub_or_create(&publication.dashboard);
                    let frame = Frame::update_with_tail(
                        hub.assign(publication.ts, publication.metrics, publication.kinds),
                        tail,
                    );
                    (hub, frame)
                })
                .collect();
            let Some(store) = &self.store else {
                for (hub, frame) in assigned {
                    hub.commit(frame);
                }
                drop(_order);
                self.enforce_budget();
                return Ok(refused);
            };
            let entries = assigned
                .iter()
                .map(|(hub, frame)| Entry { epoch: hub.epoch.clone(), update: frame.logged_arc(), decided_here: true })
                .collect();
            // Not persisted: the seqs are free again, so the dashboard continues without a gap.
            let rewinds: Vec<(Arc<Hub>, u64)> =
                assigned.iter().map(|(hub, frame)| (hub.clone(), frame.seq - 1)).collect();
            let on_fail = Box::new(move || {
                for (hub, before) in rewinds {
                    hub.rewind(before);
                }
            });
            let on_commit = Box::new(move || {
                for (hub, frame) in assigned {
                    hub.commit(frame);
                }
            });
            (store.append(entries, on_commit, on_fail), refused)
        };
        let (committed, refused) = (committed.0.await, committed.1);
        self.enforce_budget();
        match committed {
            Ok(Ok(())) => Ok(refused),
            Ok(Err(error)) => Err(BrokerError::Unavailable(error.to_string())),
            Err(_) => Err(BrokerError::Unavailable("the history store is closed".into())),
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, batch: Vec<Publication>) -> Result<(), BrokerError> {
        self.publish_admitted(batch, Admission::Whole).await.map(|_| ())
    }

    async fn publish_partial(&self, batch: Vec<Publication>) -> Result<usize, BrokerError> {
        self.publish_admitted(batch, Admission::Partial).await
    }

    async fn declare(&self, declaration: Declaration) -> Result<(), BrokerError> {
        self.hub_or_create(&declaration.dashboard).declare(declaration.title, declaration.definitions);
        Ok(())
    }

    async fn subscribe(&self, dashboard: &str, since: Option<&Position>) -> Result<Subscription, BrokerError> {
        Ok(self.hub(dashboard)?.subscribe(since, self.limits.history_window_ms))
    }

    async fn snapshot(&self, dashboard: &str) -> Result<Snapshot, BrokerError> {
        Ok(self.hub(dashboard)?.snapshot(self.limits.history_window_ms))
    }

    async fn active_alerts(&self, dashboard: &str) -> Result<Vec<AlertChange>, BrokerError> {
        Ok(self.hub(dashboard)?.active_alerts())
    }

    async fn definitions(&self, dashboard: &str) -> Result<Vec<MetricDefinition>, BrokerError> {
        Ok(self.hub(dashboard)?.definitions())
    }

    async fn kind(&self, dashboard: &str, metric: &str) -> Option<SeriesKind> {
        self.hub(dashboard).ok()?.kind(metric)
    }

    async fn snapshot_frame(&self, dashboard: &str) -> Result<SnapshotFrame, BrokerError> {
        let hub = self.hub(dashboard)?;
        Ok(SnapshotFrame { epoch: hub.epoch.to_string(), frame: hub.snapshot_frame(self.limits.history_window_ms) })
    }

    async fn tick(&self, now: Millis) -> Result<(), BrokerError> {
        let hubs = self.all_hubs();
        let due: Vec<Publication> = hubs
            .iter()
            .filter(|hub| hub.no_data_due(now))
            .map(|hub| Publication::new(hub.id.clone(), now, Default::default()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        self.publish(due).await
    }

    async fn lease(&self, _name: &str, _ttl: std::time::Duration) -> bool {
        true
    }

    async fn dashboards(&self) -> Vec<DashboardSummary> {
        let mut hubs = self.all_hubs();
        // Each key read once: a key function locks the hub.
        hubs.sort_by_cached_key(|hub| (!hub.lock().declared, hub.rank));
        hubs.iter().map(|hub| hub.summary()).collect()
    }
}

/// `metric`'s buckets on `dashboard` from the history store (none when it cannot answer: the
/// change rules then start without a baseline). Blocking: called once per rule at startup.
fn stored_buckets(
    store: &Store,
    dashboard: &str,
    metric: &str,
    from: Millis,
    to: Millis,
    step_ms: Millis,
) -> Vec<crate::protocol::Bucket> {
    let Some(tier) = crate::server::store::tier::Tier::for_step(step_ms) else { return Vec::new() };
    let query = crate::server::store::history::HistoryQuery {
        dashboard: dashboard.to_owned(),
        metric: metric.to_owned(),
        from,
        to,
        step_ms,
        tier,
        counter: false,
    };
    match store.readers().history(&query) {
        Ok(buckets) => buckets.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, dashboard, metric, "change rule: history unreadable, starting without a baseline");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMessage;

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
        broker.publish(vec![Publication::new(dashboard, ts, metrics)]).await.unwrap();
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
        assert_eq!(broker.snapshot("c").await.unwrap_err(), BrokerError::UnknownDashboard("c".into()));
    }

    #[tokio::test]
    async fn past_the_series_limit_a_partial_publish_applies_what_fits_and_known_series() {
        let broker = MemoryBroker::new(HubLimits { max_metrics_per_dashboard: 3, ..HubLimits::default() });
        let values = |names: &[&str]| names.iter().map(|name| (name.to_string(), 1.0)).collect();
        broker.publish(vec![Publication::new("a", 1, values(&["a", "b"]))]).await.unwrap();
        let whole = broker.publish(vec![Publication::new("a", 2, values(&["a", "c", "d"]))]).await.unwrap_err();
        assert!(matches!(whole, BrokerError::SeriesLimit { would_have: 4, limit: 3, refused: 2, .. }), "{whole:?}");
        assert_eq!(broker.snapshot("a").await.unwrap().seq, 1, "refused whole: nothing applied");
        // Two updates in one batch: "c" fits, "d" and "e" do not; "a" is known and flows.
        let batch = vec![Publication::new("a", 3, values(&["a", "c", "d"])), Publication::new("a", 4, values(&["e"]))];
        assert_eq!(broker.publish_partial(batch).await.unwrap(), 2);
        let snapshot = broker.snapshot("a").await.unwrap();
        assert_eq!(snapshot.seq, 2, "the update left with no series is not sent");
        assert_eq!(snapshot.metrics.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_stated_kind_reaches_subscribers_and_the_definition() {
        let broker = broker(8);
        let mut subscription = {
            publish(&broker, "a", 1_000, 1.0).await;
            broker.subscribe("a", None).await.unwrap()
        };
        let mut requests = Publication::new("a", 2_000, [("requests".to_string(), 5.0)].into());
        requests.kinds = [("requests".to_string(), SeriesKind::Counter)].into();
        broker.publish(vec![requests]).await.unwrap();
        let frame = subscription.live.recv().await.unwrap();
        assert!(frame.json.contains(r#""kinds":{"requests":"counter"}"#), "{}", frame.json.as_str());
        let snapshot = broker.snapshot("a").await.unwrap();
        let definition = snapshot.definitions.iter().find(|d| d.name == "requests").unwrap();
        assert_eq!(definition.kind, SeriesKind::Counter);
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
    async fn a_dashboard_nobody_watches_holds_no_live_channel() {
        let broker = broker(8);
        publish(&broker, "a", 1000, 1.0).await;
        let hub = broker.hub("a").unwrap();
        assert!(!hub.has_live_channel(), "no subscriber yet: no slots allocated");
        let mut first = broker.subscribe("a", None).await.unwrap();
        assert!(hub.has_live_channel());
        publish(&broker, "a", 2000, 2.0).await;
        assert_eq!(first.live.recv().await.unwrap().seq, 2);
        drop(first);
        publish(&broker, "a", 3000, 3.0).await;
        assert!(!hub.has_live_channel(), "the last subscriber left: dropped at the next update");
        let mut again = broker.subscribe("a", None).await.unwrap();
        assert_eq!(again.start[0].seq, 3, "a snapshot at the head");
        publish(&broker, "a", 4000, 4.0).await;
        assert_eq!(again.live.recv().await.unwrap().seq, 4, "and live again after it");
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
        let subscription = broker.subscribe("a", Some(&Position { epoch, seq: 6 })).await.unwrap();
        assert_eq!(subscription.start.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
    }

    #[tokio::test]
    async fn snapshot_history_covers_the_window_with_gaps_as_nulls() {
        let broker = broker(100);
        for i in 0..30 {
            publish(&broker, "a", i * 1000, i as f64).await;
        }
        let metrics = [("y".to_string(), 7.0)].into();
        broker.publish(vec![Publication::new("a", 30_000, metrics)]).await.unwrap();
        let snapshot = broker.snapshot("a").await.unwrap();
        // Window of 10 s before the newest update at 30 s.
        assert_eq!(snapshot.history.ts.first(), Some(&20_000));
        assert_eq!(snapshot.history.ts.len(), 11);
        assert_eq!(snapshot.history.series["x"].last(), Some(&None));
        assert_eq!(snapshot.history.series["y"].last(), Some(&Some(7.0)));
        assert_eq!(snapshot.metrics["x"], 29.0);
        let ServerMessage::Snapshot(decoded) = parse(&Frame::snapshot(&snapshot)) else { panic!() };
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

    #[tokio::test]
    async fn past_the_budget_the_oldest_updates_of_the_biggest_dashboard_go_first() {
        let budget = RetainBudget::new(40_000);
        let broker =
            MemoryBroker::new(HubLimits { replay_capacity: 10_000, budget: budget.clone(), ..HubLimits::default() });
        for i in 0..50 {
            publish(&broker, "small", i, 1.0).await;
        }
        for i in 0..400 {
            publish(&broker, "big", i, 1.0).await;
        }
        assert_eq!(budget.evictions(), 0, "{} bytes", budget.used());
        for i in 400..800 {
            publish(&broker, "big", i, 1.0).await;
        }
        assert!(budget.evictions() > 0);
        assert!(budget.used() <= budget.limit(), "{} of {}", budget.used(), budget.limit());
        let (small, big) = (broker.hub("small").unwrap(), broker.hub("big").unwrap());
        assert_eq!(small.log_span(), (Some(1), 50), "the small dashboard kept everything");
        let (oldest, kept) = big.log_span();
        let oldest = oldest.unwrap();
        assert!(oldest > 1, "the big one gave its oldest updates");
        assert_eq!(budget.evictions(), oldest - 1);
        assert_eq!(kept as u64, 800 - (oldest - 1), "newest kept, no hole");

        // A client whose position was dropped gets a snapshot; one still retained, the replay.
        let epoch = broker.snapshot("big").await.unwrap().epoch;
        let dropped = broker.subscribe("big", Some(&Position { epoch: epoch.clone(), seq: 1 })).await.unwrap();
        assert!(dropped.start.len() == 1 && dropped.start[0].is_snapshot);
        let kept = broker.subscribe("big", Some(&Position { epoch, seq: 798 })).await.unwrap();
        assert_eq!(kept.start.iter().map(|frame| frame.seq).collect::<Vec<_>>(), vec![799, 800]);
    }

    #[tokio::test]
    async fn a_burst_of_resumes_from_one_position_serializes_each_update_once() {
        let broker = broker(100);
        for i in 0..50 {
            publish(&broker, "a", i, i as f64).await;
        }
        let epoch = broker.snapshot("a").await.unwrap().epoch;
        let since = Position { epoch, seq: 10 };
        let first = broker.subscribe("a", Some(&since)).await.unwrap();
        for _ in 0..20 {
            let again = broker.subscribe("a", Some(&since)).await.unwrap();
            let json = |frames: &[Frame]| frames.iter().map(|frame| frame.json.to_string()).collect::<Vec<_>>();
            assert_eq!(json(&again.start), json(&first.start));
        }
        let hub = broker.hub("a").unwrap();
        assert_eq!(hub.replay_serializations.load(std::sync::atomic::Ordering::Relaxed), 40);
        // Two more updates: the next resume from there serializes just those.
        publish(&broker, "a", 50, 50.0).await;
        publish(&broker, "a", 51, 51.0).await;
        let later = broker.subscribe("a", Some(&since)).await.unwrap();
        assert_eq!(later.start.len(), 42);
        assert_eq!(hub.replay_serializations.load(std::sync::atomic::Ordering::Relaxed), 42);
        let ServerMessage::Update(last) = parse(later.start.last().unwrap()) else { panic!() };
        assert_eq!((last.seq, last.metrics["x"]), (52, 51.0));
    }
}
