//! One dashboard's stream in this process: its epoch, seq, latest values, metric definitions
//! and its recent updates (`log::UpdateLog`, compact) for replay and snapshots. Frames for a
//! replay are made when a client resumes, the last replay's kept so that a burst of clients
//! resuming from one position serializes each update once; what the hub retains counts
//! against the server's byte budget (`budget`), which may take its oldest updates back.
//! `MemoryBroker` owns one hub per dashboard and decides when an update is committed; the hub
//! only keeps the state consistent and hands subscribers a start that matches their live
//! channel exactly. It also
//! holds the dashboard's alert rules' states: an update's alert changes are decided when its
//! seq is assigned (so they are persisted and broadcast inside it), and taken back with the
//! seq if it cannot be persisted.

use super::{budget::RetainBudget, log::UpdateLog, Frame, HubLimits, Subscription};
use crate::model::latest::Latest;
use crate::protocol::{
    AlertChange, DashboardSummary, HistoryWindow, Kinds, MetricDefinition, Metrics, Millis, Position, SeriesKind,
    Snapshot, Update,
};
use crate::server::{
    alerts::eval::{DashboardAlerts, LogStart},
    store::RecoveredDashboard,
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};
use tokio::sync::broadcast;

/// A replay's frames kept for the next client resuming from the same position, up to this
/// many bytes of JSON.
const MAX_CACHED_REPLAY: usize = 4 << 20;

/// The frames of the last replay: updates `since + 1` on, serialized.
struct CachedReplay {
    since: u64,
    frames: Vec<Frame>,
    bytes: usize,
}

pub(super) struct Hub {
    pub(super) id: String,
    pub(super) epoch: Arc<str>,
    /// Order of creation, for listing.
    pub(super) rank: usize,
    /// Frames a subscriber may fall behind by (`--live-buffer`).
    live_capacity: usize,
    /// A std lock: held only for in-memory work, never across an `.await`.
    state: Mutex<HubState>,
    /// The last snapshot frame made, shared by every subscriber that needs one at that seq (a
    /// burst of lagging readers resyncs with one serialization). Never locked while waiting
    /// for `state`.
    snapshot: Mutex<Option<Frame>>,
    /// The last replay made (`CachedReplay`). Never locked while waiting for `state`.
    replay: Mutex<Option<CachedReplay>>,
    /// The server's retention budget, which counts `retained`.
    budget: RetainBudget,
    /// Bytes of the log and of the cached replay, readable without the locks.
    log_bytes: AtomicUsize,
    replay_bytes: AtomicUsize,
    /// Updates serialized for replays (tests count them).
    pub(super) replay_serializations: AtomicU64,
}

pub(super) struct HubState {
    /// The subscribers' channel, while there are any: its slots are allocated whole when it is
    /// made (about 90 KB at the default `--live-buffer`), which a dashboard nobody watches
    /// (a Telegraf fleet's thousand) should not pay.
    live: Option<broadcast::Sender<Frame>>,
    title: String,
    /// In display order.
    definitions: Vec<MetricDefinition>,
    /// Where each name is in `definitions`.
    pub(super) known: HashMap<String, usize>,
    pub(super) declared: bool,
    /// The last seq assigned; ahead of `seq` while a batch is being persisted.
    assigned: u64,
    /// The last seq committed and broadcast.
    seq: u64,
    /// The newest update time seen (a late update does not move it back).
    ts: Millis,
    latest: Latest,
    /// The most recent updates, oldest first.
    log: UpdateLog,
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
        Hub {
            id: id.to_owned(),
            epoch,
            rank,
            live_capacity: limits.live_capacity.max(1),
            state: Mutex::new(HubState {
                live: None,
                title: id.to_owned(),
                definitions: Vec::new(),
                known: HashMap::new(),
                declared: false,
                assigned: 0,
                seq: 0,
                ts: 0,
                latest: Latest::default(),
                log: UpdateLog::new(limits.replay_capacity),
                alerts: DashboardAlerts::default(),
                committed_alerts: DashboardAlerts::default(),
                in_flight_alerts: VecDeque::new(),
            }),
            snapshot: Mutex::new(None),
            replay: Mutex::new(None),
            budget: limits.budget.clone(),
            log_bytes: AtomicUsize::new(0),
            replay_bytes: AtomicUsize::new(0),
            replay_serializations: AtomicU64::new(0),
        }
    }

    /// A hub as the store last saw it; metric definitions are inferred (in the order the metrics
    /// first appeared, with the kinds their producers stated) until declared again.
    pub(super) fn restore(dashboard: RecoveredDashboard, rank: usize, limits: &HubLimits) -> Self {
        let hub = Hub::new(&dashboard.id, dashboard.epoch.into(), rank, limits);
        {
            let mut state = hub.lock();
            for name in dashboard.metrics.iter().chain(dashboard.latest.keys()) {
                state.define(name);
            }
            state.state_kinds(&dashboard.kinds);
            state.assigned = dashboard.seq;
            state.seq = dashboard.seq;
            state.ts = dashboard.ts;
            state.latest = Latest::as_of(dashboard.latest, dashboard.ts);
            let added = state.log.push_all(&dashboard.log);
            hub.account(&state, added);
        }
        hub
    }

    /// Gives the hub its alert rules. After a restart `restore` sets them where the store
    /// says they stood before the retained log, then the log is replayed through them (the
    /// changes found again are already in that log). An empty log starts at `now`.
    pub(super) fn with_alerts(
        self,
        mut alerts: DashboardAlerts,
        restore: impl FnOnce(&mut DashboardAlerts, &LogStart),
        now: Millis,
    ) -> Self {
        {
            let mut state = self.lock();
            if !alerts.is_empty() {
                let start = match (state.log.first_seq(), state.log.first_ts()) {
                    (Some(seq), Some(ts)) => LogStart { epoch: self.epoch.to_string(), seq, ts },
                    _ => LogStart { epoch: self.epoch.to_string(), seq: state.seq + 1, ts: now },
                };
                restore(&mut alerts, &start);
                let counter = |name: &str| state.kind_of(name) == Some(SeriesKind::Counter);
                for (ts, values) in state.log.rows_from(0) {
                    let metrics: Metrics = values.map(|(name, value)| (name.to_owned(), value)).collect();
                    alerts.evaluate(&metrics, ts, &counter);
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
    pub(super) fn assign(&self, ts: Millis, metrics: Metrics, kinds: Kinds) -> Arc<Update> {
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
                let state = &mut *state;
                let (known, definitions) = (&state.known, &state.definitions);
                let counter = |name: &str| counter_by(&kinds, known, definitions, name);
                let changes = state.alerts.evaluate(&metrics, ts, &counter);
                let after = state.alerts.clone();
                state.in_flight_alerts.push_back((seq, after));
                changes
            };
            (seq, alerts)
        };
        Arc::new(Update { dashboard: self.id.clone(), seq, from_seq: None, ts, metrics, kinds, alerts })
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
        state.assigned = state.assigned.max(update.seq);
        state.ts = state.ts.max(update.ts);
        while state.in_flight_alerts.front().is_some_and(|(seq, _)| *seq <= update.seq) {
            if let Some((_, alerts)) = state.in_flight_alerts.pop_front() {
                state.committed_alerts = alerts;
            }
        }
        if !update.kinds.is_empty() && state.state_kinds(&update.kinds) {
            // A snapshot made before shows the old kinds.
            *self.snapshot.lock().expect("snapshot cache lock poisoned") = None;
        }
        state.latest.apply(update.ts, &update.metrics);
        let added = state.log.push(update);
        self.account(&state, added);
        state.send_live(frame);
    }

    /// Starts the hub again from a state read elsewhere (the Redis broker's log and latest
    /// values, when this node missed more than that log holds): seq, time, latest values and
    /// the retained updates, oldest first. Subscribers get the new state as a snapshot on
    /// their live channel, so they jump to it without reconnecting (PROTOCOL.md rule 4).
    pub(super) fn reset<'u>(
        &self,
        seq: u64,
        ts: Millis,
        latest: Latest,
        log: impl IntoIterator<Item = &'u Update> + Clone,
        window_ms: Millis,
    ) {
        let (snapshot, live) = {
            let mut state = self.lock();
            for name in latest.values().keys() {
                state.define(name);
            }
            for update in log.clone() {
                for name in update.metrics.keys() {
                    state.define(name);
                }
                state.state_kinds(&update.kinds);
            }
            state.seq = seq;
            state.assigned = seq;
            state.ts = ts;
            state.latest = latest;
            let before = state.log.bytes() as isize;
            state.log = UpdateLog::new(state.log.capacity());
            let delta = state.log.push_all(log) - before;
            self.account(&state, delta);
            (self.snapshot_locked(&state, window_ms), state.live.clone())
        };
        let frame = self.cache(&snapshot);
        if let Some(live) = live {
            // No receiver left is not an error: the next commit drops the channel.
            let _ = live.send(frame);
        }
    }

    /// Runs the alert rules over an update whose seq was assigned elsewhere (the Redis broker):
    /// every instance does, so each keeps its rules' memory (change windows, pending times)
    /// ready to take over; only the one holding the dashboard's alert lease announces what
    /// changed.
    pub(super) fn evaluate(&self, metrics: &Metrics, kinds: &Kinds, ts: Millis) -> Vec<AlertChange> {
        let mut state = self.lock();
        if state.alerts.is_empty() {
            return Vec::new();
        }
        let state = &mut *state;
        let (known, definitions) = (&state.known, &state.definitions);
        let counter = |name: &str| counter_by(kinds, known, definitions, name);
        state.alerts.evaluate(metrics, ts, &counter)
    }

    /// Takes alert changes announced by the instance that decides them: what snapshots show,
    /// and, unless this instance decided them itself, its rules' states too.
    pub(super) fn follow_alerts(&self, changes: &[AlertChange], decided_here: bool) {
        let mut state = self.lock();
        state.committed_alerts.restore(changes.to_vec());
        if !decided_here {
            state.alerts.restore(changes.to_vec());
        }
    }

    /// Whether this dashboard has alert rules.
    pub(super) fn has_alert_rules(&self) -> bool {
        !self.lock().alerts.is_empty()
    }

    /// The title and definitions, for a hub that replaces this one.
    pub(super) fn declaration(&self) -> (String, Vec<MetricDefinition>, bool) {
        let state = self.lock();
        (state.title.clone(), state.definitions.clone(), state.declared)
    }

    /// The last seq committed.
    pub(super) fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Counts `delta` bytes against the budget and notes what the hub now retains.
    fn account(&self, state: &HubState, delta: isize) {
        self.budget.add(delta);
        self.log_bytes.store(state.log.bytes(), Ordering::Relaxed);
    }

    /// The first seq retained and how many updates are (for tests).
    #[cfg(test)]
    pub(super) fn log_span(&self) -> (Option<u64>, usize) {
        let state = self.lock();
        (state.log.first_seq(), state.log.len())
    }

    /// Whether the subscribers' channel exists (for tests).
    #[cfg(test)]
    pub(super) fn has_live_channel(&self) -> bool {
        self.lock().live.is_some()
    }

    /// Bytes this hub retains: its log and its cached replay.
    pub(super) fn retained(&self) -> usize {
        self.log_bytes.load(Ordering::Relaxed) + self.replay_bytes.load(Ordering::Relaxed)
    }

    /// Frees about `wanted` bytes for the budget: the cached replay first (it can be made
    /// again), then the oldest updates (the newest always stays). Returns the updates dropped.
    pub(super) fn evict(&self, wanted: usize) -> usize {
        let mut state = self.lock();
        let cached = self.replay.lock().expect("replay cache lock poisoned").take().map_or(0, |replay| replay.bytes);
        self.replay_bytes.store(0, Ordering::Relaxed);
        let (freed, rows) = state.log.evict_oldest(wanted.saturating_sub(cached));
        self.account(&state, -((freed + cached) as isize));
        rows
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
        state.known = definitions.iter().enumerate().map(|(at, d)| (d.name.clone(), at)).collect();
        state.definitions = definitions;
        state.declared = true;
        // A snapshot made before carries the old title and definitions.
        *self.snapshot.lock().expect("snapshot cache lock poisoned") = None;
    }

    pub(super) fn subscribe(&self, since: Option<&Position>, window_ms: Millis) -> Subscription {
        // Ok: frames ready to send (a replay, or a snapshot already serialized); Err: a
        // snapshot still to serialize.
        let (live, start) = {
            let mut state = self.lock();
            // Taken under the lock: `live` sees exactly the updates after `state.seq`.
            let capacity = self.live_capacity;
            let live = state.live.get_or_insert_with(|| broadcast::channel(capacity).0).subscribe();
            let start = match since.filter(|since| can_replay(&state, &self.epoch, since)) {
                Some(since) => self.replay_locked(&state, since.seq),
                None => match self.cached_snapshot(state.seq) {
                    Some(frame) => Start::Ready(vec![frame]),
                    None => Start::Snapshot(self.snapshot_locked(&state, window_ms)),
                },
            };
            (live, start)
        };
        // Serialized after the lock is released: a snapshot carries the whole history window,
        // a replay possibly thousands of updates, and publishers must not wait for either.
        let start = match start {
            Start::Ready(frames) => frames,
            Start::Snapshot(snapshot) => vec![self.cache(&snapshot)],
            Start::Replay { since, cached, missing } => self.replay_frames(since, cached, missing),
        };
        Subscription { epoch: self.epoch.to_string(), start, live }
    }

    /// What a replay after `since` needs, under the lock: the frames the last replay from the
    /// same position already made, and the updates after them.
    fn replay_locked(&self, state: &HubState, since: u64) -> Start {
        let cached: Vec<Frame> = match &*self.replay.lock().expect("replay cache lock poisoned") {
            Some(replay) if replay.since == since => replay.frames.clone(),
            _ => Vec::new(),
        };
        let from = cached.last().map_or(since, |frame| frame.seq);
        let first = state.log.after_seq(from);
        let missing = (first..state.log.len()).filter_map(|index| state.log.update_at(index, &self.id)).collect();
        Start::Replay { since, cached, missing }
    }

    /// Serializes the missing updates after the cached frames, and keeps the whole replay for
    /// the next client resuming from `since`.
    fn replay_frames(&self, since: u64, mut frames: Vec<Frame>, missing: Vec<Update>) -> Vec<Frame> {
        if missing.is_empty() {
            return frames;
        }
        self.replay_serializations.fetch_add(missing.len() as u64, Ordering::Relaxed);
        frames.extend(missing.into_iter().map(|update| Frame::update(Arc::new(update))));
        let bytes: usize = frames.iter().map(|frame| frame.json.len()).sum();
        if bytes <= MAX_CACHED_REPLAY {
            let mut cache = self.replay.lock().expect("replay cache lock poisoned");
            let before = cache.as_ref().map_or(0, |replay| replay.bytes);
            *cache = Some(CachedReplay { since, frames: frames.clone(), bytes });
            self.replay_bytes.store(bytes, Ordering::Relaxed);
            self.budget.add(bytes as isize - before as isize);
        }
        frames
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

    /// The alerts a snapshot would list now.
    pub(super) fn active_alerts(&self) -> Vec<AlertChange> {
        self.lock().committed_alerts.active()
    }

    pub(super) fn definitions(&self) -> Vec<MetricDefinition> {
        self.lock().definitions.clone()
    }

    /// `metric`'s kind as its definition says, if the dashboard knows it.
    pub(super) fn kind(&self, metric: &str) -> Option<SeriesKind> {
        self.lock().kind_of(metric)
    }

    pub(super) fn snapshot(&self, window_ms: Millis) -> Snapshot {
        self.snapshot_locked(&self.lock(), window_ms)
    }

    fn snapshot_locked(&self, state: &HubState, window_ms: Millis) -> Snapshot {
        let first = state.log.at_or_after(state.ts - window_ms);
        let mut history = HistoryWindow::default();
        for name in state.definitions.iter().map(|d| &d.name) {
            history.series.insert(name.clone(), Vec::new());
        }
        for (ts, values) in state.log.rows_from(first) {
            let row = history.ts.len();
            history.ts.push(ts);
            for series in history.series.values_mut() {
                series.push(None);
            }
            for (name, value) in values {
                if let Some(series) = history.series.get_mut(name) {
                    series[row] = Some(value);
                }
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
        DashboardSummary {
            id: self.id.clone(),
            title: state.title.clone(),
            definitions: state.definitions.clone(),
            series: state.definitions.len(),
            sources: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl HubState {
    /// Sends `frame` to the subscribers; with none left, drops the channel (made again by the
    /// next subscription, under the same lock).
    fn send_live(&mut self, frame: Frame) {
        if self.live.as_ref().is_some_and(|live| live.send(frame).is_err()) {
            self.live = None;
        }
    }

    /// Adds an inferred definition for a metric not seen before.
    fn define(&mut self, name: &str) {
        if !self.known.contains_key(name) {
            self.known.insert(name.to_owned(), self.definitions.len());
            self.definitions.push(MetricDefinition::inferred(name));
        }
    }

    /// `name`'s kind as its definition says, if known.
    fn kind_of(&self, name: &str) -> Option<SeriesKind> {
        self.known.get(name).map(|&at| self.definitions[at].kind)
    }

    /// Takes the kinds a producer stated (over what names or the configuration said: the
    /// producer knows). Whether a definition changed.
    fn state_kinds(&mut self, kinds: &Kinds) -> bool {
        let mut changed = false;
        for (name, &kind) in kinds {
            self.define(name);
            let definition = &mut self.definitions[self.known[name.as_str()]];
            changed |= definition.kind != kind;
            definition.kind = kind;
        }
        changed
    }
}

/// Whether `name` is a counter: as the update's `kinds` state, else as the dashboard's
/// definition says (what alert rules on queries read a series as).
fn counter_by(kinds: &Kinds, known: &HashMap<String, usize>, definitions: &[MetricDefinition], name: &str) -> bool {
    let kind = kinds.get(name).copied().or_else(|| known.get(name).map(|&at| definitions[at].kind));
    kind == Some(SeriesKind::Counter)
}

/// How a subscription starts, decided under the lock and serialized after it.
enum Start {
    Ready(Vec<Frame>),
    Snapshot(Snapshot),
    /// The updates after `since`: frames already made, then the updates still to serialize.
    Replay {
        since: u64,
        cached: Vec<Frame>,
        missing: Vec<Update>,
    },
}

/// Whether every update after `since` can be replayed: not when it is of another epoch, from
/// the future, or older than the retained log (the ring or the budget let it go).
fn can_replay(state: &HubState, epoch: &str, since: &Position) -> bool {
    if since.epoch != epoch || since.seq > state.seq {
        return false;
    }
    since.seq == state.seq || state.log.first_seq().is_some_and(|oldest| since.seq + 1 >= oldest)
}

/// A fresh epoch: eight base-36 characters, so restarts never reuse one by chance.
pub(super) fn new_epoch() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..8).map(|_| DIGITS[rand::random_range(0..DIGITS.len())] as char).collect()
}
