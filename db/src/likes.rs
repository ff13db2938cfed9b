//! The `likes` table: one per user per video. Liking twice (or ten times at once) is
//! one like: the primary key decides, not a read before the write.

use sqlx::PgPool;

use streambox_base::ids::{UserId, VideoId};

/// `user` likes `video`; liking again changes nothing.
pub async fn like(db: &PgPool, video: VideoId, user: UserId) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO likes (video_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(video)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// `user` takes back their like of `video`; nothing when there was none.
pub async fn unlike(db: &PgPool, video: VideoId, user: UserId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM likes WHERE video_id = $1 AND user_id = $2").bind(video).bind(user).execute(db).await?;
    Ok(())
}

/// How many users like `video`.
pub async fn count(db: &PgPool, video: VideoId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM likes WHERE video_id = $1").bind(video).fetch_one(db).await
}

/// Whether `user` likes `video`.
pub async fn liked_by(db: &PgPool, video: VideoId, user: UserId) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM likes WHERE video_id = $1 AND user_id = $2)")
        .bind(video)
        .bind(user)
        .fetch_one(db)
        .await
}
