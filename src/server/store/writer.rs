//! The writer thread: the only code that writes to the store. It commits every queued append
//! in one transaction (group commit), merging the batch's points in memory first so the
//! per-second tier gets one upsert per (metric, minute) and each rollup tier one per (metric,
//! bucket), however many points fell in them, and enforces retention between commits.

use super::{
    seconds::{self, MinuteCells},
    tier::{Aggregate, Retention, Tier},
    Entry, Message, RecoveredDashboard, StoreError, StoreOptions,
};
use crate::model::latest::Latest;
use crate::protocol::Millis;
use rusqlite::{params, Connection};
// The writer hashes every point several times; SipHash's DoS resistance buys nothing here
// (keys are ids and timestamps) and cost 3% of its time.
use rustc_hash::FxHashMap as HashMap;
use std::{
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

pub struct Job {
    pub entries: Vec<Entry>,
    pub on_commit: Box<dyn FnOnce() + Send>,
    pub ack: oneshot::Sender<Result<(), StoreError>>,
}

/// Appends committed together at most (bounds one transaction's size and latency).
const MAX_JOBS_PER_COMMIT: usize = 512;

/// A dashboard's row as the writer last wrote it.
struct DashboardRow {
    epoch: Arc<str>,
    seq: u64,
    /// The newest update time written (a late update does not move it back).
    ts: Millis,
    latest: Latest,
}

pub struct WriterState {
    connection: Connection,
    retention: Retention,
    replay_capacity: usize,
    maintenance_interval: Duration,
    dashboards: HashMap<String, DashboardRow>,
    /// Metric ids by dashboard, then name.
    metric_ids: HashMap<String, HashMap<String, i64>>,
    /// Set after a commit failed: the hub's seqs ran ahead of the store, so nothing more is
    /// accepted until a restart (which resumes from what was committed).
    failed: Option<StoreError>,
}

impl WriterState {
    pub fn load(
        connection: Connection,
        options: &StoreOptions,
        recovered: &[RecoveredDashboard],
    ) -> Result<Self, StoreError> {
        let dashboards = recovered
            .iter()
            .map(|d| {
                let row = DashboardRow {
                    epoch: d.epoch.as_str().into(),
                    seq: d.seq,
                    ts: d.ts,
                    latest: Latest::as_of(d.latest.clone(), d.ts),
                };
                (d.id.clone(), row)
            })
            .collect();
        let mut metric_ids: HashMap<String, HashMap<String, i64>> = HashMap::default();
        {
            let mut statement = connection.prepare("SELECT id, dashboard, name FROM metrics")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            for row in rows {
                let (id, dashboard, name): (i64, String, String) = row?;
                metric_ids.entry(dashboard).or_default().insert(name, id);
            }
        }
        Ok(WriterState {
            connection,
            retention: options.retention.clone(),
            replay_capacity: options.replay_capacity,
            maintenance_interval: options.maintenance_interval,
            dashboards,
            metric_ids,
            failed: None,
        })
    }
}

pub fn run(mut state: WriterState, receiver: mpsc::Receiver<Message>) {
    let mut next_maintenance = Instant::now() + state.maintenance_interval;
    loop {
        // Checked on every turn, not only when idle: a writer that never idles still trims.
        if Instant::now() >= next_maintenance {
            if let Err(error) = state.enforce_retention(crate::server::now_millis()) {
                tracing::error!(%error, "retention failed");
            }
            next_maintenance = Instant::now() + state.maintenance_interval;
        }
        let wait = next_maintenance.saturating_duration_since(Instant::now());
        let first = match receiver.recv_timeout(wait) {
            Ok(Message::Append(job)) => job,
            Ok(Message::Close) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
        };
        let mut jobs = vec![first];
        let mut closing = false;
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(Message::Append(job)) => jobs.push(job),
                Ok(Message::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let result = match &state.failed {
            Some(error) => Err(error.clone()),
            None => state.commit(&jobs),
        };
        if let Err(error) = &result {
            if state.failed.is_none() {
                tracing::error!(%error, "commit failed; refusing further writes until restarted");
                state.failed = Some(error.clone());
            }
        }
        for job in jobs {
            if result.is_ok() {
                (job.on_commit)();
            }
            let _ = job.ack.send(result.clone());
        }
        if closing {
            break;
        }
    }
    if let Err(error) = state.connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "final checkpoint failed");
    }
}

impl WriterState {
    /// Writes every job's updates, dashboard rows and merged points in one transaction.
    fn commit(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        let mut minutes: HashMap<(i64, Millis), MinuteCells> = HashMap::default();
        let mut buckets: HashMap<(Tier, i64, Millis), Aggregate> = HashMap::default();
        let mut touched: Vec<String> = Vec::new();
        {
            let mut insert_update = transaction
                .prepare_cached("INSERT INTO updates (dashboard, seq, json) VALUES (?1, ?2, ?3)")?;
            for entry in jobs.iter().flat_map(|job| &job.entries) {
                let update = entry.frame.update.as_deref().expect("stored frames are updates");
                insert_update.execute(params![update.dashboard, update.seq as i64, entry.frame.json.as_str()])?;
                let row = self.dashboards.entry(update.dashboard.clone()).or_insert_with(|| DashboardRow {
                    epoch: entry.epoch.clone(),
                    seq: 0,
                    ts: 0,
                    latest: Latest::default(),
                });
                if !touched.contains(&update.dashboard) {
                    touched.push(update.dashboard.clone());
                }
                row.epoch = entry.epoch.clone();
                row.seq = update.seq;
                row.ts = row.ts.max(update.ts);
                row.latest.apply(update.ts, &update.metrics);
                let (minute, second) = MinuteCells::locate(update.ts);
                for (name, &value) in &update.metrics {
                    let metric = metric_id(&transaction, &mut self.metric_ids, &update.dashboard, name)?;
                    minutes.entry((metric, minute)).or_default().add(second, Aggregate::of(value));
                    for tier in Tier::ROLLUPS {
                        buckets
                            .entry((tier, metric, tier.bucket_start(update.ts)))
                            .and_modify(|aggregate| aggregate.merge(Aggregate::of(value)))
                            .or_insert(Aggregate::of(value));
                    }
                }
            }
            let mut upsert_minute = transaction.prepare_cached(seconds::UPSERT)?;
            for ((metric, minute), cells) in &minutes {
                upsert_minute.execute(params![metric, minute, cells.encode()])?;
            }
            let mut upserts: HashMap<Tier, rusqlite::CachedStatement<'_>> = HashMap::default();
            for tier in Tier::ROLLUPS {
                let sql = format!(
                    "INSERT INTO {} (metric, ts, count, sum, min, max) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (metric, ts) DO UPDATE SET count = count + excluded.count,
                       sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max)",
                    tier.table()
                );
                upserts.insert(tier, transaction.prepare_cached(&sql)?);
            }
            for ((tier, metric, ts), a) in &buckets {
                let upsert = upserts.get_mut(tier).expect("a statement per tier");
                upsert.execute(params![metric, ts, a.count, a.sum, a.min, a.max])?;
            }
            let mut write_row = transaction.prepare_cached(
                "INSERT INTO dashboards (id, epoch, seq, ts, latest) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq,
                   ts = excluded.ts, latest = excluded.latest",
            )?;
            for id in &touched {
                let row = &self.dashboards[id];
                let latest = serde_json::to_string(row.latest.values()).expect("numbers serialize");
                write_row.execute(params![id, &*row.epoch, row.seq as i64, row.ts, latest])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Deletes points older than each tier's retention and updates beyond the replay capacity.
    pub fn enforce_retention(&mut self, now: Millis) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        {
            let ids: Vec<i64> = self.metric_ids.values().flat_map(|names| names.values().copied()).collect();
            for tier in Tier::ALL {
                let oldest = now - self.retention.of(tier).as_millis() as Millis;
                // Per-second points go a minute row at a time, once all of its minute is old.
                let (sql, before) = match tier {
                    Tier::Second => ("DELETE FROM seconds WHERE metric = ?1 AND minute < ?2".to_owned(), oldest - 60_000 + 1),
                    _ => (format!("DELETE FROM {} WHERE metric = ?1 AND ts < ?2", tier.table()), oldest),
                };
                let mut delete = transaction.prepare_cached(&sql)?;
                for id in &ids {
                    delete.execute(params![id, before])?;
                }
            }
            let mut trim = transaction.prepare_cached("DELETE FROM updates WHERE dashboard = ?1 AND seq <= ?2")?;
            for (id, row) in &self.dashboards {
                let keep_after = row.seq.saturating_sub(self.replay_capacity as u64);
                trim.execute(params![id, keep_after as i64])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}

/// The id of `dashboard`'s metric `name`, created on first use.
fn metric_id(
    transaction: &rusqlite::Transaction<'_>,
    ids: &mut HashMap<String, HashMap<String, i64>>,
    dashboard: &str,
    name: &str,
) -> Result<i64, StoreError> {
    if let Some(&id) = ids.get(dashboard).and_then(|names| names.get(name)) {
        return Ok(id);
    }
    transaction
        .prepare_cached("INSERT INTO metrics (dashboard, name) VALUES (?1, ?2)")?
        .execute(params![dashboard, name])?;
    let id = transaction.last_insert_rowid();
    ids.entry(dashboard.to_owned()).or_default().insert(name.to_owned(), id);
    Ok(id)
}
