//! The `captions` table: a video's caption tracks, one per language. An upload by the
//! owner replaces whatever track the language had; a track taken from the source
//! (`embedded`) never replaces an uploaded one. Each write takes a new revision.
//!
//! Changes to a video's tracks and the master playlist that lists them are made under
//! [`lock_video`], so a caption upload and the transcoder publishing the master take
//! turns, and the master written last lists the tracks as they are.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use streambox_base::ids::VideoId;

/// Where a caption track came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CaptionSource {
    /// Uploaded by the owner (or an admin).
    Uploaded,
    /// Taken from a subtitle stream of the uploaded source during the transcode.
    Embedded,
}

/// One caption track.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Caption {
    /// The BCP 47 tag, canonical (`pt-BR`).
    pub lang: String,
    /// The name players show.
    pub label: String,
    /// Uploaded or embedded.
    pub source: CaptionSource,
    /// The normalised WebVTT.
    pub vtt: String,
    /// Unique across every write of every track: names the published segments.
    pub revision: i64,
    /// When the track was last written.
    pub updated_at: DateTime<Utc>,
}

/// Locks `video`'s row until the transaction ends; false when there is no such video.
pub async fn lock_video(conn: &mut PgConnection, video: VideoId) -> sqlx::Result<bool> {
    let locked = sqlx::query("SELECT 1 FROM videos WHERE id = $1 FOR UPDATE").bind(video).fetch_optional(conn).await?;
    Ok(locked.is_some())
}

/// The tracks of `video`, by language.
pub async fn list(db: impl PgExecutor<'_>, video: VideoId) -> sqlx::Result<Vec<Caption>> {
    sqlx::query_as(
        "SELECT lang, label, source, vtt, revision, updated_at FROM captions WHERE video_id = $1 ORDER BY lang",
    )
    .bind(video)
    .fetch_all(db)
    .await
}

/// The track of `video` in `lang`, if it has one.
pub async fn find(db: impl PgExecutor<'_>, video: VideoId, lang: &str) -> sqlx::Result<Option<Caption>> {
    sqlx::query_as(
        "SELECT lang, label, source, vtt, revision, updated_at FROM captions WHERE video_id = $1 AND lang = $2",
    )
    .bind(video)
    .bind(lang)
    .fetch_optional(db)
    .await
}

/// Writes `video`'s track in `lang` under a new revision: an upload replaces any track,
/// an embedded one only another embedded one. Returns whether it was written.
pub async fn put(
    db: impl PgExecutor<'_>,
    video: VideoId,
    lang: &str,
    label: &str,
    source: CaptionSource,
    vtt: &str,
) -> sqlx::Result<bool> {
    let written = sqlx::query(
        "INSERT INTO captions (video_id, lang, label, source, vtt) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (video_id, lang) DO UPDATE
             SET label = EXCLUDED.label, source = EXCLUDED.source, vtt = EXCLUDED.vtt,
                 revision = nextval('caption_revisions'), updated_at = now()
             WHERE EXCLUDED.source = 'uploaded' OR captions.source = 'embedded'",
    )
    .bind(video)
    .bind(lang)
    .bind(label)
    .bind(source)
    .bind(vtt)
    .execute(db)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Removes `video`'s track in `lang`; false when it had none.
pub async fn delete(db: impl PgExecutor<'_>, video: VideoId, lang: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM captions WHERE video_id = $1 AND lang = $2")
        .bind(video)
        .bind(lang)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Tells every streamer that `video`'s published files changed (at commit), so none
/// serves a master or playlist it cached before.
pub async fn announce_change(db: impl PgExecutor<'_>, video: VideoId) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify('streambox_video_changed', $1)").bind(video.to_string()).execute(db).await?;
    Ok(())
}
