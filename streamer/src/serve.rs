//! Handlers: access is granted by the `Granted` extractor, then each answers from the
//! cache or storage (rewriting playlists for token holders, redirecting segments when
//! so configured).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use streambox_base::config::SegmentRedirect;
use streambox_core::segment_keys;
use streambox_http::error::ApiPath;
use streambox_http::error_codes as codes;
use streambox_http::object_response;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::ObjectMeta;
use streambox_storage::layout::{SPRITE, keys};
use tokio_util::sync::CancellationToken;

use crate::access::{self, Access, AccessCache, PlaybackQuery};
use crate::object_cache::{Lookup, ObjectCache};
use crate::object_path::{PLAYLIST, RenditionFile, VTT};
use crate::playlist_tokens;

/// Segments and posters never change once published; playlists are re-read sooner.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";
/// Media of unlisted and private videos must not sit in shared caches.
const PRIVATE: &str = "private, max-age=3600";
/// Playlists that carry a token are never cached at all.
const NO_STORE: &str = "private, no-store";
/// A public video's playlists while it is encoded grow segment by segment: any cache
/// must ask again (a conditional request) before each use.
const GROWING: &str = "public, no-cache";

/// The streamer's own state: its caches.
pub struct Streamer {
    objects: Arc<ObjectCache>,
    access: Arc<AccessCache>,
}

impl Streamer {
    pub fn start(state: &AppState, shutdown: CancellationToken) -> Arc<Self> {
        let config = &state.config.stream;
        let objects = Arc::new(ObjectCache::new(
            state.storage.clone(),
            config.cache_bytes,
            config.cache_max_object,
            &state.metrics,
        ));
        let access = Arc::new(AccessCache::new(config.access_ttl));
        tokio::spawn(access::listen_for_changes(state.clone(), access.clone(), objects.clone(), shutdown));
        Arc::new(Self { objects, access })
    }
}

/// A request for a video's media, with access already granted: the path's video,
/// the playback token if one was needed, and what else answering it takes.
pub struct Granted {
    state: AppState,
    streamer: Arc<Streamer>,
    access: Access,
    params: HashMap<String, String>,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for Granted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ApiPath(params) = ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let Query(query) = Query::<PlaybackQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
        let streamer = parts
            .extensions
            .get::<Arc<Streamer>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the streamer's state is not installed"))?;
        let video_id = params.get("video_id").map(String::as_str).unwrap_or_default();
        let access = access::check(state, &streamer.access, video_id, query).await?;
        Ok(Self { state: state.clone(), streamer, access, params, headers: parts.headers.clone() })
    }
}

impl Granted {
    /// Public media may sit in shared caches for good; unlisted and private media may not.
    fn media_cache(&self) -> &'static str {
        if self.access.token.is_some() { PRIVATE } else { IMMUTABLE }
    }

    /// A playlist, with the token carried into its URIs for token holders. While the
    /// video is encoded its playlists change, so they come from storage every time.
    async fn playlist(&self, key: &str) -> ApiResult<Response> {
        let Some(token) = &self.access.token else {
            if self.access.growing {
                return object_response::from_storage(&self.state.storage, key, &self.headers, PLAYLIST, GROWING)
                    .await?
                    .ok_or_else(|| ApiError::not_found("file"));
            }
            return self.object(key, PLAYLIST, SHORT).await;
        };
        let stored = match self.access.growing {
            true => fresh(&self.state, key).await?,
            false => whole(&self.streamer, key).await?,
        };
        let body = playlist_tokens::with_token(&stored, token)?;
        Ok(([(header::CONTENT_TYPE, PLAYLIST), (header::CACHE_CONTROL, NO_STORE)], body).into_response())
    }

    async fn object(&self, key: &str, content_type: &str, cache_control: &str) -> ApiResult<Response> {
        object(&self.state, &self.streamer, key, content_type, cache_control, &self.headers).await
    }

    /// Where a segment request is sent instead of being served, if anywhere.
    async fn redirect(&self, key: &str) -> ApiResult<Option<String>> {
        Ok(match &self.state.config.stream.segment_redirect {
            SegmentRedirect::Off => None,
            SegmentRedirect::Presigned(ttl) => Some(self.state.storage.presigned_get(key, *ttl).await?),
            // A CDN serves whoever asks: only public media may go there.
            SegmentRedirect::Base(base) if self.access.token.is_none() => Some(format!("{base}/{key}")),
            SegmentRedirect::Base(_) => None,
        })
    }
}

#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn master(granted: Granted) -> ApiResult<Response> {
    granted.playlist(&keys::master(granted.access.video)).await
}

#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn poster(granted: Granted) -> ApiResult<Response> {
    granted.object(&keys::poster(granted.access.video), "image/jpeg", granted.media_cache()).await
}

#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn storyboard_sprite(granted: Granted) -> ApiResult<Response> {
    granted.object(&keys::storyboard_sprite(granted.access.video), "image/jpeg", granted.media_cache()).await
}

/// The thumbnails track; for token holders its sprite references carry the token too.
#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn storyboard_track(granted: Granted) -> ApiResult<Response> {
    let key = keys::storyboard_track(granted.access.video);
    let Some(token) = &granted.access.token else { return granted.object(&key, VTT, SHORT).await };
    let track = whole(&granted.streamer, &key).await?;
    let track = String::from_utf8_lossy(&track).replace(&format!("{SPRITE}#"), &format!("{SPRITE}?token={token}#"));
    Ok(([(header::CONTENT_TYPE, VTT), (header::CACHE_CONTROL, NO_STORE)], track).into_response())
}

#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn rendition_file(granted: Granted) -> ApiResult<Response> {
    let param = |name: &str| granted.params.get(name).map(String::as_str).unwrap_or_default();
    let target = RenditionFile::parse(granted.access.video, param("rendition"), param("file"))
        .ok_or_else(|| ApiError::not_found("file"))?;
    if target.content_type == PLAYLIST {
        return granted.playlist(target.key()).await;
    }
    if let Some(location) = granted.redirect(target.key()).await? {
        let location = HeaderValue::from_str(&location).map_err(ApiError::internal)?;
        return Ok((
            StatusCode::FOUND,
            [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE))],
        )
            .into_response());
    }
    granted.object(target.key(), target.content_type, granted.media_cache()).await
}

/// An encrypted video's segment key, under exactly its segments' access (granted above),
/// opened from the database on every request: never put in the object cache, and
/// `no-store` so no cache between here and the player keeps it either.
#[tracing::instrument(skip_all, fields(video = %granted.access.video))]
pub async fn key(granted: Granted) -> ApiResult<Response> {
    let key = segment_keys::of_video(&granted.state, granted.access.video)
        .await
        .map_err(|e| ApiError::internal(format!("{e:#}")))?
        .ok_or_else(|| ApiError::not_found("key"))?;
    let headers = [(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, NO_STORE)];
    Ok((headers, key.expose().to_vec()).into_response())
}

/// A playlist of a video being encoded, whole and from storage (the cache may hold an
/// older one).
async fn fresh(state: &AppState, key: &str) -> ApiResult<bytes::Bytes> {
    let object = state.storage.get(key).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let body = object.body.collect().await.map_err(ApiError::storage)?;
    Ok(body.into_bytes())
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
