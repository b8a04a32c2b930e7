//! The outbox: alert deliveries as rows of the history store's SQLite (tables made by the
//! store's schema), so that a restart or `kill -9` mid-retry picks up where it was. Each row
//! is one change for one receiver in one round (0, then one per `repeat`); its `status` is
//! `pending` (due at `next_at`), `delivered`, `failed`, `silenced` (matched a silence, not
//! sent) or `held` (over an email receiver's hourly limit, waiting for its digest).

use super::{Outcome, Wanted};
pub use crate::model::alerts::DeliveryRecord;
use crate::protocol::{AlertChange, AlertPhase, Millis};
use crate::server::alerts::{
    eval::rules::AlertRule,
    notify::{receivers::ReceiverConfig, silences::Controls},
};
use rusqlite::{params, Connection, OptionalExtension};
use std::{path::Path, sync::Arc, sync::Mutex, time::Duration};

/// A delivery to attempt.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub receiver: String,
    pub round: i64,
    pub attempts: i64,
    pub created: Millis,
    pub dashboard: String,
    pub epoch: String,
    pub seq: i64,
    pub ts: Millis,
    pub change: AlertChange,
}

impl Due {
    /// The same on every attempt, so a receiver can drop a repeat.
    pub fn idempotency_key(&self) -> String {
        let key = format!("livedash-{}-{}-{}-{}", self.dashboard, self.epoch, self.seq, self.change.rule);
        if self.round == 0 {
            key
        } else {
            format!("{key}-repeat-{}", self.round)
        }
    }
}

/// The outbox's tables, kept in the history store's file (`StoreOptions::tables`).
pub const SCHEMA: &str = "
-- Deliveries of alert changes to receivers (`alerts::notify::delivery`): one per change, receiver
-- and round (0, then one more per `repeat` while the alert stays firing).
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id         INTEGER PRIMARY KEY,
    event      INTEGER NOT NULL,
    receiver   TEXT NOT NULL,
    round      INTEGER NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    status     TEXT NOT NULL,
    last_error TEXT,
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    UNIQUE (event, receiver, round)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (status, next_at);
-- Mails sent to each email receiver, for its `max_per_hour`.
CREATE TABLE IF NOT EXISTS alert_mails (
    receiver TEXT NOT NULL,
    sent     INTEGER NOT NULL
);
-- The last alert event handed to the receivers.
CREATE TABLE IF NOT EXISTS alert_cursor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    event INTEGER NOT NULL
);
";

/// The delivery worker's handle to its tables.
pub struct Outbox {
    connection: Mutex<Connection>,
}

impl Outbox {
    /// Opens the outbox; the cursor starts after every change already recorded, so configuring
    /// a receiver does not replay the past to it.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.execute(
            "INSERT OR IGNORE INTO alert_cursor (id, event) SELECT 1, COALESCE(MAX(id), 0) FROM alert_events",
            [],
        )?;
        Ok(Outbox { connection: Mutex::new(connection) })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().expect("outbox lock poisoned")
    }

    /// Hands new alert changes to the receivers that want them (a silenced one is recorded as
    /// such and not sent), and queues the next round of every firing alert whose rule repeats
    /// and whose last round is `repeat` old, unless acked or silenced.
    pub fn fan_out(&self, wanted: &Wanted<'_>, controls: &Controls, now: Millis) -> rusqlite::Result<usize> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let cursor: i64 = transaction.query_row("SELECT event FROM alert_cursor WHERE id = 1", [], |row| row.get(0))?;
        let events: Vec<(i64, String, String)> = {
            let mut select = transaction.prepare(
                "SELECT id, dashboard, json FROM alert_events WHERE id > ?1 AND decided_here = 1 ORDER BY id LIMIT 500",
            )?;
            let rows = select.query_map([cursor], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut queue = transaction.prepare_cached(
            "INSERT OR IGNORE INTO alert_deliveries (event, receiver, round, attempts, next_at, status, created, updated)
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?4, ?4)",
        )?;
        let mut queued = 0;
        for (id, dashboard, json) in &events {
            let Ok(change) = serde_json::from_str::<AlertChange>(json) else { continue };
            let notify = match change.state {
                AlertPhase::Firing => true,
                // Only an alert that fired is resolved for receivers.
                AlertPhase::Resolved => {
                    let before: Option<String> = transaction
                        .query_row(
                            "SELECT state FROM alert_events WHERE dashboard = ?1 AND rule = ?2 AND id < ?3
                             ORDER BY id DESC LIMIT 1",
                            params![dashboard, change.rule, id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    before.as_deref() == Some("firing")
                }
                AlertPhase::Pending | AlertPhase::NoData => false,
            };
            if !notify {
                continue;
            }
            let labels = super::super::labels(dashboard, &change, wanted.rule(dashboard, &change.rule));
            let status = if controls.is_silenced(&labels, now) { "silenced" } else { "pending" };
            for receiver in wanted.receivers_of(&change) {
                queued += queue.execute(params![id, receiver.name, 0, now, status])?;
            }
        }
        if let Some((last, ..)) = events.last() {
            transaction.execute("UPDATE alert_cursor SET event = ?1 WHERE id = 1", [last])?;
        }
        if wanted.repeats() {
            queued += queue_repeats(&transaction, wanted, controls, now)?;
        }
        drop(queue);
        transaction.commit()?;
        Ok(queued)
    }

    /// Deliveries whose time has come.
    pub fn due(&self, now: Millis) -> rusqlite::Result<Vec<Due>> {
        let connection = self.connection();
        let mut select = connection.prepare(
            "SELECT d.id, d.receiver, d.round, d.attempts, d.created, e.dashboard, e.epoch, e.seq, e.ts, e.json
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event
             WHERE d.status = 'pending' AND d.next_at <= ?1 ORDER BY d.next_at LIMIT 32",
        )?;
        let rows = select.query_map([now], due_row)?;
        rows.filter_map(|row| row.transpose()).collect()
    }

    /// An email receiver's deliveries waiting for its digest, oldest first.
    pub fn held(&self, receiver: &str) -> rusqlite::Result<Vec<Due>> {
        let connection = self.connection();
        let mut select = connection.prepare(
            "SELECT d.id, d.receiver, d.round, d.attempts, d.created, e.dashboard, e.epoch, e.seq, e.ts, e.json
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event
             WHERE d.status = 'held' AND d.receiver = ?1 ORDER BY d.id LIMIT 1000",
        )?;
        let rows = select.query_map([receiver], due_row)?;
        rows.filter_map(|row| row.transpose()).collect()
    }

    /// Whether `receiver` has deliveries waiting for its digest.
    pub fn has_held(&self, receiver: &str) -> rusqlite::Result<bool> {
        self.connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE status = 'held' AND receiver = ?1)",
            [receiver],
            |row| row.get(0),
        )
    }

    /// Mails sent to `receiver` in the hour before `now`.
    pub fn mails_in_last_hour(&self, receiver: &str, now: Millis) -> rusqlite::Result<u32> {
        self.connection().query_row(
            "SELECT count(*) FROM alert_mails WHERE receiver = ?1 AND sent > ?2",
            params![receiver, now - 3_600_000],
            |row| row.get(0),
        )
    }

    /// Records a mail sent to `receiver` (and forgets those older than an hour).
    pub fn mail_sent(&self, receiver: &str, now: Millis) -> rusqlite::Result<()> {
        let connection = self.connection();
        connection.execute("DELETE FROM alert_mails WHERE sent <= ?1", [now - 3_600_000])?;
        connection.execute("INSERT INTO alert_mails (receiver, sent) VALUES (?1, ?2)", params![receiver, now])?;
        Ok(())
    }

    /// When the next pending delivery is due, if any.
    pub fn next_due(&self) -> rusqlite::Result<Option<Millis>> {
        self.connection()
            .query_row("SELECT MIN(next_at) FROM alert_deliveries WHERE status = 'pending'", [], |row| row.get(0))
    }

    pub fn record(&self, id: i64, outcome: &Outcome, attempts: i64, now: Millis) -> rusqlite::Result<()> {
        let (status, next_at, error) = match outcome {
            Outcome::Delivered => ("delivered", now, None),
            Outcome::Retry { after_ms, error } => ("pending", now + *after_ms as Millis, Some(error.as_str())),
            Outcome::Failed(error) => ("failed", now, Some(error.as_str())),
            Outcome::Held => ("held", now, None),
        };
        self.connection().execute(
            "UPDATE alert_deliveries SET status = ?1, attempts = ?2, next_at = ?3, last_error = ?4, updated = ?5
             WHERE id = ?6",
            params![status, attempts, next_at, error, now, id],
        )?;
        Ok(())
    }

    /// The most recent deliveries, newest first.
    pub fn recent(&self, limit: usize) -> rusqlite::Result<Vec<DeliveryRecord>> {
        let connection = self.connection();
        let mut select = connection.prepare(
            "SELECT d.id, d.receiver, e.dashboard, e.rule, e.state, d.round, d.status, d.attempts, d.next_at, d.last_error
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event ORDER BY d.id DESC LIMIT ?1",
        )?;
        let rows = select.query_map([limit as i64], |row| {
            Ok(DeliveryRecord {
                id: row.get(0)?,
                receiver: row.get(1)?,
                dashboard: row.get(2)?,
                rule: row.get(3)?,
                state: row.get(4)?,
                round: row.get(5)?,
                status: row.get(6)?,
                attempts: row.get(7)?,
                next_at: row.get(8)?,
                last_error: row.get(9)?,
            })
        })?;
        rows.collect()
    }
}

/// A row of `due`/`held`; `None` for a change that no longer reads (skipped, never sent).
fn due_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Due>> {
    let json: String = row.get(9)?;
    let Ok(change) = serde_json::from_str(&json) else { return Ok(None) };
    Ok(Some(Due {
        id: row.get(0)?,
        receiver: row.get(1)?,
        round: row.get(2)?,
        attempts: row.get(3)?,
        created: row.get(4)?,
        dashboard: row.get(5)?,
        epoch: row.get(6)?,
        seq: row.get(7)?,
        ts: row.get(8)?,
        change,
    }))
}

/// The next round for every alert still firing (its latest change) whose rule repeats and
/// whose last round to a receiver is at least `repeat` old.
fn queue_repeats(
    transaction: &rusqlite::Transaction<'_>,
    wanted: &Wanted<'_>,
    controls: &Controls,
    now: Millis,
) -> rusqlite::Result<usize> {
    let firing: Vec<(i64, String, i64, Millis, String, String)> = {
        let mut select = transaction.prepare_cached(
            "SELECT d.event, d.receiver, MAX(d.round), MAX(d.created), e.dashboard, e.json
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event
             WHERE e.state = 'firing' AND NOT EXISTS
               (SELECT 1 FROM alert_events later WHERE later.dashboard = e.dashboard AND later.rule = e.rule AND later.id > e.id)
             GROUP BY d.event, d.receiver",
        )?;
        let rows = select
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut queue = transaction.prepare_cached(
        "INSERT OR IGNORE INTO alert_deliveries (event, receiver, round, attempts, next_at, status, created, updated)
         VALUES (?1, ?2, ?3, 0, ?4, 'pending', ?4, ?4)",
    )?;
    let mut queued = 0;
    for (event, receiver, round, last, dashboard, json) in firing {
        let Ok(change) = serde_json::from_str::<AlertChange>(&json) else { continue };
        let rule: Option<&Arc<AlertRule>> =
            wanted.rules.iter().find(|r| r.dashboard == dashboard && r.name == change.rule);
        let Some(repeat) = rule.and_then(|rule| rule.repeat) else { continue };
        let repeats_here = wanted.receivers_of(&change).any(|r: &ReceiverConfig| r.name == receiver && r.repeats());
        if !repeats_here || now - last < repeat.as_millis() as Millis || controls.ack_of(&dashboard, &change).is_some()
        {
            continue;
        }
        let labels = super::super::labels(&dashboard, &change, rule.map(|rule| &**rule));
        if controls.is_silenced(&labels, now) {
            continue;
        }
        queued += queue.execute(params![event, receiver, round + 1, now])?;
    }
    Ok(queued)
}
