//! Likes: one per user per video. Liking twice (or ten times at once) is one like:
//! the primary key decides, not a read before the write.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use streambox_common::auth::AuthUser;
use streambox_common::error::ApiPath;
use streambox_common::ids::VideoId;
use streambox_common::{ApiResult, AppState};

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
    sqlx::query("INSERT INTO likes (video_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(user.id)
        .execute(&state.db)
        .await?;
    Ok(Json(LikeState { liked: true, likes: count(&state.db, id).await? }))
}

pub async fn unlike(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<LikeState>> {
    viewable(&state, id, Some(user)).await?;
    sqlx::query("DELETE FROM likes WHERE video_id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.id)
        .execute(&state.db)
        .await?;
    Ok(Json(LikeState { liked: false, likes: count(&state.db, id).await? }))
}

pub async fn count(db: &PgPool, video: VideoId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM likes WHERE video_id = $1").bind(video).fetch_one(db).await
}

pub async fn liked_by(db: &PgPool, video: VideoId, user: &AuthUser) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM likes WHERE video_id = $1 AND user_id = $2)")
        .bind(video)
        .bind(user.id)
        .fetch_one(db)
        .await
}
