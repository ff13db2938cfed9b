//! Watch history with resume positions: one entry per user and video, newest first.
//! Videos the user can no longer see drop out of the list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_common::auth::AuthUser;
use streambox_common::error::{ApiJson, ApiPath, ApiQuery};
use streambox_common::feeds::Cursor;
use streambox_common::ids::VideoId;
use streambox_common::videos::Video;
use streambox_common::{ApiError, ApiResult, AppState};

use super::pages::{Page, PageQuery};
use super::video_access::viewable;
use super::videos::VideoView;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    position_s: f64,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    video: VideoView,
    position_s: f64,
    watched_at: DateTime<Utc>,
}

pub async fn record(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(progress): ApiJson<Progress>,
) -> ApiResult<StatusCode> {
    let video = viewable(&state, id, Some(user)).await?;
    let longest = video.duration_s.unwrap_or(f64::MAX);
    if !progress.position_s.is_finite() || progress.position_s < 0.0 || progress.position_s > longest + 1.0 {
        return Err(ApiError::invalid_field("position_s", "must be a position within the video, in seconds"));
    }
    sqlx::query(
        "INSERT INTO watch_history (user_id, video_id, position_s) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, video_id) DO UPDATE SET position_s = EXCLUDED.position_s, watched_at = now()",
    )
    .bind(user.id)
    .bind(id)
    .bind(progress.position_s)
    .execute(&state.db)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        video: Video,
        position_s: f64,
        watched_at: DateTime<Utc>,
    }
    let limit = page.limit()?;
    let (at, id) = Cursor::time_bounds(page.cursor()?);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.id, v.owner_id, v.title, v.description, v.visibility, v.status, v.error, v.source_bytes,
                v.duration_s, v.width, v.height, v.renditions, v.source, v.has_storyboard, v.view_count,
                v.playback_generation, v.created_at, v.updated_at, h.position_s, h.watched_at
         FROM watch_history h JOIN videos v ON v.id = h.video_id
         WHERE h.user_id = $1
           AND ((v.status = 'ready' AND v.visibility <> 'private') OR v.owner_id = $1 OR $2)
           AND v.status <> 'deleted'
           AND ($3::timestamptz IS NULL OR (h.watched_at, h.video_id) < ($3, $4))
         ORDER BY h.watched_at DESC, h.video_id DESC LIMIT $5",
    )
    .bind(user.id)
    .bind(user.is_admin())
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(Page::of(
        rows,
        limit,
        |r| Cursor { key: r.watched_at.timestamp_micros(), id: r.video.id.0 },
        |r| HistoryEntry { video: r.video.into(), position_s: r.position_s, watched_at: r.watched_at },
    )))
}

pub async fn forget(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<StatusCode> {
    let removed = sqlx::query("DELETE FROM watch_history WHERE user_id = $1 AND video_id = $2")
        .bind(user.id)
        .bind(id)
        .execute(&state.db)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(ApiError::not_found("history entry"));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn clear(State(state): State<AppState>, user: AuthUser) -> ApiResult<StatusCode> {
    sqlx::query("DELETE FROM watch_history WHERE user_id = $1").bind(user.id).execute(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}
