//! Reading history back: buckets of count/sum/min/max/avg (and a counter's rate) aligned to a
//! requested step, answered from the coarsest tier that tiles the step; and the alert changes
//! recorded with updates. Runs on reader connections of its own (WAL lets
//! them read while the writer writes), kept in a small pool.

use super::{
    connect, seconds,
    tier::{to_buckets, Aggregate, Tier},
    StoreError, SyncMode,
};
use crate::model::{alerts::RecordedChange, counter::Run};
use crate::protocol::{AlertChange, Bucket, Millis};
use rusqlite::{params, Connection, OpenFlags};
use std::{path::PathBuf, sync::Mutex};

#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub dashboard: String,
    pub metric: String,
    pub from: Millis,
    pub to: Millis,
    pub step_ms: Millis,
    /// The tier that answers `step_ms` (`Tier::for_step`).
    pub tier: Tier,
    /// Whether the series is a counter: its buckets then carry their rates.
    pub counter: bool,
}

/// Reader connections, opened on demand and reused.
pub struct Readers {
    path: PathBuf,
    sync: SyncMode,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf, sync: SyncMode) -> Self {
        Readers { path, sync, idle: Mutex::new(Vec::new()) }
    }

    /// The buckets of `query` with data, oldest first; `None` if the metric was never stored.
    /// Blocking: call from a blocking thread.
    pub fn history(&self, query: &HistoryQuery) -> Result<Option<Vec<Bucket>>, StoreError> {
        self.with_connection(|connection| read(connection, query))
    }

    /// `dashboard`'s alert changes from `from` to `to` (ms, inclusive), oldest first, at most
    /// `limit`. Blocking.
    pub fn alert_history(
        &self,
        dashboard: &str,
        from: Millis,
        to: Millis,
        limit: usize,
    ) -> Result<Vec<RecordedChange>, StoreError> {
        self.with_connection(|connection| {
            let mut select = connection.prepare_cached(
                "SELECT ts, json FROM alert_events WHERE dashboard = ?1 AND ts >= ?2 AND ts <= ?3 ORDER BY id LIMIT ?4",
            )?;
            let rows = select.query_map(params![dashboard, from, to, limit as i64], |row| {
                Ok((row.get::<_, Millis>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut changes = Vec::new();
            for row in rows {
                let (ts, json) = row?;
                // Written by this program from the same type: a row that does not read is skipped.
                if let Ok(change) = serde_json::from_str(&json) {
                    changes.push(RecordedChange { ts, change });
                }
            }
            Ok(changes)
        })
    }

    /// Each rule's last alert change on `dashboard` in `epoch` before seq `before`: where the
    /// rules stood before the retained log. Blocking.
    pub fn last_alert_changes(
        &self,
        dashboard: &str,
        epoch: &str,
        before: u64,
    ) -> Result<Vec<AlertChange>, StoreError> {
        self.with_connection(|connection| {
            let mut select = connection.prepare_cached(
                "SELECT json FROM alert_events WHERE id IN
                   (SELECT MAX(id) FROM alert_events WHERE dashboard = ?1 AND epoch = ?2 AND seq < ?3 GROUP BY rule)",
            )?;
            let rows = select.query_map(params![dashboard, epoch, before as i64], |row| row.get::<_, String>(0))?;
            let mut changes = Vec::new();
            for json in rows {
                if let Ok(change) = serde_json::from_str(&json?) {
                    changes.push(change);
                }
            }
            Ok(changes)
        })
    }

    fn with_connection<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let connection = match self.idle.lock().expect("reader pool poisoned").pop() {
            Some(connection) => connection,
            None => connect(&self.path, self.sync, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
        };
        let answer = read(&connection);
        self.idle.lock().expect("reader pool poisoned").push(connection);
        answer
    }
}

fn read(connection: &Connection, query: &HistoryQuery) -> Result<Option<Vec<Bucket>>, StoreError> {
    let tier = query.tier;
    let metric: Option<i64> = connection
        .prepare_cached("SELECT id FROM metrics WHERE dashboard = ?1 AND name = ?2")?
        .query_row(params![query.dashboard, query.metric], |row| row.get(0))
        .map(Some)
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            error => Err(error),
        })?;
    let Some(metric) = metric else { return Ok(None) };
    let step = query.step_ms;
    let from = crate::model::time::bucket_start(query.from, step);
    // A counter's first bucket rates from the last point before it: its bucket is read too.
    let before = if query.counter { last_before(connection, tier, metric, from)? } else { None };
    let read_from = before.map_or(from, |ts| crate::model::time::bucket_start(ts, step));
    let aggregates = if tier == Tier::Second {
        seconds::read(connection, metric, read_from, query.to, step)?
    } else {
        read_rollup(connection, tier, metric, read_from, query.to, step)?
    };
    Ok(Some(to_buckets(&aggregates, from, step, query.counter)))
}

/// When `metric`'s last point in `tier` before `ts` is (its bucket's start in a rollup tier).
fn last_before(connection: &Connection, tier: Tier, metric: i64, ts: Millis) -> rusqlite::Result<Option<Millis>> {
    if tier == Tier::Second {
        return seconds::last_before(connection, metric, ts);
    }
    let sql = format!("SELECT max(ts) FROM {} WHERE metric = ?1 AND ts < ?2", tier.table());
    connection.prepare_cached(&sql)?.query_row(params![metric, ts], |row| row.get(0))
}

/// `metric`'s rows of the rollup `tier` from `from` to `to`, merged in time order into buckets
/// of `step_ms` (a multiple of the tier's step).
fn read_rollup(
    connection: &Connection,
    tier: Tier,
    metric: i64,
    from: Millis,
    to: Millis,
    step_ms: Millis,
) -> rusqlite::Result<Vec<(Millis, Aggregate)>> {
    let sql = format!(
        "SELECT ts, count, sum, min, max, first, last, increase FROM {}
         WHERE metric = ?1 AND ts >= ?2 AND ts <= ?3 ORDER BY ts",
        tier.table()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = statement.query(params![metric, from, to])?;
    let mut buckets: Vec<(Millis, Aggregate)> = Vec::new();
    while let Some(row) = rows.next()? {
        let ts: Millis = row.get(0)?;
        let mut aggregate = Aggregate::unordered(row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
        // Rows written before runs were kept have none: taken unordered.
        if let (Some(first), Some(last), Some(increase)) = (row.get(5)?, row.get(6)?, row.get(7)?) {
            aggregate.run = Run { first, last, increase };
        }
        let bucket = crate::model::time::bucket_start(ts, step_ms);
        match buckets.last_mut() {
            Some((last, merged)) if *last == bucket => merged.merge(aggregate),
            _ => buckets.push((bucket, aggregate)),
        }
    }
    Ok(buckets)
}
