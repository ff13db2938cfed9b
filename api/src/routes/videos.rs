//! Video metadata: read, list, edit, delete, and playback URLs.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::{UserId, VideoId};
use streambox_core::lifecycle;
use streambox_db::feeds::Cursor;
use streambox_db::jobs;
use streambox_db::likes;
use streambox_db::studio;
use streambox_db::videos::{
    self, Description, MetadataChange, Rendition, SourceSummary, Title, Video, VideoStatus, Visibility,
};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiPath, ApiQuery};
use streambox_http::error_codes as codes;
use streambox_http::object_response;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::layout::{keys, urls};

use super::pages::{Page, PageQuery};
use super::video_access::{manageable, viewable};

const LIST_LIMIT: i64 = 100;

#[derive(Serialize, schemars::JsonSchema)]
pub struct VideoView {
    id: VideoId,
    owner_id: UserId,
    title: String,
    description: String,
    visibility: Visibility,
    status: VideoStatus,
    /// Whether it can be played now: true when ready, and already while `processing`
    /// once the start of every rendition is published (its playlists then grow until
    /// it is ready).
    playable: bool,
    error: Option<String>,
    duration_s: Option<f64>,
    width: Option<i32>,
    height: Option<i32>,
    renditions: Vec<Rendition>,
    /// What the upload turned out to be (once probed and published).
    source: Option<SourceSummary>,
    /// Direct for public playable videos; unlisted and private ones play through `/playback`.
    master_url: Option<String>,
    /// Once ready (the poster is made at the end of the encode).
    poster_url: Option<String>,
    /// WebVTT thumbnails track for scrub previews.
    storyboard_url: Option<String>,
    /// Whether its owner lets anyone who may watch it download it (owners and admins
    /// always may), at `/api/v1/videos/{id}/download`.
    downloadable: bool,
    /// Whether a downloadable MP4 was made (when it was finished).
    has_download: bool,
    /// Whether its segments are AES-128 encrypted (`EXT-X-KEY`; the key is served at
    /// `/hls/{id}/key` under the video's access rules).
    encrypted: bool,
    /// While queued or processing: how far the transcode has come.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<TranscodeProgress>,
    /// Views counted so far (added in batches, so a few seconds behind).
    views: i64,
    /// In a single video's details: its likes, and whether the caller likes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    likes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    liked: Option<bool>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Video> for VideoView {
    fn from(video: Video) -> Self {
        let direct = video.is_playable() && video.visibility == Visibility::Public;
        let ready = video.status == VideoStatus::Ready;
        Self {
            master_url: direct.then(|| urls::master(video.id)),
            poster_url: (direct && ready).then(|| urls::poster(video.id)),
            playable: video.is_playable(),
            storyboard_url: (direct && video.has_storyboard).then(|| urls::storyboard_track(video.id)),
            source: video.source.map(|s| s.0),
            downloadable: video.downloadable,
            has_download: video.has_download,
            encrypted: video.encrypted,
            progress: None,
            views: video.view_count,
            likes: None,
            liked: None,
            id: video.id,
            owner_id: video.owner_id,
            title: video.title,
            description: video.description,
            visibility: video.visibility,
            status: video.status,
            error: video.error,
            duration_s: video.duration_s,
            width: video.width,
            height: video.height,
            renditions: video.renditions.0,
            created_at: video.created_at,
            updated_at: video.updated_at,
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TranscodeProgress {
    attempt: i32,
    percent: f32,
    eta_s: Option<f32>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct VideoList {
    videos: Vec<VideoView>,
}

#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<VideoView>> {
    let video = viewable(&state, id, viewer).await?;
    let waiting = matches!(video.status, VideoStatus::Queued | VideoStatus::Processing);
    let mut view = VideoView::from(video);
    view.likes = Some(likes::count(&state.db, id).await?);
    if let Some(user) = viewer {
        view.liked = Some(likes::liked_by(&state.db, id, user.id).await?);
    }
    if waiting && let Some(job) = jobs::find_by_video(&state.db, id).await? {
        view.progress = Some(TranscodeProgress {
            attempt: job.attempts,
            percent: job.progress_percent.unwrap_or(0.0),
            eta_s: job.eta_s,
        });
    }
    Ok(Json(view))
}

#[tracing::instrument(skip_all)]
pub async fn list(State(state): State<AppState>, viewer: Option<AuthUser>) -> ApiResult<Json<VideoList>> {
    let videos = videos::list_visible(&state.db, viewer.map(|u| u.id), LIST_LIMIT).await?;
    Ok(Json(VideoList { videos: videos.into_iter().map(VideoView::from).collect() }))
}

/// The caller's own videos, every state and visibility, newest first, with the
/// transcode progress of those queued or processing (their studio).
#[tracing::instrument(skip_all)]
pub async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoView>>> {
    let limit = page.limit()?;
    let videos = studio::videos_of(&state.db, user.id, page.cursor()?, limit).await?;
    let waiting: Vec<VideoId> = videos
        .iter()
        .filter(|v| matches!(v.status, VideoStatus::Queued | VideoStatus::Processing))
        .map(|v| v.id)
        .collect();
    let progress = if waiting.is_empty() { Vec::new() } else { studio::progress_of(&state.db, &waiting).await? };
    let mut page = Page::of(videos, limit, Cursor::after_created, VideoView::from);
    for view in &mut page.items {
        if let Some(job) = progress.iter().find(|p| p.video_id == view.id) {
            view.progress = Some(TranscodeProgress {
                attempt: job.attempts,
                percent: job.progress_percent.unwrap_or(0.0),
                eta_s: job.eta_s,
            });
        }
    }
    Ok(Json(page))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoChange {
    #[schemars(with = "Option<Title>")]
    title: Option<String>,
    #[schemars(with = "Option<Description>")]
    description: Option<String>,
    visibility: Option<Visibility>,
    /// Whether others may download it.
    downloadable: Option<bool>,
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(change): ApiJson<VideoChange>,
) -> ApiResult<Json<VideoView>> {
    manageable(&state, id, user).await?;
    let change = MetadataChange {
        title: change.title.as_deref().map(Title::parse).transpose()?,
        description: change.description.as_deref().map(Description::parse).transpose()?,
        visibility: change.visibility,
        downloadable: change.downloadable,
    };
    let video = videos::update_metadata(&state.db, id, &change).await?.ok_or_else(|| ApiError::not_found("video"))?;
    Ok(Json(video.into()))
}

/// Hides the video at once, removes its objects, then its row. If storage fails
/// midway the video stays hidden as `deleted` and the same request can be repeated.
#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<StatusCode> {
    let video = videos::find_including_deleted(&state.db, id).await?.ok_or_else(|| ApiError::not_found("video"))?;
    if video.status != VideoStatus::Deleted {
        manageable(&state, id, user).await?;
        videos::mark_deleted(&state.db, id).await?;
    } else if !user.may_manage(video.owner_id) {
        return Err(ApiError::not_found("video"));
    }
    lifecycle::purge(&state.db, &state.storage, id).await?;
    tracing::info!("video deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The uploaded original, for its owner (or an admin): ranges, validators, streamed.
#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn original(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    manageable(&state, id, user).await?;
    let mut response = object_response::from_storage(
        &state.storage,
        &keys::source(id),
        &headers,
        "application/octet-stream",
        "private, no-store",
    )
    .await?
    .ok_or_else(|| ApiError::not_found("original"))?;
    let disposition = format!("attachment; filename=\"original-{id}\"");
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(ApiError::internal)?);
    Ok(response)
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Playback {
    master_url: String,
    /// Once ready (the poster is made at the end of the encode).
    poster_url: Option<String>,
    storyboard_url: Option<String>,
    /// When the token in the URLs stops working; `None` for public videos (no token).
    expires_at: Option<DateTime<Utc>>,
}

/// URLs to play the video. Unlisted and private videos get a short-lived token
/// scoped to this one video; only the owner (or an admin) gets one for a private video.
#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn playback(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<Playback>> {
    let video = viewable(&state, id, viewer).await?;
    if !video.is_playable() {
        return Err(ApiError::conflict(codes::NOT_READY, "the video is not ready to play yet"));
    }
    let master_url = urls::master(id);
    let poster_url = (video.status == VideoStatus::Ready).then(|| urls::poster(id));
    let storyboard_url = video.has_storyboard.then(|| urls::storyboard_track(id));
    if video.visibility == Visibility::Public {
        return Ok(Json(Playback { master_url, poster_url, storyboard_url, expires_at: None }));
    }
    let ttl = state.config.playback_token_ttl;
    let token = state.tokens.issue_playback(id, video.playback_generation, ttl)?;
    Ok(Json(Playback {
        master_url: format!("{master_url}?token={token}"),
        poster_url: poster_url.map(|url| format!("{url}?token={token}")),
        storyboard_url: storyboard_url.map(|url| format!("{url}?token={token}")),
        expires_at: Some(Utc::now() + ttl),
    }))
}
