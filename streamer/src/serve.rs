//! Handlers: check access, then answer from the cache or storage (rewriting playlists
//! for token holders, redirecting segments when so configured).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use streambox_common::config::SegmentRedirect;
use streambox_common::error::ApiPath;
use streambox_common::object_response::{self, ObjectMeta};
use streambox_common::storage::keys;
use streambox_common::{ApiError, ApiResult, AppState};
use tokio_util::sync::CancellationToken;

use crate::access::{self, Access, AccessCache, PlaybackQuery};
use crate::object_cache::{Lookup, ObjectCache};
use crate::object_path::{PLAYLIST, RenditionFile};
use crate::playlist_tokens;

/// Segments and posters never change once published; playlists are re-read sooner.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";
/// Media of unlisted and private videos must not sit in shared caches.
const PRIVATE: &str = "private, max-age=3600";
/// Playlists that carry a token are never cached at all.
const NO_STORE: &str = "private, no-store";
const VTT: &str = "text/vtt; charset=utf-8";

/// The streamer's own state: its caches.
pub struct Streamer {
    objects: Arc<ObjectCache>,
    access: Arc<AccessCache>,
}

impl Streamer {
    pub fn start(state: &AppState, shutdown: CancellationToken) -> Arc<Self> {
        let config = &state.config.stream;
        let objects = Arc::new(ObjectCache::new(state.storage.clone(), config.cache_bytes, config.cache_max_object));
        let access = Arc::new(AccessCache::new(config.access_ttl));
        tokio::spawn(access::listen_for_changes(state.clone(), access.clone(), objects.clone(), shutdown));
        Arc::new(Self { objects, access })
    }
}

type Ctx = (State<AppState>, Extension<Arc<Streamer>>);

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn master(
    (State(state), Extension(streamer)): Ctx,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let access = access::check(&state, &streamer.access, &video_id, query).await?;
    let key = format!("{}master.m3u8", keys::hls_prefix(access.video));
    playlist(&state, &streamer, &key, &access, &headers).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn poster(
    (State(state), Extension(streamer)): Ctx,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let access = access::check(&state, &streamer.access, &video_id, query).await?;
    object(&state, &streamer, &keys::poster(access.video), "image/jpeg", media_cache(&access), &headers).await
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn storyboard_sprite(
    (State(state), Extension(streamer)): Ctx,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let access = access::check(&state, &streamer.access, &video_id, query).await?;
    let key = format!("{}storyboard.jpg", keys::hls_prefix(access.video));
    object(&state, &streamer, &key, "image/jpeg", media_cache(&access), &headers).await
}

/// The thumbnails track; for token holders its sprite references carry the token too.
#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn storyboard_track(
    (State(state), Extension(streamer)): Ctx,
    ApiPath(video_id): ApiPath<String>,
    Query(query): Query<PlaybackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let access = access::check(&state, &streamer.access, &video_id, query).await?;
    let key = format!("{}storyboard.vtt", keys::hls_prefix(access.video));
    let Some(token) = &access.token else { return object(&state, &streamer, &key, VTT, SHORT, &headers).await };
    let track = whole(&streamer, &key).await?;
    let track = String::from_utf8_lossy(&track).replace("storyboard.jpg#", &format!("storyboard.jpg?token={token}#"));
    Ok(([(header::CONTENT_TYPE, VTT), (header::CACHE_CONTROL, NO_STORE)], track).into_response())
}

#[tracing::instrument(skip_all, fields(video = %video_id))]
pub async fn rendition_file(
    (State(state), Extension(streamer)): Ctx,
    ApiPath((video_id, rendition, file)): ApiPath<(String, String, String)>,
    Query(query): Query<PlaybackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let access = access::check(&state, &streamer.access, &video_id, query).await?;
    let target = RenditionFile::parse(access.video, &rendition, &file).ok_or_else(|| ApiError::not_found("file"))?;
    if target.content_type == PLAYLIST {
        return playlist(&state, &streamer, target.key(), &access, &headers).await;
    }
    if let Some(location) = redirect(&state, target.key(), &access).await? {
        let location = HeaderValue::from_str(&location).map_err(ApiError::internal)?;
        return Ok((
            StatusCode::FOUND,
            [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE))],
        )
            .into_response());
    }
    object(&state, &streamer, target.key(), target.content_type, media_cache(&access), &headers).await
}

fn media_cache(access: &Access) -> &'static str {
    if access.token.is_some() { PRIVATE } else { IMMUTABLE }
}

/// Where a segment request is sent instead of being served, if anywhere.
async fn redirect(state: &AppState, key: &str, access: &Access) -> ApiResult<Option<String>> {
    Ok(match &state.config.stream.segment_redirect {
        SegmentRedirect::Off => None,
        SegmentRedirect::Presigned(ttl) => Some(state.storage.presigned_get(key, *ttl).await?),
        // A CDN serves whoever asks: only public media may go there.
        SegmentRedirect::Base(base) if access.token.is_none() => Some(format!("{base}/{key}")),
        SegmentRedirect::Base(_) => None,
    })
}

async fn playlist(
    state: &AppState,
    streamer: &Streamer,
    key: &str,
    access: &Access,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Some(token) = &access.token else { return object(state, streamer, key, PLAYLIST, SHORT, headers).await };
    let stored = whole(streamer, key).await?;
    let body = playlist_tokens::with_token(&stored, token)?;
    Ok(([(header::CONTENT_TYPE, PLAYLIST), (header::CACHE_CONTROL, NO_STORE)], body).into_response())
}

/// A small object (playlist, track) whole, to rewrite it.
async fn whole(streamer: &Streamer, key: &str) -> ApiResult<bytes::Bytes> {
    match streamer.objects.get(key).await? {
        Lookup::Found(object) => Ok(object.body.clone()),
        Lookup::Missing => Err(ApiError::not_found("file")),
        Lookup::TooLarge => Err(ApiError::internal(format!("{key} is too large to rewrite"))),
    }
}

async fn object(
    state: &AppState,
    streamer: &Streamer,
    key: &str,
    content_type: &str,
    cache_control: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    match streamer.objects.get(key).await? {
        Lookup::Found(object) => {
            let meta = ObjectMeta {
                len: object.body.len() as u64,
                e_tag: object.e_tag.clone(),
                last_modified: object.last_modified,
            };
            Ok(object_response::from_bytes(headers, &object.body, &meta, content_type, cache_control))
        }
        Lookup::Missing => Err(ApiError::not_found("file")),
        Lookup::TooLarge => object_response::from_storage(&state.storage, key, headers, content_type, cache_control)
            .await?
            .ok_or_else(|| ApiError::not_found("file")),
    }
}
