//! Video metadata: one video, and the library a caller may see.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use streambox_common::auth::AuthUser;
use streambox_common::error::ApiPath;
use streambox_common::ids::VideoId;
use streambox_common::videos::{self, Rendition, Video, VideoStatus, Visibility};
use streambox_common::{ApiError, ApiResult, AppState};

const LIST_LIMIT: i64 = 100;

#[derive(Serialize)]
pub struct VideoView {
    id: VideoId,
    title: String,
    description: String,
    visibility: Visibility,
    status: VideoStatus,
    error: Option<String>,
    duration_s: Option<f64>,
    width: Option<i32>,
    height: Option<i32>,
    renditions: Vec<Rendition>,
    master_url: Option<String>,
    poster_url: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Video> for VideoView {
    fn from(video: Video) -> Self {
        let ready = video.status == VideoStatus::Ready;
        Self {
            master_url: ready.then(|| format!("/hls/{}/master.m3u8", video.id)),
            poster_url: ready.then(|| format!("/hls/{}/poster.jpg", video.id)),
            id: video.id,
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

#[derive(Serialize)]
pub struct VideoList {
    videos: Vec<VideoView>,
}

#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<VideoView>> {
    let video = videos::find(&state.db, id).await?;
    // A video the caller may not see answers exactly like one that does not exist.
    let video = video.filter(|v| v.visible_to(viewer.map(|u| u.id))).ok_or_else(|| ApiError::not_found("video"))?;
    Ok(Json(video.into()))
}

#[tracing::instrument(skip_all)]
pub async fn list(State(state): State<AppState>, viewer: Option<AuthUser>) -> ApiResult<Json<VideoList>> {
    let videos = videos::list_visible(&state.db, viewer.map(|u| u.id), LIST_LIMIT).await?;
    Ok(Json(VideoList { videos: videos.into_iter().map(VideoView::from).collect() }))
}
