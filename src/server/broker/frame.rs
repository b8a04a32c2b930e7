//! `Frame`: a server message serialized once and shared by every subscriber of a dashboard,
//! whichever transport carries it. Brokers make frames as updates are committed; the feed
//! makes them for resync snapshots and merged (throttled) updates. Cloning one is a reference
//! count, never a copy of its JSON.

use crate::protocol::{Snapshot, Update};
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

impl Frame {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HistoryWindow, ServerMessage};

    #[test]
    fn frames_carry_the_same_json_as_server_messages() {
        let update =
            Update { dashboard: "a".into(), seq: 7, from_seq: Some(5), ts: 1, metrics: [("x".into(), 2.5)].into() };
        let frame = Frame::update(Arc::new(update.clone()));
        assert_eq!((frame.seq, frame.is_snapshot), (7, false));
        assert_eq!(frame.json.as_str(), ServerMessage::Update(update).to_json());

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
