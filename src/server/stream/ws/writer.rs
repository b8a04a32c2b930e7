//! What a connection writes, in its one task: `Feeds`, the connection's subscriptions polled
//! in turn (no forwarding task or channel per subscription; those on the direct path are
//! written by their groups, `direct`), and `Batch`, the frames ready
//! at once written with vectored writes: an update's shared header and JSON (never copied per
//! socket), replies, pings and tungstenite's control frames, each whole.
//!
//! A batch holds at most `BATCH_FRAMES` feed frames and `BATCH_BYTES` (a larger frame goes
//! alone), and the feeds are not polled while one is being written: that is the
//! backpressure. A slow socket leaves its feeds behind the live channel, and they resync with
//! a snapshot (PROTOCOL.md rule 4).

use super::direct::{Joined, Outbox, Writers};
use crate::protocol::Position;
use crate::server::{
    broker::Frame,
    stream::feed::Feed,
    telemetry::{GaugeGuard, Telemetry},
};
use axum::body::Bytes;
use futures::{stream::BoxStream, StreamExt};
use std::{
    future::poll_fn,
    io::{self, IoSlice},
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};
use tokio::{
    io::{AsyncWrite, AsyncWriteExt},
    sync::broadcast,
};

/// Feed frames written in one batch at most.
pub const BATCH_FRAMES: usize = 64;

/// Bytes of feed frames in one batch at most (a larger frame, a big snapshot, goes alone).
pub const BATCH_BYTES: usize = 256 * 1024;

/// Slices one write hands the kernel at most: a full batch's frames (two each) and a few of
/// the connection's own; what is left goes in the next write.
const MAX_SLICES: usize = 2 * BATCH_FRAMES + 8;

/// One subscription: its feed's frames, in order, or a group writing them (`direct`).
struct Subscribed {
    dashboard: String,
    source: Source,
    /// Whether it handed out its first frame (every snapshot after it is a resync).
    started: bool,
    _counted: GaugeGuard,
}

enum Source {
    Feed(BoxStream<'static, Frame>),
    /// Its start queued on the connection; joins a group once the connection writes it.
    Joining {
        live: broadcast::Receiver<Frame>,
        held: u64,
        epoch: String,
    },
    Direct {
        joined: Joined,
        epoch: String,
    },
}

/// What a connection needs for the direct path: its socket as groups share it, and the groups.
pub struct DirectPath {
    pub outbox: Arc<Outbox>,
    pub writers: Arc<Writers>,
}

/// A connection's subscriptions, one per dashboard, polled in turn so that a busy dashboard
/// cannot starve a quiet one.
pub struct Feeds {
    subscribed: Vec<Subscribed>,
    /// Where the next poll starts.
    turn: usize,
    telemetry: Arc<Telemetry>,
    direct: Option<DirectPath>,
}

impl Feeds {
    pub fn new(telemetry: Arc<Telemetry>, direct: Option<DirectPath>) -> Feeds {
        Feeds { subscribed: Vec::new(), turn: 0, telemetry, direct }
    }

    /// Subscribes to `feed`'s dashboard, replacing a subscription to it. On the direct path
    /// (an unthrottled feed of a connection that has one), the start goes into `out` and the
    /// rest is a group's to write (`join_waiting`).
    pub fn insert(&mut self, feed: Feed, out: &mut Batch) {
        let dashboard = feed.dashboard().to_owned();
        self.remove(&dashboard);
        if self.direct.is_some() && !feed.is_throttled() {
            let start = feed.into_direct();
            start.start.into_iter().for_each(|frame| out.push_frame(frame));
            let source = Source::Joining { live: start.live, held: start.held, epoch: start.epoch };
            return self.push(dashboard, source, true);
        }
        self.push_feed(dashboard, feed, false);
    }

    /// Subscribes to `feed`'s dashboard on the feed itself, never the direct path (what a
    /// group gave back stays with its feed; its snapshot, if one comes, is a resync).
    pub fn insert_feed(&mut self, feed: Feed) {
        let dashboard = feed.dashboard().to_owned();
        self.remove(&dashboard);
        self.push_feed(dashboard, feed, true);
    }

    fn push_feed(&mut self, dashboard: String, feed: Feed, started: bool) {
        let frames = futures::stream::unfold(feed, |mut feed| async move {
            let frame = feed.next().await;
            if frame.is_none() {
                tracing::debug!(dashboard = feed.dashboard(), "feed ended");
            }
            Some((frame?, feed))
        })
        .boxed();
        self.push(dashboard, Source::Feed(frames), started);
    }

    fn push(&mut self, dashboard: String, source: Source, started: bool) {
        let counted = GaugeGuard::new(&self.telemetry.subscriptions);
        self.subscribed.push(Subscribed { dashboard, source, started, _counted: counted });
    }

    /// Hands the subscriptions whose start is queued to their groups: called when the
    /// connection has claimed its socket for what it queued (or queued nothing), so a group's
    /// frames follow the start.
    pub fn join_waiting(&mut self) {
        let Some(direct) = &self.direct else { return };
        for subscribed in &mut self.subscribed {
            if let Source::Joining { .. } = subscribed.source {
                let Source::Joining { live, held, epoch } =
                    std::mem::replace(&mut subscribed.source, Source::Feed(futures::stream::empty().boxed()))
                else {
                    unreachable!()
                };
                let joined = direct.writers.join(&direct.outbox, &subscribed.dashboard, live, held, &self.telemetry);
                subscribed.source = Source::Direct { joined, epoch };
            }
        }
    }

    /// A subscription a group gave back: its dashboard and the position its client holds,
    /// for the feed that takes over. `None` if it ended meanwhile.
    pub fn given_back(&mut self, id: u64, held: u64) -> Option<(String, Position)> {
        let at = self
            .subscribed
            .iter()
            .position(|subscribed| matches!(&subscribed.source, Source::Direct { joined, .. } if joined.id() == id))?;
        let subscribed = self.subscribed.remove(at);
        let Source::Direct { epoch, .. } = subscribed.source else { unreachable!() };
        Some((subscribed.dashboard, Position { epoch, seq: held }))
    }

    /// Ends the subscription to `dashboard`, if any.
    pub fn remove(&mut self, dashboard: &str) {
        self.subscribed.retain(|subscribed| subscribed.dashboard != dashboard);
    }

    pub fn dashboards(&self) -> impl Iterator<Item = &str> {
        self.subscribed.iter().map(|subscribed| subscribed.dashboard.as_str())
    }

    /// The next frame of any subscription (a subscription whose dashboard ended is dropped);
    /// pending while there is none.
    pub async fn next(&mut self) -> Frame {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// A frame ready now, without waiting.
    pub fn ready(&mut self) -> Option<Frame> {
        match self.poll_next(&mut Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(frame) => Some(frame),
            Poll::Pending => None,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Frame> {
        let mut index = 0;
        while index < self.subscribed.len() {
            let at = (self.turn + index) % self.subscribed.len();
            let Source::Feed(frames) = &mut self.subscribed[at].source else {
                index += 1;
                continue;
            };
            match frames.poll_next_unpin(cx) {
                Poll::Ready(Some(frame)) => {
                    let subscribed = &mut self.subscribed[at];
                    if frame.is_snapshot && subscribed.started {
                        self.telemetry.resync_snapshots.inc();
                    }
                    subscribed.started = true;
                    self.turn = at + 1;
                    return Poll::Ready(frame);
                }
                Poll::Ready(None) => {
                    self.subscribed.remove(at);
                }
                Poll::Pending => index += 1,
            }
        }
        Poll::Pending
    }
}

/// A piece of a batch: a feed's frame (its header and JSON, shared) or bytes of a frame made
/// for this connection alone.
enum Piece {
    Frame(Frame),
    Own(Bytes),
}

impl Piece {
    fn parts(&self) -> [&[u8]; 2] {
        match self {
            Piece::Frame(frame) => [frame.ws_header.as_bytes(), frame.json.as_bytes()],
            Piece::Own(bytes) => [bytes, &[]],
        }
    }
}

/// Frames to write together, and how far the writing got: a write that stopped half way (the
/// socket full, or the connection's loop woken by something else) resumes where it stopped.
#[derive(Default)]
pub struct Batch {
    pieces: Vec<Piece>,
    /// Pieces written whole, and bytes of the next one written.
    done: usize,
    offset: usize,
    /// Feed frames in it and their bytes (the batch's limits), and protocol messages (feed
    /// frames and replies, counted as sent once written).
    frames: usize,
    bytes: usize,
    messages: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.pieces.len() == self.done
    }

    /// Whether it holds as many feed frames or bytes as a batch may.
    pub fn is_full(&self) -> bool {
        self.frames >= BATCH_FRAMES || self.bytes >= BATCH_BYTES
    }

    /// Whether writing has started (a frame may be half on the wire).
    pub fn has_started(&self) -> bool {
        self.done > 0 || self.offset > 0
    }

    pub fn push_frame(&mut self, frame: Frame) {
        self.frames += 1;
        self.bytes += frame.json.len();
        self.messages += 1;
        self.pieces.push(Piece::Frame(frame));
    }

    /// Puts `frames` ahead of what the batch holds (none of it written yet), `offset` bytes
    /// of the first already on the wire.
    pub fn put_first(&mut self, frames: Vec<Frame>, offset: usize) {
        debug_assert!(!self.has_started());
        let mut first = Batch::default();
        frames.into_iter().for_each(|frame| first.push_frame(frame));
        first.offset = offset;
        first.pieces.append(&mut self.pieces);
        (first.frames, first.bytes, first.messages) =
            (first.frames + self.frames, first.bytes + self.bytes, first.messages + self.messages);
        *self = first;
    }

    /// A protocol message for this connection alone (a reply).
    pub fn push_message(&mut self, frame: Bytes) {
        self.messages += 1;
        self.pieces.push(Piece::Own(frame));
    }

    /// A control frame (ping, pong, close).
    pub fn push_control(&mut self, frame: Bytes) {
        self.pieces.push(Piece::Own(frame));
    }

    /// Moves everything of `other` after what this batch holds.
    pub fn append(&mut self, other: &mut Batch) {
        debug_assert!(!other.has_started());
        self.pieces.append(&mut other.pieces);
        (self.frames, self.bytes, self.messages) =
            (self.frames + other.frames, self.bytes + other.bytes, self.messages + other.messages);
        *other = Batch::default();
    }

    /// One vectored write of what is left (its first `MAX_SLICES` slices); `true` once all of
    /// it is written (the batch is then empty, its messages counted as sent). Cancel-safe:
    /// progress is recorded only for bytes the socket took.
    pub async fn write_once<W: AsyncWrite + Unpin>(
        &mut self,
        socket: &mut W,
        telemetry: &Telemetry,
    ) -> io::Result<bool> {
        // The slices are made at each poll, on the poll's stack: held across an await they
        // would live in every connection's task, 2 KB each (they did).
        let written = poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = self.slices(&mut slices);
            if count == 0 {
                return Poll::Ready(Ok(0)); // nothing left (the last words of a connection may be none)
            }
            match ready!(Pin::new(&mut *socket).poll_write_vectored(cx, &slices[..count])) {
                Ok(0) => Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero))),
                done => Poll::Ready(done),
            }
        })
        .await?;
        self.advance(written);
        if !self.is_empty() {
            return Ok(false);
        }
        telemetry.messages_sent.inc_by(self.messages);
        *self = Batch::default();
        Ok(true)
    }

    /// Fills `slices` with what is left to write, from where the writing got; how many.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        let mut skip = self.offset;
        for part in self.pieces[self.done..].iter().flat_map(Piece::parts) {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            slices[count] = IoSlice::new(&part[skip..]);
            skip = 0;
            count += 1;
            if count == slices.len() {
                break;
            }
        }
        count
    }

    /// Records `written` more bytes as taken by the socket.
    fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let length: usize = self.pieces[self.done].parts().iter().map(|part| part.len()).sum();
            let left = length - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.done += 1;
            self.offset = 0;
        }
    }

    /// Writes all of it (used for the last frames of a connection, under a timeout).
    pub async fn write_all<W: AsyncWrite + Unpin>(&mut self, socket: &mut W, telemetry: &Telemetry) -> io::Result<()> {
        while !self.write_once(socket, telemetry).await? {}
        socket.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Metrics;
    use crate::server::broker::{Broker, HubLimits, MemoryBroker, Publication};
    use proptest::prelude::*;
    use std::collections::HashMap;

    const DASHBOARDS: [&str; 3] = ["a", "b", "c"];

    #[derive(Clone, Debug)]
    enum Step {
        /// An update on one dashboard.
        Publish(usize),
        /// The writer takes up to this many frames that are ready.
        Take(usize),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![3 => (0..3usize).prop_map(Step::Publish), 1 => (1..8usize).prop_map(Step::Take)],
            1..120,
        )
    }

    proptest! {
        /// However updates of several dashboards interleave with the writer's turns, each
        /// dashboard's frames come out in seq order, each once, none missing.
        #[test]
        fn interleaved_feeds_keep_each_dashboards_seq_order(steps in steps()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            runtime.block_on(async move {
                let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(HubLimits::default()));
                let publish = |dashboard: usize| {
                    let metrics: Metrics = [("x".to_string(), 1.0)].into();
                    vec![Publication::new(DASHBOARDS[dashboard], 0, metrics)]
                };
                let mut feeds = Feeds::new(Arc::new(Telemetry::new()), None);
                let mut published: HashMap<&str, u64> = HashMap::new();
                for (index, dashboard) in DASHBOARDS.iter().enumerate() {
                    broker.publish(publish(index)).await.unwrap();
                    published.insert(dashboard, 1);
                    feeds.insert(Feed::open(broker.clone(), dashboard, None).await.unwrap(), &mut Batch::default());
                }
                let mut held: HashMap<String, u64> = HashMap::new();
                let take = |frame: Frame, held: &mut HashMap<String, u64>| {
                    let dashboard = if frame.is_snapshot {
                        serde_json::from_str::<serde_json::Value>(&frame.json).unwrap()["dashboard"].as_str().unwrap().to_owned()
                    } else {
                        frame.logged().dashboard.clone()
                    };
                    let before = held.insert(dashboard.clone(), frame.seq);
                    match before {
                        None => assert!(frame.is_snapshot, "{dashboard} starts with its snapshot"),
                        Some(before) => assert_eq!(frame.seq, before + 1, "{dashboard}: in order, once, none missing"),
                    }
                };
                for step in steps {
                    match step {
                        Step::Publish(dashboard) => {
                            broker.publish(publish(dashboard)).await.unwrap();
                            *published.get_mut(DASHBOARDS[dashboard]).unwrap() += 1;
                        }
                        Step::Take(count) => {
                            for _ in 0..count {
                                let Some(frame) = feeds.ready() else { break };
                                take(frame, &mut held);
                            }
                        }
                    }
                }
                while let Some(frame) = feeds.ready() {
                    take(frame, &mut held);
                }
                for dashboard in DASHBOARDS {
                    assert_eq!(held.get(dashboard), published.get(dashboard), "{dashboard} reached its last seq");
                }
            });
        }
    }
}
