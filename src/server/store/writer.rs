//! The writer thread: the only code that writes to the store. It commits every queued append
//! in one transaction (group commit): the updates to the replay log and the dashboards' rows at
//! once, their points to the history tiers behind (`Behind`): held in memory and merged a
//! dashboard at a time once they are `MERGE_EVERY` old (a dashboard's at once when a reader of
//! its history asks, `Message::Merge`), in chunks between commits so a merge never holds them up for long. The
//! per-second tier then gets one upsert per (metric, minute) and each rollup tier one per
//! (metric, bucket) however many commits fed them; a series scraped every second cost four
//! upserts a point before. Until merged, the replay log keeps the updates and the dashboard's
//! row its last merged time and latest values (`dashboards.merged`): reopening after a crash
//! merges them again and brings the row up to date, so a committed point is never lost.
//! Retention runs between commits.
//!
//! A commit that fails (a full disk) changes nothing here or in the hubs: the dashboard rows
//! and metric ids it would have added are kept aside until it succeeds, and its appends' seqs
//! are handed back (`on_fail`). Appends queued behind it on those seqs are refused without an
//! attempt (`OutOfOrder`). While failing, the writer tries again with backoff (appends that
//! come in between are refused), probing by itself when nothing comes, and reports its state
//! through `Health`: one log line when it starts failing, one with a count when it recovers.

use super::{
    seconds::{self, MinuteCells},
    tier::{Aggregate, Retention, Tier},
    Appended, Callback, Entry, Health, Message, RecoveredDashboard, StoreError, StoreOptions,
};
use crate::model::latest::Latest;
use crate::protocol::{Millis, SeriesKind};
use crate::server::clock::Clock;
use rusqlite::{params, Connection};
// The writer hashes every point several times; SipHash's DoS resistance buys nothing here
// (keys are ids and timestamps) and cost 3% of its time.
use rustc_hash::FxHashMap as HashMap;
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime},
};
use tokio::sync::oneshot;

pub struct Job {
    pub entries: Vec<Entry>,
    /// Updates whose seqs were assigned elsewhere (Redis) and that this store follows: taken
    /// whatever seq they carry; a new epoch or a jump restarts the dashboard's replay log.
    pub follows: bool,
    pub on_commit: Callback,
    pub on_fail: Callback,
    pub ack: oneshot::Sender<Appended>,
    /// A followed job's place in `Store::follow`'s bound, held only to be given back (dropped)
    /// when the writer is done with the job.
    pub _place: Option<Place>,
}

/// One place in a bounded queue, given back when dropped.
pub struct Place(Arc<AtomicUsize>);

impl Place {
    /// A place among `taken`, if fewer than `bound` are.
    pub fn take(taken: &Arc<AtomicUsize>, bound: usize) -> Option<Place> {
        let before = taken.fetch_add(1, Ordering::Relaxed);
        // Counted first, so two callers never both take the last place; one refused is
        // dropped here, which gives its count back.
        let place = Place(taken.clone());
        (before < bound).then_some(place)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The first wait before trying again after a failed commit, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// While failing, how often the log hears how many appends were refused so far: the start and
/// the end of an episode are logged once each, and a count in between, never a line per refusal.
const FAILING_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Appends committed together at most (bounds one transaction's size and latency).
const MAX_JOBS_PER_COMMIT: usize = 512;

/// How long committed points wait in memory before they are merged into the tiers; how many
/// may wait at most (16 bytes each, with their metric's share of a map entry); and how many one
/// merge writes at most (it holds the writer: commits wait for it).
const MERGE_EVERY: Duration = Duration::from_secs(5);
const MAX_BEHIND: usize = 500_000;
const MERGE_CHUNK: usize = 50_000;

/// Committed points not yet in the history tiers, by dashboard: a dashboard's are merged
/// together, so its `merged` mark moves with them.
#[derive(Default)]
pub(super) struct Behind {
    dashboards: HashMap<String, Pending>,
    pub(super) count: usize,
}

/// One dashboard's points behind; its row's time and latest values are behind with them.
pub(super) struct Pending {
    /// Each metric's points, in commit order.
    points: HashMap<i64, Vec<(Millis, f64)>>,
    count: usize,
    /// When the oldest was committed.
    since: Instant,
}

impl Pending {
    fn new() -> Self {
        Pending { points: HashMap::default(), count: 0, since: Instant::now() }
    }

    /// Every point as (metric, time, value), each metric's in commit order.
    fn iter(&self) -> impl Iterator<Item = (i64, Millis, f64)> + '_ {
        self.points.iter().flat_map(|(&metric, points)| points.iter().map(move |&(ts, value)| (metric, ts, value)))
    }
}

impl Behind {
    /// An update of `dashboard` at `ts` with `values` (metric id, value), committed.
    fn push(&mut self, dashboard: &str, ts: Millis, values: &[(i64, f64)]) {
        // The dashboard found once an update, not once a point.
        let pending = self.touch(dashboard);
        for &(metric, value) in values {
            pending.points.entry(metric).or_default().push((ts, value));
        }
        pending.count += values.len();
        self.count += values.len();
    }

    /// `dashboard` committed to: its row is behind, points or not.
    fn touch(&mut self, dashboard: &str) -> &mut Pending {
        if !self.dashboards.contains_key(dashboard) {
            self.dashboards.insert(dashboard.to_owned(), Pending::new());
        }
        self.dashboards.get_mut(dashboard).expect("inserted")
    }

    /// When the next merge is due: the oldest dashboard's time, or now past `MAX_BEHIND`.
    fn due(&self) -> Option<Instant> {
        let oldest = self.dashboards.values().map(|pending| pending.since).min()?;
        Some(if self.count >= MAX_BEHIND { oldest } else { oldest + MERGE_EVERY })
    }

    /// The dashboards due, oldest first, until they hold `limit` points (one at least).
    fn take_due(&mut self, limit: usize) -> Vec<(String, Pending)> {
        if self.due().is_none_or(|due| Instant::now() < due) {
            return Vec::new();
        }
        let full = self.count >= MAX_BEHIND;
        let mut due: Vec<(Instant, String)> = self
            .dashboards
            .iter()
            .filter(|(_, pending)| full || pending.since + MERGE_EVERY <= Instant::now())
            .map(|(id, pending)| (pending.since, id.clone()))
            .collect();
        due.sort();
        let (mut taken, mut points) = (Vec::new(), 0);
        for (_, id) in due {
            if points >= limit && !taken.is_empty() {
                break;
            }
            let pending = self.dashboards.remove(&id).expect("listed");
            points += pending.count;
            self.count -= pending.count;
            taken.push((id, pending));
        }
        taken
    }

    /// `dashboard`'s points, if any are behind.
    fn take(&mut self, dashboard: &str) -> Vec<(String, Pending)> {
        let Some(pending) = self.dashboards.remove(dashboard) else { return Vec::new() };
        self.count -= pending.count;
        vec![(dashboard.to_owned(), pending)]
    }

    fn take_all(&mut self) -> Vec<(String, Pending)> {
        self.count = 0;
        self.dashboards.drain().collect()
    }

    /// Puts back what a failed merge took, to be tried again in `MERGE_EVERY`.
    fn put_back(&mut self, taken: Vec<(String, Pending)>) {
        for (id, mut pending) in taken {
            self.count += pending.count;
            pending.since = Instant::now();
            self.dashboards.insert(id, pending);
        }
    }

    /// Every point behind, as `Pending::iter` gives them.
    fn iter(&self) -> impl Iterator<Item = (i64, Millis, f64)> + '_ {
        self.dashboards.values().flat_map(Pending::iter)
    }
}

/// An update's values by metric id: (metric, value).
type Values = Vec<(i64, f64)>;

/// A dashboard's row as the writer last wrote it.
#[derive(Clone)]
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
    /// What time it is, for retention's cut-offs.
    clock: Clock,
    dashboards: HashMap<String, DashboardRow>,
    /// Metric ids by dashboard, then name.
    metric_ids: HashMap<String, HashMap<String, i64>>,
    /// The kind each metric's producer last stated, by metric id (`metrics.kind`).
    stated_kinds: HashMap<i64, SeriesKind>,
    /// Points committed, not yet in the tiers.
    behind: Behind,
    health: Arc<Mutex<Health>>,
    /// While failing: when to try again, and the wait after that.
    retry: Option<(Instant, Duration)>,
    /// While failing: when the log last heard of it.
    reported: Instant,
}

impl WriterState {
    pub fn load(
        connection: Connection,
        options: &StoreOptions,
        recovered: &[RecoveredDashboard],
        health: Arc<Mutex<Health>>,
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
        let mut stated_kinds = HashMap::default();
        {
            let mut statement = connection.prepare("SELECT id, dashboard, name, kind FROM metrics")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
            for row in rows {
                let (id, dashboard, name, kind): (i64, String, String, Option<String>) = row?;
                metric_ids.entry(dashboard).or_default().insert(name, id);
                if let Some(kind) = kind.as_deref().and_then(SeriesKind::from_name) {
                    stated_kinds.insert(id, kind);
                }
            }
        }
        let behind = unmerged(&connection)?;
        Ok(WriterState {
            behind,
            connection,
            retention: options.retention.clone(),
            replay_capacity: options.replay_capacity,
            maintenance_interval: options.maintenance_interval,
            clock: options.clock.clone(),
            dashboards,
            metric_ids,
            stated_kinds,
            health,
            retry: None,
            reported: Instant::now(),
        })
    }
}

/// The points of every update the replay log holds past its dashboard's `merged` seq: committed,
/// not yet in the tiers when the process stopped.
pub(super) fn unmerged(connection: &Connection) -> Result<Behind, StoreError> {
    let mut behind = Behind::default();
    let mut select = connection.prepare(
        "SELECT u.dashboard, u.seq, u.body FROM updates u JOIN dashboards d ON u.dashboard = d.id
         WHERE u.seq > d.merged ORDER BY u.dashboard, u.seq",
    )?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let (dashboard, seq, body): (String, i64, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let super::replay::Body { ts, values, .. } = super::replay::decode_ids(&body).map_err(|reason| {
            StoreError::Corrupt { dashboard: dashboard.clone(), reason: format!("update {seq}: {reason}") }
        })?;
        behind.push(&dashboard, ts, &values);
    }
    Ok(behind)
}

pub fn run(mut state: WriterState, receiver: mpsc::Receiver<Message>) {
    let mut next_maintenance = Instant::now() + state.maintenance_interval;
    loop {
        // Checked on every turn, not only when idle: a writer that never idles still trims.
        if Instant::now() >= next_maintenance {
            if let Err(error) = state.enforce_retention(state.clock.now_millis()) {
                tracing::error!(%error, "retention failed");
            }
            next_maintenance = Instant::now() + state.maintenance_interval;
        }
        let wake = [state.retry.map(|(at, _)| at), state.behind.due()]
            .into_iter()
            .flatten()
            .fold(next_maintenance, Instant::min);
        let first = match receiver.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(Message::Append(job)) => job,
            Ok(Message::Merge(dashboard, ack)) => {
                state.merge_dashboard(&dashboard);
                let _ = ack.send(());
                continue;
            }
            Ok(Message::Close) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Nothing to write, but failing: find out whether writes work again.
                if state.retry.is_some_and(|(at, _)| Instant::now() >= at) {
                    let probed = state.probe();
                    state.record(probed.map_err(Arc::new), 0);
                }
                state.merge_due();
                continue;
            }
        };
        let mut jobs = vec![first];
        let (mut closing, mut merges) = (false, Vec::new());
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(Message::Append(job)) => jobs.push(job),
                // Answered after this commit: the reader then sees what was appended before it.
                Ok(Message::Merge(dashboard, ack)) => merges.push((dashboard, ack)),
                Ok(Message::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        state.write(jobs);
        if merges.is_empty() {
            // A chunk at a time between commits: a merge never holds them up for long.
            state.merge_due();
        } else {
            for (dashboard, ack) in merges {
                state.merge_dashboard(&dashboard);
                let _ = ack.send(());
            }
        }
        if closing {
            break;
        }
    }
    state.merge_behind();
    if let Err(error) = state.connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "final checkpoint failed");
    }
}

impl WriterState {
    /// Commits the jobs that continue their dashboards' seqs and answers every job.
    fn write(&mut self, jobs: Vec<Job>) {
        let (jobs, out_of_order) = self.in_order(jobs);
        for job in out_of_order {
            fail(job, Arc::new(StoreError::OutOfOrder));
        }
        if jobs.is_empty() {
            return;
        }
        let result = match self.retry {
            Some((at, _)) if Instant::now() < at => Err(Arc::new(StoreError::Failing(self.last_error()))),
            _ => self.commit(&jobs).map_err(Arc::new),
        };
        self.record(result.clone().map(|_| ()), jobs.len() as u64);
        for job in jobs {
            match &result {
                Ok(()) => {
                    (job.on_commit)();
                    let _ = job.ack.send(Ok(()));
                }
                Err(error) => fail(job, error.clone()),
            }
        }
    }

    /// Splits `jobs` into those whose seqs follow what is committed (and the jobs before them
    /// in this batch), and those that follow seqs which failed.
    fn in_order(&self, jobs: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
        // The seq each dashboard's next update must carry, after the jobs taken so far.
        let mut next: HashMap<String, u64> = HashMap::default();
        let (mut fit, mut stale) = (Vec::with_capacity(jobs.len()), Vec::new());
        for job in jobs {
            if job.follows {
                fit.push(job);
                continue;
            }
            // The same, within this job.
            let mut claimed: HashMap<&str, u64> = HashMap::default();
            let continues = job.entries.iter().all(|entry| {
                let update = &entry.update;
                let dashboard = update.dashboard.as_str();
                let want = claimed
                    .get(dashboard)
                    .or_else(|| next.get(dashboard))
                    .copied()
                    .unwrap_or_else(|| self.dashboards.get(dashboard).map_or(0, |row| row.seq) + 1);
                claimed.insert(dashboard, update.seq + 1);
                update.seq == want
            });
            if continues {
                next.extend(claimed.into_iter().map(|(dashboard, seq)| (dashboard.to_owned(), seq)));
                fit.push(job);
            } else {
                stale.push(job);
            }
        }
        (fit, stale)
    }

    /// Takes note of an attempt's outcome: logs the start and the end of a failing episode
    /// once each, and schedules the next attempt with backoff while failing.
    fn record(&mut self, result: Result<(), Arc<StoreError>>, appends: u64) {
        let mut health = self.health.lock().expect("store health lock poisoned");
        match (result, &mut *health) {
            (Ok(()), Health::Ok) => {}
            (Ok(()), Health::Failing { since, refused, .. }) => {
                let failed_for = since.elapsed().unwrap_or_default();
                tracing::info!(refused = *refused, ?failed_for, "history store writes again");
                *health = Health::Ok;
                self.retry = None;
            }
            (Err(error), Health::Ok) => {
                tracing::error!(%error, "history store cannot write; refusing writes and retrying with backoff");
                let (error, kind) = (error.to_string(), error.kind());
                *health = Health::Failing { since: SystemTime::now(), error, kind, refused: appends };
                self.retry = Some((Instant::now() + RETRY_FIRST, RETRY_FIRST));
                self.reported = Instant::now();
            }
            (Err(error), Health::Failing { error: last, kind, refused, .. }) => {
                *refused += appends;
                if self.reported.elapsed() >= FAILING_REPORT_EVERY {
                    tracing::warn!(refused = *refused, "history store still cannot write");
                    self.reported = Instant::now();
                }
                // Refusals while waiting do not move the next attempt; failed attempts do.
                if !matches!(*error, StoreError::Failing(_)) {
                    *last = error.to_string();
                    *kind = error.kind();
                    let wait = self.retry.map_or(RETRY_FIRST, |(_, wait)| (wait * 2).min(RETRY_MAX));
                    self.retry = Some((Instant::now() + wait, wait));
                }
            }
        }
    }

    fn last_error(&self) -> String {
        match &*self.health.lock().expect("store health lock poisoned") {
            Health::Failing { error, .. } => error.clone(),
            Health::Ok => String::new(),
        }
    }

    /// One small write, to learn whether the store takes writes again.
    fn probe(&mut self) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO writer_probe (id, ts) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET ts = excluded.ts",
            params![self.clock.now_millis()],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Writes every job's updates, dashboard rows and merged points in one transaction.
    fn commit(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        // This commit's updates' points (dashboard, time, (metric, value)s), in commit order.
        let mut points: Vec<(&str, Millis, Values)> = Vec::new();
        // A dashboard's replay log starting again drops updates not yet merged: merge them now.
        let mut restarted = false;
        // The rows and ids this commit changes, kept apart until it succeeds.
        let mut rows: HashMap<String, DashboardRow> = HashMap::default();
        let mut new_ids: HashMap<(String, String), i64> = HashMap::default();
        let mut new_kinds: HashMap<i64, SeriesKind> = HashMap::default();
        {
            let mut insert_update =
                transaction.prepare_cached("INSERT INTO updates (dashboard, seq, body) VALUES (?1, ?2, ?3)")?;
            let mut insert_alert = transaction.prepare_cached(
                "INSERT INTO alert_events (dashboard, epoch, seq, ts, rule, state, json, decided_here)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut restart_log = transaction.prepare_cached("DELETE FROM updates WHERE dashboard = ?1")?;
            for entry in jobs.iter().flat_map(|job| &job.entries) {
                let update = &entry.update;
                if !rows.contains_key(&update.dashboard) {
                    let row = self.dashboards.get(&update.dashboard).cloned().unwrap_or_else(|| DashboardRow {
                        epoch: entry.epoch.clone(),
                        seq: 0,
                        ts: 0,
                        latest: Latest::default(),
                    });
                    rows.insert(update.dashboard.clone(), row);
                }
                let row = rows.get_mut(&update.dashboard).expect("inserted above");
                // Only a followed update can do either (appends are checked by `in_order`).
                if row.epoch == entry.epoch && update.seq <= row.seq {
                    continue; // already written
                }
                if row.epoch != entry.epoch || update.seq != row.seq + 1 {
                    // A replay log continues its seqs without a hole, or starts again.
                    restart_log.execute(params![update.dashboard])?;
                    restarted = true;
                }
                let mut values = Vec::with_capacity(update.metrics.len());
                for (name, &value) in &update.metrics {
                    values.push((
                        metric_id(&transaction, &self.metric_ids, &mut new_ids, &update.dashboard, name)?,
                        value,
                    ));
                }
                for (name, &kind) in &update.kinds {
                    let id = metric_id(&transaction, &self.metric_ids, &mut new_ids, &update.dashboard, name)?;
                    let known = new_kinds.get(&id).or(self.stated_kinds.get(&id));
                    if known != Some(&kind) {
                        transaction
                            .prepare_cached("UPDATE metrics SET kind = ?2 WHERE id = ?1")?
                            .execute(params![id, kind.as_str()])?;
                        new_kinds.insert(id, kind);
                    }
                }
                let body = super::replay::encode(update.ts, &values, &update.alerts);
                insert_update.execute(params![update.dashboard, update.seq as i64, body])?;
                for change in &update.alerts {
                    let json = serde_json::to_string(change).expect("alert changes serialize");
                    insert_alert.execute(params![
                        update.dashboard,
                        &*entry.epoch,
                        update.seq as i64,
                        update.ts,
                        change.rule,
                        change.state.as_str(),
                        json,
                        entry.decided_here
                    ])?;
                }
                let row = rows.get_mut(&update.dashboard).expect("inserted above");
                row.epoch = entry.epoch.clone();
                row.seq = update.seq;
                row.ts = row.ts.max(update.ts);
                row.latest.apply(update.ts, &update.metrics);
                points.push((update.dashboard.as_str(), update.ts, values));
            }
            // The position only: its time and latest values are written with the merge (the
            // updates after it bring them back after a crash), not a row of every value a commit.
            let mut write_row = transaction.prepare_cached(
                "INSERT INTO dashboards (id, epoch, seq, ts, latest) VALUES (?1, ?2, ?3, 0, '{}')
                 ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq",
            )?;
            for (id, row) in &rows {
                write_row.execute(params![id, &*row.epoch, row.seq as i64])?;
            }
        }
        // A replay log that started again dropped updates not merged yet: everything behind
        // is merged with this commit (rare: a Redis follower's new epoch or jump).
        if restarted {
            let this_commit = points
                .iter()
                .flat_map(|(_, ts, values)| values.iter().map(move |&(metric, value)| (metric, *ts, value)));
            write_tiers(&transaction, self.behind.iter().chain(this_commit))?;
            let behind = self
                .dashboards
                .iter()
                .filter(|(id, _)| self.behind.dashboards.contains_key(*id) && !rows.contains_key(*id));
            write_latest(&transaction, behind.chain(&rows))?;
            transaction.execute("UPDATE dashboards SET merged = seq", [])?;
        }
        transaction.commit()?;
        if restarted {
            self.behind.take_all();
        } else {
            for dashboard in rows.keys() {
                self.behind.touch(dashboard);
            }
            for (dashboard, ts, values) in points {
                self.behind.push(dashboard, ts, &values);
            }
        }
        self.dashboards.extend(rows);
        for ((dashboard, name), id) in new_ids {
            self.metric_ids.entry(dashboard).or_default().insert(name, id);
        }
        self.stated_kinds.extend(new_kinds);
        Ok(())
    }

    /// Merges every dashboard behind (retention, closing).
    fn merge_behind(&mut self) {
        let taken = self.behind.take_all();
        self.merge(taken);
    }

    /// Merges `dashboard`'s points (a reader of its history asked).
    fn merge_dashboard(&mut self, dashboard: &str) {
        let taken = self.behind.take(dashboard);
        self.merge(taken);
    }

    /// Merges the dashboards due, up to `MERGE_CHUNK` points.
    fn merge_due(&mut self) {
        let taken = self.behind.take_due(MERGE_CHUNK);
        self.merge(taken);
    }

    /// Writes `taken` into the tiers in one transaction (their points, their rows' time and
    /// latest values, their merged marks); on failure they go back behind.
    fn merge(&mut self, taken: Vec<(String, Pending)>) {
        if taken.is_empty() {
            return;
        }
        let (connection, rows, capacity) = (&mut self.connection, &self.dashboards, self.replay_capacity as u64);
        let merged = (|| {
            let transaction = connection.transaction()?;
            write_tiers(&transaction, taken.iter().flat_map(|(_, pending)| pending.iter()))?;
            write_latest(&transaction, taken.iter().filter_map(|(id, _)| rows.get_key_value(id)))?;
            let mut mark = transaction.prepare_cached("UPDATE dashboards SET merged = seq WHERE id = ?1")?;
            // Merged, the updates beyond the replay capacity are not needed again: trimmed now,
            // so the replay log never holds more than the capacity and what waits to merge
            // (the file does not grow by a burst's updates kept until the next retention).
            let mut trim = transaction.prepare_cached("DELETE FROM updates WHERE dashboard = ?1 AND seq <= ?2")?;
            for (id, _) in &taken {
                mark.execute([id])?;
                if let Some(row) = rows.get(id) {
                    trim.execute(params![id, row.seq.saturating_sub(capacity) as i64])?;
                }
            }
            drop((mark, trim));
            transaction.commit()?;
            Ok::<_, StoreError>(())
        })();
        if let Err(error) = merged {
            let points: usize = taken.iter().map(|(_, pending)| pending.count).sum();
            tracing::warn!(%error, points, "history tiers not written yet; trying again");
            self.behind.put_back(taken);
        }
    }

    /// Deletes points older than each tier's retention, updates beyond the replay capacity, and
    /// alert changes and finished deliveries older than the hourly tier's retention.
    pub fn enforce_retention(&mut self, now: Millis) -> Result<(), StoreError> {
        self.merge_behind();
        let transaction = self.connection.transaction()?;
        {
            let ids: Vec<i64> = self.metric_ids.values().flat_map(|names| names.values().copied()).collect();
            for tier in Tier::ALL {
                let oldest = now - self.retention.of(tier).as_millis() as Millis;
                // Per-second points go a minute row at a time, once all of its minute is old.
                let (sql, before) = match tier {
                    Tier::Second => {
                        ("DELETE FROM seconds WHERE metric = ?1 AND minute < ?2".to_owned(), oldest - 60_000 + 1)
                    }
                    _ => (format!("DELETE FROM {} WHERE metric = ?1 AND ts < ?2", tier.table()), oldest),
                };
                let mut delete = transaction.prepare_cached(&sql)?;
                for id in &ids {
                    delete.execute(params![id, before])?;
                }
            }
            // Not while a delivery still needs one.
            let alerts_before = now - self.retention.of(Tier::Hour).as_millis() as Millis;
            transaction.execute(
                "DELETE FROM alert_events WHERE ts < ?1 AND id NOT IN
                   (SELECT event FROM alert_deliveries WHERE status = 'pending')",
                [alerts_before],
            )?;
            transaction
                .execute("DELETE FROM alert_deliveries WHERE status != 'pending' AND updated < ?1", [alerts_before])?;
            // Never an update whose points are not in the tiers yet (the merge above failed).
            let mut trim = transaction.prepare_cached(
                "DELETE FROM updates WHERE dashboard = ?1 AND seq <= ?2
                   AND seq <= (SELECT merged FROM dashboards WHERE id = ?1)",
            )?;
            for (id, row) in &self.dashboards {
                let keep_after = row.seq.saturating_sub(self.replay_capacity as u64);
                trim.execute(params![id, keep_after as i64])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}

/// Writes `points` (metric, time, value; each metric's in commit order) into the history tiers,
/// merged in memory first: one upsert per (metric, minute) and per (tier, metric, bucket).
fn write_tiers(
    transaction: &rusqlite::Transaction<'_>,
    points: impl Iterator<Item = (i64, Millis, f64)>,
) -> Result<(), StoreError> {
    let mut minutes: HashMap<(i64, Millis), MinuteCells> = HashMap::default();
    let mut buckets: HashMap<(Tier, i64, Millis), Aggregate> = HashMap::default();
    for (metric, ts, value) in points {
        let (minute, second) = MinuteCells::locate(ts);
        minutes.entry((metric, minute)).or_default().add(second, Aggregate::of(value));
        for tier in Tier::ROLLUPS {
            buckets
                .entry((tier, metric, tier.bucket_start(ts)))
                .and_modify(|aggregate| aggregate.merge(Aggregate::of(value)))
                .or_insert(Aggregate::of(value));
        }
    }
    let mut upsert_minute = transaction.prepare_cached(seconds::UPSERT)?;
    for ((metric, minute), cells) in &minutes {
        upsert_minute.execute(params![metric, minute, cells.encode()])?;
    }
    let mut upserts: HashMap<Tier, rusqlite::CachedStatement<'_>> = HashMap::default();
    for tier in Tier::ROLLUPS {
        // Merged as `Aggregate::merge` does, this row's points before the new ones (a row
        // from before runs were kept starts its run unordered).
        let sql = format!(
            "INSERT INTO {} (metric, ts, count, sum, min, max, first, last, increase)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (metric, ts) DO UPDATE SET count = count + excluded.count,
               sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max),
               first = coalesce(first, min),
               increase = coalesce(increase, max - min) + excluded.increase
                 + CASE WHEN excluded.first >= coalesce(last, max)
                        THEN excluded.first - coalesce(last, max) ELSE excluded.first END,
               last = excluded.last",
            tier.table()
        );
        upserts.insert(tier, transaction.prepare_cached(&sql)?);
    }
    for ((tier, metric, ts), a) in &buckets {
        let upsert = upserts.get_mut(tier).expect("a statement per tier");
        upsert.execute(params![metric, ts, a.count, a.sum, a.min, a.max, a.run.first, a.run.last, a.run.increase])?;
    }
    Ok(())
}

/// Writes each of `dashboards`' time and latest values into its row.
fn write_latest<'a>(
    transaction: &rusqlite::Transaction<'_>,
    dashboards: impl Iterator<Item = (&'a String, &'a DashboardRow)>,
) -> Result<(), StoreError> {
    let mut write = transaction.prepare_cached("UPDATE dashboards SET ts = ?2, latest = ?3 WHERE id = ?1")?;
    for (id, row) in dashboards {
        let latest = serde_json::to_string(row.latest.values()).expect("numbers serialize");
        write.execute(params![id, row.ts, latest])?;
    }
    Ok(())
}

/// The id of `dashboard`'s metric `name`, created on first use (in `new_ids` until the
/// transaction commits).
fn metric_id(
    transaction: &rusqlite::Transaction<'_>,
    ids: &HashMap<String, HashMap<String, i64>>,
    new_ids: &mut HashMap<(String, String), i64>,
    dashboard: &str,
    name: &str,
) -> Result<i64, StoreError> {
    if let Some(&id) = ids.get(dashboard).and_then(|names| names.get(name)) {
        return Ok(id);
    }
    let key = (dashboard.to_owned(), name.to_owned());
    if let Some(&id) = new_ids.get(&key) {
        return Ok(id);
    }
    transaction
        .prepare_cached("INSERT INTO metrics (dashboard, name) VALUES (?1, ?2)")?
        .execute(params![dashboard, name])?;
    let id = transaction.last_insert_rowid();
    new_ids.insert(key, id);
    Ok(id)
}

/// Answers a job that was not committed: its seqs are handed back first.
fn fail(job: Job, error: Arc<StoreError>) {
    (job.on_fail)();
    let _ = job.ack.send(Err(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_the_oldest_dashboards_merge_a_chunk_at_a_time() {
        let mut behind = Behind::default();
        assert!(behind.due().is_none());
        let each = MAX_BEHIND / 10;
        for dashboard in 0..10 {
            for second in 0..each {
                behind.push(&format!("d{dashboard}"), second as Millis * 1000, &[(1, 1.0)]);
            }
        }
        assert!(behind.due().is_some_and(|due| due <= Instant::now()), "full: due at once");
        let taken = behind.take_due(MERGE_CHUNK.min(each));
        let ids: Vec<&str> = taken.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["d0"], "the oldest, and no more than the chunk");
        assert_eq!(behind.count, MAX_BEHIND - each);
        assert!(behind.take_due(MERGE_CHUNK).is_empty(), "under the bound: due only when old enough");
        behind.put_back(taken);
        assert_eq!((behind.count, behind.take_all().len()), (MAX_BEHIND, 10));
    }
}
