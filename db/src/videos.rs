//! Videos: validated metadata, the lifecycle and its transitions, in one place.
//!
//! `uploading -> queued -> processing -> ready | failed`, and `-> deleted` from any
//! state while a video is being removed. Each transition is one
//! conditional UPDATE, so a job that runs twice cannot move a video backwards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use streambox_base::ids::{UserId, VideoId};
use streambox_base::text::{TextRule, ValidationError};
use streambox_base::text_schema;

/// Where a video stands in the lifecycle above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "video_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    /// Its source is still arriving. The schema keeps this state, but videos are now
    /// created `queued`, once their source is stored.
    Uploading,
    /// Stored and waiting for a transcode attempt, or for the next one after a transient failure.
    Queued,
    /// A transcoder is working on it.
    Processing,
    /// Transcoded and published: playable by whoever may see it.
    Ready,
    /// Transcoding gave up; `error` says why.
    Failed,
    /// Being removed: its objects are deleted, then its row. Never shown or served.
    Deleted,
}

/// Who may find and watch a ready video; its owner and admins always may. An upload
/// that does not choose one is public.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "video_visibility", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed in feeds and search, and playable by anyone.
    #[default]
    Public,
    /// Playable by anyone who knows its id, but never listed.
    Unlisted,
    /// Seen only by its owner and admins.
    Private,
}

impl Visibility {
    /// The visibility a client names in text (a form field, tus metadata), spelled as in
    /// JSON: `public`, `unlisted` or `private`; anything else is a [`ValidationError`]
    /// naming `visibility`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "public" => Ok(Self::Public),
            "unlisted" => Ok(Self::Unlisted),
            "private" => Ok(Self::Private),
            _ => Err(ValidationError { field: "visibility", problem: "must be public, unlisted or private".into() }),
        }
    }
}

/// One rung of the HLS ladder as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rendition {
    /// Its short side in pixels with a `p` (`720p`); also the directory of its playlist
    /// and segments, next to the master playlist.
    pub name: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Peak segment bitrate in bit/s, the shared audio's included (HLS `BANDWIDTH`).
    pub bandwidth: u64,
    /// Mean bitrate in bit/s, the shared audio's included (HLS `AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs (HLS `CODECS`): the video's as read from its own segments, then
    /// the audio's when there is sound.
    pub codecs: String,
}

/// What the upload turned out to be, as probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceSummary {
    /// Length in seconds.
    pub duration_s: f64,
    /// Display width in pixels, after rotation and pixel aspect ratio.
    pub width: u32,
    /// Display height in pixels, after rotation and pixel aspect ratio.
    pub height: u32,
    /// The source's own average frame rate in frames per second, before any normalisation.
    pub frame_rate: f64,
    /// ffprobe's name for the video codec (`h264`, `hevc`), or `unknown`.
    pub video_codec: String,
    /// ffprobe's name for the audio codec (`aac`); `None` without sound.
    pub audio_codec: Option<String>,
    /// Overall bitrate in bit/s, when the container states it.
    pub bitrate: Option<u64>,
    /// The source file's size in bytes.
    pub size_bytes: u64,
    /// Whether it has sound, published as the rungs' shared audio rendition.
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

/// A video as stored: its metadata, where it stands, and what was published.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Video {
    /// Names the video in routes, object keys and its job; the id of the upload it came from.
    pub id: VideoId,
    /// The creator who uploaded it; they and admins may change or delete it.
    pub owner_id: UserId,
    /// The title, as [`Title`] accepted it.
    pub title: String,
    /// The description, as [`Description`] accepted it; may be empty.
    pub description: String,
    /// Who may find and watch it once ready.
    pub visibility: Visibility,
    /// Where it stands in the lifecycle.
    pub status: VideoStatus,
    /// Why it failed, in words a person can act on; set only while `failed`.
    pub error: Option<String>,
    /// The uploaded source's size in bytes.
    pub source_bytes: i64,
    /// The source's length in seconds; set when ready.
    pub duration_s: Option<f64>,
    /// The source's display width in pixels; set when ready.
    pub width: Option<i32>,
    /// The source's display height in pixels; set when ready.
    pub height: Option<i32>,
    /// The published HLS rungs; empty until ready.
    pub renditions: Json<Vec<Rendition>>,
    /// What the source turned out to be; `None` until ready.
    pub source: Option<Json<SourceSummary>>,
    /// Whether scrub previews (a sprite sheet and its WebVTT track) were published.
    pub has_storyboard: bool,
    /// Whether the downloadable MP4 was published (when it was finished).
    pub has_download: bool,
    /// Whether its owner lets anyone who may watch it download it; owners and admins
    /// always may.
    pub downloadable: bool,
    /// Whether its segments are AES-128 encrypted (it has a sealed segment key; the key
    /// itself is read only by [`sealed_key`]).
    pub encrypted: bool,
    /// Whether its master playlist and every rendition's first segments are published:
    /// set while processing once they are, kept across retries (what was published stays
    /// fetchable), true when ready, false again when it fails.
    pub playable: bool,
    /// Views counted so far (they reach the database in batches).
    pub view_count: i64,
    /// Playback tokens are valid only for the generation they were issued in; every
    /// visibility change starts a new one.
    pub playback_generation: i32,
    /// When it was created; listings and feeds are ordered by it, newest first.
    pub created_at: DateTime<Utc>,
    /// When its status or metadata last changed; for a deleted video, when its deletion began.
    pub updated_at: DateTime<Utc>,
}

impl Video {
    /// Whether it can be played now: ready, or still being encoded with its start
    /// published (its playlists then grow until it is ready).
    pub fn is_playable(&self) -> bool {
        match self.status {
            VideoStatus::Ready => true,
            VideoStatus::Queued | VideoStatus::Processing => self.playable,
            VideoStatus::Uploading | VideoStatus::Failed | VideoStatus::Deleted => false,
        }
    }

    /// Whether it is playable but not finished: its playlists still grow.
    pub fn is_growing(&self) -> bool {
        self.is_playable() && self.status != VideoStatus::Ready
    }

    /// Whether anyone who knows the id may see it: playable, and public or unlisted.
    pub fn is_shared(&self) -> bool {
        self.is_playable() && self.visibility != Visibility::Private
    }
}

/// A title: 1..=200 characters after trimming, one line of visible text ([`streambox_base::text`]).
pub struct Title(String);

impl Title {
    /// The bounds a title is checked against.
    pub const RULE: TextRule = TextRule { field: "title", min_chars: 1, max_chars: 200, multiline: false };

    /// The trimmed title, or a [`ValidationError`] naming `title` when it breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    /// The checked title, for storing it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Title);

/// A description: at most 5000 characters; line breaks and tabs allowed.
pub struct Description(String);

impl Description {
    /// The bounds a description is checked against.
    pub const RULE: TextRule = TextRule { field: "description", min_chars: 0, max_chars: 5000, multiline: true };

    /// The trimmed description, or a [`ValidationError`] naming `description` when it
    /// breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    /// The checked description, for storing it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Description);

/// The columns of [`Video`], for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, owner_id, title, description, visibility, status, error, source_bytes, duration_s, \
         width, height, renditions, source, has_storyboard, has_download, downloadable, playable, view_count, \
         playback_generation, created_at, updated_at, segment_key IS NOT NULL AS encrypted"
    };
}
pub(crate) use columns;

/// A video to create, its metadata already validated.
pub struct NewVideo<'a> {
    /// The id of the upload it comes from, under which its source is stored.
    pub id: VideoId,
    /// The creator who uploaded it.
    pub owner_id: UserId,
    /// The title it starts with; its owner may change it later.
    pub title: &'a Title,
    /// The description it starts with; may be empty.
    pub description: &'a Description,
    /// Who may see it, chosen at upload so it is never more visible than asked for.
    pub visibility: Visibility,
    /// The stored source's size in bytes.
    pub source_bytes: u64,
    /// Its AES-128 segment key, sealed (`streambox_core::segment_keys`); `None`: its media
    /// is published in the clear.
    pub sealed_key: Option<Vec<u8>>,
}

/// Creates a video whose source is already stored, ready for the queue.
pub async fn insert_queued<'e>(db: impl PgExecutor<'e>, new: NewVideo<'_>) -> sqlx::Result<Video> {
    sqlx::query_as::<_, Video>(concat!(
        "INSERT INTO videos (id, owner_id, title, description, visibility, status, source_bytes, segment_key)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7) RETURNING ",
        columns!()
    ))
    .bind(new.id)
    .bind(new.owner_id)
    .bind(new.title.as_str())
    .bind(new.description.as_str())
    .bind(new.visibility)
    .bind(i64::try_from(new.source_bytes).unwrap_or(i64::MAX))
    .bind(new.sealed_key)
    .fetch_one(db)
    .await
}

/// The video's sealed segment key; `None` when its media is not encrypted (or it is gone).
/// Read only by the transcoder and the streamer's key route, never with the rest of a
/// [`Video`], so it cannot reach a listing or a log line.
pub async fn sealed_key(db: &PgPool, id: VideoId) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT segment_key FROM videos WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
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
    /// The new title; `None` keeps it.
    pub title: Option<Title>,
    /// The new description; `None` keeps it.
    pub description: Option<Description>,
    /// The new visibility; `None` keeps it. A change revokes playback tokens issued before it.
    pub visibility: Option<Visibility>,
    /// Whether others may download it; `None` keeps it.
    pub downloadable: Option<bool>,
}

/// A change of visibility also revokes every playback token issued before it.
pub async fn update_metadata(db: &PgPool, id: VideoId, change: &MetadataChange) -> sqlx::Result<Option<Video>> {
    sqlx::query_as::<_, Video>(concat!(
        "UPDATE videos SET title = COALESCE($2, title), description = COALESCE($3, description),
                visibility = COALESCE($4, visibility), downloadable = COALESCE($5, downloadable), updated_at = now(),
                playback_generation = playback_generation + (COALESCE($4, visibility) <> visibility)::int
         WHERE id = $1 AND status <> 'deleted' RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(change.title.as_ref().map(Title::as_str))
    .bind(change.description.as_ref().map(Description::as_str))
    .bind(change.visibility)
    .bind(change.downloadable)
    .fetch_optional(db)
    .await
}

/// any -> deleted: from now on the video is neither shown, served nor transcoded.
pub async fn mark_deleted(db: &PgPool, id: VideoId) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET status = 'deleted', error = NULL, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
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
    /// What the source turned out to be, as probed.
    pub source: SourceSummary,
    /// The HLS rungs, as listed in the master playlist.
    pub renditions: Vec<Rendition>,
    /// Whether scrub previews were published.
    pub has_storyboard: bool,
    /// Whether the downloadable MP4 was published.
    pub has_download: bool,
}

/// processing -> ready. Returns false when the video was not processing (deleted, already done).
pub async fn mark_ready<'e>(db: impl PgExecutor<'e>, id: VideoId, published: &Published) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE videos SET status = 'ready', error = NULL, duration_s = $2, width = $3, height = $4,
                renditions = $5, source = $6, has_storyboard = $7, has_download = $8, playable = true, updated_at = now()
         WHERE id = $1 AND status = 'processing'",
    )
    .bind(id)
    .bind(published.source.duration_s)
    .bind(published.source.width as i32)
    .bind(published.source.height as i32)
    .bind(Json(&published.renditions))
    .bind(Json(&published.source))
    .bind(published.has_storyboard)
    .bind(published.has_download)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// processing, and now playable: the master and every rendition's first segment are
/// published. Returns false when it was not processing or was playable already.
pub async fn mark_playable<'e>(db: impl PgExecutor<'e>, id: VideoId) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE videos SET playable = true, updated_at = now() WHERE id = $1 AND status = 'processing' AND NOT playable",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// queued|processing -> failed with a reason a person can read.
pub async fn mark_failed<'e>(db: impl PgExecutor<'e>, id: VideoId, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE videos SET status = 'failed', error = $2, playable = false, updated_at = now()
         WHERE id = $1 AND status IN ('queued', 'processing')",
    )
    .bind(id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
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
        assert_eq!(Description::parse(" line one\nline two\n").unwrap().as_str(), "line one\nline two");
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert!(Description::parse("bell\u{7}").is_err());
    }

    #[test]
    fn visibilities_parse_as_json_spells_them_and_nothing_else() {
        for visibility in [Visibility::Public, Visibility::Unlisted, Visibility::Private] {
            let spelled = serde_json::to_value(visibility).unwrap();
            assert_eq!(Visibility::parse(spelled.as_str().unwrap()), Ok(visibility));
        }
        for raw in ["", "Private", " private", "secret"] {
            assert_eq!(Visibility::parse(raw).unwrap_err().field, "visibility", "{raw:?}");
        }
        assert_eq!(Visibility::default(), Visibility::Public);
    }
}
