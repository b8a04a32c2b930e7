//! The per-second tier, stored a minute per row: one row per (metric, minute) whose `cells`
//! blob holds the aggregate of each second of that minute that has points. A batch of a
//! metric's points costs one upsert per minute it touches instead of one per second, which was
//! the writer's main cost with a row per second (BENCHMARKS.md). Rows merge inside SQLite
//! through the `merge_seconds` function registered on the writer's connection, so an upsert
//! never reads the row back first.
//!
//! Cell encoding, version 2 (`encode`): the byte `0xF2`; a flags byte (every second present;
//! every present second holds one point; the seconds listed rather than masked); the seconds
//! present (none when all are, a byte each when fewer than 8, else a 64-bit mask); the seconds
//! holding several points (none when every cell is single, else a mask); then the single
//! points' values as one compressed run (`floats`: decimal delta-of-delta, Gorilla XOR or XOR
//! of differences, whichever is shortest), then for the other cells their counts (varints)
//! and their sums, minimums and maximums as three runs. A minute of a metric written with two
//! decimals takes one to two bytes a point.
//!
//! Version 1 (stores before it, converted on open by `migrate_cells`): seconds in order, a
//! byte `s` (0..=59) with the high bit set for a single point and its value (9 bytes), or else
//! count, sum, min and max (33 bytes).

use super::{
    codec,
    tier::{Aggregate, Tier},
};
use crate::protocol::Millis;
use rusqlite::{functions::FunctionFlags, params, Connection};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS seconds (
    metric INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    cells  BLOB NOT NULL,
    PRIMARY KEY (metric, minute)
) WITHOUT ROWID;
";

/// Inserts a minute's cells, merging them into the row already there.
pub const UPSERT: &str = "INSERT INTO seconds (metric, minute, cells) VALUES (?1, ?2, ?3)
    ON CONFLICT (metric, minute) DO UPDATE SET cells = merge_seconds(cells, excluded.cells)";

const SECONDS: usize = 60;
const SINGLE: u8 = 0x80;
/// The first byte of a version 2 row (version 1 starts with a second, below 0xC0).
const VERSION_2: u8 = 0xF2;
const ALL_PRESENT: u8 = 1;
const ALL_SINGLE: u8 = 2;
const LISTED: u8 = 4;
/// Seconds listed a byte each below this many.
const LIST_BELOW: usize = 8;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("unreadable per-second cells at byte {0}")]
pub struct BadCells(usize);

/// The per-second aggregates of one metric over one minute.
#[derive(Clone, Debug, PartialEq)]
pub struct MinuteCells([Option<Aggregate>; SECONDS]);

impl Default for MinuteCells {
    fn default() -> Self {
        MinuteCells([None; SECONDS])
    }
}

impl MinuteCells {
    /// The minute `ts` falls in and its second within it.
    pub fn locate(ts: Millis) -> (Millis, usize) {
        let minute = Tier::Minute.bucket_start(ts);
        (minute, ((ts - minute) / 1000) as usize)
    }

    pub fn add(&mut self, second: usize, aggregate: Aggregate) {
        match &mut self.0[second] {
            Some(cell) => cell.merge(aggregate),
            empty => *empty = Some(aggregate),
        }
    }

    pub fn merge(&mut self, other: &MinuteCells) {
        for (second, aggregate) in other.iter() {
            self.add(second, aggregate);
        }
    }

    /// The seconds that have points, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Aggregate)> + '_ {
        self.0.iter().enumerate().filter_map(|(second, cell)| cell.map(|cell| (second, cell)))
    }

    /// Version 1 bytes (the layout before): for the conversion tests and the decoding benchmark
    /// (`benches/history.rs`), never written by the store.
    pub fn encode_version_1(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (second, cell) in self.iter() {
            if cell.count == 1 {
                bytes.push(second as u8 | SINGLE);
                bytes.extend_from_slice(&cell.sum.to_le_bytes());
            } else {
                bytes.push(second as u8);
                bytes.extend_from_slice(&cell.count.to_le_bytes());
                for value in [cell.sum, cell.min, cell.max] {
                    bytes.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
        bytes
    }

    pub fn encode(&self) -> Vec<u8> {
        let cells: Vec<(usize, Aggregate)> = self.iter().collect();
        let mask = |keep: &dyn Fn(&Aggregate) -> bool| {
            cells.iter().filter(|(_, cell)| keep(cell)).fold(0u64, |mask, (second, _)| mask | 1 << second)
        };
        let several = mask(&|cell| cell.count != 1);
        let mut flags = 0;
        if cells.len() == SECONDS {
            flags |= ALL_PRESENT;
        } else if cells.len() < LIST_BELOW {
            flags |= LISTED;
        }
        if several == 0 {
            flags |= ALL_SINGLE;
        }
        let mut bytes = Vec::with_capacity(8 + cells.len() * 2);
        bytes.extend_from_slice(&[VERSION_2, flags]);
        if flags & LISTED != 0 {
            bytes.push(cells.len() as u8);
            bytes.extend(cells.iter().map(|(second, _)| *second as u8));
        } else if flags & ALL_PRESENT == 0 {
            bytes.extend_from_slice(&mask(&|_| true).to_le_bytes());
        }
        if several != 0 {
            bytes.extend_from_slice(&several.to_le_bytes());
        }
        let singles: Vec<f64> = cells.iter().filter(|(_, cell)| cell.count == 1).map(|(_, cell)| cell.sum).collect();
        codec::floats::encode(&singles, &mut bytes);
        let others: Vec<&Aggregate> = cells.iter().filter(|(_, cell)| cell.count != 1).map(|(_, cell)| cell).collect();
        if !others.is_empty() {
            for cell in &others {
                codec::bytes::put_varint(&mut bytes, codec::bytes::zigzag(cell.count));
            }
            for field in [|cell: &Aggregate| cell.sum, |cell: &Aggregate| cell.min, |cell: &Aggregate| cell.max] {
                let run: Vec<f64> = others.iter().map(|cell| field(cell)).collect();
                codec::floats::encode(&run, &mut bytes);
            }
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<MinuteCells, BadCells> {
        let mut cells = MinuteCells::default();
        for_each_cell(bytes, |second, aggregate| cells.add(second, aggregate))?;
        Ok(cells)
    }
}

/// Calls `each` with every second of a row's cells and its aggregate, in order, without building
/// the minute (the history read's path: a minute is 2.4 KB to clear and move, its points
/// rarely more than 60 values). A version 2 row is read whole before the first call.
pub fn for_each_cell(bytes: &[u8], each: impl FnMut(usize, Aggregate)) -> Result<(), BadCells> {
    match bytes.first() {
        Some(&VERSION_2) => for_each_cell_v2(bytes, each).map_err(BadCells),
        _ => for_each_cell_v1(bytes, each),
    }
}

fn for_each_cell_v2(bytes: &[u8], mut each: impl FnMut(usize, Aggregate)) -> Result<(), usize> {
    let mut reader = codec::bytes::Reader::new(bytes);
    reader.byte()?;
    let flags = reader.byte()?;
    // The seconds present, as a mask (bit n: second n).
    let present: u64 = if flags & LISTED != 0 {
        let count = reader.byte()? as usize;
        let listed = reader.take(count)?;
        if listed.iter().any(|second| usize::from(*second) >= SECONDS) {
            return Err(reader.at);
        }
        listed.iter().fold(0, |mask, second| mask | 1 << second)
    } else if flags & ALL_PRESENT != 0 {
        (1 << SECONDS) - 1
    } else {
        u64::from_le_bytes(reader.take(8)?.try_into().expect("eight bytes"))
    };
    if present >> SECONDS != 0 {
        return Err(reader.at);
    }
    let several =
        if flags & ALL_SINGLE != 0 { 0 } else { u64::from_le_bytes(reader.take(8)?.try_into().expect("eight bytes")) };
    let (singles, others) = (present & !several, present & several);
    let mut values = [0.0; SECONDS];
    let values = &mut values[..singles.count_ones() as usize];
    codec::floats::decode(&mut reader, values)?;
    // Most rows hold single points only: walked without clearing the other runs' buffers.
    if others == 0 {
        if !reader.is_done() {
            return Err(reader.at);
        }
        for (second, value) in seconds_of(singles).zip(values.iter()) {
            each(second, Aggregate::of(*value));
        }
        return Ok(());
    }
    let count = others.count_ones() as usize;
    let mut counts = [0i64; SECONDS];
    for slot in &mut counts[..count] {
        *slot = codec::bytes::unzigzag(reader.varint()?);
    }
    let mut runs = [[0.0; SECONDS]; 3];
    for run in &mut runs {
        codec::floats::decode(&mut reader, &mut run[..count])?;
    }
    if !reader.is_done() {
        return Err(reader.at);
    }
    let [sums, mins, maxs] = &runs;
    let (mut single, mut other) = (values.iter(), 0..count);
    for second in seconds_of(present) {
        let aggregate = if several >> second & 1 == 0 {
            Aggregate::of(*single.next().expect("one value per single second"))
        } else {
            let at = other.next().expect("one aggregate per other second");
            Aggregate::unordered(counts[at], sums[at], mins[at], maxs[at])
        };
        each(second, aggregate);
    }
    Ok(())
}

fn for_each_cell_v1(bytes: &[u8], mut each: impl FnMut(usize, Aggregate)) -> Result<(), BadCells> {
    let mut at = 0;
    let word = |at: usize| -> Result<[u8; 8], BadCells> {
        bytes.get(at..at + 8).and_then(|slice| slice.try_into().ok()).ok_or(BadCells(at))
    };
    while at < bytes.len() {
        let tag = bytes[at];
        let second = usize::from(tag & !SINGLE);
        if second >= SECONDS {
            return Err(BadCells(at));
        }
        let aggregate = if tag & SINGLE != 0 {
            let value = f64::from_le_bytes(word(at + 1)?);
            at += 9;
            Aggregate::of(value)
        } else {
            let count = i64::from_le_bytes(word(at + 1)?);
            let [sum, min, max] = [9, 17, 25].map(|offset| word(at + offset).map(f64::from_le_bytes));
            at += 33;
            Aggregate::unordered(count, sum?, min?, max?)
        };
        each(second, aggregate);
    }
    Ok(())
}

/// The seconds whose bits are set in `mask`, in order.
fn seconds_of(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let second = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            second
        })
    })
}

/// Converts the per-second rows of a store written with version 1 cells (migration 2 of
/// `schema::MIGRATIONS`).
pub fn migrate_cells(connection: &Connection) -> rusqlite::Result<()> {
    // Merging with nothing decodes either version and encodes the current one.
    connection
        .execute("UPDATE seconds SET cells = merge_seconds(cells, x'') WHERE substr(cells, 1, 1) != x'F2'", [])
        .map(drop)
}

/// Registers `merge_seconds(old, new)` on `connection`: the cells of both, merged.
pub fn register_merge(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        "merge_seconds",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| {
            let decode = |index: usize| {
                let bytes = context
                    .get_raw(index)
                    .as_blob()
                    .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))?;
                MinuteCells::decode(bytes).map_err(|error| rusqlite::Error::UserFunctionError(error.into()))
            };
            let mut merged = decode(0)?;
            merged.merge(&decode(1)?);
            Ok(merged.encode())
        },
    )
}

/// The per-second points of `metric` in `[from, to]`, merged into buckets of `step_ms` (a
/// whole number of seconds) aligned to it, oldest first.
pub fn read(
    connection: &Connection,
    metric: i64,
    from: Millis,
    to: Millis,
    step_ms: Millis,
) -> rusqlite::Result<Vec<(Millis, Aggregate)>> {
    let mut statement = connection.prepare_cached(
        "SELECT minute, cells FROM seconds WHERE metric = ?1 AND minute >= ?2 AND minute <= ?3 ORDER BY minute",
    )?;
    let mut rows = statement.query(params![metric, Tier::Minute.bucket_start(from), to])?;
    let mut buckets = Vec::new();
    // The bucket being filled, in locals rather than in the vector: merging into memory was
    // most of a read's time (`benches/history.rs`). Points come in time order, so a division
    // per bucket finds where it ends, not one per point.
    let (mut filling, mut filling_end): (Option<(Millis, Aggregate)>, Millis) = (None, Millis::MIN);
    while let Some(row) = rows.next()? {
        let minute: Millis = row.get(0)?;
        for_each_cell(row.get_ref(1)?.as_blob()?, |second, aggregate| {
            let ts = minute + second as Millis * 1000;
            if ts < from || ts > to {
                return;
            }
            match &mut filling {
                Some((_, merged)) if ts < filling_end => merged.merge(aggregate),
                _ => {
                    let bucket = crate::model::time::bucket_start(ts, step_ms);
                    filling_end = bucket + step_ms;
                    buckets.extend(filling.replace((bucket, aggregate)));
                }
            }
        })
        .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))?;
    }
    buckets.extend(filling);
    Ok(buckets)
}

/// When `metric`'s last point before `ts` is (its second).
pub fn last_before(connection: &Connection, metric: i64, ts: Millis) -> rusqlite::Result<Option<Millis>> {
    // The minute of `ts` may hold it; else the row before does.
    let mut statement = connection.prepare_cached(
        "SELECT minute, cells FROM seconds WHERE metric = ?1 AND minute < ?2 ORDER BY minute DESC LIMIT 2",
    )?;
    let mut rows = statement.query(params![metric, ts])?;
    while let Some(row) = rows.next()? {
        let minute: Millis = row.get(0)?;
        let mut last = None;
        for_each_cell(row.get_ref(1)?.as_blob()?, |second, _| {
            let at = minute + second as Millis * 1000;
            if at < ts {
                last = Some(at);
            }
        })
        .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))?;
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

/// Moves a store from the former layout, a row per second in `points_1s`, into minute rows
/// (migration 1 of `schema::MIGRATIONS`).
pub fn migrate_rows_per_second(connection: &Connection) -> rusqlite::Result<()> {
    if !super::schema::has_table(connection, "points_1s")? {
        return Ok(());
    }
    {
        let mut select =
            connection.prepare("SELECT metric, ts, count, sum, min, max FROM points_1s ORDER BY metric, ts")?;
        let mut upsert = connection.prepare(UPSERT)?;
        let mut rows = select.query([])?;
        let mut open: Option<(i64, Millis, MinuteCells)> = None;
        let mut flush = |open: Option<(i64, Millis, MinuteCells)>| match open {
            Some((metric, minute, cells)) => upsert.execute(params![metric, minute, cells.encode()]).map(drop),
            None => Ok(()),
        };
        while let Some(row) = rows.next()? {
            let (metric, ts): (i64, Millis) = (row.get(0)?, row.get(1)?);
            let aggregate = Aggregate::unordered(row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?);
            let (minute, second) = MinuteCells::locate(ts);
            if !matches!(&open, Some((m, start, _)) if *m == metric && *start == minute) {
                flush(open.take())?;
                open = Some((metric, minute, MinuteCells::default()));
            }
            if let Some((_, _, cells)) = &mut open {
                cells.add(second, aggregate);
            }
        }
        flush(open)?;
    }
    connection.execute_batch("DROP TABLE points_1s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn version_1(cells: &MinuteCells) -> Vec<u8> {
        cells.encode_version_1()
    }

    #[test]
    fn a_minute_of_two_decimal_values_takes_under_two_bytes_a_point() {
        let mut revenue = MinuteCells::default();
        for second in 0..SECONDS {
            let value = ((1_000.0 + (second as f64 * 0.9).sin() * 37.0) * 100.0).round() / 100.0;
            revenue.add(second, Aggregate::of(value));
        }
        let bytes = revenue.encode();
        assert!(bytes.len() < 2 * SECONDS, "{} bytes", bytes.len());
        assert_eq!(MinuteCells::decode(&bytes).unwrap(), revenue);
        // Sparse and merged seconds too.
        let mut sparse = MinuteCells::default();
        sparse.add(0, Aggregate::of(1.5));
        sparse.add(59, Aggregate::of(-2.0));
        assert!(sparse.encode().len() <= 10, "{} bytes (18 before)", sparse.encode().len());
        sparse.add(59, Aggregate::of(4.0));
        let decoded = MinuteCells::decode(&sparse.encode()).unwrap();
        assert_eq!(decoded.iter().nth(1), Some((59, Aggregate::unordered(2, 2.0, -2.0, 4.0))));
        assert_eq!(MinuteCells::locate(1_700_000_061_500), (1_700_000_040_000, 21));
    }

    /// The simulator's metrics (BENCHMARKS.md "Disk"): an hour of them, a point a second, in
    /// minute rows: bytes a point of the cells, each metric's and in all.
    #[test]
    fn an_hour_of_the_simulators_metrics_takes_under_two_bytes_a_point() {
        let mut simulator = crate::server::sources::simulator::Simulator::new(7);
        let mut minutes: std::collections::BTreeMap<(String, Millis), MinuteCells> = Default::default();
        let start = 1_700_000_040_000;
        for second in 0..3600 {
            let ts = start + second * 1000;
            for (name, value) in simulator.next(ts) {
                let (minute, at) = MinuteCells::locate(ts);
                minutes.entry((name, minute)).or_default().add(at, Aggregate::of(value));
            }
        }
        let mut per_metric: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for ((name, _), cells) in &minutes {
            let entry = per_metric.entry(name.clone()).or_default();
            entry.0 += cells.encode().len();
            entry.1 += cells.iter().count();
        }
        let (bytes, points) = per_metric.values().fold((0, 0), |(b, p), (bytes, points)| (b + bytes, p + points));
        let report: Vec<String> =
            per_metric.iter().map(|(name, (b, p))| format!("{name} {:.2}", *b as f64 / *p as f64)).collect();
        println!("simulator: {:.2} bytes a point ({})", bytes as f64 / points as f64, report.join(", "));
        assert!((bytes as f64) < 2.0 * points as f64, "{report:?}");
    }

    #[test]
    fn version_1_rows_read_and_are_converted_once() {
        let mut cells = MinuteCells::default();
        cells.add(3, Aggregate::of(1.25));
        cells.add(4, Aggregate::unordered(3, 6.0, 1.0, 3.0));
        assert_eq!(MinuteCells::decode(&version_1(&cells)).unwrap(), cells);
        let connection = Connection::open_in_memory().unwrap();
        register_merge(&connection).unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        connection
            .execute("INSERT INTO seconds (metric, minute, cells) VALUES (1, 0, ?1)", [version_1(&cells)])
            .unwrap();
        migrate_cells(&connection).unwrap();
        let stored: Vec<u8> = connection.query_row("SELECT cells FROM seconds", [], |row| row.get(0)).unwrap();
        assert_eq!(stored[0], VERSION_2);
        assert_eq!(MinuteCells::decode(&stored).unwrap(), cells);
        migrate_cells(&connection).unwrap();
        let again: Vec<u8> = connection.query_row("SELECT cells FROM seconds", [], |row| row.get(0)).unwrap();
        assert_eq!(again, stored, "converted once: version 2 rows are left as they are");
    }

    #[test]
    fn damaged_cells_are_refused() {
        assert_eq!(MinuteCells::decode(&[60 | SINGLE, 0, 0, 0, 0, 0, 0, 0, 0]), Err(BadCells(0)));
        assert_eq!(MinuteCells::decode(&[3 | SINGLE, 0, 0]), Err(BadCells(1)));
        assert_eq!(MinuteCells::decode(&[]), Ok(MinuteCells::default()));
        assert!(MinuteCells::decode(&[VERSION_2, LISTED, 1, 61, 1]).is_err(), "a second past 59");
        assert!(MinuteCells::decode(&[VERSION_2, ALL_PRESENT | ALL_SINGLE, 1]).is_err(), "cut short");
    }

    #[test]
    fn sqlite_merges_rows_with_the_registered_function() {
        let connection = Connection::open_in_memory().unwrap();
        register_merge(&connection).unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        let write = |second: usize, value: f64| {
            let mut cells = MinuteCells::default();
            cells.add(second, Aggregate::of(value));
            connection.execute(UPSERT, params![7, 60_000, cells.encode()]).unwrap();
        };
        write(1, 10.0);
        write(1, 20.0);
        write(30, 5.0);
        let buckets = read(&connection, 7, 60_000, 120_000, 1000).unwrap();
        assert_eq!(
            buckets.iter().map(|(ts, b)| (*ts, b.count, b.sum)).collect::<Vec<_>>(),
            vec![(61_000, 2, 30.0), (90_000, 1, 5.0)]
        );
        let minute = read(&connection, 7, 0, 120_000, 30_000).unwrap();
        assert_eq!(minute.iter().map(|(ts, b)| (*ts, b.count)).collect::<Vec<_>>(), vec![(60_000, 2), (90_000, 1)]);
    }

    fn aggregate() -> impl Strategy<Value = Aggregate> {
        prop_oneof![
            (-1e12..1e12f64).prop_map(Aggregate::of),
            (2..1000i64, -1e12..1e12f64, -1e12..1e12f64, -1e12..1e12f64)
                .prop_map(|(count, sum, min, max)| { Aggregate::unordered(count, sum, min, max) }),
        ]
    }

    proptest! {
        #[test]
        fn cells_decode_to_what_was_encoded(cells in proptest::collection::vec(proptest::option::of(aggregate()), SECONDS)) {
            let mut minute = MinuteCells::default();
            for (second, cell) in cells.into_iter().enumerate() {
                if let Some(cell) = cell {
                    minute.add(second, cell);
                }
            }
            let bytes = minute.encode();
            prop_assert_eq!(MinuteCells::decode(&bytes).unwrap(), minute);
            // A row cut anywhere is refused, never half read.
            for cut in 0..bytes.len() {
                prop_assert!(MinuteCells::decode(&bytes[..cut]).is_err() || cut == 0, "cut at {}", cut);
            }
        }

        #[test]
        fn any_bytes_are_refused_or_read_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = vec![VERSION_2];
            bytes.extend(tail);
            let _ = MinuteCells::decode(&bytes);
            let _ = MinuteCells::decode(&bytes[1..]);
        }
    }
}
