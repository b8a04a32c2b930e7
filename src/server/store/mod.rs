//! The embedded history store: one SQLite file (WAL mode) holding, per dashboard, its epoch,
//! seq and latest values, the recent updates for replay, and every metric's history in four
//! tiers (`tier`; the per-second one a minute per row, `seconds`). One writer thread (`writer`) owns all writes and commits whatever has queued
//! up in one transaction (group commit); readers (`history`) use their own connections.
//!
//! Failure: a commit that fails (a full disk) fails its appends, and the broker takes their
//! seqs back (`on_fail`); the writer then reports itself failing (`Store::health`, logged once
//! with a count), probes with backoff, and takes writes again as soon as one succeeds.
//!
//! Durability: an append resolves only after its transaction committed. In WAL mode with
//! `synchronous=NORMAL` (the default, `--sync normal`) a commit is a `write()` into the WAL
//! file, so it survives the server being killed (`kill -9`, a crash); with `--sync full` each
//! commit also fsyncs the WAL, which survives power loss and OS crashes too.

mod codec;
pub mod history;
mod replay;
mod schema;
pub mod seconds;
pub mod tier;
mod writer;

use crate::protocol::{Kinds, Metrics, Millis, SeriesKind, Update};
use crate::server::clock::Clock;
use rusqlite::{Connection, OpenFlags};
use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, SystemTime},
};
use tier::{Retention, Tier};
use tokio::sync::oneshot;

/// How much of a commit reaches the disk before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Survives the process dying (WAL, `synchronous=NORMAL`).
    Normal,
    /// Survives the machine dying too (WAL, `synchronous=FULL`: an fsync per commit).
    Full,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub path: PathBuf,
    pub sync: SyncMode,
    pub retention: Retention,
    /// Updates kept per dashboard for replay after a restart.
    pub replay_capacity: usize,
    /// How often retention is enforced.
    pub maintenance_interval: Duration,
    /// Tables other stages keep in the store's file, as their owners declare them (the alert
    /// outbox, silences and acks): created with the store's own.
    pub tables: Vec<&'static str>,
    /// What time it is, for retention's cut-offs.
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("history store: cannot create {path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("history store: cannot start the writer: {0}")]
    Thread(std::io::Error),
    /// What the store holds cannot be read back.
    #[error("history store: dashboard '{dashboard}': {reason}")]
    Corrupt { dashboard: String, reason: String },
    /// The writer is failing and waits before trying again; the append was not attempted.
    #[error("history store is failing ({0}); not retried yet")]
    Failing(String),
    /// The append's seqs follow updates that failed; the broker has taken them back.
    #[error("history store: an earlier write failed; this one was not attempted")]
    OutOfOrder,
}

impl StoreError {
    /// What went wrong, in words that say nothing of paths or contents: what a public
    /// answer (`/healthz`) may tell anyone.
    pub fn kind(&self) -> &'static str {
        use rusqlite::ErrorCode;
        let sqlite = match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure.code),
            _ => None,
        };
        match (self, sqlite) {
            (_, Some(ErrorCode::DiskFull)) => "disk full",
            (_, Some(ErrorCode::ReadOnly)) => "read-only",
            (_, Some(ErrorCode::SystemIoFailure)) | (StoreError::Io { .. }, _) => "I/O error",
            (_, Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)) => "busy",
            (_, Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)) | (StoreError::Corrupt { .. }, _) => {
                "corrupt"
            }
            (StoreError::Failing(_), _) => "failing",
            (StoreError::OutOfOrder, _) => "an earlier write failed",
            _ => "database error",
        }
    }
}

/// An append's outcome, shared by every append of one commit.
pub type Appended = Result<(), Arc<StoreError>>;

/// Whether the store takes writes; served by `/healthz` and to the page.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    Ok,
    Failing {
        /// The first failure of this episode.
        since: SystemTime,
        /// What the last attempt said.
        error: String,
        /// The same, as `StoreError::kind` names it (what `/healthz` shows anyone).
        kind: &'static str,
        /// Appends refused since.
        refused: u64,
    },
}

/// Run by the writer thread after an append committed or failed.
pub type Callback = Box<dyn FnOnce() + Send>;

/// One update to persist, with the epoch of its dashboard and its JSON as sent to clients
/// (kept as the replay log; the broker's frame shares these bytes).
pub struct Entry {
    pub epoch: Arc<str>,
    pub update: Arc<Update>,
    /// This instance decided the update's alert changes, so it delivers them. With several
    /// instances (`--redis`) one decides and the others record them for their history.
    pub decided_here: bool,
}

/// A dashboard as it was when the server last stopped.
#[derive(Debug)]
pub struct RecoveredDashboard {
    pub id: String,
    pub epoch: String,
    pub seq: u64,
    pub ts: Millis,
    pub latest: Metrics,
    /// Its metrics in the order they first appeared (an ingested dashboard's display order).
    pub metrics: Vec<String>,
    /// The kinds their producers stated.
    pub kinds: Kinds,
    /// The retained updates, oldest first.
    pub log: Vec<Update>,
}

enum Message {
    Append(writer::Job),
    /// Write a dashboard's points behind into the tiers (after what is queued), then answer.
    Merge(String, oneshot::Sender<()>),
    /// Finish what is queued, then stop.
    Close,
}

/// A handle on the store; cheap to share.
pub struct Store {
    /// `Sender` is `Sync`: appends from many tasks need no lock of their own.
    sender: mpsc::Sender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: history::Readers,
    health: Arc<Mutex<Health>>,
    /// Followed jobs queued or being written (`follow`), at most `MAX_FOLLOWS_QUEUED`.
    following: Arc<std::sync::atomic::AtomicUsize>,
    /// Followed updates left out because the queue was full.
    follows_dropped: std::sync::atomic::AtomicU64,
}

/// Followed updates (`Store::follow`) waiting for the writer at most: a few seconds of a busy
/// deployment's updates.
const MAX_FOLLOWS_QUEUED: usize = 16_384;

/// The store's own tables (the tiers' are `seconds::SCHEMA` and `tier_schema`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dashboards (
    id     TEXT PRIMARY KEY,
    epoch  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,
    latest TEXT NOT NULL,
    -- The seq through which this dashboard's points are in the history tiers; the replay
    -- log keeps the updates after it until they are (the writer's write-behind).
    merged INTEGER NOT NULL DEFAULT 0
);
-- The replay log: each retained update, binary (`replay.rs`).
CREATE TABLE IF NOT EXISTS updates (
    dashboard TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    body      BLOB NOT NULL,
    PRIMARY KEY (dashboard, seq)
) WITHOUT ROWID;
-- Alert changes, written with the update that carries them: the alert history, and what
-- alert delivery reads (`alerts::notify::delivery`), so no committed change can miss it.
CREATE TABLE IF NOT EXISTS alert_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    dashboard TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    rule      TEXT NOT NULL,
    state     TEXT NOT NULL,
    json      TEXT NOT NULL,
    -- 1: this instance decided the change and delivers it (`Entry::decided_here`).
    decided_here INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS alert_events_by_dashboard ON alert_events (dashboard, ts);
CREATE INDEX IF NOT EXISTS alert_events_by_rule ON alert_events (dashboard, rule, id);
-- One row the writer rewrites to learn whether writes work again after a failure.
CREATE TABLE IF NOT EXISTS writer_probe (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    id        INTEGER PRIMARY KEY,
    dashboard TEXT NOT NULL,
    name      TEXT NOT NULL,
    -- The kind its producer stated ('counter', 'gauge'); NULL: what its name says.
    kind      TEXT,
    UNIQUE (dashboard, name)
);
";

fn tier_schema(tier: Tier) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            metric INTEGER NOT NULL,
            ts     INTEGER NOT NULL,
            count  INTEGER NOT NULL,
            sum    REAL NOT NULL,
            min    REAL NOT NULL,
            max    REAL NOT NULL,
            -- The bucket's points as a counter's run (model::counter::Run); NULL in rows
            -- written before runs were kept.
            first    REAL,
            last     REAL,
            increase REAL,
            PRIMARY KEY (metric, ts)
        ) WITHOUT ROWID;",
        tier.table()
    )
}

/// Opens a connection with the settings every connection shares.
fn connect(path: &Path, sync: SyncMode, flags: OpenFlags) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    Ok(connection)
}

impl Store {
    /// Opens (or creates) the store at `options.path` and reads back every dashboard.
    pub fn open(options: StoreOptions) -> Result<(Store, Vec<RecoveredDashboard>), StoreError> {
        if let Some(folder) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::Io { path: folder.to_owned(), source })?;
        }
        let connection = connect(&options.path, options.sync, OpenFlags::default())?;
        // The writer revisits the newest pages of every metric on each commit: keep them in
        // memory (64 MiB; the default 2 MiB made a third of its time page reads).
        connection.pragma_update(None, "cache_size", -65_536)?;
        seconds::register_merge(&connection)?;
        let rollups: Vec<String> = Tier::ROLLUPS.into_iter().map(tier_schema).collect();
        let owned = [SCHEMA, seconds::SCHEMA].into_iter().chain(rollups.iter().map(String::as_str));
        schema::prepare(&connection, owned.chain(options.tables.iter().copied()))?;
        let recovered = recover(&connection, options.replay_capacity)?;
        let (sender, receiver) = mpsc::channel();
        let health = Arc::new(Mutex::new(Health::Ok));
        let state = writer::WriterState::load(connection, &options, &recovered, health.clone())?;
        let writer = std::thread::Builder::new()
            .name("livedash-store".into())
            .spawn(move || writer::run(state, receiver))
            .map_err(StoreError::Thread)?;
        let readers = history::Readers::new(options.path.clone(), options.sync);
        let following = Default::default();
        let follows_dropped = Default::default();
        let store = Store { sender, writer: Mutex::new(Some(writer)), readers, health, following, follows_dropped };
        Ok((store, recovered))
    }

    /// Queues `entries` (consecutive seqs per dashboard, following what was committed or
    /// appended before) for the next commit. `on_commit` runs on the writer thread right after
    /// the commit, in the order appends were queued; `on_fail` instead when the append fails
    /// (the seqs are free again). The receiver resolves after either.
    pub fn append(&self, entries: Vec<Entry>, on_commit: Callback, on_fail: Callback) -> oneshot::Receiver<Appended> {
        let (ack, acked) = oneshot::channel();
        let job = writer::Job { entries, follows: false, on_commit, on_fail, ack, _place: None };
        // If the writer is gone the job (and its ack sender) is dropped: the receiver errors.
        let _ = self.sender.send(Message::Append(job));
        acked
    }

    /// Queues updates whose seqs another system assigned (the Redis broker's log), in its
    /// order, for history. Nothing waits for the commit: a failing store says so through
    /// `Health` and its log lines, and this instance's history then misses those seconds (its
    /// live state does not).
    pub fn follow(&self, entries: Vec<Entry>) {
        // Bounded: a disk slower than Redis' updates drops the newest from this instance's
        // history (its live state and Redis' log keep them) instead of growing memory.
        let Some(place) = writer::Place::take(&self.following, MAX_FOLLOWS_QUEUED) else {
            let dropped = self.follows_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if dropped % 1000 == 1 {
                tracing::warn!(dropped, "history store behind: updates from Redis left out of this instance's history");
            }
            return;
        };
        let (ack, _unread) = oneshot::channel();
        let (on_commit, on_fail): (Callback, Callback) = (Box::new(|| {}), Box::new(|| {}));
        let job = writer::Job { entries, follows: true, on_commit, on_fail, ack, _place: Some(place) };
        let _ = self.sender.send(Message::Append(job));
    }

    /// Whether the store takes writes now.
    pub fn health(&self) -> Health {
        self.health.lock().expect("store health lock poisoned").clone()
    }

    /// Writes what is queued and stops the writer. Appends after this fail.
    pub fn close(&self) {
        let _ = self.sender.send(Message::Close);
        if let Some(writer) = self.writer.lock().expect("store writer lock poisoned").take() {
            if writer.join().is_err() {
                tracing::error!("the store writer panicked");
            }
        }
    }

    /// Readers of the history tiers. What was appended reaches them within the writer's merge
    /// interval; `merged` first to read it at once.
    pub fn readers(&self) -> &history::Readers {
        &self.readers
    }

    /// Resolves once every point of `dashboard` appended before the call is in the history
    /// tiers (or the writer failed to put it there, or is gone).
    pub async fn merged(&self, dashboard: &str) {
        let (ack, acked) = oneshot::channel();
        if self.sender.send(Message::Merge(dashboard.to_owned(), ack)).is_ok() {
            let _ = acked.await;
        }
    }
}

/// Reads every dashboard's position, latest values and last `replay_capacity` updates. The row's
/// time and latest values are as of its last merge (`merged`): the updates after it bring them
/// up to date.
fn recover(connection: &Connection, replay_capacity: usize) -> Result<Vec<RecoveredDashboard>, StoreError> {
    let mut dashboards = Vec::new();
    let mut rows = connection.prepare("SELECT id, epoch, seq, ts, latest, merged FROM dashboards ORDER BY rowid")?;
    let mut updates =
        connection.prepare("SELECT seq, body FROM updates WHERE dashboard = ?1 AND seq > ?2 ORDER BY seq")?;
    let mut names = connection.prepare("SELECT id, name, kind FROM metrics WHERE dashboard = ?1 ORDER BY id")?;
    let found = rows.query_map([], |row| {
        let (id, epoch, seq, ts) = (row.get::<_, String>(0)?, row.get(1)?, row.get::<_, i64>(2)?, row.get(3)?);
        Ok((id, epoch, seq, ts, row.get::<_, String>(4)?, row.get::<_, i64>(5)?))
    })?;
    for row in found {
        let (id, epoch, seq, mut ts, latest, merged): (String, String, i64, Millis, String, i64) = row?;
        let seq = seq as u64;
        let latest: Metrics = serde_json::from_str(&latest).map_err(|error| StoreError::Corrupt {
            dashboard: id.clone(),
            reason: format!("bad latest values: {error}"),
        })?;
        let first = seq.saturating_sub(replay_capacity as u64);
        let mut latest = crate::model::latest::Latest::as_of(latest, ts);
        let rows: Vec<(i64, String, Option<String>)> =
            names.query_map([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect::<Result<_, _>>()?;
        let kinds = rows
            .iter()
            .filter_map(|(_, name, kind)| Some((name.clone(), SeriesKind::from_name(kind.as_deref()?)?)))
            .collect();
        let ids: Vec<(i64, String)> = rows.into_iter().map(|(id, name, _)| (id, name)).collect();
        let by_id: std::collections::HashMap<i64, String> = ids.iter().cloned().collect();
        let mut log = Vec::new();
        let rows = updates.query_map(rusqlite::params![id, (first as i64).min(merged)], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (update_seq, body) = row?;
            let (update_ts, metrics, alerts) = replay::decode(&body, &by_id).map_err(|reason| StoreError::Corrupt {
                dashboard: id.clone(),
                reason: format!("update {update_seq}: {reason}"),
            })?;
            if update_seq > merged {
                latest.apply(update_ts, &metrics);
                ts = ts.max(update_ts);
            }
            if update_seq as u64 > first {
                log.push(Update {
                    dashboard: id.clone(),
                    seq: update_seq as u64,
                    from_seq: None,
                    ts: update_ts,
                    metrics,
                    kinds: Kinds::new(),
                    alerts,
                });
            }
        }
        let latest = latest.values().clone();
        let metrics = ids.into_iter().map(|(_, name)| name).collect();
        dashboards.push(RecoveredDashboard { id, epoch, seq, ts, latest, metrics, kinds, log });
    }
    Ok(dashboards)
}

#[cfg(test)]
mod tests {
    use super::{history::HistoryQuery, tier::Tier, *};
    use crate::protocol::{Bucket, ServerMessage, Update};
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    use rusqlite::params;
    use std::collections::BTreeMap;

    fn options(folder: &Path) -> StoreOptions {
        StoreOptions {
            path: folder.join("store.sqlite"),
            sync: SyncMode::Normal,
            retention: Retention::default(),
            replay_capacity: 100,
            maintenance_interval: Duration::from_secs(3600),
            // The writer's retention trims finished deliveries: the outbox's tables are there.
            tables: vec![crate::server::alerts::notify::delivery::OUTBOX_SCHEMA],
            clock: Clock::system(),
        }
    }

    fn entry(dashboard: &str, seq: u64, ts: Millis, metrics: &[(&str, f64)]) -> Entry {
        let metrics = metrics.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        let update = Update {
            dashboard: dashboard.into(),
            seq,
            from_seq: None,
            ts,
            metrics,
            kinds: Kinds::new(),
            alerts: Vec::new(),
        };
        Entry { epoch: "e1".into(), update: Arc::new(update), decided_here: true }
    }

    async fn append(store: &Store, entries: Vec<Entry>) {
        store.append(entries, Box::new(|| {}), Box::new(|| {})).await.unwrap().unwrap();
    }

    fn query(store: &Store, metric: &str, from: Millis, to: Millis, step_ms: Millis) -> Vec<crate::protocol::Bucket> {
        read(store, metric, from, to, step_ms, false)
    }

    fn read(store: &Store, metric: &str, from: Millis, to: Millis, step_ms: Millis, counter: bool) -> Vec<Bucket> {
        futures::executor::block_on(store.merged("d"));
        let tier = Tier::for_step(step_ms).unwrap();
        let query = HistoryQuery { dashboard: "d".into(), metric: metric.into(), from, to, step_ms, tier, counter };
        store.readers().history(&query).unwrap().unwrap_or_default()
    }

    #[tokio::test]
    async fn every_tier_matches_a_brute_force_aggregation() {
        let folder = tempfile::tempdir().unwrap();
        let (store, recovered) = Store::open(options(folder.path())).unwrap();
        assert!(recovered.is_empty());
        let mut rng = SmallRng::seed_from_u64(7);
        let start: Millis = 1_700_000_000_000;
        let mut points = Vec::new();
        // Three days of irregular points, several per second at times, in batches of varied size.
        let mut ts = start;
        let mut seq = 0;
        while ts < start + 3 * 86_400_000 {
            let mut batch = Vec::new();
            for _ in 0..rng.random_range(1..50) {
                ts += rng.random_range(0..120_000);
                seq += 1;
                let value = rng.random_range(-1000.0..1000.0_f64).round() / 4.0;
                points.push((ts, value));
                batch.push(entry("d", seq, ts, &[("x", value)]));
            }
            append(&store, batch).await;
        }
        for (step_ms, label) in [(1_000, "1s"), (60_000, "1m"), (300_000, "5m"), (3_600_000, "1h"), (86_400_000, "1d")]
        {
            let mut expected: BTreeMap<Millis, (i64, f64, f64, f64)> = BTreeMap::new();
            for &(ts, value) in &points {
                let bucket = crate::model::time::bucket_start(ts, step_ms);
                let slot = expected.entry(bucket).or_insert((0, 0.0, f64::MAX, f64::MIN));
                slot.0 += 1;
                slot.1 += value;
                slot.2 = slot.2.min(value);
                slot.3 = slot.3.max(value);
            }
            let buckets = query(&store, "x", start, ts, step_ms);
            assert_eq!(buckets.len(), expected.len(), "{label}");
            for (bucket, (ts, (count, sum, min, max))) in buckets.iter().zip(expected) {
                assert_eq!((bucket.ts, bucket.count, bucket.min, bucket.max), (ts, count, min, max), "{label}");
                assert!((bucket.sum - sum).abs() < 1e-6, "{label}: {} vs {sum}", bucket.sum);
                assert!((bucket.avg - sum / count as f64).abs() < 1e-9);
            }
        }
        assert!(Tier::for_step(5 * 60_000) == Some(Tier::Minute));
        store.close();
    }

    #[tokio::test]
    async fn a_counters_buckets_carry_its_rate_in_every_tier_through_resets() {
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        let mut rng = SmallRng::seed_from_u64(11);
        let start: Millis = 1_700_000_000_000;
        let (mut ts, mut total, mut seq) = (start, 0.0, 0);
        let mut points = Vec::new();
        // Two days of a counter, a point every 1 to 90 s, its producer restarting now and then;
        // written in batches, so buckets are merged across commits.
        while ts < start + 2 * 86_400_000 {
            let mut batch = Vec::new();
            for _ in 0..rng.random_range(1..40) {
                ts += rng.random_range(1_000..90_000);
                total = if rng.random_range(0..200) == 0 {
                    rng.random_range(0.0..5.0)
                } else {
                    total + rng.random_range(0.0..50.0)
                };
                seq += 1;
                points.push((ts, total));
                batch.push(entry("d", seq, ts, &[("requests_total", total)]));
            }
            append(&store, batch).await;
        }
        for step_ms in [1_000, 10_000, 60_000, 300_000, 3_600_000, 86_400_000] {
            // Each bucket: what grew into its points from the point before each, and when the
            // bucket before with points started.
            let mut expected: BTreeMap<Millis, f64> = BTreeMap::new();
            for pair in points.windows(2) {
                let bucket = crate::model::time::bucket_start(pair[1].0, step_ms);
                *expected.entry(bucket).or_default() += crate::model::counter::increase(pair[0].1, pair[1].1);
            }
            expected.entry(crate::model::time::bucket_start(points[0].0, step_ms)).or_default();
            let mut before: Option<Millis> = None;
            let expected: Vec<(Millis, f64)> = expected
                .into_iter()
                .map(|(ts, increase)| {
                    let over = before.map_or(step_ms, |before| ts - before);
                    before = Some(ts);
                    (ts, increase * 1000.0 / over as f64)
                })
                .collect();
            let buckets = read(&store, "requests_total", start, ts, step_ms, true);
            assert_eq!(buckets.len(), expected.len(), "step {step_ms}");
            for (bucket, (ts, rate)) in buckets.iter().zip(&expected) {
                assert_eq!(bucket.ts, *ts, "step {step_ms}");
                let got = bucket.rate.expect("a counter's bucket has a rate");
                assert!((got - rate).abs() < 1e-6 * rate.abs().max(1.0), "step {step_ms} at {ts}: {got} vs {rate}");
            }
            // Asked from the middle, the first bucket still rates from the point before it.
            let middle = start + 86_400_000;
            let later = read(&store, "requests_total", middle, ts, step_ms, true);
            let same =
                expected.iter().find(|(ts, _)| *ts >= crate::model::time::bucket_start(middle, step_ms)).unwrap();
            assert_eq!(later[0].ts, same.0);
            assert!((later[0].rate.unwrap() - same.1).abs() < 1e-6 * same.1.abs().max(1.0), "step {step_ms}");
            assert!(read(&store, "requests_total", start, ts, step_ms, false).iter().all(|b| b.rate.is_none()));
        }
        store.close();
    }

    #[tokio::test]
    async fn points_wait_in_the_replay_log_until_merged_into_the_tiers() {
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        for seq in 1..=20 {
            append(&store, vec![entry("d", seq, 1_700_000_000_000 + seq as Millis * 1000, &[("x", 1.0), ("y", 2.0)])])
                .await;
        }
        // What a process killed now would leave: committed updates, tiers not written yet.
        let look = Connection::open(folder.path().join("store.sqlite")).unwrap();
        let rows =
            |table: &str| look.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get::<_, i64>(0));
        assert_eq!(rows("seconds").unwrap(), 0, "written behind");
        assert_eq!(writer::unmerged(&look).unwrap().count, 40, "what reopening would merge: every point");
        let row: String = look.query_row("SELECT latest FROM dashboards WHERE id = 'd'", [], |row| row.get(0)).unwrap();
        assert_eq!(row, "{}", "a commit writes the position, not every value");
        let reopened = recover(&look, 100).unwrap();
        assert_eq!((reopened[0].seq, reopened[0].ts), (20, 1_700_000_020_000), "brought up to date by the log");
        assert_eq!((reopened[0].latest["x"], reopened[0].latest["y"]), (1.0, 2.0));
        append(&store, vec![entry("e", 1, 1_700_000_000_000, &[("z", 3.0)])]).await;
        store.merged("d").await;
        assert_eq!(writer::unmerged(&look).unwrap().count, 1, "only the dashboard asked for: e's point waits");
        assert_eq!(rows("points_1m").unwrap(), 2);
        let merged: i64 = look.query_row("SELECT merged FROM dashboards WHERE id = 'd'", [], |row| row.get(0)).unwrap();
        assert_eq!(merged, 20);
        let buckets = read(&store, "x", 1_700_000_000_000, 1_700_000_100_000, 60_000, false);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<i64>(), 20);
        store.close();
    }

    #[tokio::test]
    async fn reopening_recovers_positions_latest_values_and_the_replay_log() {
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        for seq in 1..=150 {
            append(&store, vec![entry("d", seq, seq as Millis * 1000, &[("x", seq as f64)])]).await;
        }
        append(&store, vec![entry("other", 1, 5, &[("y", 2.0)])]).await;
        store.close();
        let (store, recovered) = Store::open(options(folder.path())).unwrap();
        assert_eq!(recovered.len(), 2);
        let d = &recovered[0];
        assert_eq!((d.id.as_str(), d.epoch.as_str(), d.seq, d.ts), ("d", "e1", 150, 150_000));
        assert_eq!(d.latest["x"], 150.0);
        // The last `replay_capacity` updates, in order.
        let seqs: Vec<u64> = d.log.iter().map(|update| update.seq).collect();
        assert_eq!(seqs, (51..=150).collect::<Vec<_>>());
        assert_eq!(recovered[1].latest["y"], 2.0);
        assert_eq!(recovered[1].metrics, vec!["y".to_owned()]);
        store.close();
    }

    #[tokio::test]
    async fn kinds_producers_stated_are_read_back_and_the_last_one_wins() {
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        let stated = |seq: u64, kind: SeriesKind| {
            let mut entry = entry("d", seq, seq as Millis, &[("requests", seq as f64), ("x_total", 1.0)]);
            let update = Arc::make_mut(&mut entry.update);
            update.kinds = [("requests".to_owned(), kind), ("x_total".to_owned(), SeriesKind::Gauge)].into();
            entry
        };
        append(&store, vec![stated(1, SeriesKind::Gauge)]).await;
        append(&store, vec![stated(2, SeriesKind::Counter), stated(3, SeriesKind::Counter)]).await;
        store.close();
        let (store, recovered) = Store::open(options(folder.path())).unwrap();
        let expected: Kinds =
            [("requests".to_owned(), SeriesKind::Counter), ("x_total".to_owned(), SeriesKind::Gauge)].into();
        assert_eq!(recovered[0].kinds, expected);
        store.close();
    }

    #[test]
    fn followed_updates_wait_in_a_bounded_queue_when_the_writer_cannot_keep_up() {
        use std::sync::atomic::Ordering;
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        // Another connection holds the file: the writer waits on its first commit.
        let blocker = Connection::open(folder.path().join("store.sqlite")).unwrap();
        blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let over = 100;
        for seq in 1..=(MAX_FOLLOWS_QUEUED + over) as u64 {
            store.follow(vec![entry("d", seq, seq as Millis, &[("x", 1.0)])]);
        }
        assert_eq!(store.following.load(Ordering::Relaxed), MAX_FOLLOWS_QUEUED);
        assert_eq!(store.follows_dropped.load(Ordering::Relaxed), over as u64);
        blocker.execute_batch("ROLLBACK").unwrap();
        drop(blocker);
        store.close();
    }

    #[test]
    fn a_replay_log_written_as_json_is_converted_and_reads_the_same() {
        let folder = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(options(folder.path())).unwrap();
        store.close();
        // The layout before: JSON rows, one metric (`b`) never given an id.
        let before = Connection::open(folder.path().join("store.sqlite")).unwrap();
        let published: Vec<Update> = (1..=3)
            .map(|seq| {
                let metrics = [("a".to_owned(), seq as f64 * 0.1), ("b".to_owned(), -0.0)].into();
                Update {
                    dashboard: "d".into(),
                    seq,
                    from_seq: None,
                    ts: seq as Millis * 1000,
                    metrics,
                    kinds: Default::default(),
                    alerts: Vec::new(),
                }
            })
            .collect();
        before
            .execute_batch(
                "DROP TABLE updates;
                 CREATE TABLE updates (dashboard TEXT NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL,
                                       PRIMARY KEY (dashboard, seq)) WITHOUT ROWID;
                 INSERT INTO metrics (dashboard, name) VALUES ('d', 'a');
                 INSERT INTO dashboards (id, epoch, seq, ts, latest) VALUES ('d', 'e1', 3, 3000, '{\"a\":0.3,\"b\":-0.0}');
                 -- As the builds that wrote JSON rows left it.
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        for update in &published {
            let json = ServerMessage::Update(update.clone()).to_json();
            before
                .execute(
                    "INSERT INTO updates (dashboard, seq, json) VALUES ('d', ?1, ?2)",
                    params![update.seq as i64, json],
                )
                .unwrap();
        }
        drop(before);

        let (store, recovered) = Store::open(options(folder.path())).unwrap();
        store.close();
        assert_eq!(recovered[0].log, published);
        assert!(recovered[0].log[0].metrics["b"].is_sign_negative());
        let after = Connection::open(folder.path().join("store.sqlite")).unwrap();
        let columns: Vec<String> = after
            .prepare("SELECT name FROM pragma_table_info('updates')")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns, ["dashboard", "seq", "body"]);
    }

    #[test]
    fn deliveries_of_a_store_before_rounds_are_kept() {
        let folder = tempfile::tempdir().unwrap();
        let before = Connection::open(folder.path().join("store.sqlite")).unwrap();
        before
            .execute_batch(
                "CREATE TABLE alert_deliveries (id INTEGER PRIMARY KEY, event INTEGER NOT NULL, receiver TEXT NOT NULL,
                   attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, status TEXT NOT NULL, last_error TEXT,
                   created INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE (event, receiver));
                 CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_at);
                 INSERT INTO alert_deliveries VALUES (7, 1, 'hook', 2, 99, 'pending', 'HTTP 500', 10, 20);",
            )
            .unwrap();
        drop(before);
        let (store, _) = Store::open(options(folder.path())).unwrap();
        drop(store);
        let after = Connection::open(folder.path().join("store.sqlite")).unwrap();
        let row: (i64, String, i64, i64, String) = after
            .query_row("SELECT id, receiver, round, attempts, status FROM alert_deliveries", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
            })
            .unwrap();
        assert_eq!(row, (7, "hook".into(), 0, 2, "pending".into()));
        after
            .execute(
                "INSERT INTO alert_deliveries (event, receiver, round, attempts, next_at, status, created, updated)
                       VALUES (1, 'hook', 1, 0, 0, 'pending', 0, 0)",
                [],
            )
            .expect("a second round of the same change");
    }

    #[tokio::test]
    async fn retention_deletes_alert_history_older_than_hours() {
        let folder = tempfile::tempdir().unwrap();
        let mut options = options(folder.path());
        options.retention.second = Duration::from_secs(60);
        options.retention.minute = Duration::from_secs(3600);
        options.retention.hour = Duration::from_secs(3 * 3600);
        options.replay_capacity = 3;
        options.maintenance_interval = Duration::from_millis(100);
        let (store, _) = Store::open(options.clone()).unwrap();
        let now = Clock::system().now_millis();
        let old = now - 2 * 3_600_000;
        let ancient = now - 4 * 3_600_000;
        // Alert changes are kept as long as hours: the ancient one goes, the old one stays.
        let alerting = |seq, ts| {
            let mut with_alert = entry("d", seq, ts, &[("x", 1.0)]);
            let mut update = (*with_alert.update).clone();
            update.alerts = vec![crate::protocol::AlertChange {
                rule: "r".into(),
                severity: crate::protocol::Severity::Warning,
                state: crate::protocol::AlertPhase::Firing,
                metric: "x".into(),
                value: Some(1.0),
                threshold: Some(0.5),
                since: ts,
                message: String::new(),
            }];
            with_alert.update = Arc::new(update);
            with_alert
        };
        append(&store, vec![alerting(1, ancient)]).await;
        append(&store, vec![alerting(2, old)]).await;
        for seq in 3..=6 {
            append(&store, vec![entry("d", seq, now, &[("x", 2.0)])]).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let kept = store.readers().alert_history("d", 0, now, 100).unwrap();
        assert_eq!(
            kept.iter().map(|recorded| recorded.change.since).collect::<Vec<_>>(),
            vec![old],
            "the ancient one is gone"
        );
        store.close();
    }

    #[tokio::test]
    async fn retention_of_points_per_tier_and_of_the_replay_log() {
        let folder = tempfile::tempdir().unwrap();
        let mut options = options(folder.path());
        options.retention.second = Duration::from_secs(60);
        options.retention.minute = Duration::from_secs(3600);
        options.replay_capacity = 3;
        options.maintenance_interval = Duration::from_millis(100);
        let (store, _) = Store::open(options.clone()).unwrap();
        let now = Clock::system().now_millis();
        let old = now - 2 * 3_600_000;
        append(&store, vec![entry("d", 1, old, &[("x", 1.0)])]).await;
        for seq in 2..=6 {
            append(&store, vec![entry("d", seq, now, &[("x", 2.0)])]).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let seconds = query(&store, "x", old - 1000, now, 1000);
        assert_eq!(seconds.iter().map(|b| b.count).sum::<i64>(), 5, "the old second is gone");
        let minutes = query(&store, "x", old - 60_000, now, 60_000);
        assert_eq!(minutes.iter().map(|b| b.count).sum::<i64>(), 5, "the old minute is gone");
        let hours = query(&store, "x", old - 3_600_000, now, 3_600_000);
        assert_eq!(hours.iter().map(|b| b.count).sum::<i64>(), 6, "hours are kept a year");
        store.close();
        let (store, recovered) = Store::open(options).unwrap();
        assert_eq!(recovered[0].log.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![4, 5, 6]);
        store.close();
    }

    #[tokio::test]
    async fn a_merge_trims_the_replay_log_to_its_capacity_without_waiting_for_retention() {
        let folder = tempfile::tempdir().unwrap();
        let mut options = options(folder.path());
        options.replay_capacity = 3;
        // Retention would trim only in an hour: the merge must.
        options.maintenance_interval = Duration::from_secs(3600);
        let (store, _) = Store::open(options.clone()).unwrap();
        let now = Clock::system().now_millis();
        for seq in 1..=50 {
            append(&store, vec![entry("d", seq, now + seq as i64, &[("x", 2.0)])]).await;
        }
        // A history reader asks for the dashboard: its points are merged now.
        store.merged("d").await;
        let rows: i64 = Connection::open(&options.path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM updates WHERE dashboard = 'd'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3, "the capacity, not the 50 written");
        let seconds = query(&store, "x", now - 1000, now + 1000, 1000);
        assert_eq!(seconds.iter().map(|b| b.count).sum::<i64>(), 50, "every point is in the tiers");
        store.close();
        let (store, recovered) = Store::open(options).unwrap();
        assert_eq!(recovered[0].log.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![48, 49, 50]);
        store.close();
    }

    #[tokio::test]
    async fn a_store_with_a_row_per_second_is_moved_to_minute_rows_on_open() {
        let folder = tempfile::tempdir().unwrap();
        let options = options(folder.path());
        {
            let connection = Connection::open(&options.path).unwrap();
            connection.execute_batch(SCHEMA).unwrap();
            connection
                .execute_batch(
                    "CREATE TABLE points_1s (metric INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                       sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (metric, ts)) WITHOUT ROWID;
                     INSERT INTO metrics (id, dashboard, name) VALUES (1, 'd', 'x'), (2, 'd', 'y');
                     INSERT INTO points_1s VALUES (1, 60000, 1, 5, 5, 5), (1, 61000, 3, 6, 1, 3),
                       (1, 125000, 1, 2, 2, 2), (2, 61000, 1, 9, 9, 9);",
                )
                .unwrap();
        }
        let (store, _) = Store::open(options.clone()).unwrap();
        let seconds = |metric| -> Vec<_> {
            query(&store, metric, 0, 200_000, 1000).iter().map(|b| (b.ts, b.count, b.sum, b.min, b.max)).collect()
        };
        assert_eq!(
            seconds("x"),
            vec![(60_000, 1, 5.0, 5.0, 5.0), (61_000, 3, 6.0, 1.0, 3.0), (125_000, 1, 2.0, 2.0, 2.0)]
        );
        assert_eq!(seconds("y"), vec![(61_000, 1, 9.0, 9.0, 9.0)]);
        store.close();
        let connection = Connection::open(&options.path).unwrap();
        let old_tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'points_1s'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(old_tables, 0, "the old table is dropped");
    }
}
