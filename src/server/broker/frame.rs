//! `Frame`: a server message serialized once and shared by every subscriber of a dashboard,
//! whichever transport carries it. Brokers make frames as updates are committed; the feed
//! makes them for resync snapshots and merged (throttled) updates. Cloning one is a reference
//! count, never a copy of its JSON.

use crate::protocol::{AlertChange, Kinds, Metrics, Millis, ServerMessage, Snapshot, Update};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::sync::Arc;

/// A message serialized once and shared by every subscriber (cloning is a reference count).
#[derive(Clone, Debug)]
pub struct Frame {
    /// The seq this message brings its reader to.
    pub seq: u64,
    /// A snapshot replaces the reader's state; an update extends it.
    pub is_snapshot: bool,
    /// The JSON text of the `ServerMessage`.
    pub json: Utf8Bytes,
    /// The update itself, for feeds that merge updates (throttled subscriptions) and for the
    /// broker's log (snapshots and replays are built from it).
    pub update: Option<Arc<Update>>,
}

/// `ServerMessage`'s encoding of the two messages frames carry, from borrowed values: the
/// same JSON as `ServerMessage::Update(update).to_json()` without cloning the update into one.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Borrowed<'a> {
    Snapshot(&'a Snapshot),
    Update(&'a Update),
}

fn to_json(message: Borrowed<'_>) -> Utf8Bytes {
    // All keys are strings and all numbers finite (ingest refuses the rest): cannot fail.
    serde_json::to_string(&message).expect("server messages always serialize").into()
}

/// The part of a new update's JSON that does not depend on its seq (`"ts":...,"metrics":{...}}`,
/// nearly all of it), serialized before the seq is assigned: outside the broker's sequencer,
/// where concurrent publishers serialize in parallel instead of one after the other.
pub struct UpdateTail(String);

impl UpdateTail {
    /// The tail of `update` as `Update` serializes it (its dashboard and seq aside).
    pub fn of(update: &Update) -> Self {
        UpdateTail::new(update.ts, &update.metrics, &update.kinds, &update.alerts)
    }

    pub fn new(ts: Millis, metrics: &Metrics, kinds: &Kinds, alerts: &[AlertChange]) -> Self {
        #[derive(Serialize)]
        struct Tail<'a> {
            ts: Millis,
            metrics: &'a Metrics,
            #[serde(skip_serializing_if = "Kinds::is_empty")]
            kinds: &'a Kinds,
            #[serde(skip_serializing_if = "<[AlertChange]>::is_empty")]
            alerts: &'a [AlertChange],
        }
        UpdateTail(serde_json::to_string(&Tail { ts, metrics, kinds, alerts }).expect("numbers are finite"))
    }

    /// The JSON after its opening brace, which is the update object's own.
    pub fn after_brace(&self) -> &str {
        &self.0[1..]
    }
}

impl Frame {
    /// An update frame from its JSON as another instance published it (Redis' log and
    /// pub/sub), kept as received: the same bytes go to every subscriber.
    pub(crate) fn received(json: String) -> Option<Frame> {
        let ServerMessage::Update(update) = serde_json::from_str(&json).ok()? else { return None };
        Some(Frame { seq: update.seq, is_snapshot: false, json: json.into(), update: Some(Arc::new(update)) })
    }

    /// An update's frame from its tail made beforehand: the same JSON as `Frame::update`, for
    /// an update that merges nothing (no `fromSeq`). One that changes alerts (rare) is
    /// serialized whole, its changes after the values.
    pub fn update_with_tail(update: Arc<Update>, tail: &UpdateTail) -> Frame {
        debug_assert!(update.from_seq.is_none(), "a tail has no fromSeq");
        if !update.alerts.is_empty() {
            return Frame::update(update);
        }
        let dashboard = serde_json::to_string(&update.dashboard).expect("strings serialize");
        let seq = update.seq.to_string();
        let mut json = String::with_capacity(40 + dashboard.len() + seq.len() + tail.0.len() - 1);
        json.push_str(r#"{"type":"update","dashboard":"#);
        json.push_str(&dashboard);
        json.push_str(r#","seq":"#);
        json.push_str(&seq);
        json.push(',');
        // The tail's own opening brace is this object's.
        json.push_str(tail.after_brace());
        Frame { seq: update.seq, is_snapshot: false, json: json.into(), update: Some(update) }
    }

    /// An update's frame; it keeps the update for merging and for the broker's log.
    pub fn update(update: Arc<Update>) -> Frame {
        let json = to_json(Borrowed::Update(&update));
        Frame { seq: update.seq, is_snapshot: false, json, update: Some(update) }
    }

    /// A snapshot's frame.
    pub fn snapshot(snapshot: &Snapshot) -> Frame {
        Frame { seq: snapshot.seq, is_snapshot: true, json: to_json(Borrowed::Snapshot(snapshot)), update: None }
    }

    /// The update this frame carries; every frame in a broker's log has one.
    pub fn logged(&self) -> &Update {
        self.update.as_deref().expect("the log holds update frames")
    }

    /// The same, shared.
    pub fn logged_arc(&self) -> Arc<Update> {
        self.update.clone().expect("the log holds update frames")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HistoryWindow, ServerMessage};

    fn update_for_tail() -> Update {
        Update {
            dashboard: "ops-1".into(),
            seq: 12_345,
            from_seq: None,
            ts: 1_700_000_000_123,
            metrics: Metrics::new(),
            kinds: Default::default(),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn frames_carry_the_same_json_as_server_messages() {
        let update = Update { seq: 7, from_seq: Some(5), metrics: [("x".into(), 2.5)].into(), ..update_for_tail() };
        let frame = Frame::update(Arc::new(update.clone()));
        assert_eq!((frame.seq, frame.is_snapshot), (7, false));
        assert_eq!(frame.json.as_str(), ServerMessage::Update(update).to_json());
        let new =
            Update { from_seq: None, metrics: [("a.b".into(), -0.5), ("x".into(), 1e21)].into(), ..update_for_tail() };
        let tail = UpdateTail::of(&new);
        let spliced = Frame::update_with_tail(Arc::new(new.clone()), &tail);
        assert_eq!(spliced.json.as_str(), ServerMessage::Update(new.clone()).to_json(), "spliced JSON is the same");
        // An update that changes alerts carries them after its values.
        let change = crate::protocol::AlertChange {
            rule: "hot".into(),
            severity: crate::protocol::Severity::Warning,
            state: crate::protocol::AlertPhase::Firing,
            metric: "x".into(),
            value: Some(1e21),
            threshold: Some(10.0),
            since: 1,
            message: "x above 10".into(),
        };
        let alerting = Update { alerts: vec![change], ..new };
        let frame = Frame::update_with_tail(Arc::new(alerting.clone()), &tail);
        assert_eq!(frame.json.as_str(), ServerMessage::Update(alerting).to_json());
        assert!(frame.json.as_str().ends_with(r#""message":"x above 10"}]}"#), "{}", frame.json.as_str());

        let snapshot = Snapshot {
            dashboard: "a".into(),
            title: "A".into(),
            epoch: "e".into(),
            seq: 3,
            ts: 9,
            metrics: [("x".into(), 1.0)].into(),
            history: HistoryWindow::default(),
            definitions: Vec::new(),
            alerts: Vec::new(),
        };
        let frame = Frame::snapshot(&snapshot);
        assert_eq!((frame.seq, frame.is_snapshot), (3, true));
        assert_eq!(frame.json.as_str(), ServerMessage::Snapshot(snapshot).to_json());
    }
}
