//! What evaluating alert rules costs per update (BENCHMARKS.md "Alerts"):
//! `cargo bench --bench alerts`. One rule stepping through values (`step`), and a dashboard's
//! 100 rules taking an update that carries all their metrics (`DashboardAlerts::evaluate`), and
//! one change rule (5 min against an hour before) holding its full hour of buckets.

use criterion::{criterion_group, criterion_main, Criterion};
use livedash::model::alerts::{step, AlertState, Direction, Input, Level, Thresholds};
use livedash::protocol::Metrics;
use livedash::server::alerts::eval::{rules::AlertRule, DashboardAlerts};
use std::{hint::black_box, sync::Arc};

fn thresholds() -> Thresholds {
    Thresholds {
        warn: Some(Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 }),
        crit: Some(Level { direction: Direction::Above, threshold: 95.0, clear: 85.0 }),
        for_ms: 10_000,
        keep_firing_for_ms: 0,
        no_data_ms: Some(60_000),
    }
}

fn one_rule(c: &mut Criterion) {
    let rule = thresholds();
    // A value inside the band, as most updates are: no transition.
    c.bench_function("step, one rule, no transition", |b| {
        let mut state = AlertState::default();
        let mut ts = 0;
        b.iter(|| {
            ts += 1000;
            let (next, transitions) = step(&rule, state, Input::Value(black_box(50.0)), ts);
            state = next;
            black_box(transitions)
        })
    });
}

fn hundred_rules(c: &mut Criterion) {
    let rules: Vec<Arc<AlertRule>> = (0..100)
        .map(|i| {
            Arc::new(AlertRule {
                name: format!("rule_{i}"),
                dashboard: "bench".into(),
                metric: format!("m{i}"),
                thresholds: thresholds(),
                repeat: None,
                labels: Default::default(),
                summary: String::new(),
                change: None,
                rate: false,
                query: None,
            })
        })
        .collect();
    let metrics: Metrics = (0..100).map(|i| (format!("m{i}"), 50.0)).collect();
    let mut alerts = DashboardAlerts::for_dashboard("bench", &rules);
    let mut ts = 0;
    c.bench_function("evaluate, 100 rules, one update with their 100 metrics", |b| {
        b.iter(|| {
            ts += 1000;
            black_box(alerts.evaluate(black_box(&metrics), ts, &|_| false))
        })
    });
}

fn change_rule(c: &mut Criterion) {
    let text = r#"
[[alerts]]
name = "revenue_drop"
dashboard = "bench"
metric = "revenue"
crit = { change_below = 0.5, window = "5m", versus = "1h" }
"#;
    let rule = livedash::server::settings::file::parse(text, "bench.toml").unwrap().alerts.remove(0);
    let mut alerts = DashboardAlerts::for_dashboard("bench", &[Arc::new(rule)]);
    let metrics: Metrics = [("revenue".to_owned(), 100.0)].into();
    // An hour and five minutes of one value a second first: every bucket is there.
    let mut ts = 0;
    for _ in 0..3_900 {
        ts += 1000;
        alerts.evaluate(&metrics, ts, &|_| false);
    }
    c.bench_function("evaluate, one change rule (5m versus 1h), one update", |b| {
        b.iter(|| {
            ts += 1000;
            black_box(alerts.evaluate(black_box(&metrics), ts, &|_| false))
        })
    });
}

criterion_group!(benches, one_rule, hundred_rules, change_rule);
criterion_main!(benches);
