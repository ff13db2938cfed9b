//! Liking a video (idempotent both ways); the table is `streambox_db::likes`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use streambox_base::ids::VideoId;
use streambox_db::likes;
use streambox_http::auth::AuthUser;
use streambox_http::error::ApiPath;
use streambox_http::{ApiResult, AppState};

use super::video_access::viewable;

#[derive(Serialize, schemars::JsonSchema)]
pub struct LikeState {
    liked: bool,
    likes: i64,
}

pub async fn like(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<LikeState>> {
    viewable(&state, id, Some(user)).await?;
    likes::like(&state.db, id, user.id).await?;
    Ok(Json(LikeState { liked: true, likes: likes::count(&state.db, id).await? }))
}

pub async fn unlike(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<LikeState>> {
    viewable(&state, id, Some(user)).await?;
    likes::unlike(&state.db, id, user.id).await?;
    Ok(Json(LikeState { liked: false, likes: likes::count(&state.db, id).await? }))
}
