//! Reading history back: buckets of count/sum/min/max/avg aligned to a requested step, answered
//! from the coarsest tier that tiles the step. Runs on reader connections of its own (WAL lets
//! them read while the writer writes), kept in a small pool.

use super::{
    connect, seconds,
    tier::{Aggregate, Tier},
    StoreError, SyncMode,
};
use crate::protocol::{Bucket, Millis};
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
        let connection = match self.idle.lock().expect("reader pool poisoned").pop() {
            Some(connection) => connection,
            None => connect(&self.path, self.sync, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
        };
        let answer = read(&connection, query);
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
    if tier == Tier::Second {
        return Ok(Some(seconds::read(connection, metric, from, query.to, step)?));
    }
    let sql = format!(
        "SELECT ts - (ts % ?1) AS bucket, sum(count), sum(sum), min(min), max(max)
         FROM {} WHERE metric = ?2 AND ts >= ?3 AND ts <= ?4
         GROUP BY bucket ORDER BY bucket",
        tier.table()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params![step, metric, from, query.to], |row| {
        let aggregate = Aggregate { count: row.get(1)?, sum: row.get(2)?, min: row.get(3)?, max: row.get(4)? };
        Ok(aggregate.to_bucket(row.get(0)?))
    })?;
    Ok(Some(rows.collect::<Result<_, _>>()?))
}
