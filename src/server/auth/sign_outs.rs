//! Sign-outs every instance of a deployment hears (`--redis`). A session cookie is checked
//! by any instance holding the shared secret without asking anyone, so a sign-out must reach
//! each instance's revocation list: it is kept in Redis (a sorted set of session ids by when
//! their cookie would have expired) and published; every instance applies what it hears, and
//! reads the whole set again whenever its subscription (re)starts, so one that was away or
//! started later misses none.

use super::Auth;
use crate::server::now_secs;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The channel sign-outs are announced on, as `<sid> <expiry in seconds>`.
const CHANNEL: &str = "livedash:sign-outs";
/// Signed-out session ids, scored by when their cookie would have expired (seconds).
const REVOKED: &str = "livedash:revoked-sessions";

pub struct SharedSignOuts {
    redis: ConnectionManager,
}

impl SharedSignOuts {
    /// Starts hearing sign-outs into `auth`'s sessions.
    pub fn start(
        client: redis::Client,
        redis: ConnectionManager,
        auth: Arc<Auth>,
        shutdown: CancellationToken,
    ) -> Arc<SharedSignOuts> {
        tokio::spawn(hear(client, redis.clone(), auth, shutdown));
        Arc::new(SharedSignOuts { redis })
    }

    /// Tells every instance that `sid` signed out (its cookie expiring at `expires_secs`).
    pub async fn announce(&self, sid: &str, expires_secs: u64) -> Result<(), redis::RedisError> {
        let mut connection = self.redis.clone();
        redis::pipe()
            .zadd(REVOKED, sid, expires_secs)
            // Records outlive their cookie by nothing: an expired cookie is refused anyway.
            .zrembyscore(REVOKED, "-inf", now_secs())
            .publish(CHANNEL, format!("{sid} {expires_secs}"))
            .exec_async(&mut connection)
            .await
    }
}

/// Subscribes, reads every recorded sign-out, then applies announcements; again after any
/// failure, with a pause.
async fn hear(client: redis::Client, redis: ConnectionManager, auth: Arc<Auth>, shutdown: CancellationToken) {
    loop {
        let heard = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            let mut connection = redis.clone();
            let recorded: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(REVOKED)
                .arg(now_secs())
                .arg("+inf")
                .arg("WITHSCORES")
                .query_async(&mut connection)
                .await?;
            for (sid, expires_secs) in recorded {
                auth.sessions.end(&sid, expires_secs, now_secs());
            }
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Ok(payload) = message.get_payload::<String>() else { continue };
                let Some((sid, expires)) = payload.split_once(' ') else { continue };
                if let Ok(expires_secs) = expires.parse() {
                    auth.sessions.end(sid, expires_secs, now_secs());
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            result = heard => if let Err(error) = result {
                tracing::debug!(%error, "sign-outs from other instances: Redis link lost");
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
