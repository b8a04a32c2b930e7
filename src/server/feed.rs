//! One subscriber's view of one dashboard, shared by every transport: the frames to send, in
//! order, with PROTOCOL.md rules 2 to 4 enforced in one place. Duplicates are skipped; a gap
//! (the subscriber fell behind the live channel and updates were dropped) is healed with one
//! fresh snapshot, so a slow reader costs a bounded buffer and still ends at the true state.

use super::broker::{Broker, BrokerError, Frame};
use super::hub::snapshot_frame;
use crate::protocol::Position;
use std::{collections::VecDeque, sync::Arc};
use tokio::sync::broadcast::{self, error::RecvError};

pub struct Feed {
    broker: Arc<dyn Broker>,
    dashboard: String,
    /// Frames decided but not yet handed out: the subscription's start, or a resync snapshot.
    pending: VecDeque<Frame>,
    live: broadcast::Receiver<Frame>,
    /// The epoch of the frames handed out.
    epoch: String,
    /// The seq the subscriber holds after the last frame handed out.
    held: u64,
}

impl Feed {
    /// Subscribes to `dashboard`, resuming after `since` when the broker can.
    pub async fn open(
        broker: Arc<dyn Broker>,
        dashboard: &str,
        since: Option<&Position>,
    ) -> Result<Feed, BrokerError> {
        let subscription = broker.subscribe(dashboard, since).await?;
        Ok(Feed {
            broker,
            dashboard: dashboard.to_owned(),
            pending: subscription.start.into(),
            live: subscription.live,
            epoch: subscription.epoch,
            held: since.map_or(0, |since| since.seq),
        })
    }

    pub fn dashboard(&self) -> &str {
        &self.dashboard
    }

    /// Where the subscriber stands after the last frame handed out.
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch.clone(), seq: self.held }
    }

    /// The next frame to send, or `None` when the dashboard's stream has ended.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            let frame = match self.pending.pop_front() {
                Some(frame) => frame,
                None => match self.live.recv().await {
                    Ok(frame) => frame,
                    // The receiver skips ahead; the gap below resyncs.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            };
            if frame.is_snapshot {
                self.held = frame.seq;
                return Some(frame);
            }
            if frame.seq <= self.held {
                continue;
            }
            if frame.seq != self.held + 1 {
                let snapshot = self.broker.snapshot(&self.dashboard).await.ok()?;
                self.epoch.clone_from(&snapshot.epoch);
                self.pending.push_back(snapshot_frame(&snapshot));
                continue;
            }
            self.held = frame.seq;
            return Some(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Metrics;
    use crate::server::broker::Publication;
    use crate::server::hub::{HubLimits, MemoryBroker};

    async fn publish(broker: &dyn Broker, count: usize) {
        for i in 0..count {
            let metrics: Metrics = [("x".to_string(), i as f64)].into();
            let publication = Publication { dashboard: "a".into(), ts: i as i64, metrics };
            broker.publish(vec![publication]).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_reader_that_fell_behind_gets_one_snapshot_then_continues() {
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(HubLimits {
            replay_capacity: 64,
            history_window_ms: 1000,
            live_capacity: 4,
        }));
        publish(&*broker, 1).await;
        let mut feed = Feed::open(broker.clone(), "a", None).await.unwrap();
        let first = feed.next().await.unwrap();
        assert!(first.is_snapshot);
        assert_eq!(first.seq, 1);
        // 20 updates into a live buffer of 4: the reader lags.
        publish(&*broker, 20).await;
        let resync = feed.next().await.unwrap();
        assert!(resync.is_snapshot, "a lagging reader is resynced with a snapshot");
        assert_eq!(resync.seq, 21, "the snapshot carries the true latest state");
        publish(&*broker, 1).await;
        let next = feed.next().await.unwrap();
        assert_eq!((next.seq, next.is_snapshot), (22, false));
    }
}
