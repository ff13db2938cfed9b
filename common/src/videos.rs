//! Videos: validated metadata, the lifecycle and its transitions, in one place.
//!
//! `uploading -> queued -> processing -> ready | failed`, and `-> deleted` from any
//! state while a video is being removed. Each transition is one
//! conditional UPDATE, so a job that runs twice cannot move a video backwards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::ids::{UserId, VideoId};
use crate::text::{TextRule, ValidationError, text_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "video_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    Uploading,
    Queued,
    Processing,
    Ready,
    Failed,
    /// Being removed: its objects are deleted, then its row. Never shown or served.
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "video_visibility", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Unlisted,
    Private,
}

/// One rung of the HLS ladder as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: String,
}

/// What the upload turned out to be, as probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceSummary {
    pub duration_s: f64,
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub bitrate: Option<u64>,
    pub size_bytes: u64,
    pub has_audio: bool,
    /// The source's dynamic range; HDR sources are tone-mapped to SDR for playback.
    #[serde(default)]
    pub dynamic_range: DynamicRange,
}

/// How a source encodes brightness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicRange {
    /// Standard dynamic range (BT.709 or BT.601 gamma).
    #[default]
    Sdr,
    /// Hybrid log-gamma HDR (phones, broadcast).
    Hlg,
    /// Perceptual quantiser HDR (HDR10, Dolby Vision base layers).
    Pq,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Video {
    pub id: VideoId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    pub status: VideoStatus,
    pub error: Option<String>,
    pub source_bytes: i64,
    pub duration_s: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub renditions: Json<Vec<Rendition>>,
    pub source: Option<Json<SourceSummary>>,
    pub has_storyboard: bool,
    /// Views counted so far (they reach the database in batches).
    pub view_count: i64,
    /// Playback tokens are valid only for the generation they were issued in; every
    /// visibility change starts a new one.
    pub playback_generation: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Video {
    /// Whether anyone who knows the id may see it: ready, and public or unlisted.
    pub fn is_shared(&self) -> bool {
        self.status == VideoStatus::Ready && self.visibility != Visibility::Private
    }
}

/// A title: 1..=200 characters after trimming, one line of visible text ([`crate::text`]).
pub struct Title(String);

impl Title {
    pub const RULE: TextRule = TextRule { field: "title", min_chars: 1, max_chars: 200, multiline: false };

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Title);

/// A description: at most 5000 characters; line breaks and tabs allowed.
pub struct Description(String);

impl Description {
    pub const RULE: TextRule = TextRule { field: "description", min_chars: 0, max_chars: 5000, multiline: true };

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Description);

/// The columns of [`Video`], for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, owner_id, title, description, visibility, status, error, source_bytes, duration_s, \
         width, height, renditions, source, has_storyboard, view_count, playback_generation, created_at, updated_at"
    };
}
pub(crate) use columns;

pub struct NewVideo<'a> {
    pub id: VideoId,
    pub owner_id: UserId,
    pub title: &'a Title,
    pub description: &'a Description,
    pub source_bytes: u64,
}

/// Creates a video whose source is already stored, ready for the queue.
pub async fn insert_queued<'e>(db: impl PgExecutor<'e>, new: NewVideo<'_>) -> sqlx::Result<Video> {
    sqlx::query_as::<_, Video>(concat!(
        "INSERT INTO videos (id, owner_id, title, description, status, source_bytes)
         VALUES ($1, $2, $3, $4, 'queued', $5) RETURNING ",
        columns!()
    ))
    .bind(new.id)
    .bind(new.owner_id)
    .bind(new.title.as_str())
    .bind(new.description.as_str())
    .bind(i64::try_from(new.source_bytes).unwrap_or(i64::MAX))
    .fetch_one(db)
    .await
}

/// The video, unless it is gone or being deleted (`deleted` is never shown or served).
pub async fn find(db: &PgPool, id: VideoId) -> sqlx::Result<Option<Video>> {
    sqlx::query_as::<_, Video>(concat!("SELECT ", columns!(), " FROM videos WHERE id = $1 AND status <> 'deleted'"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The video in any state, including one whose deletion is under way.
pub async fn find_including_deleted(db: &PgPool, id: VideoId) -> sqlx::Result<Option<Video>> {
    sqlx::query_as::<_, Video>(concat!("SELECT ", columns!(), " FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Public ready videos and, for a signed-in viewer, all of their own; newest first.
pub async fn list_visible(db: &PgPool, viewer: Option<UserId>, limit: i64) -> sqlx::Result<Vec<Video>> {
    sqlx::query_as::<_, Video>(concat!(
        "SELECT ",
        columns!(),
        " FROM videos
         WHERE ((status = 'ready' AND visibility = 'public') OR owner_id = $1) AND status <> 'deleted'
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(viewer)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A creator's public, ready videos; newest first.
pub async fn list_public_by_owner(db: &PgPool, owner: UserId, limit: i64) -> sqlx::Result<Vec<Video>> {
    sqlx::query_as::<_, Video>(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE owner_id = $1 AND status = 'ready' AND visibility = 'public'
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(owner)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What an owner may change.
#[derive(Default)]
pub struct MetadataChange {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub visibility: Option<Visibility>,
}

/// A change of visibility also revokes every playback token issued before it.
pub async fn update_metadata(db: &PgPool, id: VideoId, change: &MetadataChange) -> sqlx::Result<Option<Video>> {
    sqlx::query_as::<_, Video>(concat!(
        "UPDATE videos SET title = COALESCE($2, title), description = COALESCE($3, description),
                visibility = COALESCE($4, visibility), updated_at = now(),
                playback_generation = playback_generation + (COALESCE($4, visibility) <> visibility)::int
         WHERE id = $1 AND status <> 'deleted' RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(change.title.as_ref().map(Title::as_str))
    .bind(change.description.as_ref().map(Description::as_str))
    .bind(change.visibility)
    .fetch_optional(db)
    .await
}

/// any -> deleted: from now on the video is neither shown, served nor transcoded.
pub async fn mark_deleted(db: &PgPool, id: VideoId) -> sqlx::Result<bool> {
    let updated = sqlx::query("UPDATE videos SET status = 'deleted', error = NULL, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(updated.rows_affected() == 1)
}

/// queued -> processing. A video already `processing` is taken again (its previous
/// worker died); `None` means there is nothing to do (ready, failed, deleted, gone).
pub async fn start_processing<'e>(db: impl PgExecutor<'e>, id: VideoId) -> sqlx::Result<Option<Video>> {
    sqlx::query_as::<_, Video>(concat!(
        "UPDATE videos SET status = 'processing', updated_at = now()
         WHERE id = $1 AND status IN ('queued', 'processing') RETURNING ",
        columns!()
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What the transcoder learned and published.
pub struct Published {
    pub source: SourceSummary,
    pub renditions: Vec<Rendition>,
    pub has_storyboard: bool,
}

/// processing -> ready. Returns false when the video was not processing (deleted, already done).
pub async fn mark_ready<'e>(db: impl PgExecutor<'e>, id: VideoId, published: &Published) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE videos SET status = 'ready', error = NULL, duration_s = $2, width = $3, height = $4,
                renditions = $5, source = $6, has_storyboard = $7, updated_at = now()
         WHERE id = $1 AND status = 'processing'",
    )
    .bind(id)
    .bind(published.source.duration_s)
    .bind(published.source.width as i32)
    .bind(published.source.height as i32)
    .bind(Json(&published.renditions))
    .bind(Json(&published.source))
    .bind(published.has_storyboard)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// queued|processing -> failed with a reason a person can read.
pub async fn mark_failed<'e>(db: impl PgExecutor<'e>, id: VideoId, reason: &str) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE videos SET status = 'failed', error = $2, updated_at = now()
         WHERE id = $1 AND status IN ('queued', 'processing')",
    )
    .bind(id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// processing -> queued: the attempt failed transiently and the job will run again.
pub async fn requeue<'e>(db: impl PgExecutor<'e>, id: VideoId) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET status = 'queued', updated_at = now() WHERE id = $1 AND status = 'processing'")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// failed -> queued, clearing the error: an operator retries its job.
pub async fn reopen<'e>(db: impl PgExecutor<'e>, id: VideoId) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE videos SET status = 'queued', error = NULL, updated_at = now() WHERE id = $1 AND status = 'failed'",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Videos whose deletion began more than `age` ago and did not finish.
pub async fn deletions_older_than(db: &PgPool, age: std::time::Duration) -> sqlx::Result<Vec<VideoId>> {
    sqlx::query_scalar("SELECT id FROM videos WHERE status = 'deleted' AND updated_at < now() - $1")
        .bind(age)
        .fetch_all(db)
        .await
}

/// Removes a video row: one whose enqueue failed, or a deleted one whose objects are gone.
pub async fn delete(db: &PgPool, id: VideoId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM videos WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_validated() {
        assert_eq!(Title::parse("  My trip  ").unwrap().as_str(), "My trip");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert!(Title::parse("bad\u{0}title").is_err());
        assert!(Description::parse("line one\nline two").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
    }
}
