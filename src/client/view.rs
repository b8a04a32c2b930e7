//! What a dashboard shows and how, shared by every panel: the view the URL holds
//! (`model::view::View`: the range, a zoomed span, compare, one panel full-screen, kiosk), the
//! time under the pointer on any chart (the crosshair every chart draws), and the span the
//! charts show, live or zoomed. Changing the view navigates, so links carry it and the
//! browser's back and forward walk it.

use super::live_edge::LiveEdge;
use super::location::{use_url, Location, Url};
use super::state::{DashboardState, TimeWindow};
use crate::model::view::View;
use crate::protocol::Millis;
use leptos::prelude::*;

/// The stream's memory covers at least this much (4,096 points at ten updates a second): a span
/// reaching further back is read from the history tiers.
pub const LIVE_MEMORY_MS: Millis = 5 * 60_000;

/// Buckets a fetched span is read in, about (a chart's width in columns).
const SPAN_BUCKETS: Millis = 600;

#[derive(Clone, Copy)]
pub struct ViewState {
    /// The view as the URL says.
    pub view: Memo<View>,
    /// The time under the pointer on any chart of the dashboard; `None` when it is on none.
    pub cursor: RwSignal<Option<Millis>>,
    /// The server's clock as the browser estimates it (the newest update's time plus the time
    /// since it arrived), a tick a second: how long ago a panel's series last spoke.
    pub now: RwSignal<Millis>,
    location: Location,
}

impl ViewState {
    /// Provides the view of the current URL; the dashboard's window follows its `range`.
    pub fn provide(state: DashboardState) -> ViewState {
        let url = use_url();
        let view = Memo::new(move |_| {
            let pairs = url.with(Url::pairs);
            View::from_pairs(pairs.iter().map(|(key, value)| (key.as_str(), value.as_str())))
        });
        let location = expect_context::<Location>();
        let now = RwSignal::new(state.updated_at.get_untracked());
        let view_state = ViewState { view, cursor: RwSignal::new(None), now, location };
        #[cfg(feature = "hydrate")]
        {
            // Server time minus browser time, as of the newest update's arrival. The clock
            // itself moves a second at a time: what reads it (freshness, legends) is not
            // recomputed at every update.
            let offset = StoredValue::new(0.0);
            Effect::new(move |_| {
                let newest = state.updated_at.get() as f64;
                offset.set_value(newest - js_sys::Date::now());
                if newest as Millis - now.get_untracked() >= 1000 {
                    now.set(newest as Millis);
                }
            });
            super::interval::use_interval(std::time::Duration::from_secs(1), move || {
                now.set((js_sys::Date::now() + offset.get_value()) as Millis);
            });
        }
        Effect::new(move |_| {
            let window = view.with(|view| view.range.as_deref().and_then(TimeWindow::parse)).unwrap_or_default();
            if state.window.get_untracked() != window {
                state.window.set(window);
            }
        });
        provide_context(view_state);
        view_state
    }

    /// Goes to the view `change` makes of the current one (a new entry in the browser's history).
    pub fn change(&self, change: impl FnOnce(&mut View)) {
        let mut next = self.view.get_untracked();
        change(&mut next);
        if next != self.view.get_untracked() {
            let Some(path) = self.location.0.try_with_untracked(|url| url.path.clone()) else { return };
            self.go(Url { path, query: next.to_query() });
        }
    }

    /// Opens dashboard `id` with the same view (a rotating wall screen).
    pub fn go_to_dashboard(&self, id: &str) {
        let Some(query) = self.view.try_with_untracked(View::to_query) else { return };
        self.go(Url { path: format!("/d/{}", crate::model::url::encode_component(id)), query });
    }

    /// Goes to `url`, a new entry in the browser's history.
    fn go(&self, url: Url) {
        self.location.go(&url.local());
    }

    /// Back to the live edge: the zoom let go, the range kept.
    pub fn go_live(&self) {
        self.change(|view| view.span = None);
    }

    /// Whether the charts follow the live edge (not zoomed).
    pub fn is_live(&self) -> bool {
        self.view.with(|view| view.span.is_none())
    }

    /// The span the charts show now: the zoomed one, or the window up to the live edge.
    pub fn shown(&self, state: DashboardState, edge: LiveEdge) -> (Millis, Millis) {
        match self.view.with(|view| view.span) {
            Some(span) => span,
            None => {
                let to = edge.0.get();
                (to - state.window.get().millis(), to)
            }
        }
    }

    /// The span the charts show, untracked (inside a draw).
    pub fn shown_untracked(&self, state: DashboardState, edge: LiveEdge) -> (Millis, Millis) {
        untrack(|| self.shown(state, edge))
    }
}

/// A span to read from the history tiers, with its step (whole seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistorySpan {
    pub from: Millis,
    pub to: Millis,
    pub step_ms: Millis,
}

impl HistorySpan {
    /// `[from, to]` in at most about `SPAN_BUCKETS` steps, each a round one the tiers keep
    /// (a second, a minute, an hour, a day, or a few of them).
    pub fn over(from: Millis, to: Millis) -> HistorySpan {
        const STEPS: [Millis; 14] = [
            1_000,
            5_000,
            10_000,
            30_000,
            60_000,
            300_000,
            600_000,
            1_800_000,
            3_600_000,
            10_800_000,
            21_600_000,
            43_200_000,
            86_400_000,
            604_800_000,
        ];
        let least = (to - from) / SPAN_BUCKETS;
        let step_ms = STEPS.into_iter().find(|step| *step >= least).unwrap_or(STEPS[STEPS.len() - 1]);
        HistorySpan { from, to, step_ms }
    }

    /// The step as the history and query APIs take it.
    pub fn step(&self) -> String {
        match self.step_ms {
            step if step % 86_400_000 == 0 => format!("{}d", step / 86_400_000),
            step if step % 3_600_000 == 0 => format!("{}h", step / 3_600_000),
            step if step % 60_000 == 0 => format!("{}m", step / 60_000),
            step => format!("{}s", step / 1_000),
        }
    }

    /// A step as `TimeWindow::history_step` writes it (`10s`, `1m`, `1h`).
    fn parse_step(step: &str) -> Millis {
        let (count, unit) = step.split_at(step.len() - 1);
        let unit = match unit {
            "s" => 1_000,
            "m" => 60_000,
            _ => 3_600_000,
        };
        count.parse::<Millis>().unwrap_or(1) * unit
    }

    /// The same span `offset` earlier.
    pub fn earlier(self, offset: Millis) -> HistorySpan {
        HistorySpan { from: self.from - offset, to: self.to - offset, ..self }
    }
}

/// What the charts need from the history tiers for the span `(from, to)` shown while the newest
/// data is at `edge`: nothing while the stream's memory covers it; live windows are read up to
/// the minute (refetched as it turns), the live edge joined from the stream.
pub fn history_needed(view: &View, window: TimeWindow, edge: Millis) -> Option<HistorySpan> {
    match view.span {
        Some((from, _)) if from >= edge - LIVE_MEMORY_MS => None,
        Some((from, to)) => Some(HistorySpan::over(from, to)),
        None => {
            let step = window.history_step()?;
            let to = edge - edge.rem_euclid(60_000) + 60_000;
            Some(HistorySpan { step_ms: HistorySpan::parse_step(step), ..HistorySpan::over(to - window.millis(), to) })
        }
    }
}

/// The span the earlier period compared with is read over: the span shown moved back by
/// `offset`; a live span reaches a step of a sixth of the window past the edge, so it is
/// refetched only as often.
pub fn compare_span(view: &View, window: TimeWindow, edge: Millis, offset: Millis) -> HistorySpan {
    match view.span {
        Some((from, to)) => HistorySpan::over(from, to).earlier(offset),
        None => {
            let quantum = (window.millis() / 6).max(10_000);
            let to = edge - edge.rem_euclid(quantum) + quantum;
            HistorySpan::over(to - window.millis() - quantum, to).earlier(offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_read_from_history_only_when_the_stream_does_not_hold_it() {
        let edge = 10_000_000;
        let live = View::default();
        assert_eq!(history_needed(&live, TimeWindow::Seconds30, edge), None);
        let hour = history_needed(&live, TimeWindow::Hour1, edge).unwrap();
        assert_eq!((hour.to % 60_000, hour.to - hour.from, hour.step()), (0, 3_600_000, "10s".to_owned()));
        let day = history_needed(&live, TimeWindow::Hours24, edge).unwrap();
        assert_eq!(day.step(), "1m", "the window's own step");
        assert_eq!(HistorySpan::over(0, 3_600_000).step(), "10s", "a zoomed hour: the round step past 6 s");
        assert_eq!(HistorySpan::over(0, 30 * 86_400_000).step(), "3h", "30 days: 240 buckets");
        let recent = View { span: Some((edge - 60_000, edge - 30_000)), ..View::default() };
        assert_eq!(history_needed(&recent, TimeWindow::Seconds30, edge), None, "a recent zoom reads the stream");
        let old = View { span: Some((edge - 3_600_000, edge - 3_000_000)), ..View::default() };
        assert_eq!(
            history_needed(&old, TimeWindow::Seconds30, edge),
            Some(HistorySpan::over(edge - 3_600_000, edge - 3_000_000))
        );
        assert_eq!(HistorySpan::over(0, 30_000).step(), "1s", "at least a second");
    }

    #[test]
    fn the_period_compared_with_is_the_span_moved_back() {
        let edge = 1_000_000_000;
        let day = 86_400_000;
        let zoomed = View { span: Some((edge - 60_000, edge)), ..View::default() };
        let span = compare_span(&zoomed, TimeWindow::Seconds30, edge, day);
        assert_eq!((span.from, span.to), (edge - 60_000 - day, edge - day));
        let live = compare_span(&View::default(), TimeWindow::Minutes5, edge + 1, day);
        assert_eq!(
            live,
            compare_span(&View::default(), TimeWindow::Minutes5, edge + 20_000, day),
            "refetched in steps"
        );
        assert!(live.from <= edge - 300_000 - day && live.to >= edge + 20_000 - day, "covers the window");
    }
}
