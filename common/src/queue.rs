//! The transcode queue on Redis (apalis-redis): the job type and how it is enqueued.

use anyhow::Context;
use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize};

use crate::config::{Config, TranscodeConfig};
use crate::ids::VideoId;

/// One video to turn into an HLS ladder. Only the id travels: everything else is
/// read fresh from Postgres, so a retried job always works on current state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TranscodeJob {
    pub video_id: VideoId,
}

pub type TranscodeStorage = RedisStorage<TranscodeJob>;

#[derive(Clone)]
pub struct JobQueue {
    storage: TranscodeStorage,
    redis: ConnectionManager,
}

impl JobQueue {
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let redis =
            apalis_redis::connect(config.redis_url.as_str()).await.context("connecting to Redis (REDIS_URL)")?;
        let storage =
            RedisStorage::new(redis.clone()).with_config(storage_config(&config.queue_name, &config.transcode));
        Ok(Self { storage, redis })
    }

    /// The backend a worker consumes from.
    pub fn storage(&self) -> TranscodeStorage {
        self.storage.clone()
    }

    pub async fn enqueue(&self, job: TranscodeJob) -> anyhow::Result<()> {
        let video_id = job.video_id;
        self.storage.clone().push(job).await.map_err(|e| anyhow::anyhow!("enqueueing transcode of {video_id}: {e}"))?;
        tracing::info!(%video_id, "transcode job enqueued");
        Ok(())
    }

    /// Reachability check for /readyz.
    pub async fn check(&self) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        redis::cmd("PING").query_async::<String>(&mut redis).await.context("Redis")?;
        Ok(())
    }
}

fn storage_config(queue: &str, transcode: &TranscodeConfig) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(queue)
        // A transcode is long: a worker takes one job at a time so others can share the queue.
        .batch_size(1)
        .heartbeat_interval(transcode.heartbeat)
        .missed_heartbeats(transcode.missed_heartbeats)
}
