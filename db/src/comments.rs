//! The `comments` table: comments on a video with one level of replies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::feeds::Cursor;
use streambox_base::ids::{UserId, VideoId};
use streambox_base::text::{TextRule, ValidationError};
use streambox_base::text_schema;

/// A comment as it is shown: with its author's name and how many replies it has.
#[derive(Debug, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Comment {
    /// Names the comment to reply to, edit or delete.
    pub id: Uuid,
    /// The video it is on.
    pub video_id: VideoId,
    /// Who wrote it; only they may edit it.
    pub author_id: UserId,
    /// The author's display name as it is now.
    pub author_name: String,
    /// The comment this replies to; replies have no replies.
    pub parent_id: Option<Uuid>,
    /// The text, as [`Body`] accepted it.
    pub body: String,
    /// How many replies it has; always 0 for a reply.
    pub reply_count: i64,
    /// When it was posted; pages are ordered by it.
    pub created_at: DateTime<Utc>,
    /// When its text was last changed, if it was.
    pub edited_at: Option<DateTime<Utc>>,
}

impl Comment {
    /// Where the page after this comment starts.
    pub fn cursor(&self) -> Cursor {
        Cursor { key: self.created_at.timestamp_micros(), id: self.id }
    }
}

/// A comment's text: 1..=2000 characters after trimming; line breaks and tabs allowed.
pub struct Body(String);

impl Body {
    /// The bounds a comment's text is checked against.
    pub const RULE: TextRule = TextRule { field: "body", min_chars: 1, max_chars: 2000, multiline: true };

    /// The trimmed text, or a [`ValidationError`] naming `body` when it breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    /// The checked text, for storing it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Body);

macro_rules! select {
    () => {
        "SELECT c.id, c.video_id, c.author_id, u.display_name AS author_name, c.parent_id, c.body,
                (SELECT count(*) FROM comments r WHERE r.parent_id = c.id) AS reply_count,
                c.created_at, c.edited_at
         FROM comments c JOIN users u ON u.id = c.author_id "
    };
}

/// The comment as shown, or `None` when there is no such comment.
pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Comment>> {
    sqlx::query_as(concat!(select!(), "WHERE c.id = $1")).bind(id).fetch_optional(db).await
}

/// Adds a comment (a reply when `parent` is given; the caller has checked it) and
/// returns it as shown.
pub async fn create(
    db: &PgPool,
    video: VideoId,
    author: UserId,
    parent: Option<Uuid>,
    body: &Body,
) -> sqlx::Result<Option<Comment>> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO comments (id, video_id, author_id, parent_id, body) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(video)
        .bind(author)
        .bind(parent)
        .bind(body.as_str())
        .execute(db)
        .await?;
    find(db, id).await
}

/// Top-level comments of `video`, newest first, after `after`.
pub async fn top_level(db: &PgPool, video: VideoId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Comment>> {
    let newest_first = concat!(
        select!(),
        "WHERE c.video_id = $1 AND c.parent_id IS NULL
           AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2, $3))
         ORDER BY c.created_at DESC, c.id DESC LIMIT $4"
    );
    page(db, newest_first, video.0, after, limit).await
}

/// Replies to `parent`, oldest first (a conversation reads forwards), after `after`.
pub async fn replies(db: &PgPool, parent: Uuid, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Comment>> {
    let oldest_first = concat!(
        select!(),
        "WHERE c.parent_id = $1 AND ($2::timestamptz IS NULL OR (c.created_at, c.id) > ($2, $3))
         ORDER BY c.created_at, c.id LIMIT $4"
    );
    page(db, oldest_first, parent, after, limit).await
}

/// Runs a page query: `$1` what the comments belong to, `$2, $3` the cursor, `$4` the limit.
async fn page(
    db: &PgPool,
    sql: &'static str,
    of: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<Comment>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(sql).bind(of).bind(at).bind(id).bind(limit).fetch_all(db).await
}

/// Replaces a comment's text and stamps `edited_at`; returns it as shown, `None` when
/// it is gone. The caller has checked that the editor is its author.
pub async fn edit(db: &PgPool, id: Uuid, body: &Body) -> sqlx::Result<Option<Comment>> {
    sqlx::query("UPDATE comments SET body = $2, edited_at = now() WHERE id = $1")
        .bind(id)
        .bind(body.as_str())
        .execute(db)
        .await?;
    find(db, id).await
}

/// Removes a comment and, with it, its replies; nothing when it is already gone.
pub async fn delete(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM comments WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}
