//! Who may fetch a video's media: anyone for public videos, holders of a valid
//! playback token for that very video otherwise. Only `ready` videos are served.

use serde::Deserialize;
use streambox_common::ids::VideoId;
use streambox_common::videos::{self, VideoStatus, Visibility};
use streambox_common::{ApiError, ApiResult, AppState};

#[derive(Deserialize)]
pub struct PlaybackQuery {
    token: Option<String>,
}

/// Granted access to one video's media.
pub struct Access {
    pub video: VideoId,
    /// The token that granted it, to carry on into playlist URIs; `None` for public videos.
    pub token: Option<String>,
}

pub async fn check(state: &AppState, raw_id: &str, query: PlaybackQuery) -> ApiResult<Access> {
    let video: VideoId = raw_id.parse().map_err(|_| ApiError::not_found("video"))?;
    let found = videos::find(&state.db, video).await?.filter(|v| v.status == VideoStatus::Ready);
    let found = found.ok_or_else(|| ApiError::not_found("video"))?;
    if found.visibility == Visibility::Public {
        return Ok(Access { video, token: None });
    }
    let token = query.token.ok_or_else(|| {
        ApiError::new(axum::http::StatusCode::FORBIDDEN, "playback_token_required", "this video needs a playback token")
    })?;
    if !state.tokens.verify_playback(&token, video) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "invalid_playback_token",
            "the playback token is invalid, expired or for another video",
        ));
    }
    Ok(Access { video, token: Some(token) })
}
