//! A dashboard's retained updates, kept compact: each update is a row with its seq, time, the
//! slots of the metrics it carries and their values as plain `f64`s, nothing else. Metric
//! names live once per dashboard (a slot each), and consecutive updates that carry the same
//! metrics share one slot list, so a value costs its eight bytes plus a share of its row (about
//! 0.7 byte at 100 metrics an update). Frames (JSON) are made from rows only when someone needs
//! them (a resume, a snapshot): `update_at` gives the update back exactly as it was published.
//!
//! The log knows its own size in bytes (`bytes`), for the server's retention budget
//! (`budget::RetainBudget`): rows go oldest first, when the ring is full (`--replay-capacity`)
//! or when the budget asks (`evict_oldest`).

use crate::protocol::{AlertChange, Kinds, Millis, Update};
use std::{
    collections::{HashMap, VecDeque},
    mem::size_of,
    sync::Arc,
};

/// One retained update.
#[derive(Clone, Debug)]
struct Row {
    seq: u64,
    ts: Millis,
    /// The slots of the metrics the update carried, in their (name) order.
    layout: Arc<[u32]>,
    /// Their values, in the same order.
    values: Box<[f64]>,
    /// Alert changes and stated kinds, both rare: one pointer when there are none.
    rare: Option<Box<Rare>>,
    /// What this row costs (itself, its values as allocated, its slot list when it brought a
    /// new one, its alert changes), counted when it was added. The ring's spare slots are not
    /// counted: it grows by doubling but never past `capacity`, and gives slots back when the
    /// budget empties it.
    bytes: u32,
}

/// What few updates carry.
#[derive(Clone, Debug)]
struct Rare {
    alerts: Box<[AlertChange]>,
    kinds: Kinds,
}

/// A dashboard's retained updates, oldest first.
#[derive(Debug)]
pub struct UpdateLog {
    names: Vec<Arc<str>>,
    slots: HashMap<Arc<str>, u32>,
    rows: VecDeque<Row>,
    /// Rows kept at most.
    capacity: usize,
    /// Rows, names and slot lists, in bytes.
    bytes: usize,
}

/// What the allocator hands out for a request of `bytes`: size classes four to a doubling, as
/// mimalloc's (so 800 bytes of values take 896).
fn allocated(bytes: usize) -> usize {
    if bytes <= 64 {
        return bytes.next_multiple_of(8);
    }
    let step = (bytes - 1).next_power_of_two() / 8;
    bytes.next_multiple_of(step.max(8))
}

/// A name's cost: the string, its `Arc` header, and its two entries (list and map).
fn name_bytes(name: &str) -> usize {
    allocated(name.len() + 16) + size_of::<Arc<str>>() * 2 + size_of::<u32>() + 8
}

/// An alert change's cost, roughly: the struct and its strings.
fn alert_bytes(change: &AlertChange) -> usize {
    size_of::<AlertChange>() + change.rule.len() + change.metric.len() + change.message.len()
}

impl UpdateLog {
    pub fn new(capacity: usize) -> Self {
        UpdateLog {
            names: Vec::new(),
            slots: HashMap::new(),
            rows: VecDeque::new(),
            capacity: capacity.max(1),
            bytes: 0,
        }
    }

    /// Appends `update` (seqs ascending), dropping the oldest row when full. Returns the change
    /// in bytes.
    pub fn push(&mut self, update: &Update) -> isize {
        let before = self.bytes();
        let mut layout = Vec::with_capacity(update.metrics.len());
        let mut values = Vec::with_capacity(update.metrics.len());
        for (name, value) in &update.metrics {
            layout.push(self.slot(name));
            values.push(*value);
        }
        let (layout, layout_bytes) = match self.rows.back() {
            Some(last) if *last.layout == *layout => (last.layout.clone(), 0),
            _ => {
                let bytes = allocated(layout.len() * size_of::<u32>() + 16);
                (Arc::from(layout), bytes)
            }
        };
        let rare = (!update.alerts.is_empty() || !update.kinds.is_empty())
            .then(|| Box::new(Rare { alerts: update.alerts.clone().into_boxed_slice(), kinds: update.kinds.clone() }));
        let bytes = size_of::<Row>()
            + allocated(values.len() * size_of::<f64>())
            + layout_bytes
            + rare.as_ref().map_or(0, |rare| {
                size_of::<Rare>()
                    + rare.alerts.iter().map(alert_bytes).sum::<usize>()
                    + rare.kinds.keys().map(|name| name.len() + 32).sum::<usize>()
            });
        if self.rows.len() >= self.capacity {
            self.pop_oldest();
        } else if self.rows.len() == self.rows.capacity() {
            // Doubling, but never past the ring's bound (the default 4,096 rows would
            // otherwise become 8,192 slots).
            let more = self.rows.capacity().max(4).min(self.capacity - self.rows.len());
            self.rows.reserve_exact(more);
        }
        self.rows.push_back(Row {
            seq: update.seq,
            ts: update.ts,
            layout,
            values: values.into_boxed_slice(),
            rare,
            bytes: bytes as u32,
        });
        self.bytes += bytes;
        self.bytes() as isize - before as isize
    }

    /// The slot of `name`, made when new.
    fn slot(&mut self, name: &str) -> u32 {
        if let Some(slot) = self.slots.get(name) {
            return *slot;
        }
        let name: Arc<str> = Arc::from(name);
        let slot = self.names.len() as u32;
        self.bytes += name_bytes(&name);
        self.names.push(name.clone());
        self.slots.insert(name, slot);
        slot
    }

    fn pop_oldest(&mut self) {
        if let Some(row) = self.rows.pop_front() {
            self.bytes -= row.bytes as usize;
        }
    }

    /// Drops the oldest rows until `wanted` bytes are freed or one row is left (a dashboard
    /// keeps its newest update), then gives back the ring's slots if it is mostly empty.
    /// Returns the bytes freed and the rows dropped.
    pub fn evict_oldest(&mut self, wanted: usize) -> (usize, usize) {
        let (before, mut rows) = (self.bytes(), 0);
        while before - self.bytes() < wanted && self.rows.len() > 1 {
            self.pop_oldest();
            rows += 1;
        }
        if self.rows.len() < self.rows.capacity() / 4 {
            self.rows.shrink_to(self.rows.len() * 2);
        }
        (before - self.bytes(), rows)
    }

    /// Appends every update, oldest first. Returns the change in bytes.
    pub fn push_all<'u>(&mut self, updates: impl IntoIterator<Item = &'u Update>) -> isize {
        updates.into_iter().map(|update| self.push(update)).sum()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn first_seq(&self) -> Option<u64> {
        self.rows.front().map(|row| row.seq)
    }

    pub fn first_ts(&self) -> Option<Millis> {
        self.rows.front().map(|row| row.ts)
    }

    /// The index of the first row with a seq above `seq`.
    pub fn after_seq(&self, seq: u64) -> usize {
        self.rows.partition_point(|row| row.seq <= seq)
    }

    /// The index of the first row at or after `ts` (rows are in seq order, which is time
    /// order but for late updates).
    pub fn at_or_after(&self, ts: Millis) -> usize {
        self.rows.partition_point(|row| row.ts < ts)
    }

    /// The update of row `index` as it was published, for `dashboard`.
    pub fn update_at(&self, index: usize, dashboard: &str) -> Option<Update> {
        let row = self.rows.get(index)?;
        Some(Update {
            dashboard: dashboard.to_owned(),
            seq: row.seq,
            from_seq: None,
            ts: row.ts,
            metrics: row
                .layout
                .iter()
                .zip(row.values.iter())
                .map(|(slot, value)| (self.names[*slot as usize].to_string(), *value))
                .collect(),
            kinds: row.rare.as_ref().map(|rare| rare.kinds.clone()).unwrap_or_default(),
            alerts: row.rare.as_ref().map(|rare| rare.alerts.to_vec()).unwrap_or_default(),
        })
    }

    /// The rows from `index` on as (time, values by name), without making updates: what a
    /// snapshot's history window and the alert rules' replay read.
    pub fn rows_from(
        &self,
        index: usize,
    ) -> impl Iterator<Item = (Millis, impl Iterator<Item = (&str, f64)> + '_)> + '_ {
        self.rows.range(index.min(self.rows.len())..).map(move |row| {
            let pairs = row
                .layout
                .iter()
                .zip(row.values.iter())
                .map(move |(slot, value)| (&*self.names[*slot as usize], *value));
            (row.ts, pairs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn update(seq: u64, ts: Millis, metrics: &[(&str, f64)]) -> Update {
        Update {
            dashboard: "d".into(),
            seq,
            from_seq: None,
            ts,
            metrics: metrics.iter().map(|(name, value)| ((*name).to_owned(), *value)).collect(),
            kinds: Default::default(),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn updates_come_back_as_published_and_the_ring_stays_bounded() {
        let mut log = UpdateLog::new(3);
        for seq in 1..=5 {
            log.push(&update(seq, seq as Millis * 1000, &[("a", seq as f64), ("b", -0.0)]));
        }
        assert_eq!((log.len(), log.first_seq()), (3, Some(3)));
        let back = log.update_at(0, "d").unwrap();
        assert_eq!(back, update(3, 3000, &[("a", 3.0), ("b", -0.0)]));
        assert!(back.metrics["b"].is_sign_negative(), "negative zero stays negative");
        assert_eq!(log.after_seq(3), 1);
        assert_eq!(log.at_or_after(4500), 2);
        let window: Vec<Vec<(&str, f64)>> = log.rows_from(1).map(|(_, pairs)| pairs.collect()).collect();
        assert_eq!(window, vec![vec![("a", 4.0), ("b", -0.0)], vec![("a", 5.0), ("b", -0.0)]]);
    }

    #[test]
    fn consecutive_updates_with_the_same_metrics_share_their_slot_list() {
        let mut log = UpdateLog::new(100);
        let hundred: Vec<(String, f64)> = (0..100).map(|i| (format!("metric_{i}"), i as f64)).collect();
        let metrics: Vec<(&str, f64)> = hundred.iter().map(|(name, value)| (name.as_str(), *value)).collect();
        log.push(&update(1, 0, &metrics));
        let after_first = log.bytes();
        let second = log.push(&update(2, 1000, &metrics));
        assert_eq!(second as usize, size_of::<Row>() + allocated(800), "a repeat row costs its values and itself");
        assert_eq!(allocated(800), 896);
        assert!(Arc::ptr_eq(&log.rows[0].layout, &log.rows[1].layout));
        assert!(after_first > 800 + 100 * 4, "the first row paid for the names and the slot list");
        // About nine and a half bytes a value at 100 values an update.
        assert!((second as f64) / 100.0 < 10.0);
    }

    #[test]
    fn eviction_frees_what_the_rows_cost_and_keeps_the_newest() {
        let mut log = UpdateLog::new(10);
        for seq in 1..=10 {
            log.push(&update(seq, 0, &[("x", 1.0)]));
        }
        let before = log.bytes();
        let (freed, rows) = log.evict_oldest(1);
        assert_eq!(rows, 1);
        assert_eq!(log.bytes(), before - freed);
        assert_eq!(log.evict_oldest(usize::MAX).1, 8, "the newest row stays");
        assert_eq!(log.first_seq(), Some(10));
    }

    #[test]
    fn the_ring_never_reserves_past_its_bound_and_gives_slots_back_when_emptied() {
        let mut log = UpdateLog::new(600);
        for seq in 1..=700 {
            log.push(&update(seq, 0, &[("x", 1.0)]));
        }
        assert_eq!(log.len(), 600);
        assert!(log.rows.capacity() <= 600, "{} slots for 600 rows", log.rows.capacity());
        log.evict_oldest(usize::MAX);
        assert_eq!(log.len(), 1);
        assert!(log.rows.capacity() <= 2, "{} slots left for one row", log.rows.capacity());
    }

    proptest! {
        /// Whatever the values (repeats, jumps, negative zero, subnormals, integers past 2^53,
        /// infinities are refused before), each update comes back bit for bit.
        #[test]
        fn every_value_comes_back_bit_for_bit(
            rows in prop::collection::vec(prop::collection::btree_map("[a-e]", prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO, 0..5), 1..40),
        ) {
            let mut log = UpdateLog::new(64);
            let published: Vec<Update> = rows.iter().enumerate().map(|(i, metrics)| Update {
                dashboard: "d".into(), seq: i as u64 + 1, from_seq: None, ts: i as Millis,
                metrics: metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(), kinds: Default::default(), alerts: Vec::new(),
            }).collect();
            for update in &published {
                log.push(update);
            }
            for (index, update) in published.iter().enumerate() {
                let back = log.update_at(index, "d").unwrap();
                prop_assert_eq!(back.metrics.len(), update.metrics.len());
                for (name, value) in &update.metrics {
                    prop_assert_eq!(back.metrics[name].to_bits(), value.to_bits());
                }
            }
        }
    }
}
