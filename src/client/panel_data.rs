//! A panel's series, whatever it shows: metrics by key (a counter's as its rate, from the
//! stream's memory), or a query's answers, computed in the browser by the same `LiveQuery` the
//! server's rules run, an update at a time as the stream applies it (`DashboardState::tap`).
//! Spans the stream does not hold (long windows, an old zoom) and the earlier period compared
//! with come from the history and query APIs; the live edge is joined from the stream.
//!
//! The query engine (parser, evaluator, `regex-lite`) is in a module of its own in the browser
//! (`lazily`): a dashboard's default panels show metrics, and only a panel with a query fetches
//! it, when it starts (`start_query`). So are the history and query requests (`fetch`): a
//! dashboard shown over the span the stream holds never makes one.

use super::history::with_live_edge;
use super::live_edge::LiveEdge;
use super::state::{DashboardState, Tapped, SERIES_CAPACITY};
use super::view::{history_needed, HistorySpan, ViewState};
use crate::model::{
    counter::rates,
    family::legend_texts,
    panel::PanelSpec,
    query::{LiveQuery, Query},
    ring::Ring,
    series::{Point, SeriesSet},
};
use crate::protocol::{series::SeriesKey, Metrics, Millis, SeriesKind};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// One series of a panel as drawn: its key, the legend text, its labels and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelLine {
    pub key: String,
    pub legend: String,
    pub labels: BTreeMap<String, String>,
    pub points: Vec<Point>,
}

/// A query's answers over the live stream: each answer series' recent points.
pub struct QueryFeed {
    live: LiveQuery,
    series: SeriesSet,
    labels: BTreeMap<String, BTreeMap<String, String>>,
}

impl QueryFeed {
    fn new(query: Query) -> QueryFeed {
        QueryFeed { live: LiveQuery::new(query), series: SeriesSet::new(SERIES_CAPACITY), labels: BTreeMap::new() }
    }

    /// Appends the answer's series the update changed (each a point at `ts`).
    fn apply(&mut self, ts: Millis, metrics: &Metrics, counter: &impl Fn(&str) -> bool) {
        let Some(changes) = self.live.apply_changes(ts, metrics, counter) else { return };
        for changed in changes {
            if self.series.push_point(changed.key, (ts, changed.value)) {
                self.labels.insert(changed.key.to_owned(), changed.labels.clone());
            }
        }
    }

    /// Starts over from the stream's memory since `since` (at the page's start, after a
    /// snapshot replaced the state).
    fn seed(&mut self, memory: &SeriesSet, since: Millis, counter: &impl Fn(&str) -> bool) {
        let query = self.live.query().clone();
        *self = QueryFeed::new(query);
        let mut rows: BTreeMap<Millis, Metrics> = BTreeMap::new();
        for (name, ring) in memory.iter() {
            let start = ring.partition_point(|(ts, _)| *ts < since);
            for (ts, value) in ring.iter_from(start) {
                rows.entry(*ts).or_default().insert(name.clone(), *value);
            }
        }
        for (ts, metrics) in rows {
            self.apply(ts, &metrics, counter);
        }
    }
}

/// What the panel's reading needs of its query (`components::panel`). Made with the engine, and
/// asked through it, so the engine's code stays in its module.
#[derive(Clone)]
pub struct QueryShape {
    /// Whether the query reads the series of this name.
    pub selects: std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// Whether its answers are rates when the first series it reads is a counter, and when not.
    pub rates_of_counter: bool,
    pub rates_otherwise: bool,
}

/// What a history or query fetch brought: each series' points over `span`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub span: HistorySpan,
    pub lines: Vec<(String, BTreeMap<String, String>, Vec<Point>)>,
}

#[derive(Clone, Copy)]
pub struct PanelData {
    state: DashboardState,
    /// Metrics by key, each with its labels (read once: every draw reads them); empty for a
    /// query.
    metrics: StoredValue<Vec<(String, BTreeMap<String, String>)>>,
    /// The query, as written; `None` for metrics.
    query: StoredValue<Option<String>>,
    feed: RwSignal<Option<QueryFeed>>,
    /// The query's shape, once its engine runs.
    pub shape: RwSignal<Option<QueryShape>>,
    /// Why the query cannot run, if it cannot (never for a dashboard's configured panels: the
    /// server checks their queries when it loads its configuration).
    pub error: RwSignal<Option<String>>,
    /// The span shown when the stream does not hold it, and what was fetched for it.
    needed: Memo<Option<HistorySpan>>,
    pub fetched: RwSignal<Option<Fetched>>,
    /// The earlier period compared with (its offset), and what was fetched for it.
    pub compare: Memo<Option<Millis>>,
    pub ghost: RwSignal<Option<Fetched>>,
}

impl PanelData {
    /// The data of `spec`'s panel on `state`'s dashboard, kept up to date while the calling
    /// component lives.
    pub fn new(state: DashboardState, spec: &PanelSpec) -> PanelData {
        let view = expect_context::<ViewState>();
        let edge = expect_context::<LiveEdge>();
        let own_compare = spec.compare.map(|compare| compare.millis());
        let needed = Memo::new(move |_| {
            let window = state.window.get();
            view.view.with(|view| history_needed(view, window, edge.0.get()))
        });
        let compare = Memo::new(move |_| view.view.with(|view| view.compare.map(|c| c.millis())).or(own_compare));
        let data = PanelData {
            state,
            metrics: StoredValue::new(spec.metrics.iter().map(|name| (name.clone(), labels_of(name))).collect()),
            query: StoredValue::new(spec.query.clone()),
            feed: RwSignal::new(None),
            shape: RwSignal::new(None),
            error: RwSignal::new(None),
            needed,
            fetched: RwSignal::new(None),
            compare,
            ghost: RwSignal::new(None),
        };
        if let Some(text) = spec.query.clone() {
            // The server runs it at once for the bodies the browser takes over (a stat, gauge or
            // table shows its numbers in the first paint); a chart is hydrated, so the server
            // renders its series as the browser first has them: none until the engine runs.
            #[cfg(not(feature = "hydrate"))]
            if !spec.kind.is_chart() {
                start_query(data, &text);
            }
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local_scoped_with_cancellation(start_query_when_loaded(data, text));
        }
        #[cfg(feature = "hydrate")]
        data.fetch_when_needed(view, edge);
        data
    }

    fn seed(&self) {
        let since = self.state.updated_at.get_untracked() - super::view::LIVE_MEMORY_MS;
        let counter = self.counter_fn();
        self.state.series.with_untracked(|memory| {
            self.feed.update(|feed| feed.as_mut().map_or((), |feed| feed.seed(memory, since, &counter)));
        });
    }

    /// Which series are counters, by the dashboard's definitions when asked (a live query asks
    /// only of a series it has not seen: nothing is gathered per update).
    fn counter_fn(&self) -> impl Fn(&str) -> bool {
        let definitions = self.state.definitions;
        move |name: &str| {
            definitions.with_untracked(|definitions| {
                definitions.iter().any(|d| d.name == name && d.kind == SeriesKind::Counter)
            })
        }
    }

    pub fn is_query(&self) -> bool {
        self.query.with_value(Option::is_some)
    }

    /// Resolves once the panel has its series to show: at once for metrics, when its query's
    /// engine runs (or has refused the query) for a query. A body taken over from the server
    /// waits for it, or it would replace the server's numbers with none.
    #[cfg(feature = "hydrate")]
    pub async fn ready(self) {
        let (ready, readied) = futures::channel::oneshot::channel();
        let mut ready = Some(ready);
        Effect::new(move |_| {
            let has_series = !self.is_query() || self.shape.with(Option::is_some) || self.error.with(Option::is_some);
            if let Some(ready) = ready.take_if(|_| has_series) {
                let _ = ready.send(()); // the waiting body may have gone with its panel
            }
        });
        let _ = readied.await;
    }

    /// Reruns the calling effect whenever what the panel shows may have changed.
    pub fn track(&self) {
        if self.is_query() {
            self.feed.track();
        } else {
            self.state.series.track();
            self.state.definitions.track();
        }
        self.fetched.track();
        self.ghost.track();
        self.needed.track();
    }

    /// The panel's series over `[from, to]` (with the point before `from`, so lines reach the
    /// edge), in key order, history joined with the live edge when the span needs it.
    pub fn lines(&self, from: Millis, to: Millis) -> Vec<PanelLine> {
        let needed = self.needed.get_untracked();
        let mut lines = self.live_lines(from, to);
        self.fetched.with_untracked(|fetched| {
            let Some(fetched) = fetched.as_ref().filter(|fetched| Some(fetched.span) == needed) else { return };
            for (key, labels, points) in &fetched.lines {
                match lines.iter_mut().find(|line| &line.key == key) {
                    Some(line) => line.points = with_live_edge(points, fetched.span.step_ms, line.points.iter()),
                    None => lines.push(PanelLine {
                        key: key.clone(),
                        legend: String::new(),
                        labels: labels.clone(),
                        points: points.clone(),
                    }),
                }
            }
            crate::model::sort::sort_by(&mut lines, |a, b| a.key.cmp(&b.key));
        });
        // Trimmed in place: a copy of every point per chart per draw was a share of a draw.
        for line in &mut lines {
            line.points.truncate(line.points.partition_point(|(ts, _)| *ts <= to));
            line.points.drain(..line.points.partition_point(|(ts, _)| *ts < from).saturating_sub(1));
        }
        self.name(&mut lines);
        lines
    }

    /// Whether the span shown is read from the history tiers (fetched), not the stream alone.
    pub fn from_history(&self) -> bool {
        let needed = self.needed.get_untracked();
        needed.is_some() && self.fetched.with_untracked(|fetched| fetched.as_ref().map(|f| f.span) == needed)
    }

    /// The earlier period's series, moved onto the span shown (`offset` later).
    pub fn ghost_lines(&self) -> Vec<PanelLine> {
        let Some(offset) = self.compare.get_untracked() else { return Vec::new() };
        let mut lines: Vec<PanelLine> = self.ghost.with_untracked(|ghost| {
            ghost
                .iter()
                .flat_map(|ghost| &ghost.lines)
                .map(|(key, labels, points)| PanelLine {
                    key: key.clone(),
                    legend: String::new(),
                    labels: labels.clone(),
                    points: points.iter().map(|(ts, value)| (ts + offset, *value)).collect(),
                })
                .collect()
        });
        self.name(&mut lines);
        lines
    }

    /// Each series' last `count` points in the stream's memory (how fresh it is), unnamed.
    pub fn recent(&self, count: usize) -> Vec<PanelLine> {
        self.live_lines_from(|ring, _| ring.len().saturating_sub(count + 1), Millis::MAX)
    }

    /// Each series' points from the stream's memory from the one before `from` up to `to` (a
    /// counter's from one more, the first of its rates being between those two).
    fn live_lines(&self, from: Millis, to: Millis) -> Vec<PanelLine> {
        let since = |ring: &Ring<Point>, counter: bool| {
            ring.partition_point(|(ts, _)| *ts < from).saturating_sub(1 + usize::from(counter))
        };
        self.live_lines_from(since, to)
    }

    /// Each series' points from the stream's memory, from the index `since` gives for its ring
    /// (and whether it holds a counter's totals) up to `until`.
    fn live_lines_from(&self, since: impl Fn(&Ring<Point>, bool) -> usize, until: Millis) -> Vec<PanelLine> {
        // Found by halving and copied in one piece: every chart reads its whole span at every
        // draw, ten times a second.
        let span =
            |ring: &Ring<Point>, counter: bool| (since(ring, counter), ring.partition_point(|(ts, _)| *ts <= until));
        if let Some(lines) = self.feed.with_untracked(|feed| {
            feed.as_ref().map(|feed| {
                feed.series
                    .iter()
                    .map(|(key, ring)| PanelLine {
                        key: key.clone(),
                        legend: String::new(),
                        labels: feed.labels.get(key).cloned().unwrap_or_default(),
                        points: ring.iter_range(span(ring, false)).copied().collect(),
                    })
                    .collect()
            })
        }) {
            return lines;
        }
        let counter = self.counter_fn();
        self.metrics.with_value(|metrics| {
            self.state.series.with_untracked(|series| {
                metrics
                    .iter()
                    .map(|(name, labels)| {
                        let points: Vec<Point> = match series.get(name) {
                            Some(ring) if counter(name) => rates(ring.iter_range(span(ring, true))),
                            Some(ring) => ring.iter_range(span(ring, false)).copied().collect(),
                            None => Vec::new(),
                        };
                        PanelLine { key: name.clone(), legend: String::new(), labels: labels.clone(), points }
                    })
                    .collect()
            })
        })
    }

    /// Gives each line its legend text: its definition's label for a lone metric, else the
    /// labels that tell the lines apart.
    fn name(&self, lines: &mut [PanelLine]) {
        if lines.is_empty() {
            return;
        }
        let texts = {
            let members: Vec<(&str, &BTreeMap<String, String>)> =
                lines.iter().map(|line| (line.key.as_str(), &line.labels)).collect();
            legend_texts(&members)
        };
        let labelled = |key: &str| {
            self.state.definitions.with_untracked(|definitions| {
                definitions.iter().find(|d| d.name == key && d.label != d.name).map(|d| d.label.clone())
            })
        };
        let single = lines.len() == 1;
        for (line, text) in lines.iter_mut().zip(texts) {
            // Looked up only where it may be used: every line of a panel reads its legend at
            // every draw, and the lookup reads the dashboard's definitions.
            line.legend = match single || line.labels.is_empty() {
                true => labelled(&line.key).unwrap_or(text),
                false => text,
            };
        }
    }

    /// The keys of the panel's series now (tracked).
    pub fn keys(&self) -> Vec<String> {
        match self.feed.with(|feed| feed.as_ref().map(|feed| feed.series.names().cloned().collect::<Vec<_>>())) {
            Some(keys) => keys,
            None => self.metrics.with_value(|metrics| metrics.iter().map(|(name, _)| name.clone()).collect()),
        }
    }

    /// Fetches the span shown when the stream does not hold it, and the period compared with,
    /// whenever either changes; a fetch still running then is cancelled.
    #[cfg(feature = "hydrate")]
    fn fetch_when_needed(self, view: ViewState, edge: LiveEdge) {
        use super::view::compare_span;
        Effect::new(move |_| {
            let Some(span) = self.needed.get() else { return };
            leptos::task::spawn_local_scoped_with_cancellation(async move {
                let lines = fetch_when_loaded(self, span).await;
                self.fetched.set(Some(Fetched { span, lines }));
            });
        });
        let ghost_span = Memo::new(move |_| {
            let offset = self.compare.get()?;
            let window = self.state.window.get();
            Some(view.view.with(|view| compare_span(view, window, edge.0.get(), offset)))
        });
        Effect::new(move |_| {
            let Some(span) = ghost_span.get() else {
                self.ghost.set(None);
                return;
            };
            leptos::task::spawn_local_scoped_with_cancellation(async move {
                let lines = fetch_when_loaded(self, span).await;
                self.ghost.set(Some(Fetched { span, lines }));
            });
        });
    }

    /// The panel's series over `span` from the server: each metric's history (a counter's
    /// rates, else the envelope of its buckets), or the query over history. Reached through
    /// `split::fetch` only: the requests and their answers' decoders are in a module of their
    /// own, which a dashboard whose spans the stream holds never loads.
    #[cfg(feature = "hydrate")]
    async fn fetch(self, span: HistorySpan) -> Vec<Line> {
        use super::history::{bucket_rates, envelope};
        use crate::model::url::encode_component;
        use crate::protocol::{HistoryAnswer, QueryAnswer};
        let dashboard = self.state.id.get_value();
        let HistorySpan { from, to, .. } = span;
        let step = span.step();
        if let Some(query) = self.query.get_value() {
            let url = format!(
                "/api/v1/dashboards/{dashboard}/query?q={}&from={from}&to={to}&step={step}",
                encode_component(&query)
            );
            return match crate::client::api::get::<QueryAnswer>(&url).await {
                Ok(answer) => {
                    answer.series.into_iter().map(|series| (series.key, series.labels, series.points)).collect()
                }
                Err(error) => {
                    leptos::logging::warn!("{query}: {error}");
                    Vec::new()
                }
            };
        }
        let counter = self.counter_fn();
        let metrics = self.metrics.get_value();
        let fetches = metrics.iter().map(|(metric, _)| {
            let url = format!(
                "/api/v1/dashboards/{dashboard}/history?metric={}&from={from}&to={to}&step={step}",
                encode_component(metric)
            );
            async move { crate::client::api::get::<HistoryAnswer>(&url).await }
        });
        let answers = futures::future::join_all(fetches).await;
        metrics
            .iter()
            .zip(answers)
            .filter_map(|((metric, labels), answer)| {
                let answer = answer.map_err(|error| leptos::logging::warn!("{metric}: {error}")).ok()?;
                let points = match counter(metric) {
                    true => bucket_rates(&answer.buckets, answer.step_ms),
                    false => envelope(&answer.buckets, answer.step_ms),
                };
                Some((metric.clone(), labels.clone(), points))
            })
            .collect()
    }
}

/// The labels in a series' key (none when it has none, or is not a valid key).
fn labels_of(name: &str) -> BTreeMap<String, String> {
    SeriesKey::parse(name).map(|key| key.labels).unwrap_or_default()
}

/// Parses the panel's query and runs it over the stream from here on: its answers seeded from
/// the stream's memory, then each update applied as the stream applies it.
fn start_query(data: PanelData, text: &str) {
    let query = match Query::parse(text) {
        Ok(query) => query,
        Err(error) => return data.error.set(Some(format!("query {error}"))),
    };
    let selector = query.selector().clone();
    let selects = move |name: &str| SeriesKey::parse(name).is_ok_and(|key| selector.matches(&key.family, &key.labels));
    data.shape.set(Some(QueryShape {
        selects: std::sync::Arc::new(selects),
        rates_of_counter: query.rates(true),
        rates_otherwise: query.rates(false),
    }));
    data.feed.set(Some(QueryFeed::new(query)));
    data.seed();
    let feed = data.feed;
    data.state.tap(std::rc::Rc::new(move |tapped| match tapped {
        Tapped::Update(ts, metrics) => {
            let counter = data.counter_fn();
            feed.update(|feed| feed.as_mut().map_or((), |feed| feed.apply(ts, metrics, &counter)));
        }
        Tapped::Replaced => data.seed(),
    }));
}

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;
    use futures::future::LocalBoxFuture;
    use leptos::wasm_split::SplitLoaderError;

    // `fallible` split points (`lazily`): a module that cannot be fetched is said on the panel.

    #[leptos::wasm_split::wasm_split(query_engine, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn start_query(data: PanelData, text: String) -> Result<(), SplitLoaderError> {
        super::start_query(data, &text);
        Ok(())
    }

    /// The lines over `span`, as `PanelData::fetch` reads them.
    #[leptos::wasm_split::wasm_split(history_requests, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn fetch(data: PanelData, span: HistorySpan) -> Result<LocalBoxFuture<'static, Vec<Line>>, SplitLoaderError> {
        Ok(Box::pin(data.fetch(span)))
    }
}

/// A series as a fetch hands it back: its key, its labels and its points.
#[cfg(feature = "hydrate")]
type Line = (String, BTreeMap<String, String>, Vec<Point>);

/// Starts the query engine for `data` once its module has arrived; if it cannot be fetched, the
/// panel says so (`NOT_LOADED`).
#[cfg(feature = "hydrate")]
async fn start_query_when_loaded(data: PanelData, text: String) {
    if split::start_query(data, text).await.is_err() {
        data.error.set(Some(super::NOT_LOADED.to_owned()));
    }
}

/// `data`'s lines over `span` from the server; none when the module that asks cannot be
/// fetched, as when the request itself fails (`PanelData::fetch`).
#[cfg(feature = "hydrate")]
async fn fetch_when_loaded(data: PanelData, span: HistorySpan) -> Vec<Line> {
    match split::fetch(data, span).await {
        Ok(lines) => lines.await,
        Err(error) => {
            leptos::logging::warn!("history requests: {error}");
            Vec::new()
        }
    }
}
