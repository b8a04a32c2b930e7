//! `hear`: one Redis channel followed into a `Listener` until shutdown, with a reload after
//! every (re)subscription and a retry every second while the link is down.

use async_trait::async_trait;
use std::{sync::Arc, time::Duration};

/// What instances tell each other besides updates (sign-outs, silences), kept in Redis and
/// announced on a channel: `hear` calls `reload` after every (re)subscription (so what was
/// announced while the link was down is not missed), then `take` with each announcement.
#[async_trait]
pub trait Listener: Send + Sync + 'static {
    async fn reload(&self) -> Result<(), redis::RedisError>;
    async fn take(&self, announcement: String);
}

/// Follows `channel` into `listener` until `shutdown`; a lost link is tried again every
/// second. `what` names it in the log.
pub async fn hear(
    client: redis::Client,
    channel: &'static str,
    what: &'static str,
    listener: Arc<dyn Listener>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use futures::StreamExt;
    loop {
        let heard = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            listener.reload().await?;
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                if let Ok(payload) = message.get_payload::<String>() {
                    listener.take(payload).await;
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            result = heard => if let Err(error) = result {
                tracing::debug!(%error, what, "Redis link lost; trying again");
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
