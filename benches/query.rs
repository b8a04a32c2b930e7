//! What a query over the live stream costs per update (issue 25: "a query over 1,000 live
//! series updates in under 1 ms per update"): `cargo bench --features loadgen --bench query`.
//!
//! 1,000 counters `requests_total{host,code}` (50 hosts x 20 codes), each update carrying all of
//! them (a scrape) or one (a push), through `LiveQuery::apply`: a selection, a grouped sum of
//! rates, and a topk. Native code; the browser runs the same code as WASM. `apply` answers the
//! whole query (what alert rules read); `apply_changes` only the series the update changed
//! (what a panel appends): a group kept between updates costs the members the update carried.

use criterion::{criterion_group, criterion_main, Criterion};
use livedash::model::query::{LiveQuery, Query};
use livedash::protocol::Metrics;
use std::hint::black_box;

fn series() -> Vec<String> {
    (0..50)
        .flat_map(|host| (0..20).map(move |code| format!(r#"requests_total{{code="{code}",host="h{host}"}}"#)))
        .collect()
}

fn live(c: &mut Criterion) {
    let names = series();
    for query in ["requests_total", "sum by (host) (rate(requests_total))", "topk(5, requests_total)"] {
        // Never stale here: the one-series case must still answer over all 1,000.
        let mut live = LiveQuery::new(Query::parse(query).unwrap()).stale_after(i64::MAX / 4);
        let mut ts = 0;
        let update = |ts: i64| -> Metrics {
            names.iter().enumerate().map(|(i, name)| (name.clone(), (ts / 1000 * i as i64) as f64)).collect()
        };
        // Every series known and rated before measuring.
        for _ in 0..3 {
            ts += 1000;
            live.apply(ts, &update(ts), |_| true);
        }
        let whole = update(ts + 1000);
        c.bench_function(&format!("1,000 series in one update: {query}"), |b| {
            b.iter(|| {
                ts += 1000;
                black_box(live.apply(ts, black_box(&whole), |_| true))
            })
        });
        let one: Metrics = [(names[7].clone(), 1e9)].into();
        c.bench_function(&format!("one of 1,000 series in an update: {query}"), |b| {
            b.iter(|| {
                ts += 1000;
                black_box(live.apply(ts, black_box(&one), |_| true))
            })
        });
        c.bench_function(&format!("1,000 series in one update, changes only: {query}"), |b| {
            b.iter(|| {
                ts += 1000;
                black_box(live.apply_changes(ts, black_box(&whole), |_| true).map(|changes| changes.len()))
            })
        });
        c.bench_function(&format!("one of 1,000 series in an update, changes only: {query}"), |b| {
            b.iter(|| {
                ts += 1000;
                black_box(live.apply_changes(ts, black_box(&one), |_| true).map(|changes| changes.len()))
            })
        });
    }
}

criterion_group!(benches, live);
criterion_main!(benches);
