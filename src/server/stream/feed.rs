//! One subscriber's view of one dashboard, shared by every transport: the frames to send, in
//! order, with PROTOCOL.md rules 2 to 4 enforced in one place. Duplicates are skipped; a gap
//! (the subscriber fell behind the live channel and updates were dropped) is healed with one
//! fresh snapshot, so a slow reader costs a bounded buffer and still ends at the true state.
//! A throttled feed (`maxHz`) holds updates for the rest of its interval and merges them into
//! one, marked `fromSeq..=seq`, with the latest value of each metric.

use crate::model::sequence::{continuity, Continuity};
use crate::protocol::{Position, Update};
use crate::server::broker::{Broker, BrokerError, Frame};
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::Instant,
};

/// The fastest throttle (`maxHz` above 1000 is served at 1000) and the slowest a subscription
/// may ask for (one frame an hour).
const FASTEST_THROTTLE: Duration = Duration::from_millis(1);
const SLOWEST_THROTTLE: Duration = Duration::from_secs(3600);

/// The interval `maxHz` asks for: at least 1 ms; a `maxHz` that is not a number of at least
/// one per hour is refused with what it should be (never a panic: `1e-20` would be an
/// interval past what a `Duration` holds).
pub fn throttle_for(max_hz: f64) -> Result<Duration, String> {
    let slowest = 1.0 / SLOWEST_THROTTLE.as_secs_f64();
    if !(max_hz.is_finite() && max_hz >= slowest) {
        return Err(format!("maxHz must be a number of at least {slowest:.6} (one per hour), got {max_hz}"));
    }
    Ok(Duration::from_secs_f64(1.0 / max_hz).clamp(FASTEST_THROTTLE, SLOWEST_THROTTLE))
}

/// A subscription's start as the direct path takes it over from its feed.
pub struct DirectStart {
    /// The frames the feed would hand out first: a snapshot, or the replay after `since`.
    pub start: Vec<Frame>,
    /// The live channel, from where the start ends.
    pub live: broadcast::Receiver<Frame>,
    /// The seq the subscriber holds after the start, and its epoch.
    pub held: u64,
    pub epoch: String,
}

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
    /// The shortest time between two frames handed out, for throttled subscriptions.
    throttle: Option<Duration>,
    /// When the next frame may go out.
    next_send: Instant,
}

impl Feed {
    /// Subscribes to `dashboard`, resuming after `since` when the broker can.
    pub async fn open(broker: Arc<dyn Broker>, dashboard: &str, since: Option<&Position>) -> Result<Feed, BrokerError> {
        Feed::open_throttled(broker, dashboard, since, None).await
    }

    /// Like `open`, handing out at most one frame per `throttle`.
    pub async fn open_throttled(
        broker: Arc<dyn Broker>,
        dashboard: &str,
        since: Option<&Position>,
        throttle: Option<Duration>,
    ) -> Result<Feed, BrokerError> {
        let subscription = broker.subscribe(dashboard, since).await?;
        Ok(Feed {
            broker,
            dashboard: dashboard.to_owned(),
            pending: subscription.start.into(),
            live: subscription.live,
            epoch: subscription.epoch,
            held: since.map_or(0, |since| since.seq),
            throttle,
            next_send: Instant::now(),
        })
    }

    /// Like `open`, for a subscriber that fell behind (given back by its group: a slow reader):
    /// more than `at_most` frames to catch up on are coalesced into one snapshot, as a
    /// backlog is (PROTOCOL.md), not replayed from the log one by one.
    pub async fn open_behind(
        broker: Arc<dyn Broker>,
        dashboard: &str,
        since: &Position,
        at_most: usize,
    ) -> Result<Feed, BrokerError> {
        let mut feed = Feed::open(broker, dashboard, Some(since)).await?;
        if feed.pending.len() > at_most {
            let resync = feed.broker.snapshot_frame(dashboard).await?;
            feed.epoch = resync.epoch;
            feed.pending = [resync.frame].into();
        }
        Ok(feed)
    }

    /// Whether it merges updates (`maxHz`): such a feed stays a feed.
    pub fn is_throttled(&self) -> bool {
        self.throttle.is_some()
    }

    /// The feed taken apart for the direct path (`ws::direct`), which merges nothing.
    pub fn into_direct(self) -> DirectStart {
        debug_assert!(!self.is_throttled());
        let held = self.pending.back().map_or(self.held, |frame| frame.seq);
        DirectStart { start: self.pending.into(), live: self.live, held, epoch: self.epoch }
    }

    pub fn dashboard(&self) -> &str {
        &self.dashboard
    }

    /// The epoch of the frames handed out.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Where the subscriber stands after the last frame handed out.
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch.clone(), seq: self.held }
    }

    /// The next frame to send, or `None` when the dashboard's stream has ended.
    pub async fn next(&mut self) -> Option<Frame> {
        let first = self.next_in_order().await?;
        let Some(throttle) = self.throttle else { return Some(first) };
        if first.is_snapshot {
            self.next_send = Instant::now() + throttle;
            return Some(first);
        }
        let mut merged = vec![first];
        loop {
            // Biased: once the interval is over, send rather than wait for more.
            let more = tokio::select! {
                biased;
                _ = tokio::time::sleep_until(self.next_send) => break,
                more = self.next_in_order() => more,
            };
            match more {
                Some(snapshot) if snapshot.is_snapshot => {
                    // A resync supersedes everything held.
                    self.next_send = Instant::now() + throttle;
                    return Some(snapshot);
                }
                Some(update) => merged.push(update),
                None => break,
            }
        }
        self.next_send = Instant::now() + throttle;
        Some(merge(merged))
    }

    /// The next frame in seq order: duplicates skipped, gaps healed with a snapshot.
    async fn next_in_order(&mut self) -> Option<Frame> {
        loop {
            let frame = match self.pending.pop_front() {
                Some(frame) => frame,
                None => match self.live.recv().await {
                    Ok(frame) => frame,
                    // The receiver skips ahead; the gap below resyncs.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => {
                        // The dashboard's stream was replaced (several instances: Redis lost
                        // it and it has a new epoch): continue on the new one from here, which
                        // starts with a snapshot. Gone altogether: the feed ends.
                        let position = self.position();
                        let subscription = self.broker.subscribe(&self.dashboard, Some(&position)).await.ok()?;
                        self.epoch = subscription.epoch;
                        self.pending = subscription.start.into();
                        self.live = subscription.live;
                        continue;
                    }
                },
            };
            if frame.is_snapshot {
                self.held = frame.seq;
                return Some(frame);
            }
            match continuity(self.held, frame.seq, frame.seq) {
                Continuity::Duplicate => continue,
                Continuity::Gap { .. } => {
                    // One frame per dashboard position, shared by every reader resynced there.
                    let resync = self.broker.snapshot_frame(&self.dashboard).await.ok()?;
                    self.epoch = resync.epoch;
                    self.pending.push_back(resync.frame);
                }
                Continuity::Next => {
                    self.held = frame.seq;
                    return Some(frame);
                }
            }
        }
    }
}

/// One frame for consecutive update frames: the frame itself when alone (its bytes stay
/// shared), otherwise a new update covering them all with the latest value of each metric.
fn merge(mut frames: Vec<Frame>) -> Frame {
    if frames.len() == 1 {
        return frames.pop().expect("one frame");
    }
    let updates: Vec<&Update> = frames.iter().filter_map(|frame| frame.update.as_deref()).collect();
    let (first, last) = (updates[0], updates[updates.len() - 1]);
    let mut metrics = first.metrics.clone();
    for update in &updates[1..] {
        metrics.extend(update.metrics.iter().map(|(name, value)| (name.clone(), *value)));
    }
    // Every alert change in the range, in order: merging values must not lose one.
    let alerts = updates.iter().flat_map(|update| update.alerts.iter().cloned()).collect();
    let kinds =
        updates.iter().flat_map(|update| update.kinds.iter().map(|(name, kind)| (name.clone(), *kind))).collect();
    Frame::update(Arc::new(Update {
        dashboard: last.dashboard.clone(),
        seq: last.seq,
        from_seq: Some(first.first_seq()),
        ts: last.ts,
        metrics,
        kinds,
        alerts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Metrics;
    use crate::server::broker::{HubLimits, MemoryBroker, Publication};

    async fn publish(broker: &dyn Broker, count: usize) {
        for i in 0..count {
            let metrics: Metrics = [("x".to_string(), i as f64)].into();
            let publication = Publication::new("a", i as i64, metrics);
            broker.publish(vec![publication]).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_reader_that_fell_behind_gets_one_snapshot_then_continues() {
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(HubLimits {
            replay_capacity: 64,
            history_window_ms: 1000,
            live_capacity: 4,
            ..HubLimits::default()
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

    #[tokio::test(start_paused = true)]
    async fn a_throttled_feed_merges_to_at_most_one_frame_per_interval_without_gaps() {
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(HubLimits::default()));
        publish(&*broker, 1).await;
        let throttle = Duration::from_millis(250);
        let mut feed = Feed::open_throttled(broker.clone(), "a", None, Some(throttle)).await.unwrap();
        let snapshot = feed.next().await.unwrap();
        assert!(snapshot.is_snapshot);
        // 60 updates, 25 ms apart (1.5 s), `x` counting them and `odd` on odd ones only.
        let publisher = tokio::spawn({
            let broker = broker.clone();
            async move {
                for i in 1..=60 {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    let mut metrics: Metrics = [("x".to_string(), f64::from(i))].into();
                    if i % 2 == 1 {
                        metrics.insert("odd".into(), f64::from(i));
                    }
                    broker.publish(vec![Publication::new("a", i64::from(i), metrics)]).await.unwrap();
                }
            }
        });
        let mut held = snapshot.seq;
        let mut sent_at = Vec::new();
        let mut last_odd = None;
        while held < snapshot.seq + 60 {
            let frame = feed.next().await.unwrap();
            let update = frame.logged();
            assert_eq!(update.first_seq(), held + 1, "merged ranges are contiguous");
            held = update.seq;
            last_odd = update.metrics.get("odd").copied().or(last_odd);
            sent_at.push((Instant::now(), update.metrics["x"]));
        }
        publisher.await.unwrap();
        for pair in sent_at.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= throttle, "at most one frame per 250 ms");
        }
        assert!(sent_at.len() <= 8, "1.5 s at 4 Hz: {} frames", sent_at.len());
        assert_eq!(sent_at.last().unwrap().1, 60.0, "the latest value of each metric wins");
        assert_eq!(last_odd, Some(59.0), "a metric that stopped changing keeps its last value");
    }
}
