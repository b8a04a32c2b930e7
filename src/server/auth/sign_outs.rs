//! Sign-outs every instance of a deployment hears (`--redis`). A session cookie is checked
//! by any instance holding the shared secret without asking anyone, so a sign-out must reach
//! each instance's revocation list: it is kept in Redis (a sorted set of session ids by when
//! their cookie would have expired) and published; every instance applies what it hears, and
//! reads the whole set again whenever its subscription (re)starts, so one that was away or
//! started later misses none.

use super::Auth;
use crate::server::cluster::{Link, Listener};
use redis::aio::ConnectionManager;
use std::sync::Arc;

/// The channel sign-outs are announced on, as `<sid> <until, in seconds>`.
const CHANNEL: &str = "livedash:sign-outs";
/// Signed-out session ids, scored by the last moment a cookie of theirs could be valid
/// (seconds; `SessionRef::last_valid`).
const REVOKED: &str = "livedash:revoked-sessions";

pub struct SharedSignOuts {
    redis: ConnectionManager,
    auth: Arc<Auth>,
}

impl SharedSignOuts {
    /// Starts hearing sign-outs into `auth`'s sessions.
    pub fn start(link: &Link, auth: Arc<Auth>) -> Arc<SharedSignOuts> {
        let shared = Arc::new(SharedSignOuts { redis: link.redis.clone(), auth });
        link.listen(CHANNEL, "sign-outs", shared.clone());
        shared
    }

    /// Tells every instance that `sid` signed out (refused until `expires_secs`).
    pub async fn announce(&self, sid: &str, expires_secs: u64) -> Result<(), redis::RedisError> {
        let mut connection = self.redis.clone();
        redis::pipe()
            .zadd(REVOKED, sid, expires_secs)
            // Records outlive their cookie by nothing: an expired cookie is refused anyway.
            .zrembyscore(REVOKED, "-inf", self.auth.clock.now_secs())
            .publish(CHANNEL, format!("{sid} {expires_secs}"))
            .exec_async(&mut connection)
            .await
    }
}

/// Every recorded sign-out, then each announced one, into the sessions.
#[async_trait::async_trait]
impl Listener for SharedSignOuts {
    async fn reload(&self) -> Result<(), redis::RedisError> {
        let recorded: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(REVOKED)
            .arg(self.auth.clock.now_secs())
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut self.redis.clone())
            .await?;
        for (sid, expires_secs) in recorded {
            self.auth.sessions.end(&sid, expires_secs, self.auth.clock.now_secs());
        }
        Ok(())
    }

    async fn take(&self, announcement: String) {
        let Some((sid, expires)) = announcement.split_once(' ') else { return };
        if let Ok(expires_secs) = expires.parse() {
            self.auth.sessions.end(sid, expires_secs, self.auth.clock.now_secs());
        }
    }
}
