//! The `watch_history` table: one entry per user and video with where playback stands,
//! newest first. Videos the user can no longer see drop out of the list.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::feeds::Cursor;
use crate::videos::{Video, columns};
use streambox_base::ids::{UserId, VideoId};

/// A video in someone's history.
#[derive(Debug, sqlx::FromRow)]
pub struct Entry {
    #[sqlx(flatten)]
    /// The video watched.
    pub video: Video,
    /// Where playback stood, in seconds from the start.
    pub position_s: f64,
    /// When the position was last recorded; the list is ordered by it.
    pub watched_at: DateTime<Utc>,
}

impl Entry {
    /// Where the page after this entry starts.
    pub fn cursor(&self) -> Cursor {
        Cursor { key: self.watched_at.timestamp_micros(), id: self.video.id.0 }
    }
}

/// Records (or moves) where `user` stands in `video`.
pub async fn record(db: &PgPool, user: UserId, video: VideoId, position_s: f64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO watch_history (user_id, video_id, position_s) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, video_id) DO UPDATE SET position_s = EXCLUDED.position_s, watched_at = now()",
    )
    .bind(user)
    .bind(video)
    .bind(position_s)
    .execute(db)
    .await?;
    Ok(())
}

/// `user`'s history, most recent first, after `after`: the videos they may still see
/// (shared ones, their own, or any for an admin).
pub async fn list(
    db: &PgPool,
    user: UserId,
    is_admin: bool,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        ", h.position_s, h.watched_at
         FROM watch_history h JOIN videos v ON v.id = h.video_id
         WHERE h.user_id = $1
           AND (((v.status = 'ready' OR (v.playable AND v.status IN ('queued', 'processing')))
                 AND v.visibility <> 'private') OR v.owner_id = $1 OR $2)
           AND v.status <> 'deleted'
           AND ($3::timestamptz IS NULL OR (h.watched_at, h.video_id) < ($3, $4))
         ORDER BY h.watched_at DESC, h.video_id DESC LIMIT $5"
    ))
    .bind(user)
    .bind(is_admin)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Removes one video from `user`'s history; false when it was not there.
pub async fn forget(db: &PgPool, user: UserId, video: VideoId) -> sqlx::Result<bool> {
    let removed = sqlx::query("DELETE FROM watch_history WHERE user_id = $1 AND video_id = $2")
        .bind(user)
        .bind(video)
        .execute(db)
        .await?;
    Ok(removed.rows_affected() > 0)
}

/// Empties `user`'s history.
pub async fn clear(db: &PgPool, user: UserId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM watch_history WHERE user_id = $1").bind(user).execute(db).await?;
    Ok(())
}
