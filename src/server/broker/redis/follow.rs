//! Following Redis: one pub/sub connection per instance, subscribed to every dashboard's
//! updates before anything is read (so nothing published after the read is missed), a sweep
//! after every (re)subscription and every `RedisTiming::sweep_every` that catches hubs up from the logs
//! (what was published while the link was down, or on a link that died without saying so),
//! and reconnection with backoff. Clients are never disconnected to repair a hole.

use super::{RedisBroker, CHANNEL};
use crate::server::broker::Frame;
use futures::StreamExt;
use std::{sync::Arc, time::Duration};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The longest wait between two attempts to reach Redis.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

pub(super) async fn run(broker: Arc<RedisBroker>, ready: oneshot::Sender<()>, shutdown: CancellationToken) {
    let mut ready = Some(ready);
    let mut wait = Duration::from_millis(100);
    let mut failing = false;
    loop {
        match follow(&broker, &mut ready, &shutdown).await {
            Ok(()) => return, // shut down
            Err(error) if !failing => {
                tracing::warn!(%error, "Redis link lost; live updates from other instances wait until it is back");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RECONNECT_MAX);
        if let Ok(()) = broker.sweep().await {
            if failing {
                tracing::info!("Redis reachable again");
            }
            failing = false;
            wait = Duration::from_millis(100);
        }
    }
}

/// Subscribes, catches up, then applies messages and sweeps until the link fails (`Err`) or
/// the server shuts down (`Ok`).
async fn follow(
    broker: &RedisBroker,
    ready: &mut Option<oneshot::Sender<()>>,
    shutdown: &CancellationToken,
) -> Result<(), redis::RedisError> {
    let mut pubsub = broker.client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    // Subscribed first: anything published from now on arrives as a message, anything before
    // is in the logs.
    broker.sweep().await?;
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    let mut messages = pubsub.on_message();
    let mut sweep = tokio::time::interval(broker.timing.sweep_every);
    sweep.reset();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(redis::RedisError::from((redis::ErrorKind::Io, "pub/sub connection closed")));
                };
                let Ok(payload) = message.get_payload::<String>() else { continue };
                let Some((epoch, json)) = payload.split_once(' ') else { continue };
                // This instance's own updates come back too, already applied: skipped unparsed.
                if broker.already_applied(epoch, json) {
                    continue;
                }
                let Some(frame) = Frame::received(json.to_owned()) else {
                    tracing::warn!("a message on {CHANNEL} is not an update; skipped");
                    continue;
                };
                broker.apply(epoch, frame).await?;
            }
            _ = sweep.tick() => broker.sweep().await?,
        }
    }
}
