//! In-app notifications, written by the event triggers with the change they tell of:
//! a followed creator published a video, a comment on your video or a reply to your
//! comment, your video is ready or failed. A notification about a video shows only
//! while its reader may still see that video.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use streambox_base::ids::{NotificationId, UserId, VideoId};

/// A notification as its reader sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Notification {
    /// The notification (mark it read by this id).
    pub id: NotificationId,
    /// `video.published` (a creator you follow), `comment.created` (on your video),
    /// `comment.reply` (to your comment), `video.ready` or `video.failed` (yours).
    pub kind: String,
    /// The video it is about.
    pub video_id: Option<VideoId>,
    /// That video's title as it is now.
    pub video_title: Option<String>,
    /// Who did it (the creator, the commenter), if someone did.
    pub actor_id: Option<UserId>,
    /// Their display name as it is now.
    pub actor_name: Option<String>,
    /// The comment, for comment notifications.
    pub comment_id: Option<Uuid>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// When it was marked read; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
}

/// What a reader may see: not about a video that is being deleted, or that is now
/// private and not theirs.
macro_rules! visible {
    () => {
        "n.user_id = $1 AND (v.id IS NULL OR (v.status <> 'deleted' AND (v.owner_id = $1 OR v.visibility <> 'private')))"
    };
}

/// `user`'s notifications, unread first, then newest first.
pub async fn list(db: &PgPool, user: UserId, unread_only: bool, limit: i64) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as(concat!(
        "SELECT n.id, n.kind, n.video_id, v.title AS video_title, n.actor_id, a.display_name AS actor_name,
                n.comment_id, n.created_at, n.read_at
         FROM notifications n LEFT JOIN videos v ON v.id = n.video_id LEFT JOIN users a ON a.id = n.actor_id
         WHERE ",
        visible!(),
        " AND (NOT $2 OR n.read_at IS NULL)
         ORDER BY (n.read_at IS NULL) DESC, n.created_at DESC, n.id DESC LIMIT $3"
    ))
    .bind(user)
    .bind(unread_only)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many of `user`'s visible notifications are unread.
pub async fn unread_count(db: &PgPool, user: UserId) -> sqlx::Result<i64> {
    sqlx::query_scalar(concat!(
        "SELECT count(*) FROM notifications n LEFT JOIN videos v ON v.id = n.video_id
         WHERE ",
        visible!(),
        " AND n.read_at IS NULL"
    ))
    .bind(user)
    .fetch_one(db)
    .await
}

/// Marks `ids` of `user`'s notifications read, or all of them when `ids` is `None`.
/// Others' ids are ignored.
pub async fn mark_read(db: &PgPool, user: UserId, ids: Option<&[NotificationId]>) -> sqlx::Result<()> {
    let ids: Option<Vec<Uuid>> = ids.map(|ids| ids.iter().map(|id| id.0).collect());
    sqlx::query(
        "UPDATE notifications SET read_at = now()
         WHERE user_id = $1 AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY ($2))",
    )
    .bind(user)
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}
