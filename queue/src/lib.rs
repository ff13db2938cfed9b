//! The transcode queue on Redis (apalis-redis): the job type and how it is enqueued;
//! and the webhook delivery queue beside it ([`deliveries`]).

#![warn(missing_docs)]

pub mod deliveries;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use redis::AsyncCommands;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize};

use streambox_base::config::{Config, TranscodeConfig};
use streambox_base::ids::VideoId;

/// One video to turn into an HLS ladder, or a turn at a part of a chunked one. Only
/// ids travel: everything else is read fresh from Postgres, so a retried job always
/// works on current state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TranscodeJob {
    /// The video whose stored source is transcoded (for a chunk delivery: the video
    /// whose part it was pushed for).
    pub video_id: VideoId,
    /// A chunk delivery: its worker takes the most urgent part of any chunked video
    /// (`streambox_db::chunks::claim`), so a new video's first chunk overtakes older
    /// videos' later ones whatever order the deliveries are in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chunk: bool,
}

impl TranscodeJob {
    /// The video's job: one run, or the planning of its chunks.
    pub fn new(video_id: VideoId) -> Self {
        Self { video_id, chunk: false }
    }

    /// A turn at a part of a chunked video.
    pub fn chunk_of(video_id: VideoId) -> Self {
        Self { video_id, chunk: true }
    }
}

/// The apalis-redis backend transcode jobs are pushed to and workers consume from.
pub type TranscodeStorage = RedisStorage<TranscodeJob>;

/// How long a Redis reply may take. The client's default (500 ms) is hit on a machine
/// whose every core is encoding: a timed-out poll fails the worker, which then has to
/// start again. Redis answers in microseconds; only a dead connection takes this long.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The transcode queue of one configured queue name, and the Redis connection under it;
/// clones share the connection.
#[derive(Clone)]
pub struct JobQueue {
    storage: TranscodeStorage,
    redis: ConnectionManager,
    client: redis::Client,
    name: String,
}

impl JobQueue {
    /// Connects to Redis (`REDIS_URL`) and opens the queue named by `STREAMBOX_QUEUE`,
    /// with the workers' heartbeat settings; fails when Redis cannot be reached.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let settings = connection_settings();
        let client = redis::Client::open(config.redis_url.as_str()).context("REDIS_URL")?;
        let redis =
            client.get_connection_manager_with_config(settings).await.context("connecting to Redis (REDIS_URL)")?;
        let storage =
            RedisStorage::new(redis.clone()).with_config(storage_config(&config.queue_name, &config.transcode));
        Ok(Self { storage, redis, client, name: config.queue_name.clone() })
    }

    /// The Redis connection, shared with other short-lived counters (views).
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// The webhook delivery queue of the same queue name.
    pub fn deliveries(&self) -> deliveries::DeliveryQueue {
        deliveries::DeliveryQueue::new(self.redis.clone(), self.client.clone(), &self.name)
    }

    /// The queue backend (apalis over Redis) a worker consumes from.
    pub fn backend(&self) -> TranscodeStorage {
        self.storage.clone()
    }

    /// Delivers the job to the next free worker; fails when Redis refuses the push.
    pub async fn enqueue(&self, job: TranscodeJob) -> anyhow::Result<()> {
        let video_id = job.video_id;
        self.storage.clone().push(job).await.map_err(|e| anyhow::anyhow!("enqueueing transcode of {video_id}: {e}"))?;
        tracing::info!(%video_id, "transcode job enqueued");
        Ok(())
    }

    /// Delivers `count` chunk turns for `video`, one per part a worker may take now.
    pub async fn enqueue_chunks(&self, video_id: VideoId, count: usize) -> anyhow::Result<()> {
        let mut storage = self.storage.clone();
        for _ in 0..count {
            storage
                .push(TranscodeJob::chunk_of(video_id))
                .await
                .map_err(|e| anyhow::anyhow!("enqueueing a chunk of {video_id}: {e}"))?;
        }
        tracing::info!(%video_id, count, "chunk deliveries enqueued");
        Ok(())
    }

    /// Delivers the job once `delay` has passed (a retry after backoff).
    pub async fn enqueue_after(&self, job: TranscodeJob, delay: Duration) -> anyhow::Result<()> {
        let video_id = job.video_id;
        // apalis-redis schedules in whole seconds and truncates: round the due time up,
        // so a retry never runs before its backoff has passed.
        let due = (SystemTime::now() + delay).duration_since(UNIX_EPOCH)?.as_secs_f64().ceil() as u64;
        let task = TaskBuilder::new(job).run_at_timestamp(due).build();
        self.storage
            .clone()
            .push_task(task)
            .await
            .map_err(|e| anyhow::anyhow!("scheduling transcode of {video_id}: {e}"))?;
        tracing::info!(%video_id, ?delay, "transcode retry scheduled");
        Ok(())
    }

    /// The videos that have a delivery in Redis: due, scheduled, or fetched by a worker.
    /// A queued job whose video is not among them lost its delivery (Redis restarted
    /// empty, or the push after the job's commit failed) and nothing will run it.
    pub async fn videos_with_deliveries(&self) -> anyhow::Result<HashSet<VideoId>> {
        let layout = self.storage.get_config();
        let mut redis = self.redis.clone();
        // One MULTI: a delivery moving from the scheduled set to the active list is in one of them.
        let (mut tasks, scheduled, workers): (Vec<String>, Vec<String>, Vec<String>) = redis::pipe()
            .atomic()
            .lrange(layout.active_jobs_list(), 0, -1)
            .zrange(layout.scheduled_jobs_set(), 0, -1)
            .zrange(layout.workers_set(), 0, -1)
            .query_async(&mut redis)
            .await
            .context("Redis")?;
        tasks.extend(scheduled);
        for worker in workers {
            let inflight: Vec<String> =
                redis.smembers(format!("{}:{worker}", layout.inflight_jobs_set())).await.context("Redis")?;
            tasks.extend(inflight);
        }
        if tasks.is_empty() {
            return Ok(HashSet::new());
        }
        let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(layout.job_data_hash())
            .arg(&tasks)
            .query_async(&mut redis)
            .await
            .context("Redis")?;
        Ok(payloads
            .into_iter()
            .flatten()
            .filter_map(|payload| serde_json::from_slice::<TranscodeJob>(&payload).ok())
            .map(|job| job.video_id)
            .collect())
    }

    /// Reachability check for /readyz.
    pub async fn check(&self) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        redis::cmd("PING").query_async::<String>(&mut redis).await.context("Redis")?;
        Ok(())
    }
}

/// Settings of every connection: a reply may take [`RESPONSE_TIMEOUT`].
fn connection_settings() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
}

fn storage_config(queue: &str, transcode: &TranscodeConfig) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(queue)
        // A transcode is long: a worker takes one job at a time so others can share the queue.
        .batch_size(1)
        .heartbeat_interval(transcode.heartbeat)
        .missed_heartbeats(transcode.missed_heartbeats)
}
