//! The webhook delivery queue: a Redis list of delivery ids that senders on any
//! process take from. PostgreSQL holds each delivery's truth (`streambox_db::webhooks`);
//! a delivery lost here (Redis restarted empty) is handed out again by the relay, and
//! one taken twice is sent once (a sender must claim it in PostgreSQL first).

use std::time::Duration;

use anyhow::Context;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use streambox_base::ids::DeliveryId;

/// Where delivery ids wait for a sender.
#[derive(Clone)]
pub struct DeliveryQueue {
    redis: ConnectionManager,
    client: redis::Client,
    key: String,
}

impl DeliveryQueue {
    pub(crate) fn new(redis: ConnectionManager, client: redis::Client, queue_name: &str) -> Self {
        Self { redis, client, key: format!("{queue_name}:webhooks") }
    }

    /// Appends deliveries for senders to take, in order.
    pub async fn push(&self, ids: &[DeliveryId]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut redis = self.redis.clone();
        let _: () = redis.rpush(&self.key, ids).await.context("Redis")?;
        Ok(())
    }

    /// A connection of its own for taking deliveries: a blocking pop on the shared
    /// connection would hold up every other command on it.
    pub async fn taker(&self) -> anyhow::Result<Taker> {
        let redis = self
            .client
            .get_connection_manager_with_config(crate::connection_settings())
            .await
            .context("connecting to Redis (REDIS_URL)")?;
        Ok(Taker { redis, key: self.key.clone() })
    }
}

/// Takes delivery ids off the queue.
pub struct Taker {
    redis: ConnectionManager,
    key: String,
}

impl Taker {
    /// The next delivery, waiting up to `wait` (whole seconds) for one.
    pub async fn next(&mut self, wait: Duration) -> anyhow::Result<Option<DeliveryId>> {
        let popped: Option<(String, String)> =
            self.redis.blpop(&self.key, wait.as_secs_f64().max(1.0)).await.context("Redis")?;
        Ok(popped.and_then(|(_, id)| id.parse().ok()))
    }
}
