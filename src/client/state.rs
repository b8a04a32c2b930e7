//! The page's reactive state, as two structs of signals provided through context:
//! `DashboardState` holds everything shown about one dashboard (definitions, latest values,
//! per-metric history rings, stream position, chosen time window); `ConnectionState` holds the
//! one connection every open dashboard shares (status, transport, round trip, recoveries) and
//! the list of dashboards it serves. Messages from the server are applied here and nowhere else.

use crate::model::{
    alerts::{RecordedChange, RuleSummary},
    latest::Latest,
    sequence::{continuity, Continuity},
    series::SeriesSet,
};
use crate::protocol::{AlertChange, AlertPhase, MetricDefinition, Millis, Position, ServerMessage, Snapshot};
use leptos::prelude::*;

use super::connection::{
    policy::Transport,
    status::{ConnectionStatus, Recovery},
};

/// Points kept per metric: more than the longest live window at one update per second.
pub const SERIES_CAPACITY: usize = 4096;

/// How much history the charts show: the short ones from the live stream's memory, the long
/// ones from the server's history store (with the live edge appended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeWindow {
    #[default]
    Seconds30,
    Minutes5,
    Hour1,
    Hours24,
    Days7,
    Days30,
}

impl TimeWindow {
    pub const ALL: [TimeWindow; 6] = [
        TimeWindow::Seconds30,
        TimeWindow::Minutes5,
        TimeWindow::Hour1,
        TimeWindow::Hours24,
        TimeWindow::Days7,
        TimeWindow::Days30,
    ];

    pub fn millis(self) -> Millis {
        const MINUTE: Millis = 60_000;
        match self {
            TimeWindow::Seconds30 => 30_000,
            TimeWindow::Minutes5 => 5 * MINUTE,
            TimeWindow::Hour1 => 60 * MINUTE,
            TimeWindow::Hours24 => 24 * 60 * MINUTE,
            TimeWindow::Days7 => 7 * 24 * 60 * MINUTE,
            TimeWindow::Days30 => 30 * 24 * 60 * MINUTE,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeWindow::Seconds30 => "30 s",
            TimeWindow::Minutes5 => "5 min",
            TimeWindow::Hour1 => "1 h",
            TimeWindow::Hours24 => "24 h",
            TimeWindow::Days7 => "7 d",
            TimeWindow::Days30 => "30 d",
        }
    }

    /// As the URL writes it (`range=1h`).
    pub fn token(self) -> &'static str {
        match self {
            TimeWindow::Seconds30 => "30s",
            TimeWindow::Minutes5 => "5m",
            TimeWindow::Hour1 => "1h",
            TimeWindow::Hours24 => "24h",
            TimeWindow::Days7 => "7d",
            TimeWindow::Days30 => "30d",
        }
    }

    pub fn parse(token: &str) -> Option<TimeWindow> {
        TimeWindow::ALL.into_iter().find(|window| window.token() == token)
    }

    /// The history step the window is read at (360 to 1,440 buckets), or `None` when the
    /// live stream's memory covers it.
    pub fn history_step(self) -> Option<&'static str> {
        match self {
            TimeWindow::Seconds30 | TimeWindow::Minutes5 => None,
            TimeWindow::Hour1 => Some("10s"),
            TimeWindow::Hours24 => Some("1m"),
            TimeWindow::Days7 => Some("10m"),
            TimeWindow::Days30 => Some("1h"),
        }
    }
}

/// The outcome of applying a message, for the connection to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// State changed (or the message was a harmless duplicate).
    Ok,
    /// An update skipped ahead: resubscribe with `since` (PROTOCOL.md rule 3).
    Gap,
    /// Not about this dashboard's data (pong, error, alert).
    Other,
}

/// The page's one connection: every dashboard open on the page is served by it (subscribed
/// when it opens, unsubscribed when it closes), so navigating never opens a new socket.
#[derive(Clone, Copy)]
pub struct ConnectionState {
    pub status: RwSignal<ConnectionStatus>,
    /// The transport in use: WebSocket unless the page asked for another or fell back.
    pub transport: RwSignal<Transport>,
    /// Browser time (ms since the Unix epoch) the last message arrived; 0 before any.
    pub heard_at: RwSignal<f64>,
    /// Set by "Retry now": the connection tries at once instead of waiting.
    pub retry_now: RwSignal<bool>,
    /// Round-trip time of the last WebSocket ping, in ms.
    pub rtt_ms: RwSignal<Option<f64>>,
    /// Connections re-established after having been live.
    pub reconnects: RwSignal<u32>,
    pub recovery: RwSignal<Option<Recovery>>,
    /// The dashboards open on the page, in the order they opened.
    pub dashboards: RwSignal<Vec<DashboardState>>,
    /// WebSockets opened so far: stays 1 while navigating between dashboards.
    pub sockets_opened: RwSignal<u32>,
}

impl ConnectionState {
    pub fn new() -> Self {
        ConnectionState {
            status: RwSignal::new(ConnectionStatus::Connecting),
            transport: RwSignal::new(Transport::WebSocket),
            heard_at: RwSignal::new(0.0),
            retry_now: RwSignal::new(false),
            rtt_ms: RwSignal::new(None),
            reconnects: RwSignal::new(0),
            recovery: RwSignal::new(None),
            dashboards: RwSignal::new(Vec::new()),
            sockets_opened: RwSignal::new(0),
        }
    }

    /// Serves `dashboard` until the calling component is cleaned up.
    pub fn open(&self, dashboard: DashboardState) {
        let id = dashboard.id.get_value();
        let dashboards = self.dashboards;
        // A newer view of the same dashboard replaces an older one still closing.
        dashboards.update(|open| {
            open.retain(|d| d.id.try_with_value(|other| other != &id).unwrap_or(false));
            open.push(dashboard);
        });
        on_cleanup(move || dashboards.update(|open| open.retain(|d| d != &dashboard)));
    }

    /// The open dashboard named `id`.
    pub fn find(&self, id: &str) -> Option<DashboardState> {
        self.dashboards.with_untracked(|open| {
            open.iter().copied().find(|d| d.id.try_with_value(|other| other == id).unwrap_or(false))
        })
    }

    /// Ids of the open dashboards.
    pub fn open_ids(&self) -> Vec<String> {
        self.dashboards.with_untracked(|open| open.iter().filter_map(|d| d.id.try_get_value()).collect())
    }
}

impl Default for ConnectionState {
    fn default() -> Self {
        ConnectionState::new()
    }
}

#[derive(Clone, Copy)]
pub struct DashboardState {
    /// The dashboard id; fixed for the state's life.
    pub id: StoredValue<String>,
    pub title: RwSignal<String>,
    /// Metrics in display order.
    pub definitions: RwSignal<Vec<MetricDefinition>>,
    /// Latest value of every metric, by each metric's own time.
    pub latest: RwSignal<Latest>,
    /// Recent points of every metric, in fixed-size rings.
    pub series: RwSignal<SeriesSet>,
    /// Epoch and last seq applied.
    pub position: RwSignal<Position>,
    /// Server time of the newest update (a late one does not move it back): the right edge
    /// of the charts.
    pub updated_at: RwSignal<Millis>,
    pub window: RwSignal<TimeWindow>,
    /// False while the browser tab is hidden: charts do not draw then.
    pub visible: RwSignal<bool>,
    /// Updates that did not continue the held seq (duplicates, gaps): zero when the stream
    /// kept its contract through every cut and reconnect.
    pub seq_anomalies: RwSignal<u32>,
    /// Alert rules that are not inactive, as their last change said.
    pub alerts: RwSignal<Vec<AlertChange>>,
    /// Alert changes to tell the person about (firing, escalation, resolve), newest last.
    pub notices: RwSignal<Vec<AlertNotice>>,
    /// The dashboard's alert rules (for the charts' thresholds); fixed for the page's life.
    pub rules: StoredValue<Vec<RuleSummary>>,
    /// Alert changes seen, oldest first: the recorded history fetched with the page, then what
    /// updates carried (for the charts' firing spans). At most `MAX_ALERT_LOG`.
    pub alert_log: RwSignal<Vec<RecordedChange>>,
    /// Names this state's readers of the stream in `TAPS`.
    serial: u64,
}

thread_local! {
    /// Who reads each dashboard state's updates as they are applied (query panels in the
    /// browser): the state's serial, the tap's key, the tap. Kept out of the state's signals
    /// because the server renders on many threads and a tap is neither `Send` nor needed there.
    static TAPS: std::cell::RefCell<Vec<(u64, u64, Tap)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What a reader of the stream is told: an update applied (its time and values), or that the
/// state was replaced by a snapshot (start over from `series`).
#[derive(Clone, Copy)]
pub enum Tapped<'a> {
    Update(Millis, &'a crate::protocol::Metrics),
    Replaced,
}

/// A reader of the stream (`DashboardState::tap`).
pub type Tap = std::rc::Rc<dyn Fn(Tapped)>;

/// Alert changes kept for the charts.
const MAX_ALERT_LOG: usize = 2_000;

/// An alert change shown as a toast. `key` names the change (dashboard, epoch, seq, rule), so
/// the same change is never shown twice.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertNotice {
    pub key: String,
    pub change: AlertChange,
}

/// Toasts kept at most per dashboard; older ones go first.
const MAX_NOTICES: usize = 5;

/// Identity, not contents: two states are equal when they are the same state (the same view
/// of a dashboard), which its one `StoredValue` tells.
impl PartialEq for DashboardState {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl DashboardState {
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let state = DashboardState {
            id: StoredValue::new(snapshot.dashboard.clone()),
            title: RwSignal::new(String::new()),
            definitions: RwSignal::new(Vec::new()),
            latest: RwSignal::new(Latest::default()),
            series: RwSignal::new(SeriesSet::new(SERIES_CAPACITY)),
            position: RwSignal::new(snapshot.position()),
            updated_at: RwSignal::new(snapshot.ts),
            window: RwSignal::new(TimeWindow::Seconds30),
            visible: RwSignal::new(true),
            seq_anomalies: RwSignal::new(0),
            alerts: RwSignal::new(Vec::new()),
            notices: RwSignal::new(Vec::new()),
            rules: StoredValue::new(Vec::new()),
            alert_log: RwSignal::new(Vec::new()),
            serial: super::redraw::new_key(),
        };
        state.replace(snapshot);
        state
    }

    /// The state with the dashboard's alert rules.
    pub fn with_rules(self, rules: Vec<RuleSummary>) -> Self {
        self.rules.set_value(rules);
        self
    }

    /// Tells `tap` of every update applied (after the state took it) and of every snapshot,
    /// until the calling component is cleaned up.
    /// Not on the server: it renders what the state holds, and no update arrives meanwhile.
    pub fn tap(&self, tap: Tap) {
        if cfg!(feature = "ssr") {
            return;
        }
        let (serial, key) = (self.serial, super::redraw::new_key());
        TAPS.with_borrow_mut(|taps| taps.push((serial, key, tap)));
        // Cleanups run on the thread that made the owner: the browser's one.
        on_cleanup(move || TAPS.with_borrow_mut(|taps| taps.retain(|(_, other, _)| *other != key)));
    }

    fn tell(&self, tapped: Tapped) {
        let taps: Vec<Tap> = TAPS.with_borrow(|taps| {
            taps.iter().filter(|(serial, _, _)| *serial == self.serial).map(|(_, _, tap)| tap.clone()).collect()
        });
        for tap in taps {
            tap(tapped);
        }
    }

    /// Adds recorded alert changes from before the page (the alert history), keeping the
    /// log in time order without a change twice.
    pub fn add_alert_history(&self, recorded: Vec<RecordedChange>) {
        self.alert_log.update(|log| {
            let mut merged: Vec<RecordedChange> =
                recorded.into_iter().filter(|earlier| !log.contains(earlier)).collect();
            merged.append(log);
            crate::model::sort::sort_by_key(&mut merged, |recorded| recorded.ts);
            let excess = merged.len().saturating_sub(MAX_ALERT_LOG);
            merged.drain(..excess);
            *log = merged;
        });
    }

    /// Replaces everything with `snapshot`.
    fn replace(&self, snapshot: Snapshot) {
        self.position.set(snapshot.position());
        self.updated_at.set(snapshot.ts);
        self.series.set(SeriesSet::from_window(&snapshot.history, SERIES_CAPACITY));
        self.latest.set(Latest::as_of(snapshot.metrics, snapshot.ts));
        self.definitions.set(snapshot.definitions);
        // A snapshot says what is active; it announces nothing (a reload shows no toast again).
        self.alerts.set(snapshot.alerts);
        self.title.set(if snapshot.title.is_empty() { snapshot.dashboard } else { snapshot.title });
    }

    /// Applies an update's alert changes: the active list follows them, and firing, escalation
    /// and the resolve of a fired alert become notices (each change once).
    fn apply_alerts(&self, epoch: &str, seq: u64, ts: Millis, changes: Vec<AlertChange>) {
        let dashboard = self.id.get_value();
        self.alert_log.update(|log| {
            log.extend(changes.iter().map(|change| RecordedChange { ts, change: change.clone() }));
            let excess = log.len().saturating_sub(MAX_ALERT_LOG);
            log.drain(..excess);
        });
        for change in changes {
            let was_firing = self.alerts.with_untracked(|active| {
                active.iter().any(|shown| shown.rule == change.rule && shown.state == AlertPhase::Firing)
            });
            let tell = match change.state {
                AlertPhase::Firing => true,
                AlertPhase::Resolved => was_firing,
                AlertPhase::Pending | AlertPhase::NoData => false,
            };
            self.alerts.update(|active| {
                active.retain(|shown| shown.rule != change.rule);
                if change.state != AlertPhase::Resolved {
                    active.push(change.clone());
                }
            });
            if tell {
                let key = format!("{dashboard}:{epoch}:{seq}:{}", change.rule);
                self.notices.update(|notices| {
                    if !notices.iter().any(|notice| notice.key == key) {
                        notices.push(AlertNotice { key, change });
                        let excess = notices.len().saturating_sub(MAX_NOTICES);
                        notices.drain(..excess);
                    }
                });
            }
        }
    }

    /// Applies one message from the server.
    pub fn apply(&self, message: ServerMessage) -> Applied {
        match message {
            ServerMessage::Snapshot(snapshot) if snapshot.dashboard == self.id.read_value().as_str() => {
                self.replace(snapshot);
                self.tell(Tapped::Replaced);
                Applied::Ok
            }
            ServerMessage::Update(update) if update.dashboard == self.id.read_value().as_str() => {
                let first = update.first_seq();
                match self.position.with_untracked(|held| continuity(held.seq, first, update.seq)) {
                    Continuity::Duplicate => {
                        self.seq_anomalies.update(|count| *count += 1);
                        return Applied::Ok;
                    }
                    Continuity::Gap { .. } => {
                        self.seq_anomalies.update(|count| *count += 1);
                        return Applied::Gap;
                    }
                    Continuity::Next => {}
                }
                self.position.update(|held| held.seq = update.seq);
                if !update.alerts.is_empty() {
                    let epoch = self.position.with_untracked(|held| held.epoch.clone());
                    self.apply_alerts(&epoch, update.seq, update.ts, update.alerts);
                }
                if update.ts > self.updated_at.get_untracked() {
                    self.updated_at.set(update.ts);
                }
                self.series.update(|series| series.push(update.ts, &update.metrics));
                let new_metric = self
                    .latest
                    .with_untracked(|latest| update.metrics.keys().any(|name| !latest.values().contains_key(name)));
                self.latest.update(|latest| latest.apply(update.ts, &update.metrics));
                if new_metric {
                    self.add_inferred_definitions();
                }
                if !update.kinds.is_empty() {
                    self.take_stated_kinds(&update.kinds);
                }
                self.tell(Tapped::Update(update.ts, &update.metrics));
                Applied::Ok
            }
            _ => Applied::Other,
        }
    }

    /// Kinds a producer stated replace what names said (a StatsD `c` is a counter).
    fn take_stated_kinds(&self, kinds: &crate::protocol::Kinds) {
        let differs = self.definitions.with_untracked(|definitions| {
            definitions.iter().any(|d| kinds.get(&d.name).is_some_and(|kind| *kind != d.kind))
        });
        if differs {
            self.definitions.update(|definitions| {
                for definition in definitions.iter_mut() {
                    if let Some(kind) = kinds.get(&definition.name) {
                        definition.kind = *kind;
                    }
                }
            });
        }
    }

    /// Metrics that appeared without a definition (first ingest) get an inferred one.
    fn add_inferred_definitions(&self) {
        let missing: Vec<String> = self.latest.with_untracked(|latest| {
            self.definitions.with_untracked(|definitions| {
                latest.values().keys().filter(|name| !definitions.iter().any(|d| &d.name == *name)).cloned().collect()
            })
        });
        if !missing.is_empty() {
            self.definitions
                .update(|definitions| definitions.extend(missing.iter().map(|name| MetricDefinition::inferred(name))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HistoryWindow, SeriesKind, Update};

    fn snapshot(seq: u64) -> Snapshot {
        Snapshot {
            dashboard: "main".into(),
            title: "Main".into(),
            epoch: "e".into(),
            seq,
            ts: 1000,
            metrics: [("a".to_string(), 1.0)].into(),
            history: HistoryWindow { ts: vec![1000], series: [("a".to_string(), vec![Some(1.0)])].into() },
            definitions: vec![MetricDefinition::inferred("a")],
            alerts: vec![],
        }
    }

    fn update(seq: u64, metrics: &[(&str, f64)]) -> ServerMessage {
        ServerMessage::Update(Update {
            dashboard: "main".into(),
            seq,
            from_seq: None,
            ts: 1000 + seq as i64 * 1000,
            metrics: crate::model::metrics(metrics),
            kinds: Default::default(),
            alerts: Vec::new(),
        })
    }

    #[test]
    fn applies_in_order_ignores_duplicates_and_reports_gaps() {
        let owner = Owner::new();
        owner.with(|| {
            let state = DashboardState::from_snapshot(snapshot(5));
            assert_eq!(state.apply(update(6, &[("a", 2.0)])), Applied::Ok);
            assert_eq!(state.apply(update(6, &[("a", 99.0)])), Applied::Ok);
            assert_eq!(state.latest.get_untracked().values()["a"], 2.0, "the duplicate changed nothing");
            assert_eq!(state.apply(update(8, &[("a", 3.0)])), Applied::Gap);
            assert_eq!(state.position.get_untracked().seq, 6);
            assert_eq!(state.series.with_untracked(|s| s.get("a").unwrap().len()), 2);
        });
    }

    #[test]
    fn a_kind_the_producer_states_replaces_the_one_its_name_says() {
        let owner = Owner::new();
        owner.with(|| {
            let state = DashboardState::from_snapshot(snapshot(5));
            let ServerMessage::Update(mut stated) = update(6, &[("requests", 10.0)]) else { unreachable!() };
            stated.kinds = [("requests".to_string(), SeriesKind::Counter)].into();
            assert_eq!(state.apply(ServerMessage::Update(stated)), Applied::Ok);
            let kind = state.definitions.with_untracked(|d| d.iter().find(|d| d.name == "requests").unwrap().kind);
            assert_eq!(kind, SeriesKind::Counter, "a StatsD counter without _total is still a counter");
        });
    }

    #[test]
    fn new_metrics_get_definitions_and_snapshots_replace_everything() {
        let owner = Owner::new();
        owner.with(|| {
            let state = DashboardState::from_snapshot(snapshot(1));
            state.apply(update(2, &[("b", 7.0)]));
            let names: Vec<_> = state.definitions.get_untracked().into_iter().map(|d| d.name).collect();
            assert_eq!(names, vec!["a", "b"]);
            state.apply(ServerMessage::Snapshot(snapshot(40)));
            assert_eq!(state.position.get_untracked().seq, 40);
            assert!(!state.latest.get_untracked().values().contains_key("b"));
            assert_eq!(state.apply(ServerMessage::Pong { id: 1 }), Applied::Other);
        });
    }

    #[test]
    fn a_late_update_goes_into_its_place_without_rolling_the_card_or_the_edge_back() {
        let owner = Owner::new();
        owner.with(|| {
            let state = DashboardState::from_snapshot(snapshot(5));
            // update(n) is at 1000 + n * 1000 ms; this one is stamped earlier than the snapshot.
            let late = ServerMessage::Update(crate::protocol::Update {
                dashboard: "main".into(),
                seq: 6,
                from_seq: None,
                ts: 500,
                metrics: [("a".to_string(), 0.5)].into(),
                kinds: Default::default(),
                alerts: Vec::new(),
            });
            assert_eq!(state.apply(late), Applied::Ok);
            assert_eq!(state.latest.get_untracked().values()["a"], 1.0, "the newer value stays");
            assert_eq!(state.updated_at.get_untracked(), 1000, "the edge does not go back");
            let points: Vec<_> = state.series.with_untracked(|s| s.get("a").unwrap().iter().copied().collect());
            assert_eq!(points, vec![(500, 0.5), (1000, 1.0)], "the late point is drawn where it belongs");
        });
    }

    #[test]
    fn open_dashboards_are_found_by_id_and_closed_on_cleanup() {
        let root = Owner::new();
        root.with(|| {
            let connection = ConnectionState::new();
            let view = Owner::new();
            let main = view.with(|| {
                let main = DashboardState::from_snapshot(snapshot(1));
                connection.open(main);
                main
            });
            assert!(connection.find("main") == Some(main));
            assert_eq!(connection.open_ids(), vec!["main".to_owned()]);
            view.cleanup();
            assert!(connection.dashboards.with_untracked(Vec::is_empty), "closing the view closes it");
        });
    }

    fn alerting(seq: u64, state: crate::protocol::AlertPhase) -> ServerMessage {
        let change = crate::protocol::AlertChange {
            rule: "hot".into(),
            severity: crate::protocol::Severity::Critical,
            state,
            metric: "a".into(),
            value: Some(99.0),
            threshold: Some(90.0),
            since: 1,
            message: "a above 90".into(),
        };
        let ServerMessage::Update(mut update) = update(seq, &[("a", 99.0)]) else { unreachable!() };
        update.alerts = vec![change];
        ServerMessage::Update(update)
    }

    #[test]
    fn alert_changes_follow_updates_and_are_told_once() {
        use crate::protocol::AlertPhase::*;
        Owner::new().with(|| {
            let state = DashboardState::from_snapshot(snapshot(5));
            state.apply(alerting(6, Pending));
            assert_eq!(state.alerts.get_untracked()[0].state, Pending);
            assert!(state.notices.get_untracked().is_empty(), "pending is shown on the card, not told");
            state.apply(alerting(7, Firing));
            assert_eq!(state.alerts.get_untracked().len(), 1);
            assert_eq!(state.notices.get_untracked().len(), 1);
            assert_eq!(state.notices.get_untracked()[0].key, "main:e:7:hot");
            assert_eq!(state.apply(alerting(7, Firing)), Applied::Ok, "a duplicate is skipped");
            assert_eq!(state.notices.get_untracked().len(), 1, "told once");
            state.apply(alerting(8, Resolved));
            assert!(state.alerts.get_untracked().is_empty());
            assert_eq!(state.notices.get_untracked()[1].change.state, Resolved);
            // A snapshot says what is active and tells nothing.
            let mut active = snapshot(9);
            let ServerMessage::Update(firing) = alerting(9, Firing) else { unreachable!() };
            active.alerts = firing.alerts;
            state.apply(ServerMessage::Snapshot(active));
            assert_eq!(state.alerts.get_untracked().len(), 1);
            assert_eq!(state.notices.get_untracked().len(), 2);
        });
    }
}
