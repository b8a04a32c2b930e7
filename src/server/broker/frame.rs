//! `Frame`: a server message serialized once and shared by every subscriber of a dashboard,
//! whichever transport carries it. Brokers make frames as updates are committed; the feed
//! makes them for resync snapshots and merged (throttled) updates. Cloning one is a reference
//! count, never a copy of its JSON. A frame carries its WebSocket header too (`WsHeader`):
//! server frames are unmasked, so header and JSON are the same bytes for every socket.

use crate::protocol::{AlertChange, Kinds, Metrics, Millis, ServerMessage, Snapshot, Update};
use axum::{body::Bytes, extract::ws::Utf8Bytes};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

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
    /// The header of the WebSocket text frame whose payload is `json`.
    pub ws_header: WsHeader,
    /// The frame as a Server-Sent Event, made by its first SSE subscriber for all of them.
    sse: Arc<OnceLock<Bytes>>,
}

/// The header of a server's WebSocket frame (RFC 6455 5.2): final, the opcode, unmasked, the
/// payload's length in 7, 16 or 64 bits. At most 10 bytes, kept inline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WsHeader {
    bytes: [u8; 10],
    len: u8,
}

impl WsHeader {
    pub const TEXT: u8 = 0x1;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;

    /// A final frame of `opcode` carrying `payload` bytes.
    pub fn new(opcode: u8, payload: usize) -> WsHeader {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x80 | opcode;
        let len = if payload < 126 {
            bytes[1] = payload as u8;
            2
        } else if let Ok(short) = u16::try_from(payload) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload as u64).to_be_bytes());
            10
        };
        WsHeader { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
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
    fn new(seq: u64, is_snapshot: bool, json: Utf8Bytes, update: Option<Arc<Update>>) -> Frame {
        let ws_header = WsHeader::new(WsHeader::TEXT, json.len());
        Frame { seq, is_snapshot, json, update, ws_header, sse: Arc::default() }
    }

    /// The frame as a Server-Sent Event: `event:` snapshot or update, `id:` the position it
    /// brings its reader to in `epoch` (a frame belongs to one epoch), `data:` its JSON. Made
    /// once, by its first SSE subscriber; the others share the bytes.
    pub fn sse_event(&self, epoch: &str) -> Bytes {
        self.sse
            .get_or_init(|| {
                let kind = if self.is_snapshot { "snapshot" } else { "update" };
                let mut event = format!("event: {kind}\nid: {epoch}:{}\n", self.seq).into_bytes();
                event.reserve(self.json.len() + 8);
                // Serialized JSON has no line breaks; one that came from elsewhere would still
                // be read whole, a `data:` line per line.
                for line in self.json.as_str().split('\n') {
                    event.extend_from_slice(b"data: ");
                    event.extend_from_slice(line.as_bytes());
                    event.push(b'\n');
                }
                event.push(b'\n');
                event.into()
            })
            .clone()
    }

    /// An update frame from its JSON as another instance published it (Redis' log and
    /// pub/sub), kept as received: the same bytes go to every subscriber.
    pub(crate) fn received(json: String) -> Option<Frame> {
        let ServerMessage::Update(update) = serde_json::from_str(&json).ok()? else { return None };
        Some(Frame::new(update.seq, false, json.into(), Some(Arc::new(update))))
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
        Frame::new(update.seq, false, json.into(), Some(update))
    }

    /// An update's frame; it keeps the update for merging and for the broker's log.
    pub fn update(update: Arc<Update>) -> Frame {
        let json = to_json(Borrowed::Update(&update));
        Frame::new(update.seq, false, json, Some(update))
    }

    /// A snapshot's frame.
    pub fn snapshot(snapshot: &Snapshot) -> Frame {
        Frame::new(snapshot.seq, true, to_json(Borrowed::Snapshot(snapshot)), None)
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
    fn websocket_headers_are_the_bytes_tungstenite_writes() {
        use tungstenite::protocol::frame::{
            coding::{Data, OpCode},
            Frame as WireFrame,
        };
        for size in [0, 1, 125, 126, 127, 65_535, 65_536, 300_000] {
            let payload = vec![b'x'; size];
            let mut wire = Vec::new();
            WireFrame::message(payload.clone(), OpCode::Data(Data::Text), true).format(&mut wire).unwrap();
            let header = WsHeader::new(WsHeader::TEXT, size);
            assert_eq!(header.as_bytes(), &wire[..wire.len() - size], "{size} bytes");
        }
        let frame = Frame::update(Arc::new(update_for_tail()));
        assert_eq!(frame.ws_header, WsHeader::new(WsHeader::TEXT, frame.json.len()), "made with the frame");
    }

    #[test]
    fn a_frame_is_one_server_sent_event_made_once() {
        let frame = Frame::update(Arc::new(update_for_tail()));
        let event = frame.sse_event("e1");
        let text = std::str::from_utf8(&event).unwrap();
        assert_eq!(text, format!("event: update\nid: e1:12345\ndata: {}\n\n", frame.json.as_str()));
        let shared = frame.clone().sse_event("e1");
        assert_eq!(shared.as_ptr(), event.as_ptr(), "every subscriber sends the same bytes");
        let mut broken = frame.clone();
        broken.json = "{\n\"a\":1}".into();
        broken.sse = Arc::default();
        assert_eq!(&broken.sse_event("e")[..], b"event: update\nid: e:12345\ndata: {\ndata: \"a\":1}\n\n");
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
