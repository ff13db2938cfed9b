//! Following creators: follow and unfollow (both idempotent), and who follows whom.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use streambox_common::auth::AuthUser;
use streambox_common::error::{ApiPath, ApiQuery};
use streambox_common::error_codes as codes;
use streambox_common::feeds::Cursor;
use streambox_common::ids::UserId;
use streambox_common::users::{self, Role};
use streambox_common::{ApiError, ApiResult, AppState};

use super::pages::{Page, PageQuery};

#[derive(Serialize, schemars::JsonSchema)]
pub struct FollowState {
    following: bool,
    followers: i64,
}

#[derive(Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Person {
    id: UserId,
    display_name: String,
    since: DateTime<Utc>,
}

async fn creator(state: &AppState, id: UserId) -> ApiResult<UserId> {
    let user = users::find(&state.db, id).await?.filter(|u| u.role != Role::Viewer);
    user.map(|u| u.id).ok_or_else(|| ApiError::not_found("creator"))
}

async fn followers_of(state: &AppState, creator: UserId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM follows WHERE creator_id = $1").bind(creator).fetch_one(&state.db).await
}

pub async fn follow(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<FollowState>> {
    let creator = creator(&state, id).await?;
    if creator == user.id {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            codes::CANNOT_FOLLOW_SELF,
            "you cannot follow yourself",
        ));
    }
    sqlx::query("INSERT INTO follows (follower_id, creator_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(user.id)
        .bind(creator)
        .execute(&state.db)
        .await?;
    Ok(Json(FollowState { following: true, followers: followers_of(&state, creator).await? }))
}

pub async fn unfollow(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<FollowState>> {
    let creator = creator(&state, id).await?;
    sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND creator_id = $2")
        .bind(user.id)
        .bind(creator)
        .execute(&state.db)
        .await?;
    Ok(Json(FollowState { following: false, followers: followers_of(&state, creator).await? }))
}

/// Who follows the creator, most recent first.
pub async fn followers(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Person>>> {
    let creator = creator(&state, id).await?;
    people(
        &state,
        page,
        "SELECT u.id, u.display_name, f.created_at AS since FROM follows f JOIN users u ON u.id = f.follower_id
         WHERE f.creator_id = $1 AND ($2::timestamptz IS NULL OR (f.created_at, f.follower_id) < ($2, $3))
         ORDER BY f.created_at DESC, f.follower_id DESC LIMIT $4",
        creator,
    )
    .await
}

/// Whom the user follows, most recent first.
pub async fn following(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Person>>> {
    let user = users::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    people(
        &state,
        page,
        "SELECT u.id, u.display_name, f.created_at AS since FROM follows f JOIN users u ON u.id = f.creator_id
         WHERE f.follower_id = $1 AND ($2::timestamptz IS NULL OR (f.created_at, f.creator_id) < ($2, $3))
         ORDER BY f.created_at DESC, f.creator_id DESC LIMIT $4",
        user.id,
    )
    .await
}

async fn people(state: &AppState, page: PageQuery, sql: &'static str, of: UserId) -> ApiResult<Json<Page<Person>>> {
    let limit = page.limit()?;
    let (at, id) = Cursor::time_bounds(page.cursor()?);
    let rows: Vec<Person> = sqlx::query_as(sql).bind(of).bind(at).bind(id).bind(limit).fetch_all(&state.db).await?;
    Ok(Json(Page::of(rows, limit, |p| Cursor { key: p.since.timestamp_micros(), id: p.id.0 }, |p| p)))
}
