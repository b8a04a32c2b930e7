//! One dashboard's stream in this process: its epoch, seq, latest values, metric definitions
//! and a ring of recent updates (as frames) for replay and snapshots. `MemoryBroker` owns one
//! hub per dashboard and decides when an update is committed; the hub only keeps the state
//! consistent and hands subscribers a start that matches their live channel exactly. It also
//! holds the dashboard's alert rules' states: an update's alert changes are decided when its
//! seq is assigned (so they are persisted and broadcast inside it), and taken back with the
//! seq if it cannot be persisted.

use super::{Frame, HubLimits, Subscription};
use crate::model::{latest::Latest, ring::Ring};
use crate::protocol::{DashboardSummary, HistoryWindow, MetricDefinition, Metrics, Millis, Position, Snapshot, Update};
use crate::server::{
    alerts::{DashboardAlerts, LogStart},
    store::RecoveredDashboard,
};
use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::broadcast;

pub(super) struct Hub {
    pub(super) id: String,
    pub(super) epoch: Arc<str>,
    /// Order of creation, for listing.
    pub(super) rank: usize,
    live: broadcast::Sender<Frame>,
    /// A std lock: held only for in-memory work, never across an `.await`.
    state: Mutex<HubState>,
    /// The last snapshot frame made, shared by every subscriber that needs one at that seq (a
    /// burst of lagging readers resyncs with one serialization). Never locked while waiting
    /// for `state`.
    snapshot: Mutex<Option<Frame>>,
}

pub(super) struct HubState {
    title: String,
    /// In display order.
    definitions: Vec<MetricDefinition>,
    /// The names in `definitions`, for quick membership checks.
    pub(super) known: HashSet<String>,
    pub(super) declared: bool,
    /// The last seq assigned; ahead of `seq` while a batch is being persisted.
    assigned: u64,
    /// The last seq committed and broadcast.
    seq: u64,
    /// The newest update time seen (a late update does not move it back).
    ts: Millis,
    latest: Latest,
    /// The most recent updates, oldest first, as frames (each carries its update).
    log: Ring<Frame>,
    /// The alert rules' states as of the last assigned seq.
    alerts: DashboardAlerts,
    /// The same as of the last committed seq (what snapshots show).
    committed_alerts: DashboardAlerts,
    /// The states after each assigned seq not yet committed, oldest first, to go back to if
    /// a later one cannot be persisted. Empty for a dashboard without rules.
    in_flight_alerts: VecDeque<(u64, DashboardAlerts)>,
}

impl Hub {
    pub(super) fn new(id: &str, epoch: Arc<str>, rank: usize, limits: &HubLimits) -> Self {
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
                alerts: DashboardAlerts::default(),
                committed_alerts: DashboardAlerts::default(),
                in_flight_alerts: VecDeque::new(),
            }),
            snapshot: Mutex::new(None),
        }
    }

    /// A hub as the store last saw it; metric definitions are inferred (in the order the metrics
    /// first appeared) until declared again.
    pub(super) fn restore(dashboard: RecoveredDashboard, rank: usize, limits: &HubLimits) -> Self {
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
            for update in dashboard.log {
                state.log.push(Frame::update(Arc::new(update)));
            }
        }
        hub
    }

    /// Gives the hub its alert rules. After a restart `restore` sets them where the store
    /// says they stood before the retained log, then the log is replayed through them (the
    /// changes found again are already in that log).
    pub(super) fn with_alerts(
        self,
        mut alerts: DashboardAlerts,
        restore: impl FnOnce(&mut DashboardAlerts, &LogStart),
    ) -> Self {
        {
            let mut state = self.lock();
            if !alerts.is_empty() {
                let start = match state.log.iter_from(0).next() {
                    Some(frame) => {
                        let first = frame.logged();
                        LogStart { epoch: self.epoch.to_string(), seq: first.seq, ts: first.ts }
                    }
                    None => {
                        LogStart { epoch: self.epoch.to_string(), seq: state.seq + 1, ts: crate::server::now_millis() }
                    }
                };
                restore(&mut alerts, &start);
                for frame in state.log.iter_from(0) {
                    let update = frame.logged();
                    alerts.evaluate(&update.metrics, update.ts);
                }
            }
            state.committed_alerts = alerts.clone();
            state.alerts = alerts;
        }
        self
    }

    /// Whether the no-data timer has something to announce for this dashboard at `ts`.
    pub(super) fn no_data_due(&self, ts: Millis) -> bool {
        self.lock().alerts.no_data_due(ts)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().expect("hub lock poisoned")
    }

    /// Gives an update the next seq and the alert changes its values cause (an update without
    /// values is the no-data timer's); it reaches subscribers on `commit`. Serialized by the
    /// caller, after the hub lock is released.
    pub(super) fn assign(&self, ts: Millis, metrics: Metrics) -> Arc<Update> {
        let (seq, alerts) = {
            let mut state = self.lock();
            for name in metrics.keys() {
                state.define(name);
            }
            state.assigned += 1;
            let seq = state.assigned;
            let alerts = if state.alerts.is_empty() {
                Vec::new()
            } else {
                let changes = state.alerts.evaluate(&metrics, ts);
                let after = state.alerts.clone();
                state.in_flight_alerts.push_back((seq, after));
                changes
            };
            (seq, alerts)
        };
        Arc::new(Update { dashboard: self.id.clone(), seq, from_seq: None, ts, metrics, alerts })
    }

    /// Takes back the seqs after `seq`, assigned to updates that could not be persisted, and
    /// the alert states they made; the next update gets `seq + 1`. Never moves before what was
    /// committed.
    pub(super) fn rewind(&self, seq: u64) {
        let mut state = self.lock();
        state.assigned = state.assigned.min(seq.max(state.seq));
        if !state.alerts.is_empty() {
            let kept = state.assigned;
            state.in_flight_alerts.retain(|(seq, _)| *seq <= kept);
            let restored = state.in_flight_alerts.back().map(|(_, alerts)| alerts.clone());
            state.alerts = restored.unwrap_or_else(|| state.committed_alerts.clone());
        }
    }

    /// Makes an assigned (and, with a store, persisted) update current and sends it out.
    pub(super) fn commit(&self, frame: Frame) {
        let mut state = self.lock();
        let update = frame.logged();
        state.seq = update.seq;
        state.ts = state.ts.max(update.ts);
        while state.in_flight_alerts.front().is_some_and(|(seq, _)| *seq <= update.seq) {
            if let Some((_, alerts)) = state.in_flight_alerts.pop_front() {
                state.committed_alerts = alerts;
            }
        }
        state.latest.apply(update.ts, &update.metrics);
        // No receiver is not an error: nobody is watching this dashboard right now.
        let _ = self.live.send(frame.clone());
        state.log.push(frame);
    }

    /// Sets the title and definitions a producer declared.
    pub(super) fn declare(&self, title: String, declared: Vec<MetricDefinition>) {
        let mut state = self.lock();
        state.title = title;
        // Declared metrics first, in their order; metrics seen before but not declared stay.
        let mut definitions = declared;
        for existing in std::mem::take(&mut state.definitions) {
            if !definitions.iter().any(|d| d.name == existing.name) {
                definitions.push(existing);
            }
        }
        state.known = definitions.iter().map(|d| d.name.clone()).collect();
        state.definitions = definitions;
        state.declared = true;
        // A snapshot made before carries the old title and definitions.
        *self.snapshot.lock().expect("snapshot cache lock poisoned") = None;
    }

    pub(super) fn subscribe(&self, since: Option<&Position>, window_ms: Millis) -> Subscription {
        // Ok: frames ready to send (a replay, or a snapshot already serialized); Err: a
        // snapshot still to serialize.
        let (live, start) = {
            let state = self.lock();
            // Taken under the lock: `live` sees exactly the updates after `state.seq`.
            let live = self.live.subscribe();
            let start = match since.and_then(|since| replay_after(&state, &self.epoch, since)) {
                Some(replay) => Ok(replay),
                None => self
                    .cached_snapshot(state.seq)
                    .map(|frame| vec![frame])
                    .ok_or_else(|| self.snapshot_locked(&state, window_ms)),
            };
            (live, start)
        };
        // Serialized after the lock is released: a snapshot carries the whole history window,
        // and publishers must not wait for it.
        let start = start.unwrap_or_else(|snapshot| vec![self.cache(&snapshot)]);
        Subscription { epoch: self.epoch.to_string(), start, live }
    }

    /// The current snapshot as a frame: the cached one when nothing was committed since it
    /// was made, otherwise built under the lock and serialized after it.
    pub(super) fn snapshot_frame(&self, window_ms: Millis) -> Frame {
        let snapshot = {
            let state = self.lock();
            if let Some(frame) = self.cached_snapshot(state.seq) {
                return frame;
            }
            self.snapshot_locked(&state, window_ms)
        };
        self.cache(&snapshot)
    }

    fn cached_snapshot(&self, seq: u64) -> Option<Frame> {
        let cached = self.snapshot.lock().expect("snapshot cache lock poisoned");
        cached.as_ref().filter(|frame| frame.seq == seq).cloned()
    }

    /// Serializes `snapshot` and keeps the frame unless a newer one is already kept.
    fn cache(&self, snapshot: &Snapshot) -> Frame {
        let frame = Frame::snapshot(snapshot);
        let mut cached = self.snapshot.lock().expect("snapshot cache lock poisoned");
        if cached.as_ref().is_none_or(|held| held.seq <= frame.seq) {
            *cached = Some(frame.clone());
        }
        frame
    }

    pub(super) fn snapshot(&self, window_ms: Millis) -> Snapshot {
        self.snapshot_locked(&self.lock(), window_ms)
    }

    fn snapshot_locked(&self, state: &HubState, window_ms: Millis) -> Snapshot {
        let from = state.ts - window_ms;
        let first = state.log.partition_point(|frame| frame.logged().ts < from);
        let mut history = HistoryWindow::default();
        for name in state.definitions.iter().map(|d| &d.name) {
            history.series.insert(name.clone(), Vec::new());
        }
        for update in state.log.iter_from(first).map(Frame::logged) {
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
            alerts: state.committed_alerts.active(),
        }
    }

    pub(super) fn summary(&self) -> DashboardSummary {
        let state = self.lock();
        DashboardSummary { id: self.id.clone(), title: state.title.clone(), definitions: state.definitions.clone() }
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

/// A fresh epoch: eight base-36 characters, so restarts never reuse one by chance.
pub(super) fn new_epoch() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..8).map(|_| DIGITS[rand::random_range(0..DIGITS.len())] as char).collect()
}
