//! A creator's own videos, for their studio: every state and visibility (not the
//! deleted), newest first in keyset pages, with the transcode progress of those in flight.

use sqlx::PgPool;
use streambox_base::ids::{UserId, VideoId};

use crate::feeds::Cursor;
use crate::videos::{Video, columns};

/// `owner`'s videos after `after` (a cursor of this list), newest first.
pub async fn videos_of(db: &PgPool, owner: UserId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Video>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE owner_id = $1 AND status <> 'deleted'
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(owner)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The running attempt's progress of each of `videos` that has a job.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct JobProgress {
    /// The video the job is for.
    pub video_id: VideoId,
    /// Attempts made so far.
    pub attempts: i32,
    /// How far the running attempt has come, 0–100.
    pub progress_percent: Option<f32>,
    /// The running attempt's estimated seconds left.
    pub eta_s: Option<f32>,
}

/// The progress of the jobs of `videos`, in one read.
pub async fn progress_of(db: &PgPool, videos: &[VideoId]) -> sqlx::Result<Vec<JobProgress>> {
    sqlx::query_as("SELECT video_id, attempts, progress_percent, eta_s FROM transcode_jobs WHERE video_id = ANY($1)")
        .bind(videos)
        .fetch_all(db)
        .await
}
