//! A chart's rule preview: the person types thresholds for the metric (or the panel's query)
//! and sees, over its last 24 hours (fetched from the history store when the preview opens),
//! where the rule would have fired and how many notifications it would have sent, computed by
//! the same `model::alerts::step` the server runs (here in WASM); the spans and lines are drawn
//! on the chart, and the TOML of the rule (`metric = ...` or `expr = ...`) is ready to copy into
//! the config file.
//!
//! A metric's history comes in one-minute buckets, so each minute is fed to the rule as its
//! worst value (the maximum for an `above` rule, the minimum for `below`): a breach inside a
//! minute is never missed, and a clear needs the whole minute clear. A query is read by the
//! query API a minute at a time, and each minute's worst series is fed, as a query rule reads
//! the worst of its series.

use super::chart::ChartAlerts;
use super::lazily::when_loaded;
use crate::client::state::DashboardState;
use crate::model::alerts::{
    preview, rule_name_for, rule_toml, Direction, Level, Preview, RuleSubject, Severity, Thresholds,
};
use crate::protocol::{Bucket, Millis, QuerySeries};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// The span the preview runs over.
#[cfg(feature = "hydrate")]
const PREVIEW_MS: Millis = 24 * 3_600_000;

/// What the form holds, as typed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Typed {
    above: bool,
    warn: String,
    warn_clear: String,
    crit: String,
    crit_clear: String,
    for_seconds: String,
}

impl Typed {
    /// The rule it describes, or what is wrong with it.
    fn thresholds(&self) -> Result<Thresholds, String> {
        let direction = if self.above { Direction::Above } else { Direction::Below };
        let number = |text: &str, what: &str| -> Result<Option<f64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<f64>().map(Some).map_err(|_| format!("{what}: {text:?} is not a number"))
        };
        let level = |threshold: &str, clear: &str, what: &str| -> Result<Option<Level>, String> {
            let Some(threshold) = number(threshold, what)? else { return Ok(None) };
            Level::checked(direction, threshold, number(clear, "clear")?)
                .map(Some)
                .map_err(|error| format!("{what}: {error}"))
        };
        let warn = level(&self.warn, &self.warn_clear, "warn")?;
        let crit = level(&self.crit, &self.crit_clear, "crit")?;
        if warn.is_none() && crit.is_none() {
            return Err("type a warn or a crit threshold".into());
        }
        let for_seconds = number(&self.for_seconds, "for")?.unwrap_or(0.0);
        if !(0.0..=86_400.0).contains(&for_seconds) {
            return Err("for: between 0 and 86400 seconds".into());
        }
        Ok(Thresholds { warn, crit, for_ms: (for_seconds * 1000.0) as Millis, keep_firing_for_ms: 0, no_data_ms: None })
    }
}

/// The last 24 hours as fetched: a metric's buckets, or a query's series a minute at a time.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // fetched in the browser only
enum History {
    Buckets(Vec<Bucket>),
    Series(Vec<QuerySeries>),
}

/// Each minute's worst value for a rule in `direction`, oldest first: a bucket's maximum (or
/// minimum), or the highest (lowest) of the query's series then.
fn worst_values(history: &History, direction: Direction) -> Vec<(Millis, f64)> {
    let above = direction == Direction::Above;
    match history {
        History::Buckets(buckets) => {
            buckets.iter().map(|bucket| (bucket.ts, if above { bucket.max } else { bucket.min })).collect()
        }
        History::Series(series) => {
            let mut worst: BTreeMap<Millis, f64> = BTreeMap::new();
            for &(ts, value) in series.iter().flat_map(|series| &series.points) {
                worst
                    .entry(ts)
                    .and_modify(|held| *held = if above { held.max(value) } else { held.min(value) })
                    .or_insert(value);
            }
            worst.into_iter().collect()
        }
    }
}

/// The preview's `<details>`; the form inside is loaded the first time it opens (`lazily`).
#[component]
pub fn RulePreview(
    subject: RuleSubject,
    /// The rule's name stem (the metric, or the panel's id).
    name: String,
    overlay: RwSignal<Option<ChartAlerts>>,
) -> impl IntoView {
    let opened = RwSignal::new(false);
    view! {
        <details class="rule-preview" data-testid="rule-preview" on:toggle=move |_| opened.set(true)>
            <summary>"Preview a rule"</summary>
            <Show when=move || opened.get()>
                {when_loaded(split::form(subject.clone(), name.clone(), overlay))}
            </Show>
        </details>
    }
}

#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::*;

    #[leptos::wasm_split::wasm_split(rule_preview_form, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn form(
        subject: RuleSubject,
        name: String,
        overlay: RwSignal<Option<ChartAlerts>>,
    ) -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
        Ok(view! { <RulePreviewForm subject name overlay/> }.into_any())
    }
}

/// The form, made when the preview first opens: it fetches the last 24 h at once.
#[component]
fn RulePreviewForm(subject: RuleSubject, name: String, overlay: RwSignal<Option<ChartAlerts>>) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let typed = RwSignal::new(Typed { above: true, ..Typed::default() });
    let buckets = RwSignal::new(None::<Result<History, String>>);
    fetch_history(state, subject.clone(), buckets);
    let outcome = Memo::new(move |_| -> Option<Result<Preview, String>> {
        let thresholds = match typed.with(Typed::thresholds) {
            Ok(thresholds) => thresholds,
            Err(error) => return Some(Err(error)),
        };
        let direction = if typed.with(|typed| typed.above) { Direction::Above } else { Direction::Below };
        buckets.with(|buckets| match buckets.as_ref()? {
            Ok(buckets) => {
                let now = state.updated_at.get_untracked();
                Some(Ok(preview(&thresholds, &worst_values(buckets, direction), now)))
            }
            Err(error) => Some(Err(format!("no history to preview over: {error}"))),
        })
    });
    // The chart draws the previewed rule while the form reads.
    Effect::new(move |_| {
        let drawn = match (outcome.get(), typed.with(Typed::thresholds)) {
            (Some(Ok(outcome)), Ok(thresholds)) => {
                let levels = [(Severity::Warning, thresholds.warn), (Severity::Critical, thresholds.crit)];
                let levels = levels.into_iter().filter_map(|(severity, level)| Some((severity, level?))).collect();
                Some(ChartAlerts { levels, spans: outcome.spans })
            }
            _ => None,
        };
        overlay.set(drawn);
    });
    let toml = {
        let dashboard = state.id.get_value();
        Memo::new(move |_| {
            typed.with(Typed::thresholds).ok().map(|rule| rule_toml(&rule_name_for(&name), &dashboard, &subject, &rule))
        })
    };
    let summary = move || match outcome.get() {
        None => "Reading the last 24 h…".to_owned(),
        Some(Err(error)) => error,
        Some(Ok(outcome)) => {
            let firing_ms: Millis = outcome.spans.iter().map(|span| span.to - span.from).sum();
            format!(
                "In the last 24 h this rule would have fired {} times and sent {} notifications (firing {} min in all).",
                outcome.fired,
                outcome.notifications,
                firing_ms / 60_000
            )
        }
    };
    let field =
        move |label: &'static str, test_id: &'static str, get: fn(&Typed) -> String, set: fn(&mut Typed, String)| {
            view! {
                <label>
                    {label}
                    <input
                        type="text"
                        inputmode="decimal"
                        data-testid=test_id
                        prop:value=move || typed.with(get)
                        on:input=move |event| typed.update(|typed| set(typed, event_target_value(&event)))
                    />
                </label>
            }
        };
    view! {
        <div class="rule-preview-form">
            <label>
                "Fires when the value is "
                <select
                    data-testid="preview-direction"
                    on:change=move |event| typed.update(|typed| typed.above = event_target_value(&event) == "above")
                >
                    <option value="above" selected=true>"above"</option>
                    <option value="below">"below"</option>
                </select>
            </label>
            {field("warn", "preview-warn", |t| t.warn.clone(), |t, v| t.warn = v)}
            {field("clear", "preview-warn-clear", |t| t.warn_clear.clone(), |t, v| t.warn_clear = v)}
            {field("crit", "preview-crit", |t| t.crit.clone(), |t, v| t.crit = v)}
            {field("clear", "preview-crit-clear", |t| t.crit_clear.clone(), |t, v| t.crit_clear = v)}
            {field("for (s)", "preview-for", |t| t.for_seconds.clone(), |t, v| t.for_seconds = v)}
        </div>
        <p class="rule-preview-summary" data-testid="preview-summary" aria-live="polite">{summary}</p>
        <Show when=move || toml.with(Option::is_some)>
            <pre class="rule-preview-toml" data-testid="preview-toml">{move || toml.get()}</pre>
            <CopyButton text=Signal::derive(move || toml.get().unwrap_or_default())/>
        </Show>
    }
}

/// Fetches the subject's last 24 h a minute at a time into `history` (in the browser).
fn fetch_history(state: DashboardState, subject: RuleSubject, history: RwSignal<Option<Result<History, String>>>) {
    #[cfg(feature = "hydrate")]
    {
        let (dashboard, to) = (state.id.get_value(), state.updated_at.get_untracked());
        crate::client::api::spawn(async move {
            let fetched = match subject {
                RuleSubject::Metric(metric) => crate::client::history::fetch(&dashboard, &metric, to, PREVIEW_MS, "1m")
                    .await
                    .map(|answer| History::Buckets(answer.buckets)),
                RuleSubject::Query(query) => {
                    let url = format!(
                        "/api/v1/dashboards/{dashboard}/query?q={}&from={}&to={to}&step=1m",
                        crate::model::url::encode_component(&query),
                        to - PREVIEW_MS
                    );
                    crate::client::api::get::<crate::protocol::QueryAnswer>(&url)
                        .await
                        .map(|answer| History::Series(answer.series))
                }
            };
            history.set(Some(fetched));
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (state, subject, history);
}

/// Copies `text` to the clipboard; says so for a moment.
#[component]
fn CopyButton(text: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            // The text stays selectable in the page if the browser refuses the clipboard.
            let _ = window().navigator().clipboard().write_text(&text.get_untracked());
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    view! {
        <button type="button" data-testid="preview-copy" on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy TOML" }}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_as_a_rule_or_says_what_is_wrong() {
        let typed = Typed {
            above: true,
            crit: "85".into(),
            crit_clear: "75".into(),
            for_seconds: "30".into(),
            ..Typed::default()
        };
        let rule = typed.thresholds().unwrap();
        assert_eq!(rule.crit, Some(Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 }));
        assert_eq!((rule.warn, rule.for_ms), (None, 30_000));
        assert!(Typed { above: true, ..Typed::default() }.thresholds().unwrap_err().contains("warn or a crit"));
        let wrong = Typed { above: true, crit: "85".into(), crit_clear: "90".into(), ..Typed::default() };
        assert!(wrong.thresholds().unwrap_err().contains("at or below"));
        assert!(Typed { crit: "lots".into(), ..Typed::default() }.thresholds().unwrap_err().contains("not a number"));
    }

    #[test]
    fn each_minute_counts_as_its_worst_value() {
        let bucket =
            |ts, min, max| Bucket { ts, count: 2, sum: min + max, min, max, avg: (min + max) / 2.0, rate: None };
        let buckets = History::Buckets(vec![bucket(0, 10.0, 90.0), bucket(60_000, 20.0, 30.0)]);
        assert_eq!(worst_values(&buckets, Direction::Above), vec![(0, 90.0), (60_000, 30.0)]);
        assert_eq!(worst_values(&buckets, Direction::Below), vec![(0, 10.0), (60_000, 20.0)]);
    }

    #[test]
    fn a_querys_minute_counts_as_its_worst_series() {
        let series =
            |key: &str, points: Vec<(Millis, f64)>| QuerySeries { key: key.into(), labels: Default::default(), points };
        let answer = History::Series(vec![
            series("a", vec![(0, 5.0), (60_000, 1.0)]),
            series("b", vec![(0, 3.0), (60_000, 7.0)]),
        ]);
        assert_eq!(worst_values(&answer, Direction::Above), vec![(0, 5.0), (60_000, 7.0)]);
        assert_eq!(worst_values(&answer, Direction::Below), vec![(0, 3.0), (60_000, 1.0)]);
    }
}
