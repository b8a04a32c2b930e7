//! The store's one schema story. Each table is declared by the code that owns it: the
//! store's own (`store::SCHEMA`: dashboards, the replay log, metrics, alert events, the
//! writer's probe), the history tiers (`seconds::SCHEMA`, `tier_schema`), and tables other
//! stages keep in the file (`StoreOptions::tables`: the alert outbox, silences and acks,
//! declared in `alerts::notify`). `prepare` creates what is missing, then runs every migration
//! past the file's `PRAGMA user_version`, in order, each in one transaction with the version
//! it reaches, so a store written by any earlier build reads as this one (and a failed
//! migration leaves the file as it was). A new layout is one more `Migration` at the end;
//! a migration carries the layout it moves to, never the current DDL.

use super::{replay, seconds};
use rusqlite::Connection;

/// One step from a layout to the next.
pub struct Migration {
    /// The `user_version` a store has after it.
    pub version: i64,
    /// What it converts, for the log.
    pub converts: &'static str,
    /// Runs inside the migration's transaction; finds nothing to do in a store that never had
    /// the old layout (one created since).
    pub run: fn(&Connection) -> rusqlite::Result<()>,
}

/// Every migration, oldest first. (Stores from before this list carry `user_version` 2 or
/// less; the steps after 2 check for their old layout, so they are safe to run again.)
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        converts: "per-second points from a row each (points_1s) into minute rows",
        run: seconds::migrate_rows_per_second,
    },
    Migration { version: 2, converts: "per-second cells of version 1 into version 2", run: seconds::migrate_cells },
    Migration { version: 3, converts: "alert deliveries without rounds", run: add_delivery_rounds },
    Migration { version: 4, converts: "alert events without decided_here", run: add_alert_deciders },
    Migration { version: 5, converts: "JSON replay rows into binary rows", run: replay::migrate_json_rows },
    Migration { version: 6, converts: "metrics without the kinds their producers stated", run: add_metric_kinds },
    Migration { version: 7, converts: "rollup rows without counter runs", run: add_counter_runs },
    Migration { version: 8, converts: "dashboards without a merge mark", run: add_merge_marks },
];

/// Creates every table of `declared` that is missing, then brings the store to the last
/// migration's version.
pub fn prepare<'a>(connection: &Connection, declared: impl IntoIterator<Item = &'a str>) -> rusqlite::Result<()> {
    for ddl in declared {
        connection.execute_batch(ddl)?;
    }
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for migration in MIGRATIONS.iter().filter(|migration| migration.version > version) {
        let transaction = connection.unchecked_transaction()?;
        (migration.run)(&transaction)?;
        transaction.pragma_update(None, "user_version", migration.version)?;
        transaction.commit()?;
        tracing::debug!(version = migration.version, converts = migration.converts, "store migrated");
    }
    Ok(())
}

/// Whether the store has a table `table`.
pub(super) fn has_table(connection: &Connection, table: &str) -> rusqlite::Result<bool> {
    connection.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |row| {
        row.get(0)
    })
}

/// Whether `table` has a column `column`.
pub(super) fn has_column(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    connection
        .query_row("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |row| row.get(0))
}

/// Moves alert deliveries made before `repeat` (one per change and receiver) into the table
/// with rounds.
fn add_delivery_rounds(connection: &Connection) -> rusqlite::Result<()> {
    if !has_table(connection, "alert_deliveries")? || has_column(connection, "alert_deliveries", "round")? {
        return Ok(());
    }
    connection.execute_batch(
        "ALTER TABLE alert_deliveries RENAME TO alert_deliveries_without_rounds;
         DROP INDEX IF EXISTS alert_deliveries_due;
         CREATE TABLE alert_deliveries (
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
         CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_at);
         INSERT INTO alert_deliveries (id, event, receiver, round, attempts, next_at, status, last_error, created, updated)
         SELECT id, event, receiver, 0, attempts, next_at, status, last_error, created, updated
         FROM alert_deliveries_without_rounds;
         DROP TABLE alert_deliveries_without_rounds;",
    )
}

/// Gives a store from before several instances its `alert_events.decided_here` (every change
/// in it was decided by the one instance).
fn add_alert_deciders(connection: &Connection) -> rusqlite::Result<()> {
    if has_column(connection, "alert_events", "decided_here")? {
        return Ok(());
    }
    connection.execute_batch("ALTER TABLE alert_events ADD COLUMN decided_here INTEGER NOT NULL DEFAULT 1")
}

/// Gives a store from before series kinds its `metrics.kind` (none stated: every metric's
/// kind is what its name says).
fn add_metric_kinds(connection: &Connection) -> rusqlite::Result<()> {
    if has_column(connection, "metrics", "kind")? {
        return Ok(());
    }
    connection.execute_batch("ALTER TABLE metrics ADD COLUMN kind TEXT")
}

/// Gives the rollup tiers of a store from before counter rates their run columns (NULL in the
/// rows there: read as unordered points).
fn add_counter_runs(connection: &Connection) -> rusqlite::Result<()> {
    for tier in super::tier::Tier::ROLLUPS {
        let table = tier.table();
        if has_table(connection, table)? && !has_column(connection, table, "increase")? {
            connection.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN first REAL;
                 ALTER TABLE {table} ADD COLUMN last REAL;
                 ALTER TABLE {table} ADD COLUMN increase REAL;"
            ))?;
        }
    }
    Ok(())
}

/// Gives the dashboards of a store from before write-behind their `merged` seq: every update
/// such a store holds had its points written with it.
fn add_merge_marks(connection: &Connection) -> rusqlite::Result<()> {
    if has_column(connection, "dashboards", "merged")? {
        return Ok(());
    }
    connection.execute_batch(
        "ALTER TABLE dashboards ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
         UPDATE dashboards SET merged = seq;",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_one_at_a_time() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.converts);
        }
    }

    #[test]
    fn a_new_store_ends_at_the_last_version_and_preparing_again_changes_nothing() {
        let connection = Connection::open_in_memory().unwrap();
        seconds::register_merge(&connection).unwrap();
        let declared = [super::super::SCHEMA, seconds::SCHEMA];
        prepare(&connection, declared).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.last().unwrap().version);
        prepare(&connection, declared).unwrap();
        assert!(has_column(&connection, "alert_events", "decided_here").unwrap());
    }

    #[test]
    fn a_store_from_before_rounds_and_deciders_is_brought_forward_keeping_its_rows() {
        let connection = Connection::open_in_memory().unwrap();
        seconds::register_merge(&connection).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE alert_events (id INTEGER PRIMARY KEY AUTOINCREMENT, dashboard TEXT NOT NULL,
                     epoch TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, rule TEXT NOT NULL,
                     state TEXT NOT NULL, json TEXT NOT NULL);
                 CREATE TABLE alert_deliveries (id INTEGER PRIMARY KEY, event INTEGER NOT NULL,
                     receiver TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL,
                     status TEXT NOT NULL, last_error TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL,
                     UNIQUE (event, receiver));
                 INSERT INTO alert_deliveries VALUES (7, 1, 'ops', 2, 0, 'sent', NULL, 1, 2);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        prepare(&connection, [super::super::SCHEMA, seconds::SCHEMA]).unwrap();
        let (round, status): (i64, String) = connection
            .query_row("SELECT round, status FROM alert_deliveries WHERE id = 7", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((round, status.as_str()), (0, "sent"));
        assert!(has_column(&connection, "alert_events", "decided_here").unwrap());
    }

    #[test]
    fn a_store_from_before_kinds_keeps_its_metrics_and_gets_the_column() {
        let connection = Connection::open_in_memory().unwrap();
        seconds::register_merge(&connection).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE metrics (id INTEGER PRIMARY KEY, dashboard TEXT NOT NULL, name TEXT NOT NULL,
                     UNIQUE (dashboard, name));
                 INSERT INTO metrics VALUES (3, 'd', 'requests');
                 PRAGMA user_version = 5;",
            )
            .unwrap();
        prepare(&connection, [super::super::SCHEMA, seconds::SCHEMA]).unwrap();
        let (name, kind): (String, Option<String>) = connection
            .query_row("SELECT name, kind FROM metrics WHERE id = 3", [], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        assert_eq!((name.as_str(), kind), ("requests", None), "no kind stated: its name says it");
    }
}
