//! Watch history with resume positions: one entry per user and video, newest first.
//! Videos the user can no longer see drop out of the list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::VideoId;
use streambox_db::history;
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiPath, ApiQuery};
use streambox_http::{ApiError, ApiResult, AppState};

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
    history::record(&state.db, user.id, id, progress.position_s).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    let limit = page.limit()?;
    let rows = history::list(&state.db, user.id, user.is_admin(), page.cursor()?, limit).await?;
    Ok(Json(Page::of(rows, limit, history::Entry::cursor, |r| HistoryEntry {
        video: r.video.into(),
        position_s: r.position_s,
        watched_at: r.watched_at,
    })))
}

pub async fn forget(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<StatusCode> {
    if !history::forget(&state.db, user.id, id).await? {
        return Err(ApiError::not_found("history entry"));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn clear(State(state): State<AppState>, user: AuthUser) -> ApiResult<StatusCode> {
    history::clear(&state.db, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
