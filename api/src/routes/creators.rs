//! Public creator profiles with their public videos.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::follows;
use streambox_db::users::{self};
use streambox_db::videos;
use streambox_http::auth::AuthUser;
use streambox_http::error::ApiPath;
use streambox_http::{ApiError, ApiResult, AppState};

use super::videos::VideoView;

const VIDEOS_LIMIT: i64 = 100;

#[derive(Serialize, schemars::JsonSchema)]
pub struct CreatorProfile {
    id: UserId,
    display_name: String,
    bio: String,
    /// How many people follow them.
    followers: i64,
    /// Whether the caller follows them (signed-in callers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    following: Option<bool>,
    videos: Vec<VideoView>,
}

#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<CreatorProfile>> {
    let user = users::find(&state.db, id)
        .await?
        .filter(|u| u.role != Role::Viewer)
        .ok_or_else(|| ApiError::not_found("creator"))?;
    let videos = videos::list_public_by_owner(&state.db, user.id, VIDEOS_LIMIT).await?;
    let following = match viewer {
        Some(viewer) => Some(follows::is_following(&state.db, viewer.id, user.id).await?),
        None => None,
    };
    Ok(Json(CreatorProfile {
        followers: follows::followers_of(&state.db, user.id).await?,
        following,
        id: user.id,
        display_name: user.display_name,
        bio: user.bio,
        videos: videos.into_iter().map(VideoView::from).collect(),
    }))
}
