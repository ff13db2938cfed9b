//! Handlers: check the video is ready, then stream the object.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use streambox_common::error::ApiPath;
use streambox_common::ids::VideoId;
use streambox_common::storage::keys;
use streambox_common::videos::{self, VideoStatus, Visibility};
use streambox_common::{ApiError, ApiResult, AppState};
use tokio_util::io::ReaderStream;

use crate::object_path::{PLAYLIST, RenditionFile};

/// Segments and posters never change once published; playlists are re-read sooner.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn master(State(state): State<AppState>, ApiPath(video_id): ApiPath<String>) -> ApiResult<Response> {
    let video = servable(&state, &video_id).await?;
    stream(&state, &format!("{}master.m3u8", keys::hls_prefix(video)), PLAYLIST, SHORT).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn poster(State(state): State<AppState>, ApiPath(video_id): ApiPath<String>) -> ApiResult<Response> {
    let video = servable(&state, &video_id).await?;
    stream(&state, &keys::poster(video), "image/jpeg", IMMUTABLE).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn rendition_file(
    State(state): State<AppState>,
    ApiPath((video_id, rendition, file)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let video = servable(&state, &video_id).await?;
    let target = RenditionFile::parse(video, &rendition, &file).ok_or_else(|| ApiError::not_found("file"))?;
    let cache = if target.content_type == PLAYLIST { SHORT } else { IMMUTABLE };
    stream(&state, target.key(), target.content_type, cache).await
}

/// The id of a video that exists, is ready and may be watched without a token.
async fn servable(state: &AppState, raw_id: &str) -> ApiResult<VideoId> {
    let id: VideoId = raw_id.parse().map_err(|_| ApiError::not_found("video"))?;
    match videos::find(&state.db, id).await? {
        Some(v) if v.status == VideoStatus::Ready && v.visibility != Visibility::Private => Ok(id),
        _ => Err(ApiError::not_found("video")),
    }
}

async fn stream(state: &AppState, key: &str, content_type: &'static str, cache: &'static str) -> ApiResult<Response> {
    let object = state.storage.get(key).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let mut response = Body::from_stream(ReaderStream::new(object.body.into_async_read())).into_response();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(len) = object.content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(etag) = object.e_tag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}
