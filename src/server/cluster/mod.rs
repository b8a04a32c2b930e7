//! What the instances of one deployment (`--redis`) share besides the broker's updates, as
//! the subsystems above the broker see it: a `Link` (the Redis the broker uses, and where its
//! tasks are tracked) and `Link::listen`, which follows a Redis channel into a `Listener`
//! (sign-outs, silences and acks), reloading what it holds after every (re)subscription.
//! The broker's own use of Redis is in `broker::redis`.

mod listen;

pub use listen::Listener;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The deployment's Redis, for the subsystems that share state through it.
#[derive(Clone)]
pub struct Link {
    /// Commands (reconnects by itself).
    pub redis: ConnectionManager,
    /// For pub/sub connections of its own.
    client: redis::Client,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Link {
    pub fn new(
        client: redis::Client,
        redis: ConnectionManager,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Link { redis, client, shutdown, tasks }
    }

    /// Follows `channel` into `listener` until shutdown, on a task shutdown waits for. `what`
    /// names it in the log.
    pub fn listen(&self, channel: &'static str, what: &'static str, listener: Arc<dyn Listener>) {
        let (client, shutdown) = (self.client.clone(), self.shutdown.clone());
        self.tasks.spawn(listen::hear(client, channel, what, listener, shutdown));
    }
}
