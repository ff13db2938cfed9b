//! Who may see a video and who may change it: the one check every route on a video
//! makes before anything else.

use streambox_base::ids::VideoId;
use streambox_db::videos::{self, Video};
use streambox_http::auth::AuthUser;
use streambox_http::{ApiError, ApiResult, AppState};

/// The video if `viewer` may see it. One the caller may not see answers exactly
/// like one that does not exist.
pub async fn viewable(state: &AppState, id: VideoId, viewer: Option<AuthUser>) -> ApiResult<Video> {
    videos::find(&state.db, id)
        .await?
        .filter(|v| v.is_shared() || viewer.is_some_and(|u| u.may_manage(v.owner_id)))
        .ok_or_else(|| ApiError::not_found("video"))
}

/// The video if `user` may change it: 404 when they cannot even see it, 403 when they can.
pub async fn manageable(state: &AppState, id: VideoId, user: AuthUser) -> ApiResult<Video> {
    let video = viewable(state, id, Some(user)).await?;
    if user.may_manage(video.owner_id) {
        Ok(video)
    } else {
        Err(ApiError::forbidden("only the owner can change this video"))
    }
}
