//! Alert rules as configured (`[[alerts]]` in the config file), checked at load with the
//! file and line of each mistake:
//!
//! ```toml
//! [[alerts]]
//! name = "high_error_rate"          # unique; [a-z0-9_]+
//! dashboard = "main"
//! metric = "errorRate"
//! warn = { above = 0.03, clear = 0.025 }   # above or below; clear: hysteresis (default: the threshold)
//! crit = { above = 0.05, clear = 0.04 }
//! for = "10s"                       # pending before firing (default 0s)
//! keep_firing_for = "0s"
//! no_data = "60s"                   # no value this long: nodata (default off)
//! repeat = "1h"                     # re-notify while firing (default off)
//! labels = { team = "shop" }
//! summary = "Error rate {{value}} above {{threshold}}"
//!
//! [[alerts]]
//! name = "revenue_drop"
//! dashboard = "main"
//! metric = "revenue"
//! crit = { change_below = 0.5, window = "5m", versus = "1h" }   # 5 min average < 50% of the same 5 min an hour ago
//!
//! [[alerts]]
//! name = "server_errors"
//! dashboard = "api"
//! expr = 'sum(rate(http_requests_total{code=~"5.."}[1m]))'   # a query (model::query) instead of a metric
//! crit = { above = 1 }
//! ```
//!
//! A rule on a query (`expr`) watches the query's series over the live stream; when it has
//! several, the one furthest past the thresholds' direction (the highest for `above`, the
//! lowest for `below`) is the rule's value. Its `metric`, as the API and the browser show it, is
//! the query in its canonical form.
//!
//! A change rule's value is that ratio (`change`); its levels, `{{value}}` and `{{threshold}}`
//! are ratios.

use crate::model::alerts::{AlertState, ChangeWindow, Direction, Level, Severity, Thresholds, Transition};
use crate::protocol::{check_dashboard_id, metric_key, AlertChange, Millis};
use serde::Deserialize;
use std::{collections::BTreeMap, time::Duration};
use toml::Spanned;

/// One rule, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub dashboard: String,
    pub metric: String,
    pub thresholds: Thresholds,
    /// Re-notify this often while firing.
    pub repeat: Option<Duration>,
    pub labels: BTreeMap<String, String>,
    /// With `{{value}}`, `{{threshold}}`, `{{metric}}`, `{{severity}}` filled in.
    pub summary: String,
    /// For a change rule, the spans it compares.
    pub change: Option<ChangeWindow>,
    /// `rate = true`: the thresholds apply to the metric's rate per second (a counter's,
    /// `model::counter`), not to its value.
    pub rate: bool,
    /// `expr`: the query whose series the rule watches (`metric` is then its text).
    pub query: Option<crate::model::query::Query>,
}

impl AlertRule {
    /// What the browser and the rules API are told.
    pub fn summary(&self) -> crate::model::alerts::RuleSummary {
        crate::model::alerts::RuleSummary {
            name: self.name.clone(),
            dashboard: self.dashboard.clone(),
            metric: self.metric.clone(),
            warn: self.thresholds.warn,
            crit: self.thresholds.crit,
            for_ms: self.thresholds.for_ms,
            no_data_ms: self.thresholds.no_data_ms,
            labels: self.labels.clone(),
            change: self.change,
            rate: self.rate,
        }
    }

    /// What a transition of this rule says on the wire.
    pub fn change(&self, transition: &Transition) -> AlertChange {
        let severity = transition.severity.unwrap_or_else(|| self.worst_severity());
        let threshold = transition.value.and(self.thresholds.level(severity)).map(|level| level.threshold);
        AlertChange {
            rule: self.name.clone(),
            severity,
            state: transition.state,
            metric: self.metric.clone(),
            value: transition.value,
            threshold,
            since: transition.since,
            message: self.message(severity, transition.value, threshold),
        }
    }

    /// The most severe level configured (what a `nodata` is reported as).
    fn worst_severity(&self) -> Severity {
        if self.thresholds.crit.is_some() {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }

    fn message(&self, severity: Severity, value: Option<f64>, threshold: Option<f64>) -> String {
        let Some(value) = value else {
            return match self.change {
                Some(_) => format!("{}: no baseline to compare with", self.metric),
                None => format!("{}: no data", self.metric),
            };
        };
        let shown = |number: Option<f64>| number.map_or_else(String::new, |n| format!("{n}"));
        let value = Some(value);
        match (self.summary.is_empty(), self.change) {
            (true, Some(change)) => {
                let span = |ms: Millis| humantime::format_duration(Duration::from_millis(ms as u64)).to_string();
                let percent =
                    |ratio: Option<f64>| ratio.map_or_else(String::new, |ratio| format!("{:.0}%", ratio * 100.0));
                return format!(
                    "{}: {} average at {} of the same span {} earlier (threshold {})",
                    self.metric,
                    span(change.window_ms),
                    percent(value),
                    span(change.versus_ms),
                    percent(threshold)
                );
            }
            (true, None) => return format!("{} {} (threshold {})", self.metric, shown(value), shown(threshold)),
            (false, _) => {}
        }
        self.summary
            .replace("{{value}}", &shown(value))
            .replace("{{threshold}}", &shown(threshold))
            .replace("{{metric}}", &self.metric)
            .replace("{{severity}}", severity.as_str())
    }
}

/// A rule and where it stands.
#[derive(Clone, Debug)]
pub struct RuleState {
    pub rule: std::sync::Arc<AlertRule>,
    pub state: AlertState,
    /// The last change announced, while the rule is not inactive (what snapshots list).
    pub shown: Option<AlertChange>,
    /// A change rule's memory of its metric.
    pub change: Option<super::change::ChangeSeries>,
    /// A rate rule's last point of its counter.
    pub counter: crate::model::counter::RateOf,
    /// A query rule's evaluation over the stream.
    pub live: Option<crate::model::query::LiveQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleShape {
    name: Spanned<String>,
    dashboard: Spanned<String>,
    #[serde(default)]
    metric: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default)]
    warn: Option<Spanned<LevelShape>>,
    #[serde(default)]
    crit: Option<Spanned<LevelShape>>,
    #[serde(default, rename = "for")]
    for_: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    no_data: Option<Spanned<String>>,
    #[serde(default)]
    repeat: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    rate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelShape {
    #[serde(default)]
    above: Option<f64>,
    #[serde(default)]
    below: Option<f64>,
    #[serde(default)]
    clear: Option<f64>,
    #[serde(default)]
    change_below: Option<f64>,
    #[serde(default)]
    change_above: Option<f64>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    versus: Option<String>,
}

/// Checks the `[[alerts]]` of a file; `at(offset, message)` phrases an error at a place.
pub(crate) fn check(
    shapes: Vec<Spanned<RuleShape>>,
    at: &impl Fn(usize, String) -> crate::server::config::ConfigError,
) -> Result<Vec<AlertRule>, crate::server::config::ConfigError> {
    let mut rules: Vec<AlertRule> = Vec::new();
    for shape in shapes {
        let (span, shape) = (shape.span(), shape.into_inner());
        let name = shape.name.get_ref();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(at(shape.name.span().start, format!("key 'name': {name:?} is not [a-z0-9_]+")));
        }
        if rules.iter().any(|rule| &rule.name == name) {
            return Err(at(shape.name.span().start, format!("key 'name': alert '{name}' is defined twice")));
        }
        check_dashboard_id(shape.dashboard.get_ref())
            .map_err(|error| at(shape.dashboard.span().start, format!("key 'dashboard': {error}")))?;
        // `http_requests_total{code="500"}` names a series: kept as its canonical key; a query
        // is kept as it prints.
        let (metric, query) = match (shape.metric, shape.expr) {
            (Some(metric), None) => {
                let key = metric_key(metric.get_ref())
                    .map_err(|error| at(metric.span().start, format!("key 'metric': {error}")))?;
                (key.into_owned(), None)
            }
            (None, Some(expr)) => {
                let query = crate::model::query::Query::parse(expr.get_ref())
                    .map_err(|error| at(expr.span().start, format!("key 'expr': {error}")))?;
                if shape.rate {
                    return Err(at(
                        expr.span().start,
                        "key 'expr': say rate(...) in the query, not rate = true".into(),
                    ));
                }
                (query.to_string(), Some(query))
            }
            _ => return Err(at(span.start, format!("alert '{name}': give metric or expr (one of them)"))),
        };
        let duration = |key: &str, text: Option<Spanned<String>>| -> Result<Option<Duration>, _> {
            text.map(|text| {
                humantime::parse_duration(text.get_ref())
                    .map_err(|error| at(text.span().start, format!("key '{key}': {:?}: {error}", text.get_ref())))
            })
            .transpose()
        };
        // A level: `above`/`below` a value, or `change_below`/`change_above` a ratio of window
        // averages (with its `window` and `versus`).
        let level = |key: &str,
                     shape: Option<Spanned<LevelShape>>|
         -> Result<Option<(Level, Option<ChangeWindow>)>, _> {
            let Some(shape) = shape else { return Ok(None) };
            let (start, level) = (shape.span().start, shape.into_inner());
            let fail = |message: String| Err(at(start, format!("key '{key}': {message}")));
            let (direction, threshold, change) =
                match (level.above, level.below, level.change_below, level.change_above) {
                    (Some(above), None, None, None) => (Direction::Above, above, false),
                    (None, Some(below), None, None) => (Direction::Below, below, false),
                    (None, None, Some(ratio), None) => (Direction::Below, ratio, true),
                    (None, None, None, Some(ratio)) => (Direction::Above, ratio, true),
                    _ => return fail("give exactly one of above, below, change_below, change_above".into()),
                };
            let window = match (change, level.window, level.versus) {
                (false, None, None) => None,
                (false, ..) => return fail("window and versus belong to change_below or change_above".into()),
                (true, Some(window), Some(versus)) => {
                    let span = |text: &str| humantime::parse_duration(text).ok().map(|d| d.as_millis() as Millis);
                    match (span(&window), span(&versus)) {
                        (Some(window_ms), Some(versus_ms)) if window_ms >= 1000 && versus_ms >= window_ms => {
                            Some(ChangeWindow { window_ms, versus_ms })
                        }
                        _ => {
                            return fail(format!(
                                "window ({window:?}) and versus ({versus:?}) must be durations, window at least 1s and versus at least window"
                            ))
                        }
                    }
                }
                (true, ..) => {
                    return fail("a change level needs window and versus (window = \"5m\", versus = \"1h\")".into())
                }
            };
            if change && threshold.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return fail(format!("the ratio ({threshold}) must be above 0"));
            }
            match Level::checked(direction, threshold, level.clear) {
                Ok(level) => Ok(Some((level, window))),
                Err(message) => fail(message),
            }
        };
        let warn = level("warn", shape.warn)?;
        let crit = level("crit", shape.crit)?;
        let change = match (warn.map(|(_, change)| change), crit.map(|(_, change)| change)) {
            (Some(warn), Some(crit)) if warn != crit => {
                let why = "warn and crit must both be change levels with the same window and versus, or neither";
                return Err(at(span.start, format!("alert '{name}': {why}")));
            }
            (warn, crit) => warn.or(crit).flatten(),
        };
        let (warn, crit) = (warn.map(|(level, _)| level), crit.map(|(level, _)| level));
        if warn.is_none() && crit.is_none() {
            return Err(at(span.start, format!("alert '{name}': give warn, crit or both")));
        }
        if let (Some(warn), Some(crit)) = (warn, crit) {
            if warn.direction != crit.direction {
                return Err(at(span.start, format!("alert '{name}': warn and crit must both be above or both below")));
            }
        }
        let millis = |duration: Option<Duration>| duration.map_or(0, |d| d.as_millis() as Millis);
        let thresholds = Thresholds {
            warn,
            crit,
            for_ms: millis(duration("for", shape.for_)?),
            keep_firing_for_ms: millis(duration("keep_firing_for", shape.keep_firing_for)?),
            no_data_ms: duration("no_data", shape.no_data)?.map(|d| d.as_millis() as Millis),
        };
        rules.push(AlertRule {
            name: name.clone(),
            dashboard: shape.dashboard.into_inner(),
            metric,
            thresholds,
            repeat: duration("repeat", shape.repeat)?,
            labels: shape.labels,
            summary: shape.summary,
            change,
            rate: shape.rate,
            query,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use crate::model::alerts::{Direction, Level};
    use crate::server::settings::file::parse;

    #[test]
    fn a_rule_takes_a_query_or_a_metric() {
        let rule = |body: &str| {
            parse(&format!("[[alerts]]\nname = \"r\"\ndashboard = \"api\"\n{body}crit = {{ above = 1 }}\n"), "f")
        };
        let rules = rule("expr = 'sum(rate(http_requests_total{code=~\"5..\"}[1m]))'\n").unwrap().alerts;
        assert_eq!(rules[0].metric, r#"sum (rate(http_requests_total{code=~"5.."}[1m]))"#);
        assert!(rules[0].query.is_some());
        let error = rule("expr = 'sum(x'\n").unwrap_err();
        assert!(error.0.starts_with("f:4: key 'expr': at character 6: expected ')'"), "{}", error.0);
        assert!(rule("").unwrap_err().0.contains("give metric or expr"));
        assert!(rule("metric = \"x\"\nexpr = \"x\"\n").unwrap_err().0.contains("give metric or expr"));
        assert!(rule("expr = \"x\"\nrate = true\n").unwrap_err().0.contains("rate(...)"));
    }

    #[test]
    fn the_documented_rule_reads_as_written() {
        let text = r#"
[[alerts]]
name = "high_error_rate"
dashboard = "main"
metric = "errorRate"
warn = { above = 0.03, clear = 0.025 }
crit = { above = 0.05 }
for = "10s"
keep_firing_for = "1m"
no_data = "60s"
repeat = "1h"
labels = { team = "shop" }
summary = "Error rate {{value}} above {{threshold}}"
"#;
        let rules = parse(text, "livedash.toml").unwrap().alerts;
        let rule = &rules[0];
        assert_eq!(
            (rule.name.as_str(), rule.dashboard.as_str(), rule.metric.as_str()),
            ("high_error_rate", "main", "errorRate")
        );
        assert_eq!(rule.thresholds.warn, Some(Level { direction: Direction::Above, threshold: 0.03, clear: 0.025 }));
        assert_eq!(rule.thresholds.crit, Some(Level { direction: Direction::Above, threshold: 0.05, clear: 0.05 }));
        assert_eq!(
            (rule.thresholds.for_ms, rule.thresholds.keep_firing_for_ms, rule.thresholds.no_data_ms),
            (10_000, 60_000, Some(60_000))
        );
        assert_eq!(rule.repeat, Some(std::time::Duration::from_secs(3600)));
        assert_eq!(rule.labels["team"], "shop");
    }

    #[test]
    fn the_toml_the_rule_preview_offers_reads_back_as_the_same_rule() {
        use crate::model::alerts::{rule_name_for, rule_toml, RuleSubject, Thresholds};
        let thresholds = Thresholds {
            warn: Some(Level { direction: Direction::Below, threshold: 0.5, clear: 0.75 }),
            crit: Some(Level { direction: Direction::Below, threshold: 0.25, clear: 0.25 }),
            for_ms: 30_000,
            keep_firing_for_ms: 0,
            no_data_ms: None,
        };
        let name = rule_name_for("activeUsers.eu_west");
        assert_eq!(name, "active_users_eu_west_alert");
        let text = rule_toml(&name, "main", &RuleSubject::Metric("activeUsers.eu_west".into()), &thresholds);
        let rules = parse(&text, "preview.toml").unwrap_or_else(|error| panic!("{text}: {}", error.0)).alerts;
        assert_eq!((rules[0].name.as_str(), &rules[0].thresholds), (name.as_str(), &thresholds), "{text}");
        // A query's rule, its quotes escaped, reads back with the same query.
        let query = r#"sum by (code) (rate(http_requests_total{code=~"5.."}[1m]))"#;
        let text = rule_toml("errors_alert", "main", &RuleSubject::Query(query.into()), &thresholds);
        let rules = parse(&text, "preview.toml").unwrap_or_else(|error| panic!("{text}: {}", error.0)).alerts;
        assert_eq!(
            rules[0].query.as_ref().map(ToString::to_string),
            Some(crate::model::query::Query::parse(query).unwrap().to_string())
        );
    }

    #[test]
    fn mistakes_are_reported_with_file_and_line() {
        let rule = |body: &str| format!("[[alerts]]\nname = \"r\"\ndashboard = \"main\"\nmetric = \"cpu\"\n{body}\n");
        let cases = [
            (
                rule("warn = { above = 80, clear = 90 }"),
                ":5:",
                "clear (90) must be a number at or below the threshold (80)",
            ),
            (rule("crit = { below = 5, clear = 1 }"), ":5:", "at or above"),
            (rule("crit = { above = 1, below = 2 }"), ":5:", "exactly one of above, below"),
            (rule("crit = { change_below = 0.5 }"), ":5:", "needs window and versus"),
            (rule("crit = { above = 5, window = \"5m\" }"), ":5:", "belong to change_below"),
            (rule("crit = { change_below = 0.5, window = \"1h\", versus = \"5m\" }"), ":5:", "versus at least window"),
            (rule("crit = { change_below = 0, window = \"5m\", versus = \"1h\" }"), ":5:", "must be above 0"),
            (
                rule("warn = { change_below = 0.8, window = \"5m\", versus = \"1h\" }\ncrit = { below = 1 }"),
                ":1:",
                "same window and versus",
            ),
            (rule(""), ":1:", "give warn, crit or both"),
            (rule("crit = { above = 1 }\nfor = \"soon\""), ":6:", "key 'for'"),
            (rule("warn = { above = 1 }\ncrit = { below = 0 }"), ":1:", "must both be above or both below"),
            (rule("crit = { above = 1 }\nseverity = \"high\""), ":", "severity"),
            (rule("crit = { above = 1 }").replace("\"cpu\"", "\"9cpu\""), ":4:", "key 'metric'"),
            (rule("crit = { above = 1 }").replace("name = \"r\"", "name = \"High Rate\""), ":2:", "[a-z0-9_]+"),
            (rule("crit = { above = 1 }").repeat(2), ":7:", "defined twice"),
        ];
        for (text, line, expected) in cases {
            let error = parse(&text, "livedash.toml").unwrap_err().0;
            assert!(
                error.starts_with("livedash.toml") && error.contains(line) && error.contains(expected),
                "{text:?}: {error}"
            );
        }
    }
}
