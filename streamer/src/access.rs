//! Who may fetch a video's media: anyone for public videos, holders of a valid
//! playback token for that very video otherwise. Only `ready` videos are served.
//!
//! What each video allows is remembered briefly so segment requests do not each cost
//! a query; Postgres announces every status or visibility change (a trigger), and the
//! listener forgets the video — and its cached objects — at once. That announcement can
//! trail the change by a moment (a viewer's page asking for a poster as soon as the video
//! turned public), so a refusal is never made on a decision older than [`RECHECK`]: one
//! older is read again first. Refusals thus cost a query at most every [`RECHECK`] per
//! video, and grants none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::postgres::PgListener;
use streambox_base::ids::VideoId;
use streambox_db::videos::{self, Visibility};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::layout::keys;
use tokio_util::sync::CancellationToken;

use crate::object_cache::ObjectCache;

const CHANNEL: &str = "streambox_video_changed";
/// The oldest remembered decision a refusal may rest on.
const RECHECK: Duration = Duration::from_millis(100);

#[derive(Deserialize, schemars::JsonSchema)]
pub struct PlaybackQuery {
    /// The playback token from /api/v1/videos/{id}/playback; needed unless the video is public.
    token: Option<String>,
}

/// Granted access to one video's media.
pub struct Access {
    pub video: VideoId,
    /// The token that granted it, to carry on into playlist URIs; `None` for public videos.
    pub token: Option<String>,
    /// Still being encoded: its playlists grow, so they are never cached.
    pub growing: bool,
}

/// Who may fetch a servable video's media; `None` when it is not servable (unknown,
/// not playable yet, failed, deleted).
#[derive(Clone, Copy)]
struct Servable {
    public: bool,
    /// Playable while it is encoded (its playlists grow), not yet ready.
    growing: bool,
    /// Tokens of other playback generations are revoked.
    generation: i32,
}

pub struct AccessCache {
    ttl: Duration,
    entries: Mutex<HashMap<VideoId, (Option<Servable>, Instant)>>,
}

impl AccessCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default() }
    }

    /// What `video` allows, remembered if decided within `max_age` (at most the TTL).
    async fn servable(&self, state: &AppState, video: VideoId, max_age: Duration) -> ApiResult<Option<Servable>> {
        if let Some((servable, at)) = self.entries.lock().expect("access lock").get(&video)
            && at.elapsed() < self.ttl.min(max_age)
        {
            return Ok(*servable);
        }
        let servable = videos::find(&state.db, video).await?.filter(|v| v.is_playable()).map(|v| Servable {
            public: v.visibility == Visibility::Public,
            growing: v.is_growing(),
            generation: v.playback_generation,
        });
        self.entries.lock().expect("access lock").insert(video, (servable, Instant::now()));
        Ok(servable)
    }

    fn forget(&self, video: VideoId) {
        self.entries.lock().expect("access lock").remove(&video);
    }
}

pub async fn check(state: &AppState, cache: &AccessCache, raw_id: &str, query: PlaybackQuery) -> ApiResult<Access> {
    let video: VideoId = raw_id.parse().map_err(|_| ApiError::not_found("video"))?;
    let token = query.token.as_deref();
    match decide(state, video, token, cache.servable(state, video, Duration::MAX).await?) {
        Err(_) => decide(state, video, token, cache.servable(state, video, RECHECK).await?),
        granted => granted,
    }
}

/// Whether what `video` allows (`servable`) lets this request have its media.
fn decide(state: &AppState, video: VideoId, token: Option<&str>, servable: Option<Servable>) -> ApiResult<Access> {
    let servable = servable.ok_or_else(|| ApiError::not_found("video"))?;
    if servable.public {
        return Ok(Access { video, token: None, growing: servable.growing });
    }
    let token = token.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            codes::PLAYBACK_TOKEN_REQUIRED,
            "this video needs a playback token",
        )
    })?;
    if !state.tokens.verify_playback(token, video, servable.generation) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            codes::INVALID_PLAYBACK_TOKEN,
            "the playback token is invalid, expired, revoked or for another video",
        ));
    }
    Ok(Access { video, token: Some(token.to_owned()), growing: servable.growing })
}

/// Forgets videos as Postgres announces their changes, until `shutdown`. While the
/// listener is down (reconnecting), entries still expire after the short TTL.
pub async fn listen_for_changes(
    state: AppState,
    access: Arc<AccessCache>,
    objects: Arc<ObjectCache>,
    shutdown: CancellationToken,
) {
    loop {
        let mut listener = match PgListener::connect_with(&state.db).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for video changes; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            continue;
        }
        loop {
            let notification = tokio::select! {
                notification = listener.recv() => notification,
                () = shutdown.cancelled() => return,
            };
            match notification {
                Ok(notification) => {
                    if let Ok(video) = notification.payload().parse::<VideoId>() {
                        access.forget(video);
                        objects.forget_prefix(&keys::hls_prefix(video));
                        objects.forget_prefix(&keys::poster(video));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the video change listener dropped; reconnecting");
                    break;
                }
            }
        }
    }
}
