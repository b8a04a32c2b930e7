//! The replay log on disk: each retained update of a dashboard as a small binary row (the
//! `updates` table's `body`), not its JSON. Metrics are named by their ids in the store's
//! `metrics` table, values are the `f64`s themselves, so a value takes about ten bytes where
//! its JSON took about 47.
//!
//! Layout, version 1: the byte `1`; the time (ms, zigzag varint); the number of values
//! (varint); each value as its metric id (zigzag varint, as the difference from the previous
//! id) then the `f64` (little endian); then the alert changes as JSON, preceded by their length
//! (varint; 0 when there are none). Stores written before this layout (JSON rows) are
//! converted when opened (`migrate_json_rows`).

use super::codec::bytes::{put_varint, unzigzag, zigzag, Reader};
use crate::protocol::{AlertChange, Metrics, Millis, ServerMessage};
use rusqlite::{params, Connection};
use std::collections::HashMap;

const VERSION: u8 = 1;

/// The body of an update at `ts` with `values` (metric id, value) and `alerts`.
pub fn encode(ts: Millis, values: &[(i64, f64)], alerts: &[AlertChange]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + values.len() * 10);
    bytes.push(VERSION);
    put_varint(&mut bytes, zigzag(ts));
    put_varint(&mut bytes, values.len() as u64);
    let mut previous = 0;
    for (id, value) in values {
        put_varint(&mut bytes, zigzag(id - previous));
        previous = *id;
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    if alerts.is_empty() {
        put_varint(&mut bytes, 0);
    } else {
        let json = serde_json::to_vec(alerts).expect("alert changes serialize");
        put_varint(&mut bytes, json.len() as u64);
        bytes.extend_from_slice(&json);
    }
    bytes
}

/// An update's time, values by name and alert changes from its body; `names` maps the
/// dashboard's metric ids to names.
pub fn decode(body: &[u8], names: &HashMap<i64, String>) -> Result<(Millis, Metrics, Vec<AlertChange>), String> {
    let Body { ts, values, alerts } = decode_ids(body)?;
    let mut metrics = Metrics::new();
    for (id, value) in values {
        let name = names.get(&id).ok_or_else(|| format!("metric id {id} is not in the metrics table"))?;
        metrics.insert(name.clone(), value);
    }
    Ok((ts, metrics, alerts))
}

/// An update's body read back, its metrics by id.
pub struct Body {
    pub ts: Millis,
    /// (metric id, value)
    pub values: Vec<(i64, f64)>,
    pub alerts: Vec<AlertChange>,
}

/// An update's time, values by metric id and alert changes from its body.
pub fn decode_ids(body: &[u8]) -> Result<Body, String> {
    let cut = |at: usize| format!("cut short at byte {at}");
    let mut reader = Reader::new(body);
    let version = reader.byte().map_err(cut)?;
    if version != VERSION {
        return Err(format!("unknown replay row version {version}"));
    }
    let ts = unzigzag(reader.varint().map_err(cut)?);
    let count = reader.varint().map_err(cut)? as usize;
    // Nine bytes a value at least: a count past that is a damaged row, not an allocation.
    let mut values = Vec::with_capacity(count.min(body.len() / 9));
    let mut id = 0;
    for _ in 0..count.min(body.len()) {
        id += unzigzag(reader.varint().map_err(cut)?);
        let value = f64::from_le_bytes(reader.take(8).map_err(cut)?.try_into().expect("eight bytes"));
        values.push((id, value));
    }
    let alerts_len = reader.varint().map_err(cut)? as usize;
    let alerts = if alerts_len == 0 {
        Vec::new()
    } else {
        serde_json::from_slice(reader.take(alerts_len).map_err(cut)?)
            .map_err(|error| format!("alert changes: {error}"))?
    };
    Ok(Body { ts, values, alerts })
}

/// Converts a store's JSON replay rows (the layout before this one) into binary rows
/// (migration 5 of `schema::MIGRATIONS`); nothing to do for a store without them.
pub fn migrate_json_rows(connection: &Connection) -> rusqlite::Result<()> {
    if !super::schema::has_column(connection, "updates", "json")? {
        return Ok(());
    }
    connection.execute_batch(
        "ALTER TABLE updates RENAME TO updates_json;
         CREATE TABLE updates (dashboard TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
                               PRIMARY KEY (dashboard, seq)) WITHOUT ROWID;",
    )?;
    {
        let mut ids: HashMap<(String, String), i64> = HashMap::new();
        let mut names = connection.prepare("SELECT id, dashboard, name FROM metrics")?;
        for row in names
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))?
        {
            let (id, dashboard, name) = row?;
            ids.insert((dashboard, name), id);
        }
        let mut new_id = connection.prepare("INSERT INTO metrics (dashboard, name) VALUES (?1, ?2) RETURNING id")?;
        let mut insert = connection.prepare("INSERT INTO updates (dashboard, seq, body) VALUES (?1, ?2, ?3)")?;
        let mut select = connection.prepare("SELECT dashboard, seq, json FROM updates_json ORDER BY dashboard, seq")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let (dashboard, seq, json): (String, i64, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            // A row that does not read was unusable before too: it is left out.
            let Ok(ServerMessage::Update(update)) = serde_json::from_str::<ServerMessage>(&json) else { continue };
            let mut values = Vec::with_capacity(update.metrics.len());
            for (name, value) in &update.metrics {
                let key = (dashboard.clone(), name.clone());
                let id = match ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id: i64 = new_id.query_row(params![dashboard, name], |row| row.get(0))?;
                        ids.insert(key, id);
                        id
                    }
                };
                values.push((id, *value));
            }
            insert.execute(params![dashboard, seq, encode(update.ts, &values, &update.alerts)])?;
        }
    }
    connection.execute_batch("DROP TABLE updates_json;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_body_is_about_ten_bytes_a_value() {
        let values: Vec<(i64, f64)> = (1..=100).map(|id| (id, id as f64 * 1.5)).collect();
        let body = encode(1_700_000_000_000, &values, &[]);
        assert!(body.len() < 100 * 10, "{} bytes", body.len());
        let names: HashMap<i64, String> = (1..=100).map(|id| (id, format!("m{id}"))).collect();
        let (ts, metrics, alerts) = decode(&body, &names).unwrap();
        assert_eq!((ts, metrics.len(), alerts.len()), (1_700_000_000_000, 100, 0));
        assert_eq!(metrics["m7"], 10.5);
        assert!(decode(&body[..body.len() - 3], &names).unwrap_err().contains("cut short"));
        assert!(decode(&[9], &names).unwrap_err().contains("version"));
    }

    proptest! {
        /// Any time, ids and values (negative zero, subnormals, integers past 2^53) come back
        /// bit for bit.
        #[test]
        fn bodies_round_trip(
            ts in any::<i64>(),
            values in prop::collection::btree_map(-1_000i64..1_000_000, prop::num::f64::ANY, 0..50),
        ) {
            let values: Vec<(i64, f64)> = values.into_iter().collect();
            let names: HashMap<i64, String> = values.iter().map(|(id, _)| (*id, format!("m{id}"))).collect();
            let (back_ts, metrics, _) = decode(&encode(ts, &values, &[]), &names).unwrap();
            prop_assert_eq!(back_ts, ts);
            for (id, value) in &values {
                prop_assert_eq!(metrics[&format!("m{id}")].to_bits(), value.to_bits());
            }
        }
    }
}
