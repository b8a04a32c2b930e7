//! Silences and acks every instance of a deployment shares (`--redis`): the instance deciding
//! a dashboard's alerts must honour a silence made through any other. Each is kept in Redis
//! (`livedash:silences` by id, `livedash:acks` by dashboard and rule) and published on
//! `livedash:alert-controls`; every instance takes what it hears into its own `Controls` (and
//! store), and reads both again whenever its subscription (re)starts. Silence ids come from
//! Redis (`INCR`), so two instances never number two silences alike.

use super::silences::{Controls, NewSilence, Silence};
use crate::model::alerts::Ack;
use crate::protocol::Millis;
use crate::server::{
    clock::Clock,
    cluster::{Link, Listener},
};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const CHANNEL: &str = "livedash:alert-controls";
const SILENCES: &str = "livedash:silences";
const ACKS: &str = "livedash:acks";
const SILENCE_IDS: &str = "livedash:silence-ids";

/// Silences kept this long after they end (as `Controls` keeps them), then dropped.
const EXPIRED_KEPT_MS: Millis = 86_400_000;

/// What goes over the channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Shared {
    Silence(Silence),
    Ack(Ack),
}

pub struct SharedControls {
    redis: ConnectionManager,
    controls: Arc<Controls>,
    clock: Clock,
}

impl SharedControls {
    /// Starts hearing the other instances' silences and acks into `controls`.
    pub fn start(link: &Link, controls: Arc<Controls>, clock: Clock) -> Arc<SharedControls> {
        let shared = Arc::new(SharedControls { redis: link.redis.clone(), controls, clock });
        link.listen(CHANNEL, "silences and acks", shared.clone());
        shared
    }

    /// Adds a silence under an id from Redis, here and everywhere.
    pub async fn add_silence(&self, new: NewSilence, author: String, now: Millis) -> Result<Silence, String> {
        let mut connection = self.redis.clone();
        let id: i64 = redis::cmd("INCR")
            .arg(SILENCE_IDS)
            .query_async(&mut connection)
            .await
            .map_err(|error| format!("Redis: {error}"))?;
        let controls = self.controls.clone();
        let silence = tokio::task::spawn_blocking(move || controls.add_silence(new, author, now, Some(id)))
            .await
            .map_err(|error| error.to_string())??;
        self.share(Shared::Silence(silence.clone())).await?;
        Ok(silence)
    }

    /// Tells every instance that `silence` changed (expired).
    pub async fn silence_changed(&self, silence: &Silence) -> Result<(), String> {
        self.share(Shared::Silence(silence.clone())).await
    }

    /// Tells every instance about `ack`.
    pub async fn acked(&self, ack: &Ack) -> Result<(), String> {
        self.share(Shared::Ack(ack.clone())).await
    }

    async fn share(&self, shared: Shared) -> Result<(), String> {
        let json = serde_json::to_string(&shared).expect("silences and acks serialize");
        let mut pipe = redis::pipe();
        match &shared {
            Shared::Silence(silence) => pipe.hset(SILENCES, silence.id, &json),
            Shared::Ack(ack) => pipe.hset(ACKS, format!("{}\n{}", ack.dashboard, ack.rule), &json),
        };
        pipe.publish(CHANNEL, &json);
        pipe.exec_async(&mut self.redis.clone()).await.map_err(|error| format!("Redis: {error}"))
    }

    /// Takes what another instance shared.
    async fn take_shared(&self, shared: Shared) {
        let (controls, now) = (self.controls.clone(), self.clock.now_millis());
        let taken = tokio::task::spawn_blocking(move || match shared {
            Shared::Silence(silence) => controls.take_silence(silence, now),
            Shared::Ack(ack) => controls.ack(ack),
        })
        .await;
        if let Ok(Err(error)) = taken {
            tracing::warn!(%error, "a silence or ack from another instance not kept");
        }
    }

    /// Everything Redis holds, taken; silences ended more than a day ago are dropped there.
    async fn take_all(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.redis.clone();
        type Recorded = (Vec<(i64, String)>, Vec<(String, String)>);
        let (silences, acks): Recorded =
            redis::pipe().hgetall(SILENCES).hgetall(ACKS).query_async(&mut connection).await?;
        let mut stale = Vec::new();
        for (id, json) in silences {
            match serde_json::from_str::<Shared>(&json) {
                Ok(Shared::Silence(silence)) if silence.ends_at <= self.clock.now_millis() - EXPIRED_KEPT_MS => {
                    stale.push(id)
                }
                Ok(shared) => self.take_shared(shared).await,
                Err(_) => stale.push(id),
            }
        }
        for (_, json) in acks {
            if let Ok(shared) = serde_json::from_str::<Shared>(&json) {
                self.take_shared(shared).await;
            }
        }
        if !stale.is_empty() {
            redis::cmd("HDEL").arg(SILENCES).arg(stale).exec_async(&mut connection).await?;
        }
        Ok(())
    }
}

/// Everything recorded, then each announced silence and ack, into the controls.
#[async_trait::async_trait]
impl Listener for SharedControls {
    async fn reload(&self) -> Result<(), redis::RedisError> {
        self.take_all().await
    }

    async fn take(&self, announcement: String) {
        if let Ok(shared) = serde_json::from_str::<Shared>(&announcement) {
            self.take_shared(shared).await;
        }
    }
}
