//! Following creators: follow and unfollow (both idempotent), and who follows whom.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::follows::{self, Person};
use streambox_db::users::{self};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiPath, ApiQuery};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use super::pages::{Page, PageQuery};

#[derive(Serialize, schemars::JsonSchema)]
pub struct FollowState {
    following: bool,
    followers: i64,
}

async fn creator(state: &AppState, id: UserId) -> ApiResult<UserId> {
    let user = users::find(&state.db, id).await?.filter(|u| u.role != Role::Viewer);
    user.map(|u| u.id).ok_or_else(|| ApiError::not_found("creator"))
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
    follows::follow(&state.db, user.id, creator).await?;
    Ok(Json(FollowState { following: true, followers: follows::followers_of(&state.db, creator).await? }))
}

pub async fn unfollow(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<FollowState>> {
    let creator = creator(&state, id).await?;
    follows::unfollow(&state.db, user.id, creator).await?;
    Ok(Json(FollowState { following: false, followers: follows::followers_of(&state.db, creator).await? }))
}

/// Who follows the creator, most recent first.
pub async fn followers(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Person>>> {
    let creator = creator(&state, id).await?;
    let limit = page.limit()?;
    let rows = follows::followers(&state.db, creator, page.cursor()?, limit).await?;
    Ok(Json(Page::of(rows, limit, Person::cursor, |p| p)))
}

/// Whom the user follows, most recent first.
pub async fn following(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Person>>> {
    let user = users::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    let limit = page.limit()?;
    let rows = follows::following(&state.db, user.id, page.cursor()?, limit).await?;
    Ok(Json(Page::of(rows, limit, Person::cursor, |p| p)))
}
