//! Handlers: check access, then stream the object (rewriting playlists for tokens).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use streambox_common::error::ApiPath;
use streambox_common::storage::keys;
use streambox_common::{ApiError, ApiResult, AppState};
use tokio_util::io::ReaderStream;

use crate::access::{self, Access, PlaybackQuery};
use crate::object_path::{PLAYLIST, RenditionFile};
use crate::playlist_tokens;

/// Segments and posters never change once published; playlists are re-read sooner.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";
/// Media of unlisted and private videos must not sit in shared caches.
const PRIVATE: &str = "private, max-age=3600";
/// Playlists that carry a token are never cached at all.
const NO_STORE: &str = "private, no-store";

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn master(
    State(state): State<AppState>,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    let access = access::check(&state, &video_id, query).await?;
    playlist(&state, &format!("{}master.m3u8", keys::hls_prefix(access.video)), &access).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn poster(
    State(state): State<AppState>,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    let access = access::check(&state, &video_id, query).await?;
    let cache = if access.token.is_some() { PRIVATE } else { IMMUTABLE };
    stream(&state, &keys::poster(access.video), "image/jpeg", cache).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn storyboard_sprite(
    State(state): State<AppState>,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    let access = access::check(&state, &video_id, query).await?;
    let cache = if access.token.is_some() { PRIVATE } else { IMMUTABLE };
    stream(&state, &format!("{}storyboard.jpg", keys::hls_prefix(access.video)), "image/jpeg", cache).await
}

/// The thumbnails track; for token holders its sprite references carry the token too.
#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn storyboard_track(
    State(state): State<AppState>,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    const VTT: &str = "text/vtt; charset=utf-8";
    let access = access::check(&state, &video_id, query).await?;
    let key = format!("{}storyboard.vtt", keys::hls_prefix(access.video));
    let Some(token) = &access.token else { return stream(&state, &key, VTT, SHORT).await };
    let track = read_small(&state, &key).await?;
    let track = String::from_utf8_lossy(&track).replace("storyboard.jpg#", &format!("storyboard.jpg?token={token}#"));
    Ok(([(header::CONTENT_TYPE, VTT), (header::CACHE_CONTROL, NO_STORE)], track).into_response())
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn rendition_file(
    State(state): State<AppState>,
    ApiPath((video_id, rendition, file)): ApiPath<(String, String, String)>,
    Query(query): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    let access = access::check(&state, &video_id, query).await?;
    let target = RenditionFile::parse(access.video, &rendition, &file).ok_or_else(|| ApiError::not_found("file"))?;
    if target.content_type == PLAYLIST {
        return playlist(&state, target.key(), &access).await;
    }
    let cache = if access.token.is_some() { PRIVATE } else { IMMUTABLE };
    stream(&state, target.key(), target.content_type, cache).await
}

async fn playlist(state: &AppState, key: &str, access: &Access) -> ApiResult<Response> {
    let Some(token) = &access.token else {
        return stream(state, key, PLAYLIST, SHORT).await;
    };
    let object = state.storage.get(key).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let stored =
        object.body.collect().await.map_err(|e| ApiError::internal(format!("reading {key}: {e}")))?.into_bytes();
    let body = playlist_tokens::with_token(&stored, token)?;
    Ok(([(header::CONTENT_TYPE, PLAYLIST), (header::CACHE_CONTROL, NO_STORE)], body).into_response())
}

/// A whole small object (a playlist or track) in memory, to rewrite it.
async fn read_small(state: &AppState, key: &str) -> ApiResult<bytes::Bytes> {
    let object = state.storage.get(key).await?.ok_or_else(|| ApiError::not_found("file"))?;
    Ok(object.body.collect().await.map_err(|e| ApiError::internal(format!("reading {key}: {e}")))?.into_bytes())
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
