//! What reading the per-second tier costs per minute row (BENCHMARKS.md "Memory and disk"):
//! `cargo bench --features loadgen --bench history`. A minute of one metric, a point each
//! second, decoded from the layout before (version 1: nine bytes a point) and from the
//! compressed one (version 2), for the ingest benchmark's values (XOR runs) and for values with
//! two decimals (the simulator's and most agents': decimal runs).

use criterion::{criterion_group, criterion_main, Criterion};
use livedash::server::store::{seconds::MinuteCells, tier::Aggregate};
use std::hint::black_box;

fn minute(value: impl Fn(usize) -> f64) -> MinuteCells {
    let mut cells = MinuteCells::default();
    for second in 0..60 {
        cells.add(second, Aggregate::of(value(second)));
    }
    cells
}

fn decode(c: &mut Criterion) {
    let base = 1_700_000_000_000i64;
    let shapes = [
        ("ingest benchmark", minute(|s| ((base + s as i64 * 1000) % 1000) as f64 + (s as f64) * 1.0 + 3.0 / 7.0)),
        ("two decimals", minute(|s| 1234.56 + ((s * 37) % 11) as f64 * 0.25)),
    ];
    for (name, cells) in shapes {
        for (layout, bytes) in [("version 1", cells.encode_version_1()), ("version 2", cells.encode())] {
            c.bench_function(&format!("decode a minute, {name}, {layout} ({} bytes)", bytes.len()), |b| {
                b.iter(|| MinuteCells::decode(black_box(&bytes)).unwrap())
            });
        }
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
