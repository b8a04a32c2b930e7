use super::*;
use crate::protocol::series::SeriesKey;
use proptest::prelude::*;

fn key(text: &str) -> SeriesKey {
    SeriesKey::parse(text).unwrap()
}

#[test]
fn queries_read_and_print_in_one_canonical_form() {
    for (text, printed) in [
        ("http_requests_total", "http_requests_total"),
        (r#"http_requests_total{code=~"5..",method!="GET"}"#, r#"http_requests_total{code=~"5..", method!="GET"}"#),
        ("node_*_bytes_total", "node_*_bytes_total"),
        (r#"{job='api', le!~"0\\.5|1"}"#, r#"{job="api", le!~"0\\.5|1"}"#),
        ("rate( jobs_done [ 1m ] )", "rate(jobs_done[1m])"),
        ("rate(x[90s])", "rate(x[90s])"),
        ("rate(x[1500ms])", "rate(x[1500ms])"),
        ("sum(rate(x))", "sum (rate(x))"),
        ("sum by (code, method) (x)", "sum by (code, method) (x)"),
        ("sum(x) by (code)", "sum by (code) (x)"),
        ("avg without(cpu)(node_cpu_seconds_total)", "avg without (cpu) (node_cpu_seconds_total)"),
        ("topk(3, max by (host) (load1))", "topk(3, max by (host) (load1))"),
        ("count by () (up)", "count by () (up)"),
        (r#"sum(rate(http_requests_total{code=~"5.."}[1m]))"#, r#"sum (rate(http_requests_total{code=~"5.."}[1m]))"#),
    ] {
        let query = Query::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(query.to_string(), printed, "{text}");
        assert_eq!(Query::parse(printed).unwrap(), query, "{printed} reads back the same");
    }
}

#[test]
fn a_bad_query_says_where_and_what() {
    for (text, at, says) in [
        ("", 0, "a family"),
        ("sum(x", 5, "expected ')'"),
        ("rate(x) y", 8, "nothing more"),
        ("x{code=5}", 7, "a quoted string"),
        ("x{code~\"5\"}", 6, "=, !=, =~ or !~"),
        ("x{code=\"5}", 7, "closing quote"),
        ("x{code=~\"(\"}", 8, "regular expression"),
        ("x[5w]", 3, "a unit"),
        ("x[0s]", 2, "above zero"),
        ("topk(0, x)", 5, "at least 1"),
        ("quantile(0.5, x)", 0, "unknown function 'quantile'"),
        ("sum by (9x) (x)", 8, "a label name"),
        ("9x", 0, "not a family"),
    ] {
        let error = Query::parse(text).expect_err(text);
        assert_eq!(error.at, at, "{text}: {error}");
        assert!(error.message.contains(says), "{text}: {error}");
    }
    assert_eq!(Query::parse("sum(x").unwrap_err().to_string(), "at character 6: expected ')', found the end");
    let deep = "sum(".repeat(40) + "x" + &")".repeat(40);
    assert!(Query::parse(&deep).unwrap_err().message.contains("nested"));
}

#[test]
fn selectors_match_families_patterns_and_labels() {
    let query = Query::parse(r#"node_*_total{mode!="idle",cpu=~"0|1"}"#).unwrap();
    let selector = query.selector();
    let matches = |text: &str| {
        let key = key(text);
        selector.matches(&key.family, &key.labels)
    };
    assert!(matches(r#"node_cpu_seconds_total{cpu="0",mode="user"}"#));
    assert!(!matches(r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#));
    assert!(!matches(r#"node_cpu_seconds_total{cpu="10",mode="user"}"#), "anchored: 10 is not 0|1");
    assert!(!matches(r#"node_load1{cpu="0"}"#));
    let absent = Query::parse(r#"x{code=""}"#).unwrap();
    assert!(absent.selector().matches("x", &Default::default()), "a missing label reads as empty");
}

#[test]
fn aggregations_group_by_and_without_labels() {
    let series = [
        (r#"http_requests_total{code="200",method="GET"}"#, 10.0),
        (r#"http_requests_total{code="200",method="POST"}"#, 4.0),
        (r#"http_requests_total{code="500",method="GET"}"#, 1.0),
        (r#"other{code="500"}"#, 99.0),
    ];
    let keys: Vec<SeriesKey> = series.iter().map(|(text, _)| key(text)).collect();
    let inputs: Vec<Input<'_>> = keys.iter().zip(series).map(|(key, (_, value))| Input { key, value }).collect();
    let run = |text: &str| -> Vec<(String, f64)> {
        evaluate(&Query::parse(text).unwrap(), &inputs).into_iter().map(|o| (o.key, o.value)).collect()
    };
    assert_eq!(
        run("sum by (code) (http_requests_total)"),
        [(r#"{code="200"}"#.into(), 14.0), (r#"{code="500"}"#.into(), 1.0)]
    );
    assert_eq!(run("sum(http_requests_total)"), [("{}".into(), 15.0)]);
    assert_eq!(
        run("avg without (method) (http_requests_total)"),
        [(r#"{code="200"}"#.into(), 7.0), (r#"{code="500"}"#.into(), 1.0)]
    );
    assert_eq!(
        run("count by (method) (http_requests_total)"),
        [(r#"{method="GET"}"#.into(), 2.0), (r#"{method="POST"}"#.into(), 1.0)]
    );
    assert_eq!(run("max(http_requests_total)"), [("{}".into(), 10.0)]);
    assert_eq!(run("min by (code) (*)"), [(r#"{code="200"}"#.into(), 4.0), (r#"{code="500"}"#.into(), 1.0)]);
    assert_eq!(
        run("topk(2, http_requests_total)").iter().map(|(_, value)| *value).collect::<Vec<_>>(),
        [10.0, 4.0],
        "sorted by key: GET before POST"
    );
    assert!(run("sum(nothing)").is_empty(), "no series: no group");
}

#[test]
fn live_rates_are_per_second_since_the_last_point_or_over_the_range() {
    let counter = |_: &str| true;
    let mut live = LiveQuery::new(Query::parse("jobs_total").unwrap());
    let update = |total: f64| Metrics::from([("jobs_total".to_string(), total)]);
    assert!(live.apply(0, &update(0.0), counter).is_none(), "one point: no rate yet");
    let rate = |outputs: Option<Vec<Output>>| outputs.unwrap()[0].value;
    assert_eq!(rate(live.apply(1_000, &update(10.0), counter)), 10.0, "a counter is read as its rate");
    assert_eq!(rate(live.apply(2_000, &update(4.0), counter)), 4.0, "a reset counts from zero");
    assert!(live.apply(1_500, &update(99.0), counter).is_none(), "late: ignored");
    let mut ranged = LiveQuery::new(Query::parse("rate(jobs_total[10s])").unwrap());
    for second in 0..=20 {
        ranged.apply(second * 1_000, &update(second as f64 * 3.0), counter);
    }
    assert_eq!(rate(ranged.apply(21_000, &update(63.0), counter)), 3.0);
    let mut gauge = LiveQuery::new(Query::parse("jobs_total").unwrap());
    assert_eq!(gauge.apply(0, &update(5.0), |_| false).unwrap()[0].value, 5.0, "a gauge is its reading");
    assert!(gauge.apply(1_000, &Metrics::from([("other".to_string(), 1.0)]), |_| false).is_none());
    assert!(gauge.answer(STALE_AFTER_MS + 1).is_empty(), "silent for five minutes: left out");
}

/// Queries built from parts: what `parse(print(q))` must give back.
fn query() -> impl Strategy<Value = Query> {
    let label = "[a-z_][a-z0-9_]{0,6}";
    let matcher = (label, 0..4usize, "[ -~]{0,8}").prop_filter_map("a regex that compiles", |(label, op, value)| {
        let op = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::Matches, MatchOp::NotMatches][op];
        Matcher::new(&label, op, &value).ok()
    });
    let selector =
        ("[a-z_:][a-z0-9_:*]{0,8}", proptest::collection::vec(matcher, 0..3), proptest::option::of(1..100_000i64))
            .prop_map(|(family, matchers, range_ms)| Selector { family, matchers, range_ms });
    let leaf = (selector, any::<bool>())
        .prop_map(|(selector, rate)| if rate { Query::Rate(selector) } else { Query::Select(selector) });
    leaf.prop_recursive(3, 8, 1, move |inner| {
        let grouping = prop_oneof![
            Just(Grouping::All),
            proptest::collection::vec(label, 0..3).prop_map(Grouping::By),
            proptest::collection::vec(label, 0..3).prop_map(Grouping::Without),
        ];
        prop_oneof![
            (0..5usize, grouping, inner.clone()).prop_map(|(op, grouping, inner)| Query::Aggregate {
                op: [AggregateOp::Sum, AggregateOp::Avg, AggregateOp::Min, AggregateOp::Max, AggregateOp::Count][op],
                grouping,
                inner: Box::new(inner),
            }),
            (1..20usize, inner).prop_map(|(k, inner)| Query::TopK { k, inner: Box::new(inner) }),
        ]
    })
}

proptest! {
    #[test]
    fn any_query_prints_to_text_that_reads_back_the_same(query in query()) {
        let printed = query.to_string();
        prop_assert_eq!(Query::parse(&printed), Ok(query), "{}", printed);
    }

    #[test]
    fn any_text_is_read_or_refused_never_a_panic(text in "[ -~]{0,40}") {
        if let Err(error) = Query::parse(&text) {
            prop_assert!(error.at <= text.len());
        }
    }

    /// The browser (`LiveQuery`, update by update) and the server (`evaluate` over each
    /// instant) agree on every query over the same data.
    #[test]
    fn live_and_instant_evaluation_agree(
        steps in proptest::collection::vec(proptest::collection::vec((0..6usize, 0..1000u32), 1..6), 1..30),
        which in 0..6usize,
    ) {
        let queries = [
            "load",
            "sum(load)",
            "sum by (host) (load)",
            "max without (cpu) (load)",
            r#"topk(2, load{host!="b"})"#,
            "count by (cpu) (load)",
        ];
        let names: Vec<String> = (0..6).map(|i| format!(r#"load{{cpu="{}",host="{}"}}"#, i % 2, ["a", "b", "c"][i % 3])).collect();
        let query = Query::parse(queries[which]).unwrap();
        let mut live = LiveQuery::new(query.clone());
        let mut changing = LiveQuery::new(query.clone());
        let mut charted: BTreeMap<String, f64> = BTreeMap::new();
        let mut latest: BTreeMap<String, f64> = BTreeMap::new();
        for (step, values) in steps.iter().enumerate() {
            let ts = step as Millis * 1000;
            let metrics: Metrics = values.iter().map(|&(series, value)| (names[series].clone(), value as f64)).collect();
            latest.extend(metrics.iter().map(|(name, value)| (name.clone(), *value)));
            live.apply(ts, &metrics, |_| false);
            let from_live = live.answer(ts);
            // What a chart appends (the changed series only) adds up to the same answer;
            // a topk's answer comes whole.
            let changes: Vec<(String, f64)> = changing
                .apply_changes(ts, &metrics, |_| false)
                .unwrap_or_default()
                .into_iter()
                .map(|changed| (changed.key.to_owned(), changed.value))
                .collect();
            if matches!(query, Query::TopK { .. }) {
                if !changes.is_empty() {
                    charted = changes.into_iter().collect();
                }
            } else {
                charted.extend(changes);
            }
            let answered: BTreeMap<String, f64> = from_live.iter().map(|o| (o.key.clone(), o.value)).collect();
            prop_assert_eq!(&charted, &answered);
            let keys: Vec<(SeriesKey, f64)> = latest.iter().map(|(name, value)| (key(name), *value)).collect();
            let inputs: Vec<Input<'_>> = keys.iter().map(|(key, value)| Input { key, value: *value }).collect();
            prop_assert_eq!(from_live, evaluate(&query, &inputs));
        }
    }
}

use crate::protocol::{Metrics, Millis};
use std::collections::BTreeMap;
