//! Alert evaluation, below the broker: the rules of `[[alerts]]` (`rules`, and `change`
//! for change rules' window averages) and `DashboardAlerts`, the states of one dashboard's
//! rules. Each dashboard's hub holds one; the broker asks it, under its sequencer, what each
//! new update changes, and the changes join that update before it is persisted and
//! broadcast, so they are ordered, stored and replayed with the values (PROTOCOL.md
//! "Alerts"). The state machine itself is `model::alerts::step`, shared with the browser. A
//! timer asks for `nodata` (`no_data_due`): its changes go out as an update without values.
//! Nothing here knows the broker, the store or the receivers.

pub mod change;
pub mod rules;

use crate::model::alerts::{AlertPhase, AlertState, Input, Phase};
use crate::protocol::{AlertChange, Bucket, Metrics, Millis};
use rules::{AlertRule, RuleState};
use std::sync::Arc;

/// Where a dashboard's retained log begins: what a restart knows only from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct LogStart {
    pub epoch: String,
    /// The first retained update's seq (the next seq when nothing is retained).
    pub seq: u64,
    pub ts: Millis,
}

/// One dashboard's rules and where each stands.
#[derive(Clone, Debug, Default)]
pub struct DashboardAlerts {
    rules: Vec<RuleState>,
}

impl DashboardAlerts {
    /// The rules of `dashboard` among `all`, each inactive.
    pub fn for_dashboard(dashboard: &str, all: &[Arc<AlertRule>]) -> Self {
        let rules = all
            .iter()
            .filter(|rule| rule.dashboard == dashboard)
            .map(|rule| RuleState {
                rule: rule.clone(),
                state: AlertState::default(),
                shown: None,
                change: rule.change.map(change::ChangeSeries::new),
                counter: Default::default(),
                live: rule.query.clone().map(crate::model::query::LiveQuery::new),
            })
            .collect();
        DashboardAlerts { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Sets each rule where its last recorded change (before the retained log) left it, so an
    /// alert that fired long ago is still firing, since the same time, after a restart.
    pub fn restore(&mut self, last_changes: Vec<AlertChange>) {
        for change in last_changes {
            let Some(rule) = self.rules.iter_mut().find(|rule| rule.rule.name == change.rule) else { continue };
            let (severity, since) = (change.severity, change.since);
            rule.state.phase = match change.state {
                AlertPhase::Firing => Phase::Firing { severity, since, breach_ended: None },
                AlertPhase::Pending => Phase::Pending { severity, since },
                AlertPhase::NoData => Phase::NoData { since },
                AlertPhase::Resolved => Phase::Inactive,
            };
            rule.shown = (change.state != AlertPhase::Resolved).then_some(change);
        }
    }

    /// Fills the change rules' memory from the history store (`history(metric, from, to,
    /// step)`: its buckets), up to the bucket holding `before` (where the retained log, which
    /// is replayed after, begins): a restart does not leave them without a baseline.
    pub fn seed(&mut self, before: Millis, history: impl Fn(&str, Millis, Millis, Millis) -> Vec<Bucket>) {
        for rule in &mut self.rules {
            let (Some(series), Some(window)) = (&mut rule.change, rule.rule.change) else { continue };
            let step = change::bucket_ms(&window);
            let to = before - before.rem_euclid(step) - 1;
            let from = to - window.versus_ms - window.window_ms - step;
            for bucket in history(&rule.rule.metric, from, to, step) {
                series.add(bucket.ts, bucket.sum, bucket.count.max(0) as u64);
            }
        }
    }

    /// What an update with `metrics` at `ts` changes; an update without values is the no-data
    /// timer's. `counter` says which series are counters (for query rules: a counter selected
    /// bare reads as its rate).
    pub fn evaluate(&mut self, metrics: &Metrics, ts: Millis, counter: &dyn Fn(&str) -> bool) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        for rule in &mut self.rules {
            let reading = match &mut rule.live {
                Some(live) => {
                    // The series furthest past the thresholds' direction.
                    let above = [rule.rule.thresholds.crit, rule.rule.thresholds.warn]
                        .into_iter()
                        .flatten()
                        .any(|level| level.direction == crate::model::alerts::Direction::Above);
                    let outputs = live.apply(ts, metrics, counter);
                    let worst = outputs.into_iter().flatten().map(|output| output.value).reduce(|a, b| match above {
                        true => a.max(b),
                        false => a.min(b),
                    });
                    match worst {
                        Some(value) => Some(value),
                        None if metrics.is_empty() => None,
                        None => continue,
                    }
                }
                None => match (metrics.get(&rule.rule.metric), rule.rule.rate) {
                    // A counter's first point: no rate yet, and nothing to say about it.
                    (Some(&total), true) => match rule.counter.next(ts, total) {
                        Some(rate) => Some(rate),
                        None => continue,
                    },
                    (value, _) => value.copied(),
                },
            };
            let input = match (reading, &mut rule.change) {
                (Some(value), None) => Input::Value(value),
                (Some(value), Some(series)) => {
                    series.add(ts, value, 1);
                    series.ratio(ts).map_or(Input::NoBaseline, Input::Value)
                }
                (None, _) if metrics.is_empty() => Input::Tick,
                (None, _) => continue,
            };
            let (next, transitions) = crate::model::alerts::step(&rule.rule.thresholds, rule.state, input, ts);
            rule.state = next;
            for transition in transitions {
                let change = rule.rule.change(&transition);
                rule.shown = (transition.state != AlertPhase::Resolved).then(|| change.clone());
                changes.push(change);
            }
        }
        changes
    }

    /// Whether the no-data timer has something to announce at `ts`.
    pub fn no_data_due(&self, ts: Millis) -> bool {
        self.rules.iter().any(|rule| {
            let limit = rule.rule.thresholds.no_data_ms;
            let seen = rule.state.last_value_at;
            let waited = matches!((limit, seen), (Some(limit), Some(seen)) if ts - seen >= limit);
            waited && !matches!(rule.state.phase, Phase::NoData { .. })
        })
    }

    /// Every rule that is not inactive, as its last change said (for snapshots).
    pub fn active(&self) -> Vec<AlertChange> {
        self.rules.iter().filter_map(|rule| rule.shown.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl DashboardAlerts {
        /// `evaluate` with counters known by their names.
        fn evaluate_by_name(&mut self, metrics: &Metrics, ts: Millis) -> Vec<AlertChange> {
            self.evaluate(metrics, ts, &|name| {
                crate::protocol::MetricDefinition::inferred(name).kind == crate::protocol::SeriesKind::Counter
            })
        }
    }
    use crate::model::alerts::{Direction, Level, Severity, Thresholds};

    fn rule() -> Arc<AlertRule> {
        Arc::new(AlertRule {
            name: "hot".into(),
            dashboard: "main".into(),
            metric: "cpu".into(),
            thresholds: Thresholds {
                warn: None,
                crit: Some(Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 }),
                for_ms: 0,
                keep_firing_for_ms: 0,
                no_data_ms: Some(10_000),
            },
            repeat: None,
            labels: Default::default(),
            summary: "CPU {{value}}% above {{threshold}}%".into(),
            change: None,
            rate: false,
            query: None,
        })
    }

    fn metrics(cpu: f64) -> Metrics {
        [("cpu".to_owned(), cpu), ("other".to_owned(), 1.0)].into()
    }

    #[test]
    fn changes_are_what_the_rules_say_and_snapshots_list_the_active() {
        let mut alerts = DashboardAlerts::for_dashboard("main", &[rule()]);
        assert!(DashboardAlerts::for_dashboard("host", &[rule()]).is_empty());
        assert_eq!(alerts.evaluate_by_name(&metrics(50.0), 1000), vec![]);
        let fired = alerts.evaluate_by_name(&metrics(90.0), 2000);
        assert_eq!(fired.len(), 1);
        let change = &fired[0];
        assert_eq!(
            (change.state, change.severity, change.value, change.threshold),
            (AlertPhase::Firing, Severity::Critical, Some(90.0), Some(85.0))
        );
        assert_eq!(change.message, "CPU 90% above 85%");
        assert_eq!(alerts.active(), fired);
        assert_eq!(
            alerts.evaluate_by_name(&[("other".to_owned(), 2.0)].into(), 3000),
            vec![],
            "other metrics change nothing"
        );
        assert!(!alerts.no_data_due(11_999));
        assert!(alerts.no_data_due(12_000));
        let silent = alerts.evaluate_by_name(&Metrics::new(), 12_000);
        assert_eq!((silent[0].state, silent[0].value), (AlertPhase::NoData, None));
        assert_eq!(silent[0].message, "cpu: no data");
        assert_eq!(alerts.active(), silent);
        assert!(!alerts.no_data_due(20_000), "announced once");
        let back = alerts.evaluate_by_name(&metrics(10.0), 21_000);
        assert_eq!((back[0].state, back[0].value), (AlertPhase::Resolved, Some(10.0)));
        assert_eq!(alerts.active(), vec![], "back from nodata below the threshold: inactive");
    }

    #[test]
    fn a_rate_rule_compares_the_counters_rate_per_second_through_a_reset() {
        let requests = Arc::new(AlertRule {
            metric: r#"http_requests_total{code="500"}"#.into(),
            rate: true,
            summary: "{{value}} errors/s".into(),
            ..(*rule()).clone()
        });
        let mut alerts = DashboardAlerts::for_dashboard("main", std::slice::from_ref(&requests));
        let total = |value: f64| -> Metrics { [(requests.metric.clone(), value)].into() };
        assert_eq!(alerts.evaluate_by_name(&total(1_000.0), 0), vec![], "the first total: no rate yet");
        assert_eq!(alerts.evaluate_by_name(&total(1_050.0), 1_000), vec![], "50/s");
        let fired = alerts.evaluate_by_name(&total(1_150.0), 2_000);
        assert_eq!((fired[0].state, fired[0].value), (AlertPhase::Firing, Some(100.0)), "100/s over 85");
        // The producer restarted: its total starts again; the rate is the new total over the time.
        let after_reset = alerts.evaluate_by_name(&total(20.0), 3_000);
        assert_eq!((after_reset[0].state, after_reset[0].value), (AlertPhase::Resolved, Some(20.0)));
    }

    #[test]
    fn a_query_rule_watches_its_worst_series() {
        let query = crate::model::query::Query::parse(r#"sum by (host) (rate(errors_total{code=~"5.."}))"#).unwrap();
        let errors = Arc::new(AlertRule { metric: query.to_string(), query: Some(query), ..(*rule()).clone() });
        let mut alerts = DashboardAlerts::for_dashboard("main", std::slice::from_ref(&errors));
        let totals = |a: f64, b: f64, ok: f64| -> Metrics {
            [
                (r#"errors_total{code="500",host="a"}"#.to_owned(), a),
                (r#"errors_total{code="503",host="b"}"#.to_owned(), b),
                (r#"errors_total{code="200",host="b"}"#.to_owned(), ok),
            ]
            .into()
        };
        assert_eq!(alerts.evaluate_by_name(&totals(0.0, 0.0, 0.0), 0), vec![]);
        assert_eq!(
            alerts.evaluate_by_name(&totals(10.0, 50.0, 500.0), 1_000),
            vec![],
            "a: 10/s, b: 50/s (the 200s left out)"
        );
        let fired = alerts.evaluate_by_name(&totals(20.0, 140.0, 1_000.0), 2_000);
        assert_eq!((fired[0].state, fired[0].value), (AlertPhase::Firing, Some(90.0)), "b at 90/s is past 85");
        assert_eq!(fired[0].metric, r#"sum by (host) (rate(errors_total{code=~"5.."}))"#);
        assert_eq!(alerts.evaluate_by_name(&[("unrelated".to_owned(), 1.0)].into(), 2_500), vec![]);
    }

    #[test]
    fn a_query_rule_reads_a_series_the_dashboard_knows_as_a_counter_as_its_rate() {
        let query = crate::model::query::Query::parse("jobs_done").unwrap();
        let jobs = Arc::new(AlertRule { metric: query.to_string(), query: Some(query), ..(*rule()).clone() });
        let mut alerts = DashboardAlerts::for_dashboard("main", std::slice::from_ref(&jobs));
        let stated = |name: &str| name == "jobs_done";
        let total = |value: f64| -> Metrics { [("jobs_done".to_owned(), value)].into() };
        assert_eq!(alerts.evaluate(&total(0.0), 0, &stated), vec![]);
        let fired = alerts.evaluate(&total(100.0), 1_000, &stated);
        assert_eq!(fired[0].value, Some(100.0), "its rate (100/s), not its total");
    }
}
