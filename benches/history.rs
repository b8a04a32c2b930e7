//! What reading the per-second tier costs (BENCHMARKS.md "Memory and disk"):
//! `cargo bench --features loadgen --bench history`.
//!
//! - A minute of one metric, a point each second, read as the history read uses it: from the
//!   layout before (version 1: nine bytes a point) the way the server before did it (the row
//!   decoded into a whole minute, then walked), and from both layouts through `for_each_cell`
//!   (what the server does now). Values: the ingest benchmark's thirds stepping by one (XOR of
//!   differences), and two decimals wandering (decimal or XOR runs).
//! - A whole read: three hours of one metric from an SQLite table of minute rows, at a 10 s
//!   step (`seconds::read`, the query and bucketing included), rows in either layout, beside
//!   the read before (`read_before`: version 1 rows, each decoded into a minute and walked).

use criterion::{criterion_group, criterion_main, Criterion};
use livedash::server::store::{
    seconds::{self, MinuteCells},
    tier::Aggregate,
};
use livedash::{model::time::bucket_start, protocol::Millis};
use rusqlite::{params, Connection};
use std::hint::black_box;

fn minute(value: impl Fn(usize) -> f64) -> MinuteCells {
    let mut cells = MinuteCells::default();
    for second in 0..60 {
        cells.add(second, Aggregate::of(value(second)));
    }
    cells
}

/// A metric's value at each second of a minute.
type Shape = fn(usize) -> f64;

fn shapes() -> [(&'static str, Shape); 2] {
    [
        ("ingest benchmark", |s| (s + 400) as f64 + 3.0 / 7.0),
        ("two decimals", |s| ((1_000.0 + (s as f64 * 0.7).sin() * 50.0) * 100.0).round() / 100.0),
    ]
}

fn sum_of(aggregate: Aggregate, total: &mut f64) {
    *total += aggregate.sum;
}

fn a_minute(c: &mut Criterion) {
    for (name, value) in shapes() {
        let cells = minute(value);
        let (before, now) = (cells.encode_version_1(), cells.encode());
        c.bench_function(&format!("a minute, {name}, before: version 1 into a minute ({} bytes)", before.len()), |b| {
            b.iter(|| {
                let mut total = 0.0;
                for (_, aggregate) in MinuteCells::decode(black_box(&before)).unwrap().iter() {
                    sum_of(aggregate, &mut total);
                }
                total
            })
        });
        for (layout, bytes) in [("version 1", &before), ("version 2", &now)] {
            c.bench_function(&format!("a minute, {name}, for_each_cell, {layout} ({} bytes)", bytes.len()), |b| {
                b.iter(|| {
                    let mut total = 0.0;
                    seconds::for_each_cell(black_box(bytes), |_, aggregate| sum_of(aggregate, &mut total)).unwrap();
                    total
                })
            });
        }
    }
}

/// `seconds::read` as it was before `for_each_cell` (f55661c), the reference for "as fast as
/// before".
fn read_before(
    connection: &Connection,
    metric: i64,
    from: Millis,
    to: Millis,
    step_ms: Millis,
) -> Vec<(Millis, Aggregate)> {
    let mut statement = connection
        .prepare_cached(
            "SELECT minute, cells FROM seconds WHERE metric = ?1 AND minute >= ?2 AND minute <= ?3 ORDER BY minute",
        )
        .unwrap();
    let mut rows = statement.query(params![metric, bucket_start(from, 60_000), to]).unwrap();
    let mut buckets: Vec<(Millis, Aggregate)> = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let minute: Millis = row.get(0).unwrap();
        let cells = MinuteCells::decode(row.get_ref(1).unwrap().as_blob().unwrap()).unwrap();
        for (second, aggregate) in cells.iter() {
            let ts = minute + second as Millis * 1000;
            if ts < from || ts > to {
                continue;
            }
            let bucket = bucket_start(ts, step_ms);
            match buckets.last_mut() {
                Some((last, merged)) if *last == bucket => merged.merge(aggregate),
                _ => buckets.push((bucket, aggregate)),
            }
        }
    }
    buckets
}

fn three_hours(c: &mut Criterion) {
    const MINUTE: i64 = 60_000;
    let start = 1_700_000_040_000 / MINUTE * MINUTE;
    for (name, value) in shapes() {
        for (layout, version_2) in [("version 1", false), ("version 2", true)] {
            let connection = Connection::open_in_memory().unwrap();
            connection.execute_batch(seconds::SCHEMA).unwrap();
            for index in 0..180 {
                let cells = minute(|s| value(s) + index as f64);
                let bytes = if version_2 { cells.encode() } else { cells.encode_version_1() };
                connection
                    .execute("INSERT INTO seconds VALUES (1, ?1, ?2)", params![start + index * MINUTE, bytes])
                    .unwrap();
            }
            let to = start + 180 * MINUTE - 1;
            assert_eq!(
                seconds::read(&connection, 1, start, to, 10_000).unwrap(),
                read_before(&connection, 1, start, to, 10_000)
            );
            if !version_2 {
                c.bench_function(&format!("three hours at 10 s, {name}, before: version 1, read_before"), |b| {
                    b.iter(|| read_before(&connection, 1, black_box(start), to, 10_000))
                });
            }
            c.bench_function(&format!("three hours at 10 s, {name}, {layout}"), |b| {
                b.iter(|| seconds::read(&connection, 1, black_box(start), to, 10_000).unwrap())
            });
        }
    }
}

criterion_group!(benches, a_minute, three_hours);
criterion_main!(benches);
