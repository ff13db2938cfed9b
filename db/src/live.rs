//! What the live-updates hub reads each tick: the videos still on their way, with their
//! transcode job's progress, and the operator's queue counts.

use serde::Serialize;
use sqlx::PgPool;
use streambox_base::ids::{UserId, VideoId};

use crate::videos::VideoStatus;

/// A video's state as a watching page shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, schemars::JsonSchema)]
pub struct VideoProgress {
    /// The video.
    pub id: VideoId,
    /// Who owns it: only they (and no one else) are told about it.
    #[serde(skip)]
    pub owner_id: UserId,
    /// `deleted` once it is being removed, or gone.
    pub status: VideoStatus,
    /// Whether it can be played now (already while processing).
    pub playable: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// The transcode attempt under way or last made (0 before the first).
    pub attempt: i32,
    /// How far the running attempt has come, 0–100.
    pub percent: Option<f32>,
    /// The running attempt's estimated seconds left, once there is an estimate.
    pub eta_s: Option<f32>,
}

/// Every video uploading, queued or processing, and the videos of `also` whatever their
/// state (the ones in flight at the tick before, to tell of how they ended). A video of
/// `also` whose row is gone is simply absent.
pub async fn in_flight(db: &PgPool, also: &[VideoId]) -> sqlx::Result<Vec<VideoProgress>> {
    sqlx::query_as(
        "SELECT v.id, v.owner_id, v.status, v.playable, v.error, COALESCE(j.attempts, 0) AS attempt,
                CASE WHEN j.state = 'running' THEN j.progress_percent END AS percent,
                CASE WHEN j.state = 'running' THEN j.eta_s END AS eta_s
         FROM videos v LEFT JOIN transcode_jobs j ON j.video_id = v.id
         WHERE v.status IN ('uploading', 'queued', 'processing') OR v.id = ANY($1)",
    )
    .bind(also)
    .fetch_all(db)
    .await
}

/// Jobs waiting, running, waiting to retry and dead: the states an operator watches
/// (counting `done` would read the whole history every tick).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow, Serialize, schemars::JsonSchema)]
pub struct QueueCounts {
    /// Waiting for a worker.
    pub queued: i64,
    /// Being transcoded.
    pub running: i64,
    /// Waiting to be tried again after a transient failure.
    pub retrying: i64,
    /// Given up: in the dead-letter list.
    pub dead: i64,
}

/// The counts of [`QueueCounts`], read through the state index.
pub async fn queue_counts(db: &PgPool) -> sqlx::Result<QueueCounts> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'queued') AS queued,
                count(*) FILTER (WHERE state = 'running') AS running,
                count(*) FILTER (WHERE state = 'retrying') AS retrying,
                count(*) FILTER (WHERE state = 'dead') AS dead
         FROM transcode_jobs WHERE state IN ('queued', 'running', 'retrying', 'dead')",
    )
    .fetch_one(db)
    .await
}
